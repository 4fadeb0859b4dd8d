// The staff second factor: a password alone never reaches a staff page when the second factor is
// required; setting up an authenticator through the pages; codes used once per step (in this sign-in
// or any later one, and when posted twice at once); the window of one step either side; wrong codes
// slowed like wrong passwords; recovery codes used once and kept only hashed; a reset second factor;
// a deactivated account; a temporary password replaced.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { and, eq } from 'drizzle-orm';
import { createTestApp, TestClock } from '../../../test/helpers/app.ts';
import { CookieJar, createTestOrganisation, createTestStaff } from '../../../test/helpers/factories.ts';
import {
  enrolTestTotp,
  errorSummaryItems,
  pageText,
  signInAsStaff,
  staffGet,
  staffPost,
  STAFF_COOKIE_NAME,
  totpCodeNow,
} from '../../../test/helpers/staff.ts';
import { auditEvents, staffRecoveryCodes, staffSessions, staffUsers } from '../../platform/db/schema.ts';
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../services.ts';
import { resetSecondFactor } from './staff-accounts.service.ts';
import { normaliseRecoveryCode, openTotpSecret } from './staff-totp.ts';
import { advanceStaffSession, createStaffSession } from './staff-sessions.service.ts';
import { signInWithTotp, TOTP_FAILURES_IN_A_ROW_LIMIT } from './staff-second-factor.service.ts';
import { NotAuthenticated } from '../../platform/errors.ts';

const STEP = 30_000;

async function setUp(t: { after: (fn: () => Promise<void>) => void }, config: Record<string, string> = { STAFF_SECOND_FACTOR: 'required' }) {
  const clock = new TestClock(Date.parse('2026-11-26T10:00:05Z'));
  const { app, services, close } = await createTestApp({ config, now: clock.now });
  t.after(close);
  const organisation = await createTestOrganisation(services);
  const staff = await createTestStaff(services, organisation.id, { name: 'Jo Bloggs', role: 'clinician' });
  return { app, services, clock, organisation, staff };
}

async function password(app: FastifyInstance, jar: CookieJar, email: string, pw: string) {
  return staffPost(app, jar, '/staff/sign-in', { email, password: pw });
}

async function sessionsOf(services: Services, staffUserId: string) {
  return services.db.select().from(staffSessions).where(eq(staffSessions.staffUserId, staffUserId));
}

async function auditOf(services: Services, type: string) {
  return services.db.select().from(auditEvents).where(eq(auditEvents.type, type));
}

/** Signs in with the password, sets up the authenticator through the pages; returns its key and the recovery codes shown. */
async function enrolThroughPages(app: FastifyInstance, jar: CookieJar, email: string, pw: string) {
  const signedIn = await password(app, jar, email, pw);
  assert.equal(signedIn.headers.location, '/staff/second-factor/set-up');
  const page = await staffGet(app, jar, '/staff/second-factor/set-up');
  assert.equal(page.statusCode, 200);
  const secret = /id="secret-key">([A-Z2-7 ]+)</.exec(page.body)![1]!.replace(/ /g, '');
  const done = await staffPost(app, jar, '/staff/second-factor/set-up', { code: totpCodeNow(app, secret) });
  assert.equal(done.statusCode, 200, pageText(done.body));
  const codes = [...done.body.matchAll(/<code>([A-Z2-7]{5}-[A-Z2-7]{5})<\/code>/g)].map((m) => m[1]!);
  return { secret, codes, done };
}

test('with the second factor required, a right password alone reaches no staff page, by GET or POST, and its session lasts 10 minutes', async (t) => {
  const { app, services, clock, staff } = await setUp(t);
  const jar = new CookieJar();
  const res = await password(app, jar, staff.email, staff.password);
  assert.equal(res.statusCode, 303);
  assert.equal(res.headers.location, '/staff/second-factor/set-up');
  const [session] = await sessionsOf(services, staff.id);
  assert.equal(session?.stage, 'enrol');
  assert.equal(session!.expiresAt.getTime() - clock.now().getTime(), 10 * 60_000);
  assert.equal((await auditOf(services, 'staff.signed_in')).length, 0, 'a password alone is not a sign-in');

  for (const url of ['/staff', '/staff/account', '/staff/messages/new', '/staff/sign-in/code', '/staff/sign-in/recovery-code', '/staff/change-password']) {
    const page = await staffGet(app, jar, url);
    assert.equal(page.statusCode, 303, url);
    assert.equal(page.headers.location, '/staff/second-factor/set-up', url);
  }
  for (const url of ['/staff/account/recovery-codes', '/staff/sign-in/code', '/staff/change-password']) {
    const page = await staffPost(app, jar, url, { code: '123456' });
    assert.equal(page.statusCode, 303, url);
    assert.equal(page.headers.location, '/staff/second-factor/set-up', url);
  }
  assert.equal((await sessionsOf(services, staff.id)).length, 1, 'the partial session is still the only one');
  // Someone without their phone can still leave: signing out works at any stage.
  assert.equal((await staffGet(app, jar, '/staff/sign-out')).statusCode, 200);
  assert.equal((await staffPost(app, jar, '/staff/sign-out', {})).statusCode, 200);
  assert.equal((await sessionsOf(services, staff.id)).length, 0, 'signing out ended the partial session');

  // An account with an authenticator is sent to the code page, whatever it asks for.
  await enrolTestTotp(services, staff.id);
  const coded = new CookieJar();
  assert.equal((await password(app, coded, staff.email, staff.password)).headers.location, '/staff/sign-in/code');
  for (const url of ['/staff', '/staff/account', '/staff/second-factor/set-up']) {
    const page = await staffGet(app, coded, url);
    assert.equal(page.headers.location, '/staff/sign-in/code', url);
  }
  assert.equal((await staffPost(app, coded, '/staff/second-factor/set-up', { code: '123456' })).headers.location, '/staff/sign-in/code');

  clock.advance(10 * 60_000);
  const expired = await staffGet(app, coded, '/staff/sign-in/code');
  assert.equal(expired.statusCode, 303);
  assert.equal(expired.headers.location, '/staff/sign-in');
});

test('setting up an authenticator: a QR code and the key as text, a code to finish, 10 recovery codes shown once, then signed in', async (t) => {
  const { app, services, staff, organisation } = await setUp(t);
  const jar = new CookieJar();
  await password(app, jar, staff.email, staff.password);
  const page = await staffGet(app, jar, '/staff/second-factor/set-up');
  assert.equal(page.statusCode, 200);
  assert.match(page.body, /<svg role="img" aria-label="QR code to add Dovecote to your authenticator app"/);
  assert.match(page.body, /id="secret-key">[A-Z2-7]{4}( [A-Z2-7]{4}){7}</);
  const secret = /id="secret-key">([A-Z2-7 ]+)</.exec(page.body)![1]!.replace(/ /g, '');
  // The same pending key on a second look; it is kept sealed, and the account has no second factor yet.
  assert.ok((await staffGet(app, jar, '/staff/second-factor/set-up')).body.includes(/id="secret-key">([A-Z2-7 ]+)</.exec(page.body)![1]!));
  const [pending] = await services.db.select().from(staffUsers).where(eq(staffUsers.id, staff.id));
  assert.equal(pending?.totpEnrolledAt, null);
  assert.ok(pending?.totpSecretSealed && !pending.totpSecretSealed.includes(secret));
  assert.equal(openTotpSecret(services.config.files.encryptionKeys, pending.totpSecretSealed, staff.id), secret);

  const empty = await staffPost(app, jar, '/staff/second-factor/set-up', { code: '' });
  assert.equal(empty.statusCode, 400);
  assert.deepEqual(errorSummaryItems(empty.body), ['#code Enter the code from your authenticator app']);
  const wrong = await staffPost(app, jar, '/staff/second-factor/set-up', { code: totpCodeNow(app, secret, 3) });
  assert.equal(wrong.statusCode, 401);
  assert.match(errorSummaryItems(wrong.body)[0]!, /The code is not right/);
  assert.match(wrong.body, /id="secret-key"/, 'the key is shown again');

  const before = jar.get(STAFF_COOKIE_NAME);
  const code = totpCodeNow(app, secret);
  const done = await staffPost(app, jar, '/staff/second-factor/set-up', { code: `${code.slice(0, 3)} ${code.slice(3)}` });
  assert.equal(done.statusCode, 200);
  assert.match(pageText(done.body), /Save your recovery codes/);
  assert.match(done.body, /href="\/staff"[^>]*>I have saved these codes/);
  const codes = [...done.body.matchAll(/<code>([A-Z2-7]{5}-[A-Z2-7]{5})<\/code>/g)].map((m) => m[1]!);
  assert.equal(new Set(codes).size, 10);
  assert.notEqual(jar.get(STAFF_COOKIE_NAME), before, 'a new session token');
  const [session] = await sessionsOf(services, staff.id);
  assert.equal(session?.stage, 'signed_in');

  const account = await staffGet(app, jar, '/staff/account');
  assert.equal(account.statusCode, 200);
  assert.match(pageText(account.body), /Authenticator app Set up on 26 November 2026/);
  assert.match(pageText(account.body), /Recovery codes left 10/);

  const [user] = await services.db.select().from(staffUsers).where(eq(staffUsers.id, staff.id));
  assert.ok(user?.totpEnrolledAt);
  const rows = await services.db.select().from(staffRecoveryCodes).where(eq(staffRecoveryCodes.staffUserId, staff.id));
  assert.equal(rows.length, 10);
  for (const row of rows) {
    for (const c of codes) {
      assert.ok(!row.codeHash.includes(c) && !row.codeHash.includes(normaliseRecoveryCode(c)), 'recovery codes are stored hashed');
    }
  }
  assert.equal(new Set(rows.map((r) => r.codeHash.split(':')[1])).size, 10, 'each code has its own salt');
  const [enrolled] = await auditOf(services, 'staff.second_factor_enrolled');
  assert.equal(enrolled?.actorId, staff.id);
  assert.equal(enrolled?.organisationId, organisation.id);
  const [signedIn] = await auditOf(services, 'staff.signed_in');
  assert.deepEqual(signedIn?.details, { method: 'totp' });

  // The enrolment code's step is used: it does not sign in again.
  const again = new CookieJar();
  await password(app, again, staff.email, staff.password);
  assert.equal((await staffPost(app, again, '/staff/sign-in/code', { code })).statusCode, 401);
});

test('a right code signs in; the same code is refused afterwards, even in a new sign-in; the next step works', async (t) => {
  const { app, services, clock, staff } = await setUp(t);
  const secret = await enrolTestTotp(services, staff.id);
  const jar = new CookieJar();
  const res = await password(app, jar, staff.email, staff.password);
  assert.equal(res.headers.location, '/staff/sign-in/code');
  const codePage = await staffGet(app, jar, '/staff/sign-in/code');
  assert.equal(codePage.statusCode, 200);
  assert.match(codePage.body, /href="\/staff\/sign-in\/recovery-code"/);
  const partialToken = jar.get(STAFF_COOKIE_NAME);
  const code = totpCodeNow(app, secret);
  const ok = await staffPost(app, jar, '/staff/sign-in/code', { code });
  assert.equal(ok.statusCode, 303);
  assert.equal(ok.headers.location, '/staff');
  assert.notEqual(jar.get(STAFF_COOKIE_NAME), partialToken);
  assert.equal((await staffGet(app, jar, '/staff/account')).statusCode, 200);
  // The partial session's token is gone.
  const stale = new CookieJar();
  stale.store(`${STAFF_COOKIE_NAME}=${partialToken}`);
  assert.equal((await staffGet(app, stale, '/staff/sign-in/code')).headers.location, '/staff/sign-in');

  const replay = new CookieJar();
  await password(app, replay, staff.email, staff.password);
  const refused = await staffPost(app, replay, '/staff/sign-in/code', { code });
  assert.equal(refused.statusCode, 401);
  assert.deepEqual(errorSummaryItems(refused.body), ['#code The code is not right. Enter the code your app shows now']);
  const [failed] = await auditOf(services, 'staff.second_factor_failed');
  assert.deepEqual(failed?.details, { method: 'totp', reason: 'wrong_code' });

  clock.advance(STEP);
  const next = await staffPost(app, replay, '/staff/sign-in/code', { code: totpCodeNow(app, secret) });
  assert.equal(next.statusCode, 303);
  assert.equal(next.headers.location, '/staff');
});

test('a code from one step ago is accepted, from two steps ago refused', async (t) => {
  const { app, services, staff } = await setUp(t);
  const secret = await enrolTestTotp(services, staff.id);
  const jar = new CookieJar();
  await password(app, jar, staff.email, staff.password);
  assert.equal((await staffPost(app, jar, '/staff/sign-in/code', { code: totpCodeNow(app, secret, -2) })).statusCode, 401);
  assert.equal((await staffPost(app, jar, '/staff/sign-in/code', { code: totpCodeNow(app, secret, 2) })).statusCode, 401);
  const ok = await staffPost(app, jar, '/staff/sign-in/code', { code: totpCodeNow(app, secret, -1) });
  assert.equal(ok.statusCode, 303);
  const [user] = await services.db.select().from(staffUsers).where(eq(staffUsers.id, staff.id));
  assert.equal(user?.totpLastStep, Math.floor(app.services.now().getTime() / STEP) - 1);
});

test('one code posted twice at once signs in only one of them', async (t) => {
  const { app, services, staff } = await setUp(t);
  const secret = await enrolTestTotp(services, staff.id);
  const jars = [new CookieJar(), new CookieJar(), new CookieJar()];
  for (const jar of jars) await password(app, jar, staff.email, staff.password);
  const code = totpCodeNow(app, secret);
  const results = await Promise.all(jars.map((jar) => staffPost(app, jar, '/staff/sign-in/code', { code })));
  assert.deepEqual(results.map((r) => r.statusCode).sort(), [303, 401, 401]);
  const signedIn = (await sessionsOf(services, staff.id)).filter((s) => s.stage === 'signed_in');
  assert.equal(signedIn.length, 1);
});

test('wrong codes are slowed like wrong passwords: after 5 in a row each attempt waits, unchecked; a right code ends the run', async (t) => {
  const { app, services, clock, staff } = await setUp(t);
  const secret = await enrolTestTotp(services, staff.id);
  const jar = new CookieJar();
  await password(app, jar, staff.email, staff.password);
  const wrong = () => staffPost(app, jar, '/staff/sign-in/code', { code: totpCodeNow(app, secret, 5) });
  for (let i = 0; i < 5; i++) assert.equal((await wrong()).statusCode, 401, `attempt ${i + 1}`);
  const waiting = await wrong();
  assert.equal(waiting.statusCode, 429);
  assert.equal(waiting.headers['retry-after'], '1');
  assert.deepEqual(errorSummaryItems(waiting.body), ['#code Wait 1 second before trying again']);
  // A right code during the wait is not checked either.
  assert.equal((await staffPost(app, jar, '/staff/sign-in/code', { code: totpCodeNow(app, secret) })).statusCode, 429);
  clock.advance(1000);
  assert.equal((await wrong()).statusCode, 401);
  const longer = await wrong();
  assert.equal(longer.statusCode, 429);
  assert.deepEqual(errorSummaryItems(longer.body), ['#code Wait 2 seconds before trying again']);
  clock.advance(2000);
  const ok = await staffPost(app, jar, '/staff/sign-in/code', { code: totpCodeNow(app, secret) });
  assert.equal(ok.statusCode, 303);
  const failures = await auditOf(services, 'staff.second_factor_failed');
  assert.deepEqual(
    failures.map((f) => (f.details as { reason: string }).reason).filter((r) => r === 'waiting_after_wrong_codes').length,
    3,
  );
  // The run ended: the next wrong code is checked at once.
  clock.advance(STEP);
  const fresh = new CookieJar();
  await password(app, fresh, staff.email, staff.password);
  assert.equal((await staffPost(app, fresh, '/staff/sign-in/code', { code: '000000' === totpCodeNow(app, secret) ? '111111' : '000000' })).statusCode, 401);
});

test('a recovery code signs in once, says how many are left, and new codes need a current code', async (t) => {
  const { app, services, clock, staff } = await setUp(t);
  const { codes, secret } = await enrolThroughPages(app, new CookieJar(), staff.email, staff.password);
  clock.advance(STEP);

  const jar = new CookieJar();
  await password(app, jar, staff.email, staff.password);
  const page = await staffGet(app, jar, '/staff/sign-in/recovery-code');
  assert.equal(page.statusCode, 200);
  const bad = await staffPost(app, jar, '/staff/sign-in/recovery-code', { code: 'not a code' });
  assert.equal(bad.statusCode, 400);
  assert.deepEqual(errorSummaryItems(bad.body), ['#code Enter a recovery code, like ABCDE-FGH23']);
  const used = await staffPost(app, jar, '/staff/sign-in/recovery-code', { code: codes[3]!.toLowerCase().replace('-', ' ') });
  assert.equal(used.statusCode, 303);
  assert.equal(used.headers.location, '/staff/account?used=recovery-code');
  const account = await staffGet(app, jar, used.headers.location!);
  assert.match(pageText(account.body), /You signed in with a recovery code\. It will not work again\. You have 9 recovery codes left\./);
  const signedIn = await auditOf(services, 'staff.signed_in');
  assert.deepEqual(signedIn.at(-1)?.details, { method: 'recovery_code' });

  const again = new CookieJar();
  await password(app, again, staff.email, staff.password);
  const refused = await staffPost(app, again, '/staff/sign-in/recovery-code', { code: codes[3]! });
  assert.equal(refused.statusCode, 401);
  assert.deepEqual(errorSummaryItems(refused.body), ['#code The recovery code is not right, or it has been used']);
  const failed = await auditOf(services, 'staff.second_factor_failed');
  assert.deepEqual(failed.at(-1)?.details, { method: 'recovery_code', reason: 'wrong_recovery_code' });

  // New codes from "Your account": a wrong code changes nothing; a right one replaces them all.
  const wrongCode = await staffPost(app, jar, '/staff/account/recovery-codes', { code: totpCodeNow(app, secret, 4) });
  assert.equal(wrongCode.statusCode, 401);
  const made = await staffPost(app, jar, '/staff/account/recovery-codes', { code: totpCodeNow(app, secret) });
  assert.equal(made.statusCode, 200);
  const fresh = [...made.body.matchAll(/<code>([A-Z2-7]{5}-[A-Z2-7]{5})<\/code>/g)].map((m) => m[1]!);
  assert.equal(fresh.length, 10);
  const rows = await services.db.select().from(staffRecoveryCodes).where(eq(staffRecoveryCodes.staffUserId, staff.id));
  assert.equal(rows.length, 10);
  assert.ok(rows.every((r) => r.usedAt === null));
  assert.equal((await auditOf(services, 'staff.recovery_codes_replaced')).length, 1);
  const old = await staffPost(app, again, '/staff/sign-in/recovery-code', { code: codes[0]! });
  assert.equal(old.statusCode, 401, 'the old codes stopped working');
  const useNew = await staffPost(app, again, '/staff/sign-in/recovery-code', { code: fresh[0]! });
  assert.equal(useNew.statusCode, 303);
});

test('after an admin or operator resets the second factor, the account must set up an authenticator again', async (t) => {
  const { app, services, clock, staff, organisation } = await setUp(t);
  const secret = await enrolTestTotp(services, staff.id);
  const jar = await signInAsStaff(app, staff.email, staff.password, new CookieJar(), { totpSecret: secret });
  await resetSecondFactor(services.db, { staffUserId: staff.id, organisationId: organisation.id, actor: { type: 'operator', id: 'ops' } });
  assert.equal((await staffGet(app, jar, '/staff/account')).headers.location, '/staff/sign-in', 'its sessions ended');
  clock.advance(STEP);
  const next = new CookieJar();
  assert.equal((await password(app, next, staff.email, staff.password)).headers.location, '/staff/second-factor/set-up');
  const page = await staffGet(app, next, '/staff/second-factor/set-up');
  assert.ok(!page.body.includes(secret.slice(0, 4) + ' ' + secret.slice(4, 8)), 'a new key');
});

test('an account with an authenticator gives a code even when the second factor is off', async (t) => {
  const { app, services, staff } = await setUp(t, { STAFF_SECOND_FACTOR: 'off' });
  await signInAsStaff(app, staff.email, staff.password);
  const secret = await enrolTestTotp(services, staff.id);
  const jar = new CookieJar();
  assert.equal((await password(app, jar, staff.email, staff.password)).headers.location, '/staff/sign-in/code');
  assert.equal((await staffPost(app, jar, '/staff/sign-in/code', { code: totpCodeNow(app, secret) })).headers.location, '/staff');
});

test('a deactivated account cannot sign in: the answer of a wrong password, and no session', async (t) => {
  const { app, services, clock, staff } = await setUp(t);
  await services.db.update(staffUsers).set({ deactivatedAt: clock.now() }).where(eq(staffUsers.id, staff.id));
  const jar = new CookieJar();
  const res = await password(app, jar, staff.email, staff.password);
  assert.equal(res.statusCode, 401);
  assert.deepEqual(errorSummaryItems(res.body), ['#email Enter a correct email address and password']);
  assert.equal((await sessionsOf(services, staff.id)).length, 0);
  const [failed] = await auditOf(services, 'staff.sign_in_failed');
  assert.deepEqual(failed?.details, { reason: 'deactivated' });
});

test('a temporary password must be replaced before any staff page, after the code when there is an authenticator', async (t) => {
  const { app, services, clock, staff } = await setUp(t);
  await services.db.update(staffUsers).set({ mustChangePassword: true }).where(eq(staffUsers.id, staff.id));
  const jar = new CookieJar();
  assert.equal((await password(app, jar, staff.email, staff.password)).headers.location, '/staff/change-password');
  assert.equal((await staffGet(app, jar, '/staff')).headers.location, '/staff/change-password');
  assert.equal((await staffGet(app, jar, '/staff/change-password')).statusCode, 200);

  const cases: Array<[Record<string, string>, string[]]> = [
    [{ newPassword: '', confirmPassword: '' }, ['#newPassword Enter a new password', '#confirmPassword Enter the new password again']],
    [{ newPassword: 'short', confirmPassword: 'short' }, ['#newPassword Password must be 12 characters or more']],
    [{ newPassword: 'a long new password', confirmPassword: 'a long new passwort' }, ['#confirmPassword The passwords do not match']],
    [{ newPassword: staff.password, confirmPassword: staff.password }, ['#newPassword Your new password must be different from your temporary password']],
  ];
  for (const [form, errors] of cases) {
    const res = await staffPost(app, jar, '/staff/change-password', form);
    assert.equal(res.statusCode, 400);
    assert.deepEqual(errorSummaryItems(res.body), errors);
  }
  const other = new CookieJar();
  await password(app, other, staff.email, staff.password);
  const changed = await staffPost(app, jar, '/staff/change-password', { newPassword: 'correct horse battery', confirmPassword: 'correct horse battery' });
  assert.equal(changed.statusCode, 303);
  // Required and not set up: the authenticator comes next.
  assert.equal(changed.headers.location, '/staff/second-factor/set-up');
  assert.equal((await staffGet(app, other, '/staff/change-password')).headers.location, '/staff/sign-in', 'other sessions ended');
  const [user] = await services.db.select().from(staffUsers).where(eq(staffUsers.id, staff.id));
  assert.equal(user?.mustChangePassword, false);
  assert.equal((await auditOf(services, 'staff.password_changed')).length, 1);
  assert.equal((await password(app, new CookieJar(), staff.email, staff.password)).statusCode, 401, 'the temporary password no longer works');

  // With an authenticator: the code first, then the new password, then the inbox.
  const secret = await enrolTestTotp(services, staff.id);
  await services.db.update(staffUsers).set({ mustChangePassword: true }).where(eq(staffUsers.id, staff.id));
  clock.advance(STEP);
  const coded = new CookieJar();
  assert.equal((await password(app, coded, staff.email, 'correct horse battery')).headers.location, '/staff/sign-in/code');
  assert.equal((await staffGet(app, coded, '/staff/change-password')).headers.location, '/staff/sign-in/code');
  const afterCode = await staffPost(app, coded, '/staff/sign-in/code', { code: totpCodeNow(app, secret) });
  assert.equal(afterCode.headers.location, '/staff/change-password');
  const done = await staffPost(app, coded, '/staff/change-password', { newPassword: 'another long password', confirmPassword: 'another long password' });
  assert.equal(done.headers.location, '/staff');
  const [session] = await services.db.select().from(staffSessions).where(and(eq(staffSessions.staffUserId, staff.id), eq(staffSessions.stage, 'signed_in')));
  assert.ok(session);
});

test('after FILE_ENCRYPTION_KEYS is rotated, the key sealed under the old one still works and is sealed again under the new one', async (t) => {
  const oldKey = `old:${Buffer.alloc(32, 3).toString('base64url')}`;
  const first = await setUp(t, { STAFF_SECOND_FACTOR: 'required', FILE_ENCRYPTION_KEYS: oldKey });
  const secret = await enrolTestTotp(first.services, first.staff.id);
  const [before] = await first.services.db.select().from(staffUsers).where(eq(staffUsers.id, first.staff.id));
  assert.match(before!.totpSecretSealed!, /^old:/);
  // The same database under the rotated setting: a new key first, the old one after it.
  const rotated = { ...first.services, config: { ...first.services.config, files: { ...first.services.config.files, encryptionKeys: [{ id: 'new', secret: Buffer.alloc(32, 4) }, ...first.services.config.files.encryptionKeys] } } };
  Object.assign(first.services, rotated);
  const jar = new CookieJar();
  await password(first.app, jar, first.staff.email, first.staff.password);
  assert.equal((await staffPost(first.app, jar, '/staff/sign-in/code', { code: totpCodeNow(first.app, secret) })).headers.location, '/staff');
  const [after] = await first.services.db.select().from(staffUsers).where(eq(staffUsers.id, first.staff.id));
  assert.match(after!.totpSecretSealed!, /^new:/);
  assert.equal(openTotpSecret([{ id: 'new', secret: Buffer.alloc(32, 4) }], after!.totpSecretSealed!, first.staff.id), secret);
});

test('a sign-in step moves a session once: the old token, or a session at another stage, is refused', async (t) => {
  const { services, clock, organisation, staff } = await setUp(t);
  const now = clock.now();
  const token = await createStaffSession(services.db, staff.id, now, 'second_factor');
  const next = await advanceStaffSession(services.db, { oldToken: token, staffUserId: staff.id, from: 'second_factor', to: 'signed_in' }, now);
  // Two tabs finishing the same step: the second finds nothing to move.
  await assert.rejects(advanceStaffSession(services.db, { oldToken: token, staffUserId: staff.id, from: 'second_factor', to: 'signed_in' }, now), NotAuthenticated);
  // A signed-in session is not a sign-in step, and one account's token does not move another's session.
  await assert.rejects(advanceStaffSession(services.db, { oldToken: next, staffUserId: staff.id, from: 'second_factor', to: 'signed_in' }, now), NotAuthenticated);
  const other = await createTestStaff(services, organisation.id, { name: 'Sam Carter' });
  const otherToken = await createStaffSession(services.db, other.id, now, 'enrol');
  await assert.rejects(advanceStaffSession(services.db, { oldToken: otherToken, staffUserId: staff.id, from: 'enrol', to: 'signed_in' }, now), NotAuthenticated);
  const rows = await services.db.select().from(staffSessions);
  assert.deepEqual(rows.map((r) => r.stage).sort(), ['enrol', 'signed_in']);
});

test(`after ${TOTP_FAILURES_IN_A_ROW_LIMIT} wrong codes in a row the code step locks (a right code is not checked); a recovery code still signs in and ends the run`, async (t) => {
  const { app, services, clock, staff } = await setUp(t);
  const { codes, secret } = await enrolThroughPages(app, new CookieJar(), staff.email, staff.password);
  const wrongCode = () => (totpCodeNow(app, secret, 5) === totpCodeNow(app, secret) ? '000000' : totpCodeNow(app, secret, 5));
  // Each guess from its own address and after the stepped wait, as a patient attacker would.
  for (let i = 1; i <= TOTP_FAILURES_IN_A_ROW_LIMIT; i++) {
    clock.advance(61_000);
    const result = await signInWithTotp(services, { staffUserId: staff.id, token: 'unused', ip: `198.51.100.${i}`, code: wrongCode() });
    assert.equal(result.outcome, 'wrong-code', `guess ${i}`);
  }
  clock.advance(61_000);
  const jar = new CookieJar();
  await password(app, jar, staff.email, staff.password);
  const locked = await staffPost(app, jar, '/staff/sign-in/code', { code: totpCodeNow(app, secret) });
  assert.equal(locked.statusCode, 429);
  assert.deepEqual(errorSummaryItems(locked.body), ['#code Too many wrong codes. Use a recovery code, or ask the person who manages Dovecote for your organisation to reset your second factor']);
  const reasons = (await auditOf(services, 'staff.second_factor_failed')).map((f) => (f.details as { reason: string }).reason);
  assert.equal(reasons.filter((r) => r === 'locked_after_wrong_codes').length, 1);

  // The owner, with their recovery code, gets in; that ends the run.
  const recovered = await staffPost(app, jar, '/staff/sign-in/recovery-code', { code: codes[0]! });
  assert.equal(recovered.statusCode, 303, pageText(recovered.body));
  clock.advance(STEP);
  const next = new CookieJar();
  await password(app, next, staff.email, staff.password);
  assert.equal((await staffPost(app, next, '/staff/sign-in/code', { code: totpCodeNow(app, secret) })).statusCode, 303);
});
