// NHS login in tests: a stand-in provider on a free port with a fresh client key, and a tiny browser
// (cookie jar, manual redirects) that walks the real authorisation flow over HTTP.
import { generateKeyPairSync } from 'node:crypto';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import type { CookieJar } from './factories.ts';
import { parseNhsLoginPrivateKey, type NhsLoginConfig } from '../../src/config/config.ts';
import { nhsLoginPublicJwk } from '../../src/features/nhs-login/nhs-login.client.ts';
import {
  defaultStandInIdentities,
  startNhsLoginStandIn,
  type StandIn,
  type StandInIdentity,
} from '../../src/features/nhs-login/dev/stand-in-provider.ts';

export function newNhsLoginKey(kid?: string): NhsLoginConfig['privateJwk'] {
  const jwk = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  return parseNhsLoginPrivateKey(JSON.stringify(kid ? { ...jwk, kid } : jwk));
}

export interface TestNhsLogin {
  standIn: StandIn;
  settings: NhsLoginConfig;
  /** Environment settings for testConfig()/createTestApp({ config }) that point the app at this stand-in. */
  env: Record<string, string>;
  identity(label: RegExp): StandInIdentity;
  close(): Promise<void>;
}

export async function startTestNhsLogin(
  opts: { publicBaseUrl?: string; identities?: StandInIdentity[] } = {},
): Promise<TestNhsLogin> {
  const publicBaseUrl = opts.publicBaseUrl ?? 'http://localhost:3000';
  const redirectUri = `${publicBaseUrl}/nhs-login/callback`;
  const privateJwk = newNhsLoginKey();
  const clientId = 'dovecote-test';
  const standIn = await startNhsLoginStandIn({
    port: 0,
    clientId,
    clientJwks: [nhsLoginPublicJwk(privateJwk)],
    redirectUris: [redirectUri],
    identities: opts.identities ?? defaultStandInIdentities(),
  });
  const settings: NhsLoginConfig = {
    issuer: standIn.issuer,
    clientId,
    privateJwk,
    scopes: 'openid profile',
    vtr: ['P9.Cp.Cd', 'P9.Cp.Ck', 'P9.Cm'],
    redirectUri,
    allowInsecureRequests: true,
  };
  return {
    standIn,
    settings,
    env: {
      NHS_LOGIN_ISSUER: standIn.issuer,
      NHS_LOGIN_CLIENT_ID: clientId,
      NHS_LOGIN_PRIVATE_KEY: JSON.stringify(privateJwk),
    },
    identity(label) {
      const found = standIn.identities.find((i) => label.test(i.label));
      if (!found) throw new Error(`no stand-in identity matches ${label}`);
      return found;
    },
    close: () => standIn.close(),
  };
}

/** Just enough browser: one cookie jar per host, redirects followed by hand. */
export class TestBrowser {
  private readonly jar = new Map<string, Map<string, string>>();

  private cookieHeader(url: URL): string | undefined {
    const cookies = this.jar.get(url.host);
    if (!cookies || cookies.size === 0) return undefined;
    return [...cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  private store(url: URL, res: Response): void {
    const cookies = this.jar.get(url.host) ?? new Map<string, string>();
    for (const line of res.headers.getSetCookie()) {
      const [pair = '', ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attrs.some((a) => {
        const [k = '', v = ''] = a.trim().split('=');
        return (k.toLowerCase() === 'max-age' && Number(v) <= 0) || (k.toLowerCase() === 'expires' && Date.parse(v) < Date.now());
      });
      if (expired || value === '') cookies.delete(name);
      else cookies.set(name, value);
    }
    this.jar.set(url.host, cookies);
  }

  async request(url: string | URL, init: { method?: string; form?: Record<string, string> } = {}): Promise<Response> {
    const target = new URL(url);
    const headers: Record<string, string> = {};
    const cookie = this.cookieHeader(target);
    if (cookie) headers.cookie = cookie;
    let body: string | undefined;
    if (init.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(init.form).toString();
    }
    const res = await fetch(target, { method: init.method ?? (body ? 'POST' : 'GET'), headers, body, redirect: 'manual' });
    this.store(target, res);
    return res;
  }

  /** Follows redirects while they stay on `origin`; returns the last response and the URL it came from. */
  async follow(url: string | URL, origin: string, init: { form?: Record<string, string> } = {}): Promise<{ res: Response; url: URL; leftTo?: URL }> {
    let current = new URL(url);
    let res = await this.request(current, init);
    for (let hops = 0; hops < 10; hops++) {
      const location = res.headers.get('location');
      if (res.status < 300 || res.status >= 400 || !location) return { res, url: current };
      const next = new URL(location, current);
      await res.arrayBuffer();
      if (next.origin !== origin) return { res, url: current, leftTo: next };
      current = next;
      res = await this.request(current);
    }
    throw new Error('too many redirects');
  }
}

/**
 * Walks the stand-in from the authorisation URL: shows the sign-in page, picks `identity` (or presses
 * Cancel), and returns the callback URL the provider redirects the browser to (not fetched).
 */
export async function signInAtStandIn(
  browser: TestBrowser,
  authorisationUrl: URL,
  choice: { identity: StandInIdentity } | { cancel: true },
): Promise<{ callbackUrl: URL; signInPage: string }> {
  const origin = authorisationUrl.origin;
  const shown = await browser.follow(authorisationUrl, origin);
  const signInPage = await shown.res.text();
  if (shown.res.status !== 200) throw new Error(`stand-in answered ${shown.res.status}: ${signInPage}`);
  const action = /<form method="post" action="([^"]+)"/.exec(signInPage)?.[1];
  if (!action) throw new Error('no sign-in form on the stand-in page');
  const form: Record<string, string> = 'cancel' in choice ? { action: 'cancel' } : { action: 'sign-in', identity: choice.identity.sub };
  const done = await browser.follow(new URL(action, shown.url), origin, { form });
  if (!done.leftTo) throw new Error(`stand-in did not redirect back (status ${done.res.status}): ${await done.res.text()}`);
  return { callbackUrl: done.leftTo, signInPage };
}

/**
 * "Continue with NHS login" from the app (driven with app.inject and a CookieJar): GET /nhs-login/start,
 * the stand-in over real HTTP, then the callback in the same jar. Returns the callback's response, the
 * callback path (to replay it) and a copy of the jar as it was just before the callback.
 */
export async function nhsLoginThroughApp(
  app: FastifyInstance,
  jar: CookieJar,
  returnTo: string,
  choice: { identity: StandInIdentity } | { cancel: true },
): Promise<{ res: LightMyRequestResponse; callbackPath: string; jarBeforeCallback: CookieJar }> {
  const { callbackPath } = await nhsLoginUpToCallback(app, jar, returnTo, choice);
  const jarBeforeCallback = jar.clone();
  const res = await app.inject({ method: 'GET', url: callbackPath, headers: { cookie: jar.header() } });
  jar.store(res.headers['set-cookie']);
  return { res, callbackPath, jarBeforeCallback };
}

/** Start in the app and sign in at the stand-in, but do not come back: the callback path to use. */
export async function nhsLoginUpToCallback(
  app: FastifyInstance,
  jar: CookieJar,
  returnTo: string,
  choice: { identity: StandInIdentity } | { cancel: true },
): Promise<{ location: URL; callbackPath: string }> {
  const start = await app.inject({
    method: 'GET',
    url: `/nhs-login/start?returnTo=${encodeURIComponent(returnTo)}`,
    headers: { cookie: jar.header() },
  });
  if (start.statusCode !== 302) throw new Error(`NHS login did not start: ${start.statusCode} ${start.body.slice(0, 300)}`);
  jar.store(start.headers['set-cookie']);
  const location = new URL(String(start.headers.location));
  const { callbackUrl } = await signInAtStandIn(new TestBrowser(), location, choice);
  return { location, callbackPath: `${callbackUrl.pathname}${callbackUrl.search}` };
}
