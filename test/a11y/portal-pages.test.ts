// Every patient-facing page of the patient portal and of NHS login, in every state, in a real browser:
// the home page (signed out, session expired), the portal's list (with messages, and none), a
// conversation opened from the portal (each reply state), signing out, and every page NHS login can end
// on — the identity is not the link's patient, not proved strongly enough (P5), cancelled, an error
// from NHS login, a sign-in that took too long, was used twice or was never started, and a link that
// stopped working while the patient was at NHS login. For each: checkPage() (axe WCAG 2.2 AA, page
// title, error summary, reflow at 320 px and at 200 % text).
//
// NHS login is the local stand-in (a real OpenID Provider, oidc-provider) over HTTP, driven through its
// own sign-in page in the browser exactly as a patient would: nothing is mocked.
import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'drizzle-orm';
import type { Page } from 'playwright-core';
import { freePort } from '../helpers/server.ts';
import { startTestNhsLogin, type TestNhsLogin } from '../helpers/nhs-login.ts';
import { createTestConversation, createTestOrganisation } from '../helpers/factories.ts';
import { REPLY_BODY_MAX } from '../../src/features/messages/messages.service.ts';
import { NHS_LOGIN_STATE_COOKIE } from '../../src/features/nhs-login/nhs-login.routes.ts';
import { NHS_LOGIN_TRANSACTION_TTL_MS } from '../../src/features/nhs-login/nhs-login.service.ts';
import { PORTAL_IDLE_MINUTES } from '../../src/features/verification/portal-sessions.service.ts';
import { checkPage, clickAndWait, newLink, open, startRig, type A11yRig } from './a11y-support.ts';

// The stand-in's test identities (defaultStandInIdentities): Priya Shah is TEST_PATIENT, whom the
// factories send every message to; Sam Taylor's NHS number belongs to no patient; Tom Evans at P5.
const PRIYA = /^Priya Shah — P9/;
const SAM = /^Sam Taylor/;
const P5 = /— P5/;

let rig: A11yRig;
let nhsLogin: TestNhsLogin;

before(async () => {
  // The stand-in must know the app's redirect URI, so the app's port is chosen first.
  const port = await freePort();
  nhsLogin = await startTestNhsLogin({ publicBaseUrl: `http://localhost:${port}` });
  rig = await startRig({ port, config: nhsLogin.env });
});
after(async () => {
  await rig?.close();
  await nhsLogin?.close();
});
// Every request comes from one address; forget link look-ups so the limit (60 a minute) is not hit.
beforeEach(async () => {
  await rig.forgetLookups();
});

const iso = (d: Date) => d.toISOString();
const now = () => rig.server.services.now();

/** "Continue with NHS login" on the page shown, as far as the stand-in's sign-in page. */
async function toNhsLogin(page: Page): Promise<void> {
  await page.getByRole('link', { name: 'Continue with NHS login' }).click();
  await page.waitForURL(/\/interaction\//);
}

/** On the stand-in's page: choose a test identity and continue, back to the service. */
async function chooseIdentity(page: Page, label: RegExp): Promise<void> {
  await page.getByLabel(label).check();
  await clickAndWait(page, page.getByRole('button', { name: 'Continue' }));
  assert.ok(page.url().startsWith(rig.baseUrl), `back at the service (${page.url()})`);
}

/** On the stand-in's page: cancel, back to the service. */
async function cancelAtNhsLogin(page: Page): Promise<void> {
  await clickAndWait(page, page.getByRole('button', { name: 'Cancel' }));
  assert.ok(page.url().startsWith(rig.baseUrl), `back at the service (${page.url()})`);
}

/** A new browser signed in to the portal from the home page. */
async function portalAs(label: RegExp): Promise<Page> {
  const page = await rig.newPage();
  await open(rig, page, '/');
  await toNhsLogin(page);
  await chooseIdentity(page, label);
  assert.equal(page.url(), `${rig.baseUrl}/portal`);
  return page;
}

/**
 * An error from NHS login itself: "Continue with NHS login", then the same authorisation request again
 * with prompt=none. The stand-in cannot sign anyone in without asking, so, as an OpenID Provider must,
 * it sends the browser back to the service's callback with an error (interaction_required: not a
 * cancellation, which is access_denied).
 */
async function errorFromNhsLogin(page: Page): Promise<void> {
  let authorisation: string | undefined;
  const seen = (request: { url(): string }) => {
    const url = new URL(request.url());
    if (url.origin === nhsLogin.standIn.issuer && url.searchParams.has('state') && url.searchParams.has('code_challenge')) authorisation ??= url.href;
  };
  page.on('request', seen);
  await toNhsLogin(page);
  page.off('request', seen);
  assert.ok(authorisation, 'the authorisation request to NHS login');
  const silent = new URL(authorisation);
  silent.searchParams.set('prompt', 'none');
  await page.goto(silent.href);
  await page.waitForURL(/\/nhs-login\/callback\?/);
  const error = new URL(page.url()).searchParams.get('error');
  assert.ok(error && error !== 'access_denied', `NHS login sent an error (${error})`);
}

test('home page and the portal signed out', async () => {
  const page = await rig.newPage();
  await open(rig, page, '/', 200);
  await checkPage(page, 'home page', { title: 'Messages from your GP surgery, hospital or NHS service', reflow: true });
  await open(rig, page, '/portal', 200);
  assert.equal(page.url(), `${rig.baseUrl}/`, 'the portal sends a signed-out browser to the home page');
  await checkPage(page, 'portal, signed out', { title: 'Messages from your GP surgery, hospital or NHS service', reflow: true });
  await open(rig, page, '/portal/conversations/00000000-0000-4000-8000-000000000000', 200);
  assert.equal(page.url(), `${rig.baseUrl}/`);
});

test('portal: no messages, then messages from several organisations, and signing out', async () => {
  const empty = await portalAs(SAM);
  assert.match(await empty.locator('main').innerText(), /You have no messages/);
  await checkPage(empty, 'portal, no messages', { title: 'Your messages', reflow: true });

  const { services } = rig.server;
  // Long names, as real NHS organisations have, in a table that must still fit a 320 px screen.
  const trust = await createTestOrganisation(services, { name: 'Royal Devon University Healthcare NHS Foundation Trust' });
  const surgery = await createTestOrganisation(services, { name: 'Riverside Medical Practice' });
  await createTestConversation(services, { organisation: trust, replyMode: 'none', body: 'Your appointment is on Monday 7 December at 10:30am.' });
  await createTestConversation(services, { organisation: surgery, replyMode: 'once' });
  const page = await portalAs(PRIYA);
  const list = await page.locator('main').innerText();
  assert.match(list, /Royal Devon University Healthcare NHS Foundation Trust/);
  assert.match(list, /Reply needed/);
  await checkPage(page, 'portal with messages', { title: 'Your messages', reflow: true });

  await clickAndWait(page, page.locator('main').getByRole('button', { name: 'Sign out' }));
  assert.equal(page.url(), `${rig.baseUrl}/portal/signed-out`);
  await checkPage(page, 'portal, signed out', { title: 'You have signed out', reflow: true });
});

test('a conversation opened from the portal: each reply state', async () => {
  const { services } = rig.server;
  const organisation = await createTestOrganisation(services, { name: 'Hillside Surgery' });
  const once = await createTestConversation(services, { organisation, replyMode: 'once', body: 'Please tell us if you can come in on Tuesday.' });
  const none = await createTestConversation(services, { organisation, replyMode: 'none' });
  const conversation = await createTestConversation(services, { organisation, replyMode: 'conversation' });
  const page = await portalAs(PRIYA);

  await open(rig, page, `/portal/conversations/${once.conversationId}`, 200);
  await checkPage(page, 'portal message, one reply allowed', { title: 'Message from Hillside Surgery', reflow: true });
  // The same message in a second tab, its form still shown after the reply is sent from the first.
  const secondTab = await page.context().newPage();
  await open(rig, secondTab, `/portal/conversations/${once.conversationId}`, 200);

  const send = async (on: Page, text: string) => {
    await on.getByLabel('Reply to Hillside Surgery').fill(text);
    await clickAndWait(on, on.getByRole('button', { name: 'Send reply' }));
  };
  await send(page, '');
  await checkPage(page, 'portal message, reply empty', { errors: true, firstErrorHref: '#reply', reflow: true });
  await send(page, 'a'.repeat(REPLY_BODY_MAX + 1));
  await checkPage(page, 'portal message, reply too long', { errors: true, firstErrorHref: '#reply', reflow: true });
  await send(page, 'Yes, Tuesday is fine. Thank you.');
  assert.match(page.url(), /\?replied=1$/);
  assert.match(await page.locator('main').innerText(), /Your reply has been sent/);
  await checkPage(page, 'portal message, reply sent', { title: 'Message from Hillside Surgery', reflow: true });

  await send(secondTab, 'Sorry, one more thing.');
  assert.match(await secondTab.locator('main').innerText(), /Your reply was not sent/);
  await checkPage(secondTab, 'portal message, a second reply refused', { title: 'Message from Hillside Surgery', reflow: true });

  await open(rig, page, `/portal/conversations/${none.conversationId}`, 200);
  assert.match(await page.locator('main').innerText(), /You cannot reply to this message/);
  await checkPage(page, 'portal message, no reply allowed', { title: 'Message from Hillside Surgery', reflow: true });

  await open(rig, page, `/portal/conversations/${conversation.conversationId}`, 200);
  await send(page, 'Thank you. Is Tuesday OK?');
  assert.match(await page.locator('main').innerText(), /Your replies/);
  assert.equal(await page.getByRole('button', { name: 'Send reply' }).count(), 1, 'the form is still shown');
  await checkPage(page, 'portal message, a conversation with a reply', { title: 'Message from Hillside Surgery', reflow: true });

  await open(rig, page, '/portal/conversations/00000000-0000-4000-8000-000000000000', 404);
  await checkPage(page, 'portal message not found', { title: 'Page not found', reflow: true });
});

test('portal session expired after being idle', async () => {
  const page = await portalAs(PRIYA);
  rig.advance((PORTAL_IDLE_MINUTES + 1) * 60_000);
  await open(rig, page, '/portal', 200);
  assert.equal(page.url(), `${rig.baseUrl}/?session=expired`);
  assert.match(await page.locator('main').innerText(), /You need to sign in again/);
  await checkPage(page, 'home page, portal session expired', { title: 'Messages from your GP surgery, hospital or NHS service', reflow: true });
});

test('NHS login from the home page: P5, cancelled, an error from NHS login', async () => {
  const page = await rig.newPage();
  await open(rig, page, '/');
  await toNhsLogin(page);
  await chooseIdentity(page, P5);
  assert.match(await page.locator('main').innerText(), /could not confirm your identity strongly enough/);
  await checkPage(page, 'NHS login not strong enough (portal)', { title: 'NHS login could not confirm your identity', reflow: true });

  await open(rig, page, '/');
  await toNhsLogin(page);
  await cancelAtNhsLogin(page);
  await checkPage(page, 'NHS login cancelled (portal)', { title: 'You did not finish logging in', reflow: true });

  await open(rig, page, '/');
  await errorFromNhsLogin(page);
  assert.match(await page.locator('main').innerText(), /NHS login could not log you in/);
  await checkPage(page, 'error from NHS login (portal)', { title: 'There is a problem with NHS login', reflow: true });
});

test('NHS login sign-ins that cannot finish: took too long, used twice, never started, nowhere to return to', async () => {
  const page = await rig.newPage();
  await open(rig, page, '/');
  await toNhsLogin(page);
  rig.advance(NHS_LOGIN_TRANSACTION_TTL_MS + 60_000);
  await chooseIdentity(page, PRIYA);
  assert.match(await page.locator('main').innerText(), /took too long/);
  await checkPage(page, 'NHS login took too long', { title: 'There is a problem with NHS login', reflow: true });

  // The same callback twice, with the browser's state put back: the second is refused.
  await open(rig, page, '/');
  await toNhsLogin(page);
  const state = (await page.context().cookies()).find((c) => c.name === NHS_LOGIN_STATE_COOKIE);
  assert.ok(state, 'the browser keeps the sign-in state');
  let callback: string | undefined;
  page.on('request', (request) => {
    if (request.url().startsWith(`${rig.baseUrl}/nhs-login/callback?`)) callback ??= request.url();
  });
  await chooseIdentity(page, PRIYA);
  assert.equal(page.url(), `${rig.baseUrl}/portal`);
  assert.ok(callback, 'the callback was seen');
  await page.context().addCookies([state]);
  await open(rig, page, callback.slice(rig.baseUrl.length), 400);
  assert.match(await page.locator('main').innerText(), /already been used/);
  await checkPage(page, 'NHS login used twice', { title: 'There is a problem with NHS login', reflow: true });

  // A callback in a browser that never started a sign-in (e.g. an old bookmark).
  const stranger = await rig.newPage();
  await open(rig, stranger, callback.slice(rig.baseUrl.length), 400);
  assert.match(await stranger.locator('main').innerText(), /We could not finish logging you in with NHS login/);
  await checkPage(stranger, 'NHS login never started', { title: 'There is a problem with NHS login', reflow: true });

  await open(rig, stranger, `/nhs-login/start?returnTo=${encodeURIComponent('/staff')}`, 400);
  await checkPage(stranger, 'NHS login with nowhere to return to', { title: 'We could not start logging you in with NHS login', reflow: true });
});

test('NHS login from a link: the button, someone else, P5, cancelled, an error, link stopped working', async () => {
  const page = await rig.newPage();
  const link = await newLink(rig);
  await open(rig, page, `/${link.token}`, 200);
  assert.equal(await page.getByRole('link', { name: 'Continue with NHS login' }).count(), 1);
  await checkPage(page, 'date of birth with NHS login', { title: 'What is your date of birth?', reflow: true });

  await toNhsLogin(page);
  await chooseIdentity(page, SAM);
  assert.match(await page.locator('main').innerText(), /not for the person this message was sent to/);
  await checkPage(page, 'NHS login is someone else', { title: 'This NHS login is not for the person this message was sent to', reflow: true });

  await open(rig, page, `/${link.token}`);
  await toNhsLogin(page);
  await chooseIdentity(page, P5);
  assert.equal(await page.getByRole('link', { name: 'Use your date of birth instead' }).count(), 1);
  await checkPage(page, 'NHS login not strong enough (link)', { title: 'NHS login could not confirm your identity', reflow: true });

  await open(rig, page, `/${link.token}`);
  await toNhsLogin(page);
  await cancelAtNhsLogin(page);
  assert.match(await page.locator('main').innerText(), /open your message with your date of birth/);
  await checkPage(page, 'NHS login cancelled (link)', { title: 'You did not finish logging in', reflow: true });

  await open(rig, page, `/${link.token}`);
  await errorFromNhsLogin(page);
  await checkPage(page, 'error from NHS login (link)', { title: 'There is a problem with NHS login', reflow: true });

  // The link is revoked while the patient is at NHS login.
  await open(rig, page, `/${link.token}`);
  await toNhsLogin(page);
  await rig.exec(sql`UPDATE links SET revoked_at = ${iso(now())} WHERE id = ${link.linkId}`);
  await chooseIdentity(page, PRIYA);
  await checkPage(page, 'link revoked during NHS login', { title: 'This link no longer works', reflow: true });
});
