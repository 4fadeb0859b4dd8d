// Opening a link and the date of birth: pages for unknown, expired, revoked and locked links, the
// look-up rate limit, the date-of-birth rules and the first trusted device.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { and, eq } from 'drizzle-orm';
import { createTestApp, TestClock } from '../../../test/helpers/app.ts';
import { CookieJar, createTestConversation, csrfFrom } from '../../../test/helpers/factories.ts';
import { dobFields, firstDevice, get, postForm, submitDob, textOf } from '../../../test/helpers/patient.ts';
import { auditEvents, links, patientSessions, securityCodes } from '../../platform/db/schema.ts';
import { newLinkToken, sha256Hex } from '../../platform/crypto/tokens.ts';
import { revokeConversationLinks } from '../links/links.service.ts';
import type { Services } from '../../services.ts';
import { DEVICE_COOKIE, SESSION_COOKIE } from './patient-pages.ts';

async function linkRow(services: Services, id: string) {
  const [row] = await services.db.select().from(links).where(eq(links.id, id));
  return row!;
}

async function auditTypes(services: Services, linkId: string): Promise<string[]> {
  const rows = await services.db.select().from(auditEvents).where(eq(auditEvents.linkId, linkId)).orderBy(auditEvents.id);
  return rows.map((r) => r.type);
}

test('an unknown or malformed token gets the helpful 404 page and touches nothing', async (t) => {
  const { app, services, close } = await createTestApp();
  t.after(close);
  for (const url of [`/${newLinkToken()}`, '/not-a-token', `/${'a'.repeat(90)}`, '/abc%00def']) {
    const res = await get(app, url, new CookieJar());
    assert.equal(res.statusCode, 404, url);
    const text = textOf(res.body);
    assert.match(text, /We cannot find this link/);
    assert.match(text, /check it was typed correctly/);
    assert.match(text, /open it again from the text message/);
    assert.match(text, /What to do next/);
  }
  const post = await postForm(app, `/${newLinkToken()}`, new CookieJar(), dobFields(), { csrfPage: '/some-page-with-no-form', csrf: null });
  assert.equal(post.statusCode, 403, 'no CSRF token: refused before anything else');
  assert.equal((await services.db.select().from(auditEvents)).length, 0);
});

test('GET /:token shows the date of birth page, records "opened", and never sends a code or changes trust', async (t) => {
  const { app, services, close } = await createTestApp();
  t.after(close);
  const c = await createTestConversation(services, { organisation: undefined });
  const jar = new CookieJar();
  const res = await get(app, `/${c.token}`, jar);
  assert.equal(res.statusCode, 200);
  const text = textOf(res.body);
  assert.match(text, new RegExp(`Message from ${c.organisation.name}`));
  assert.match(text, /What is your date of birth\?/);
  assert.match(text, /contact .* on 01234 567890/);
  assert.match(res.body, /name="dob\[day\]"/);
  assert.match(res.body, /name="dob\[month\]"/);
  assert.match(res.body, /name="dob\[year\]"/);
  assert.match(res.body, /id="dob-day"/);
  assert.match(res.body, /href="\/help"/);
  assert.equal(res.headers['cache-control'], 'no-store');
  assert.equal(jar.get(SESSION_COOKIE), undefined);
  assert.equal(jar.get(DEVICE_COOKIE), undefined);

  await get(app, `/${c.token}`, jar);
  assert.equal((await services.db.select().from(securityCodes)).length, 0, 'no code row');
  assert.equal((await services.db.select().from(patientSessions)).length, 0, 'no session');
  const link = await linkRow(services, c.linkId);
  assert.equal(link.trustedDeviceHash, null);
  const opened = await services.db
    .select()
    .from(auditEvents)
    .where(and(eq(auditEvents.linkId, c.linkId), eq(auditEvents.type, 'link.opened')));
  assert.equal(opened.length, 2);
  assert.equal(opened[0]!.actorType, 'patient_link');
  assert.equal(opened[0]!.actorId, c.linkId);
  assert.equal(opened[0]!.organisationId, c.organisation.id);
  assert.equal(opened[0]!.patientId, c.patient.id);
  assert.equal(opened[0]!.ip, '127.0.0.1');
  // A second device opening the link (GET only) still sends nothing.
  await get(app, `/${c.token}`, new CookieJar());
  assert.equal((await services.db.select().from(securityCodes)).length, 0);
});

test('an expired link gets a 410 page naming the organisation and its phone number', async (t) => {
  const clock = new TestClock();
  const { app, services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const c = await createTestConversation(services);
  const jar = await firstDevice(app, c.token);
  const csrf = csrfFrom((await get(app, `/${c.token}`, jar)).body);
  clock.advance(7 * 86_400_000 + 1000);
  for (const url of [`/${c.token}`, `/${c.token}/conversation`]) {
    const res = await get(app, url, jar);
    assert.equal(res.statusCode, 410, url);
    const text = textOf(res.body);
    assert.match(text, /This link has expired/);
    assert.match(text, new RegExp(`contact ${c.organisation.name} on 01234 567890`));
    assert.doesNotMatch(text, /blood test/);
  }
  const post = await postForm(app, `/${c.token}`, jar, dobFields(), { csrf });
  assert.equal(post.statusCode, 410);
  assert.equal((await linkRow(services, c.linkId)).dobFailuresInARow, 0);
});

test('a revoked link gets a 410 page, even for a browser that was verified', async (t) => {
  const { app, services, close } = await createTestApp();
  t.after(close);
  const c = await createTestConversation(services);
  const jar = await firstDevice(app, c.token);
  assert.equal((await get(app, `/${c.token}/conversation`, jar)).statusCode, 200);
  await revokeConversationLinks(services.db, c.conversationId, services.now());
  for (const url of [`/${c.token}`, `/${c.token}/conversation`]) {
    const res = await get(app, url, jar);
    assert.equal(res.statusCode, 410, url);
    const text = textOf(res.body);
    assert.match(text, /This link no longer works/);
    assert.match(text, new RegExp(`${c.organisation.name} has stopped this link`));
    assert.match(text, /01234 567890/);
    assert.doesNotMatch(text, /blood test/);
  }
});

test('link look-ups are rate-limited per IP address with a friendly page', async (t) => {
  const clock = new TestClock(Date.parse('2026-11-26T10:00:00Z'));
  const { app, services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const c = await createTestConversation(services);
  const jar = new CookieJar();
  for (let i = 0; i < 60; i++) {
    const res = await get(app, `/${newLinkToken()}`, jar, '203.0.113.9');
    assert.equal(res.statusCode, 404);
  }
  const limited = await get(app, `/${newLinkToken()}`, jar, '203.0.113.9');
  assert.equal(limited.statusCode, 429);
  const text = textOf(limited.body);
  assert.match(text, /You have tried to open links too many times/);
  assert.match(text, /Wait 1 minute and try again \(after 10:01am\)/);
  assert.equal(limited.headers['retry-after'], '60');
  // Only links that do not exist are refused: a real one from the same address opens (issue 10, item 6).
  assert.equal((await get(app, `/${c.token}`, jar, '203.0.113.9')).statusCode, 200);
  // Another address is not affected; the same address may guess again in the next minute.
  assert.equal((await get(app, `/${newLinkToken()}`, jar, '203.0.113.10')).statusCode, 404);
  clock.advance(60_000);
  assert.equal((await get(app, `/${newLinkToken()}`, jar, '203.0.113.9')).statusCode, 404);
});

test('opening real links is never throttled: many patients can share one address', async (t) => {
  const { app, services, close } = await createTestApp();
  t.after(close);
  const c = await createTestConversation(services);
  for (let i = 0; i < 100; i++) {
    const res = await get(app, `/${c.token}`, new CookieJar(), '198.51.100.7');
    assert.equal(res.statusCode, 200, `open number ${i + 1}`);
  }
});

test('date of birth errors follow the NHS patterns and are not counted as wrong guesses', async (t) => {
  const { app, services, close } = await createTestApp();
  t.after(close);
  const c = await createTestConversation(services);
  const jar = new CookieJar();
  const cases: Array<[Record<string, string>, RegExp, string]> = [
    [{ 'dob[day]': '', 'dob[month]': '', 'dob[year]': '' }, /Enter your date of birth/, '#dob-day'],
    [{ 'dob[day]': '12', 'dob[month]': '', 'dob[year]': '1984' }, /Date of birth must include a month/, '#dob-month'],
    [{ 'dob[day]': '', 'dob[month]': '', 'dob[year]': '1984' }, /Date of birth must include a day and month/, '#dob-day'],
    [{ 'dob[day]': '31', 'dob[month]': '2', 'dob[year]': '1984' }, /Date of birth must be a real date/, '#dob-day'],
    [{ 'dob[day]': 'ab', 'dob[month]': '2', 'dob[year]': '1984' }, /Date of birth must be a real date/, '#dob-day'],
    [{ 'dob[day]': '1', 'dob[month]': '1', 'dob[year]': '2090' }, /Date of birth must be in the past/, '#dob-day'],
    [{ 'dob-day': '1', 'dob-month': '1', 'dob-year': '1850' }, /Date of birth must be after 1890/, '#dob-day'],
  ];
  for (const [fields, words, href] of cases) {
    const res = await postForm(app, `/${c.token}`, jar, fields, { csrfPage: `/${c.token}` });
    assert.equal(res.statusCode, 400, JSON.stringify(fields));
    const text = textOf(res.body);
    assert.match(text, /There is a problem/);
    assert.match(text, words);
    assert.match(res.body, new RegExp(`href="${href}"`));
    assert.match(res.body, /<title>Error: /);
  }
  const link = await linkRow(services, c.linkId);
  assert.equal(link.dobFailuresInARow, 0);
  assert.equal(link.dobFailuresTotal, 0);
});

test('a wrong date of birth says only that it does not match, and is counted', async (t) => {
  const { app, services, close } = await createTestApp();
  t.after(close);
  const c = await createTestConversation(services);
  const jar = new CookieJar();
  // Right day and month, wrong year: the page must not say which part is wrong.
  const res = await submitDob(app, c.token, jar, '1985-03-12');
  assert.equal(res.statusCode, 400);
  const text = textOf(res.body);
  assert.match(text, /The date of birth does not match our records\. You have 4 more tries before the link is locked for 30 minutes/);
  assert.doesNotMatch(text, /(day|month|year) (is|does|must|was)|wrong (day|month|year)/i);
  assert.equal(jar.get(SESSION_COOKIE), undefined);
  const link = await linkRow(services, c.linkId);
  assert.equal(link.dobFailuresInARow, 1);
  assert.equal(link.dobFailuresTotal, 1);
  assert.ok((await auditTypes(services, c.linkId)).includes('link.dob_wrong'));
  // The DOB entered is kept out of the audit trail.
  const rows = await services.db.select().from(auditEvents).where(eq(auditEvents.type, 'link.dob_wrong'));
  assert.doesNotMatch(JSON.stringify(rows), /1985/);
});

test('5 wrong dates of birth in a row lock the link for 30 minutes; then it opens again', async (t) => {
  const clock = new TestClock(Date.parse('2026-11-26T10:00:00Z'));
  const { app, services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const c = await createTestConversation(services);
  const jar = new CookieJar();
  // Another browser that loaded the form before the lock.
  const other = new CookieJar();
  const otherCsrf = csrfFrom((await get(app, `/${c.token}`, other)).body);
  for (let i = 1; i <= 4; i++) assert.equal((await submitDob(app, c.token, jar, '1990-01-01')).statusCode, 400);
  const fifth = await postForm(app, `/${c.token}`, jar, dobFields('1990-01-01'), { csrfPage: `/${c.token}` });
  assert.equal(fifth.statusCode, 423);
  let text = textOf(fifth.body);
  assert.match(text, /This link is locked/);
  assert.match(text, /locked for 30 minutes/);
  assert.match(text, /try again in 30 minutes \(after 10:30am\)/);
  assert.match(text, /01234 567890/);
  const locked = await linkRow(services, c.linkId);
  assert.equal(locked.lockedUntil?.toISOString(), '2026-11-26T10:30:00.000Z');
  assert.equal(locked.dobFailuresTotal, 5);
  assert.ok((await auditTypes(services, c.linkId)).includes('link.locked'));

  // While locked, the page says so and even the right date of birth is refused (and not counted).
  const page = await get(app, `/${c.token}`, jar);
  assert.equal(page.statusCode, 423);
  text = textOf(page.body);
  assert.match(text, /This link is locked/);
  clock.advance(29 * 60_000);
  const refused = await postForm(app, `/${c.token}`, jar, dobFields(), { csrf: otherCsrf });
  assert.equal(refused.statusCode, 403, 'a token from another browser is refused');
  const otherRight = await postForm(app, `/${c.token}`, other, dobFields(), { csrf: otherCsrf });
  assert.equal(otherRight.statusCode, 423, 'the right date of birth is refused while locked');
  assert.equal((await linkRow(services, c.linkId)).trustedDeviceHash, null);
  const page2 = await get(app, `/${c.token}`, jar);
  assert.match(textOf(page2.body), /try again in 1 minute/);
  assert.equal((await linkRow(services, c.linkId)).dobFailuresTotal, 5);

  clock.advance(60_000);
  const open = await get(app, `/${c.token}`, jar);
  assert.equal(open.statusCode, 200);
  assert.match(textOf(open.body), /What is your date of birth\?/);
  const right = await submitDob(app, c.token, jar);
  assert.equal(right.statusCode, 303);
  assert.equal(right.headers.location, `/${c.token}/conversation`);
});

test('a right date of birth ends the run of wrong ones', async (t) => {
  const { app, services, close } = await createTestApp();
  t.after(close);
  const c = await createTestConversation(services);
  const device = await firstDevice(app, c.token);
  for (let i = 0; i < 4; i++) await submitDob(app, c.token, device, '1990-01-01');
  assert.equal((await linkRow(services, c.linkId)).dobFailuresInARow, 4);
  assert.equal((await submitDob(app, c.token, device)).statusCode, 303);
  for (let i = 0; i < 4; i++) assert.equal((await submitDob(app, c.token, device, '1990-01-01')).statusCode, 400);
  const link = await linkRow(services, c.linkId);
  assert.equal(link.dobFailuresInARow, 4);
  assert.equal(link.dobFailuresTotal, 8);
  assert.equal(link.lockedUntil, null);
});

test('10 wrong dates of birth in total lock the link until staff send a new one', async (t) => {
  const clock = new TestClock();
  const { app, services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const c = await createTestConversation(services);
  const jar = new CookieJar();
  for (let i = 0; i < 5; i++) await submitDob(app, c.token, jar, '1990-01-01');
  clock.advance(31 * 60_000);
  for (let i = 0; i < 4; i++) assert.equal((await submitDob(app, c.token, jar, '1990-01-01')).statusCode, 400);
  const tenth = await submitDob(app, c.token, jar, '1990-01-01');
  assert.equal(tenth.statusCode, 423);
  const text = textOf(tenth.body);
  assert.match(text, /You cannot use this link any more/);
  assert.match(text, new RegExp(`Contact ${c.organisation.name} on 01234 567890 to get a new link`));
  const link = await linkRow(services, c.linkId);
  assert.equal(link.dobFailuresTotal, 10);
  assert.ok(link.lockedPermanentlyAt);
  clock.advance(24 * 3_600_000);
  const later = await get(app, `/${c.token}`, jar);
  assert.equal(later.statusCode, 423);
  assert.match(textOf(later.body), /to get a new link/);
  const lockEvents = await services.db.select().from(auditEvents).where(and(eq(auditEvents.linkId, c.linkId), eq(auditEvents.type, 'link.locked')));
  assert.equal(lockEvents.length, 2);
  assert.equal(lockEvents[1]!.details.permanently, true);
});

test('the first device to pass the date of birth is trusted without a code; cookies are __Host-, HttpOnly, Secure, Lax', async (t) => {
  const { app, services, close } = await createTestApp();
  t.after(close);
  const c = await createTestConversation(services);
  const jar = new CookieJar();
  const res = await submitDob(app, c.token, jar);
  assert.equal(res.statusCode, 303);
  assert.equal(res.headers.location, `/${c.token}/conversation`);
  const cookies = ([] as string[]).concat(res.headers['set-cookie'] ?? []);
  const session = cookies.find((x) => x.startsWith(`${SESSION_COOKIE}=`));
  const device = cookies.find((x) => x.startsWith(`${DEVICE_COOKIE}=`));
  for (const cookie of [session, device]) {
    assert.ok(cookie);
    assert.match(cookie, /; Path=\//);
    assert.match(cookie, /; HttpOnly/);
    assert.match(cookie, /; Secure/);
    assert.match(cookie, /; SameSite=Lax/);
    assert.doesNotMatch(cookie, /Domain=/i);
  }
  assert.match(device!, /Max-Age=34560000/);
  const deviceValue = jar.get(DEVICE_COOKIE)!;
  const sessionValue = jar.get(SESSION_COOKIE)!;
  assert.ok(Buffer.from(deviceValue, 'base64url').length >= 32, 'device cookie has at least 256 bits');
  assert.ok(Buffer.from(sessionValue, 'base64url').length >= 16, 'session cookie has at least 128 bits');
  const link = await linkRow(services, c.linkId);
  assert.equal(link.trustedDeviceHash, sha256Hex(deviceValue));
  const [row] = await services.db.select().from(patientSessions).where(eq(patientSessions.linkId, c.linkId));
  assert.equal(row!.tokenHash, sha256Hex(sessionValue), 'only the hash of the session token is stored');
  assert.equal(row!.state, 'verified');
  assert.equal((await services.db.select().from(securityCodes)).length, 0, 'no code for the first device');
  const types = await auditTypes(services, c.linkId);
  assert.ok(types.includes('link.dob_right'));
  assert.ok(types.includes('device.trusted'));

  // On the trusted device, the date of birth alone opens the link again, with a new session token.
  const again = await submitDob(app, c.token, jar);
  assert.equal(again.headers.location, `/${c.token}/conversation`);
  assert.notEqual(jar.get(SESSION_COOKIE), sessionValue, 'new session token on every verification');
  assert.equal(jar.get(DEVICE_COOKIE), deviceValue);
  assert.equal((await services.db.select().from(patientSessions)).length, 1, 'the old session was ended');
  assert.equal((await services.db.select().from(securityCodes)).length, 0);
});

test('POST /:token without or with a wrong CSRF token is refused with 403 and changes nothing', async (t) => {
  const { app, services, close } = await createTestApp();
  t.after(close);
  const c = await createTestConversation(services);
  const jar = new CookieJar();
  await get(app, `/${c.token}`, jar);
  const missing = await postForm(app, `/${c.token}`, jar, dobFields(), { csrf: null });
  assert.equal(missing.statusCode, 403);
  assert.match(textOf(missing.body), /Your form could not be sent/);
  const wrong = await postForm(app, `/${c.token}`, jar, dobFields(), { csrf: 'not-the-token' });
  assert.equal(wrong.statusCode, 403);
  const noCookie = await postForm(app, `/${c.token}`, new CookieJar(), dobFields(), { csrf: 'x' });
  assert.equal(noCookie.statusCode, 403);
  assert.equal(jar.get(SESSION_COOKIE), undefined);
  assert.equal((await linkRow(services, c.linkId)).trustedDeviceHash, null);
});

test('the help page explains links, date of birth, codes, new codes, trusted devices and what to do without the phone', async (t) => {
  const { app, close } = await createTestApp();
  t.after(close);
  const res = await get(app, '/help', new CookieJar());
  assert.equal(res.statusCode, 200);
  const text = textOf(res.body);
  for (const words of [
    /How secure links work/,
    /Why we ask for your date of birth/,
    /What a security code is/,
    /to the phone the link was sent to/,
    /Request a new code/,
    /wait 1 minute/,
    /up to 5 codes for a link in 1 hour/,
    /up to 10 codes on one phone in 24 hours/,
    /Trusted devices/,
    /If you do not have the phone the link was sent to/,
    /Continue with NHS login/,
    /contact the organisation that sent you the link/,
  ]) {
    assert.match(text, words);
  }
});

test('concurrent wrong dates of birth: the counters never lose an update and the lock happens once', async (t) => {
  const { services, close } = await createTestApp();
  t.after(close);
  const c = await createTestConversation(services);
  const { recordDobFailure } = await import('../links/links.service.ts');
  const results = await Promise.all(Array.from({ length: 8 }, () => recordDobFailure(services.db, c.linkId, services.now())));
  assert.equal(results.filter(Boolean).length, 5, 'after the fifth, the link is locked and no more are counted');
  const link = await linkRow(services, c.linkId);
  assert.equal(link.dobFailuresTotal, 5);
  assert.ok(link.lockedUntil && link.lockedUntil > services.now());
});

test('the tries left count down, and near the total say the link will stop working', async (t) => {
  const { app, services, close } = await createTestApp();
  t.after(close);
  const c = await createTestConversation(services);
  const jar = new CookieJar();
  const words: string[] = [];
  for (let i = 0; i < 4; i++) words.push(/You have (\d+ more tr(?:y|ies)) before the link is locked/.exec(textOf((await submitDob(app, c.token, jar, '1985-03-12')).body))?.[1] ?? '');
  assert.deepEqual(words, ['4 more tries', '3 more tries', '2 more tries', '1 more try']);
  // 8 wrong in total, 2 in this run: the total comes first.
  await services.db.update(links).set({ dobFailuresTotal: 8, dobFailuresInARow: 1 }).where(eq(links.id, c.linkId));
  assert.match(textOf((await submitDob(app, c.token, jar, '1985-03-12')).body), /You have 1 more try before the link stops working/);
});

test('the help page says how NHS login helps, without "soon"', async (t) => {
  const { app, close } = await createTestApp();
  t.after(close);
  const text = textOf((await get(app, '/help', new CookieJar())).body);
  assert.doesNotMatch(text, /[Ss]oon/);
  assert.match(text, /you can use "Continue with NHS login" on the date of birth page instead of a security code/);
});
