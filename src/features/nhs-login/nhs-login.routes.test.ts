// The NHS login routes plugin (not yet registered in app.ts) on a small app with the real security and
// page plugins, against the stand-in over real HTTP.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import Fastify, { type FastifyInstance } from 'fastify';
import { createTestDatabase } from '../../../test/helpers/database.ts';
import { TEST_SECRETS, testConfig } from '../../../test/helpers/app.ts';
import { signInAtStandIn, startTestNhsLogin, TestBrowser, type TestNhsLogin } from '../../../test/helpers/nhs-login.ts';
import { securityPlugin } from '../../platform/http/security.ts';
import { pagesPlugin } from '../../platform/http/pages.ts';
import { createViewEnvironment } from '../../platform/views/views.ts';
import { buildServices } from '../../services.ts';
import { ItemKindRegistry } from '../conversations/item-kinds.ts';
import type { Jobs } from '../../platform/jobs/jobs.ts';
import { NHS_LOGIN_STATE_COOKIE, nhsLoginRoutes } from './nhs-login.routes.ts';

let nhsLogin: TestNhsLogin;
before(async () => {
  nhsLogin = await startTestNhsLogin();
});
after(() => nhsLogin.close());

async function buildTestApp(t: { after: (fn: () => Promise<void>) => void }, env: Record<string, string> = nhsLogin.env) {
  const testDatabase = await createTestDatabase();
  const config = testConfig(env);
  const app: FastifyInstance = Fastify();
  app.decorate('services', buildServices({ config, database: testDatabase.database, jobs: {} as Jobs, itemKinds: new ItemKindRegistry() }));
  await app.register(securityPlugin, { cookieSecret: TEST_SECRETS.COOKIE_SECRET, isProduction: false });
  await app.register(pagesPlugin, { views: createViewEnvironment() });
  await app.register(nhsLoginRoutes, {
    onIdentity: (_request, reply, identity, finished) =>
      reply.send({ level: identity.identityProofingLevel, strong: identity.isStrong, returnTo: finished.returnTo }),
  });
  await app.ready();
  t.after(async () => {
    await app.close();
    await testDatabase.database.close();
    await testDatabase.drop();
  });
  return app;
}

function stateCookieFrom(setCookie: string | string[] | undefined): string {
  const line = [setCookie ?? []].flat().find((c) => c.startsWith(`${NHS_LOGIN_STATE_COOKIE}=`));
  assert.ok(line, 'state cookie set');
  assert.match(line, /HttpOnly/);
  assert.match(line, /Secure/);
  assert.match(line, /SameSite=Lax/);
  assert.match(line, /Path=\//);
  return line.split(';')[0]!;
}

async function start(app: FastifyInstance, returnTo = '/m/abc') {
  const res = await app.inject({ method: 'GET', url: `/nhs-login/start?returnTo=${encodeURIComponent(returnTo)}` });
  assert.equal(res.statusCode, 302);
  return { location: new URL(String(res.headers.location)), cookie: stateCookieFrom(res.headers['set-cookie']) };
}

test('start → stand-in → callback hands the identity to onIdentity and clears the state cookie', async (t) => {
  const app = await buildTestApp(t);
  const { location, cookie } = await start(app);
  assert.equal(location.origin, nhsLogin.standIn.issuer);
  const { callbackUrl } = await signInAtStandIn(new TestBrowser(), location, { identity: nhsLogin.identity(/^Priya/) });
  const res = await app.inject({ method: 'GET', url: `${callbackUrl.pathname}${callbackUrl.search}`, headers: { cookie } });
  assert.equal(res.statusCode, 200);
  assert.deepEqual(res.json(), { level: 'P9', strong: true, returnTo: '/m/abc' });
  assert.match(String([res.headers['set-cookie']].flat().join('\n')), new RegExp(`${NHS_LOGIN_STATE_COOKIE}=;`));

  // The same callback again: a clear page, no identity.
  const again = await app.inject({ method: 'GET', url: `${callbackUrl.pathname}${callbackUrl.search}`, headers: { cookie } });
  assert.equal(again.statusCode, 400);
  assert.match(again.body, /This NHS login has already been used. Start again/);
  assert.match(again.body, /Go back and try again/);
});

test('cancelling at NHS login shows a page that says so', async (t) => {
  const app = await buildTestApp(t);
  const { location, cookie } = await start(app);
  const { callbackUrl } = await signInAtStandIn(new TestBrowser(), location, { cancel: true });
  const res = await app.inject({ method: 'GET', url: `${callbackUrl.pathname}${callbackUrl.search}`, headers: { cookie } });
  assert.equal(res.statusCode, 400);
  assert.match(res.body, /You did not finish logging in/);
  assert.match(res.body, /You did not finish logging in with NHS login/);
});

test('a callback in a browser that did not start the sign-in gets a clear page and no identity', async (t) => {
  const app = await buildTestApp(t);
  const { location } = await start(app);
  const { callbackUrl } = await signInAtStandIn(new TestBrowser(), location, { identity: nhsLogin.identity(/^Priya/) });
  const res = await app.inject({ method: 'GET', url: `${callbackUrl.pathname}${callbackUrl.search}` });
  assert.equal(res.statusCode, 400);
  assert.match(res.body, /We could not finish logging you in with NHS login. Start again/);
  assert.doesNotMatch(res.body, /9990000018|Shah/);
});

test('returnTo that leaves the service is refused', async (t) => {
  const app = await buildTestApp(t);
  const res = await app.inject({ method: 'GET', url: `/nhs-login/start?returnTo=${encodeURIComponent('//evil.example/')}` });
  assert.equal(res.statusCode, 400);
  assert.match(res.body, /We could not start logging you in with NHS login/);
  assert.doesNotMatch(String([res.headers['set-cookie'] ?? []].flat().join('\n')), new RegExp(NHS_LOGIN_STATE_COOKIE));
});

test('when NHS login cannot be reached, start shows a page that says so', async (t) => {
  const app = await buildTestApp(t, { ...nhsLogin.env, NHS_LOGIN_ISSUER: 'http://127.0.0.1:1' });
  const res = await app.inject({ method: 'GET', url: '/nhs-login/start?returnTo=/' });
  assert.equal(res.statusCode, 503);
  assert.match(res.body, /NHS login is not available at the moment. Try again later/);
});
