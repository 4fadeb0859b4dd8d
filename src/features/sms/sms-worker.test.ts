import { test } from 'node:test';
import type { PgBoss } from 'pg-boss';
import type { Services } from '../../services.ts';
import assert from 'node:assert/strict';
import { eq } from 'drizzle-orm';
import { createTestApp } from '../../../test/helpers/app.ts';
import { createTestConversation, createTestOrganisation } from '../../../test/helpers/factories.ts';
import { makeNotifyApiKey, notifyConfigFor, parseNotifyApiKey, STAND_IN_TEMPLATE_ID, startNotifyStandIn } from '../../../test/helpers/notify-stand-in.ts';
import { devPhoneTexts, outboundSms } from '../../platform/db/schema.ts';
import { SMS_QUEUES as QUEUES } from './sms-queues.ts';
import { enqueueSms } from './outbox.service.ts';
import { defaultBatchSize, deliverOutboundSms, handleDeadSmsJob, type DeliveryContext } from './sms-worker.ts';
import { cleanupStack, eventually, readOutboundSms, startFastWorker, waitForSmsStatus, type Defer } from './sms-test-support.ts';
import { TokenBucket } from './token-bucket.ts';
import { RetryableSmsError, type SmsTransport } from './transports/sms-transport.ts';
import { createSmsTransport } from './transports/create-transport.ts';

const PHONE = '+447700900001';

async function notifyApp(defer: Defer, opts: { apiKey?: string; standInKeys?: string[] } = {}) {
  const standIn = await startNotifyStandIn(opts.standInKeys ? { apiKeys: opts.standInKeys } : {});
  const logLines: string[] = [];
  const testApp = await createTestApp({ config: notifyConfigFor(standIn, opts.apiKey), logLines });
  defer(async () => {
    await testApp.close();
    await standIn.close();
  });
  return { ...testApp, standIn, logLines };
}

/** What the worker hands each delivery, for tests that drive deliverOutboundSms directly. */
function deliveryContext(services: Services, boss: PgBoss, overrides: Partial<DeliveryContext> = {}): DeliveryContext {
  return {
    services,
    transport: createSmsTransport(services),
    bucket: new TokenBucket(6000),
    boss,
    log: { info() {}, warn() {}, error() {} },
    staleAfterMs: 60_000,
    maxPauseMs: 30_000,
    rateLimitPauseMs: 5_000,
    ...overrides,
  };
}

function assertNoSecretsIn(lines: string[], secrets: string[]) {
  const all = lines.join('\n');
  for (const secret of secrets) assert.equal(all.includes(secret), false, `logs must not contain ${secret}`);
}

test('development transport: a sent message reaches the development phone once, and the row is marked sent', async (t) => {
  const defer = cleanupStack(t);
  const logLines: string[] = [];
  const { app, services, close } = await createTestApp({ logLines });
  defer(close);
  const conversation = await createTestConversation(services);
  const [queued] = await services.db.select().from(outboundSms).where(eq(outboundSms.conversationId, conversation.conversationId));
  assert.equal(queued!.status, 'queued');

  const stopWorkers = await app.startWorkers();
  defer(stopWorkers);
  const sent = await waitForSmsStatus(services, queued!.id, ['sent']);
  assert.equal(sent.attempts, 1);
  assert.equal(sent.providerId, `dev-${queued!.id}`);
  assert.ok(sent.sentAt);
  // Handed over: the outbox keeps no working link (a re-send makes a new one), only the phone has it.
  assert.equal(sent.personalisation.link, undefined);
  assert.ok(!JSON.stringify(sent).includes(conversation.token), 'no token left in the outbox row');
  assert.equal(sent.personalisation.organisation_name, conversation.organisation.name);

  const texts = await services.db.select().from(devPhoneTexts).where(eq(devPhoneTexts.outboundSmsId, queued!.id));
  assert.equal(texts.length, 1);
  assert.equal(texts[0]!.phoneE164, PHONE);
  assert.equal(
    texts[0]!.body,
    `Message from ${conversation.organisation.name}: you have a new message. Open it here: http://localhost:3000/${conversation.token}`,
  );

  const page = await app.inject({ method: 'GET', url: '/dev/phone' });
  assert.equal(page.statusCode, 200);
  assert.match(page.body, /This page exists only in development\. It shows the text messages Dovecote would have sent\./);
  assert.match(page.body, /07700 900001/);
  assert.ok(page.body.includes(`<a href="http://localhost:3000/${conversation.token}">http://localhost:3000/${conversation.token}</a>`));

  assertNoSecretsIn(logLines, [PHONE, conversation.token]);
  assert.ok(logLines.some((l) => l.includes('text sent')), 'the worker logs that it sent a text');
});

test('development phone page escapes what the text contains and still makes the link clickable', async (t) => {
  const defer = cleanupStack(t);
  const { app, services, close } = await createTestApp();
  defer(close);
  const organisation = await createTestOrganisation(services, { name: 'Dr <b>Evil</b> & "Partners"' });
  const conversation = await createTestConversation(services, { organisation });
  const stop = await startFastWorker(services);
  defer(stop);
  const [row] = await services.db.select().from(outboundSms).where(eq(outboundSms.conversationId, conversation.conversationId));
  await waitForSmsStatus(services, row!.id, ['sent']);

  const page = await app.inject({ method: 'GET', url: '/dev/phone' });
  assert.equal(page.statusCode, 200);
  assert.ok(page.body.includes('Message from Dr &lt;b&gt;Evil&lt;/b&gt; &amp; &quot;Partners&quot;: you have a new message.'));
  assert.equal(page.body.includes('<b>Evil</b>'), false);
  assert.ok(page.body.includes(`<a href="http://localhost:3000/${conversation.token}">`));

  const one = await app.inject({ method: 'GET', url: '/dev/phone/447700900001' });
  assert.equal(one.statusCode, 200);
  assert.match(one.body, /Texts to 07700 900001/);
  assert.match(one.body, /1 text message, newest first/);
});

test('Notify: the stand-in receives the text with the outbox id as reference, the template and the personalisation', async (t) => {
  const defer = cleanupStack(t);
  const { services, standIn, logLines } = await notifyApp(defer);
  // The worker starts first: its retry policy reaches the jobs enqueued after it.
  const stop = await startFastWorker(services, { logger: { info: (o, m) => logLines.push(JSON.stringify({ ...o, m })), warn: (o, m) => logLines.push(JSON.stringify({ ...o, m })), error: (o, m) => logLines.push(JSON.stringify({ ...o, m })) } });
  defer(stop);
  const conversation = await createTestConversation(services);
  const [row] = await services.db.select().from(outboundSms).where(eq(outboundSms.conversationId, conversation.conversationId));

  const sent = await waitForSmsStatus(services, row!.id, ['sent']);
  const received = standIn.byReference(row!.id);
  assert.equal(received.length, 1);
  assert.equal(received[0]!.templateId, STAND_IN_TEMPLATE_ID);
  assert.equal(received[0]!.phoneNumber, PHONE);
  // One template whose content is ((message)): Dovecote's own words, whole.
  assert.deepEqual(received[0]!.personalisation, {
    message: `Message from ${conversation.organisation.name}: you have a new message. Open it here: http://localhost:3000/${conversation.token}`,
  });
  assert.equal(received[0]!.body, received[0]!.personalisation.message);
  assert.equal(sent.providerId, received[0]!.id);
  assert.equal(sent.attempts, 1);
  assertNoSecretsIn(logLines, [PHONE, conversation.token]);
});

test('Notify: a key the provider does not accept gets 403 and the text is marked permanent_failure, not retried', async (t) => {
  const defer = cleanupStack(t);
  const good = makeNotifyApiKey();
  // Same service, wrong secret: the JWT signature does not verify.
  const wrong = makeNotifyApiKey({ serviceId: parseNotifyApiKey(good).serviceId });
  const { services, standIn, jobs } = await notifyApp(defer, { apiKey: wrong, standInKeys: [good] });
  // The worker starts first: its retry policy reaches the jobs enqueued after it.
  const stop = await startFastWorker(services);
  defer(stop);
  const conversation = await createTestConversation(services);
  const [row] = await services.db.select().from(outboundSms).where(eq(outboundSms.conversationId, conversation.conversationId));

  const failed = await waitForSmsStatus(services, row!.id, ['permanent_failure']);
  assert.match(failed.lastError ?? '', /^Notify 403 AuthError: Invalid token/);
  assert.equal(failed.lastError!.includes('7700'), false);
  assert.equal(standIn.received.length, 0);
  assert.deepEqual(standIn.requests.map((r) => r.status), [403]);
  // The job ends (completed, no retry) once pg-boss has settled it after the handler returned.
  await eventually(async () => (await jobs.boss.findJobs(QUEUES.sendSms, { data: { outboundSmsId: row!.id } }))[0]?.state === 'completed', 'the job to complete');
  assert.deepEqual(standIn.requests.map((r) => r.status), [403]);
});

test('Notify: a security code is sent with its template and then wiped from the outbox', async (t) => {
  const defer = cleanupStack(t);
  const { services, standIn } = await notifyApp(defer);
  const conversation = await createTestConversation(services);
  const sms = await enqueueSms(services.db, services.jobs, {
    organisationId: conversation.organisation.id,
    conversationId: conversation.conversationId,
    linkId: conversation.linkId,
    kind: 'security_code',
    phoneE164: PHONE,
    personalisation: { organisation_name: conversation.organisation.name, thing: 'message', code: '482913' },
  });
  const stop = await startFastWorker(services);
  defer(stop);

  const sent = await waitForSmsStatus(services, sms.id, ['sent']);
  const [received] = standIn.byReference(sms.id);
  assert.equal(received!.templateId, STAND_IN_TEMPLATE_ID);
  assert.match(received!.personalisation.message!, /^482913 is your security code to open your message from /);
  assert.match(received!.body, /^482913 is your security code/);
  assert.deepEqual(sent.personalisation, { organisation_name: conversation.organisation.name, thing: 'message' });
});

test('Notify: a 500 is retried and the text is sent once', async (t) => {
  const defer = cleanupStack(t);
  const { services, standIn } = await notifyApp(defer);
  standIn.failNext({ kind: 'status', status: 500 });
  // The worker starts first: its retry policy reaches the jobs enqueued after it.
  const stop = await startFastWorker(services);
  defer(stop);
  const conversation = await createTestConversation(services);
  const [row] = await services.db.select().from(outboundSms).where(eq(outboundSms.conversationId, conversation.conversationId));

  const sent = await waitForSmsStatus(services, row!.id, ['sent']);
  assert.equal(sent.attempts, 2);
  assert.equal(sent.lastError, null);
  assert.deepEqual(standIn.requests.map((r) => r.status), [500, 201]);
  assert.equal(standIn.byReference(row!.id).length, 1);
});

test('Notify: 429 without Retry-After is retried with backoff; with Retry-After it is retried later', async (t) => {
  const defer = cleanupStack(t);
  const { services, standIn } = await notifyApp(defer);
  standIn.failNext({ kind: 'rate-limit' });
  standIn.failNext({ kind: 'rate-limit', retryAfter: '1' });
  // The worker starts first: its retry policy reaches the jobs enqueued after it.
  const stop = await startFastWorker(services);
  defer(stop);
  const conversation = await createTestConversation(services);
  const [row] = await services.db.select().from(outboundSms).where(eq(outboundSms.conversationId, conversation.conversationId));

  const sent = await waitForSmsStatus(services, row!.id, ['sent']);
  assert.deepEqual(standIn.requests.map((r) => r.status), [429, 429, 201]);
  assert.equal(sent.attempts, 3);
  assert.equal(standIn.byReference(row!.id).length, 1);
});

test('a Retry-After reschedules the job for that time and puts the row back in the queue', async (t) => {
  const defer = cleanupStack(t);
  const { services, jobs, close } = await createTestApp();
  defer(close);
  const conversation = await createTestConversation(services);
  const [row] = await services.db.select().from(outboundSms).where(eq(outboundSms.conversationId, conversation.conversationId));
  const transport: SmsTransport = {
    name: 'notify',
    send: async () => {
      throw new RetryableSmsError('Notify 429 RateLimitError: too many', { retryAfterSeconds: 300 });
    },
  };
  const ctx = deliveryContext(services, jobs.boss, { transport, maxPauseMs: 0 });
  const [job] = await jobs.boss.fetch<{ outboundSmsId: string }>(QUEUES.sendSms, { includeMetadata: true });
  assert.equal(job!.data.outboundSmsId, row!.id);

  const before = Date.now();
  assert.equal(await deliverOutboundSms(ctx, job!), 'rescheduled');
  const after = await jobs.boss.getJobById(QUEUES.sendSms, job!.id);
  assert.equal(after!.state, 'retry');
  assert.deepEqual(after!.data, { outboundSmsId: row!.id });
  assert.ok(after!.startAfter.getTime() >= before + 290_000, 'not before the Retry-After');
  const again = await readOutboundSms(services, row!.id);
  assert.equal(again.status, 'queued');
  assert.equal(again.lastError, 'Notify 429 RateLimitError: too many');
});

test('Notify: a 400 for one number marks that text permanent_failure and the others are still sent', async (t) => {
  const defer = cleanupStack(t);
  const { services, standIn } = await notifyApp(defer);
  standIn.rejectNumber('+447700900002');
  const organisation = await createTestOrganisation(services);
  const good = await createTestConversation(services, { organisation, patient: { nhsNumber: '9990000018', mobileNumber: '+447700900001' } });
  const bad = await createTestConversation(services, { organisation, patient: { nhsNumber: '9990000026', mobileNumber: '+447700900002' } });
  const rows = await services.db.select().from(outboundSms);
  const goodRow = rows.find((r) => r.conversationId === good.conversationId)!;
  const badRow = rows.find((r) => r.conversationId === bad.conversationId)!;
  const stop = await startFastWorker(services);
  defer(stop);

  const failed = await waitForSmsStatus(services, badRow.id, ['permanent_failure']);
  assert.equal(failed.lastError, "Notify 400 BadRequestError: Can't send to this recipient using a team-only API key");
  await waitForSmsStatus(services, goodRow.id, ['sent']);
  assert.equal(standIn.byReference(goodRow.id).length, 1);
  assert.equal(standIn.requests.filter((r) => r.reference === badRow.id).length, 1, 'a permanent failure is not retried');
});

test('Notify: a provider that hangs times out and the text is retried and sent once', async (t) => {
  const defer = cleanupStack(t);
  const { services, standIn } = await notifyApp(defer);
  standIn.failNext({ kind: 'hang' });
  // The worker starts first: its retry policy reaches the jobs enqueued after it.
  const stop = await startFastWorker(services, { notifyTimeoutMs: 2000 });
  defer(stop);
  const conversation = await createTestConversation(services);
  const [row] = await services.db.select().from(outboundSms).where(eq(outboundSms.conversationId, conversation.conversationId));

  const sent = await waitForSmsStatus(services, row!.id, ['sent']);
  assert.equal(sent.attempts, 2);
  assert.deepEqual(standIn.requests.map((r) => r.status), [0, 201]);
  assert.equal(standIn.byReference(row!.id).length, 1);
});

test('Notify: when every retry fails the text is marked technical_failure', async (t) => {
  const defer = cleanupStack(t);
  const { services, standIn } = await notifyApp(defer);
  standIn.failNext({ kind: 'status', status: 503 }, 10);
  // The worker starts first: its retry policy reaches the jobs enqueued after it.
  const stop = await startFastWorker(services, { retryLimit: 1 });
  defer(stop);
  const conversation = await createTestConversation(services);
  const [row] = await services.db.select().from(outboundSms).where(eq(outboundSms.conversationId, conversation.conversationId));

  const failed = await waitForSmsStatus(services, row!.id, ['technical_failure']);
  assert.equal(failed.attempts, 2);
  assert.match(failed.lastError ?? '', /^Gave up after 2 attempts\. Notify 503/);
  assert.equal(standIn.requests.length, 2);
});

test('the same job run twice sends once', async (t) => {
  const defer = cleanupStack(t);
  const { services, jobs, standIn } = await notifyApp(defer);
  const conversation = await createTestConversation(services);
  const [row] = await services.db.select().from(outboundSms).where(eq(outboundSms.conversationId, conversation.conversationId));
  const ctx = deliveryContext(services, jobs.boss, { maxPauseMs: 0 });
  const job = { id: 'job-1', retryCount: 0, retryLimit: 8, data: { outboundSmsId: row!.id } };
  assert.equal(await deliverOutboundSms(ctx, job), 'sent');
  assert.equal(await deliverOutboundSms(ctx, job), 'skipped');
  assert.equal(await deliverOutboundSms(ctx, { ...job, retryCount: 1 }), 'skipped');
  assert.equal(standIn.byReference(row!.id).length, 1);
  assert.equal((await readOutboundSms(services, row!.id)).attempts, 1);
});

test('a row left "sending" by a crashed attempt is taken again only once it is stale', async (t) => {
  const defer = cleanupStack(t);
  const { services, jobs, standIn } = await notifyApp(defer);
  const conversation = await createTestConversation(services);
  const [row] = await services.db.select().from(outboundSms).where(eq(outboundSms.conversationId, conversation.conversationId));
  const ctx = deliveryContext(services, jobs.boss, { maxPauseMs: 0 });
  const job = { id: 'job-1', retryCount: 1, retryLimit: 8, data: { outboundSmsId: row!.id } };
  await services.db.update(outboundSms).set({ status: 'sending', updatedAt: new Date(Date.now() - 5_000) }).where(eq(outboundSms.id, row!.id));
  await assert.rejects(deliverOutboundSms(ctx, job), /held by another attempt/, 'another attempt may still hold it: look again later');
  assert.equal(standIn.received.length, 0);
  await services.db.update(outboundSms).set({ updatedAt: new Date(Date.now() - 120_000) }).where(eq(outboundSms.id, row!.id));
  assert.equal(await deliverOutboundSms(ctx, job), 'sent');
  assert.equal(standIn.byReference(row!.id).length, 1);
});

test('a dead-lettered job marks its text technical_failure, but never one already sent', async (t) => {
  const defer = cleanupStack(t);
  const { services, close } = await createTestApp();
  defer(close);
  const a = await createTestConversation(services);
  const [row] = await services.db.select().from(outboundSms).where(eq(outboundSms.conversationId, a.conversationId));
  const log = { info() {}, warn() {}, error() {} };
  await handleDeadSmsJob({ services, log }, { outboundSmsId: row!.id });
  const failed = await readOutboundSms(services, row!.id);
  assert.equal(failed.status, 'technical_failure');
  assert.equal(failed.lastError, 'Sending failed repeatedly');

  await services.db.update(outboundSms).set({ status: 'sent', lastError: null }).where(eq(outboundSms.id, row!.id));
  await handleDeadSmsJob({ services, log }, { outboundSmsId: row!.id });
  assert.equal((await readOutboundSms(services, row!.id)).status, 'sent');
});

test('a batch of texts: each job is settled on its own, so one failure retries only that text', async (t) => {
  const defer = cleanupStack(t);
  const { services, standIn, jobs } = await notifyApp(defer);
  const organisation = await createTestOrganisation(services);
  // The first request fails: whichever text that is, it alone is tried twice.
  standIn.failNext({ kind: 'status', status: 503 });
  const nhsNumbers = ['9990000018', '9990000026', '9990000034', '9990000042', '9990000050', '9990000069'];
  for (const [i, nhsNumber] of nhsNumbers.entries()) {
    await createTestConversation(services, { organisation, patient: { nhsNumber, mobileNumber: `+4477009000${10 + i}` } });
  }
  const rows = await services.db.select().from(outboundSms);
  assert.equal(rows.length, nhsNumbers.length);
  // Batches of 4 with 3 in flight: more than one batch, and a batch is more than one at once.
  const stop = await startFastWorker(services, { batchSize: 4, concurrency: 3 });
  defer(stop);

  for (const row of rows) await waitForSmsStatus(services, row.id, ['sent']);
  for (const row of rows) assert.equal(standIn.byReference(row.id).length, 1, 'each text reaches the provider once');
  const attempts = (await services.db.select().from(outboundSms)).map((r) => r.attempts).sort();
  assert.deepEqual(attempts, [1, 1, 1, 1, 1, 2]);
  assert.equal(standIn.requests.length, nhsNumbers.length + 1);
  await eventually(async () => {
    const settled = await jobs.boss.findJobs(QUEUES.sendSms);
    return settled.length === nhsNumbers.length && settled.every((j) => j.state === 'completed');
  }, 'every job to complete');
});

test('a 429 without Retry-After pauses the whole bucket for the first retry delay, not just the one text', async (t) => {
  const defer = cleanupStack(t);
  const { services, jobs, close } = await createTestApp();
  defer(close);
  const conversation = await createTestConversation(services);
  const [row] = await services.db.select().from(outboundSms).where(eq(outboundSms.conversationId, conversation.conversationId));
  const pauses: number[] = [];
  const bucket = new TokenBucket(6000);
  bucket.pause = (ms: number) => void pauses.push(ms);
  const transport: SmsTransport = {
    name: 'notify',
    send: async () => {
      throw new RetryableSmsError('Notify 429 RateLimitError: too many', { rateLimited: true });
    },
  };
  const ctx = deliveryContext(services, jobs.boss, { transport, bucket, rateLimitPauseMs: 5_000 });
  const job = { id: 'job-1', retryCount: 0, retryLimit: 8, data: { outboundSmsId: row!.id } };
  await assert.rejects(deliverOutboundSms(ctx, job), /429/, 'the text itself is retried with the usual backoff');
  assert.deepEqual(pauses, [5_000]);
  assert.equal((await readOutboundSms(services, row!.id)).status, 'queued');

  // A 5xx is not the provider asking us to slow down: nobody else pauses.
  transport.send = async () => {
    throw new RetryableSmsError('Notify 503 Exception: down');
  };
  await assert.rejects(deliverOutboundSms(ctx, { ...job, retryCount: 1 }), /503/);
  assert.deepEqual(pauses, [5_000]);
});

test('the batch size is about a second of sending at the configured rate', () => {
  assert.equal(defaultBatchSize(3000), 50);
  assert.equal(defaultBatchSize(30), 1);
  assert.equal(defaultBatchSize(10_000_000), 100);
});
