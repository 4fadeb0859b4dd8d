import { test } from 'node:test';
import type { PgBoss } from 'pg-boss';
import type { Services } from '../../services.ts';
import assert from 'node:assert/strict';
import { eq } from 'drizzle-orm';
import { createTestApp, TestClock } from '../../../test/helpers/app.ts';
import { createTestConversation, createTestOrganisation, createTestStaff } from '../../../test/helpers/factories.ts';
import { pageText, signInAsStaff, staffGet } from '../../../test/helpers/staff.ts';
import { makeNotifyApiKey, notifyConfigFor, parseNotifyApiKey, STAND_IN_TEMPLATE_ID, startNotifyStandIn } from '../../../test/helpers/notify-stand-in.ts';
import { devPhoneTexts, links, outboundSms, patients } from '../../platform/db/schema.ts';
import { SMS_QUEUES as QUEUES } from './sms-queues.ts';
import { enqueueSms } from './outbox.service.ts';
import { defaultBatchSize, deliverOutboundSms, handleDeadSmsJob, heldRetryDelay, type DeliveryContext, type WorkerLog } from './sms-worker.ts';
import { cleanupStack, eventually, readOutboundSms, startFastWorker, waitForSmsStatus, type Defer } from './sms-test-support.ts';
import { TokenBucket } from './token-bucket.ts';
import { ProviderConfigurationSmsError, RetryableSmsError, type SmsTransport } from './transports/sms-transport.ts';
import { createSmsTransport } from './transports/create-transport.ts';
import { createNotifyTransport } from './transports/notify.transport.ts';

const PHONE = '+447700900001';

async function notifyApp(defer: Defer, opts: { apiKey?: string; standInKeys?: string[]; now?: () => Date } = {}) {
  const standIn = await startNotifyStandIn(opts.standInKeys ? { apiKeys: opts.standInKeys } : {});
  const logLines: string[] = [];
  const testApp = await createTestApp({ config: notifyConfigFor(standIn, opts.apiKey), logLines, now: opts.now });
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
    heldRetryDelaySeconds: 60,
    heldRetryDelayMaxSeconds: 900,
    ...overrides,
  };
}

/** A worker log that keeps what it was told, with the level. */
function capturingLog() {
  const lines: Array<{ level: 'info' | 'warn' | 'error'; fields: Record<string, unknown>; msg: string }> = [];
  const log: WorkerLog = {
    info: (fields, msg) => void lines.push({ level: 'info', fields: fields as Record<string, unknown>, msg }),
    warn: (fields, msg) => void lines.push({ level: 'warn', fields: fields as Record<string, unknown>, msg }),
    error: (fields, msg) => void lines.push({ level: 'error', fields: fields as Record<string, unknown>, msg }),
  };
  return { log, lines, errors: () => lines.filter((l) => l.level === 'error') };
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

test('Notify: a key the provider refuses (403) holds the text, not the patient’s failure: logged once, shown to staff, sent once the key is fixed', async (t) => {
  const defer = cleanupStack(t);
  const clock = new TestClock();
  const good = makeNotifyApiKey();
  // Same service, wrong secret: the JWT signature does not verify.
  const wrong = makeNotifyApiKey({ serviceId: parseNotifyApiKey(good).serviceId });
  const { app, services, standIn } = await notifyApp(defer, { apiKey: wrong, standInKeys: [good], now: clock.now });
  const logs = capturingLog();
  const held = { heldRetryDelaySeconds: 1, heldRetryDelayMaxSeconds: 1, logger: logs.log };
  // The worker starts first: its retry policy reaches the jobs enqueued after it.
  const stopWithWrongKey = await startFastWorker(services, held);
  const conversation = await createTestConversation(services);
  const [row] = await services.db.select().from(outboundSms).where(eq(outboundSms.conversationId, conversation.conversationId));

  // Refused three times: each time the text goes back in the queue, and only the first says so at error level.
  await eventually(async () => standIn.requests.length >= 3, 'three tries with the refused key');
  await stopWithWrongKey();
  const refused = await readOutboundSms(services, row!.id);
  assert.equal(refused.status, 'queued');
  assert.equal(refused.providerProblem, 'authentication');
  assert.equal(refused.lastError, 'Notify 403 AuthError: Invalid token: API key not found');
  assert.ok(standIn.requests.every((r) => r.status === 403));
  assert.equal(standIn.received.length, 0);
  const errors = logs.errors();
  assert.equal(errors.length, 1, 'one error line for the text, not one per try');
  assert.equal(errors[0]!.fields.outboundSmsId, row!.id);
  assert.equal(errors[0]!.fields.providerProblem, 'authentication');
  assert.equal(errors[0]!.fields.reason, 'Notify 403 AuthError: Invalid token: API key not found');
  assert.equal(logs.lines.filter((l) => l.msg.includes('permanent') || l.msg.includes('not retried')).length, 0);
  assertNoSecretsIn(logs.lines.map((l) => JSON.stringify(l)), [PHONE, conversation.token]);

  // Staff see a problem with the text service, not a problem with the patient's number.
  const staff = await createTestStaff(services, conversation.organisation.id);
  const jar = await signInAsStaff(app, staff.email, staff.password);
  const page = pageText((await staffGet(app, jar, `/staff/conversations/${conversation.conversationId}`)).body);
  assert.match(page, /Not sent yet There is a problem with our text service\. The text will be sent when the problem is fixed\./);
  assert.doesNotMatch(page, /The number does not exist/);
  const notDelivered = pageText((await staffGet(app, jar, '/staff?waiting=text-not-delivered')).body);
  assert.match(notDelivered, /Priya Shah .*Not sent yet/);

  // Operators put the right key in and restart: the next try sends it, once, and the problem is cleared.
  const fixedKey = createNotifyTransport({ apiKey: good, baseUrl: standIn.baseUrl, templateId: STAND_IN_TEMPLATE_ID });
  const stop = await startFastWorker(services, { ...held, transport: fixedKey });
  defer(stop);
  const sent = await waitForSmsStatus(services, row!.id, ['sent']);
  assert.equal(sent.providerProblem, null);
  assert.equal(sent.lastError, null);
  assert.equal(standIn.byReference(row!.id).length, 1);
  assert.equal(standIn.received.length, 1);
  assert.equal(standIn.requests.at(-1)!.status, 201);
  assert.equal(logs.errors().length, 1);
  assert.ok(logs.lines.some((l) => l.msg.startsWith('text sent: the provider takes our texts again')));
  const after = pageText((await staffGet(app, jar, `/staff/conversations/${conversation.conversationId}`)).body);
  assert.doesNotMatch(after, /Not sent yet/);
  assert.match(pageText((await staffGet(app, jar, '/staff?waiting=text-not-delivered')).body), /No open conversations are waiting for/);
});

test('a provider problem hands the text to a new job after a back-off that doubles, whatever the retries used, and errors once', async (t) => {
  const defer = cleanupStack(t);
  const { services, jobs, close } = await createTestApp();
  defer(close);
  const conversation = await createTestConversation(services);
  const [row] = await services.db.select().from(outboundSms).where(eq(outboundSms.conversationId, conversation.conversationId));
  const transport: SmsTransport = {
    name: 'notify',
    send: async () => {
      throw new ProviderConfigurationSmsError('configuration', 'Notify 400 BadRequestError: Template not found');
    },
  };
  const logs = capturingLog();
  const ctx = deliveryContext(services, jobs.boss, { transport, log: logs.log });
  const [first] = await jobs.boss.fetch<{ outboundSmsId: string }>(QUEUES.sendSms, { includeMetadata: true });
  const otherJobs = async (seen: string[]) =>
    (await jobs.boss.findJobs<{ outboundSmsId: string; held?: number }>(QUEUES.sendSms, { data: { outboundSmsId: row!.id } })).filter((j) => !seen.includes(j.id));

  const before = Date.now();
  // Even a job on its last retry: a provider problem never ends in technical_failure.
  assert.equal(await deliverOutboundSms(ctx, { ...first!, retryCount: first!.retryLimit }), 'held');
  const afterFirst = await readOutboundSms(services, row!.id);
  assert.equal(afterFirst.status, 'queued');
  assert.equal(afterFirst.providerProblem, 'configuration');
  assert.equal(afterFirst.lastError, 'Notify 400 BadRequestError: Template not found');
  const [second, ...more] = await otherJobs([first!.id]);
  assert.equal(more.length, 0);
  assert.deepEqual(second!.data, { outboundSmsId: row!.id, held: 1 });
  assert.ok(second!.startAfter.getTime() >= before + 59_000, 'not before a minute');

  assert.equal(await deliverOutboundSms(ctx, second!), 'held');
  const [third] = await otherJobs([first!.id, second!.id]);
  assert.deepEqual(third!.data, { outboundSmsId: row!.id, held: 2 });
  assert.ok(third!.startAfter.getTime() >= before + 119_000, 'then two minutes');

  assert.equal(logs.errors().length, 1);
  assert.equal(logs.errors()[0]!.fields.providerProblem, 'configuration');
  assert.deepEqual([0, 1, 2, 3, 4, 5, 40].map((n) => heldRetryDelay(n, 60, 900)), [60, 120, 240, 480, 900, 900, 900]);
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
  assert.equal(failed.lastError, 'Notify 400 ValidationError: phone_number Not a UK mobile number');
  assert.equal(failed.providerProblem, null);
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

test('a held text is not sent once its link was revoked, or the patient’s number changed, while it waited', async (t) => {
  const defer = cleanupStack(t);
  const { services, jobs, standIn } = await notifyApp(defer);
  const revoked = await createTestConversation(services);
  const renumbered = await createTestConversation(services, { patient: { nhsNumber: '9990000026', familyName: 'Evans', mobileNumber: '+447700900002' } });
  const stillWanted = await createTestConversation(services, { patient: { nhsNumber: '9990000034', familyName: 'Okafor', mobileNumber: '+447700900003' } });
  const rowOf = async (conversationId: string) => (await services.db.select().from(outboundSms).where(eq(outboundSms.conversationId, conversationId)))[0]!;
  // Held: the provider refused our key earlier.
  await services.db.update(outboundSms).set({ providerProblem: 'authentication' });
  await services.db.update(links).set({ revokedAt: services.now() }).where(eq(links.conversationId, revoked.conversationId));
  await services.db.update(patients).set({ mobileE164: '+447700900099' }).where(eq(patients.id, renumbered.patient.id));

  const ctx = deliveryContext(services, jobs.boss, { maxPauseMs: 0 });
  const deliver = async (conversationId: string) => {
    const row = await rowOf(conversationId);
    return { row, outcome: await deliverOutboundSms(ctx, { id: `job-${row.id}`, retryCount: 0, retryLimit: 8, data: { outboundSmsId: row.id } }) };
  };
  for (const [conversationId, reason] of [
    [revoked.conversationId, 'Not sent: the link was revoked while our text service could not send'],
    [renumbered.conversationId, 'Not sent: the patient’s mobile number changed while our text service could not send'],
  ] as const) {
    const { row, outcome } = await deliver(conversationId);
    assert.equal(outcome, 'technical_failure');
    const after = await readOutboundSms(services, row.id);
    assert.equal(after.status, 'technical_failure');
    assert.equal(after.lastError, reason);
    assert.equal(after.providerProblem, null);
    assert.equal(after.personalisation.link, undefined, 'the link is wiped like any finished text’s');
    assert.equal(standIn.byReference(row.id).length, 0, 'nothing reached the provider');
  }
  const { row, outcome } = await deliver(stillWanted.conversationId);
  assert.equal(outcome, 'sent', 'a held text whose link still works goes');
  assert.equal(standIn.byReference(row.id).length, 1);
});
