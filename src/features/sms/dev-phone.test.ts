import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { buildApp } from '../../app.ts';
import type { Config } from '../../config/config.ts';
import { createTestApp, testConfig } from '../../../test/helpers/app.ts';
import { createTestDatabase } from '../../../test/helpers/database.ts';
import { startJobs } from '../../platform/jobs/jobs.ts';
import { devPhoneTexts } from '../../platform/db/schema.ts';
import { devPhoneEnabled, splitLinks } from './dev-phone.service.ts';
import { randomUUID } from 'node:crypto';

test('splitLinks finds http(s) links, leaves the rest as text, and keeps a full stop out of the link', () => {
  assert.deepEqual(splitLinks('Open <b>it</b> here: https://example.test/abc. Or javascript:alert(1) http://x.test/y'), [
    { text: 'Open <b>it</b> here: ' },
    { text: 'https://example.test/abc', href: 'https://example.test/abc' },
    { text: '. Or javascript:alert(1) ' },
    { text: 'http://x.test/y', href: 'http://x.test/y' },
  ]);
  assert.deepEqual(splitLinks('123456 is your security code'), [{ text: '123456 is your security code' }]);
});

test('the development phone exists only outside production and only with the development transport', () => {
  const base = testConfig();
  assert.equal(devPhoneEnabled(base), true);
  assert.equal(devPhoneEnabled({ ...base, env: 'production', isProduction: true }), false);
  assert.equal(devPhoneEnabled({ ...base, isProduction: true }), false);
  assert.equal(devPhoneEnabled({ ...base, sms: { ...base.sms, provider: 'notify' } }), false);
});

test('an app built with a production configuration has no /dev/phone, even with texts stored', async (t) => {
  const testDatabase = await createTestDatabase();
  const jobs = await startJobs(testDatabase.database, { supervise: false });
  // loadConfig refuses production without real secrets, so build the Config the way it would look.
  const config: Config = { ...testConfig(), env: 'production', isProduction: true };
  const app = await buildApp({ config, database: testDatabase.database, jobs, logger: pino({ level: 'silent' }) });
  await app.ready();
  t.after(async () => {
    await app.close();
    await jobs.stop({ graceful: false, timeout: 1000 });
    await testDatabase.database.close();
    await testDatabase.drop();
  });
  await testDatabase.database.db.insert(devPhoneTexts).values({ outboundSmsId: randomUUID(), phoneE164: '+447700900001', body: 'hello' });
  for (const url of ['/dev/phone', '/dev/phone/447700900001']) {
    const res = await app.inject({ method: 'GET', url });
    assert.equal(res.statusCode, 404, url);
    assert.match(res.body, /Page not found/);
    assert.doesNotMatch(res.body, /hello/);
  }
});

test('the phone page lists numbers with their newest text first, and says so when there are none', async (t) => {
  const { app, services, close } = await createTestApp();
  t.after(close);
  const empty = await app.inject({ method: 'GET', url: '/dev/phone' });
  assert.equal(empty.statusCode, 200);
  assert.match(empty.body, /<h1>Development phone<\/h1>/);
  assert.match(empty.body, /No text messages yet/);

  const t0 = Date.parse('2026-11-26T10:00:00Z');
  await services.db.insert(devPhoneTexts).values([
    { outboundSmsId: randomUUID(), phoneE164: '+447700900001', body: 'first to 001', createdAt: new Date(t0) },
    { outboundSmsId: randomUUID(), phoneE164: '+447700900002', body: 'only to 002', createdAt: new Date(t0 + 1000) },
    { outboundSmsId: randomUUID(), phoneE164: '+447700900001', body: 'second to 001', createdAt: new Date(t0 + 2000) },
  ]);
  const page = await app.inject({ method: 'GET', url: '/dev/phone' });
  assert.equal(page.statusCode, 200);
  const order = ['07700 900001', 'second to 001', 'first to 001', '07700 900002', 'only to 002'].map((s) => page.body.indexOf(s));
  assert.ok(order.every((i) => i >= 0), 'everything is shown');
  assert.deepEqual([...order].sort((a, b) => a - b), order, 'numbers by newest text, texts newest first');
  assert.match(page.body, /<a href="\/dev\/phone\/447700900001">07700 900001<\/a>/);

  const one = await app.inject({ method: 'GET', url: '/dev/phone/07700900002' });
  assert.equal(one.statusCode, 200);
  assert.match(one.body, /only to 002/);
  assert.doesNotMatch(one.body, /to 001/);
  assert.match(one.body, /All numbers/);

  const none = await app.inject({ method: 'GET', url: '/dev/phone/447700900009' });
  assert.equal(none.statusCode, 200);
  assert.match(none.body, /No text messages yet/);

  const bad = await app.inject({ method: 'GET', url: '/dev/phone/not-a-number' });
  assert.equal(bad.statusCode, 404);
  assert.match(bad.body, /Page not found/);
});
