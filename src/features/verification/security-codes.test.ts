// Security codes on a second device: sending, checking, burning, expiring, only the newest working,
// the limits on new codes, and trust moving to the device that proved itself.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { desc, eq } from 'drizzle-orm';
import { createTestApp, TestClock } from '../../../test/helpers/app.ts';
import { CookieJar, createTestConversation, csrfFrom, latestSecurityCode } from '../../../test/helpers/factories.ts';
import { firstDevice, get, postForm, requestNewCode, submitCode, submitDob, textOf } from '../../../test/helpers/patient.ts';
import { auditEvents, links, outboundSms, securityCodes } from '../../platform/db/schema.ts';
import { sha256Hex } from '../../platform/crypto/tokens.ts';
import type { Services } from '../../services.ts';
import type { FastifyInstance } from 'fastify';
import { DEVICE_COOKIE, SESSION_COOKIE } from './patient-pages.ts';
import { checkSecurityCode, codeHmac, newSecurityCode } from './security-codes.service.ts';

async function codes(services: Services, linkId: string) {
  return services.db.select().from(securityCodes).where(eq(securityCodes.linkId, linkId)).orderBy(desc(securityCodes.createdAt));
}

async function auditTypes(services: Services, linkId: string): Promise<string[]> {
  const rows = await services.db.select().from(auditEvents).where(eq(auditEvents.linkId, linkId)).orderBy(auditEvents.id);
  return rows.map((r) => r.type);
}

/** A first device, then a second browser that passed the date of birth and is waiting for a code. */
async function secondDevice(app: FastifyInstance, token: string) {
  const first = await firstDevice(app, token);
  const second = new CookieJar();
  const res = await submitDob(app, token, second);
  assert.equal(res.statusCode, 303);
  assert.equal(res.headers.location, `/${token}/code`);
  return { first, second };
}

function wrongCode(code: string): string {
  return code === '000000' ? '111111' : '000000';
}

test('unit: codes are 6 digits, HMACs are per key and per link', () => {
  for (let i = 0; i < 500; i++) assert.match(newSecurityCode(), /^\d{6}$/);
  const k1 = { id: 'k1', secret: Buffer.alloc(32, 1) };
  const k2 = { id: 'k2', secret: Buffer.alloc(32, 2) };
  assert.notEqual(codeHmac(k1, 'link-a', '123456'), codeHmac(k2, 'link-a', '123456'));
  assert.notEqual(codeHmac(k1, 'link-a', '123456'), codeHmac(k1, 'link-b', '123456'));
  assert.match(codeHmac(k1, 'link-a', '123456'), /^[0-9a-f]{64}$/);
});

test('a second device gets the "Check your phone" page and a code by text; GET never sends one', async (t) => {
  const { app, services, close } = await createTestApp();
  t.after(close);
  const c = await createTestConversation(services);
  const { second } = await secondDevice(app, c.token);
  const page = await get(app, `/${c.token}/code`, second);
  assert.equal(page.statusCode, 200);
  const text = textOf(page.body);
  assert.match(text, /Check your phone/);
  assert.match(text, /phone number ending 001/);
  assert.doesNotMatch(text, /07700|447700/);
  assert.match(page.body, /autocomplete="one-time-code"/);
  assert.match(page.body, /inputmode="numeric"/);
  assert.match(page.body, /spellcheck="false"/);
  assert.match(page.body, /nhsuk-input--width-10/);
  assert.match(page.body, new RegExp(`action="/${c.token}/code/resend"`));
  assert.match(text, /Request a new code/);
  const rows = await codes(services, c.linkId);
  assert.equal(rows.length, 1);
  assert.equal(rows[0]!.keyId, 'test1');
  const code = await latestSecurityCode(services, c.linkId);
  assert.match(code, /^\d{6}$/);
  assert.notEqual(rows[0]!.codeHmac, code, 'the code itself is not stored');
  assert.ok(!JSON.stringify(rows).includes(`"${code}"`));
  const [sms] = await services.db.select().from(outboundSms).where(eq(outboundSms.kind, 'security_code'));
  assert.equal(sms!.phoneE164, '+447700900001');
  assert.equal(sms!.linkId, c.linkId);
  assert.equal(sms!.personalisation.organisation_name, c.organisation.name);
  assert.ok((await auditTypes(services, c.linkId)).includes('code.sent'));
  // Reloading the page (GET) sends nothing more.
  await get(app, `/${c.token}/code`, second);
  await get(app, `/${c.token}/code`, second);
  assert.equal((await codes(services, c.linkId)).length, 1);
  // A message page needs the code first.
  const msg = await get(app, `/${c.token}/conversation`, second);
  assert.equal(msg.statusCode, 303);
  assert.equal(msg.headers.location, `/${c.token}/code`);
});

test('code form errors are explained and do not use up tries', async (t) => {
  const { app, services, close } = await createTestApp();
  t.after(close);
  const c = await createTestConversation(services);
  const { second } = await secondDevice(app, c.token);
  for (const [value, words] of [
    ['', /Enter the security code/],
    ['12345', /The security code must be 6 numbers/],
    ['12a456', /The security code must be 6 numbers/],
    ['1234567', /The security code must be 6 numbers/],
  ] as const) {
    const res = await submitCode(app, c.token, second, value);
    assert.equal(res.statusCode, 400);
    const text = textOf(res.body);
    assert.match(text, /There is a problem/);
    assert.match(text, words);
    assert.match(res.body, /href="#code"/);
  }
  assert.equal((await codes(services, c.linkId))[0]!.attempts, 0);
  // Spaces are forgiven.
  const code = await latestSecurityCode(services, c.linkId);
  const ok = await submitCode(app, c.token, second, `${code.slice(0, 3)} ${code.slice(3)}`);
  assert.equal(ok.statusCode, 303);
});

test('a wrong code is counted before comparing; 5 wrong burn it and a new one must be requested', async (t) => {
  const clock = new TestClock();
  const { app, services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const c = await createTestConversation(services);
  const { second } = await secondDevice(app, c.token);
  const code = await latestSecurityCode(services, c.linkId);
  const expectTries = ['4 more tries', '3 more tries', '2 more tries', '1 more try'];
  for (const tries of expectTries) {
    const res = await submitCode(app, c.token, second, wrongCode(code));
    assert.equal(res.statusCode, 400);
    assert.match(textOf(res.body), new RegExp(`The security code is not correct. You have ${tries}`));
  }
  assert.equal((await codes(services, c.linkId))[0]!.attempts, 4);
  const fifth = await submitCode(app, c.token, second, wrongCode(code));
  assert.match(textOf(fifth.body), /stopped working. Request a new code/);
  const [burned] = await codes(services, c.linkId);
  assert.equal(burned!.attempts, 5);
  assert.ok(burned!.burnedAt);
  // Now even the right code is refused.
  const right = await submitCode(app, c.token, second, code);
  assert.equal(right.statusCode, 400);
  assert.match(textOf(right.body), /expired or stopped working. Request a new code/);
  assert.equal(second.get(DEVICE_COOKIE), undefined);
  const types = await auditTypes(services, c.linkId);
  assert.equal(types.filter((x) => x === 'code.wrong').length, 6);
  assert.ok(types.includes('code.burned'));
  // A new code (after the wait) works.
  clock.advance(61_000);
  assert.equal((await requestNewCode(app, c.token, second)).statusCode, 303);
  const fresh = await latestSecurityCode(services, c.linkId);
  assert.equal((await submitCode(app, c.token, second, fresh)).headers.location, `/${c.token}/conversation`);
});

test('the attempt counter is raised atomically: a code with 5 tries used is never compared', async (t) => {
  const { app, services, close } = await createTestApp();
  t.after(close);
  const c = await createTestConversation(services);
  await secondDevice(app, c.token);
  const code = await latestSecurityCode(services, c.linkId);
  await services.db.update(securityCodes).set({ attempts: 5 }).where(eq(securityCodes.linkId, c.linkId));
  const result = await checkSecurityCode(services.db, services.config.codeHmacKeys, c.linkId, code, services.now());
  assert.deepEqual(result, { kind: 'no_code' });
  assert.equal((await codes(services, c.linkId))[0]!.attempts, 5);
});

test('a code expires after 10 minutes', async (t) => {
  const clock = new TestClock();
  const { app, services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const c = await createTestConversation(services);
  const { second } = await secondDevice(app, c.token);
  const code = await latestSecurityCode(services, c.linkId);
  clock.advance(10 * 60_000);
  const res = await submitCode(app, c.token, second, code);
  assert.equal(res.statusCode, 400);
  assert.match(textOf(res.body), /This security code has expired or stopped working. Request a new code/);
});

test('only the newest code works after "Request a new code"; a used code cannot be used again', async (t) => {
  const clock = new TestClock();
  const { app, services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const c = await createTestConversation(services);
  const { second } = await secondDevice(app, c.token);
  const oldCode = await latestSecurityCode(services, c.linkId);
  clock.advance(61_000);
  const resend = await requestNewCode(app, c.token, second);
  assert.equal(resend.statusCode, 303);
  assert.equal(resend.headers.location, `/${c.token}/code?sent=1`);
  const banner = await get(app, resend.headers.location!, second);
  assert.match(textOf(banner.body), /We have sent you a new security code/);
  const newCode = await latestSecurityCode(services, c.linkId);
  const rows = await codes(services, c.linkId);
  assert.equal(rows.length, 2);
  assert.ok(rows[1]!.burnedAt, 'the older code was burned when the new one was sent');
  if (oldCode !== newCode) {
    const old = await submitCode(app, c.token, second, oldCode);
    assert.equal(old.statusCode, 400);
    assert.match(textOf(old.body), /The security code is not correct/);
  }
  const ok = await submitCode(app, c.token, second, newCode);
  assert.equal(ok.headers.location, `/${c.token}/conversation`);
  // A third browser, same code: single use.
  clock.advance(61_000);
  const third = new CookieJar();
  assert.equal((await submitDob(app, c.token, third)).headers.location, `/${c.token}/code`);
  const reused = await submitCode(app, c.token, third, newCode);
  assert.equal(reused.statusCode, 400);
});

test('"Request a new code": not within 60 seconds, at most 5 per link per hour, each limit on a clear page', async (t) => {
  const clock = new TestClock(Date.parse('2026-11-26T10:00:00Z'));
  const { app, services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const c = await createTestConversation(services);
  const { second } = await secondDevice(app, c.token);
  clock.advance(30_000);
  const early = await requestNewCode(app, c.token, second);
  assert.equal(early.statusCode, 429);
  let text = textOf(early.body);
  assert.match(text, /You need to wait before you can get a new security code/);
  assert.match(text, /request a new code in 30 seconds \(after 10:01am\)/);
  assert.match(text, /01234 567890/);
  assert.equal(early.headers['retry-after'], '30');
  assert.equal((await codes(services, c.linkId)).length, 1);
  for (let i = 2; i <= 5; i++) {
    clock.advance(60_000);
    assert.equal((await requestNewCode(app, c.token, second)).statusCode, 303, `code ${i}`);
  }
  assert.equal((await codes(services, c.linkId)).length, 5);
  clock.advance(60_000);
  const sixth = await requestNewCode(app, c.token, second);
  assert.equal(sixth.statusCode, 429);
  text = textOf(sixth.body);
  assert.match(text, /You have asked for too many security codes/);
  assert.match(text, /5 security codes for a link in 1 hour/);
  assert.match(text, /after 11:00am/);
  assert.match(text, /Go back to enter a security code you already have/);
  assert.equal((await codes(services, c.linkId)).length, 5);
  // An hour after the first code, one more may be sent (the session has timed out by then, so the
  // patient gives the date of birth again, which sends it).
  clock.advance(60 * 60_000 - 5 * 60_000 + 1000);
  assert.equal((await submitDob(app, c.token, second)).headers.location, `/${c.token}/code`);
  assert.equal((await codes(services, c.linkId)).length, 6);
});

test('at most 10 security codes per phone number per day, across links', async (t) => {
  const clock = new TestClock(Date.parse('2026-11-26T10:00:00Z'));
  const { app, services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const a = await createTestConversation(services);
  const b = await createTestConversation(services, { organisation: a.organisation });
  const d = await createTestConversation(services, { organisation: a.organisation });
  for (const conv of [a, b]) {
    const { second } = await secondDevice(app, conv.token);
    for (let i = 0; i < 4; i++) {
      clock.advance(61_000);
      assert.equal((await requestNewCode(app, conv.token, second)).statusCode, 303);
    }
  }
  const sent = await services.db.select().from(outboundSms).where(eq(outboundSms.kind, 'security_code'));
  assert.equal(sent.length, 10);
  // A third link to the same phone: the date of birth is right, but no code can be sent today.
  await firstDevice(app, d.token);
  const third = new CookieJar();
  const res = await submitDob(app, d.token, third);
  assert.equal(res.statusCode, 429);
  const text = textOf(res.body);
  assert.match(text, /You have asked for too many security codes/);
  assert.match(text, /10 security codes on one phone in 24 hours/);
  assert.match(text, /request a new code after/);
  assert.match(text, /01234 567890/);
  assert.equal((await codes(services, d.linkId)).length, 0);
  // The button is refused too.
  clock.advance(61_000);
  const again = await postForm(app, `/${d.token}/code/resend`, third, {}, { csrfPage: `/${d.token}/code` });
  assert.equal(again.statusCode, 429);
  assert.equal((await services.db.select().from(outboundSms).where(eq(outboundSms.kind, 'security_code'))).length, 10);
});

test('a right code rotates the session, makes this device trusted, and the old device needs a code', async (t) => {
  const clock = new TestClock();
  const { app, services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const c = await createTestConversation(services);
  const { first, second } = await secondDevice(app, c.token);
  const firstDeviceCookie = first.get(DEVICE_COOKIE)!;
  const awaitingSession = second.get(SESSION_COOKIE)!;
  const code = await latestSecurityCode(services, c.linkId);
  const res = await submitCode(app, c.token, second, code);
  assert.equal(res.statusCode, 303);
  assert.equal(res.headers.location, `/${c.token}/conversation`);
  const cookies = ([] as string[]).concat(res.headers['set-cookie'] ?? []);
  for (const name of [SESSION_COOKIE, DEVICE_COOKIE]) {
    const cookie = cookies.find((x) => x.startsWith(`${name}=`));
    assert.ok(cookie, name);
    assert.match(cookie, /; Path=\/; HttpOnly; Secure; SameSite=Lax/);
  }
  assert.notEqual(second.get(SESSION_COOKIE), awaitingSession, 'a new session token');
  const [link] = await services.db.select().from(links).where(eq(links.id, c.linkId));
  assert.equal(link!.trustedDeviceHash, sha256Hex(second.get(DEVICE_COOKIE)!));
  assert.notEqual(link!.trustedDeviceHash, sha256Hex(firstDeviceCookie));
  const types = await auditTypes(services, c.linkId);
  assert.ok(types.includes('code.right'));
  assert.equal(types.filter((x) => x === 'device.trusted').length, 2);
  assert.equal((await get(app, `/${c.token}/conversation`, second)).statusCode, 200);
  // The old awaiting session token no longer opens anything.
  const stale = new CookieJar();
  stale.store(`${SESSION_COOKIE}=${awaitingSession}`);
  assert.equal((await get(app, `/${c.token}/code`, stale)).headers.location, `/${c.token}`);

  // The first device's session has ended, and its date of birth now leads to a code.
  clock.advance(61_000);
  const msg = await get(app, `/${c.token}/conversation`, first);
  assert.equal(msg.statusCode, 303);
  assert.equal(msg.headers.location, `/${c.token}`);
  const again = await submitDob(app, c.token, first);
  assert.equal(again.headers.location, `/${c.token}/code?moved=1`);
  const told = textOf((await get(app, again.headers.location!, first)).body);
  assert.match(told, /This device was the trusted device for this link, but the link has since been opened on another phone, tablet or computer/);
  // The second device, now trusted, needs only the date of birth.
  const back = await submitDob(app, c.token, second);
  assert.equal(back.headers.location, `/${c.token}/conversation`);
});

test('a device that lost its trust a moment ago is told why it needs a code, not that it asked for one', async (t) => {
  const clock = new TestClock();
  const { app, services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const c = await createTestConversation(services);
  const { first, second } = await secondDevice(app, c.token);
  await submitCode(app, c.token, second, await latestSecurityCode(services, c.linkId));
  // Within the minute after the other device's code: no code can be sent to this one yet.
  clock.advance(20_000);
  const res = await submitDob(app, c.token, first);
  assert.equal(res.statusCode, 429);
  const text = textOf(res.body);
  assert.match(text, /This device was the trusted device for this link, but the link has since been opened on another phone, tablet or computer/);
  assert.match(text, /A security code was sent to the phone for this link less than a minute ago\. We can only send 1 code a minute/);
  assert.doesNotMatch(text, /We sent you a security code/);
});

test('code pages: who may not (no session, verified session, another link, missing or wrong CSRF)', async (t) => {
  const { app, services, close } = await createTestApp();
  t.after(close);
  const c = await createTestConversation(services);
  const other = await createTestConversation(services, { patient: { nhsNumber: '9990000026', mobileNumber: '+447700900002', dateOfBirth: '1970-01-01' } });
  // No session at all.
  const none = new CookieJar();
  assert.equal((await get(app, `/${c.token}/code`, none)).headers.location, `/${c.token}`);
  const csrf = csrfFrom((await get(app, `/${c.token}`, none)).body);
  for (const url of [`/${c.token}/code`, `/${c.token}/code/resend`]) {
    const res = await postForm(app, url, none, { code: '123456' }, { csrf });
    assert.equal(res.statusCode, 303, url);
    assert.equal(res.headers.location, `/${c.token}`);
  }
  assert.equal((await codes(services, c.linkId)).length, 0, 'no code sent without a session');
  // A verified browser is sent to the message.
  const verified = await firstDevice(app, c.token);
  assert.equal((await get(app, `/${c.token}/code`, verified)).headers.location, `/${c.token}/conversation`);
  // A browser awaiting a code for link A cannot use it on link B.
  const second = await awaiting(app, c.token);
  assert.equal((await get(app, `/${other.token}/code`, second)).headers.location, `/${other.token}`);
  assert.equal((await get(app, `/${other.token}/conversation`, second)).headers.location, `/${other.token}`);
  // CSRF: missing or wrong token.
  const before = (await codes(services, c.linkId)).length;
  for (const url of [`/${c.token}/code`, `/${c.token}/code/resend`]) {
    assert.equal((await postForm(app, url, second, { code: '123456' }, { csrf: null })).statusCode, 403, url);
    assert.equal((await postForm(app, url, second, { code: '123456' }, { csrf: 'wrong' })).statusCode, 403, url);
  }
  assert.equal((await codes(services, c.linkId)).length, before);
  assert.equal((await codes(services, c.linkId))[0]!.attempts, 0, 'refused posts use no tries');
});

async function awaiting(app: FastifyInstance, token: string): Promise<CookieJar> {
  const jar = new CookieJar();
  const res = await submitDob(app, token, jar);
  assert.equal(res.headers.location, `/${token}/code`);
  return jar;
}

test('codes sent under an older key still verify after the keys rotate', async (t) => {
  const { app, services, close } = await createTestApp();
  t.after(close);
  const c = await createTestConversation(services);
  const { second } = await secondDevice(app, c.token);
  const code = await latestSecurityCode(services, c.linkId);
  // Rotate: a new key first, the old one kept for checking.
  services.config.codeHmacKeys.unshift({ id: 'test2', secret: Buffer.alloc(32, 7) });
  const ok = await submitCode(app, c.token, second, code);
  assert.equal(ok.headers.location, `/${c.token}/conversation`);
});

test('concurrent wrong tries: at most 5 are ever compared (run on PostgreSQL for a real race)', async (t) => {
  const { app, services, close } = await createTestApp();
  t.after(close);
  const c = await createTestConversation(services);
  await secondDevice(app, c.token);
  const code = await latestSecurityCode(services, c.linkId);
  const results = await Promise.all(
    Array.from({ length: 12 }, () => checkSecurityCode(services.db, services.config.codeHmacKeys, c.linkId, wrongCode(code), services.now())),
  );
  const compared = results.filter((r) => r.kind === 'wrong' || r.kind === 'burned');
  assert.equal(compared.length, 5);
  assert.equal(results.filter((r) => r.kind === 'burned').length, 1);
  const [row] = await codes(services, c.linkId);
  assert.equal(row!.attempts, 5);
  assert.ok(row!.burnedAt);
});
