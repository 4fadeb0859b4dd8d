// A new session comes with a new CSRF secret (issue 10, item 13). The secret lives in the signed
// __Host-dovecote-csrf cookie; until it is replaced at sign-in, a token handed out before sign-in
// (read off a shared computer, or planted by an attacker who signed the browser in to an account of
// theirs: login CSRF, fixation) would keep working after it. Each test takes a token before the
// session starts, then shows it refused on a state-changing POST after, and the new page's token
// accepted.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { createTestApp } from '../helpers/app.ts';
import { CookieJar, createTestConversation, createTestStaff, csrfFrom, latestSecurityCode } from '../helpers/factories.ts';
import { dobFields, get, postForm, submitDob, textOf } from '../helpers/patient.ts';
import { nhsLoginThroughApp, startTestNhsLogin, type TestNhsLogin } from '../helpers/nhs-login.ts';
import { csrfTokenFor, staffGet, staffPost } from '../helpers/staff.ts';
import { CSRF_COOKIE } from '../../src/platform/http/security.ts';

let nhsLogin: TestNhsLogin;
before(async () => {
  nhsLogin = await startTestNhsLogin();
});
after(() => nhsLogin.close());

/** The hidden fields of the first form on a page with `action`, CSRF token left out. */
function hiddenFieldsOf(html: string, action: string): Record<string, string> {
  const form = new RegExp(`<form[^>]*action="${action.replace(/[/.]/g, '\\$&')}"[\\s\\S]*?</form>`).exec(html)?.[0];
  assert.ok(form, `no form posting to ${action}`);
  const fields: Record<string, string> = {};
  for (const m of form.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)) if (m[1] !== '_csrf') fields[m[1]!] = m[2]!;
  return fields;
}

function assertRefused(res: { statusCode: number; body: string }) {
  assert.equal(res.statusCode, 403);
  assert.match(textOf(res.body), /Your form could not be sent/);
}

test('staff sign-in replaces the CSRF secret: a token from before sign-in is refused after it', async (t) => {
  const { app, services, close } = await createTestApp();
  t.after(close);
  const c = await createTestConversation(services);
  const staff = await createTestStaff(services, c.organisation.id);
  const jar = new CookieJar();
  const signInPage = await staffGet(app, jar, '/staff/sign-in');
  const before = csrfFrom(signInPage.body);
  const secretBefore = jar.get(CSRF_COOKIE);
  assert.ok(secretBefore);

  const signedIn = await staffPost(app, jar, '/staff/sign-in', { _csrf: before, email: staff.email, password: staff.password });
  assert.equal(signedIn.statusCode, 303);

  // Signed in, but the old token no longer works: revoking a link is refused, and so is signing out.
  assertRefused(await staffPost(app, jar, `/staff/conversations/${c.conversationId}/revoke`, { _csrf: before }));
  assertRefused(await staffPost(app, jar, '/staff/sign-out', { _csrf: before }));
  assert.equal((await staffGet(app, jar, '/staff')).statusCode, 200, 'still signed in');

  // The pages after sign-in carry a token for the new secret, and it works.
  const confirm = await staffGet(app, jar, '/staff/sign-out');
  assert.notEqual(jar.get(CSRF_COOKIE), secretBefore, 'a new secret');
  const after = csrfFrom(confirm.body);
  assert.notEqual(after, before);
  const signedOut = await staffPost(app, jar, '/staff/sign-out', { _csrf: after });
  assert.equal(signedOut.statusCode, 200);
  assert.match(textOf(signedOut.body), /You have signed out/);
});

/** A reply sent from the conversation page's own form, with the given CSRF token. */
async function replyWith(app: FastifyInstance, jar: CookieJar, base: string, csrf: string, text: string) {
  const page = await get(app, base, jar);
  assert.equal(page.statusCode, 200, `${base}: ${page.statusCode}`);
  return postForm(app, `${base}/reply`, jar, { ...hiddenFieldsOf(page.body, `${base}/reply`), reply: text }, { csrf });
}

test('a patient link session gets a new CSRF secret: a token from the date of birth page is refused after it', async (t) => {
  const { app, services, close } = await createTestApp();
  t.after(close);
  const c = await createTestConversation(services, { replyMode: 'conversation' });
  const base = `/${c.token}/conversation`;
  const jar = new CookieJar();
  const before = csrfFrom((await get(app, `/${c.token}`, jar)).body);

  const verified = await postForm(app, `/${c.token}`, jar, dobFields(), { csrf: before });
  assert.equal(verified.statusCode, 303);
  assert.equal(verified.headers.location, base);

  assertRefused(await replyWith(app, jar, base, before, 'Sent with the old token'));
  const page = await get(app, base, jar);
  const res = await replyWith(app, jar, base, csrfFrom(page.body), 'Sent with the new token');
  assert.equal(res.statusCode, 303);
});

test('the security code starts a new session and a new CSRF secret on a second device too', async (t) => {
  const { app, services, close } = await createTestApp();
  t.after(close);
  const c = await createTestConversation(services, { replyMode: 'conversation' });
  const base = `/${c.token}/conversation`;
  // The first browser is trusted; this one must enter the code sent to the phone.
  assert.equal((await submitDob(app, c.token, new CookieJar())).statusCode, 303);
  const jar = new CookieJar();
  assert.equal((await submitDob(app, c.token, jar)).headers.location, `/${c.token}/code`);
  const before = csrfFrom((await get(app, `/${c.token}/code`, jar)).body);
  const code = await latestSecurityCode(services, c.linkId);
  assert.equal((await postForm(app, `/${c.token}/code`, jar, { code }, { csrf: before })).statusCode, 303);

  assertRefused(await replyWith(app, jar, base, before, 'Old token'));
  assert.equal((await replyWith(app, jar, base, csrfFrom((await get(app, base, jar)).body), 'New token')).statusCode, 303);
});

test('signing in to the portal with NHS login gets a new CSRF secret', async (t) => {
  const { app, close } = await createTestApp({ config: nhsLogin.env });
  t.after(close);
  const jar = new CookieJar();
  const before = await csrfTokenFor(app, jar);
  const { res } = await nhsLoginThroughApp(app, jar, '/portal', { identity: nhsLogin.identity(/^Priya Shah — P9/) });
  assert.equal(res.statusCode, 303);

  assertRefused(await postForm(app, '/portal/sign-out', jar, {}, { csrf: before }));
  assert.equal((await get(app, '/portal', jar)).statusCode, 200, 'still signed in');
  const portal = await get(app, '/portal', jar);
  const signedOut = await postForm(app, '/portal/sign-out', jar, {}, { csrf: csrfFrom(portal.body) });
  assert.equal(signedOut.statusCode, 303);
});
