// Brute force under parallel requests: the date-of-birth, security-code, resend and staff sign-in
// limits hold when an attacker fires many requests at once, because each attempt is counted by one
// atomic SQL statement before it is judged (not read, compared, then written).
//
// These tests mean most on PostgreSQL (TEST_DATABASE_URL), where the pool has several connections and
// the requests' transactions really overlap. On the embedded PGlite database there is one connection
// and transactions run one after another, so a read-then-write race can hide there; the tests still
// run on PGlite (they must pass on both) but prove less.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { and, eq } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import { createTestApp, TestClock } from '../helpers/app.ts';
import { CookieJar, createTestConversation, createTestStaff, latestLinkToken, latestSecurityCode } from '../helpers/factories.ts';
import { dobFields, firstDevice, get, requestNewCode, submitCode, submitDob, textOf } from '../helpers/patient.ts';
import { pageText, signInAsStaff, staffGet, staffPost } from '../helpers/staff.ts';
import { CODE_FAILURES_IN_A_ROW_LIMIT, findLinkByToken } from '../../src/features/links/links.service.ts';
import { CODE_MAX_ATTEMPTS } from '../../src/features/verification/security-codes.service.ts';
import { auditEvents, links, outboundSms, securityCodes } from '../../src/platform/db/schema.ts';
import type { Services } from '../../src/services.ts';
import { csrfTokenOf, nextIp } from './security-world.ts';

const PARALLEL = 50;

/** The same form posted `n` times at once from one browser (one session, one CSRF token), each from its own address. */
async function postMany(app: FastifyInstance, url: string, jar: CookieJar, n: number, fields: (i: number) => Record<string, string>) {
  const csrf = await csrfTokenOf(app, jar);
  const cookie = jar.header();
  return Promise.all(
    Array.from({ length: n }, (_, i) =>
      app.inject({
        method: 'POST',
        url,
        headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams({ _csrf: csrf, ...fields(i) }).toString(),
        remoteAddress: nextIp(),
      }),
    ),
  );
}

function countBy<T>(items: T[], key: (item: T) => string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const item of items) counts[key(item)] = (counts[key(item)] ?? 0) + 1;
  return counts;
}

async function linkRow(services: Services, id: string) {
  const [row] = await services.db.select().from(links).where(eq(links.id, id));
  return row!;
}

async function auditCount(services: Services, type: string, linkId?: string): Promise<number> {
  const rows = await services.db
    .select({ id: auditEvents.id })
    .from(auditEvents)
    .where(linkId ? and(eq(auditEvents.type, type), eq(auditEvents.linkId, linkId)) : eq(auditEvents.type, type));
  return rows.length;
}

/** A second browser that passed the date of birth and is waiting for its security code. */
async function secondDevice(app: FastifyInstance, token: string): Promise<CookieJar> {
  const jar = new CookieJar();
  const res = await submitDob(app, token, jar);
  assert.equal(res.headers.location, `/${token}/code`, 'the second device is asked for a code');
  return jar;
}

test(`${PARALLEL} concurrent wrong security codes: exactly 5 are judged, then the code is burned`, async (t) => {
  const clock = new TestClock();
  const { app, services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const c = await createTestConversation(services);
  await firstDevice(app, c.token);
  const jar = await secondDevice(app, c.token);
  const code = await latestSecurityCode(services, c.linkId);
  const wrong = String((Number(code) + 1) % 1_000_000).padStart(6, '0');

  const responses = await postMany(app, `/${c.token}/code`, jar, PARALLEL, () => ({ code: wrong }));
  assert.ok(responses.every((r) => r.statusCode < 500), `statuses: ${JSON.stringify(countBy(responses, (r) => String(r.statusCode)))}`);
  assert.ok(responses.every((r) => r.statusCode === 400), 'every wrong code is answered with the code page');
  const texts = responses.map((r) => textOf(r.body));
  const judged = texts.filter((x) => /The security code is not correct/.test(x)).length;
  assert.equal(judged, 5, `"not correct" answers: ${judged}`);
  assert.equal(texts.filter((x) => /You have \d more tr(y|ies) before/.test(x)).length, 4);
  assert.equal(texts.filter((x) => /not correct and it has now stopped working/.test(x)).length, 1);

  const rows = await services.db.select().from(securityCodes).where(eq(securityCodes.linkId, c.linkId));
  assert.equal(rows.length, 1);
  assert.equal(rows[0]!.attempts, 5, 'the attempt counter never passes 5');
  assert.equal(rows[0]!.usedAt, null);

  // The right code no longer works: it was burned by the fifth wrong try.
  const right = await postMany(app, `/${c.token}/code`, jar, 1, () => ({ code }));
  assert.equal(right[0]!.statusCode, 400);
  assert.match(textOf(right[0]!.body), /This security code has expired or stopped working/);
});

test(`${PARALLEL} concurrent wrong dates of birth lock the link after 5; the total of 10 locks it until staff re-send`, async (t) => {
  const clock = new TestClock();
  const { app, services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const c = await createTestConversation(services);
  const wrongDates = (i: number) => dobFields(`19${String(10 + (i % 80)).padStart(2, '0')}-0${1 + (i % 9)}-1${i % 10}`);

  const round1 = await postMany(app, `/${c.token}`, new CookieJar(), PARALLEL, (i) => ({ ...wrongDates(i) }));
  const statuses1 = countBy(round1, (r) => String(r.statusCode));
  assert.deepEqual(statuses1, { '400': 4, '423': PARALLEL - 4 }, 'four "does not match" answers; the fifth wrong date locks the link');
  assert.equal(round1.filter((r) => /The date of birth does not match our records/.test(textOf(r.body))).length, 4);
  let link = await linkRow(services, c.linkId);
  assert.equal(link.dobFailuresTotal, 5, 'exactly 5 wrong dates were counted');
  assert.equal(link.dobFailuresInARow, 0, 'a new run starts after the lock');
  assert.equal(link.lockedUntil?.getTime(), clock.now().getTime() + 30 * 60_000, 'locked for 30 minutes');
  assert.equal(link.lockedPermanentlyAt, null);
  assert.equal(await auditCount(services, 'link.dob_wrong', c.linkId), 5);

  // While locked, even the right date of birth does not open the link.
  const locked = await postMany(app, `/${c.token}`, new CookieJar(), 1, () => dobFields());
  assert.equal(locked[0]!.statusCode, 423);

  clock.advance(31 * 60_000);
  const round2 = await postMany(app, `/${c.token}`, new CookieJar(), PARALLEL, (i) => ({ ...wrongDates(i + 1) }));
  assert.deepEqual(countBy(round2, (r) => String(r.statusCode)), { '400': 4, '423': PARALLEL - 4 });
  link = await linkRow(services, c.linkId);
  assert.equal(link.dobFailuresTotal, 10, '10 wrong in total');
  assert.ok(link.lockedPermanentlyAt, 'locked until staff re-send');
  assert.equal(await auditCount(services, 'link.dob_wrong', c.linkId), 10);

  clock.advance(60 * 60_000);
  const stillLocked = await postMany(app, `/${c.token}`, new CookieJar(), 1, () => dobFields());
  assert.equal(stillLocked[0]!.statusCode, 423);
  assert.match(textOf(stillLocked[0]!.body), /This link is locked/);
});

test('20 concurrent requests for a new code send at most one within 60 seconds', async (t) => {
  const clock = new TestClock();
  const { app, services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const c = await createTestConversation(services);
  await firstDevice(app, c.token);
  const jar = await secondDevice(app, c.token);
  const codeTexts = async () =>
    (await services.db.select().from(outboundSms).where(and(eq(outboundSms.linkId, c.linkId), eq(outboundSms.kind, 'security_code')))).length;
  assert.equal(await codeTexts(), 1, 'the first code was sent when the date of birth was right');

  // Within 60 s of that code: none.
  const early = await postMany(app, `/${c.token}/code/resend`, jar, 20, () => ({}));
  assert.deepEqual(countBy(early, (r) => String(r.statusCode)), { '429': 20 });
  assert.equal(await codeTexts(), 1);

  // After 60 s: exactly one of 20 at once.
  clock.advance(61_000);
  const later = await postMany(app, `/${c.token}/code/resend`, jar, 20, () => ({}));
  assert.deepEqual(countBy(later, (r) => String(r.statusCode)), { '303': 1, '429': 19 });
  assert.equal(await codeTexts(), 2);
  assert.match(textOf(later.find((r) => r.statusCode === 429)!.body), /You need to wait before you can get a new security code/);
  const live = await services.db.select().from(securityCodes).where(eq(securityCodes.linkId, c.linkId));
  assert.equal(live.filter((r) => !r.burnedAt && !r.usedAt).length, 1, 'only the newest code is live');
});

test(`${PARALLEL} concurrent wrong staff passwords: at most 5 are checked, then every attempt must wait`, async (t) => {
  const clock = new TestClock();
  const { app, services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const c = await createTestConversation(services);
  const staff = await createTestStaff(services, c.organisation.id);

  const responses = await postMany(app, '/staff/sign-in', new CookieJar(), PARALLEL, (i) => ({ email: staff.email, password: `wrong password ${i}` }));
  const statuses = countBy(responses, (r) => String(r.statusCode));
  assert.ok(responses.every((r) => r.statusCode === 401 || r.statusCode === 429), JSON.stringify(statuses));
  const checked = responses.filter((r) => /Enter a correct email address and password/.test(textOf(r.body))).length;
  assert.equal(checked, 5, `${checked} wrong passwords were checked and answered "not correct"; the limit is 5 at once`);
  assert.ok(
    responses.filter((r) => r.statusCode === 429).every((r) => /Wait 1 second before trying again/.test(textOf(r.body))),
    'the others are told to wait',
  );
  const wrongAudits = (await services.db.select().from(auditEvents).where(eq(auditEvents.type, 'staff.sign_in_failed'))).filter(
    (e) => (e.details as { reason?: string }).reason === 'wrong_password',
  );
  assert.equal(wrongAudits.length, 5, `${wrongAudits.length} wrong passwords were checked`);

  // While the account waits, even the right password is not checked.
  const right = await postMany(app, '/staff/sign-in', new CookieJar(), 1, () => ({ email: staff.email, password: staff.password }));
  assert.equal(right[0]!.statusCode, 429);

  // A second burst after the wait: exactly one more is checked, and the wait grows.
  clock.advance(1000);
  const again = await postMany(app, '/staff/sign-in', new CookieJar(), PARALLEL, (i) => ({ email: staff.email, password: `wrong again ${i}` }));
  assert.deepEqual(countBy(again, (r) => String(r.statusCode)), { '401': 1, '429': PARALLEL - 1 });
  assert.ok(again.filter((r) => r.statusCode === 429).every((r) => /Wait 2 seconds before trying again/.test(textOf(r.body))));

  // The real person waits the 2 seconds, not 15 minutes.
  clock.advance(2000);
  const later = await postMany(app, '/staff/sign-in', new CookieJar(), 1, () => ({ email: staff.email, password: staff.password }));
  assert.equal(later[0]!.statusCode, 303);
});

/** A six-digit code that is not `code`. */
function wrongCodeFor(code: string, i = 1): string {
  return String((Number(code) + i) % 1_000_000).padStart(6, '0');
}

/** Enters `n` wrong codes one after another for the newest code of the link; returns the answers. */
async function enterWrongCodes(app: FastifyInstance, services: Services, token: string, linkId: string, jar: CookieJar, n: number) {
  const code = await latestSecurityCode(services, linkId);
  const answers = [];
  for (let i = 1; i <= n; i++) answers.push(await submitCode(app, token, jar, wrongCodeFor(code, i)));
  return answers;
}

test('3 security codes burned in a row lock the link until staff re-send it; the patient and staff are told why', async (t) => {
  assert.equal(CODE_FAILURES_IN_A_ROW_LIMIT, 3 * CODE_MAX_ATTEMPTS, 'the lock is three codes\' worth of tries');
  const clock = new TestClock();
  const { app, services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const c = await createTestConversation(services);
  const patient = await firstDevice(app, c.token);
  // Someone with the link and the date of birth, on another device, without the patient's phone.
  const attacker = await secondDevice(app, c.token);

  for (let burned = 1; burned <= 2; burned++) {
    const answers = await enterWrongCodes(app, services, c.token, c.linkId, attacker, CODE_MAX_ATTEMPTS);
    assert.deepEqual(answers.map((r) => r.statusCode), Array(CODE_MAX_ATTEMPTS).fill(400));
    assert.match(textOf(answers.at(-1)!.body), /not correct and it has now stopped working/);
    clock.advance(61_000);
    assert.equal((await requestNewCode(app, c.token, attacker)).statusCode, 303, `code ${burned + 1} is sent`);
  }
  // The third code's tries are the link's last, and the page says so.
  const third = await enterWrongCodes(app, services, c.token, c.linkId, attacker, CODE_MAX_ATTEMPTS);
  assert.match(textOf(third[0]!.body), /You have 4 more tries before the link stops working/);
  assert.deepEqual(third.map((r) => r.statusCode), [400, 400, 400, 400, 423]);
  const locked = textOf(third.at(-1)!.body);
  assert.match(locked, /This link is locked/);
  assert.match(locked, /The security code sent to your phone was entered wrongly too many times/);
  assert.match(locked, /You cannot use this link any more/);
  assert.match(locked, new RegExp(`Contact ${c.organisation.name} on 01234 567890 to get a new link`));

  let link = await linkRow(services, c.linkId);
  assert.equal(link.codeFailuresInARow, CODE_FAILURES_IN_A_ROW_LIMIT);
  assert.ok(link.lockedPermanentlyAt, 'locked until staff re-send');
  const lockEvents = await services.db.select().from(auditEvents).where(and(eq(auditEvents.linkId, c.linkId), eq(auditEvents.type, 'link.locked')));
  assert.deepEqual(lockEvents.map((e) => e.details.reason), ['too_many_wrong_security_codes_in_a_row']);

  // The patient's own trusted browser, already in, reads on: a lock stops new checks, never a
  // browser already verified.
  assert.equal((await get(app, `/${c.token}/conversation`, patient)).statusCode, 200, 'the trusted browser already in reads on');
  // Nothing more to try, days later too: no code, no new code, no date of birth.
  clock.advance(2 * 86_400_000);
  const code = await latestSecurityCode(services, c.linkId);
  assert.equal((await postMany(app, `/${c.token}/code`, attacker, 1, () => ({ code })))[0]!.statusCode, 423);
  assert.equal((await get(app, `/${c.token}/code`, attacker)).statusCode, 423);
  assert.equal((await postMany(app, `/${c.token}/code/resend`, attacker, 1, () => ({})))[0]!.statusCode, 423);
  assert.equal((await get(app, `/${c.token}`, new CookieJar())).statusCode, 423);
  assert.equal((await postMany(app, `/${c.token}`, new CookieJar(), 1, () => dobFields()))[0]!.statusCode, 423);
  assert.equal((await postMany(app, `/${c.token}`, patient, 1, () => dobFields()))[0]!.statusCode, 423, 'not even the trusted device starts a new check');
  link = await linkRow(services, c.linkId);
  assert.equal(link.codeFailuresInARow, CODE_FAILURES_IN_A_ROW_LIMIT, 'nothing more was counted');

  // Staff see why, and re-sending gives the patient a new link that works.
  const staff = await createTestStaff(services, c.organisation.id);
  const staffJar = await signInAsStaff(app, staff.email, staff.password);
  const page = pageText((await staffGet(app, staffJar, `/staff/conversations/${c.conversationId}`)).body);
  assert.match(page, /The link is locked Wrong security codes were entered too many times in a row \(locked on .*\)\. .*Check with the patient, then re-send the link to unlock it/);
  assert.equal((await staffPost(app, staffJar, `/staff/conversations/${c.conversationId}/resend`)).statusCode, 303);
  const newToken = await latestLinkToken(services, c.conversationId);
  const fresh = (await findLinkByToken(services.db, newToken))!;
  assert.equal(fresh.codeFailuresInARow, 0);
  assert.equal(fresh.lockedPermanentlyAt, null);
  const reopened = await get(app, `/${newToken}`, new CookieJar());
  assert.equal(reopened.statusCode, 200);
  assert.match(textOf(reopened.body), /What is your date of birth\?/);
});

test('a right security code ends the run of wrong ones; asking for a new code before the fifth wrong try gains nothing', async (t) => {
  const clock = new TestClock();
  const { app, services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const c = await createTestConversation(services);
  await firstDevice(app, c.token);

  // Two codes burned, then the right code on the third: the run ends.
  const patient = await secondDevice(app, c.token);
  for (let i = 0; i < 2; i++) {
    await enterWrongCodes(app, services, c.token, c.linkId, patient, CODE_MAX_ATTEMPTS);
    clock.advance(61_000);
    assert.equal((await requestNewCode(app, c.token, patient)).statusCode, 303);
  }
  assert.equal((await linkRow(services, c.linkId)).codeFailuresInARow, 2 * CODE_MAX_ATTEMPTS);
  const right = await submitCode(app, c.token, patient, await latestSecurityCode(services, c.linkId));
  assert.equal(right.statusCode, 303);
  assert.equal((await linkRow(services, c.linkId)).codeFailuresInARow, 0, 'a right code resets the run');

  // An hour later, on yet another device: 4 wrong tries a code, then a new code each time. The tries
  // still add up on the link, and the fifteenth locks it.
  clock.advance(3_600_000);
  const attacker = await secondDevice(app, c.token);
  const statuses: number[] = [];
  for (let n = 0; n < 4; n++) {
    if (n > 0) {
      clock.advance(61_000);
      assert.equal((await requestNewCode(app, c.token, attacker)).statusCode, 303);
    }
    // 4, 4, 4, then the 3 the link has left.
    const answers = await enterWrongCodes(app, services, c.token, c.linkId, attacker, n < 3 ? CODE_MAX_ATTEMPTS - 1 : 3);
    statuses.push(...answers.map((r) => r.statusCode));
    if (n === 3) assert.match(textOf(answers[1]!.body), /You have 1 more try before the link stops working/);
  }
  assert.deepEqual(statuses, [...Array(CODE_FAILURES_IN_A_ROW_LIMIT - 1).fill(400), 423], 'the fifteenth wrong try locks the link');
  const code = await latestSecurityCode(services, c.linkId);
  assert.equal((await postMany(app, `/${c.token}/code`, attacker, 1, () => ({ code: wrongCodeFor(code) })))[0]!.statusCode, 423, 'the sixteenth is not judged');
  const link = await linkRow(services, c.linkId);
  assert.equal(link.codeFailuresInARow, CODE_FAILURES_IN_A_ROW_LIMIT);
  assert.ok(link.lockedPermanentlyAt);
});

test(`${PARALLEL} concurrent wrong security codes with 3 tries left on the link: exactly 3 are judged, then the link is locked`, async (t) => {
  const clock = new TestClock();
  const { app, services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const c = await createTestConversation(services);
  await firstDevice(app, c.token);
  const jar = await secondDevice(app, c.token);
  await services.db.update(links).set({ codeFailuresInARow: CODE_FAILURES_IN_A_ROW_LIMIT - 3 }).where(eq(links.id, c.linkId));
  const code = await latestSecurityCode(services, c.linkId);

  const responses = await postMany(app, `/${c.token}/code`, jar, PARALLEL, () => ({ code: wrongCodeFor(code) }));
  assert.deepEqual(countBy(responses, (r) => String(r.statusCode)), { '400': 2, '423': PARALLEL - 2 });
  const link = await linkRow(services, c.linkId);
  assert.equal(link.codeFailuresInARow, CODE_FAILURES_IN_A_ROW_LIMIT, 'the link counter never passes the limit');
  assert.ok(link.lockedPermanentlyAt);
  assert.equal(await auditCount(services, 'code.wrong', c.linkId), 3);
  // The right code is refused too: the link is locked.
  const right = await postMany(app, `/${c.token}/code`, jar, 1, () => ({ code }));
  assert.equal(right[0]!.statusCode, 423);
});
