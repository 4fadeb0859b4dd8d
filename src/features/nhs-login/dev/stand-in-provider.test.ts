// The local NHS login stand-in: its sign-in page, its tokens, and that it never runs in production.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import * as oidc from 'openid-client';
import { decodeJwt, decodeProtectedHeader, importJWK } from 'jose';
import { DEMO_PATIENTS } from '../../../dev/demo-data.ts';
import { testConfig } from '../../../../test/helpers/app.ts';
import { signInAtStandIn, startTestNhsLogin, TestBrowser, type TestNhsLogin } from '../../../../test/helpers/nhs-login.ts';
import { createNhsLoginClient } from '../nhs-login.client.ts';
import { defaultStandInIdentities, startNhsLoginStandIn, UNMATCHED_NHS_NUMBER } from './stand-in-provider.ts';
import { startNhsLoginStandInIfConfigured } from './stand-in-from-config.ts';

let nhsLogin: TestNhsLogin;
before(async () => {
  nhsLogin = await startTestNhsLogin();
});
after(() => nhsLogin.close());

function nhsNumberIsValid(n: string): boolean {
  const digits = [...n].map(Number);
  const sum = digits.slice(0, 9).reduce((acc, d, i) => acc + d * (10 - i), 0);
  const check = 11 - (sum % 11);
  return check !== 10 && (check === 11 ? 0 : check) === digits[9];
}

test('test identities: every demo patient at P9, Tom Evans also at P5, and one NHS number that matches no patient', () => {
  const identities = defaultStandInIdentities();
  assert.equal(identities.length, DEMO_PATIENTS.length + 2);
  for (const p of DEMO_PATIENTS) {
    const i = identities.find((x) => x.nhsNumber === p.nhsNumber && x.identityProofingLevel === 'P9');
    assert.ok(i, `${p.givenName} at P9`);
    assert.equal(i.label, `${p.givenName} ${p.familyName} — P9 (NHS number matches a demo patient)`);
    assert.equal(i.birthdate, p.dateOfBirth);
  }
  const p5 = identities.filter((i) => i.identityProofingLevel === 'P5');
  assert.deepEqual(p5.map((i) => i.nhsNumber), ['9990000026']);
  assert.ok(!DEMO_PATIENTS.some((p) => p.nhsNumber === UNMATCHED_NHS_NUMBER));
  assert.ok(nhsNumberIsValid(UNMATCHED_NHS_NUMBER));
  assert.equal(new Set(identities.map((i) => i.sub)).size, identities.length);
  // Stable across restarts: a person keeps their sub.
  assert.deepEqual(defaultStandInIdentities().map((i) => i.sub), identities.map((i) => i.sub));
});

test('the sign-in page is plain, accessible HTML: a form, labelled radios, Continue and Cancel, no script', async () => {
  const client = createNhsLoginClient(nhsLogin.settings);
  const { url } = await client.startAuthorisation({ returnTo: '/', now: new Date() });
  const browser = new TestBrowser();
  const { res, url: pageUrl } = await browser.follow(url, nhsLogin.standIn.issuer);
  const html = await res.text();
  assert.equal(res.status, 200);
  assert.match(pageUrl.pathname, /^\/interaction\//);
  assert.match(String(res.headers.get('content-security-policy')), /default-src 'none'/);
  assert.equal(res.headers.get('cache-control'), 'no-store');
  assert.match(html, /<html lang="en">/);
  assert.match(html, /<title>Choose a test identity – NHS login stand-in<\/title>/);
  assert.match(html, /<h1>Choose a test identity<\/h1>/);
  assert.match(html, /This is not the real NHS login/);
  assert.match(html, /<form method="post" action="\/interaction\/[^"]+"/);
  assert.match(html, /<fieldset>\s*<legend>Test identities<\/legend>/);
  assert.match(html, /P9\.Cp\.Cd/); // shows the vectors of trust the service asked for
  for (const [i, identity] of nhsLogin.standIn.identities.entries()) {
    assert.ok(html.includes(`<input type="radio" id="identity-${i}" name="identity" value="${identity.sub}" required>`));
    assert.ok(html.includes(`<label for="identity-${i}">${identity.label}</label>`), identity.label);
  }
  assert.match(html, /Priya Shah — P9 \(NHS number matches a demo patient\)/);
  assert.match(html, /Tom Evans — P5/);
  assert.match(html, /Sam Taylor — P9 \(NHS number matches no patient\)/);
  assert.match(html, /<button type="submit" name="action" value="sign-in">Continue<\/button>/);
  assert.match(html, /<button type="submit" name="action" value="cancel" formnovalidate>Cancel<\/button>/);
  assert.doesNotMatch(html, /<script|style=|onclick/i);

  // Continue with no identity chosen: the page again, with an error that says what to do.
  const action = /<form method="post" action="([^"]+)"/.exec(html)![1]!;
  const missing = await browser.request(new URL(action, pageUrl), { form: { action: 'sign-in' } });
  const missingHtml = await missing.text();
  assert.equal(missing.status, 400);
  assert.match(missingHtml, /<title>Error: Choose a test identity/);
  assert.match(missingHtml, /role="alert"[\s\S]*There is a problem[\s\S]*Choose a test identity/);
});

test('ID tokens are RS512, carry the NHS login claims, and userinfo agrees', async () => {
  const discovery = (await (await fetch(`${nhsLogin.standIn.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
  assert.deepEqual(discovery.id_token_signing_alg_values_supported, ['RS512']);
  assert.deepEqual(discovery.token_endpoint_auth_signing_alg_values_supported, ['RS512']);
  assert.ok((discovery.token_endpoint_auth_methods_supported as string[]).includes('private_key_jwt'));

  const key = await importJWK(nhsLogin.settings.privateJwk, 'RS512');
  assert.ok(key instanceof CryptoKey);
  const config = await oidc.discovery(
    new URL(nhsLogin.standIn.issuer),
    nhsLogin.settings.clientId,
    { id_token_signed_response_alg: 'RS512' },
    oidc.PrivateKeyJwt({ key, kid: nhsLogin.settings.privateJwk.kid }),
    { execute: [oidc.allowInsecureRequests] },
  );
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const verifier = oidc.randomPKCECodeVerifier();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: nhsLogin.settings.redirectUri,
    scope: 'openid profile',
    state,
    nonce,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
  });
  const grace = nhsLogin.identity(/^Grace/);
  const { callbackUrl } = await signInAtStandIn(new TestBrowser(), url, { identity: grace });
  const tokens = await oidc.authorizationCodeGrant(config, callbackUrl, {
    expectedState: state,
    expectedNonce: nonce,
    pkceCodeVerifier: verifier,
  });
  assert.equal(decodeProtectedHeader(tokens.id_token!).alg, 'RS512');
  const claims = decodeJwt(tokens.id_token!);
  assert.equal(claims.sub, grace.sub);
  assert.equal(claims.nhs_number, '9990000034');
  assert.equal(claims.birthdate, '1999-07-04');
  assert.equal(claims.family_name, 'Okafor');
  assert.equal(claims.identity_proofing_level, 'P9');
  assert.equal(claims.vot, 'P9.Cp.Cd');
  const userinfo = await oidc.fetchUserInfo(config, tokens.access_token, grace.sub);
  assert.equal(userinfo.nhs_number, '9990000034');
  assert.equal(userinfo.identity_proofing_level, 'P9');
});

test('the same browser is asked to choose an identity every time', async () => {
  const client = createNhsLoginClient(nhsLogin.settings);
  const browser = new TestBrowser();
  const first = await client.startAuthorisation({ returnTo: '/', now: new Date() });
  const a = await signInAtStandIn(browser, first.url, { identity: nhsLogin.identity(/^Priya/) });
  const second = await client.startAuthorisation({ returnTo: '/', now: new Date() });
  const b = await signInAtStandIn(browser, second.url, { identity: nhsLogin.identity(/^Tom Evans — P5/) });
  assert.match(b.signInPage, /Choose a test identity/);
  const identity = await client.completeAuthorisation(b.callbackUrl.searchParams, second.transaction);
  assert.equal(identity.identityProofingLevel, 'P5');
  assert.notEqual(a.callbackUrl.searchParams.get('code'), b.callbackUrl.searchParams.get('code'));
});

test('an authorisation request without PKCE, or to a redirect URI not registered, is refused', async () => {
  const base = new URL('/auth', nhsLogin.standIn.issuer);
  const params = {
    client_id: nhsLogin.settings.clientId,
    response_type: 'code',
    scope: 'openid profile',
    state: 's',
    nonce: 'n',
    redirect_uri: nhsLogin.settings.redirectUri,
  };
  const noPkce = await fetch(`${base}?${new URLSearchParams(params)}`, { redirect: 'manual' });
  assert.equal(noPkce.status, 303);
  assert.match(String(noPkce.headers.get('location')), /error=invalid_request/);
  await noPkce.arrayBuffer();

  const badRedirect = await fetch(
    `${base}?${new URLSearchParams({ ...params, redirect_uri: 'https://evil.example/cb', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' })}`,
    { redirect: 'manual' },
  );
  assert.equal(badRedirect.status, 400);
  assert.match(await badRedirect.text(), /redirect_uri/);
});

test('the stand-in refuses to start in production', async () => {
  const previous = process.env.NODE_ENV;
  process.env.NODE_ENV = 'production';
  try {
    await assert.rejects(
      startNhsLoginStandIn({ port: 0, clientId: 'x', clientJwks: [], redirectUris: ['http://localhost/cb'] }),
      /never runs in production/,
    );
  } finally {
    if (previous === undefined) delete process.env.NODE_ENV;
    else process.env.NODE_ENV = previous;
  }
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

test('development config without NHS_LOGIN_ISSUER starts the stand-in the app is configured for', async (t) => {
  const port = await freePort();
  const config = testConfig({ NHS_LOGIN_STAND_IN_PORT: String(port) });
  const standIn = await startNhsLoginStandInIfConfigured(config);
  assert.ok(standIn);
  t.after(() => standIn.close());
  assert.equal(standIn.issuer, `http://127.0.0.1:${port}`);
  assert.equal(config.nhsLogin?.issuer, standIn.issuer);
  const client = createNhsLoginClient(config.nhsLogin!);
  const { url, transaction } = await client.startAuthorisation({ returnTo: '/', now: new Date() });
  const { callbackUrl } = await signInAtStandIn(new TestBrowser(), url, {
    identity: standIn.identities.find((i) => i.familyName === 'Jones')!,
  });
  const identity = await client.completeAuthorisation(callbackUrl.searchParams, transaction);
  assert.equal(identity.nhsNumber, '9990000042');

  // Pointed at a real provider, or off: nothing to start.
  assert.equal(await startNhsLoginStandInIfConfigured(testConfig(nhsLogin.env)), undefined);
});
