import { test } from 'node:test';
import assert from 'node:assert/strict';
import { and, eq } from 'drizzle-orm';
import { createTestApp, TestClock } from '../../../test/helpers/app.ts';
import { createTestConversation, createTestOrganisation, createTestPatient, TEST_PATIENT } from '../../../test/helpers/factories.ts';
import { apiKeys, auditEvents, conversationItems, conversations, links, outboundSms, patients, rateLimitHits } from '../../platform/db/schema.ts';
import type { Services } from '../../services.ts';
import { createApiKey, revokeApiKey } from './api-keys.service.ts';
import { API_RATE_LIMIT_PER_MINUTE, API_RATE_LIMIT_WINDOW_SECONDS, apiRateLimitKey } from './api.service.ts';

async function keyFor(services: Services, organisationId: string) {
  const { key, apiKey } = await createApiKey(services.db, { organisationId, name: 'Test integration' });
  return { key, id: apiKey.id, auth: { authorization: `Bearer ${key}` } };
}

async function setup(t: { after: (fn: () => Promise<void>) => void }, opts: { now?: () => Date; logLines?: string[] } = {}) {
  const testApp = await createTestApp(opts);
  t.after(testApp.close);
  const organisation = await createTestOrganisation(testApp.services);
  const key = await keyFor(testApp.services, organisation.id);
  return { ...testApp, organisation, key };
}

const NEW_PATIENT = { givenName: 'Tom', familyName: 'Evans', dateOfBirth: '1952-11-30', mobileNumber: '07700 900002' };

function assertProblem(res: { statusCode: number; headers: Record<string, unknown>; json: () => unknown }, status: number) {
  assert.equal(res.statusCode, status);
  assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
  const body = res.json() as { type: string; title: string; status: number; detail: string; errors?: Array<{ field: string; message: string }> };
  assert.equal(body.type, 'about:blank');
  assert.equal(body.status, status);
  assert.equal(typeof body.title, 'string');
  assert.equal(typeof body.detail, 'string');
  return body;
}

function fields(body: { errors?: Array<{ field: string }> }): string[] {
  return (body.errors ?? []).map((e) => e.field).sort();
}

// ---- Authentication ---------------------------------------------------------------------------

test('API: no key, a malformed header, an unknown key and a revoked key all get 401 problems', async (t) => {
  const { app, services, key } = await setup(t);
  const url = '/api/v1/messages/00000000-0000-4000-8000-000000000000';

  const none = await app.inject({ method: 'GET', url });
  assert.match(assertProblem(none, 401).detail, /Send your API key in the Authorization header/);
  assert.equal(none.headers['www-authenticate'], 'Bearer');

  const basic = await app.inject({ method: 'GET', url, headers: { authorization: 'Basic dXNlcjpwYXNz' } });
  assertProblem(basic, 401);

  const wrongSecret = key.key.slice(0, -4) + (key.key.endsWith('AAAA') ? 'BBBB' : 'AAAA');
  const bad = await app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${wrongSecret}` } });
  assert.match(assertProblem(bad, 401).detail, /not valid or has been revoked/);
  assert.equal(bad.headers['www-authenticate'], 'Bearer error="invalid_token"');

  const garbage = await app.inject({ method: 'GET', url, headers: { authorization: 'Bearer dck_nonsense' } });
  assertProblem(garbage, 401);

  assert.equal((await revokeApiKey(services.db, key.id))?.id, key.id);
  const revoked = await app.inject({ method: 'PUT', url: `/api/v1/patients/${TEST_PATIENT.nhsNumber}`, headers: key.auth, payload: NEW_PATIENT });
  assert.match(assertProblem(revoked, 401).detail, /revoked/);
  const [row] = await services.db.select().from(patients);
  assert.equal(row, undefined, 'a revoked key changed nothing');
});

test('API: a valid key records when it was last used', async (t) => {
  const clock = new TestClock();
  const { app, services, key } = await setup(t, { now: clock.now });
  const before = await services.db.select({ lastUsedAt: apiKeys.lastUsedAt }).from(apiKeys).where(eq(apiKeys.id, key.id));
  assert.equal(before[0]!.lastUsedAt, null);
  const res = await app.inject({ method: 'GET', url: '/api/v1/messages/00000000-0000-4000-8000-000000000000', headers: key.auth });
  assert.equal(res.statusCode, 404);
  const after = await services.db.select({ lastUsedAt: apiKeys.lastUsedAt }).from(apiKeys).where(eq(apiKeys.id, key.id));
  assert.equal(after[0]!.lastUsedAt?.toISOString(), clock.now().toISOString());
});

test('API: more than the per-key limit in a minute gets 429 with Retry-After; other keys are not affected', async (t) => {
  const clock = new TestClock(Date.parse('2026-11-26T10:00:15Z'));
  const { app, services, organisation, key } = await setup(t, { now: clock.now });
  // Fill this minute's window as if the key had already made its allowance of requests.
  await services.db.insert(rateLimitHits).values({
    key: apiRateLimitKey(key.id),
    windowStart: new Date('2026-11-26T10:00:00Z'),
    hits: API_RATE_LIMIT_PER_MINUTE,
    expiresAt: new Date(Date.parse('2026-11-26T10:00:00Z') + API_RATE_LIMIT_WINDOW_SECONDS * 1000),
  });
  const url = '/api/v1/messages/00000000-0000-4000-8000-000000000000';
  const limited = await app.inject({ method: 'GET', url, headers: key.auth });
  assert.match(assertProblem(limited, 429).title, /Too Many Requests/);
  assert.equal(limited.headers['retry-after'], '45');

  const other = await keyFor(services, organisation.id);
  assert.equal((await app.inject({ method: 'GET', url, headers: other.auth })).statusCode, 404);

  clock.advance(45_000);
  assert.equal((await app.inject({ method: 'GET', url, headers: key.auth })).statusCode, 404, 'a new minute, a new allowance');
});

// ---- PUT /api/v1/patients/{nhsNumber} -----------------------------------------------------------

test('PUT patient creates (201) then updates (200) within the key\'s organisation, and audits both', async (t) => {
  const { app, services, organisation, key } = await setup(t);
  const created = await app.inject({ method: 'PUT', url: '/api/v1/patients/999%20000%200026', headers: key.auth, payload: NEW_PATIENT });
  assert.equal(created.statusCode, 201);
  assert.deepEqual(created.json(), {
    nhsNumber: '9990000026',
    givenName: 'Tom',
    familyName: 'Evans',
    dateOfBirth: '1952-11-30',
    mobileNumber: '+447700900002',
  });

  const updated = await app.inject({
    method: 'PUT',
    url: '/api/v1/patients/9990000026',
    headers: key.auth,
    payload: { ...NEW_PATIENT, familyName: 'Evans-Price', mobileNumber: '+44 7700 900009' },
  });
  assert.equal(updated.statusCode, 200);
  assert.equal(updated.json().familyName, 'Evans-Price');
  assert.equal(updated.json().mobileNumber, '+447700900009');

  const rows = await services.db.select().from(patients).where(eq(patients.organisationId, organisation.id));
  assert.equal(rows.length, 1);
  const audit = await services.db.select().from(auditEvents).where(eq(auditEvents.patientId, rows[0]!.id)).orderBy(auditEvents.id);
  assert.deepEqual(
    audit.map((a) => [a.type, a.actorType, a.actorId, a.organisationId]),
    [
      ['patient.created', 'api_key', key.id, organisation.id],
      ['patient.updated', 'api_key', key.id, organisation.id],
    ],
  );
});

test('PUT patient with the same NHS number from another organisation makes that organisation its own patient', async (t) => {
  const { app, services, organisation } = await setup(t);
  await createTestPatient(services, organisation.id);
  const other = await createTestOrganisation(services);
  const otherKey = await keyFor(services, other.id);
  const res = await app.inject({ method: 'PUT', url: `/api/v1/patients/${TEST_PATIENT.nhsNumber}`, headers: otherKey.auth, payload: NEW_PATIENT });
  assert.equal(res.statusCode, 201, 'created in B: it does not reveal or touch A\'s record');
  const [inA] = await services.db
    .select()
    .from(patients)
    .where(and(eq(patients.organisationId, organisation.id), eq(patients.nhsNumber, TEST_PATIENT.nhsNumber)));
  assert.equal(inA!.givenName, TEST_PATIENT.givenName);
});

test('PUT patient: bad input gets 400 naming every wrong field', async (t) => {
  const { app, key, services } = await setup(t);
  const put = (url: string, payload: unknown) => app.inject({ method: 'PUT', url, headers: key.auth, payload: payload as object });

  const wrongTypes = assertProblem(await put('/api/v1/patients/9990000026', { givenName: 42, familyName: ['x'], dateOfBirth: 19521130, mobileNumber: null }), 400);
  assert.deepEqual(fields(wrongTypes), ['dateOfBirth', 'familyName', 'givenName', 'mobileNumber']);
  assert.ok(wrongTypes.errors!.some((e) => e.field === 'givenName' && e.message === 'givenName must be a string'));

  const missing = assertProblem(await put('/api/v1/patients/9990000026', {}), 400);
  assert.deepEqual(fields(missing), ['dateOfBirth', 'familyName', 'givenName', 'mobileNumber']);
  assert.ok(missing.errors!.some((e) => e.field === 'mobileNumber' && e.message === 'Enter a UK mobile number'));
  assert.ok(missing.errors!.some((e) => e.field === 'givenName' && e.message === "Enter the patient's given name"));

  const extra = assertProblem(await put('/api/v1/patients/9990000026', { ...NEW_PATIENT, nhsNumber: '9990000026', isAdmin: true }), 400);
  assert.deepEqual(extra.errors, [
    { field: 'nhsNumber', message: 'This field is not allowed' },
    { field: 'isAdmin', message: 'This field is not allowed' },
  ]);

  const values = assertProblem(
    await put('/api/v1/patients/1234567890', {
      givenName: 'x'.repeat(101),
      familyName: 'Evans',
      dateOfBirth: '2099-01-01',
      mobileNumber: '01632 960000',
    }),
    400,
  );
  assert.deepEqual(values.errors, [
    { field: 'nhsNumber', message: 'Enter a valid 10-digit NHS number' },
    { field: 'givenName', message: "The patient's given name must be 100 characters or fewer" },
    { field: 'dateOfBirth', message: 'Date of birth must be in the past and after 1890' },
    { field: 'mobileNumber', message: 'Enter a UK mobile number, like 07700 900123' },
  ]);

  const impossible = assertProblem(await put('/api/v1/patients/9990000026', { ...NEW_PATIENT, dateOfBirth: '1990-02-31' }), 400);
  assert.deepEqual(impossible.errors, [{ field: 'dateOfBirth', message: 'Date of birth must be a real date in the form YYYY-MM-DD' }]);

  const longMobile = assertProblem(await put('/api/v1/patients/9990000026', { ...NEW_PATIENT, mobileNumber: '0'.repeat(10_000) }), 400);
  assert.deepEqual(fields(longMobile), ['mobileNumber']);

  const notObject = assertProblem(await put('/api/v1/patients/9990000026', [NEW_PATIENT]), 400);
  assert.deepEqual(notObject.errors, [{ field: '(body)', message: 'The request body must be a JSON object' }]);

  assert.equal((await services.db.select().from(patients)).length, 0, 'nothing was written');
});

test('API bodies: malformed JSON 400, empty 400, oversized 413, form posts and text 415 — never 500', async (t) => {
  const { app, key } = await setup(t);
  const url = '/api/v1/patients/9990000026';
  const json = { ...key.auth, 'content-type': 'application/json' };

  const malformed = assertProblem(await app.inject({ method: 'PUT', url, headers: json, payload: '{"givenName": "Tom",' }), 400);
  assert.equal(malformed.detail, 'The request body is not valid JSON.');
  assert.deepEqual(fields(malformed), ['(body)']);

  const empty = assertProblem(await app.inject({ method: 'PUT', url, headers: json, payload: '' }), 400);
  assert.match(empty.detail, /empty/);

  const proto = assertProblem(await app.inject({ method: 'PUT', url, headers: json, payload: '{"__proto__": {"x": 1}, "givenName": "Tom"}' }), 400);
  assert.match(proto.detail, /not valid JSON/);

  const big = JSON.stringify({ ...NEW_PATIENT, givenName: 'x'.repeat(70 * 1024) });
  const tooLarge = assertProblem(await app.inject({ method: 'PUT', url, headers: json, payload: big }), 413);
  assert.match(tooLarge.detail, /64 KB or smaller/);

  const form = await app.inject({
    method: 'POST',
    url: '/api/v1/messages',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: 'nhsNumber=9990000018&body=hello&replyMode=none',
  });
  assert.equal(form.statusCode, 401, 'without a key a browser form post gets nowhere');

  const formWithKey = await app.inject({
    method: 'POST',
    url: '/api/v1/messages',
    headers: { ...key.auth, 'content-type': 'application/x-www-form-urlencoded' },
    payload: 'nhsNumber=9990000018&body=hello&replyMode=none',
  });
  assert.match(assertProblem(formWithKey, 415).detail, /Content-Type: application\/json/);

  const text = await app.inject({ method: 'PUT', url, headers: { ...key.auth, 'content-type': 'text/plain' }, payload: 'hello' });
  assertProblem(text, 415);
});

test('API: CSRF does not apply (no cookies), and unknown API addresses are problem 404s', async (t) => {
  const { app, key, services, organisation } = await setup(t);
  await createTestPatient(services, organisation.id);
  const res = await app.inject({
    method: 'POST',
    url: '/api/v1/messages',
    headers: key.auth,
    payload: { nhsNumber: TEST_PATIENT.nhsNumber, body: 'Hello', replyMode: 'none' },
  });
  assert.equal(res.statusCode, 201, 'no CSRF token or cookie needed');
  assert.equal(res.headers['set-cookie'], undefined, 'the API sets no cookies');
  const unknown = await app.inject({ method: 'GET', url: '/api/v1/nothing-here', headers: key.auth });
  assertProblem(unknown, 404);
});

// ---- POST /api/v1/messages -----------------------------------------------------------------------

test('POST message sends to a patient of the organisation: 201, Location, queued text, audit by API key', async (t) => {
  const { app, services, organisation, key } = await setup(t);
  const patient = await createTestPatient(services, organisation.id);
  const res = await app.inject({
    method: 'POST',
    url: '/api/v1/messages',
    headers: key.auth,
    payload: { nhsNumber: '999 000 0018', body: 'Your blood test results are normal.', replyMode: 'conversation' },
  });
  assert.equal(res.statusCode, 201);
  const body = res.json();
  assert.match(body.id, /^[0-9a-f-]{36}$/);
  assert.equal(body.status, 'queued');
  assert.equal(body.replyMode, 'conversation');
  assert.ok(!Number.isNaN(Date.parse(body.createdAt)));
  assert.equal(res.headers.location, `/api/v1/messages/${body.id}`);

  const [conversation] = await services.db.select().from(conversations).where(eq(conversations.id, body.id));
  assert.equal(conversation!.patientId, patient.id);
  assert.equal(conversation!.createdByApiKeyId, key.id);
  const [sms] = await services.db.select().from(outboundSms).where(eq(outboundSms.conversationId, body.id));
  assert.equal(sms!.kind, 'message_link');
  assert.equal(sms!.phoneE164, TEST_PATIENT.mobileNumber);
  const [audit] = await services.db.select().from(auditEvents).where(and(eq(auditEvents.conversationId, body.id), eq(auditEvents.type, 'message.sent')));
  assert.equal(audit!.actorType, 'api_key');
  assert.equal(audit!.actorId, key.id);

  const read = await app.inject({ method: 'GET', url: res.headers.location as string, headers: key.auth });
  assert.equal(read.statusCode, 200);
});

test('POST message: an unknown patient and another organisation\'s patient get the same 404', async (t) => {
  const { app, services, organisation } = await setup(t);
  await createTestPatient(services, organisation.id);
  const other = await createTestOrganisation(services);
  const otherKey = await keyFor(services, other.id);

  const send = (nhsNumber: string) =>
    app.inject({ method: 'POST', url: '/api/v1/messages', headers: otherKey.auth, payload: { nhsNumber, body: 'Hello', replyMode: 'none' } });
  const theirs = await send(TEST_PATIENT.nhsNumber);
  const unknown = await send('9990000026');
  const a = assertProblem(theirs, 404);
  assert.match(a.detail, /no patient with this NHS number in your organisation/);
  assert.deepEqual(theirs.json(), unknown.json(), 'nothing says the patient exists elsewhere');
  assert.equal((await services.db.select().from(conversations)).length, 0);
  assert.equal((await services.db.select().from(outboundSms)).length, 0);
});

test('POST message: bad input gets 400 naming every wrong field', async (t) => {
  const { app, services, key } = await setup(t);
  const post = (payload: unknown) => app.inject({ method: 'POST', url: '/api/v1/messages', headers: key.auth, payload: payload as object });

  const missing = assertProblem(await post({}), 400);
  assert.deepEqual(fields(missing), ['body', 'nhsNumber', 'replyMode']);

  const wrong = assertProblem(await post({ nhsNumber: '9990000019', body: '   ', replyMode: 'always', sendAt: 'tomorrow' }), 400);
  assert.deepEqual(wrong.errors, [
    { field: 'nhsNumber', message: 'Enter a valid 10-digit NHS number' },
    { field: 'body', message: 'Enter a message' },
    { field: 'replyMode', message: "Choose the reply mode: 'none', 'once' or 'conversation'" },
    { field: 'sendAt', message: 'This field is not allowed' },
  ]);

  const long = assertProblem(await post({ nhsNumber: TEST_PATIENT.nhsNumber, body: 'x'.repeat(5001), replyMode: 'none' }), 400);
  assert.deepEqual(long.errors, [{ field: 'body', message: 'Message must be 5,000 characters or fewer' }]);

  const types = assertProblem(await post({ nhsNumber: 9990000018, body: { text: 'hi' }, replyMode: 1 }), 400);
  assert.deepEqual(fields(types), ['body', 'nhsNumber', 'replyMode']);
  assert.equal((await services.db.select().from(conversations)).length, 0);
});

// ---- GET /api/v1/messages/{id} -------------------------------------------------------------------

test('GET message returns status, link state and replies, and audits the read', async (t) => {
  const clock = new TestClock();
  const { app, services, organisation, key } = await setup(t, { now: clock.now });
  const conv = await createTestConversation(services, { organisation, replyMode: 'conversation' });
  await services.db.insert(conversationItems).values([
    { conversationId: conv.conversationId, kind: 'patient_reply', body: 'Thank you', createdAt: clock.now() },
    { conversationId: conv.conversationId, kind: 'patient_reply', body: 'One more thing', createdAt: clock.now() },
  ]);
  const url = `/api/v1/messages/${conv.conversationId}`;

  const res = await app.inject({ method: 'GET', url, headers: key.auth });
  assert.equal(res.statusCode, 200);
  const body = res.json();
  assert.equal(body.id, conv.conversationId);
  assert.equal(body.status, 'queued');
  assert.equal(body.failureReason, undefined);
  assert.equal(body.replyMode, 'conversation');
  assert.deepEqual(body.patient, { nhsNumber: TEST_PATIENT.nhsNumber });
  assert.equal(body.link.state, 'active');
  assert.equal(body.link.expiresAt, new Date(clock.now().getTime() + 7 * 86_400_000).toISOString());
  assert.deepEqual(
    body.replies.map((r: { body: string }) => r.body),
    ['Thank you', 'One more thing'],
  );
  assert.match(body.replies[0].id, /^[0-9a-f-]{36}$/);
  assert.equal(JSON.stringify(body).includes('blood test'), false, "the staff message body is not echoed");

  const [audit] = await services.db.select().from(auditEvents).where(eq(auditEvents.type, 'api.message_viewed'));
  assert.equal(audit!.actorType, 'api_key');
  assert.equal(audit!.actorId, key.id);
  assert.equal(audit!.conversationId, conv.conversationId);

  await services.db.update(outboundSms).set({ status: 'delivered' }).where(eq(outboundSms.conversationId, conv.conversationId));
  assert.equal((await app.inject({ method: 'GET', url, headers: key.auth })).json().status, 'delivered');

  await services.db.update(outboundSms).set({ status: 'permanent_failure' }).where(eq(outboundSms.conversationId, conv.conversationId));
  await services.db.update(links).set({ lockedUntil: new Date(clock.now().getTime() + 30 * 60_000) }).where(eq(links.id, conv.linkId));
  const failed = (await app.inject({ method: 'GET', url, headers: key.auth })).json();
  assert.equal(failed.status, 'failed');
  assert.equal(failed.failureReason, 'permanent_failure');
  assert.equal(failed.link.state, 'locked');

  clock.advance(8 * 86_400_000);
  assert.equal((await app.inject({ method: 'GET', url, headers: key.auth })).json().link.state, 'expired');
  await services.db.update(links).set({ revokedAt: clock.now() }).where(eq(links.id, conv.linkId));
  assert.equal((await app.inject({ method: 'GET', url, headers: key.auth })).json().link.state, 'revoked');
});

test('GET message: another organisation\'s message, an unknown id and a malformed id are all the same 404', async (t) => {
  const { app, services, organisation } = await setup(t);
  const conv = await createTestConversation(services, { organisation });
  const other = await createTestOrganisation(services);
  const otherKey = await keyFor(services, other.id);

  const theirs = await app.inject({ method: 'GET', url: `/api/v1/messages/${conv.conversationId}`, headers: otherKey.auth });
  const unknown = await app.inject({ method: 'GET', url: '/api/v1/messages/7d1f0c38-2f7c-4c62-9d55-0a6c1f7a5e11', headers: otherKey.auth });
  const malformed = await app.inject({ method: 'GET', url: "/api/v1/messages/not-a-uuid'%20OR%201=1", headers: otherKey.auth });
  assert.match(assertProblem(theirs, 404).detail, /no message with this id in your organisation/);
  assert.deepEqual(theirs.json(), unknown.json());
  assert.deepEqual(malformed.json(), unknown.json());
  assert.equal(malformed.statusCode, 404);
  const viewed = await services.db.select().from(auditEvents).where(eq(auditEvents.type, 'api.message_viewed'));
  assert.equal(viewed.length, 0, 'a refused read is not recorded as a view');
});

test('API logs carry no NHS numbers, phone numbers, dates of birth or message bodies', async (t) => {
  const logLines: string[] = [];
  const { app, key } = await setup(t, { logLines });
  await app.inject({ method: 'PUT', url: '/api/v1/patients/9990000026', headers: key.auth, payload: NEW_PATIENT });
  await app.inject({ method: 'PUT', url: '/api/v1/patients/9990000027', headers: key.auth, payload: { ...NEW_PATIENT, mobileNumber: '07700 9000' } });
  await app.inject({ method: 'POST', url: '/api/v1/messages', headers: key.auth, payload: { nhsNumber: '9990000026', body: 'Secret results', replyMode: 'none' } });
  // The test logger lacks the production req serializer (route only), so Fastify's own request lines
  // show full URLs here; check what the API itself logs.
  const all = logLines.filter((l) => !/"msg":"(incoming request|request completed)"/.test(l)).join('\n');
  assert.ok(logLines.length > 0);
  for (const secret of ['9990000026', '9990000027', '7700', '1952-11-30', 'Secret results', key.key]) {
    assert.equal(all.includes(secret), false, `logs must not contain ${secret}`);
  }
});

// ---- OpenAPI -------------------------------------------------------------------------------------

test('OpenAPI JSON describes bearer auth, the endpoints and their schemas', async (t) => {
  const { app } = await setup(t);
  const res = await app.inject({ method: 'GET', url: '/api/openapi.json' });
  assert.equal(res.statusCode, 200);
  assert.match(String(res.headers['content-type']), /^application\/json/);
  const doc = res.json();
  assert.equal(doc.openapi, '3.1.0');
  assert.deepEqual(doc.components.securitySchemes.apiKey, {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'dck_<prefix>_<secret>',
    description: 'Organisation API key.',
  });
  assert.deepEqual(Object.keys(doc.paths).sort(), [
    '/api/v1/appointment-types',
    '/api/v1/booking-invitations',
    '/api/v1/booking-invitations/{id}',
    '/api/v1/booking-slots',
    '/api/v1/bookings',
    '/api/v1/documents',
    '/api/v1/documents/{id}',
    '/api/v1/messages',
    '/api/v1/messages/{id}',
    '/api/v1/patients/{nhsNumber}',
    '/api/v1/questionnaire-requests',
    '/api/v1/questionnaire-requests/{id}/response',
    '/api/v1/questionnaires',
    '/api/v1/questionnaires/{id}',
  ]);
  const addQuestionnaire = doc.paths['/api/v1/questionnaires'].post;
  assert.deepEqual(Object.keys(addQuestionnaire.requestBody.content).sort(), ['application/fhir+json', 'application/json']);
  for (const status of ['200', '201', '400', '409', '413']) assert.ok(addQuestionnaire.responses[status], status);
  assert.ok(doc.paths['/api/v1/questionnaires'].get.responses['200']);
  assert.ok(doc.paths['/api/v1/questionnaires/{id}'].get.responses['404']);
  assert.deepEqual(doc.components.schemas.QuestionnaireCreate.properties.resourceType.const, 'Questionnaire');
  assert.ok(doc.components.schemas.Problem.properties.problems);
  // Every $ref in the document names a schema it defines.
  for (const ref of JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)) assert.ok(doc.components.schemas[ref[1]!], ref[1]);
  assert.ok(doc.paths['/api/v1/patients/{nhsNumber}'].put.responses['201']);
  assert.ok(doc.paths['/api/v1/messages'].post.responses['404']);
  assert.ok(doc.paths['/api/v1/messages/{id}'].get.responses['200']);
  const details = doc.components.schemas.PatientDetails;
  assert.equal(details.additionalProperties, false);
  assert.deepEqual(details.required, ['givenName', 'familyName', 'dateOfBirth', 'mobileNumber']);
  assert.equal(details.properties.givenName.maxLength, 100);
  assert.deepEqual(doc.components.schemas.MessageCreate.properties.replyMode.enum, ['none', 'once', 'conversation']);
  assert.ok(doc.components.schemas.Problem.properties.errors);
  assert.deepEqual(doc.components.schemas.Message.properties.link.properties.state.enum, ['active', 'expired', 'revoked', 'locked']);

  const viaUi = await app.inject({ method: 'GET', url: '/api/docs/json' });
  assert.deepEqual(viaUi.json(), doc, 'the docs page shows the same document');
});

test('API docs page is served from our own origin under the strict CSP', async (t) => {
  const { app } = await setup(t);
  const page = await app.inject({ method: 'GET', url: '/api/docs' });
  assert.equal(page.statusCode, 200);
  assert.match(String(page.headers['content-type']), /text\/html/);
  const csp = String(page.headers['content-security-policy']);
  assert.match(csp, /script-src 'self'(;|$)/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  assert.doesNotMatch(page.body, /<script>|<script [^>]*>[^<\s]/, 'no inline script');
  assert.doesNotMatch(page.body, /https?:\/\//, 'nothing from another origin');
  for (const src of page.body.matchAll(/(?:src|href)="([^"]+)"/g)) {
    const asset = await app.inject({ method: 'GET', url: new URL(src[1]!, 'http://localhost/api/docs').pathname });
    assert.equal(asset.statusCode, 200, src[1]);
  }
});


test('API: a PUT or POST to a path that does not exist gets a 404 problem, not a 403 (no CSRF check on nothing)', async (t) => {
  const { app, key } = await setup(t);
  // '/api/v1/patients/.' is what a client sends for an NHS number of '.': URL parsing drops the dot.
  for (const [method, url] of [['PUT', '/api/v1/patients/.'], ['PUT', '/api/v1/patients/'], ['POST', '/api/v1/no-such-thing']] as const) {
    const res = await app.inject({ method, url, headers: { ...key.auth, 'content-type': 'application/json' }, payload: '{}' });
    assertProblem(res, 404);
  }
  // Real forms are still protected: the route matrix proves every state-changing route needs its token.
});
