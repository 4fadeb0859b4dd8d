// The Idempotency-Key header on the API's creating POSTs: a request sent again with the same key gets the
// first response and sends nothing twice; another request with the key is refused; keys are each API
// key's own and last 24 hours.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { eq, isNull } from 'drizzle-orm';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { createTestApp, TestClock } from '../../../test/helpers/app.ts';
import { CATALOGUE_URL, createTestOrganisation, createTestPatient } from '../../../test/helpers/factories.ts';
import { multipart, samplePdf, type MultipartValue } from '../../../test/helpers/files.ts';
import { apiIdempotencyKeys, conversations, files, outboundSms } from '../../platform/db/schema.ts';
import type { Services } from '../../services.ts';
import { runMaintenance } from '../maintenance/maintenance.service.ts';
import { createApiKey } from './api-keys.service.ts';
import { insertClaim } from './api-idempotency.repository.ts';
import { claimIdempotencyKey, finishIdempotencyKey, IDEMPOTENCY_KEPT_MS, IDEMPOTENCY_LOCK_MS, requestFingerprint } from './api-idempotency.service.ts';

async function keyFor(services: Services, organisationId: string) {
  const { key, apiKey } = await createApiKey(services.db, { organisationId, name: 'Test integration' });
  return { id: apiKey.id, auth: { authorization: `Bearer ${key}` } };
}

async function setup(t: TestContext, options: Parameters<typeof createTestApp>[0] = {}) {
  const clock = new TestClock();
  const testApp = await createTestApp({ now: clock.now, ...options });
  t.after(testApp.close);
  const { services } = testApp;
  const organisation = await createTestOrganisation(services);
  const patient = await createTestPatient(services, organisation.id);
  const key = await keyFor(services, organisation.id);
  return { ...testApp, clock, organisation, patient, key };
}

const withKey = (auth: Record<string, string>, idempotencyKey?: string) => (idempotencyKey === undefined ? auth : { ...auth, 'idempotency-key': idempotencyKey });

const postMessage = (app: FastifyInstance, auth: Record<string, string>, payload: object, idempotencyKey?: string) =>
  app.inject({ method: 'POST', url: '/api/v1/messages', headers: withKey(auth, idempotencyKey), payload });

const MESSAGE = { nhsNumber: '9990000018', body: 'Your blood test results are normal.', replyMode: 'none' };

function assertProblem(res: LightMyRequestResponse, status: number): { detail: string; errors?: Array<{ field: string; message: string }> } {
  assert.equal(res.statusCode, status, res.body.slice(0, 400));
  assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
  const body = res.json();
  assert.equal(body.status, status);
  return body;
}

/** The second response is the first one again, marked as a replay. */
function assertReplay(first: LightMyRequestResponse, again: LightMyRequestResponse) {
  assert.equal(again.statusCode, first.statusCode);
  assert.equal(again.body, first.body);
  assert.equal(again.headers.location, first.headers.location);
  assert.equal(again.headers['content-type'], first.headers['content-type']);
  assert.equal(again.headers['idempotent-replayed'], 'true');
  assert.equal(first.headers['idempotent-replayed'], undefined);
}

const count = async (services: Services) => ({
  conversations: (await services.db.select().from(conversations)).length,
  texts: (await services.db.select().from(outboundSms)).length,
});

// ---- POST /api/v1/messages -----------------------------------------------------------------------

test('idempotency: the same key and body twice gives the first response again; one conversation, one text', async (t) => {
  const { app, services, key } = await setup(t);
  const first = await postMessage(app, key.auth, MESSAGE, 'order-1234');
  assert.equal(first.statusCode, 201, first.body);
  assert.match(String(first.headers.location), /^\/api\/v1\/messages\/[0-9a-f-]{36}$/);

  // The same body with its fields in another order is the same request.
  const again = await postMessage(app, key.auth, { replyMode: 'none', body: MESSAGE.body, nhsNumber: MESSAGE.nhsNumber }, 'order-1234');
  assertReplay(first, again);
  assert.deepEqual(await count(services), { conversations: 1, texts: 1 });
  const [row] = await services.db.select().from(apiIdempotencyKeys);
  assert.equal(row!.status, 'done');
  assert.equal(row!.apiKeyId, key.id);
  assert.deepEqual(Object.keys(row!.responseHeaders!).sort(), ['content-type', 'location'], 'only Location and Content-Type are kept');
});

test('idempotency: the same key with another body, or on another endpoint, is refused with 422 and sends nothing', async (t) => {
  const { app, services, key } = await setup(t);
  assert.equal((await postMessage(app, key.auth, MESSAGE, 'k-1')).statusCode, 201);

  const other = await postMessage(app, key.auth, { ...MESSAGE, body: 'Please book a review.' }, 'k-1');
  assert.match(assertProblem(other, 422).detail, /^Idempotency-Key was used with a different request/);
  const elsewhere = await app.inject({
    method: 'POST',
    url: '/api/v1/questionnaire-requests',
    headers: withKey(key.auth, 'k-1'),
    payload: { nhsNumber: MESSAGE.nhsNumber, questionnaire: { url: CATALOGUE_URL('weight-height-bmi'), version: '1.0.0' } },
  });
  assertProblem(elsewhere, 422);
  assert.deepEqual(await count(services), { conversations: 1, texts: 1 });

  // The first request's response is still what the key answers with.
  assert.equal((await postMessage(app, key.auth, MESSAGE, 'k-1')).headers['idempotent-replayed'], 'true');
});

test("idempotency: keys are each API key's own; another organisation's same key is its own request", async (t) => {
  const { app, services, key } = await setup(t);
  const otherOrganisation = await createTestOrganisation(services);
  await createTestPatient(services, otherOrganisation.id);
  const otherKey = await keyFor(services, otherOrganisation.id);

  const ours = await postMessage(app, key.auth, MESSAGE, 'shared-key');
  const theirs = await postMessage(app, otherKey.auth, MESSAGE, 'shared-key');
  assert.equal(ours.statusCode, 201);
  assert.equal(theirs.statusCode, 201, theirs.body);
  assert.equal(theirs.headers['idempotent-replayed'], undefined);
  assert.notEqual(theirs.json().id, ours.json().id);
  assert.deepEqual(await count(services), { conversations: 2, texts: 2 });
  const [theirConversation] = await services.db.select().from(conversations).where(eq(conversations.id, theirs.json().id));
  assert.equal(theirConversation!.organisationId, otherOrganisation.id);
});

test('idempotency: requests with the same key at the same time send once; the others get the response or 409', async (t) => {
  const { app, services, key } = await setup(t);
  const responses = await Promise.all(Array.from({ length: 4 }, () => postMessage(app, key.auth, MESSAGE, 'at-once')));
  const created = responses.filter((r) => r.statusCode === 201 && r.headers['idempotent-replayed'] === undefined);
  assert.equal(created.length, 1, responses.map((r) => `${r.statusCode} ${r.headers['idempotent-replayed'] ?? ''}`).join(', '));
  for (const res of responses) {
    if (res === created[0]) continue;
    if (res.statusCode === 409) {
      assert.equal(res.headers['retry-after'], '1');
      assert.match(assertProblem(res, 409).detail, /still being handled/);
    } else {
      assertReplay(created[0]!, res);
    }
  }
  assert.deepEqual(await count(services), { conversations: 1, texts: 1 });
});

test('idempotency: a refusal (400, 404) is kept and replayed; 429 is not kept', async (t) => {
  const { app, services, key } = await setup(t, { config: { ORGANISATION_DAILY_SEND_LIMIT: '1' } });
  const invalid = await postMessage(app, key.auth, { ...MESSAGE, replyMode: 'sometimes' }, 'bad-1');
  assertProblem(invalid, 400);
  assertReplay(invalid, await postMessage(app, key.auth, { ...MESSAGE, replyMode: 'sometimes' }, 'bad-1'));

  // No such patient: the key answers 404 for its 24 hours, even once the patient exists.
  const unknown = { ...MESSAGE, nhsNumber: '9990000026' };
  assertProblem(await postMessage(app, key.auth, unknown, 'who-1'), 404);
  await app.inject({ method: 'PUT', url: '/api/v1/patients/9990000026', headers: key.auth, payload: { givenName: 'Tom', familyName: 'Evans', dateOfBirth: '1952-11-30', mobileNumber: '07700 900002' } });
  const replayed = await postMessage(app, key.auth, unknown, 'who-1');
  assertProblem(replayed, 404);
  assert.equal(replayed.headers['idempotent-replayed'], 'true');
  assert.deepEqual(await count(services), { conversations: 0, texts: 0 });

  // Over the daily send limit: "not now", so the key is given up and may be sent again tomorrow.
  assert.equal((await postMessage(app, key.auth, MESSAGE, 'today-1')).statusCode, 201);
  assertProblem(await postMessage(app, key.auth, { ...MESSAGE, body: 'Second' }, 'today-2'), 429);
  const kept = await services.db.select({ key: apiIdempotencyKeys.idempotencyKey }).from(apiIdempotencyKeys);
  assert.deepEqual(kept.map((k) => k.key).sort(), ['bad-1', 'today-1', 'who-1']);
});

test('idempotency: a malformed key is refused with 400 naming the header, and nothing is sent', async (t) => {
  const { app, services, key } = await setup(t);
  for (const bad of ['', 'x'.repeat(256), 'caf\u00e9']) {
    const res = await postMessage(app, key.auth, MESSAGE, bad);
    const body = assertProblem(res, 400);
    assert.deepEqual(body.errors?.map((e) => e.field), ['Idempotency-Key'], JSON.stringify(bad));
  }
  assert.equal((await postMessage(app, key.auth, MESSAGE, 'x'.repeat(255))).statusCode, 201, '255 characters is a key');
  assert.deepEqual(await count(services), { conversations: 1, texts: 1 });
});

test('idempotency: after 24 hours a key is new again, and maintenance deletes keys that old', async (t) => {
  const { app, services, key, clock } = await setup(t);
  const first = await postMessage(app, key.auth, MESSAGE, 'daily-1');
  assert.equal(first.statusCode, 201);

  clock.advance(IDEMPOTENCY_KEPT_MS - 1);
  assert.equal((await runMaintenance(services)).idempotencyKeys, 0, 'still within its 24 hours');
  assert.equal((await postMessage(app, key.auth, MESSAGE, 'daily-1')).headers['idempotent-replayed'], 'true');

  clock.advance(1);
  const later = await postMessage(app, key.auth, { ...MESSAGE, body: 'A new message with an old key' }, 'daily-1');
  assert.equal(later.statusCode, 201, later.body);
  assert.equal(later.headers['idempotent-replayed'], undefined);
  assert.notEqual(later.json().id, first.json().id);
  assert.deepEqual(await count(services), { conversations: 2, texts: 2 });

  await postMessage(app, key.auth, MESSAGE, 'daily-2');
  clock.advance(IDEMPOTENCY_KEPT_MS + 1);
  assert.equal((await runMaintenance(services)).idempotencyKeys, 2);
  assert.deepEqual(await services.db.select().from(apiIdempotencyKeys), []);
});

test('idempotency: without the header every post sends, as before', async (t) => {
  const { app, services, key } = await setup(t);
  const one = await postMessage(app, key.auth, MESSAGE);
  const two = await postMessage(app, key.auth, MESSAGE);
  assert.equal(one.statusCode, 201);
  assert.equal(two.statusCode, 201);
  assert.notEqual(one.json().id, two.json().id);
  assert.deepEqual(await count(services), { conversations: 2, texts: 2 });
  assert.deepEqual(await services.db.select().from(apiIdempotencyKeys), []);
});

test('idempotency: a key held by a request still running gets 409; one whose request died is taken over', async (t) => {
  const { app, services, key, clock } = await setup(t);
  const fingerprint = requestFingerprint('POST', '/api/v1/messages', MESSAGE);
  await insertClaim(services.db, { apiKeyId: key.id, idempotencyKey: 'held' }, { fingerprint, now: clock.now(), lockedUntil: new Date(clock.now().getTime() + IDEMPOTENCY_LOCK_MS) });

  const busy = await postMessage(app, key.auth, MESSAGE, 'held');
  assertProblem(busy, 409);
  assert.equal(busy.headers['retry-after'], '1');
  assertProblem(await postMessage(app, key.auth, { ...MESSAGE, body: 'Other' }, 'held'), 422);
  assert.deepEqual(await count(services), { conversations: 0, texts: 0 });

  // The first request's process went away: once its lock has run out, the next request does the work.
  clock.advance(IDEMPOTENCY_LOCK_MS);
  const taken = await postMessage(app, key.auth, MESSAGE, 'held');
  assert.equal(taken.statusCode, 201, taken.body);
  assert.deepEqual(await count(services), { conversations: 1, texts: 1 });
  assertReplay(taken, await postMessage(app, key.auth, MESSAGE, 'held'));
});

test('idempotency: a failed request (5xx) gives its key up; a claim taken over is not overwritten by the one it replaced', async (t) => {
  const { services, key, clock } = await setup(t);
  const id = { apiKeyId: key.id, idempotencyKey: 'k' };
  const first = await claimIdempotencyKey(services, id, 'f');
  assert.ok('claim' in first);
  await finishIdempotencyKey(services, first.claim, { status: 503, headers: {}, body: '{}' });
  assert.deepEqual(await services.db.select().from(apiIdempotencyKeys), [], 'given up: the client may try again');

  const stale = await claimIdempotencyKey(services, id, 'f');
  assert.ok('claim' in stale);
  clock.advance(IDEMPOTENCY_LOCK_MS);
  const fresh = await claimIdempotencyKey(services, id, 'f');
  assert.ok('claim' in fresh);
  await finishIdempotencyKey(services, stale.claim, { status: 201, headers: {}, body: '"stale"' });
  await finishIdempotencyKey(services, stale.claim, { status: 500, headers: {}, body: '' });
  const [row] = await services.db.select().from(apiIdempotencyKeys);
  assert.equal(row!.status, 'in_progress', "the stale request neither stored nor deleted the new one's claim");
  await finishIdempotencyKey(services, fresh.claim, { status: 201, headers: {}, body: '"fresh"' });
  const replay = await claimIdempotencyKey(services, id, 'f');
  assert.deepEqual(replay, { replay: { status: 201, headers: {}, body: '"fresh"' } });
});

// ---- Other creating endpoints ----------------------------------------------------------------------

test('idempotency: POST /questionnaire-requests with the same key sends one questionnaire', async (t) => {
  const { app, services, key } = await setup(t);
  const payload = { nhsNumber: MESSAGE.nhsNumber, questionnaire: { url: CATALOGUE_URL('weight-height-bmi'), version: '1.0.0' }, closesAfterDays: 7 };
  const post = () => app.inject({ method: 'POST', url: '/api/v1/questionnaire-requests', headers: withKey(key.auth, 'q-1'), payload });
  const first = await post();
  assert.equal(first.statusCode, 201, first.body);
  assertReplay(first, await post());
  assert.deepEqual(await count(services), { conversations: 1, texts: 1 });
});

const pdfPart = (content: Buffer): [string, MultipartValue] => ['file', { fileName: 'results.pdf', content, type: 'application/pdf' }];

async function postDocument(app: FastifyInstance, auth: Record<string, string>, parts: Array<[string, MultipartValue]>, idempotencyKey: string) {
  const body = await multipart(parts);
  return app.inject({ method: 'POST', url: '/api/v1/documents', headers: { ...withKey(auth, idempotencyKey), 'content-type': body.contentType }, payload: body.payload });
}

test('idempotency: POST /documents with the same key and file sends one document; another file with the key is 422', async (t) => {
  const { app, services, key, patient } = await setup(t);
  const fields: Array<[string, MultipartValue]> = [['nhsNumber', patient.nhsNumber], ['title', 'Blood test results']];
  const pdf = samplePdf('Blood test results: all normal');
  const first = await postDocument(app, key.auth, [...fields, pdfPart(pdf)], 'doc-1');
  assert.equal(first.statusCode, 201, first.body);
  assertReplay(first, await postDocument(app, key.auth, [...fields, pdfPart(pdf)], 'doc-1'));
  assertProblem(await postDocument(app, key.auth, [...fields, pdfPart(samplePdf('Another letter'))], 'doc-1'), 422);
  assertProblem(await postDocument(app, key.auth, [['nhsNumber', patient.nhsNumber], ['title', 'Another title'], pdfPart(pdf)], 'doc-1'), 422);

  assert.deepEqual(await count(services), { conversations: 1, texts: 1 });
  // The uploads that were replayed or refused kept nothing: only the first file still has its bytes.
  assert.equal((await services.db.select().from(files).where(isNull(files.deletedAt))).length, 1);
});

test('OpenAPI: every creating POST documents the optional Idempotency-Key header and its 409 and 422', async (t) => {
  const { app } = await setup(t);
  const doc = (await app.inject({ method: 'GET', url: '/api/openapi.json' })).json();
  for (const path of ['/api/v1/messages', '/api/v1/documents', '/api/v1/questionnaires', '/api/v1/questionnaire-requests', '/api/v1/booking-invitations']) {
    const post = doc.paths[path].post;
    const header = post.parameters.find((p: { name: string }) => p.name === 'Idempotency-Key');
    assert.equal(header?.in, 'header', path);
    assert.equal(header.required, false);
    assert.ok(post.responses['409'].headers['Retry-After'], `${path} 409`);
    assert.ok(post.responses['422'], `${path} 422`);
  }
  assert.equal(doc.paths['/api/v1/patients/{nhsNumber}'].put.parameters.some((p: { name: string }) => p.name === 'Idempotency-Key'), false, 'PUT is idempotent already');
});
