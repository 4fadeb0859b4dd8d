import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestApp } from './helpers/app.ts';
import { freePort } from './helpers/server.ts';
import { checkFiles } from '../src/platform/http/health.routes.ts';
import { createClamdScanner } from '../src/platform/files/clamd-scanner.ts';
import type { FileStore } from '../src/platform/files/file-store.ts';
import type { Scanner } from '../src/platform/files/scanner.ts';

test('GET /health answers ok and /ready reports the database ready', async (t) => {
  const { app, close } = await createTestApp();
  t.after(close);
  const health = await app.inject({ method: 'GET', url: '/health' });
  assert.equal(health.statusCode, 200);
  assert.deepEqual(health.json(), { status: 'ok', sms: { heldByProviderProblem: 0, providerConfigurationErrors: 0 } });
  const ready = await app.inject({ method: 'GET', url: '/ready' });
  assert.equal(ready.statusCode, 200);
  assert.equal(ready.json().status, 'ready');
});

test('every response carries the security headers', async (t) => {
  const { app, close } = await createTestApp();
  t.after(close);
  const res = await app.inject({ method: 'GET', url: '/no-such-page/really' });
  assert.equal(res.statusCode, 404);
  assert.match(res.body, /Page not found/);
  assert.equal(res.headers['cache-control'], 'no-store');
  assert.equal(res.headers['referrer-policy'], 'no-referrer');
  assert.match(String(res.headers['x-robots-tag']), /noindex/);
  const csp = String(res.headers['content-security-policy']);
  assert.doesNotMatch(csp, /unsafe-inline/);
  assert.match(csp, /default-src 'self'/);
});

// ---- The file store and the scanner on /ready (issue 13) ----------------------------------------

test('/ready reports the file store and the scanner; FILE_SCANNER=none is reported as none', async (t) => {
  const { app, close } = await createTestApp();
  t.after(close);
  const ready = await app.inject({ method: 'GET', url: '/ready' });
  assert.equal(ready.statusCode, 200);
  assert.deepEqual(ready.json(), { status: 'ready', files: { store: 'ok', scanner: 'none' } });
});

test('a failing file store and an unreachable clamd: /ready says so, stays ready, and the details go to the log only', async (t) => {
  const closedPort = await freePort();
  const logLines: string[] = [];
  const { app, close } = await createTestApp({
    logLines,
    files: (defaults) => ({
      ...defaults,
      store: { ...defaults.store, check: async () => ({ ok: false, detail: "Access to bucket 'dovecote-secret-bucket' is denied." }) },
      scanner: createClamdScanner({ host: '127.0.0.1', port: closedPort, timeoutMs: 1000 }),
    }),
  });
  t.after(close);
  const health = await app.inject({ method: 'GET', url: '/health' });
  assert.equal(health.statusCode, 200);
  assert.deepEqual(health.json(), { status: 'ok', sms: { heldByProviderProblem: 0, providerConfigurationErrors: 0 } });
  const ready = await app.inject({ method: 'GET', url: '/ready' });
  assert.equal(ready.statusCode, 200);
  assert.deepEqual(ready.json(), { status: 'ready', files: { store: 'failing', scanner: 'failing' } });
  assert.doesNotMatch(ready.body, /dovecote-secret-bucket|127\.0\.0\.1/);
  const warning = logLines.map((line) => JSON.parse(line) as { level: number; msg: string; files?: Record<string, string> }).find((l) => l.files);
  assert.ok(warning, 'the failing checks are logged');
  assert.equal(warning.level, 40);
  assert.match(warning.files!.store!, /dovecote-secret-bucket/);
  assert.ok(warning.files!.scanner, 'the scanner problem is logged');
});

test('/ready polled at once runs each file check once (an unauthenticated page must not multiply probes)', async (t) => {
  let checks = 0;
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const { app, close } = await createTestApp({
    files: (defaults) => ({
      ...defaults,
      store: {
        ...defaults.store,
        check: async () => {
          checks += 1;
          await gate;
          return { ok: true };
        },
      },
    }),
  });
  t.after(close);
  const polls = Promise.all(Array.from({ length: 5 }, () => app.inject({ method: 'GET', url: '/ready' })));
  // Let every request reach the check before it answers.
  await new Promise((resolve) => setImmediate(resolve));
  release();
  const answers = await polls;
  assert.deepEqual(answers.map((a) => a.json().files.store), ['ok', 'ok', 'ok', 'ok', 'ok']);
  assert.equal(checks, 1);
});

test('a check that never answers counts as failing instead of holding /ready', async () => {
  const never = () => new Promise<{ ok: boolean }>(() => {});
  const result = await checkFiles({ store: { check: never } as unknown as FileStore, scanner: { name: 'clamd', check: never } as unknown as Scanner }, 50);
  assert.deepEqual(result.health, { store: 'failing', scanner: 'failing' });
  assert.match(result.problems.store!, /no answer within 50 ms/);
});
