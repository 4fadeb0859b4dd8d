// Signing staff in through the real pages, for tests that need a staff session. The browser tests use
// the UI itself; these use app.inject with a cookie jar.
import assert from 'node:assert/strict';
import { eq } from 'drizzle-orm';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { staffUsers } from '../../src/platform/db/schema.ts';
import type { Services } from '../../src/services.ts';
import { newTotpSecret, sealTotpSecret, totpCode, totpStep } from '../../src/features/staff/staff-totp.ts';
import { newSubmissionId } from '../../src/features/staff/staff-submissions.ts';
import { CookieJar, csrfFrom } from './factories.ts';

export const STAFF_COOKIE_NAME = '__Host-dovecote-staff';

/**
 * Gives an account an authenticator as if it had been set up through the pages (no recovery codes),
 * and returns its key for totpCodeNow.
 */
export async function enrolTestTotp(services: Services, staffUserId: string): Promise<string> {
  const secret = newTotpSecret();
  await services.db
    .update(staffUsers)
    .set({ totpSecretSealed: sealTotpSecret(services.config.files.encryptionKeys, secret, staffUserId), totpEnrolledAt: services.now(), totpLastStep: null })
    .where(eq(staffUsers.id, staffUserId));
  return secret;
}

/** The code an authenticator app with this key shows at the app's (test) time, or `stepOffset` steps from it. */
export function totpCodeNow(app: FastifyInstance, secret: string, stepOffset = 0): string {
  return totpCode(secret, totpStep(app.services.now()) + stepOffset);
}

export interface SignInOptions {
  /** The account's authenticator key: the code page is answered with the current code. */
  totpSecret?: string;
}

/**
 * Signs in with email and password (and a code from `totpSecret` when the account has an
 * authenticator); the jar then carries the session and CSRF cookies. A code's step works once, so a
 * second sign-in of one account needs the test clock moved on 30 seconds.
 */
export async function signInAsStaff(app: FastifyInstance, email: string, password: string, jar = new CookieJar(), options: SignInOptions = {}): Promise<CookieJar> {
  const page = await app.inject({ method: 'GET', url: '/staff/sign-in', headers: { cookie: jar.header() } });
  jar.store(page.headers['set-cookie']);
  const res = await app.inject({
    method: 'POST',
    url: '/staff/sign-in',
    headers: { cookie: jar.header(), 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ _csrf: csrfFrom(page.body), email, password }).toString(),
  });
  assert.equal(res.statusCode, 303, `sign-in failed with ${res.statusCode}`);
  jar.store(res.headers['set-cookie']);
  if (options.totpSecret) {
    assert.equal(res.headers.location, '/staff/sign-in/code');
    const coded = await staffPost(app, jar, '/staff/sign-in/code', { code: totpCodeNow(app, options.totpSecret) });
    assert.equal(coded.statusCode, 303, `the code was refused with ${coded.statusCode}`);
    assert.equal(coded.headers.location, '/staff');
  } else {
    assert.equal(res.headers.location, '/staff');
  }
  assert.ok(jar.get(STAFF_COOKIE_NAME), 'no staff session cookie after sign-in');
  return jar;
}

/** GET with the jar's cookies; new cookies are kept. */
export async function staffGet(app: FastifyInstance, jar: CookieJar, url: string): Promise<LightMyRequestResponse> {
  const res = await app.inject({ method: 'GET', url, headers: { cookie: jar.header() } });
  jar.store(res.headers['set-cookie']);
  return res;
}

/** A CSRF token valid for the jar's CSRF cookie (any page's form carries one). */
export async function csrfTokenFor(app: FastifyInstance, jar: CookieJar): Promise<string> {
  const res = await staffGet(app, jar, '/staff/sign-in');
  return csrfFrom(res.body);
}

/**
 * POST a form with the jar's cookies. The CSRF token is fetched unless `_csrf` is given (pass
 * `_csrf: null` to send none at all). A fresh send-form `submissionId` is added unless one is given
 * (`submissionId: null` sends none); other forms ignore it.
 */
export async function staffPost(
  app: FastifyInstance,
  jar: CookieJar,
  url: string,
  form: Record<string, string | null> = {},
): Promise<LightMyRequestResponse> {
  const fields: Record<string, string> = {};
  for (const [k, v] of Object.entries(form)) if (v !== null) fields[k] = v;
  if (!('_csrf' in form)) fields._csrf = await csrfTokenFor(app, jar);
  if (!('submissionId' in form)) fields.submissionId = newSubmissionId();
  const res = await app.inject({
    method: 'POST',
    url,
    headers: { cookie: jar.header(), 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams(fields).toString(),
  });
  jar.store(res.headers['set-cookie']);
  return res;
}

/** The words on a page, without tags and with whitespace collapsed, for asserting what people read. */
export function pageText(html: string): string {
  return html
    .replace(/<(script|style)[\s\S]*?<\/\1>/gi, ' ')
    .replace(/<[^>]+>/g, ' ')
    .replace(/&nbsp;/g, ' ')
    .replace(/&#39;/g, "'")
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ')
    .trim();
}

/** The texts of the error summary's links, in order. */
export function errorSummaryItems(html: string): string[] {
  const summary = /class="nhsuk-error-summary"[\s\S]*?<\/ul>/.exec(html)?.[0] ?? '';
  return [...summary.matchAll(/<a href="(#[^"]+)">([\s\S]*?)<\/a>/g)].map((m) => `${m[1]} ${pageText(m[2]!)}`);
}
