// Staff sign-in, sessions and sign-out: the cookie, rotation, the same answer for every wrong detail,
// the per-account and per-IP limits, the timeouts, and who may not reach staff pages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { and, eq } from 'drizzle-orm';
import { createTestApp, TestClock } from '../../../test/helpers/app.ts';
import { CookieJar, createTestOrganisation, createTestStaff, csrfFrom } from '../../../test/helpers/factories.ts';
import { errorSummaryItems, pageText, signInAsStaff, staffGet, staffPost, STAFF_COOKIE_NAME } from '../../../test/helpers/staff.ts';
import { auditEvents, staffSessions, staffUsers } from '../../platform/db/schema.ts';
import type { Services } from '../../services.ts';

const MINUTE = 60_000;

async function setUp(services: Services) {
  const organisation = await createTestOrganisation(services);
  const staff = await createTestStaff(services, organisation.id, { name: 'Jo Bloggs' });
  return { organisation, staff };
}

async function attempt(app: Parameters<typeof signInAsStaff>[0], jar: CookieJar, email: string, password: string) {
  return staffPost(app, jar, '/staff/sign-in', { email, password });
}

test('signing in sets a __Host- session cookie (HttpOnly, Secure, SameSite=Lax) and shows the inbox with the account area', async (t) => {
  const { app, services, close } = await createTestApp();
  t.after(close);
  const { staff, organisation } = await setUp(services);
  const jar = new CookieJar();
  const page = await staffGet(app, jar, '/staff/sign-in');
  assert.equal(page.statusCode, 200);
  assert.match(page.body, /<h1>Sign in<\/h1>/);
  assert.match(page.body, /autocomplete="current-password"/);

  const res = await app.inject({
    method: 'POST',
    url: '/staff/sign-in',
    headers: { cookie: jar.header(), 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ _csrf: csrfFrom(page.body), email: `  ${staff.email.toUpperCase()} `, password: staff.password }).toString(),
  });
  assert.equal(res.statusCode, 303);
  assert.equal(res.headers.location, '/staff');
  const cookie = ([] as string[]).concat(res.headers['set-cookie'] ?? []).find((c) => c.startsWith(`${STAFF_COOKIE_NAME}=`));
  assert.ok(cookie, 'session cookie set');
  assert.match(cookie, /; HttpOnly/i);
  assert.match(cookie, /; Secure/i);
  assert.match(cookie, /; SameSite=Lax/i);
  assert.match(cookie, /; Path=\/(;|$)/);
  assert.doesNotMatch(cookie, /Domain=/i);
  const token = cookie.split(';')[0]!.split('=')[1]!;
  assert.ok(token.length >= 43, '256-bit token');
  jar.store(res.headers['set-cookie']);

  // Only the hash is stored.
  const rows = await services.db.select().from(staffSessions).where(eq(staffSessions.staffUserId, staff.id));
  assert.equal(rows.length, 1);
  assert.notEqual(rows[0]!.tokenHash, token);

  const inbox = await staffGet(app, jar, '/staff');
  assert.equal(inbox.statusCode, 200);
  assert.match(inbox.body, /Conversations/);
  assert.match(inbox.body, /Jo Bloggs/);
  assert.match(inbox.body, /href="\/staff\/sign-out"/);
  assert.match(pageText(inbox.body), /Jo Bloggs, .* Sign out/);
  assert.match(inbox.body, /No messages have been sent yet/);

  const [event] = await services.db.select().from(auditEvents).where(eq(auditEvents.type, 'staff.signed_in'));
  assert.equal(event?.actorId, staff.id);
  assert.equal(event?.organisationId, organisation.id);
});

test('signing in rotates the session: a cookie presented before sign-in stops working', async (t) => {
  const { app, services, close } = await createTestApp();
  t.after(close);
  const { staff } = await setUp(services);
  const jar = await signInAsStaff(app, staff.email, staff.password);
  const first = jar.get(STAFF_COOKIE_NAME)!;
  const old = jar.clone();

  await signInAsStaff(app, staff.email, staff.password, jar);
  const second = jar.get(STAFF_COOKIE_NAME)!;
  assert.notEqual(second, first);
  assert.equal((await staffGet(app, jar, '/staff')).statusCode, 200);

  const stale = await staffGet(app, old, '/staff');
  assert.equal(stale.statusCode, 303);
  assert.equal(stale.headers.location, '/staff/sign-in');

  // A cookie value made up by someone else (session fixation) is never adopted.
  const planted = new CookieJar();
  planted.store(`${STAFF_COOKIE_NAME}=attacker-chosen-value; Path=/`);
  await signInAsStaff(app, staff.email, staff.password, planted);
  assert.notEqual(planted.get(STAFF_COOKIE_NAME), 'attacker-chosen-value');
});

test('a wrong password and an unknown email get the same answer, and nothing says which was wrong', async (t) => {
  const { app, services, close } = await createTestApp();
  t.after(close);
  const { staff } = await setUp(services);

  const wrong = await attempt(app, new CookieJar(), staff.email, 'not the password at all');
  const unknown = await attempt(app, new CookieJar(), 'nobody@example.nhs.uk', staff.password);
  for (const res of [wrong, unknown]) {
    assert.equal(res.statusCode, 401);
    assert.match(res.body, /<title>Error: Sign in/);
    assert.match(res.body, /nhsuk-error-summary/);
    assert.deepEqual(errorSummaryItems(res.body), ['#email Enter a correct email address and password']);
    assert.doesNotMatch(res.body, /not recognised|no account|wrong password/i);
    assert.equal(([] as string[]).concat(res.headers['set-cookie'] ?? []).some((c) => c.startsWith(STAFF_COOKIE_NAME)), false);
  }
  // The typed email is kept; the password never is.
  assert.match(wrong.body, new RegExp(`value="${staff.email.replace('.', '\\.')}"`));
  assert.doesNotMatch(wrong.body, /not the password at all/);

  const failures = await services.db.select().from(auditEvents).where(eq(auditEvents.type, 'staff.sign_in_failed'));
  assert.equal(failures.length, 2);
  const known = failures.find((f) => f.actorId === staff.id);
  assert.equal(known?.details.reason, 'wrong_password');
  const anonymous = failures.find((f) => f.actorId === null);
  assert.equal(anonymous?.details.reason, 'unknown_account');
  assert.doesNotMatch(JSON.stringify(anonymous), /nobody@example/);

  const empty = await attempt(app, new CookieJar(), '', '');
  assert.equal(empty.statusCode, 400);
  assert.deepEqual(errorSummaryItems(empty.body), ['#email Enter your email address', '#password Enter your password']);
});

test('5 wrong passwords in a row lock the account for 15 minutes, even for the right password', async (t) => {
  const clock = new TestClock();
  const { app, services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const { staff } = await setUp(services);

  for (let i = 1; i <= 5; i++) {
    const res = await attempt(app, new CookieJar(), staff.email, `wrong password ${i}`);
    assert.equal(res.statusCode, 401, `attempt ${i}`);
    assert.match(res.body, /Enter a correct email address and password/);
  }
  const [user] = await services.db.select().from(staffUsers).where(eq(staffUsers.id, staff.id));
  assert.equal(user!.signInLockedUntil?.getTime(), clock.now().getTime() + 15 * MINUTE);

  const locked = await attempt(app, new CookieJar(), staff.email, staff.password);
  assert.equal(locked.statusCode, 429);
  assert.deepEqual(errorSummaryItems(locked.body), ['#email Too many attempts. Try again in 15 minutes']);
  assert.equal(([] as string[]).concat(locked.headers['set-cookie'] ?? []).some((c) => c.startsWith(STAFF_COOKIE_NAME)), false);

  clock.advance(10 * MINUTE);
  const stillLocked = await attempt(app, new CookieJar(), staff.email, staff.password);
  assert.equal(stillLocked.statusCode, 429);
  assert.match(stillLocked.body, /Try again in 5 minutes/);

  clock.advance(5 * MINUTE);
  const jar = await signInAsStaff(app, staff.email, staff.password);
  assert.equal((await staffGet(app, jar, '/staff')).statusCode, 200);
  const [after] = await services.db.select().from(staffUsers).where(eq(staffUsers.id, staff.id));
  assert.equal(after!.failedSignIns, 0);
  assert.equal(after!.signInLockedUntil, null);
});

test('a right password between wrong ones starts the count again', async (t) => {
  const { app, services, close } = await createTestApp();
  t.after(close);
  const { staff } = await setUp(services);
  for (let i = 0; i < 4; i++) await attempt(app, new CookieJar(), staff.email, 'wrong password');
  await signInAsStaff(app, staff.email, staff.password);
  for (let i = 0; i < 4; i++) await attempt(app, new CookieJar(), staff.email, 'wrong password');
  await signInAsStaff(app, staff.email, staff.password);
});

test('an unknown email is limited like a real account, so the lock does not reveal who has one', async (t) => {
  const { app, close } = await createTestApp();
  t.after(close);
  for (let i = 1; i <= 5; i++) {
    const res = await attempt(app, new CookieJar(), 'ghost@example.nhs.uk', `guess ${i}`);
    assert.equal(res.statusCode, 401);
  }
  const sixth = await attempt(app, new CookieJar(), 'ghost@example.nhs.uk', 'guess 6');
  assert.equal(sixth.statusCode, 429);
  assert.match(sixth.body, /Too many attempts. Try again in \d+ minutes?/);
});

test('more than 20 attempts from one IP address in 15 minutes are refused with a page that says when to try again', async (t) => {
  const clock = new TestClock(Date.parse('2026-11-26T10:00:00Z'));
  const { app, services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const { staff } = await setUp(services);
  for (let i = 1; i <= 20; i++) {
    const res = await attempt(app, new CookieJar(), `someone${i}@example.nhs.uk`, 'guess');
    assert.equal(res.statusCode, 401, `attempt ${i}`);
  }
  const blocked = await attempt(app, new CookieJar(), staff.email, staff.password);
  assert.equal(blocked.statusCode, 429);
  assert.match(blocked.body, /Too many attempts. Try again in 15 minutes/);
  assert.match(blocked.body, /nhsuk-error-summary/);

  // Another IP address is not affected.
  const page = await app.inject({ method: 'GET', url: '/staff/sign-in' });
  const jar = new CookieJar();
  jar.store(page.headers['set-cookie']);
  const elsewhere = await app.inject({
    method: 'POST',
    url: '/staff/sign-in',
    remoteAddress: '192.0.2.7',
    headers: { cookie: jar.header(), 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ _csrf: csrfFrom(page.body), email: staff.email, password: staff.password }).toString(),
  });
  assert.equal(elsewhere.statusCode, 303);

  clock.advance(15 * MINUTE);
  await signInAsStaff(app, staff.email, staff.password);
});

test('successful sign-ins do not count against the address: a whole practice behind one address can sign in', async (t) => {
  const clock = new TestClock(Date.parse('2026-11-26T10:00:00Z'));
  const { app, services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const { staff } = await setUp(services);
  // 30 sign-ins in a few minutes from the practice's one address (more than the limit of 20)...
  for (let i = 1; i <= 30; i++) {
    const res = await attempt(app, new CookieJar(), staff.email, staff.password);
    assert.equal(res.statusCode, 303, `sign-in ${i}`);
  }
  // ...and the failures still count: 20 wrong, then refused.
  for (let i = 1; i <= 20; i++) assert.equal((await attempt(app, new CookieJar(), `someone${i}@example.nhs.uk`, 'guess')).statusCode, 401);
  assert.equal((await attempt(app, new CookieJar(), staff.email, staff.password)).statusCode, 429);
});

test('signing out ends the session and clears the cookie', async (t) => {
  const { app, services, close } = await createTestApp();
  t.after(close);
  const { staff } = await setUp(services);
  const jar = await signInAsStaff(app, staff.email, staff.password);
  const old = jar.clone();

  const confirm = await staffGet(app, jar, '/staff/sign-out');
  assert.equal(confirm.statusCode, 200);
  assert.match(confirm.body, /<h1>Sign out<\/h1>/);
  assert.match(confirm.body, /<form method="post" action="\/staff\/sign-out"/);

  const res = await staffPost(app, jar, '/staff/sign-out');
  assert.equal(res.statusCode, 200);
  assert.match(res.body, /You have signed out/);
  assert.doesNotMatch(res.body, /nhsuk-header__account/);
  const cleared = ([] as string[]).concat(res.headers['set-cookie'] ?? []).find((c) => c.startsWith(`${STAFF_COOKIE_NAME}=`));
  assert.ok(cleared);
  assert.match(cleared, /Expires=Thu, 01 Jan 1970|Max-Age=0/i);
  assert.equal(jar.get(STAFF_COOKIE_NAME), undefined);

  const rows = await services.db.select().from(staffSessions).where(eq(staffSessions.staffUserId, staff.id));
  assert.equal(rows.length, 0);
  const reuse = await staffGet(app, old, '/staff');
  assert.equal(reuse.statusCode, 303);
  assert.equal(reuse.headers.location, '/staff/sign-in');
  const [event] = await services.db.select().from(auditEvents).where(and(eq(auditEvents.type, 'staff.signed_out'), eq(auditEvents.actorId, staff.id)));
  assert.ok(event);
});

test('a session ends after 30 minutes without use', async (t) => {
  const clock = new TestClock();
  const { app, services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const { staff } = await setUp(services);
  const jar = await signInAsStaff(app, staff.email, staff.password);
  clock.advance(29 * MINUTE);
  assert.equal((await staffGet(app, jar, '/staff')).statusCode, 200);
  clock.advance(29 * MINUTE);
  assert.equal((await staffGet(app, jar, '/staff')).statusCode, 200, 'use restarts the idle clock');
  clock.advance(30 * MINUTE);
  const res = await staffGet(app, jar, '/staff');
  assert.equal(res.statusCode, 303);
  assert.equal(res.headers.location, '/staff/sign-in');
  assert.equal(jar.get(STAFF_COOKIE_NAME), undefined, 'the dead cookie is cleared');
  const rows = await services.db.select().from(staffSessions).where(eq(staffSessions.staffUserId, staff.id));
  assert.equal(rows.length, 0, 'the expired session row is deleted');
});

test('a session ends 12 hours after sign-in however busy it is', async (t) => {
  const clock = new TestClock();
  const { app, services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const { staff } = await setUp(services);
  const jar = await signInAsStaff(app, staff.email, staff.password);
  for (let elapsed = 0; elapsed < 12 * 60 - 20; elapsed += 20) {
    clock.advance(20 * MINUTE);
    assert.equal((await staffGet(app, jar, '/staff')).statusCode, 200, `after ${elapsed + 20} minutes`);
  }
  clock.advance(20 * MINUTE);
  const res = await staffGet(app, jar, '/staff');
  assert.equal(res.statusCode, 303);
  assert.equal(res.headers.location, '/staff/sign-in');
});

const SOME_ID = '00000000-0000-4000-8000-000000000000';
const STAFF_GET_PAGES = ['/staff', '/staff/sign-out', '/staff/messages/new', `/staff/patients/${SOME_ID}/message`, `/staff/conversations/${SOME_ID}`];
const STAFF_POSTS = ['/staff/sign-out', '/staff/messages/new', `/staff/patients/${SOME_ID}/message`, `/staff/conversations/${SOME_ID}/resend`, `/staff/conversations/${SOME_ID}/revoke`];

test('every staff page sends a browser without a session to the sign-in page', async (t) => {
  const { app, close } = await createTestApp();
  t.after(close);
  const jar = new CookieJar();
  for (const url of STAFF_GET_PAGES) {
    const res = await staffGet(app, jar, url);
    assert.equal(res.statusCode, 303, url);
    assert.equal(res.headers.location, '/staff/sign-in', url);
  }
  for (const url of STAFF_POSTS) {
    const res = await staffPost(app, jar, url, { body: 'hello', replyMode: 'none' });
    assert.equal(res.statusCode, 303, url);
    assert.equal(res.headers.location, '/staff/sign-in', url);
  }
  const forged = new CookieJar();
  forged.store(`${STAFF_COOKIE_NAME}=${'A'.repeat(43)}; Path=/`);
  const res = await staffGet(app, forged, '/staff');
  assert.equal(res.statusCode, 303);
});

test('every staff form refuses a missing or wrong CSRF token with 403', async (t) => {
  const { app, services, close } = await createTestApp();
  t.after(close);
  const { staff } = await setUp(services);
  const jar = await signInAsStaff(app, staff.email, staff.password);
  for (const url of ['/staff/sign-in', ...STAFF_POSTS]) {
    for (const csrf of [null, 'wrong-token']) {
      const res = await staffPost(app, jar, url, { _csrf: csrf, email: staff.email, password: staff.password, body: 'x', replyMode: 'none' });
      assert.equal(res.statusCode, 403, `${url} with ${csrf ?? 'no'} token`);
      assert.match(res.body, /Your form could not be sent/);
    }
  }
  // Still signed in: nothing above signed the user out.
  assert.equal((await staffGet(app, jar, '/staff')).statusCode, 200);
});
