// The patient portal end to end: NHS login at the home page (the stand-in over real HTTP), the list of
// every conversation sent to that NHS number by every organisation, opening and replying, sign out,
// NHS login's session timings, and who may not.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { and, eq } from 'drizzle-orm';
import { createTestApp, TestClock } from '../../../test/helpers/app.ts';
import { CookieJar, createTestConversation, createTestOrganisation, TEST_PATIENT } from '../../../test/helpers/factories.ts';
import { get, postForm, textOf } from '../../../test/helpers/patient.ts';
import { nhsLoginThroughApp, startTestNhsLogin, type TestNhsLogin } from '../../../test/helpers/nhs-login.ts';
import { auditEvents } from '../../platform/db/schema.ts';
import { PORTAL_COOKIE } from '../verification/patient-pages.ts';

let nhsLogin: TestNhsLogin;
before(async () => {
  nhsLogin = await startTestNhsLogin();
});
after(() => nhsLogin.close());

const TOM = { nhsNumber: '9990000026', givenName: 'Tom', familyName: 'Evans', dateOfBirth: '1952-11-30', mobileNumber: '+447700900002' };

async function setup(t: { after: (fn: () => Promise<void>) => void }, opts: { now?: () => Date } = {}) {
  const testApp = await createTestApp({ config: nhsLogin.env, now: opts.now });
  t.after(testApp.close);
  return testApp;
}

async function signIn(app: Parameters<typeof nhsLoginThroughApp>[0], jar: CookieJar, label: RegExp = /^Priya Shah — P9/) {
  const { res } = await nhsLoginThroughApp(app, jar, '/portal', { identity: nhsLogin.identity(label) });
  return res;
}

test('the home page explains the service and offers Continue with NHS login', async (t) => {
  const { app } = await setup(t);
  const res = await get(app, '/', new CookieJar());
  assert.equal(res.statusCode, 200);
  const text = textOf(res.body);
  assert.match(text, /Messages from your GP surgery, hospital or NHS service/);
  assert.match(text, /Open the link in the text message/);
  assert.match(res.body, /<a href="\/nhs-login\/start\?returnTo=%2Fportal" class="dc-nhs-login-button"[^>]*>Continue with NHS login<\/a>/);
});

test('P9: the portal lists conversations from two organisations, newest first, and opens only this NHS number\'s', async (t) => {
  const clock = new TestClock();
  const { app, services } = await setup(t, { now: clock.now });
  const surgery = await createTestOrganisation(services, { name: 'Riverside Surgery' });
  const hospital = await createTestOrganisation(services, { name: 'City Hospital' });
  const older = await createTestConversation(services, { organisation: surgery, body: 'Please book your flu jab.', replyMode: 'once' });
  clock.advance(60 * 60_000);
  const newer = await createTestConversation(services, { organisation: hospital, body: 'Your appointment is on Monday.', replyMode: 'none' });
  const toms = await createTestConversation(services, { organisation: surgery, body: 'For Tom only.', patient: TOM });

  const jar = new CookieJar();
  const signedIn = await signIn(app, jar);
  assert.equal(signedIn.statusCode, 303);
  assert.equal(signedIn.headers.location, '/portal');
  assert.ok(jar.get(PORTAL_COOKIE));

  const list = await get(app, '/portal', jar);
  assert.equal(list.statusCode, 200);
  const text = textOf(list.body);
  assert.match(text, /Your messages/);
  assert.ok(text.indexOf('City Hospital') < text.indexOf('Riverside Surgery'), 'newest first');
  assert.match(text, /Reply needed/);
  assert.doesNotMatch(text, /For Tom only/);
  assert.match(list.body, new RegExp(`href="/portal/conversations/${older.conversationId}"`));
  assert.match(list.body, new RegExp(`href="/portal/conversations/${newer.conversationId}"`));
  assert.doesNotMatch(list.body, new RegExp(toms.conversationId));

  const opened = await get(app, `/portal/conversations/${older.conversationId}`, jar);
  assert.equal(opened.statusCode, 200);
  assert.match(textOf(opened.body), /Please book your flu jab\./);
  assert.match(textOf(opened.body), /This message is from Riverside Surgery/);
  const [read] = await services.db
    .select({ actorType: auditEvents.actorType, actorId: auditEvents.actorId })
    .from(auditEvents)
    .where(and(eq(auditEvents.type, 'message.read'), eq(auditEvents.conversationId, older.conversationId)));
  assert.equal(read?.actorType, 'patient_nhs_login');
  assert.equal(read?.actorId, nhsLogin.identity(/^Priya Shah — P9/).sub);

  // Another NHS number's conversation, and one that does not exist: not found.
  assert.equal((await get(app, `/portal/conversations/${toms.conversationId}`, jar)).statusCode, 404);
  assert.equal((await get(app, '/portal/conversations/00000000-0000-4000-8000-000000000000', jar)).statusCode, 404);
  assert.equal((await get(app, '/portal/conversations/not-a-uuid', jar)).statusCode, 404);
  const tomsReply = await postForm(app, `/portal/conversations/${toms.conversationId}/reply`, jar, { reply: 'Hello' }, { csrfPage: '/portal' });
  assert.equal(tomsReply.statusCode, 404);

  // Reply with the link page's rules: one reply for 'once', then none.
  const replied = await postForm(app, `/portal/conversations/${older.conversationId}/reply`, jar, { reply: 'I have booked it.' }, { csrfPage: `/portal/conversations/${older.conversationId}` });
  assert.equal(replied.statusCode, 303);
  assert.equal(replied.headers.location, `/portal/conversations/${older.conversationId}?replied=1`);
  const after = await get(app, `/portal/conversations/${older.conversationId}?replied=1`, jar);
  assert.match(textOf(after.body), /Your reply has been sent/);
  assert.match(textOf(after.body), /I have booked it\./);
  const second = await postForm(app, `/portal/conversations/${older.conversationId}/reply`, jar, { reply: 'Again' }, { csrfPage: '/portal' });
  assert.equal(second.statusCode, 409);
  const empty = await postForm(app, `/portal/conversations/${newer.conversationId}/reply`, jar, { reply: 'No' }, { csrfPage: '/portal' });
  assert.equal(empty.statusCode, 409, "'none' allows no reply");
  assert.doesNotMatch(textOf((await get(app, '/portal', jar)).body), /Reply needed/);
});

test('P5: a page saying NHS login could not confirm the identity, and no portal session', async (t) => {
  const { app } = await setup(t);
  const jar = new CookieJar();
  const res = await signIn(app, jar, /— P5/);
  assert.equal(res.statusCode, 403);
  assert.match(textOf(res.body), /NHS login could not confirm your identity strongly enough/);
  assert.equal(jar.get(PORTAL_COOKIE), undefined);
  const portal = await get(app, '/portal', jar);
  assert.equal(portal.statusCode, 303);
  assert.equal(portal.headers.location, '/');
});

test('cancelled at NHS login from the home page: a page that leads back to the home page', async (t) => {
  const { app } = await setup(t);
  const jar = new CookieJar();
  const { res } = await nhsLoginThroughApp(app, jar, '/portal', { cancel: true });
  assert.equal(res.statusCode, 400);
  assert.match(textOf(res.body), /You did not finish logging in/);
  assert.match(res.body, /<a href="\/">Go back and try again<\/a>/);
  assert.equal(jar.get(PORTAL_COOKIE), undefined);
});

test('a portal session ends after 30 minutes idle: back to the home page, which says to sign in again', async (t) => {
  const clock = new TestClock();
  const { app } = await setup(t, { now: clock.now });
  const jar = new CookieJar();
  await signIn(app, jar);
  clock.advance(29 * 60_000);
  assert.equal((await get(app, '/portal', jar)).statusCode, 200);
  clock.advance(29 * 60_000);
  assert.equal((await get(app, '/portal', jar)).statusCode, 200, 'each request restarts the idle timer');
  clock.advance(30 * 60_000 + 1000);
  const expired = await get(app, '/portal', jar);
  assert.equal(expired.statusCode, 303);
  assert.equal(expired.headers.location, '/?session=expired');
  const home = await get(app, '/?session=expired', jar);
  assert.match(textOf(home.body), /For your security, you need to sign in again/);
  assert.equal((await get(app, '/portal', jar)).headers.location, '/');
});

test('a portal session ends 12 hours after sign-in, however active', async (t) => {
  const clock = new TestClock();
  const { app } = await setup(t, { now: clock.now });
  const jar = new CookieJar();
  await signIn(app, jar);
  for (let minutes = 25; minutes < 12 * 60; minutes += 25) {
    clock.advance(25 * 60_000);
    assert.equal((await get(app, '/portal', jar)).statusCode, 200, `still signed in after ${minutes} minutes`);
  }
  clock.advance(25 * 60_000);
  const expired = await get(app, '/portal', jar);
  assert.equal(expired.statusCode, 303);
  assert.equal(expired.headers.location, '/?session=expired');
});

test('signing in again gives a new session token; the old one stops working', async (t) => {
  const { app } = await setup(t);
  const jar = new CookieJar();
  await signIn(app, jar);
  const first = jar.get(PORTAL_COOKIE)!;
  const old = jar.clone();
  await signIn(app, jar);
  assert.notEqual(jar.get(PORTAL_COOKIE), first);
  assert.equal((await get(app, '/portal', jar)).statusCode, 200);
  assert.equal((await get(app, '/portal', old)).statusCode, 303);
});

test('sign out ends the session and says so', async (t) => {
  const { app } = await setup(t);
  const jar = new CookieJar();
  await signIn(app, jar);
  const kept = jar.clone();
  const res = await postForm(app, '/portal/sign-out', jar, {}, { csrfPage: '/portal' });
  assert.equal(res.statusCode, 303);
  assert.equal(res.headers.location, '/portal/signed-out');
  assert.equal(jar.get(PORTAL_COOKIE), undefined);
  const page = await get(app, '/portal/signed-out', jar);
  assert.match(textOf(page.body), /You have signed out/);
  // The session is gone on the server too, not just the cookie.
  const reused = await get(app, '/portal', kept);
  assert.equal(reused.statusCode, 303);
  assert.equal(reused.headers.location, '/');
});

test('portal forms need the CSRF token', async (t) => {
  const { app, services } = await setup(t);
  const conversation = await createTestConversation(services);
  const jar = new CookieJar();
  await signIn(app, jar);
  const noToken = await postForm(app, '/portal/sign-out', jar, {}, { csrf: null });
  assert.equal(noToken.statusCode, 403);
  const wrong = await postForm(app, `/portal/conversations/${conversation.conversationId}/reply`, jar, { reply: 'Hi' }, { csrf: 'not-the-token' });
  assert.equal(wrong.statusCode, 403);
  assert.match(textOf(wrong.body), /Your form could not be sent/);
  assert.equal((await get(app, '/portal', jar)).statusCode, 200, 'still signed in');
  assert.doesNotMatch(textOf((await get(app, `/portal/conversations/${conversation.conversationId}`, jar)).body), /You replied/);
});

test('without a portal session every portal route sends the browser to the home page', async (t) => {
  const { app, services } = await setup(t);
  const conversation = await createTestConversation(services, { patient: { ...TEST_PATIENT } });
  const jar = new CookieJar();
  for (const url of ['/portal', `/portal/conversations/${conversation.conversationId}`, '/portal/conversations/not-a-uuid']) {
    const res = await get(app, url, jar);
    assert.equal(res.statusCode, 303, url);
    assert.equal(res.headers.location, '/');
  }
  // A valid CSRF token (from any form), but no session.
  const reply = await postForm(app, `/portal/conversations/${conversation.conversationId}/reply`, jar, { reply: 'Hi' }, { csrfPage: `/${conversation.token}` });
  assert.equal(reply.statusCode, 303);
  assert.equal(reply.headers.location, '/');
  // A link session does not open the portal.
  const linkJar = new CookieJar();
  await postForm(app, `/${conversation.token}`, linkJar, { 'dob[day]': '12', 'dob[month]': '3', 'dob[year]': '1984' }, { csrfPage: `/${conversation.token}` });
  assert.equal((await get(app, '/portal', linkJar)).headers.location, '/');
});

