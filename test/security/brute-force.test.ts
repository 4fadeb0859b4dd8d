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
import { CookieJar, createTestConversation, createTestStaff, latestSecurityCode } from '../helpers/factories.ts';
import { dobFields, firstDevice, submitDob, textOf } from '../helpers/patient.ts';
import { auditEvents, links, outboundSms, securityCodes, staffUsers } from '../../src/platform/db/schema.ts';
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

test(`${PARALLEL} concurrent wrong staff passwords: at most 5 are checked, then the account is locked`, async (t) => {
  const clock = new TestClock();
  const { app, services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const c = await createTestConversation(services);
  const staff = await createTestStaff(services, c.organisation.id);

  const responses = await postMany(app, '/staff/sign-in', new CookieJar(), PARALLEL, (i) => ({ email: staff.email, password: `wrong password ${i}` }));
  const statuses = countBy(responses, (r) => String(r.statusCode));
  assert.ok(responses.every((r) => r.statusCode === 401 || r.statusCode === 429), JSON.stringify(statuses));
  const checked = responses.filter((r) => /Enter a correct email address and password/.test(textOf(r.body))).length;
  assert.ok(checked <= 5, `${checked} wrong passwords were checked and answered "not correct"; the limit is 5`);
  const wrongAudits = (await services.db.select().from(auditEvents).where(eq(auditEvents.type, 'staff.sign_in_failed'))).filter(
    (e) => (e.details as { reason?: string }).reason === 'wrong_password',
  );
  assert.ok(wrongAudits.length <= 5, `${wrongAudits.length} wrong passwords were checked`);
  const [row] = await services.db.select().from(staffUsers).where(eq(staffUsers.id, staff.id));
  assert.ok(row!.signInLockedUntil && row!.signInLockedUntil.getTime() > clock.now().getTime(), 'the account is locked');

  // Locked: even the right password waits.
  const right = await postMany(app, '/staff/sign-in', new CookieJar(), 1, () => ({ email: staff.email, password: staff.password }));
  assert.equal(right[0]!.statusCode, 429);
  assert.match(textOf(right[0]!.body), /Too many attempts/);

  clock.advance(16 * 60_000);
  const later = await postMany(app, '/staff/sign-in', new CookieJar(), 1, () => ({ email: staff.email, password: staff.password }));
  assert.equal(later[0]!.statusCode, 303);
});
