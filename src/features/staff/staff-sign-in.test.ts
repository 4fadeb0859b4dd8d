// Staff sign-in, sessions and sign-out: the cookie, rotation, the same answer for every wrong detail
// (and for a real email and an unknown one, attempt for attempt), the stepped delays per account that
// no attacker can turn into a lock, the limits per address, the timeouts, and who may not reach staff
// pages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { and, eq } from 'drizzle-orm';
import { createTestApp, TestClock } from '../../../test/helpers/app.ts';
import { CookieJar, createTestOrganisation, createTestStaff, csrfFrom } from '../../../test/helpers/factories.ts';
import { errorSummaryItems, pageText, signInAsStaff, staffGet, staffPost, STAFF_COOKIE_NAME } from '../../../test/helpers/staff.ts';
import { auditEvents, staffSessions } from '../../platform/db/schema.ts';
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
  assert.match(inbox.body, /<h1>Conversations<\/h1>/);
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

let addressCounter = 0;
/** A new address each call (an attacker's botnet, or people in different places). */
function anotherAddress(): string {
  addressCounter += 1;
  return `198.51.${(addressCounter >> 8) & 255}.${addressCounter & 255}`;
}

/** One sign-in from a browser of its own at `address`: the sign-in page, then the form. */
async function attemptFrom(app: Parameters<typeof signInAsStaff>[0], email: string, password: string, address: string) {
  const page = await app.inject({ method: 'GET', url: '/staff/sign-in', remoteAddress: address });
  const jar = new CookieJar();
  jar.store(page.headers['set-cookie']);
  return app.inject({
    method: 'POST',
    url: '/staff/sign-in',
    remoteAddress: address,
    headers: { cookie: jar.header(), 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ _csrf: csrfFrom(page.body), email, password }).toString(),
  });
}

const signedIn = (res: { headers: Record<string, unknown> }) =>
  ([] as string[]).concat((res.headers['set-cookie'] as string[] | string | undefined) ?? []).some((c) => c.startsWith(`${STAFF_COOKIE_NAME}=`));

/** "Wait N seconds before trying again": N, or null when the page says something else. */
function waitSecondsOf(body: string): number | null {
  const items = errorSummaryItems(body);
  const m = /^#email Wait (\d+) seconds? before trying again$/.exec(items[0] ?? '');
  return m ? Number(m[1]) : null;
}

async function passwordsChecked(services: Services): Promise<number> {
  const failures = await services.db.select().from(auditEvents).where(eq(auditEvents.type, 'staff.sign_in_failed'));
  return failures.filter((f) => f.details.reason === 'wrong_password' || f.details.reason === 'unknown_account').length;
}

test('after 5 wrong passwords in a row each attempt waits 1, 2, 4 … up to 60 seconds, unchecked; a right password ends the run', async (t) => {
  const clock = new TestClock();
  const { app, services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const { staff } = await setUp(services);

  for (let i = 1; i <= 5; i++) {
    const res = await attemptFrom(app, staff.email, `wrong password ${i}`, anotherAddress());
    assert.equal(res.statusCode, 401, `attempt ${i} is checked at once`);
  }
  /** Even the right password is refused, and not checked, while the account waits. */
  const expectWait = async (seconds: number) => {
    const res = await attemptFrom(app, staff.email, staff.password, anotherAddress());
    assert.equal(res.statusCode, 429);
    assert.deepEqual(errorSummaryItems(res.body), [`#email Wait ${seconds} ${seconds === 1 ? 'second' : 'seconds'} before trying again`]);
    assert.match(pageText(res.body), /sign in slows down after several wrong passwords/);
    assert.equal(res.headers['retry-after'], String(seconds));
    assert.equal(signedIn(res), false);
  };
  for (const step of [1, 2, 4, 8, 16, 32, 60, 60, 60]) {
    await expectWait(step);
    // The wait counts down; the refused attempts above added nothing to it.
    clock.advance((step - 1) * 1000);
    if (step > 1) await expectWait(1);
    clock.advance(1000);
    const res = await attemptFrom(app, staff.email, 'another wrong password', anotherAddress());
    assert.equal(res.statusCode, 401, `checked after waiting ${step} seconds`);
  }
  assert.equal(await passwordsChecked(services), 5 + 9, 'no password was checked during a wait');

  // The real person waits at most a minute, however long the run.
  await expectWait(60);
  clock.advance(60_000);
  const jar = await signInAsStaff(app, staff.email, staff.password);
  assert.equal((await staffGet(app, jar, '/staff')).statusCode, 200);

  // The right password ended the run: 5 wrong ones are checked at once again.
  for (let i = 1; i <= 5; i++) assert.equal((await attemptFrom(app, staff.email, 'wrong', anotherAddress())).statusCode, 401);
  await expectWait(1);
});

test('a run of wrong passwords nobody adds to for a day is forgotten', async (t) => {
  const clock = new TestClock();
  const { app, services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const { staff } = await setUp(services);
  for (let i = 1; i <= 11; i++) {
    let res = await attemptFrom(app, staff.email, 'wrong', anotherAddress());
    if (res.statusCode === 429) {
      clock.advance(waitSecondsOf(res.body)! * 1000);
      res = await attemptFrom(app, staff.email, 'wrong', anotherAddress());
    }
    assert.equal(res.statusCode, 401);
  }
  clock.advance(23 * 60 * MINUTE);
  assert.equal(waitSecondsOf((await attemptFrom(app, staff.email, 'wrong', anotherAddress())).body), null, 'checked, after the wait');
  assert.equal(waitSecondsOf((await attemptFrom(app, staff.email, 'wrong', anotherAddress())).body), 60, 'a day has not passed: still the same run, at its longest wait');
  clock.advance(24 * 60 * MINUTE);
  for (let i = 1; i <= 5; i++) assert.equal((await attemptFrom(app, staff.email, 'wrong', anotherAddress())).statusCode, 401, `fresh run, attempt ${i}`);
  assert.equal(waitSecondsOf((await attemptFrom(app, staff.email, 'wrong', anotherAddress())).body), 1);
});

test('an attacker sending 5 wrong passwords every 15 minutes from two addresses never keeps the real person out for more than a minute', async (t) => {
  const clock = new TestClock();
  const { app, services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const { staff } = await setUp(services);
  const attackers = ['203.0.113.1', '203.0.113.2'];
  const practice = '192.0.2.50';
  const longestWaits: number[] = [];

  // Eight hours of it. Each hour the real person signs in just after a burst, the worst moment.
  for (let quarter = 1; quarter <= 32; quarter++) {
    for (const address of attackers) {
      for (let i = 1; i <= 5; i++) {
        const res = await attemptFrom(app, staff.email, `guess ${quarter}.${i}`, address);
        assert.ok(res.statusCode === 401 || res.statusCode === 429, `attacker got ${res.statusCode}`);
      }
    }
    let waited = 0;
    if (quarter % 4 === 0) {
      let res = await attemptFrom(app, staff.email, staff.password, practice);
      if (res.statusCode === 429) {
        const wait = waitSecondsOf(res.body);
        assert.ok(wait !== null && wait <= 60, `the real person was told: ${errorSummaryItems(res.body).join('; ')}`);
        waited = wait;
        clock.advance(wait * 1000);
        res = await attemptFrom(app, staff.email, staff.password, practice);
      }
      assert.equal(res.statusCode, 303, `signed in after ${waited} seconds (hour ${quarter / 4})`);
      longestWaits.push(waited);
    }
    clock.advance(15 * MINUTE - waited * 1000);
  }
  assert.equal(longestWaits.length, 8);
  assert.ok(longestWaits.some((w) => w > 0), 'the attacker did make the real person wait');
});

test('however many addresses guess, at most 69 passwords are checked for one account in an hour', async (t) => {
  const clock = new TestClock();
  const { app, services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const { staff } = await setUp(services);
  const start = clock.now().getTime();
  // The fastest attacker there is: a new address for every guess, each sent the moment the wait ends.
  let refused = 0;
  while (clock.now().getTime() < start + 60 * MINUTE) {
    const res = await attemptFrom(app, staff.email, 'a guess', anotherAddress());
    if (res.statusCode === 429) {
      refused += 1;
      clock.advance(Number(res.headers['retry-after']) * 1000);
    } else assert.equal(res.statusCode, 401);
  }
  // 5 at once, 6 more in the next 63 seconds (1 + 2 + 4 + 8 + 16 + 32), then one a minute.
  assert.equal(await passwordsChecked(services), 69);
  assert.ok(refused > 0);
});

test('one address checks at most 10 passwords for one account in 15 minutes, and cannot keep its wait to itself', async (t) => {
  const clock = new TestClock(Date.parse('2026-11-26T10:00:00Z'));
  const { app, services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const { staff } = await setUp(services);
  const attacker = '203.0.113.9';
  // 5 at once, then one each time the wait ends: 10 checked by 10:00:31.
  for (let i = 1; i <= 10; i++) {
    let res = await attemptFrom(app, staff.email, `guess ${i}`, attacker);
    if (res.statusCode === 429) {
      clock.advance(waitSecondsOf(res.body)! * 1000);
      res = await attemptFrom(app, staff.email, `guess ${i}`, attacker);
    }
    assert.equal(res.statusCode, 401, `guess ${i}`);
  }
  clock.advance(32_000);
  const eleventh = await attemptFrom(app, staff.email, 'guess 11', attacker);
  assert.equal(eleventh.statusCode, 429);
  assert.deepEqual(errorSummaryItems(eleventh.body), ['#email Too many attempts. Try again in 14 minutes']);
  // The attacker's refused attempt took no turn: the real person, elsewhere, signs in at once.
  assert.equal((await attemptFrom(app, staff.email, staff.password, '192.0.2.50')).statusCode, 303);
  assert.equal(await passwordsChecked(services), 10);
});

test('a real email and an unknown one get the same answers, attempt for attempt', async (t) => {
  // Not on a window boundary: the old lock said "15 minutes" for a real account and the time left in
  // the window ("10 minutes") for an unknown email.
  const clock = new TestClock(Date.parse('2026-11-26T10:05:00Z'));
  const { app, services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const { staff } = await setUp(services);
  const unknown = 'nobody.here@example.nhs.uk';
  const comparable = (res: Awaited<ReturnType<typeof attemptFrom>>, email: string) => ({
    status: res.statusCode,
    retryAfter: res.headers['retry-after'],
    cookies: ([] as string[]).concat(res.headers['set-cookie'] ?? []).map((c) => c.split('=')[0]),
    body: res.body.replaceAll(email, 'EMAIL').replace(/name="_csrf" value="[^"]*"/g, 'name="_csrf" value=""'),
  });

  const answers: string[] = [];
  for (let i = 1; i <= 20; i++) {
    // At the same moment, from two addresses, each as its own person would.
    const real = comparable(await attemptFrom(app, staff.email, `wrong ${i}`, '203.0.113.21'), staff.email);
    const ghost = comparable(await attemptFrom(app, unknown, `wrong ${i}`, '203.0.113.22'), unknown);
    assert.deepEqual(ghost, real, `attempt ${i}`);
    answers.push(`${real.status} ${errorSummaryItems(real.body)[0]!.replace('#email ', '')}`);
    if (real.status === 429) clock.advance(Number(real.retryAfter) * 1000);
  }
  // Every answer there is came up: checked at once, the waits, and the limit for one account from one
  // address (10 checked in 15 minutes).
  const wrong = '401 Enter a correct email address and password';
  const wait = (n: number) => `429 Wait ${n} ${n === 1 ? 'second' : 'seconds'} before trying again`;
  assert.deepEqual(answers, [
    wrong, wrong, wrong, wrong, wrong,
    wait(1), wrong, wait(2), wrong, wait(4), wrong, wait(8), wrong, wait(16), wrong,
    '429 Too many attempts. Try again in 10 minutes', wrong, wait(60), wrong, wait(60),
  ]);
  assert.equal(await passwordsChecked(services), 2 * answers.filter((a) => a === wrong).length, 'both had every checked password run through argon2');
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
