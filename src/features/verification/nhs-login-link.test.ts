// "Continue with NHS login" from a link, end to end: the app (app.inject) and the NHS login stand-in
// over real HTTP. P9 + the patient's NHS number opens the message with no code and trusts the device;
// anyone else, or anything less, gets a clear page and no session.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { and, eq } from 'drizzle-orm';
import { createTestApp, TestClock } from '../../../test/helpers/app.ts';
import { CookieJar, createTestConversation, TEST_PATIENT } from '../../../test/helpers/factories.ts';
import { firstDevice, get, submitDob, textOf } from '../../../test/helpers/patient.ts';
import { nhsLoginThroughApp, nhsLoginUpToCallback, startTestNhsLogin, type TestNhsLogin } from '../../../test/helpers/nhs-login.ts';
import { auditEvents, links, nhsLoginTransactions, outboundSms } from '../../platform/db/schema.ts';
import { NHS_LOGIN_STATE_COOKIE } from '../nhs-login/nhs-login.routes.ts';
import { NHS_LOGIN_STARTS_PER_MINUTE } from '../nhs-login/nhs-login.service.ts';
import { revokeConversationLinks } from '../links/links.service.ts';
import type { Services } from '../../services.ts';
import { DEVICE_COOKIE, SESSION_COOKIE } from './patient-pages.ts';

let nhsLogin: TestNhsLogin;
before(async () => {
  nhsLogin = await startTestNhsLogin();
});
after(() => nhsLogin.close());

async function setup(t: { after: (fn: () => Promise<void>) => void }, opts: { now?: () => Date; logLines?: string[]; patient?: Partial<typeof TEST_PATIENT> } = {}) {
  const testApp = await createTestApp({ config: nhsLogin.env, now: opts.now, logLines: opts.logLines });
  t.after(testApp.close);
  const conversation = await createTestConversation(testApp.services, { body: 'Your blood test results are normal.', patient: opts.patient });
  return { ...testApp, conversation };
}

async function auditTypes(services: Services, conversationId: string): Promise<string[]> {
  const rows = await services.db.select({ type: auditEvents.type, details: auditEvents.details }).from(auditEvents).where(eq(auditEvents.conversationId, conversationId));
  return rows.map((r) => (r.type === 'device.trusted' ? `device.trusted:${String(r.details.how)}` : r.type));
}

async function linkRow(services: Services, linkId: string) {
  const [row] = await services.db.select().from(links).where(eq(links.id, linkId));
  return row!;
}

async function codesSent(services: Services, linkId: string): Promise<number> {
  const rows = await services.db.select({ id: outboundSms.id }).from(outboundSms).where(and(eq(outboundSms.linkId, linkId), eq(outboundSms.kind, 'security_code')));
  return rows.length;
}

test('the date-of-birth page offers Continue with NHS login for this link', async (t) => {
  const { app, conversation } = await setup(t);
  const res = await get(app, `/${conversation.token}`, new CookieJar());
  assert.equal(res.statusCode, 200);
  assert.match(textOf(res.body), /Or use NHS login/);
  assert.match(res.body, new RegExp(`<a href="/nhs-login/start\\?returnTo=%2F${conversation.token}%2Fnhs-login" class="dc-nhs-login-button"[^>]*>Continue with NHS login</a>`));
});

test('P9 with the patient\'s NHS number on a new browser: the message opens with no code, and this browser becomes the trusted device', async (t) => {
  const { app, services, conversation } = await setup(t);
  const { token, linkId } = conversation;
  const deviceA = await firstDevice(app, token);

  const deviceB = new CookieJar();
  const { res } = await nhsLoginThroughApp(app, deviceB, `/${token}/nhs-login`, { identity: nhsLogin.identity(/^Priya Shah — P9/) });
  assert.equal(res.statusCode, 303);
  assert.equal(res.headers.location, `/${token}/conversation`);
  assert.ok(deviceB.get(SESSION_COOKIE), 'a session cookie');
  assert.ok(deviceB.get(DEVICE_COOKIE), 'a device cookie');
  const message = await get(app, `/${token}/conversation`, deviceB);
  assert.equal(message.statusCode, 200);
  assert.match(textOf(message.body), /Your blood test results are normal\./);
  assert.equal(await codesSent(services, linkId), 0, 'no security code was sent');
  assert.deepEqual((await auditTypes(services, conversation.conversationId)).filter((t) => t.startsWith('nhs_login') || t.startsWith('device')), [
    'device.trusted:first_device',
    'nhs_login.verified',
    'device.trusted:nhs_login',
  ]);

  // Later, the same browser needs only the date of birth: it is the trusted device.
  const again = await submitDob(app, token, deviceB);
  assert.equal(again.statusCode, 303);
  assert.equal(again.headers.location, `/${token}/conversation`);
  // And the browser that was trusted before now needs a security code, and is told why.
  const old = await submitDob(app, token, deviceA);
  assert.equal(old.statusCode, 303);
  assert.equal(old.headers.location, `/${token}/code?moved=1`);
  const told = textOf((await get(app, old.headers.location, deviceA)).body);
  assert.match(told, /This device was the trusted device for this link, but the link has since been opened on another phone, tablet or computer/);
});

test('an NHS login for someone else: a page that reveals nothing sent, says who sent it, counted like a wrong date of birth, no session', async (t) => {
  const { app, services, conversation } = await setup(t);
  const { token, linkId } = conversation;
  const jar = new CookieJar();
  const { res } = await nhsLoginThroughApp(app, jar, `/${token}/nhs-login`, { identity: nhsLogin.identity(/^Sam Taylor/) });
  assert.equal(res.statusCode, 403);
  const text = textOf(res.body);
  assert.match(text, /This NHS login is not for the person this message was sent to/);
  assert.match(text, /Use your date of birth instead/);
  assert.match(res.body, new RegExp(`href="/${token}"`));
  // Who sent it and how to reach them, as the link's own date-of-birth page already showed; tries left.
  assert.match(text, new RegExp(`Message from ${conversation.organisation.name}`));
  assert.match(text, /contact .* on 01234 567890/);
  assert.match(text, /You have 4 more tries before the link is locked for 30 minutes/);
  for (const secret of [TEST_PATIENT.givenName, TEST_PATIENT.familyName, 'blood test', TEST_PATIENT.nhsNumber]) {
    assert.ok(!text.includes(secret), `the page does not show ${secret}`);
  }
  assert.equal(jar.get(SESSION_COOKIE), undefined);
  const row = await linkRow(services, linkId);
  assert.equal(row.dobFailuresInARow, 1);
  assert.equal(row.dobFailuresTotal, 1);
  assert.ok((await auditTypes(services, conversation.conversationId)).includes('nhs_login.mismatch'));
  const message = await get(app, `/${token}/conversation`, jar);
  assert.equal(message.statusCode, 303);
  assert.equal(message.headers.location, `/${token}`);
});

test('an NHS login for someone else on the fifth failure in a row locks the link, as a wrong date of birth would', async (t) => {
  const { app, services, conversation } = await setup(t);
  await services.db.update(links).set({ dobFailuresInARow: 4, dobFailuresTotal: 4 }).where(eq(links.id, conversation.linkId));
  const { res } = await nhsLoginThroughApp(app, new CookieJar(), `/${conversation.token}/nhs-login`, { identity: nhsLogin.identity(/^Sam Taylor/) });
  assert.equal(res.statusCode, 423);
  assert.match(textOf(res.body), /This link is locked/);
  assert.ok((await linkRow(services, conversation.linkId)).lockedUntil);
  assert.ok((await auditTypes(services, conversation.conversationId)).includes('link.locked'));

  // Locked: even the right person is refused until the lock ends.
  const right = await nhsLoginThroughApp(app, new CookieJar(), `/${conversation.token}/nhs-login`, { identity: nhsLogin.identity(/^Priya Shah — P9/) });
  assert.equal(right.res.statusCode, 423);
});

test('P5 (identity not fully checked): a page offering the date of birth, nothing counted, no session', async (t) => {
  const { app, services, conversation } = await setup(t, {
    patient: { nhsNumber: '9990000026', givenName: 'Tom', familyName: 'Evans', dateOfBirth: '1952-11-30', mobileNumber: '+447700900002' },
  });
  const jar = new CookieJar();
  const { res } = await nhsLoginThroughApp(app, jar, `/${conversation.token}/nhs-login`, { identity: nhsLogin.identity(/— P5/) });
  assert.equal(res.statusCode, 403);
  const text = textOf(res.body);
  assert.match(text, /NHS login could not confirm your identity strongly enough/);
  assert.match(text, /Use your date of birth instead/);
  assert.match(res.body, new RegExp(`href="/${conversation.token}"`));
  assert.equal(jar.get(SESSION_COOKIE), undefined);
  assert.equal((await linkRow(services, conversation.linkId)).dobFailuresTotal, 0);
  assert.ok((await auditTypes(services, conversation.conversationId)).includes('nhs_login.not_strong'));
});

test('cancelled at NHS login: a page that says so and leads back to the link', async (t) => {
  const { app, conversation } = await setup(t);
  const jar = new CookieJar();
  const { res } = await nhsLoginThroughApp(app, jar, `/${conversation.token}/nhs-login`, { cancel: true });
  assert.equal(res.statusCode, 400);
  const text = textOf(res.body);
  assert.match(text, /You did not finish logging in/);
  assert.match(text, /You can also open your message with your date of birth/);
  assert.match(res.body, new RegExp(`<a href="/${conversation.token}">Go back and try again</a>`));
  assert.equal(jar.get(SESSION_COOKIE), undefined);
});

test('a callback whose state is not this browser\'s: a clear page, no session', async (t) => {
  const { app, conversation } = await setup(t);
  const jar = new CookieJar();
  const first = await nhsLoginUpToCallback(app, jar, `/${conversation.token}/nhs-login`, { identity: nhsLogin.identity(/^Priya Shah — P9/) });
  // The browser starts again: its state cookie is now the second sign-in's.
  await nhsLoginUpToCallback(app, jar, `/${conversation.token}/nhs-login`, { identity: nhsLogin.identity(/^Priya Shah — P9/) });
  const res = await get(app, first.callbackPath, jar);
  assert.equal(res.statusCode, 400);
  assert.match(textOf(res.body), /We could not finish logging you in with NHS login. Start again/);
  assert.equal(jar.get(SESSION_COOKIE), undefined);

  // A callback in a browser that never started.
  const stranger = await get(app, first.callbackPath, new CookieJar());
  assert.equal(stranger.statusCode, 400);
  assert.match(textOf(stranger.body), /We could not finish logging you in with NHS login. Start again/);
});

test('a replayed callback (same URL, same state cookie) is refused with a clear page', async (t) => {
  const { app, conversation } = await setup(t);
  const jar = new CookieJar();
  const { res, callbackPath, jarBeforeCallback } = await nhsLoginThroughApp(app, jar, `/${conversation.token}/nhs-login`, { identity: nhsLogin.identity(/^Priya Shah — P9/) });
  assert.equal(res.statusCode, 303);
  const replayer = jarBeforeCallback.clone();
  const again = await get(app, callbackPath, replayer);
  assert.equal(again.statusCode, 400);
  assert.match(textOf(again.body), /This NHS login has already been used. Start again/);
  assert.match(again.body, new RegExp(`href="/${conversation.token}"`));
  assert.equal(replayer.get(SESSION_COOKIE), undefined);
});

test('a sign-in that took longer than 15 minutes is refused', async (t) => {
  const clock = new TestClock();
  const { app, conversation } = await setup(t, { now: clock.now });
  const jar = new CookieJar();
  const { callbackPath } = await nhsLoginUpToCallback(app, jar, `/${conversation.token}/nhs-login`, { identity: nhsLogin.identity(/^Priya Shah — P9/) });
  clock.advance(16 * 60_000);
  const res = await get(app, callbackPath, jar);
  assert.equal(res.statusCode, 400);
  assert.match(textOf(res.body), /Logging in with NHS login took too long. Start again/);
  assert.equal(jar.get(SESSION_COOKIE), undefined);
});

test('a revoked link still refuses after NHS login', async (t) => {
  const { app, services, conversation } = await setup(t);
  const jar = new CookieJar();
  const { callbackPath } = await nhsLoginUpToCallback(app, jar, `/${conversation.token}/nhs-login`, { identity: nhsLogin.identity(/^Priya Shah — P9/) });
  await revokeConversationLinks(services.db, conversation.conversationId, services.now());
  const res = await get(app, callbackPath, jar);
  assert.equal(res.statusCode, 410);
  assert.match(textOf(res.body), /This link no longer works/);
  assert.equal(jar.get(SESSION_COOKIE), undefined);
});

test('start refuses a returnTo that is not a link or the portal', async (t) => {
  const { app } = await setup(t);
  for (const returnTo of ['/not-a-token/nhs-login', '/staff', '//evil.example/', 'https://evil.example/']) {
    const res = await app.inject({ method: 'GET', url: `/nhs-login/start?returnTo=${encodeURIComponent(returnTo)}` });
    assert.equal(res.statusCode, 400, returnTo);
    assert.match(textOf(res.body), /We could not start logging you in with NHS login/);
  }
});

test('the link token never reaches the logs', async (t) => {
  const logLines: string[] = [];
  const { app, conversation } = await setup(t, { logLines });
  const jar = new CookieJar();
  await get(app, `/${conversation.token}`, jar);
  await nhsLoginThroughApp(app, jar, `/${conversation.token}/nhs-login`, { identity: nhsLogin.identity(/^Priya Shah — P9/) });
  await nhsLoginThroughApp(app, new CookieJar(), `/${conversation.token}/nhs-login`, { identity: nhsLogin.identity(/^Sam Taylor/) });
  assert.ok(logLines.length > 0);
  const all = logLines.join('\n');
  assert.ok(!all.includes(conversation.token), 'no token in the logs');
  assert.ok(!all.includes(TEST_PATIENT.nhsNumber), 'no NHS number in the logs');
});

test('GET /nhs-login/start is limited per address: past the limit a clear page, a Retry-After, no new sign-in row, and the date of birth offered', async (t) => {
  const clock = new TestClock();
  const { app, services, conversation } = await setup(t, { now: clock.now });
  const startFrom = (remoteAddress: string) =>
    app.inject({ method: 'GET', url: `/nhs-login/start?returnTo=${encodeURIComponent(`/${conversation.token}/nhs-login`)}`, remoteAddress });
  for (let i = 0; i < NHS_LOGIN_STARTS_PER_MINUTE; i++) {
    assert.equal((await startFrom('198.51.100.7')).statusCode, 302, `start ${i + 1} is allowed`);
  }
  const rowsBefore = (await services.db.select({ stateHash: nhsLoginTransactions.stateHash }).from(nhsLoginTransactions)).length;
  assert.equal(rowsBefore, NHS_LOGIN_STARTS_PER_MINUTE);

  const limited = await startFrom('198.51.100.7');
  assert.equal(limited.statusCode, 429);
  const retryAfter = Number(limited.headers['retry-after']);
  assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${limited.headers['retry-after']}`);
  const text = textOf(limited.body);
  assert.match(text, /There have been too many tries to log in with NHS login from your internet connection\. Wait a minute, then try again/);
  assert.match(text, /Use your date of birth instead/);
  assert.match(limited.body, new RegExp(`href="/${conversation.token}"`));
  assert.equal(limited.headers.location, undefined, 'not sent to NHS login');
  assert.ok(![limited.headers['set-cookie'] ?? []].flat().some((c) => c.startsWith(`${NHS_LOGIN_STATE_COOKIE}=`)), 'no state cookie');
  assert.equal((await services.db.select({ stateHash: nhsLoginTransactions.stateHash }).from(nhsLoginTransactions)).length, rowsBefore, 'no row written');

  // Another address is not affected, and the limited one may start again in the next minute.
  assert.equal((await startFrom('198.51.100.8')).statusCode, 302);
  clock.advance(60_000);
  assert.equal((await startFrom('198.51.100.7')).statusCode, 302);
});
