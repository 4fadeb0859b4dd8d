// The per-organisation daily send limit (issue 10, item 13: one API key sent 1,129 texts in four
// minutes). ORGANISATION_DAILY_SEND_LIMIT new conversations a UK day (Europe/London), by staff and API
// keys together; operators are warned once at 80% and once at the limit; the API answers 429 with a
// problem that says the limit and when it resets; staff get a page that says so and keeps their words.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { and, count, eq, like } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import { createTestApp, TestClock, testConfig } from '../helpers/app.ts';
import { createTestOrganisation, createTestPatient, createTestStaff } from '../helpers/factories.ts';
import { pageText, signInAsStaff, staffPost } from '../helpers/staff.ts';
import { createApiKey } from '../../src/features/api/api-keys.service.ts';
import { auditEvents, conversations } from '../../src/platform/db/schema.ts';
import type { Services } from '../../src/services.ts';

const LIMIT = 5;

test('ORGANISATION_DAILY_SEND_LIMIT is 5,000 unless set, and must be a whole number of at least 1', () => {
  assert.equal(testConfig().organisationDailySendLimit, 5000);
  assert.equal(testConfig({ ORGANISATION_DAILY_SEND_LIMIT: '300' }).organisationDailySendLimit, 300);
  for (const bad of ['0', '-1', '2.5', 'lots']) assert.throws(() => testConfig({ ORGANISATION_DAILY_SEND_LIMIT: bad }), /ORGANISATION_DAILY_SEND_LIMIT/, bad);
});

async function apiSender(app: FastifyInstance, services: Services, name: string) {
  const organisation = await createTestOrganisation(services, { name });
  await createTestPatient(services, organisation.id);
  const { key } = await createApiKey(services.db, { organisationId: organisation.id, name: 'Test integration' });
  const send = () =>
    app.inject({
      method: 'POST',
      url: '/api/v1/messages',
      headers: { authorization: `Bearer ${key}` },
      payload: { nhsNumber: '9990000018', body: 'Your flu jab is due.', replyMode: 'none' },
    });
  return { organisation, send };
}

async function conversationsOf(services: Services, organisationId: string): Promise<number> {
  const [row] = await services.db.select({ n: count() }).from(conversations).where(eq(conversations.organisationId, organisationId));
  return Number(row!.n);
}

async function limitEvents(services: Services, organisationId: string) {
  const rows = await services.db
    .select({ type: auditEvents.type, details: auditEvents.details })
    .from(auditEvents)
    .where(and(eq(auditEvents.organisationId, organisationId), like(auditEvents.type, 'organisation.send_limit_%')))
    .orderBy(auditEvents.id);
  return rows.map((r) => [r.type, r.details.sentToday]);
}

test('API: the limit holds for the UK day, the 429 problem says the limit and when it resets, and operators are warned once', async (t) => {
  // 23:30 in London (BST) on 31 July: the UK day ends at 23:00 UTC, while the UTC day runs on to 1 August.
  const clock = new TestClock(Date.parse('2026-07-31T22:30:00Z'));
  const logLines: string[] = [];
  const { app, services, close } = await createTestApp({ now: clock.now, logLines, config: { ORGANISATION_DAILY_SEND_LIMIT: String(LIMIT) } });
  t.after(close);
  const surgery = await apiSender(app, services, 'Riverside Surgery');
  const hospital = await apiSender(app, services, 'City Hospital');

  for (let i = 1; i <= LIMIT; i++) assert.equal((await surgery.send()).statusCode, 201, `send ${i}`);
  const refused = await surgery.send();
  assert.equal(refused.statusCode, 429);
  assert.match(String(refused.headers['content-type']), /^application\/problem\+json/);
  const problem = refused.json() as { status: number; detail: string; limit: number; resetsAt: string };
  assert.equal(problem.status, 429);
  assert.equal(problem.limit, LIMIT);
  assert.equal(problem.resetsAt, '2026-07-31T23:00:00.000Z', 'midnight in London');
  assert.match(problem.detail, /Your organisation has sent 5 messages today, the most it can send in a day\. You can send more from midnight \(UK time\)/);
  assert.equal(refused.headers['retry-after'], '1800');
  assert.equal(await conversationsOf(services, surgery.organisation.id), LIMIT, 'nothing was written for the refused send');

  // Another organisation's day is its own.
  assert.equal((await hospital.send()).statusCode, 201);

  // Operators: one warning at 80% (the 4th send), one at the limit; each also in the audit trail.
  const warnings = logLines.map((l) => JSON.parse(l) as { level: number; msg: string; organisationId?: string; sentToday?: number; limit?: number }).filter((l) => l.organisationId === surgery.organisation.id);
  assert.deepEqual(
    warnings.map((l) => [l.level, l.sentToday, l.limit]),
    [
      [40, 4, LIMIT],
      [40, 5, LIMIT],
    ],
  );
  assert.match(warnings[0]!.msg, /80% of its daily send limit/);
  assert.match(warnings[1]!.msg, /reached its daily send limit/);
  assert.deepEqual(await limitEvents(services, surgery.organisation.id), [
    ['organisation.send_limit_warning', 4],
    ['organisation.send_limit_reached', 5],
  ]);

  // Still 31 July in UTC, but 1 August in London: a new day.
  clock.advance(30 * 60_000 + 1000);
  assert.equal((await surgery.send()).statusCode, 201);
});

test(`API: ${4 * LIMIT} sends at once from one organisation: exactly ${LIMIT} are sent`, async (t) => {
  const clock = new TestClock();
  const { app, services, close } = await createTestApp({ now: clock.now, config: { ORGANISATION_DAILY_SEND_LIMIT: String(LIMIT) } });
  t.after(close);
  const surgery = await apiSender(app, services, 'Riverside Surgery');
  const responses = await Promise.all(Array.from({ length: 4 * LIMIT }, () => surgery.send()));
  const statuses = responses.map((r) => r.statusCode).sort();
  assert.deepEqual(statuses, [...Array(LIMIT).fill(201), ...Array(3 * LIMIT).fill(429)]);
  assert.equal(await conversationsOf(services, surgery.organisation.id), LIMIT);
  assert.deepEqual(await limitEvents(services, surgery.organisation.id), [
    ['organisation.send_limit_warning', 4],
    ['organisation.send_limit_reached', 5],
  ]);
});

test('staff page: at the limit the message is not sent, the page says why and until when, and keeps the message', async (t) => {
  const clock = new TestClock(Date.parse('2026-11-26T15:00:00Z'));
  const { app, services, close } = await createTestApp({ now: clock.now, config: { ORGANISATION_DAILY_SEND_LIMIT: '2' } });
  t.after(close);
  const organisation = await createTestOrganisation(services);
  const patient = await createTestPatient(services, organisation.id);
  const staff = await createTestStaff(services, organisation.id);
  const jar = await signInAsStaff(app, staff.email, staff.password);
  const url = `/staff/patients/${patient.id}/message`;

  for (let i = 0; i < 2; i++) assert.equal((await staffPost(app, jar, url, { body: `Message ${i}`, replyMode: 'none' })).statusCode, 303);
  const refused = await staffPost(app, jar, url, { body: 'Please book your flu jab.', replyMode: 'once' });
  assert.equal(refused.statusCode, 429);
  const text = pageText(refused.body);
  assert.match(text, /Your message has not been sent/);
  assert.match(text, /Your organisation has sent 2 messages today, the most it can send in one day\. You can send more from midnight tonight \(UK time\)/);
  assert.match(refused.body, /Please book your flu jab\.<\/textarea>/, 'the message is kept');
  assert.match(refused.body, /value="once" checked/);
  assert.equal(await conversationsOf(services, organisation.id), 2);

  // Tomorrow (UK time) it goes.
  clock.advance(9 * 3_600_000 + 1000);
  assert.equal((await staffPost(app, jar, url, { body: 'Please book your flu jab.', replyMode: 'once' })).statusCode, 303);
});
