import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestApp } from './helpers/app.ts';

test('GET /health answers ok and /ready reports the database ready', async (t) => {
  const { app, close } = await createTestApp();
  t.after(close);
  const health = await app.inject({ method: 'GET', url: '/health' });
  assert.equal(health.statusCode, 200);
  assert.deepEqual(health.json(), { status: 'ok' });
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
