// `npm run bench`: the real server on PostgreSQL under load, each scenario compared with ceilings
// measured in the same run on the same machine (a bare Fastify route doing one indexed SELECT, and one
// doing one single-row INSERT, on a pool of the same size). Prints a table and writes
// bench/results/latest.json. It measures; it never fails on a time.
//
//   npm run bench                       full run (10 s a scenario, 10,000 messages)
//   npm run bench -- --smoke            a few seconds in all, to keep the harness working (CI)
//   BENCH_DATABASE_URL=postgres://…     the server to use (default: the local one)
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir, cpus, totalmem } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { fromPool } from '../src/platform/db/client.ts';
import { appointmentTypes, bookingClinicians, bookingLocations, bookingSessions, bookingSlots, conversationItems, conversations, links, organisations, patients } from '../src/platform/db/schema.ts';
import { newLinkToken, sha256Hex } from '../src/platform/crypto/tokens.ts';
import { createApiKey } from '../src/features/api/api-keys.service.ts';
import { catalogueQuestionnaires } from '../src/features/questionnaires/questionnaires.service.ts';
import { QUESTIONNAIRE_REQUEST } from '../src/features/questionnaires/questionnaire-journey.service.ts';
import { BOOKING_INVITATION } from '../src/features/booking/booking-items.ts';
import { addDays, londonDate } from '../src/features/booking/booking-times.ts';
import { startNotifyStandIn, notifyConfigFor, type NotifyStandIn } from '../test/helpers/notify-stand-in.ts';
import { freePort } from '../test/helpers/server.ts';
import { runLoad, type BenchClient, type LoadResult } from './load.ts';

const { values: args } = parseArgs({
  options: {
    smoke: { type: 'boolean', default: false },
    seconds: { type: 'string' },
    connections: { type: 'string', default: '50' },
    messages: { type: 'string' },
    'cpu-prof': { type: 'boolean', default: false },
  },
});
const smoke = args.smoke!;
const seconds = Number(args.seconds ?? (smoke ? 1 : 10));
const warmupSeconds = smoke ? 0.5 : 3;
const connections = Number(args.connections);
const messageCount = Number(args.messages ?? (smoke ? 200 : 10_000));
const adminUrl = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const benchDb = 'dovecote_bench';
const POOL_SIZE = 20;
const PROVIDER_RATE_PER_MINUTE = 3000;

// Enough distinct links that no scenario reuses one in a way the rules would refuse (codes: 60 s
// between sends per link, 10 a day per phone; dates of birth: 5 wrong in a row lock).
// Scenario 3 uses each of its quarter once (a second code for a link within 60 s is refused), so a
// fast run needs more than 10 s x its rate; 12,000 links over 1,000 phones keeps each phone under its
// 10 codes a day too.
const LINKS = smoke ? 600 : 12_000;
const DOB = '1984-03-12';
// Scenario 6 ("save one questionnaire page"): each connection answers its own PHQ-9s, so every save
// goes to a distinct in-progress response and no two connections ever write the same row.
const QUESTIONNAIRES_PER_CONNECTION = smoke ? 2 : 20;
const PHQ9_URL = 'https://dovecote.example/fhir/Questionnaire/phq-9';
// Scenario 7 ("book a slot"): each connection books with its own invitations, each a distinct slot of
// its own clinician, so the figure is the booking path, not contention (the race tests prove that).
// Enough that no connection runs out within a scenario at several times the rate measured so far
// (about 100 a second on 2 cores: 13 s, warm-up included, needs ~1,300 of the full run's 3,000).
// The smoke run seeds 600 patients, 100 of them for questionnaires: 8 a connection fits the rest.
const BOOKINGS_PER_CONNECTION = smoke ? 8 : 60;
const PHQ9_SEVERAL_DAYS = 'LA6569-3';
const PHQ9_NOT_AT_ALL = 'LA6568-5';

const children: ChildProcess[] = [];
const log = (line: string) => process.stdout.write(`${line}\n`);

function dbUrl(name: string): string {
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  return u.toString();
}

async function recreateDatabase(): Promise<void> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${benchDb} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${benchDb}`);
  await admin.end();
}

/** Valid NHS numbers from the 999 test range. */
function nhsNumbers(count: number): string[] {
  const out: string[] = [];
  for (let k = 1; out.length < count; k++) {
    const base = `999${String(k).padStart(6, '0')}`;
    let sum = 0;
    for (let i = 0; i < 9; i++) sum += Number(base[i]) * (10 - i);
    const check = (11 - (sum % 11)) % 11;
    if (check !== 10) out.push(base + String(check));
  }
  return out;
}

interface Seeded {
  tokens: string[];
  nhs: string[];
  apiKey: string;
  /** Links to PHQ-9 questionnaires (scenario 6), with their conversations. */
  questionnaires: Array<{ token: string; conversationId: string }>;
  /** Invitations to book and the slot each books (scenario 7), BOOKINGS_PER_CONNECTION a connection in order. */
  bookings: Array<{ token: string; conversationId: string; slotId: string }>;
}

/**
 * A clinic with one clinician per connection, each with BOOKINGS_PER_CONNECTION 10-minute slots from
 * tomorrow, and as many invitations to book (sent as sendInvitation stores them) to patients after the
 * questionnaires' ones.
 */
async function seedBookings(db: ReturnType<typeof fromPool>['db'], organisationId: string, perConnection: number, skipPatients: number) {
  const [type] = await db
    .insert(appointmentTypes)
    .values({ organisationId, name: 'Flu vaccination', lengthMinutes: 10, mode: 'face_to_face', patientInfo: 'Wear a top with short sleeves.' })
    .returning();
  const [location] = await db.insert(bookingLocations).values({ organisationId, name: 'Bench Surgery', address: '1 High Street', phone: '01234 567890' }).returning();
  const clinicians = await db
    .insert(bookingClinicians)
    .values(Array.from({ length: connections }, (_, w) => ({ organisationId, name: `Nurse ${w}`, role: 'Practice nurse' })))
    .returning();
  const today = londonDate(new Date());
  const firstStart = Date.parse(`${addDays(today, 1)}T07:00:00Z`);
  const slotIds: string[][] = [];
  for (const clinician of clinicians) {
    const [session] = await db
      .insert(bookingSessions)
      .values({ organisationId, clinicianId: clinician.id, locationId: location!.id, appointmentTypeId: type!.id, firstDate: addDays(today, 1), lastDate: addDays(today, 1), weekly: false, startTime: '07:00', endTime: '23:00' })
      .returning();
    const rows = await db
      .insert(bookingSlots)
      .values(
        Array.from({ length: perConnection }, (_, k) => ({
          organisationId,
          sessionId: session!.id,
          clinicianId: clinician.id,
          locationId: location!.id,
          appointmentTypeId: type!.id,
          startsAt: new Date(firstStart + k * 600_000),
          endsAt: new Date(firstStart + (k + 1) * 600_000),
        })),
      )
      .returning({ id: bookingSlots.id });
    slotIds.push(rows.map((r) => r.id));
  }
  const people = await db.select({ id: patients.id, mobileE164: patients.mobileE164 }).from(patients).offset(skipPatients).limit(connections * perConnection);
  const payload = { appointmentTypeId: type!.id, typeName: type!.name, clinicianIds: [], earliest: today, latest: addDays(today, 41), bookForDays: 7 };
  const convRows = await db
    .insert(conversations)
    .values(people.map((p) => ({ organisationId, patientId: p.id, kind: 'booking', payload })))
    .returning({ id: conversations.id });
  await db.insert(conversationItems).values(convRows.map((c) => ({ conversationId: c.id, kind: BOOKING_INVITATION, body: type!.name })));
  const tokens = convRows.map(() => newLinkToken());
  await db.insert(links).values(
    convRows.map((c, k) => ({ conversationId: c.id, tokenHash: sha256Hex(tokens[k]!), phoneE164: people[k]!.mobileE164, expiresAt: new Date(Date.now() + 7 * 86_400_000) })),
  );
  return convRows.map((c, k) => ({ token: tokens[k]!, conversationId: c.id, slotId: slotIds[Math.floor(k / perConnection)]![k % perConnection]! }));
}

/**
 * PHQ-9 questionnaire conversations, as sendQuestionnaire stores them (payload naming the catalogue's
 * exact version, the request item with its title, a link), for the first `count` patients.
 */
async function seedQuestionnaires(db: ReturnType<typeof fromPool>['db'], organisationId: string, count: number) {
  const phq9 = catalogueQuestionnaires().find((q) => q.url === PHQ9_URL);
  if (!phq9) throw new Error(`the catalogue has no ${PHQ9_URL}`);
  const title = phq9.title ?? 'PHQ-9';
  const people = await db.select({ id: patients.id, mobileE164: patients.mobileE164 }).from(patients).limit(count);
  const convRows = await db
    .insert(conversations)
    .values(people.map((p) => ({ organisationId, patientId: p.id, kind: 'questionnaire', payload: { url: phq9.url, version: phq9.version, title } })))
    .returning({ id: conversations.id });
  await db.insert(conversationItems).values(convRows.map((c) => ({ conversationId: c.id, kind: QUESTIONNAIRE_REQUEST, body: title })));
  const tokens = convRows.map(() => newLinkToken());
  await db.insert(links).values(
    convRows.map((c, k) => ({ conversationId: c.id, tokenHash: sha256Hex(tokens[k]!), phoneE164: people[k]!.mobileE164, expiresAt: new Date(Date.now() + 7 * 86_400_000) })),
  );
  return convRows.map((c, k) => ({ token: tokens[k]!, conversationId: c.id }));
}

/** Bulk-inserts an organisation, patients, conversations and links (tokens kept in memory). */
async function seed(pool: pg.Pool): Promise<Seeded> {
  const database = fromPool(pool, dbUrl(benchDb));
  await database.migrate();
  const db = database.db;
  const [org] = await db.insert(organisations).values({ name: 'Bench Surgery', odsCode: 'B00001', contactPhone: '01234 567890' }).returning();
  const nhs = nhsNumbers(LINKS);
  const tokens: string[] = [];
  // In chunks: one statement takes at most 65,535 parameters.
  for (let from = 0; from < LINKS; from += 2000) {
    const chunk = nhs.slice(from, from + 2000);
    const patientRows = await db
      .insert(patients)
      .values(
        chunk.map((n, k) => ({
          organisationId: org!.id,
          nhsNumber: n,
          givenName: 'Bench',
          familyName: `Patient${from + k}`,
          dateOfBirth: DOB,
          // Ofcom drama range: 1,000 numbers, so each is shared by LINKS/1000 patients.
          mobileE164: `+447700900${String((from + k) % 1000).padStart(3, '0')}`,
        })),
      )
      .returning({ id: patients.id, mobileE164: patients.mobileE164 });
    const convRows = await db
      .insert(conversations)
      .values(patientRows.map((p) => ({ organisationId: org!.id, patientId: p.id, kind: 'message', payload: { replyMode: 'conversation' } })))
      .returning({ id: conversations.id });
    await db.insert(conversationItems).values(convRows.map((c) => ({ conversationId: c.id, kind: 'staff_message' as const, body: 'Please book your flu vaccination.' })));
    const chunkTokens = convRows.map(() => newLinkToken());
    await db.insert(links).values(
      convRows.map((c, k) => ({
        conversationId: c.id,
        tokenHash: sha256Hex(chunkTokens[k]!),
        phoneE164: patientRows[k]!.mobileE164,
        expiresAt: new Date(Date.now() + 7 * 86_400_000),
      })),
    );
    tokens.push(...chunkTokens);
  }
  const { key } = await createApiKey(db, { organisationId: org!.id, name: 'bench' });
  const questionnaires = await seedQuestionnaires(db, org!.id, connections * QUESTIONNAIRES_PER_CONNECTION);
  const bookings = await seedBookings(db, org!.id, BOOKINGS_PER_CONNECTION, connections * QUESTIONNAIRES_PER_CONNECTION);
  return { tokens, nhs, apiKey: key, questionnaires, bookings };
}

function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
}

async function startProcess(script: string, env: NodeJS.ProcessEnv, readyLine: RegExp, extraArgs: string[] = []): Promise<{ child: ChildProcess; ms: number }> {
  const started = performance.now();
  const child = spawn(process.execPath, [...extraArgs, script], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} did not start in 300 s:\n${output}`)), 120_000);
    const onData = (d: Buffer) => {
      output += d.toString();
      if (readyLine.test(output)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}:\n${output}`)));
  });
  child.stdout!.resume();
  child.stderr!.resume();
  return { child, ms: performance.now() - started };
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

function cookieValue(setCookie: string | string[] | undefined, name: string): string | undefined {
  for (const c of ([] as string[]).concat(setCookie ?? [])) {
    if (c.startsWith(`${name}=`)) return c.slice(name.length + 1).split(';')[0];
  }
  return undefined;
}

/** Each worker looks like a different patient on a different network (TRUST_PROXY trusts loopback). */
const ipFor = (worker: number, i: number) => `10.${worker % 250}.${(i >> 8) % 250}.${i % 250}`;

interface Row {
  scenario: string;
  result: LoadResult;
  ceiling?: 'read' | 'write';
  note?: string;
}

async function main() {
  mkdirSync('bench/results', { recursive: true });
  log(`Dovecote benchmark — ${smoke ? 'smoke' : 'full'} run, ${connections} connections, ${seconds} s a scenario (after ${warmupSeconds} s warm-up)`);
  log(`Machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`);

  // Start-up on the embedded database: an empty data directory (cold), then the same one again (warm).
  const dataDir = mkdtempSync(path.join(tmpdir(), 'dovecote-bench-'));
  const { DATABASE_URL: _ignored, ...inherited } = process.env;
  const embeddedEnv = { ...inherited, NODE_ENV: 'development', DATA_DIR: dataDir, PORT: String(await freePort()), LOG_LEVEL: 'warn' };
  const cold = await startProcess('src/server.ts', embeddedEnv, /Dovecote is running/);
  const embeddedIdleRss = rssOf(cold.child.pid!);
  await stopProcess(cold.child);
  const warm = await startProcess('src/server.ts', embeddedEnv, /Dovecote is running/);
  await stopProcess(warm.child);
  log(`Start-up, embedded database: cold ${(cold.ms / 1000).toFixed(1)} s, warm ${(warm.ms / 1000).toFixed(1)} s (process start to "running")`);

  await recreateDatabase();
  const pool = new pg.Pool({ connectionString: dbUrl(benchDb), max: 10 });
  const seeded = await seed(pool);
  log(`Seeded ${seeded.tokens.length} patients with links.`);

  const notify: NotifyStandIn = await startNotifyStandIn();
  const ceilingPort = await freePort();
  const ceiling = await startProcess('bench/ceiling-server.ts', { ...process.env, DATABASE_URL: dbUrl(benchDb), PORT: String(ceilingPort), DATABASE_POOL_SIZE: String(POOL_SIZE) }, /ready/);
  const ceilingBase = `http://127.0.0.1:${ceilingPort}`;
  const ceilingOpts = { connections, seconds, warmupSeconds, serverPid: ceiling.child.pid };
  const rows: Row[] = [];
  rows.push({ scenario: 'Ceiling: one indexed SELECT', result: await runLoad(ceilingBase, (c) => c.call('GET', '/read').then(() => {}), ceilingOpts) });
  rows.push({ scenario: 'Ceiling: one single-row INSERT', result: await runLoad(ceilingBase, (c) => c.call('POST', '/write').then(() => {}), ceilingOpts) });
  await stopProcess(ceiling.child);

  const appPort = await freePort();
  const appBase = `http://127.0.0.1:${appPort}`;
  const appEnv = {
    ...process.env,
    NODE_ENV: 'production',
    PORT: String(appPort),
    PUBLIC_BASE_URL: appBase,
    DATABASE_URL: dbUrl(benchDb),
    DATABASE_POOL_SIZE: String(POOL_SIZE),
    LOG_LEVEL: 'warn',
    // The load generator reaches the server over loopback, like a proxy on the same machine.
    TRUST_PROXY: 'loopback',
    CODE_HMAC_KEYS: `b1:${Buffer.alloc(32, 7).toString('base64url')}`,
    COOKIE_SECRET: 'bench-cookie-secret-0123456789-0123456789',
    API_RATE_PER_MINUTE: '1000000',
    // The seeded conversations all count as sent today: at the default limit (5,000) every API send
    // of scenario 5 would be refused.
    ORGANISATION_DAILY_SEND_LIMIT: '1000000',
    SMS_RATE_PER_MINUTE: String(PROVIDER_RATE_PER_MINUTE),
    // Production needs both; no scenario uploads a file, so the scanner is named but never called.
    FILE_ENCRYPTION_KEYS: `bf1:${Buffer.alloc(32, 9).toString('base64url')}`,
    FILE_SCANNER: 'clamd',
    ...notifyConfigFor(notify),
  };
  // --cpu-prof: a V8 CPU profile of the server over scenarios 1-5, written when it exits.
  const profileArgs = args['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir=bench/results'] : [];
  const app = await startProcess('src/server.ts', appEnv, /Dovecote is running/, profileArgs);
  const appIdleRss = rssOf(app.child.pid!);
  const loadOpts = { connections, seconds, warmupSeconds, serverPid: app.child.pid };

  // CSRF: one secret cookie and token serve every form post of this client.
  const first = await fetch(`${appBase}/${seeded.tokens[0]}`, { headers: { 'x-forwarded-for': '10.255.0.1' } });
  const firstHtml = await first.text();
  const csrfCookie = cookieValue(first.headers.getSetCookie(), '__Host-dovecote-csrf')!;
  const csrfToken = /name="_csrf" value="([^"]+)"/.exec(firstHtml)![1]!;
  const [y, m, d] = DOB.split('-');
  const dobBody = (day: string) => new URLSearchParams({ _csrf: csrfToken, 'dob[day]': day, 'dob[month]': m!, 'dob[year]': y! }).toString();
  const form = (worker: number, i: number, cookies: string) => ({
    'content-type': 'application/x-www-form-urlencoded',
    cookie: `__Host-dovecote-csrf=${csrfCookie}${cookies ? `; ${cookies}` : ''}`,
    'x-forwarded-for': ipFor(worker, i),
  });

  // Links are split between scenarios so no rule refuses a request part-way.
  const quarter = Math.floor(LINKS / 4);
  const openLinks = seeded.tokens.slice(0, quarter);
  const trustedLinks = seeded.tokens.slice(quarter, quarter + Math.min(400, quarter));
  const codeLinks = seeded.tokens.slice(2 * quarter, 3 * quarter);
  const wrongLinks = seeded.tokens.slice(3 * quarter);

  // 1. Open a link.
  let memUnderLoad = 0;
  const memTimer = setInterval(() => (memUnderLoad = Math.max(memUnderLoad, rssOf(app.child.pid!))), 250);
  rows.push({
    scenario: '1. Open a link (GET /{token})',
    ceiling: 'write',
    result: await runLoad(appBase, async (c, w, i) => {
      await c.call('GET', `/${openLinks[i % openLinks.length]}`, { headers: { 'x-forwarded-for': ipFor(w, i) } });
    }, loadOpts),
  });
  clearInterval(memTimer);

  // 2. Date of birth on the trusted device: each link is first opened once, so this client's
  //    device cookie becomes its trusted device.
  const deviceCookies = new Map<string, string>();
  for (const [i, token] of trustedLinks.entries()) {
    const res = await fetch(`${appBase}/${token}`, { method: 'POST', headers: form(0, i, ''), body: dobBody(String(Number(d))), redirect: 'manual' });
    await res.text();
    const device = cookieValue(res.headers.getSetCookie(), '__Host-dovecote-device');
    if (res.status === 303 && device) deviceCookies.set(token, device);
  }
  rows.push({
    scenario: '2. Date of birth, trusted device',
    ceiling: 'write',
    result: await runLoad(appBase, async (c, w, i) => {
      const token = trustedLinks[i % trustedLinks.length]!;
      await c.call('POST', `/${token}`, { headers: form(w, i, `__Host-dovecote-device=${deviceCookies.get(token)}`), body: dobBody(String(Number(d))), expect: [303] });
    }, loadOpts),
    note: `${deviceCookies.size} trusted links`,
  });

  // 3. Date of birth then security code on a new device; the code is read from the outbox (or, if
  //    the sender already handed it over and wiped it, from the Notify stand-in).
  let nextCodeLink = 0;
  const readCode = async (token: string, phone: string): Promise<string | undefined> => {
    for (let attempt = 0; attempt < 200; attempt++) {
      const { rows: found } = await pool.query<{ code: string | null }>(
        `SELECT o.personalisation->>'code' AS code FROM outbound_sms o JOIN links l ON l.id = o.link_id
         WHERE l.token_hash = $1 AND o.kind = 'security_code' ORDER BY o.created_at DESC LIMIT 1`,
        [sha256Hex(token)],
      );
      if (found[0]?.code) return found[0].code;
      const sent = notify.received.findLast((r) => r.phoneNumber === phone && r.personalisation.code);
      if (found[0] && sent) return sent.personalisation.code;
      await new Promise((r) => setTimeout(r, 10));
    }
    return undefined;
  };
  // Another device passes the date of birth first on each of these links and becomes the trusted
  // device, so the benchmark's browser is a new device that needs a code.
  for (const [i, token] of codeLinks.entries()) {
    const res = await fetch(`${appBase}/${token}`, { method: 'POST', headers: form(1, i, ''), body: dobBody(String(Number(d))), redirect: 'manual' });
    await res.text();
  }
  const phoneOf = new Map<string, string>();
  {
    const { rows: phones } = await pool.query<{ token_hash: string; phone_e164: string }>('SELECT token_hash, phone_e164 FROM links');
    const byHash = new Map(phones.map((p) => [p.token_hash, p.phone_e164]));
    for (const t of codeLinks) phoneOf.set(t, byHash.get(sha256Hex(t))!);
  }
  rows.push({
    scenario: '3. Date of birth + code, new device',
    ceiling: 'write',
    result: await runLoad(appBase, async (c: BenchClient, w, i) => {
      const token = codeLinks[nextCodeLink++ % codeLinks.length]!;
      const dob = await c.call('POST', `/${token}`, { headers: form(w, i, ''), body: dobBody(String(Number(d))), expect: [303] });
      const session = cookieValue(dob.headers['set-cookie'], '__Host-dovecote-session');
      const code = await readCode(token, phoneOf.get(token)!);
      if (!session || !code) {
        c.errors++;
        return;
      }
      await c.call('POST', `/${token}/code`, {
        headers: form(w, i, `__Host-dovecote-session=${session}`),
        body: new URLSearchParams({ _csrf: csrfToken, code }).toString(),
        expect: [303],
      });
    }, { ...loadOpts, stopWhen: () => nextCodeLink >= codeLinks.length }),
    note: 'two requests a flow; the wait for the code between them is not counted as latency; ends early if every link has been used',
  });

  // 4. Wrong date of birth: the path an attacker exercises. Links lock after 5 in a row; the locked
  //    answer is part of the path too.
  rows.push({
    scenario: '4. Wrong date of birth',
    ceiling: 'write',
    result: await runLoad(appBase, async (c, w, i) => {
      await c.call('POST', `/${wrongLinks[i % wrongLinks.length]}`, { headers: form(w, i, ''), body: dobBody(String((Number(d) % 28) + 1)), expect: [400, 200, 423] });
    }, loadOpts),
  });

  // 5. Send: POST /api/v1/messages, then until every text has reached the Notify stand-in.
  const before = notify.received.length;
  const sendStarted = performance.now();
  // When the first and the last text reached the provider: the sender's rate is measured between them.
  let firstArrival = 0;
  let lastArrival = 0;
  const arrivals = setInterval(() => {
    const n = notify.received.length - before;
    if (n > 0 && !firstArrival) firstArrival = performance.now();
    if (n >= messageCount && !lastArrival) lastArrival = performance.now();
  }, 20);
  let nextNhs = 0;
  const sendResult = await runLoad(appBase, async (c) => {
    const n = nextNhs++;
    if (n >= messageCount) return;
    await c.call('POST', '/api/v1/messages', {
      headers: { 'content-type': 'application/json', authorization: `Bearer ${seeded.apiKey}` },
      body: JSON.stringify({ nhsNumber: seeded.nhs[n % seeded.nhs.length], body: 'Your flu vaccination is due. Please book.', replyMode: 'none' }),
      expect: [201],
    });
  }, { connections, seconds: 3600, warmupSeconds: 0, stopWhen: () => nextNhs >= messageCount, serverPid: app.child.pid });
  const acceptedMs = performance.now() - sendStarted;
  const waitLimitMs = (messageCount / (PROVIDER_RATE_PER_MINUTE / 60)) * 1000 * 1.5 + 30_000;
  try {
    await notify.waitForReceived(before + messageCount + 0, waitLimitMs);
  } catch {
    log(`Not every text arrived within ${Math.round(waitLimitMs / 1000)} s`);
  }
  clearInterval(arrivals);
  lastArrival ||= performance.now();
  const allDeliveredMs = lastArrival - sendStarted;
  const sent = notify.received.length - before;
  const senderRatePerMinute = (sent - 1) / (Math.max(lastArrival - firstArrival, 1) / 60_000);
  const rateLimited = notify.requests.filter((r) => r.status === 429).length;
  rows.push({ scenario: `5. Send ${messageCount} messages (API)`, ceiling: 'write', result: sendResult });

  // 6. Save one questionnaire page: POST one answer to a PHQ-9 question of a verified browser's own
  //    in-progress response. Each link is first opened once by its browser (date of birth on the first
  //    device), which makes it verified. Connection w owns its own questionnaires and goes round them
  //    answering q1 on each, then q2, … q9, then q1 again, so the first round creates the rows and
  //    later ones merge into them. Question 9 is answered "Not at all": any other answer flags the
  //    conversation urgent, one more statement a save that is not the path measured here. Runs after
  //    the send, once every text has gone, so the in-process sender is idle.
  const questionnaireSessions: string[] = [];
  for (const [i, q] of seeded.questionnaires.entries()) {
    const res = await fetch(`${appBase}/${q.token}`, { method: 'POST', headers: form(2, i, ''), body: dobBody(String(Number(d))), redirect: 'manual' });
    await res.text();
    const device = cookieValue(res.headers.getSetCookie(), '__Host-dovecote-device');
    const session = cookieValue(res.headers.getSetCookie(), '__Host-dovecote-session');
    if (res.status !== 303 || res.headers.get('location') !== `/${q.token}/conversation` || !device || !session) {
      throw new Error(`questionnaire link ${i} was not verified: ${res.status} ${res.headers.get('location')}`);
    }
    questionnaireSessions.push(`__Host-dovecote-device=${device}; __Host-dovecote-session=${session}`);
  }
  const savesBy = new Array<number>(connections).fill(0);
  let savedPages = 0;
  // A short run may not reach every questionnaire: each one saved at least once must have its row.
  const answered = new Set<number>();
  const saveResult = await runLoad(appBase, async (c, w, i) => {
    const n = savesBy[w]!++;
    const own = w * QUESTIONNAIRES_PER_CONNECTION + (n % QUESTIONNAIRES_PER_CONNECTION);
    const question = (Math.floor(n / QUESTIONNAIRES_PER_CONNECTION) % 9) + 1;
    const { token } = seeded.questionnaires[own]!;
    const conversationPath = `/${token}/conversation`;
    const res = await c.call('POST', `${conversationPath}/questions/phq9-q${question}`, {
      headers: form(w, i, questionnaireSessions[own]!),
      body: new URLSearchParams({ _csrf: csrfToken, value: question === 9 ? PHQ9_NOT_AT_ALL : PHQ9_SEVERAL_DAYS }).toString(),
      expect: [303],
    });
    // A 303 back to the start page means nothing was saved (closed, or a question it would not ask).
    const location = String(res.headers.location ?? '');
    if (res.status !== 303) return;
    if (location.startsWith(`${conversationPath}/questions/`) || location === `${conversationPath}/check`) {
      savedPages++;
      answered.add(own);
    } else c.errors++;
  }, loadOpts);
  // Every save the server answered as saved (warm-up included) is one revision of one row and one
  // page_saved audit event; otherwise the figure above measured something other than saving.
  const questionnaireIds = seeded.questionnaires.map((q) => q.conversationId);
  const { rows: [savedRows] } = await pool.query<{ responses: string; revisions: string | null; in_progress: string }>(
    `SELECT count(*) AS responses, sum(revision) AS revisions, count(*) FILTER (WHERE submitted_at IS NULL) AS in_progress
     FROM questionnaire_responses WHERE conversation_id = ANY($1::uuid[])`,
    [questionnaireIds],
  );
  const { rows: [savedAudits] } = await pool.query<{ n: string }>(
    `SELECT count(*) AS n FROM audit_events WHERE type = 'questionnaire.page_saved' AND conversation_id = ANY($1::uuid[])`,
    [questionnaireIds],
  );
  const questionnaireCheck = {
    conversations: questionnaireIds.length,
    answered: answered.size,
    responses: Number(savedRows!.responses),
    inProgress: Number(savedRows!.in_progress),
    savedPages,
    revisions: Number(savedRows!.revisions ?? 0),
    pageSavedAudits: Number(savedAudits!.n),
  };
  const questionnaireProblems = [
    ...(questionnaireCheck.responses !== answered.size ? [`${questionnaireCheck.responses} responses stored for ${answered.size} questionnaires answered`] : []),
    ...(questionnaireCheck.inProgress !== questionnaireCheck.responses ? ['a questionnaire response was submitted'] : []),
    ...(questionnaireCheck.revisions !== savedPages ? [`${savedPages} pages answered as saved, ${questionnaireCheck.revisions} revisions stored`] : []),
    ...(questionnaireCheck.pageSavedAudits !== savedPages ? [`${savedPages} pages answered as saved, ${questionnaireCheck.pageSavedAudits} page_saved audit events`] : []),
  ];
  rows.push({
    scenario: '6. Save one questionnaire page',
    ceiling: 'write',
    result: saveResult,
    note: `${questionnaireIds.length} PHQ-9s in progress, ${QUESTIONNAIRES_PER_CONNECTION} a connection; ${savedPages} saves (warm-up included), ${questionnaireCheck.revisions} revisions and ${questionnaireCheck.pageSavedAudits} audit events stored`,
  });

  // 7. Book a slot: POST the confirm form of a verified browser's own invitation, each request a new
  //    invitation and a new slot (distinct clinicians a connection). Each invitation is first opened
  //    once by its browser (date of birth on the first device), connections in parallel.
  const bookingSessionsOf: string[] = new Array<string>(seeded.bookings.length);
  await Promise.all(
    Array.from({ length: connections }, async (_, w) => {
      for (let k = w * BOOKINGS_PER_CONNECTION; k < (w + 1) * BOOKINGS_PER_CONNECTION; k++) {
        const { token } = seeded.bookings[k]!;
        const res = await fetch(`${appBase}/${token}`, { method: 'POST', headers: form(3, k, ''), body: dobBody(String(Number(d))), redirect: 'manual' });
        await res.text();
        const device = cookieValue(res.headers.getSetCookie(), '__Host-dovecote-device');
        const session = cookieValue(res.headers.getSetCookie(), '__Host-dovecote-session');
        if (res.status !== 303 || !device || !session) throw new Error(`booking link ${k} was not verified: ${res.status} ${res.headers.get('location')}`);
        bookingSessionsOf[k] = `__Host-dovecote-device=${device}; __Host-dovecote-session=${session}`;
      }
    }),
  );
  const bookingsBy = new Array<number>(connections).fill(0);
  let booked = 0;
  const bookResult = await runLoad(appBase, async (c, w, i) => {
    const n = bookingsBy[w]!++;
    if (n >= BOOKINGS_PER_CONNECTION) {
      // This connection has used every invitation it owns: a request now would measure something
      // else. Counted once a second as an error (so the table shows it), not in a tight loop.
      c.errors++;
      await new Promise((resolve) => setTimeout(resolve, 1000));
      return;
    }
    const k = w * BOOKINGS_PER_CONNECTION + n;
    const { token, slotId } = seeded.bookings[k]!;
    const conversationPath = `/${token}/conversation`;
    const res = await c.call('POST', `${conversationPath}/appointment/confirm`, {
      headers: form(w, i, bookingSessionsOf[k]!),
      body: new URLSearchParams({ _csrf: csrfToken, slotId }).toString(),
      expect: [303],
    });
    if (res.status !== 303) return; // counted as an error by call()
    if (String(res.headers.location ?? '').startsWith(`${conversationPath}?booked=1`)) booked++;
    else c.errors++;
  }, loadOpts);
  const bookingIds = seeded.bookings.map((b) => b.conversationId);
  const { rows: [storedBookings] } = await pool.query<{ n: string; slots: string }>(
    'SELECT count(*) AS n, count(DISTINCT slot_id) AS slots FROM bookings WHERE cancelled_at IS NULL AND conversation_id = ANY($1::uuid[])',
    [bookingIds],
  );
  const bookingProblems = [
    ...(Number(storedBookings!.n) !== booked ? [`${booked} bookings answered as booked, ${storedBookings!.n} stored`] : []),
    ...(Number(storedBookings!.slots) !== Number(storedBookings!.n) ? ['two bookings share a slot'] : []),
  ];
  rows.push({
    scenario: '7. Book a slot',
    ceiling: 'write',
    result: bookResult,
    note: `${seeded.bookings.length} invitations, ${BOOKINGS_PER_CONNECTION} a connection; ${booked} booked (warm-up included), ${storedBookings!.n} stored`,
  });

  const outboxStates = await pool.query<{ status: string; n: string }>('SELECT status, count(*) AS n FROM outbound_sms GROUP BY status');
  const appRssLoad = memUnderLoad;
  await stopProcess(app.child);

  // 5b. The sender's own ceiling: bench/sender.ts queues the texts first, then times the real worker
  //     process sending them unthrottled (measured alone: with the API running in the same process the
  //     figure would be the API's CPU, not the sender's).
  const senderRun = await new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, ['bench/sender.ts', '--texts', String(messageCount)], { env: process.env, stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`bench/sender.ts exited with ${code}:\n${out}`))));
  });
  const unthrottledRate = Number(/: (\d+) texts\/s/.exec(senderRun)?.[1] ?? 0);
  const senderCpuMsPerText = Number(/\((\d+\.\d+) ms a text/.exec(senderRun)?.[1] ?? 0);
  await notify.close();
  await pool.end();

  // Report.
  const readCeiling = rows[0]!.result.rps;
  const writeCeiling = rows[1]!.result.rps;
  const table = rows.map((r) => {
    const base = r.ceiling === 'read' ? readCeiling : r.ceiling === 'write' ? writeCeiling : undefined;
    return {
      scenario: r.scenario,
      requestsPerSecond: Math.round(r.result.rps),
      p50ms: Number(r.result.p50.toFixed(1)),
      p99ms: Number(r.result.p99.toFixed(1)),
      errors: r.result.errors,
      requests: r.result.requests,
      ratioToWriteCeiling: base ? Number((r.result.rps / base).toFixed(2)) : undefined,
      serverCpuMsPerRequest: r.result.serverCpuMsPerRequest !== undefined ? Number(r.result.serverCpuMsPerRequest.toFixed(2)) : undefined,
      note: r.note,
    };
  });
  const summary = {
    when: new Date().toISOString(),
    mode: smoke ? 'smoke' : 'full',
    machine: { cpus: cpus().length, model: cpus()[0]?.model, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version },
    connections,
    secondsPerScenario: seconds,
    ceilings: { readRps: Math.round(readCeiling), writeRps: Math.round(writeCeiling) },
    scenarios: table,
    questionnaireSaves: questionnaireCheck,
    send: {
      messages: messageCount,
      apiAcceptedSeconds: Number((acceptedMs / 1000).toFixed(1)),
      allTextsAtProviderSeconds: Number((allDeliveredMs / 1000).toFixed(1)),
      textsAtProvider: sent,
      providerLimitPerMinute: PROVIDER_RATE_PER_MINUTE,
      senderRatePerMinute: Math.round(senderRatePerMinute),
      provider429s: rateLimited,
      unthrottledSenderTextsPerSecond: Math.round(unthrottledRate),
      unthrottledSenderCpuMsPerText: senderCpuMsPerText,
      outboxStates: Object.fromEntries(outboxStates.rows.map((r) => [r.status, Number(r.n)])),
    },
    startup: { embeddedColdSeconds: Number((cold.ms / 1000).toFixed(2)), embeddedWarmSeconds: Number((warm.ms / 1000).toFixed(2)) },
    memoryMiB: {
      embeddedIdle: Math.round(embeddedIdleRss),
      postgresIdle: Math.round(appIdleRss),
      postgresUnderScenario1: Math.round(appRssLoad),
    },
  };
  writeFileSync('bench/results/latest.json', `${JSON.stringify(summary, null, 2)}\n`);
  log('');
  console.table(table.map(({ note: _n, ...r }) => r));
  log(`Ceilings: read ${summary.ceilings.readRps} req/s, write ${summary.ceilings.writeRps} req/s (ratios are against the write ceiling)`);
  log(
    `Send: ${messageCount} accepted by the API in ${summary.send.apiAcceptedSeconds} s; all at the provider after ${summary.send.allTextsAtProviderSeconds} s; ` +
      `sender ${summary.send.senderRatePerMinute}/min against a limit of ${PROVIDER_RATE_PER_MINUTE}/min; ${rateLimited} answers of 429; ` +
      `unthrottled sender ${summary.send.unthrottledSenderTextsPerSecond} texts/s (${senderCpuMsPerText} ms CPU a text)`,
  );
  log(`Start-up (embedded): cold ${summary.startup.embeddedColdSeconds} s, warm ${summary.startup.embeddedWarmSeconds} s`);
  log(`Memory (RSS): embedded idle ${summary.memoryMiB.embeddedIdle} MiB; PostgreSQL idle ${summary.memoryMiB.postgresIdle} MiB, under scenario 1 ${summary.memoryMiB.postgresUnderScenario1} MiB`);
  log(
    `Questionnaire saves: ${questionnaireCheck.savedPages} pages answered as saved (warm-up included) to ${questionnaireCheck.answered} of ${questionnaireCheck.conversations} questionnaires; stored ${questionnaireCheck.responses} responses ` +
      `(${questionnaireCheck.inProgress} in progress), ${questionnaireCheck.revisions} revisions, ${questionnaireCheck.pageSavedAudits} page_saved audit events`,
  );
  log('Written to bench/results/latest.json');

  // The benchmark never fails on a time; it fails when the harness itself no longer works, so a smoke
  // run in CI keeps it working: a scenario with no successful request, or texts that never arrived.
  const broken = [
    ...table.filter((r) => r.requests - r.errors <= 0).map((r) => `${r.scenario}: no successful request`),
    ...(sent < messageCount ? [`only ${sent} of ${messageCount} texts reached the Notify stand-in`] : []),
    ...(unthrottledRate <= 0 ? ['the unthrottled sender measured nothing'] : []),
    ...questionnaireProblems.map((p) => `6. Save one questionnaire page: ${p}`),
    ...bookingProblems.map((p) => `7. Book a slot: ${p}`),
  ];
  if (broken.length > 0) {
    log(`The benchmark harness is broken:\n  ${broken.join('\n  ')}`);
    process.exitCode = 1;
  }
}

try {
  await main();
} finally {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
}
