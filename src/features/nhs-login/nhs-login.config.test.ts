// NHS login settings: defaults, the development key, production rules and key formats.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfig, parseNhsLoginPrivateKey } from '../../config/config.ts';
import { testConfig } from '../../../test/helpers/app.ts';
import { nhsLoginPublicJwk } from './nhs-login.client.ts';
import { isNhsLoginEnabled } from './nhs-login.service.ts';

const rsa = (bits = 2048) => generateKeyPairSync('rsa', { modulusLength: bits }).privateKey;
const pem = (bits = 2048) => rsa(bits).export({ format: 'pem', type: 'pkcs8' }).toString();

function productionEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    NODE_ENV: 'production',
    DATA_DIR: mkdtempSync(path.join(tmpdir(), 'dovecote-prod-')),
    DATABASE_URL: 'postgres://db.example/dovecote',
    PUBLIC_BASE_URL: 'https://dovecote.example.nhs.uk',
    CODE_HMAC_KEYS: 'k1:dGVzdC1obWFjLWtleS10aGF0LWlzLWF0LWxlYXN0LTMyLWJ5dGVz',
    COOKIE_SECRET: 'a-production-cookie-secret-that-is-long-enough',
    NOTIFY_API_KEY: `key-${'a'.repeat(36)}-${'b'.repeat(36)}`,
    NOTIFY_TEMPLATE_ID: 't1',
    NOTIFY_CALLBACK_TOKEN: 'callback-token-long-enough',
    FILE_ENCRYPTION_KEYS: `f1:${Buffer.alloc(32, 1).toString('base64url')}`,
    FILE_SCANNER: 'clamd',
    ...extra,
  };
}

test('development and test default to the local stand-in, with NHS login\'s defaults', () => {
  const config = testConfig();
  const n = config.nhsLogin;
  assert.ok(n);
  assert.ok(isNhsLoginEnabled(config));
  assert.equal(n.issuer, 'http://127.0.0.1:3001');
  assert.deepEqual(n.standIn, { port: 3001 });
  assert.equal(n.clientId, 'dovecote-local');
  assert.equal(n.scopes, 'openid profile');
  assert.deepEqual(n.vtr, ['P9.Cp.Cd', 'P9.Cp.Ck', 'P9.Cm']);
  assert.equal(n.redirectUri, 'http://localhost:3000/nhs-login/callback');
  assert.equal(n.allowInsecureRequests, true);
  assert.equal(n.privateJwk.kty, 'RSA');
  assert.ok(n.privateJwk.d, 'a private key');
  assert.ok(n.privateJwk.kid);
});

test('the development key is made once and kept in DATA_DIR', () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'dovecote-dev-'));
  const first = loadConfig({ NODE_ENV: 'development', DATA_DIR: dataDir });
  assert.ok(existsSync(path.join(dataDir, 'nhs-login-client-key.json')));
  const second = loadConfig({ NODE_ENV: 'development', DATA_DIR: dataDir });
  assert.deepEqual(second.nhsLogin?.privateJwk, first.nhsLogin?.privateJwk);
  assert.equal(first.nhsLogin?.issuer, 'http://127.0.0.1:3001');
});

test('ports, paths, scopes and vectors of trust can be set', () => {
  const config = testConfig({
    PORT: '8080',
    PUBLIC_BASE_URL: 'https://dovecote.test/',
    NHS_LOGIN_REDIRECT_PATH: '/auth/nhs/done',
    NHS_LOGIN_SCOPES: 'openid  profile email',
    NHS_LOGIN_VTR: '["P9.Cp.Cd"]',
  });
  assert.equal(config.nhsLogin?.issuer, 'http://127.0.0.1:8081');
  assert.equal(config.nhsLogin?.redirectUri, 'https://dovecote.test/auth/nhs/done');
  assert.equal(config.nhsLogin?.scopes, 'openid profile email');
  assert.deepEqual(config.nhsLogin?.vtr, ['P9.Cp.Cd']);
  assert.equal(testConfig({ NHS_LOGIN_STAND_IN_PORT: '4500' }).nhsLogin?.issuer, 'http://127.0.0.1:4500');
});

test('bad NHS login settings stop the service with their name', () => {
  const bad: Array<[Record<string, string>, RegExp]> = [
    [{ NHS_LOGIN_VTR: 'P9.Cp.Cd' }, /NHS_LOGIN_VTR/],
    [{ NHS_LOGIN_VTR: '[]' }, /NHS_LOGIN_VTR/],
    [{ NHS_LOGIN_SCOPES: 'profile' }, /NHS_LOGIN_SCOPES must include openid/],
    [{ NHS_LOGIN_REDIRECT_PATH: 'https://evil.example/cb' }, /NHS_LOGIN_REDIRECT_PATH/],
    [{ NHS_LOGIN_ISSUER: 'not a url' }, /NHS_LOGIN_ISSUER/],
    [{ NHS_LOGIN_ISSUER: 'https://auth.sandpit.signin.nhs.uk' }, /NHS_LOGIN_CLIENT_ID/],
    [{ NHS_LOGIN_PRIVATE_KEY: 'not a key' }, /NHS_LOGIN_PRIVATE_KEY is not a readable private key/],
    [{ NHS_LOGIN_PRIVATE_KEY: pem(1024) }, /at least 2048 bits/],
    [
      { NHS_LOGIN_PRIVATE_KEY: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString() },
      /must be an RSA key/,
    ],
    [{ NHS_LOGIN_PRIVATE_KEY: pem(), NHS_LOGIN_PRIVATE_KEY_FILE: '/tmp/x' }, /not both/],
    [{ NHS_LOGIN_PRIVATE_KEY_FILE: '/no/such/key.pem' }, /NHS_LOGIN_PRIVATE_KEY_FILE cannot be read/],
  ];
  for (const [env, message] of bad) {
    assert.throws(() => testConfig(env), (error: unknown) => error instanceof ConfigError && message.test(error.message), JSON.stringify(env).slice(0, 80));
  }
});

test('production without NHS_LOGIN_ISSUER: NHS login is off', () => {
  const config = loadConfig(productionEnv());
  assert.equal(config.nhsLogin, undefined);
  assert.equal(isNhsLoginEnabled(config), false);
});

test('production with NHS login needs the client id and key, and an https issuer; never insecure requests', () => {
  assert.throws(
    () => loadConfig(productionEnv({ NHS_LOGIN_ISSUER: 'https://auth.login.nhs.uk' })),
    /NHS_LOGIN_CLIENT_ID, NHS_LOGIN_PRIVATE_KEY or NHS_LOGIN_PRIVATE_KEY_FILE/,
  );
  const key = pem();
  assert.throws(
    () => loadConfig(productionEnv({ NHS_LOGIN_ISSUER: 'http://127.0.0.1:3001', NHS_LOGIN_CLIENT_ID: 'c', NHS_LOGIN_PRIVATE_KEY: key })),
    /must be an https URL in production/,
  );
  const dir = mkdtempSync(path.join(tmpdir(), 'dovecote-key-'));
  writeFileSync(path.join(dir, 'key.pem'), key);
  const config = loadConfig(
    productionEnv({ NHS_LOGIN_ISSUER: 'https://auth.login.nhs.uk', NHS_LOGIN_CLIENT_ID: 'dovecote', NHS_LOGIN_PRIVATE_KEY_FILE: path.join(dir, 'key.pem') }),
  );
  const n = config.nhsLogin;
  assert.ok(n);
  assert.equal(n.issuer, 'https://auth.login.nhs.uk');
  assert.equal(n.clientId, 'dovecote');
  assert.equal(n.redirectUri, 'https://dovecote.example.nhs.uk/nhs-login/callback');
  assert.equal(n.allowInsecureRequests, false);
  assert.equal(n.standIn, undefined);
});

test('insecure requests are allowed only for a plain-http loopback issuer outside production', () => {
  const env = { NHS_LOGIN_CLIENT_ID: 'c' };
  assert.equal(testConfig({ ...env, NHS_LOGIN_ISSUER: 'http://localhost:9000' }).nhsLogin?.allowInsecureRequests, true);
  assert.equal(testConfig({ ...env, NHS_LOGIN_ISSUER: 'http://[::1]:9000' }).nhsLogin?.allowInsecureRequests, true);
  assert.equal(testConfig({ ...env, NHS_LOGIN_ISSUER: 'http://login.example:9000' }).nhsLogin?.allowInsecureRequests, false);
  assert.equal(testConfig({ ...env, NHS_LOGIN_ISSUER: 'http://127.0.0.1.evil.example' }).nhsLogin?.allowInsecureRequests, false);
  assert.equal(testConfig({ ...env, NHS_LOGIN_ISSUER: 'https://auth.sandpit.signin.nhs.uk' }).nhsLogin?.allowInsecureRequests, false);
  assert.equal(testConfig({ ...env, NHS_LOGIN_ISSUER: 'https://auth.sandpit.signin.nhs.uk' }).nhsLogin?.standIn, undefined);
});

test('keys: PEM gets its thumbprint as kid, a JWK keeps its own kid, and the public half has no private parts', () => {
  const key = rsa();
  const fromPem = parseNhsLoginPrivateKey(key.export({ format: 'pem', type: 'pkcs8' }).toString());
  const fromJwk = parseNhsLoginPrivateKey(JSON.stringify({ ...key.export({ format: 'jwk' }), kid: 'my-key-1' }));
  assert.equal(fromJwk.kid, 'my-key-1');
  assert.match(fromPem.kid, /^[A-Za-z0-9_-]{43}$/);
  assert.equal(fromPem.n, fromJwk.n);
  assert.equal(parseNhsLoginPrivateKey(JSON.stringify(key.export({ format: 'jwk' }))).kid, fromPem.kid);
  const pub = nhsLoginPublicJwk(fromJwk);
  assert.deepEqual(Object.keys(pub).sort(), ['alg', 'e', 'kid', 'kty', 'n', 'use']);
  assert.equal(pub.alg, 'RS512');
});
