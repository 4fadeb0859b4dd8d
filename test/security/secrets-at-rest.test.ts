// Secrets at rest: a copy or a backup of the database must open nothing. A whole journey runs — staff
// send a message, the SMS worker hands the link to the provider (the Notify stand-in, so nothing goes
// to the development phone), the patient opens the link on a first device, on a second with a security
// code, replies, asks for a code on a third and leaves it unused, and signs in with NHS login from the
// link (once to the end, once left at NHS login) — and then every table of every schema in the
// database (the application's, pg-boss's, the migrations') is read, every column as text, for the link
// token, any security code and any cookie value. Only a text still queued for the provider may hold
// its link or code, so the scan runs once everything has been handed over. A first scan, while the
// link text is still queued, shows the net catches what it is meant to.
// A second test does the same for staff: an authenticator key and its recovery codes.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { eq, sql } from 'drizzle-orm';
import { Secret } from 'otpauth';
import { createTestApp, TestClock } from '../helpers/app.ts';
import { CookieJar, createTestOrganisation, createTestPatient, createTestStaff } from '../helpers/factories.ts';
import { get, sendReply, submitCode, submitDob } from '../helpers/patient.ts';
import { nhsLoginThroughApp, nhsLoginUpToCallback, startTestNhsLogin, type TestNhsLogin } from '../helpers/nhs-login.ts';
import { notifyConfigFor, startNotifyStandIn, type NotifyStandIn } from '../helpers/notify-stand-in.ts';
import { queryRows } from '../../src/platform/db/client.ts';
import { devPhoneTexts, outboundSms, staffUsers } from '../../src/platform/db/schema.ts';
import { normaliseRecoveryCode } from '../../src/features/staff/staff-totp.ts';
import { staffGet, staffPost, totpCodeNow } from '../helpers/staff.ts';
import { eventually, startFastWorker } from '../../src/features/sms/sms-test-support.ts';
import { NHS_LOGIN_STATE_COOKIE } from '../../src/features/nhs-login/nhs-login.routes.ts';
import type { Services } from '../../src/services.ts';
import { send } from './security-world.ts';

const MESSAGE = 'Your blood test results are normal. No action is needed.';

let nhsLogin: TestNhsLogin;
let notify: NotifyStandIn;
before(async () => {
  nhsLogin = await startTestNhsLogin();
  notify = await startNotifyStandIn();
});
after(async () => {
  await nhsLogin.close();
  await notify.close();
});

interface Finding {
  table: string;
  column: string;
  what: string;
}

/** Every base table outside the system catalogues, with all its columns (any type: each is read as text). */
async function everyColumn(services: Services): Promise<Array<{ schema: string; table: string; column: string }>> {
  return queryRows(
    services.db,
    sql`SELECT c.table_schema AS schema, c.table_name AS "table", c.column_name AS column
        FROM information_schema.columns c
        JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
        WHERE t.table_type = 'BASE TABLE' AND c.table_schema NOT IN ('pg_catalog', 'information_schema')
        ORDER BY 1, 2, c.ordinal_position`,
  );
}

/**
 * Where any of the secrets sits. Tokens and cookie values anywhere in a value; a six-digit code only
 * standing alone (not inside a longer run of letters and digits, such as a hash, nor as the
 * microseconds of a timestamp).
 */
async function findSecrets(services: Services, secrets: { tokens: Record<string, string>; codes: Record<string, string> }): Promise<Finding[]> {
  const wanted = [
    ...Object.entries(secrets.tokens).map(([what, value]) => ({ what, value, test: (v: string) => v.includes(value) })),
    ...Object.entries(secrets.codes).map(([what, value]) => {
      const standingAlone = new RegExp(`(^|[^0-9A-Za-z.])${value}([^0-9A-Za-z]|$)`);
      return { what, value, test: (v: string) => standingAlone.test(v) };
    }),
  ];
  const findings: Finding[] = [];
  for (const { schema, table, column } of await everyColumn(services)) {
    const anyOf = sql.join(
      wanted.map(({ value }) => sql`position(${value} in ${sql.identifier(column)}::text) > 0`),
      sql` OR `,
    );
    const rows = await queryRows<{ value: string }>(
      services.db,
      sql`SELECT ${sql.identifier(column)}::text AS value FROM ${sql.identifier(schema)}.${sql.identifier(table)} WHERE ${anyOf}`,
    );
    for (const { value } of rows) {
      for (const secret of wanted) {
        if (secret.test(value)) findings.push({ table: `${schema}.${table}`, column, what: secret.what });
      }
    }
  }
  return findings;
}

function cookieValues(name: string, jar: CookieJar): Record<string, string> {
  const values: Record<string, string> = {};
  for (const pair of jar.header().split('; ').filter(Boolean)) {
    const [cookie = '', value = ''] = pair.split(/=(.*)/s);
    // Long enough to be a secret (a session, a device, a CSRF secret, the NHS login state).
    if (value.length >= 16) values[`${name} cookie ${cookie}`] = decodeURIComponent(value);
  }
  return values;
}

test('after a whole journey no table holds a working link token, a security code or a cookie value', async (t) => {
  const clock = new TestClock();
  const testApp = await createTestApp({ config: { ...nhsLogin.env, ...notifyConfigFor(notify) }, now: clock.now });
  const { app, services } = testApp;
  t.after(testApp.close);

  // Staff sign in and send a message to Priya (whom the NHS login stand-in knows as Priya Shah, P9).
  const organisation = await createTestOrganisation(services);
  const staff = await createTestStaff(services, organisation.id);
  const patient = await createTestPatient(services, organisation.id);
  const staffJar = new CookieJar();
  assert.equal((await send(app, 'POST', '/staff/sign-in', { jar: staffJar, form: { email: staff.email, password: staff.password } })).statusCode, 303);
  const sent = await send(app, 'POST', `/staff/patients/${patient.id}/message`, { jar: staffJar, form: { body: MESSAGE, replyMode: 'once' } });
  assert.equal(sent.statusCode, 303);

  // Queued, not yet handed over: the text holds its link, and the scan finds it there and only there.
  const [queued] = await services.db.select().from(outboundSms);
  const queuedToken = /\/([0-9A-Za-z]{22})$/.exec(queued!.personalisation.link ?? '')?.[1];
  assert.ok(queuedToken, 'the queued text holds its link');
  assert.deepEqual(await findSecrets(services, { tokens: { 'link token': queuedToken }, codes: {} }), [
    { table: 'public.outbound_sms', column: 'personalisation', what: 'link token' },
  ]);

  // The worker hands it to the provider; the patient's phone gets the link.
  const stopWorker = await startFastWorker(services);
  t.after(stopWorker);
  await notify.waitForReceived(1);
  const token = /Open it here: http:\/\/localhost:3000\/([0-9A-Za-z]{22})$/.exec(notify.received[0]!.body)?.[1];
  assert.equal(token, queuedToken);
  const codeOnThePhone = async (count: number) => {
    await notify.waitForReceived(count);
    const code = /^(\d{6}) is your security code/.exec(notify.received[count - 1]!.body)?.[1];
    assert.ok(code, 'a security code text');
    return code;
  };

  // The first device: date of birth, the message, no code.
  const deviceA = new CookieJar();
  assert.equal((await submitDob(app, token, deviceA)).headers.location, `/${token}/conversation`);
  assert.equal((await get(app, `/${token}/conversation`, deviceA)).statusCode, 200);

  // A second device: date of birth, the security code, then a reply.
  const deviceB = new CookieJar();
  const dobB = await submitDob(app, token, deviceB);
  assert.equal(dobB.headers.location, `/${token}/code`, `${dobB.statusCode} ${dobB.body.replace(/<[^>]+>/g, " ").replace(/\s+/g, " ").slice(0, 600)}`);
  const usedCode = await codeOnThePhone(2);
  assert.equal((await submitCode(app, token, deviceB, usedCode)).headers.location, `/${token}/conversation`);
  assert.equal((await sendReply(app, token, deviceB, 'Thank you, that is good news.')).statusCode, 303);

  // A third device asks for a code (a minute later: one code a minute) and never uses it: a live code.
  clock.advance(61_000);
  const deviceC = new CookieJar();
  const dobC = await submitDob(app, token, deviceC);
  assert.equal(dobC.headers.location, `/${token}/code`, `${dobC.statusCode} ${dobC.body.replace(/<[^>]+>/g, " ").replace(/\s+/g, " ").slice(0, 900)}`);
  const liveCode = await codeOnThePhone(3);

  // NHS login from the link: once to the end (the message opens), once left at NHS login (in flight).
  const nhsJar = new CookieJar();
  const { res: signedIn, jarBeforeCallback } = await nhsLoginThroughApp(app, nhsJar, `/${token}/nhs-login`, { identity: nhsLogin.identity(/^Priya Shah — P9/) });
  assert.equal(signedIn.headers.location, `/${token}/conversation`);
  const inFlightJar = new CookieJar();
  await nhsLoginUpToCallback(app, inFlightJar, `/${token}/nhs-login`, { identity: nhsLogin.identity(/^Priya Shah — P9/) });
  assert.ok(jarBeforeCallback.get(NHS_LOGIN_STATE_COOKIE) && inFlightJar.get(NHS_LOGIN_STATE_COOKIE), 'the NHS login states were captured');

  // Everything has been handed to the provider: nothing is left queued that may hold a secret.
  await eventually(async () => {
    const rows = await services.db.select({ status: outboundSms.status }).from(outboundSms);
    return rows.length === 3 && rows.every((r) => r.status === 'sent');
  }, 'every text to be handed to the provider');
  assert.equal((await services.db.select().from(devPhoneTexts)).length, 0, 'no development phone: the Notify transport sent everything');

  const tokens = {
    'link token': token,
    ...cookieValues('device A', deviceA),
    ...cookieValues('device B', deviceB),
    ...cookieValues('device C', deviceC),
    ...cookieValues('NHS login', nhsJar),
    ...cookieValues('NHS login before the callback', jarBeforeCallback),
    ...cookieValues('NHS login in flight', inFlightJar),
    ...cookieValues('staff', staffJar),
  };
  assert.ok(Object.keys(tokens).length >= 10, `the cookies were captured: ${Object.keys(tokens).join(', ')}`);
  assert.deepEqual(await findSecrets(services, { tokens, codes: { 'used security code': usedCode, 'live security code': liveCode } }), []);
});

test('no table holds a staff authenticator key or a recovery code in the clear', async (t) => {
  const clock = new TestClock();
  const testApp = await createTestApp({ config: { STAFF_SECOND_FACTOR: 'required' }, now: clock.now });
  const { app, services } = testApp;
  t.after(testApp.close);
  const organisation = await createTestOrganisation(services);
  const staff = await createTestStaff(services, organisation.id);

  // Set up through the pages, as staff do: the key as shown for typing in, and the codes shown once.
  const jar = new CookieJar();
  assert.equal((await staffPost(app, jar, '/staff/sign-in', { email: staff.email, password: staff.password })).headers.location, '/staff/second-factor/set-up');
  const setUp = await staffGet(app, jar, '/staff/second-factor/set-up');
  const secret = /id="secret-key">([A-Z2-7 ]+)</.exec(setUp.body)![1]!.replace(/ /g, '');
  const done = await staffPost(app, jar, '/staff/second-factor/set-up', { code: totpCodeNow(app, secret) });
  const recoveryCodes = [...done.body.matchAll(/<code>([A-Z2-7]{5}-[A-Z2-7]{5})<\/code>/g)].map((m) => m[1]!);
  assert.equal(recoveryCodes.length, 10);
  // One recovery code used, the rest still live.
  clock.advance(30_000);
  const second = new CookieJar();
  await staffPost(app, second, '/staff/sign-in', { email: staff.email, password: staff.password });
  assert.equal((await staffPost(app, second, '/staff/sign-in/recovery-code', { code: recoveryCodes[0]! })).statusCode, 303);

  // The scan reaches the column the sealed key is in.
  const [user] = await services.db.select().from(staffUsers).where(eq(staffUsers.id, staff.id));
  assert.deepEqual(await findSecrets(services, { tokens: { 'sealed key': user!.totpSecretSealed! }, codes: {} }), [
    { table: 'public.staff_users', column: 'totp_secret_sealed', what: 'sealed key' },
  ]);

  const key = Secret.fromBase32(secret);
  const tokens: Record<string, string> = {
    'authenticator key (base32)': secret,
    'authenticator key (hex)': key.hex,
    'authenticator key (base64)': Buffer.from(key.bytes).toString('base64'),
    'authenticator key (base64url)': Buffer.from(key.bytes).toString('base64url'),
    ...cookieValues('staff', jar),
    ...cookieValues('staff, second sign-in', second),
  };
  recoveryCodes.forEach((code, i) => {
    tokens[`recovery code ${i + 1}`] = code;
    tokens[`recovery code ${i + 1} as typed`] = normaliseRecoveryCode(code);
  });
  assert.deepEqual(await findSecrets(services, { tokens, codes: {} }), []);
});
