import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { createTestApp, TestClock } from '../../../test/helpers/app.ts';
import { createTestConversation } from '../../../test/helpers/factories.ts';
import { makeNotifyApiKey, STAND_IN_TEMPLATE_ID } from '../../../test/helpers/notify-stand-in.ts';
import { outboundSms } from '../../platform/db/schema.ts';
import { enqueueSms } from './outbox.service.ts';
import { readOutboundSms } from './sms-test-support.ts';

const TOKEN = 'test-notify-callback-token-0123456789';
const NOTIFY_CONFIG = {
  SMS_PROVIDER: 'notify',
  NOTIFY_API_KEY: makeNotifyApiKey(),
  NOTIFY_BASE_URL: 'http://127.0.0.1:9',
  NOTIFY_TEMPLATE_ID: STAND_IN_TEMPLATE_ID,
  NOTIFY_CALLBACK_TOKEN: TOKEN,
};

function receipt(reference: string | null, status: string, extra: Record<string, unknown> = {}) {
  return {
    id: randomUUID(),
    reference,
    to: '07700900001',
    status,
    created_at: '2026-11-26T10:00:00.000000Z',
    completed_at: '2026-11-26T10:00:05.000000Z',
    sent_at: '2026-11-26T10:00:01.000000Z',
    notification_type: 'sms',
    template_id: STAND_IN_TEMPLATE_ID,
    template_version: 1,
    ...extra,
  };
}

async function setup(t: { after(fn: () => Promise<void>): void }) {
  const clock = new TestClock();
  const testApp = await createTestApp({ config: NOTIFY_CONFIG, now: clock.now });
  t.after(testApp.close);
  const conversation = await createTestConversation(testApp.services);
  const [row] = await testApp.services.db.select().from(outboundSms).where(eq(outboundSms.conversationId, conversation.conversationId));
  // As the worker leaves it after Notify accepted the text.
  await testApp.services.db.update(outboundSms).set({ status: 'sent', providerId: randomUUID() }).where(eq(outboundSms.id, row!.id));
  const post = (body: unknown, authorization: string | null = `Bearer ${TOKEN}`) =>
    testApp.app.inject({
      method: 'POST',
      url: '/callbacks/notify/sms',
      headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
      payload: typeof body === 'string' ? body : JSON.stringify(body),
    });
  return { ...testApp, clock, conversation, outboxId: row!.id, post };
}

test('a receipt without the bearer token, or with the wrong one, is refused with 401 and changes nothing', async (t) => {
  const { app, post, services, outboxId } = await setup(t);
  assert.equal(app.hasRoute({ method: 'POST', url: '/callbacks/notify/sms' }), true);
  for (const authorization of [null, 'Bearer wrong-token-0123456789abcdef', TOKEN, `Basic ${TOKEN}`, `Bearer ${TOKEN}x`]) {
    const res = await post(receipt(outboxId, 'delivered'), authorization);
    assert.equal(res.statusCode, 401, `authorization ${authorization}`);
    assert.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8');
    assert.equal(res.json().detail, 'Send the callback bearer token in the Authorization header.');
  }
  assert.equal((await readOutboundSms(services, outboxId)).status, 'sent');
});

test('a receipt with a bad body gets 400 naming each wrong field', async (t) => {
  const { post } = await setup(t);
  const res = await post({ id: 'x', reference: 42, to: '07700900001', created_at: '2026-11-26T10:00:00Z', notification_type: 'sms' });
  assert.equal(res.statusCode, 400);
  assert.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8');
  const fields = (res.json().errors as Array<{ field: string }>).map((e) => e.field).sort();
  assert.deepEqual(fields, ['reference', 'status']);

  const notJson = await post('{not json');
  assert.equal(notJson.statusCode, 400);
  assert.equal(notJson.json().detail, 'The request body is not valid JSON.');

  const notObject = await post('[]');
  assert.equal(notObject.statusCode, 400);
  assert.deepEqual(notObject.json().errors, [{ field: '(body)', message: 'The request body must be a JSON object' }]);
});

test("'delivered' marks the text delivered and updates updatedAt; extra fields are accepted", async (t) => {
  const { post, services, outboxId, clock } = await setup(t);
  clock.advance(60_000);
  const res = await post(receipt(outboxId, 'delivered', { cost_in_pounds: 0.0227, something_new: true }));
  assert.equal(res.statusCode, 200);
  const row = await readOutboundSms(services, outboxId);
  assert.equal(row.status, 'delivered');
  assert.equal(row.updatedAt.toISOString(), clock.now().toISOString());
});

test("'permanent-failure' marks the text permanent_failure, and a late 'delivered' does not undo it", async (t) => {
  const { post, services, outboxId } = await setup(t);
  assert.equal((await post(receipt(outboxId, 'permanent-failure'))).statusCode, 200);
  assert.equal((await readOutboundSms(services, outboxId)).status, 'permanent_failure');
  const late = await post(receipt(outboxId, 'delivered'));
  assert.equal(late.statusCode, 200);
  assert.equal(late.json().result, 'already-final');
  assert.equal((await readOutboundSms(services, outboxId)).status, 'permanent_failure');
});

test("'temporary-failure' and 'technical-failure' are recorded; 'sending' and 'pending' are ignored", async (t) => {
  const { post, services, outboxId } = await setup(t);
  assert.equal((await post(receipt(outboxId, 'pending'))).json().result, 'ignored-status');
  assert.equal((await readOutboundSms(services, outboxId)).status, 'sent');
  assert.equal((await post(receipt(outboxId, 'temporary-failure'))).statusCode, 200);
  assert.equal((await readOutboundSms(services, outboxId)).status, 'temporary_failure');

  const other = await enqueueSms(services.db, services.jobs, {
    organisationId: (await readOutboundSms(services, outboxId)).organisationId,
    kind: 'security_code',
    phoneE164: '+447700900001',
    personalisation: { organisation_name: 'Test', thing: 'message', code: '123456' },
  });
  assert.equal((await post(receipt(other.id, 'technical-failure'))).statusCode, 200);
  const failed = await readOutboundSms(services, other.id);
  assert.equal(failed.status, 'technical_failure');
  assert.deepEqual(failed.personalisation, { organisation_name: 'Test', thing: 'message' }, 'a failed code is wiped too');
});

test('a receipt for an unknown reference is answered 200 so Notify does not retry it', async (t) => {
  const { post, services, outboxId } = await setup(t);
  for (const reference of [randomUUID(), 'not-a-uuid', null]) {
    const res = await post(receipt(reference, 'delivered'));
    assert.equal(res.statusCode, 200);
    assert.equal(res.json().result, 'unknown');
  }
  assert.equal((await readOutboundSms(services, outboxId)).status, 'sent');
});

test('the callback route does not exist when texts go to the development transport', async (t) => {
  const { app, close } = await createTestApp();
  t.after(close);
  assert.equal(app.hasRoute({ method: 'POST', url: '/callbacks/notify/sms' }), false);
  const res = await app.inject({ method: 'POST', url: '/callbacks/notify/sms', headers: { authorization: `Bearer ${TOKEN}` }, payload: {} });
  assert.notEqual(res.statusCode, 200);
});
