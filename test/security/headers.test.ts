// Headers and cookies on every page with patient data (DESIGN.md §3 "Pages with patient data"):
// Cache-Control no-store, Referrer-Policy no-referrer, X-Robots-Tag noindex, a strict CSP (no inline
// script or style, no third-party origin, no framing), and __Host- cookies that are HttpOnly, Secure,
// SameSite and Path=/ with no Domain. HSTS in production only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eq } from 'drizzle-orm';
import pino from 'pino';
import type { LightMyRequestResponse } from 'fastify';
import { buildApp } from '../../src/app.ts';
import type { Config } from '../../src/config/config.ts';
import { startJobs } from '../../src/platform/jobs/jobs.ts';
import { links } from '../../src/platform/db/schema.ts';
import { createTestApp, testConfig, TestClock } from '../helpers/app.ts';
import { createTestDatabase } from '../helpers/database.ts';
import { CookieJar, createTestConversation, latestSecurityCode } from '../helpers/factories.ts';
import { dobFields } from '../helpers/patient.ts';
import { createWorld, send } from './security-world.ts';

/** Directives whose sources may be listed, and the only sources any of them may name. */
const ALLOWED_SOURCES = new Set(["'self'", "'none'"]);

function parseCsp(header: string): Map<string, string[]> {
  const directives = new Map<string, string[]>();
  for (const part of header.split(';')) {
    const [name, ...sources] = part.trim().split(/\s+/);
    if (name) directives.set(name.toLowerCase(), sources);
  }
  return directives;
}

function assertStrictCsp(header: string | undefined, what: string) {
  assert.ok(header, `${what}: no Content-Security-Policy`);
  const csp = parseCsp(header);
  for (const [name, sources] of csp) {
    for (const source of sources) {
      const allowed = ALLOWED_SOURCES.has(source) || (name === 'img-src' && source === 'data:');
      assert.ok(allowed, `${what}: CSP ${name} allows ${source}`);
    }
  }
  assert.deepEqual(csp.get('frame-ancestors'), ["'none'"], `${what}: frame-ancestors`);
  assert.deepEqual(csp.get('default-src'), ["'self'"], `${what}: default-src`);
  assert.deepEqual(csp.get('script-src'), ["'self'"], `${what}: script-src`);
  assert.deepEqual(csp.get('object-src'), ["'none'"], `${what}: object-src`);
  assert.deepEqual(csp.get('base-uri'), ["'none'"], `${what}: base-uri`);
  assert.doesNotMatch(header, /unsafe-inline|unsafe-eval|unsafe-hashes|\*/, what);
}

function setCookies(res: LightMyRequestResponse): string[] {
  return ([] as string[]).concat(res.headers['set-cookie'] ?? []);
}

function assertCookies(res: LightMyRequestResponse, what: string) {
  for (const cookie of setCookies(res)) {
    const [pair, ...attributes] = cookie.split(';').map((s) => s.trim());
    const name = pair!.slice(0, pair!.indexOf('='));
    const attrs = attributes.map((a) => a.toLowerCase());
    assert.match(name, /^__Host-/, `${what}: cookie ${name} is not __Host-`);
    assert.ok(attrs.includes('httponly'), `${what}: ${name} is not HttpOnly`);
    assert.ok(attrs.includes('secure'), `${what}: ${name} is not Secure`);
    assert.ok(attrs.some((a) => a === 'samesite=lax' || a === 'samesite=strict'), `${what}: ${name} has no SameSite=Lax/Strict`);
    assert.ok(attrs.includes('path=/'), `${what}: ${name} is not Path=/`);
    assert.ok(!attrs.some((a) => a.startsWith('domain=')), `${what}: ${name} has a Domain`);
  }
}

function assertPatientDataHeaders(res: LightMyRequestResponse, what: string) {
  assert.ok(res.statusCode < 500, `${what}: ${res.statusCode}`);
  assert.equal(res.headers['cache-control'], 'no-store', `${what}: Cache-Control`);
  assert.equal(res.headers['referrer-policy'], 'no-referrer', `${what}: Referrer-Policy`);
  assert.match(String(res.headers['x-robots-tag']), /\bnoindex\b/, `${what}: X-Robots-Tag`);
  assert.equal(res.headers['x-content-type-options'], 'nosniff', `${what}: X-Content-Type-Options`);
  assertStrictCsp(res.headers['content-security-policy'] as string | undefined, what);
  assertCookies(res, what);
}

test('every page and API response with patient data has the protective headers and __Host- cookies; no HSTS outside production', async (t) => {
  const clock = new TestClock();
  const { app, services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const world = await createWorld(app, services);
  const { a } = world;
  const token = a.conversation.token;
  const seen: Array<[string, LightMyRequestResponse]> = [];
  const check = (what: string, res: LightMyRequestResponse) => {
    seen.push([what, res]);
    return res;
  };

  // The link in each state, for a new browser.
  check('date of birth page', await send(app, 'GET', `/${token}`));
  check('unknown link', await send(app, 'GET', '/AAAAAAAAAAAAAAAAAAAAAA'));
  check('wrong date of birth', await send(app, 'POST', `/${token}`, { form: dobFields('1990-01-01') }));
  check('impossible date of birth', await send(app, 'POST', `/${token}`, { form: { 'dob[day]': '31', 'dob[month]': '2', 'dob[year]': '1990' } }));
  check('help page', await send(app, 'GET', '/help'));
  check('home page', await send(app, 'GET', '/'));

  // A second device: code page, wrong code, right code (sets the session and device cookies).
  const device = new CookieJar();
  check('right date of birth on a second device', await send(app, 'POST', `/${token}`, { jar: device, form: dobFields(a.conversation.patient.dateOfBirth) }));
  check('code page', await send(app, 'GET', `/${token}/code`, { jar: device }));
  check('wrong code', await send(app, 'POST', `/${token}/code`, { jar: device, form: { code: '000000' } }));
  const code = await latestSecurityCode(services, a.conversation.linkId);
  const verified = check('right code', await send(app, 'POST', `/${token}/code`, { jar: device, form: { code } }));
  assert.equal(verified.statusCode, 303);
  assert.ok(setCookies(verified).some((c) => c.startsWith('__Host-dovecote-device=')), 'the device cookie was set');
  check('message page', await send(app, 'GET', `/${token}/conversation`, { jar: device }));
  check('reply sent', await send(app, 'POST', `/${token}/conversation/reply`, { jar: device, form: { reply: 'Thank you' } }));
  check('message page with reply', await send(app, 'GET', `/${token}/conversation?replied=1`, { jar: device }));
  check('empty reply', await send(app, 'POST', `/${token}/conversation/reply`, { jar: device, form: { reply: '' } }));
  check('CSRF refusal', await send(app, 'POST', `/${token}/conversation/reply`, { jar: device, form: { reply: 'x' }, csrf: 'none' }));

  // Staff pages.
  const staff = a.staffJar;
  check('staff sign-in page', await send(app, 'GET', '/staff/sign-in'));
  check('staff inbox', await send(app, 'GET', '/staff', { jar: staff }));
  check('find a patient', await send(app, 'GET', '/staff/messages/new', { jar: staff }));
  check('patient found', await send(app, 'POST', '/staff/messages/new', { jar: staff, form: { searchBy: 'nhs-number', nhsNumber: a.conversation.patient.nhsNumber } }));
  check('write a message', await send(app, 'GET', `/staff/patients/${a.conversation.patient.id}/message`, { jar: staff }));
  check('conversation', await send(app, 'GET', `/staff/conversations/${a.conversation.conversationId}`, { jar: staff }));
  check('not found page', await send(app, 'GET', '/staff/conversations/00000000-0000-4000-8000-000000000000', { jar: staff }));
  check('sign out page', await send(app, 'GET', '/staff/sign-out', { jar: staff.clone() }));
  const signIn = check('staff sign-in', await send(app, 'POST', '/staff/sign-in', { form: { email: a.staff.email, password: a.staff.password } }));
  assert.ok(setCookies(signIn).some((c) => c.startsWith('__Host-dovecote-staff=')), 'the staff cookie was set');
  check('staff sign-out', await send(app, 'POST', '/staff/sign-out', { jar: staff.clone() }));

  // The API (JSON, problem documents) and its documentation page.
  const auth = { authorization: `Bearer ${a.apiKey}` };
  check('API message', await send(app, 'GET', `/api/v1/messages/${a.conversation.conversationId}`, { headers: auth }));
  check('API send', await send(app, 'POST', '/api/v1/messages', { headers: auth, json: { nhsNumber: a.conversation.patient.nhsNumber, body: 'Hello', replyMode: 'none' } }));
  check('API patient', await send(app, 'PUT', `/api/v1/patients/${a.conversation.patient.nhsNumber}`, { headers: auth, json: { givenName: 'Imogen', familyName: 'Quartermaine', dateOfBirth: '1984-03-12', mobileNumber: '07700900001' } }));
  check('API 401', await send(app, 'GET', `/api/v1/messages/${a.conversation.conversationId}`));
  check('API 400', await send(app, 'POST', '/api/v1/messages', { headers: auth, json: { nhsNumber: 'x' } }));

  // The link locked, then gone.
  await services.db.update(links).set({ lockedUntil: new Date(clock.now().getTime() + 60_000) }).where(eq(links.id, a.conversation.linkId));
  check('locked link', await send(app, 'GET', `/${token}`));
  await services.db.update(links).set({ lockedUntil: null, revokedAt: clock.now() }).where(eq(links.id, a.conversation.linkId));
  check('revoked link', await send(app, 'GET', `/${token}`));
  check('revoked link message', await send(app, 'GET', `/${token}/conversation`, { jar: device }));
  const expired = await createTestConversation(services);
  clock.advance(8 * 24 * 3_600_000);
  check('expired link', await send(app, 'GET', `/${expired.token}`));

  for (const [what, res] of seen) {
    assertPatientDataHeaders(res, what);
    assert.equal(res.headers['strict-transport-security'], undefined, `${what}: HSTS outside production`);
  }
  const statuses = new Set(seen.map(([, res]) => res.statusCode));
  for (const status of [200, 303, 400, 401, 403, 404, 410, 423]) assert.ok(statuses.has(status), `no ${status} response was checked`);

  // Static files (no patient data) may be cached, but still carry the strict CSP and nosniff.
  for (const url of ['/assets/nhsuk/nhsuk-frontend.min.css', '/assets/app/app.js', '/api/docs/static/swagger-initializer.js', '/api/docs/static/swagger-ui.css']) {
    const file = await send(app, 'GET', url);
    assert.equal(file.statusCode, 200, url);
    assert.notEqual(file.headers['cache-control'], 'no-store', url);
    assert.equal(file.headers['x-content-type-options'], 'nosniff', url);
    assertStrictCsp(file.headers['content-security-policy'] as string | undefined, url);
  }
});

test('in production every response carries HSTS and the same strict headers', async (t) => {
  const testDatabase = await createTestDatabase();
  const jobs = await startJobs(testDatabase.database, { supervise: false });
  // loadConfig refuses production without real secrets, so build the Config the way it would look.
  const config: Config = { ...testConfig(), env: 'production', isProduction: true, nhsLogin: undefined };
  const app = await buildApp({ config, database: testDatabase.database, jobs, logger: pino({ level: 'silent' }) });
  await app.ready();
  t.after(async () => {
    await app.close();
    await jobs.stop({ graceful: false, timeout: 1000 });
    await testDatabase.database.close();
    await testDatabase.drop();
  });
  const c = await createTestConversation(app.services);
  for (const [what, method, url, form] of [
    ['date of birth page', 'GET', `/${c.token}`, undefined],
    ['wrong date of birth', 'POST', `/${c.token}`, dobFields('1990-01-01')],
    ['staff sign-in', 'GET', '/staff/sign-in', undefined],
    ['unknown page', 'GET', '/nothing/here', undefined],
    ['API', 'GET', '/api/v1/messages/x', undefined],
  ] as const) {
    const res = await send(app, method, url, form ? { form } : {});
    assertPatientDataHeaders(res, what);
    const hsts = String(res.headers['strict-transport-security'] ?? '');
    assert.match(hsts, /max-age=(\d+)/, `${what}: HSTS`);
    assert.ok(Number(/max-age=(\d+)/.exec(hsts)![1]) >= 31_536_000, `${what}: HSTS for at least a year`);
    assert.match(hsts, /includeSubDomains/i);
    assert.match(String(res.headers['content-security-policy']), /upgrade-insecure-requests/);
  }
});
