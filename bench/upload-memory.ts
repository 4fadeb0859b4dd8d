// Memory under parallel uploads (issue 13: "20 parallel 10 MB uploads keep the server's memory growth
// under 100 MB"). Starts the real server as a child process (`node src/server.ts`, demo data), signs the
// demo staff member in, sends one document as a warm-up, then 20 at once, each a valid PDF just under
// DOCUMENT_MAX_MB, and samples the server's resident memory (/proc/<pid>/status VmRSS) every 20 ms.
// Growth is the peak during the 20 against the figure just before them. It measures; it never fails
// on a time. The streaming intake (platform/http/multipart.ts, features/files/file-intake.service.ts) is
// what keeps this flat: a file held whole would cost 10 MB an upload, 200 MB for the 20.
//
//   node bench/upload-memory.ts                          embedded database (PGlite) in a temp directory
//   node bench/upload-memory.ts --database-url URL       PostgreSQL: a fresh database made on that server
//   node bench/upload-memory.ts --uploads 20 --mib 10    how many at once, and the limit they sit under
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { DEMO_PATIENTS, DEMO_STAFF } from '../src/dev/demo-data.ts';
import { samplePdf } from '../test/helpers/files.ts';
import { freePort } from '../test/helpers/server.ts';
import { totpCode, totpStep } from '../src/features/staff/staff-totp.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const MIB = 1024 * 1024;
const SAMPLE_EVERY_MS = 20;
// Written to the socket in pieces, as a browser's upload arrives, so the server sees a stream.
const WRITE_PIECE_BYTES = 64 * 1024;

export interface UploadMemoryOptions {
  /** A PostgreSQL server to make a fresh database on; unset: the embedded database. */
  databaseUrl?: string;
  uploads?: number;
  /** DOCUMENT_MAX_MB the server runs with; each PDF is 1,000 bytes under it. */
  maxMib?: number;
}

export interface UploadMemoryResult {
  database: 'pglite' | 'postgres';
  uploads: number;
  fileBytes: number;
  /** Server RSS after the warm-up upload, just before the parallel ones. */
  baselineMib: number;
  peakMib: number;
  growthMib: number;
  /** Server RSS once every upload has answered. */
  afterMib: number;
  samples: number;
  statuses: number[];
}

export function rssMib(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
}

class CookieJar {
  private readonly cookies = new Map<string, string>();

  store(setCookie: string[]): void {
    for (const line of setCookie) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      if (eq > 0) this.cookies.set(pair!.slice(0, eq).trim(), pair!.slice(eq + 1).trim());
    }
  }

  header(): string {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }
}

const csrfFrom = (html: string) => /name="_csrf" value="([^"]+)"/.exec(html)?.[1] ?? failWith('no _csrf on the page');
const formKeyFrom = (html: string) => /name="formKey" value="([^"]+)"/.exec(html)?.[1] ?? failWith('no formKey on the page');

function failWith(message: string): never {
  throw new Error(message);
}

async function startServer(env: NodeJS.ProcessEnv): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['src/server.ts'], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the server did not start in 120 s:\n${output}`)), 120_000);
    const onData = (d: Buffer) => {
      output += d.toString();
      if (/Dovecote is running/.test(output)) {
        clearTimeout(timer);
        child.off('exit', onExit);
        resolve();
      }
    };
    const onExit = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`the server exited with ${code}:\n${output}`));
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', onExit);
  });
  // Keep reading so a chatty server never blocks on a full pipe.
  child.stdout!.resume();
  child.stderr!.resume();
  return child;
}

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

function withDatabase(serverUrl: string, name: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

async function onAdmin(serverUrl: string, sql: string): Promise<void> {
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(sql);
  } finally {
    await admin.end();
  }
}

/**
 * A staff session on the running server: sign in as the demo staff member (a fresh database, so with
 * the second factor a production server requires, the first sign-in sets up an authenticator: the
 * key is read off the set-up page and a code made from it, as a phone would), find the first demo patient.
 */
async function signIn(baseUrl: string): Promise<{ jar: CookieJar; patientId: string }> {
  const jar = new CookieJar();
  const page = await fetch(`${baseUrl}/staff/sign-in`);
  jar.store(page.headers.getSetCookie());
  const signedIn = await fetch(`${baseUrl}/staff/sign-in`, {
    method: 'POST',
    redirect: 'manual',
    headers: { cookie: jar.header(), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ _csrf: csrfFrom(await page.text()), email: DEMO_STAFF.email, password: DEMO_STAFF.password }),
  });
  await signedIn.text();
  if (signedIn.status !== 303) throw new Error(`staff sign-in answered ${signedIn.status}`);
  jar.store(signedIn.headers.getSetCookie());
  if (signedIn.headers.get('location') === '/staff/second-factor/set-up') {
    const setUp = await fetch(`${baseUrl}/staff/second-factor/set-up`, { headers: { cookie: jar.header() } });
    jar.store(setUp.headers.getSetCookie());
    const html = await setUp.text();
    const secret = /id="secret-key">([A-Z2-7 ]+)</.exec(html)?.[1]?.replace(/ /g, '') ?? failWith('no key on the set-up page');
    const enrolled = await fetch(`${baseUrl}/staff/second-factor/set-up`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: jar.header(), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: csrfFrom(html), code: totpCode(secret, totpStep(new Date())) }),
    });
    await enrolled.text();
    if (enrolled.status !== 200) throw new Error(`setting up the authenticator answered ${enrolled.status}`);
    jar.store(enrolled.headers.getSetCookie());
  } else if (signedIn.headers.get('location') !== '/staff') {
    throw new Error(`staff sign-in went to ${signedIn.headers.get('location')}`);
  }

  const find = await fetch(`${baseUrl}/staff/messages/new`, { headers: { cookie: jar.header() } });
  jar.store(find.headers.getSetCookie());
  const found = await fetch(`${baseUrl}/staff/messages/new`, {
    method: 'POST',
    headers: { cookie: jar.header(), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ _csrf: csrfFrom(await find.text()), searchBy: 'nhs-number', nhsNumber: DEMO_PATIENTS[0]!.nhsNumber }),
  });
  const patientId = /\/staff\/patients\/([0-9a-f-]{36})\//.exec(await found.text())?.[1];
  if (!patientId) throw new Error(`the demo patient was not found (search answered ${found.status})`);
  return { jar, patientId };
}

/**
 * One send of the document form as a browser sends it (multipart, _csrf first, the file after the
 * text fields), the PDF written to the socket in 64 KiB pieces. Resolves with the status.
 */
async function sendDocument(baseUrl: string, jar: CookieJar, patientId: string, pdf: Buffer, title: string): Promise<number> {
  const formUrl = `${baseUrl}/staff/patients/${patientId}/document`;
  const page = await fetch(formUrl, { headers: { cookie: jar.header() } });
  const html = await page.text();
  if (page.status !== 200) throw new Error(`the document form answered ${page.status}`);
  const boundary = `----dovecote-bench-${randomBytes(12).toString('hex')}`;
  const field = (name: string, value: string) => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
  const head = Buffer.from(
    field('_csrf', csrfFrom(html)) +
      field('formKey', formKeyFrom(html)) +
      // The form's one-time id: each send is a new submission (a repeated one would not send again).
      field('submissionId', /name="submissionId" value="([^"]+)"/.exec(html)?.[1] ?? failWith('no submissionId on the document form')) +
      field('title', title) +
      field('note', '') +
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="results.pdf"\r\nContent-Type: application/pdf\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n${field('action', 'send')}--${boundary}--\r\n`);
  return new Promise<number>((resolve, reject) => {
    const req = request(formUrl, {
      method: 'POST',
      headers: {
        cookie: jar.header(),
        'content-type': `multipart/form-data; boundary=${boundary}`,
        'content-length': String(head.length + pdf.length + tail.length),
      },
    });
    req.once('error', reject);
    req.once('response', (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode ?? 0));
      res.once('error', reject);
    });
    void (async () => {
      const write = (piece: Buffer) => (req.write(piece) ? undefined : new Promise<void>((r) => req.once('drain', () => r())));
      await write(head);
      // Views of the one PDF: the client holds 10 MB however many uploads run.
      for (let offset = 0; offset < pdf.length; offset += WRITE_PIECE_BYTES) await write(pdf.subarray(offset, offset + WRITE_PIECE_BYTES));
      req.end(tail);
    })().catch((error: unknown) => req.destroy(error as Error));
  });
}

export async function measureUploadMemory(options: UploadMemoryOptions = {}): Promise<UploadMemoryResult> {
  const uploads = options.uploads ?? 20;
  const maxMib = options.maxMib ?? 10;
  const dataDir = mkdtempSync(path.join(tmpdir(), 'dovecote-upload-memory-'));
  const databaseName = options.databaseUrl ? `dovecote_upload_memory_${randomBytes(4).toString('hex')}` : undefined;
  let server: ChildProcess | undefined;
  try {
    if (databaseName) await onAdmin(options.databaseUrl!, `CREATE DATABASE ${databaseName}`);
    const port = await freePort();
    const baseUrl = `http://127.0.0.1:${port}`;
    const { DATABASE_URL: _inherited, ...inherited } = process.env;
    server = await startServer({
      ...inherited,
      NODE_ENV: 'development',
      DEMO_DATA: 'true',
      DATA_DIR: dataDir,
      ...(databaseName && { DATABASE_URL: withDatabase(options.databaseUrl!, databaseName) }),
      PORT: String(port),
      PUBLIC_BASE_URL: baseUrl,
      LOG_LEVEL: 'error',
      DOCUMENT_MAX_MB: String(maxMib),
      FILE_STORAGE: 'local',
      FILE_SCANNER: 'none',
    });
    const pid = server.pid!;
    const { jar, patientId } = await signIn(baseUrl);
    const pdf = samplePdf('x', Math.round(maxMib * MIB) - 1000);

    const warmUp = await sendDocument(baseUrl, jar, patientId, pdf, 'Warm-up');
    if (warmUp !== 303) throw new Error(`the warm-up upload answered ${warmUp}`);
    const baselineMib = rssMib(pid);
    let peakMib = baselineMib;
    let samples = 0;
    const sampler = setInterval(() => {
      peakMib = Math.max(peakMib, rssMib(pid));
      samples += 1;
    }, SAMPLE_EVERY_MS);
    let statuses: number[];
    try {
      statuses = await Promise.all(Array.from({ length: uploads }, (_, i) => sendDocument(baseUrl, jar, patientId, pdf, `Results ${i + 1}`)));
    } finally {
      clearInterval(sampler);
    }
    const afterMib = rssMib(pid);
    peakMib = Math.max(peakMib, afterMib);
    return {
      database: databaseName ? 'postgres' : 'pglite',
      uploads,
      fileBytes: pdf.length,
      baselineMib,
      peakMib,
      growthMib: peakMib - baselineMib,
      afterMib,
      samples,
      statuses,
    };
  } finally {
    if (server) await stopServer(server);
    if (databaseName) await onAdmin(options.databaseUrl!, `DROP DATABASE IF EXISTS ${databaseName} WITH (FORCE)`);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: { 'database-url': { type: 'string' }, uploads: { type: 'string', default: '20' }, mib: { type: 'string', default: '10' } },
  });
  const result = await measureUploadMemory({ databaseUrl: values['database-url'], uploads: Number(values.uploads), maxMib: Number(values.mib) });
  const fmt = (mib: number) => `${mib.toFixed(1)} MiB`;
  const succeeded = result.statuses.filter((s) => s === 303).length;
  process.stdout.write(
    `Upload memory, ${result.database}: ${result.uploads} parallel uploads of ${(result.fileBytes / MIB).toFixed(2)} MiB PDFs, ${succeeded} answered 303\n` +
      `  server RSS before ${fmt(result.baselineMib)}, peak ${fmt(result.peakMib)} (${result.samples} samples), after ${fmt(result.afterMib)}\n` +
      `  growth ${fmt(result.growthMib)} (the aim: under 100 MB)\n`,
  );
  if (succeeded !== result.uploads) {
    process.stderr.write(`Not every upload was taken: ${result.statuses.join(', ')}\n`);
    process.exitCode = 1;
  }
}
