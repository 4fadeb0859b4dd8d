// Settings that decide who can reach the service and whom it believes: TRUST_PROXY, HOST outside
// production, https in production, and the database migration settings (issue 10, items 3, 10, 13).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Fastify from 'fastify';
import { ConfigError, developmentModeNotice, isLoopbackHost, loadConfig, loadMigrationConfig } from './config.ts';
import { testConfig } from '../../test/helpers/app.ts';

const dataDir = () => mkdtempSync(path.join(tmpdir(), 'dovecote-config-'));

function productionEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    NODE_ENV: 'production',
    DATA_DIR: dataDir(),
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

test('TRUST_PROXY is off by default and takes the proxies\' addresses, ranges or proxy-addr\'s named ranges', () => {
  assert.equal(testConfig().trustProxy, false);
  for (const off of ['false', 'no', '0']) assert.equal(testConfig({ TRUST_PROXY: off }).trustProxy, false, off);
  const accepted: Array<[string, string[]]> = [
    ['10.0.0.7', ['10.0.0.7']],
    ['10.0.0.0/8, 192.168.1.5', ['10.0.0.0/8', '192.168.1.5']],
    ['fd00::/8,::1', ['fd00::/8', '::1']],
    ['loopback, uniquelocal', ['loopback', 'uniquelocal']],
    ['linklocal', ['linklocal']],
  ];
  for (const [raw, expected] of accepted) {
    const { trustProxy } = testConfig({ TRUST_PROXY: raw });
    assert.deepEqual(trustProxy, expected, raw);
    // What the config accepts, Fastify (proxy-addr) compiles: no surprise at start-up.
    assert.doesNotThrow(() => Fastify({ trustProxy: trustProxy as string[] }), raw);
  }
});

test('TRUST_PROXY=true and hop counts are refused with what to set instead; junk is refused by name', () => {
  for (const raw of ['true', 'TRUE', 'yes']) {
    assert.throws(() => testConfig({ TRUST_PROXY: raw }), (error: Error) => {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, /would believe X-Forwarded-For from anyone/);
      assert.match(error.message, /addresses of the proxies in front of Dovecote.*e\.g\. TRUST_PROXY=10\.0\.0\.0\/8/);
      return true;
    }, raw);
  }
  for (const raw of ['1', '2', '10']) {
    assert.throws(() => testConfig({ TRUST_PROXY: raw }), /TRUST_PROXY=\d+ is a hop count.*TRUST_PROXY=10\.0\.0\.0\/8/, raw);
  }
  for (const raw of ['10.0.0.0/33', 'proxy.example', '10.0.0.1,', '', '10.0.0', 'everything']) {
    assert.throws(() => testConfig({ TRUST_PROXY: raw }), /^ConfigError: TRUST_PROXY must be false or proxy addresses/, JSON.stringify(raw));
  }
});

test('outside production the service listens only on a loopback address', () => {
  for (const host of ['127.0.0.1', '127.0.0.2', '127.255.0.9', '::1', '[::1]', 'localhost', 'LOCALHOST', '::ffff:127.0.0.1']) {
    assert.equal(testConfig({ HOST: host }).host, host, host);
    assert.equal(loadConfig({ NODE_ENV: 'development', DATA_DIR: dataDir(), HOST: host }).host, host, host);
  }
  for (const host of ['0.0.0.0', '::', '192.168.1.20', '10.0.0.5', '2001:db8::1', 'dovecote.example', '128.0.0.1']) {
    for (const env of ['development', 'test']) {
      assert.throws(
        () => loadConfig({ NODE_ENV: env, DATA_DIR: dataDir(), HOST: host }),
        (error: Error) => {
          assert.ok(error instanceof ConfigError);
          assert.match(error.message, new RegExp(`HOST=${host.replace(/\./g, '\\.')} would let other machines reach a development service \\(NODE_ENV=${env}:`));
          assert.match(error.message, /Set NODE_ENV=production to serve other machines, or HOST=127\.0\.0\.1/);
          return true;
        },
        `${env} ${host}`,
      );
    }
  }
  // Without NODE_ENV at all (the case found in the review) the message says why it is development.
  assert.throws(() => loadConfig({ DATA_DIR: dataDir(), HOST: '0.0.0.0' }), /NODE_ENV is not set, so this is development mode/);
  // Production may listen anywhere (e.g. 0.0.0.0 in a container).
  assert.equal(loadConfig(productionEnv({ HOST: '0.0.0.0' })).host, '0.0.0.0');
});

test('isLoopbackHost knows loopback addresses from the rest', () => {
  assert.ok(isLoopbackHost('127.0.0.1'));
  assert.ok(isLoopbackHost('0:0:0:0:0:0:0:1'));
  assert.ok(!isLoopbackHost('127.0.0.1.example'));
  assert.ok(!isLoopbackHost('localhost.example'));
  assert.ok(!isLoopbackHost('::ffff:10.0.0.1'));
});

test('start-up says when the service is in development mode, and that it is on loopback only', () => {
  const lines = developmentModeNotice(loadConfig({ NODE_ENV: 'development', DATA_DIR: dataDir() }));
  assert.equal(lines.length, 2);
  assert.match(lines[0]!, /^Development mode \(NODE_ENV=development\), not for real patients: a demo staff account with a published password, \/dev\/phone showing every text/);
  assert.match(lines[1]!, /^Listening on 127\.0\.0\.1 only, so other machines cannot reach it\. To serve them, set NODE_ENV=production\.$/);
  assert.doesNotMatch(developmentModeNotice(testConfig()).join(' '), /demo staff account/, 'tests have no demo data');
  assert.deepEqual(developmentModeNotice(loadConfig(productionEnv())), []);
});

test('the server itself refuses to start in development mode on a non-loopback address, before touching anything', () => {
  const server = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'server.ts');
  const result = spawnSync(process.execPath, [server], {
    env: { PATH: process.env.PATH, DATA_DIR: dataDir(), HOST: '0.0.0.0', PORT: '0' },
    encoding: 'utf8',
    timeout: 30_000,
  });
  assert.equal(result.status, 1);
  assert.match(result.stderr, /^Dovecote cannot start: HOST=0\.0\.0\.0 would let other machines reach a development service/);
  assert.match(result.stderr, /set NODE_ENV=production/i);
});

test('production needs https:// for PUBLIC_BASE_URL and NOTIFY_BASE_URL (plain http only on loopback)', () => {
  assert.throws(() => loadConfig(productionEnv({ PUBLIC_BASE_URL: 'http://dovecote.example.nhs.uk' })), /^ConfigError: PUBLIC_BASE_URL must be an https:\/\/ address in production/);
  assert.throws(() => loadConfig(productionEnv({ NOTIFY_BASE_URL: 'http://api.notifications.service.gov.uk' })), /^ConfigError: NOTIFY_BASE_URL must be an https:\/\/ address in production/);
  assert.throws(() => loadConfig(productionEnv({ NOTIFY_BASE_URL: 'http://10.0.0.9:8080' })), /NOTIFY_BASE_URL must be an https:\/\//);
  assert.throws(() => loadConfig(productionEnv({ PUBLIC_BASE_URL: 'ftp://dovecote.example.nhs.uk' })), /PUBLIC_BASE_URL must be an https:\/\//);
  assert.throws(() => loadConfig(productionEnv({ PUBLIC_BASE_URL: 'http://127.0.0.1.example' })), /PUBLIC_BASE_URL must be an https:\/\//);
  const fine = loadConfig(productionEnv());
  assert.equal(fine.publicBaseUrl, 'https://dovecote.example.nhs.uk');
  assert.equal(fine.sms.notify?.baseUrl, 'https://api.notifications.service.gov.uk');
  // A stand-in or a sidecar on this machine (the benchmark runs production against one): nothing leaves it.
  const local = loadConfig(productionEnv({ PUBLIC_BASE_URL: 'http://127.0.0.1:3000', NOTIFY_BASE_URL: 'http://localhost:4010' }));
  assert.equal(local.sms.notify?.baseUrl, 'http://localhost:4010');
  // Outside production plain http is fine (local development and tests).
  assert.equal(testConfig({ PUBLIC_BASE_URL: 'http://dovecote.test' }).publicBaseUrl, 'http://dovecote.test');
});

test('the database is migrated at start-up unless told not to; the migration command takes the app\'s role', () => {
  assert.equal(testConfig().databaseMigrateOnStart, true);
  assert.equal(testConfig({ DATABASE_MIGRATE_ON_START: 'false' }).databaseMigrateOnStart, false);
  assert.throws(() => testConfig({ DATABASE_MIGRATE_ON_START: 'sometimes' }), /DATABASE_MIGRATE_ON_START/);
  const migration = loadMigrationConfig({ DATABASE_URL: 'postgres://owner@db.example/dovecote', DATABASE_APP_ROLE: 'dovecote_app', DATA_DIR: dataDir() });
  assert.equal(migration.appRole, 'dovecote_app');
  assert.equal(migration.databaseUrl, 'postgres://owner@db.example/dovecote');
  // It needs none of the app's production secrets: it only migrates.
  assert.equal(loadMigrationConfig({ NODE_ENV: 'production', DATA_DIR: dataDir() }).appRole, undefined);
  assert.throws(() => loadMigrationConfig({ DATABASE_APP_ROLE: 'dovecote_app', DATA_DIR: dataDir() }), /DATABASE_APP_ROLE needs DATABASE_URL/);
  for (const bad of ['Dovecote', 'app; DROP TABLE audit_events', 'a-b', '']) {
    assert.throws(() => loadMigrationConfig({ DATABASE_URL: 'postgres://db.example/d', DATABASE_APP_ROLE: bad }), /DATABASE_APP_ROLE/, bad);
  }
});

test('files: production scans with clamd and seals with configured keys; storage and keys are checked at start-up', () => {
  const production = loadConfig(productionEnv());
  assert.deepEqual(production.files.scanner, { kind: 'clamd', socket: undefined, host: '127.0.0.1', port: 3310, timeoutMs: 30_000 });
  assert.equal(production.files.encryptionKeys[0]!.id, 'f1');
  assert.equal(production.files.documentMaxBytes, 10 * 1024 * 1024);
  assert.equal(production.files.attachmentMaxBytes, 7 * 1024 * 1024);
  assert.equal(production.files.attachmentsPerReply, 5);
  assert.equal(production.files.documentAvailableDays, 28);
  assert.throws(() => loadConfig(productionEnv({ FILE_SCANNER: 'none' })), /Production needs FILE_SCANNER=clamd/);
  assert.throws(() => loadConfig(productionEnv({ FILE_SCANNER: '' })), /FILE_SCANNER/);
  assert.throws(() => loadConfig(productionEnv({ FILE_ENCRYPTION_KEYS: '' })), /FILE_ENCRYPTION_KEYS/);
  assert.throws(() => loadConfig(productionEnv({ FILE_ENCRYPTION_KEYS: 'f1:c2hvcnQ' })), /FILE_ENCRYPTION_KEYS/);
  assert.throws(() => loadConfig(productionEnv({ FILE_STORAGE: 's3' })), /FILE_STORAGE=s3 needs S3_BUCKET/);
  assert.throws(() => loadConfig(productionEnv({ FILE_STORAGE: 's3', S3_BUCKET: 'files', S3_ACCESS_KEY_ID: 'x' })), /S3_SECRET_ACCESS_KEY/);
  const s3 = loadConfig(productionEnv({ FILE_STORAGE: 's3', S3_BUCKET: 'dovecote-files', S3_PREFIX: 'practice/files', FILE_ENCRYPTION_KEYS: `new:${Buffer.alloc(32, 2).toString('base64url')},f1:${Buffer.alloc(32, 1).toString('base64url')}` }));
  assert.equal(s3.files.storage.kind, 's3');
  assert.deepEqual(s3.files.encryptionKeys.map((k) => k.id), ['new', 'f1']);
  assert.throws(() => loadConfig(productionEnv({ FILE_STORAGE: 's3', S3_BUCKET: 'b', S3_PREFIX: '../up' })), /S3_PREFIX/);
  assert.throws(() => loadConfig(productionEnv({ DOCUMENT_AVAILABLE_DAYS: '3' })), /DOCUMENT_NOT_OPENED_DAYS must be fewer than DOCUMENT_AVAILABLE_DAYS/);
  // Development: files under DATA_DIR, unscanned (pages say so), a key made once and kept.
  const dir = dataDir();
  const development = loadConfig({ NODE_ENV: 'development', DATA_DIR: dir });
  assert.deepEqual(development.files.scanner, { kind: 'none' });
  assert.deepEqual(development.files.storage, { kind: 'local', rootDir: path.join(dir, 'files') });
  const again = loadConfig({ NODE_ENV: 'development', DATA_DIR: dir });
  assert.deepEqual(again.files.encryptionKeys, development.files.encryptionKeys);
});

test('a development data directory made before file keys existed gains one and keeps its other secrets', () => {
  const dir = dataDir();
  const old = { codeHmacKeys: `k1:${Buffer.alloc(32, 3).toString('base64url')}`, cookieSecret: 'c'.repeat(43), notifyCallbackToken: 'n'.repeat(32) };
  writeFileSync(path.join(dir, 'secrets.json'), JSON.stringify(old));
  const config = loadConfig({ NODE_ENV: 'development', DATA_DIR: dir });
  assert.equal(config.cookieSecret, old.cookieSecret);
  assert.equal(config.files.encryptionKeys.length, 1);
  const kept = JSON.parse(readFileSync(path.join(dir, 'secrets.json'), 'utf8')) as Record<string, string>;
  assert.equal(kept.cookieSecret, old.cookieSecret);
  assert.ok(kept.fileEncryptionKeys);
});

test('STAFF_SECOND_FACTOR: required by default and the only value production takes; off only outside production', () => {
  assert.equal(loadConfig(productionEnv()).staff.secondFactor, 'required');
  assert.equal(loadConfig(productionEnv({ STAFF_SECOND_FACTOR: 'required' })).staff.secondFactor, 'required');
  assert.throws(() => loadConfig(productionEnv({ STAFF_SECOND_FACTOR: 'off' })), (error: Error) => {
    assert.ok(error instanceof ConfigError);
    assert.match(error.message, /STAFF_SECOND_FACTOR=off is not allowed in production/);
    return true;
  });
  assert.throws(() => loadConfig(productionEnv({ STAFF_SECOND_FACTOR: 'maybe' })));
  assert.equal(loadConfig({ NODE_ENV: 'development', DATA_DIR: dataDir(), LOG_LEVEL: 'silent' }).staff.secondFactor, 'required');
  assert.equal(testConfig({ STAFF_SECOND_FACTOR: 'off' }).staff.secondFactor, 'off');
  assert.equal(testConfig({ STAFF_SECOND_FACTOR: 'required' }).staff.secondFactor, 'required');
});
