// The integrators' API for questionnaires sent to patients: POST /api/v1/questionnaire-requests sends
// one (the text queued, the conversation a questionnaire), and GET
// /api/v1/questionnaire-requests/{id}/response reads the patient's answers as a FHIR R4
// QuestionnaireResponse — in progress while they answer, completed once submitted — scoped to the
// key's organisation and audited.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { and, eq } from 'drizzle-orm';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { createTestApp, TestClock } from '../../../test/helpers/app.ts';
import {
  CATALOGUE_URL,
  createTestConversation,
  createTestOrganisation,
  createTestPatient,
  createTestQuestionnaireConversation,
  csrfFrom,
  latestLinkToken,
  TEST_PATIENT,
  type CookieJar,
} from '../../../test/helpers/factories.ts';
import { firstDevice, get, postForm, textOf } from '../../../test/helpers/patient.ts';
import { auditEvents, conversations, links, outboundSms } from '../../platform/db/schema.ts';
import type { Services } from '../../services.ts';
import { addQuestionnaire } from '../questionnaires/questionnaires.service.ts';
import { NOT_ANSWERED_YET } from '../questionnaires/staff-questionnaire.service.ts';
import { createApiKey } from './api-keys.service.ts';
import { QUESTIONNAIRE_REQUEST_NOT_FOUND } from './api.service.ts';

const WEIGHT_HEIGHT = { url: CATALOGUE_URL('weight-height-bmi'), version: '1.0.0' };
const DAY_MS = 86_400_000;

async function keyFor(services: Services, organisationId: string) {
  const { key, apiKey } = await createApiKey(services.db, { organisationId, name: 'Test integration' });
  return { key, id: apiKey.id, auth: { authorization: `Bearer ${key}` } };
}

async function setup(t: { after: (fn: () => Promise<void>) => void }, opts: { now?: () => Date; config?: Record<string, string> } = {}) {
  const testApp = await createTestApp(opts);
  t.after(testApp.close);
  const organisation = await createTestOrganisation(testApp.services);
  const key = await keyFor(testApp.services, organisation.id);
  return { ...testApp, organisation, key };
}

type ProblemBody = { type: string; title: string; status: number; detail: string; errors?: Array<{ field: string; message: string }>; limit?: number; resetsAt?: string };

function assertProblem(res: LightMyRequestResponse, status: number): ProblemBody {
  assert.equal(res.statusCode, status, res.body.slice(0, 300));
  assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
  const body = res.json() as ProblemBody;
  assert.equal(body.type, 'about:blank');
  assert.equal(body.status, status);
  assert.equal(typeof body.detail, 'string');
  return body;
}

const sendRequest = (app: FastifyInstance, auth: Record<string, string>, payload: unknown) =>
  app.inject({ method: 'POST', url: '/api/v1/questionnaire-requests', headers: auth, payload: payload as object });

const readResponse = (app: FastifyInstance, auth: Record<string, string>, id: string) =>
  app.inject({ method: 'GET', url: `/api/v1/questionnaire-requests/${id}/response`, headers: auth });

// The patient's side, through the real pages.
const questionPath = (token: string, linkId: string) => `/${token}/conversation/questions/${encodeURIComponent(linkId)}`;

async function answer(app: FastifyInstance, token: string, jar: CookieJar, linkId: string, value: string) {
  const res = await postForm(app, questionPath(token, linkId), jar, { value }, { csrfPage: questionPath(token, linkId) });
  assert.equal(res.statusCode, 303, `saving ${linkId}: ${textOf(res.body).slice(0, 300)}`);
}

async function submit(app: FastifyInstance, token: string, jar: CookieJar) {
  const check = await get(app, `/${token}/conversation/check`, jar);
  assert.equal(check.statusCode, 200, textOf(check.body).slice(0, 300));
  const revision = /name="revision" value="(\d+)"/.exec(check.body)![1]!;
  const res = await postForm(app, `/${token}/conversation/submit`, jar, { revision }, { csrf: csrfFrom(check.body) });
  assert.equal(res.headers.location, `/${token}/conversation?submitted=1`);
}

// ---- POST /api/v1/questionnaire-requests ---------------------------------------------------------

test('POST questionnaire request sends it: 201, the text queued, a questionnaire conversation, audited as the API key', async (t) => {
  const clock = new TestClock(Date.parse('2026-11-26T10:00:00Z'));
  const { app, services, organisation, key } = await setup(t, { now: clock.now });
  const patient = await createTestPatient(services, organisation.id);

  const res = await sendRequest(app, key.auth, { nhsNumber: '999 000 0018', questionnaire: WEIGHT_HEIGHT, closesAfterDays: 14 });
  assert.equal(res.statusCode, 201, res.body);
  assert.match(String(res.headers['content-type']), /^application\/json/);
  const body = res.json();
  assert.match(body.id, /^[0-9a-f-]{36}$/);
  assert.deepEqual(body, {
    id: body.id,
    status: 'queued',
    questionnaire: { ...WEIGHT_HEIGHT, title: 'Weight and height' },
    closesAt: new Date(clock.now().getTime() + 14 * DAY_MS).toISOString(),
    createdAt: clock.now().toISOString(),
  });

  const [conversation] = await services.db.select().from(conversations).where(eq(conversations.id, body.id));
  assert.equal(conversation!.kind, 'questionnaire');
  assert.equal(conversation!.patientId, patient.id);
  assert.equal(conversation!.createdByApiKeyId, key.id);
  assert.deepEqual(conversation!.payload, { ...WEIGHT_HEIGHT, title: 'Weight and height', closesAfterDays: 14 });
  const texts = await services.db.select().from(outboundSms).where(eq(outboundSms.conversationId, body.id));
  assert.equal(texts.length, 1, 'one text with the link');
  assert.equal(texts[0]!.phoneE164, TEST_PATIENT.mobileNumber);
  assert.equal(texts[0]!.status, 'queued');
  const [link] = await services.db.select().from(links).where(eq(links.conversationId, body.id));
  assert.equal(link!.expiresAt.toISOString(), body.closesAt);
  const [audit] = await services.db.select().from(auditEvents).where(and(eq(auditEvents.conversationId, body.id), eq(auditEvents.type, 'questionnaire.sent')));
  assert.equal(audit!.actorType, 'api_key');
  assert.equal(audit!.actorId, key.id);

  // Without closesAfterDays: the service's default (7 days).
  const byDefault = await sendRequest(app, key.auth, { nhsNumber: TEST_PATIENT.nhsNumber, questionnaire: { url: CATALOGUE_URL('phq-9'), version: '1.0.0' } });
  assert.equal(byDefault.statusCode, 201);
  assert.equal(byDefault.json().closesAt, new Date(clock.now().getTime() + 7 * DAY_MS).toISOString());
  assert.equal(byDefault.json().questionnaire.title, 'Depression questionnaire (PHQ-9)');

  // The patient opens the link and gets the questionnaire's start page.
  const jar = await firstDevice(app, await latestLinkToken(services, body.id));
  const start = await get(app, `/${await latestLinkToken(services, body.id)}/conversation`, jar);
  assert.equal(start.statusCode, 200);
  assert.match(textOf(start.body), /Weight and height from/);
});

test("POST questionnaire request: the organisation's own questionnaire can be sent; another organisation's cannot", async (t) => {
  const { app, services, organisation, key } = await setup(t);
  await createTestPatient(services, organisation.id);
  const own = { resourceType: 'Questionnaire', url: 'https://example.org/fhir/Questionnaire/hay-fever', version: '2', status: 'active', title: 'Hay fever', item: [{ linkId: 'sneezing', type: 'boolean', text: 'Sneezing?' }] };
  await addQuestionnaire(services, { organisationId: organisation.id, json: own, author: { type: 'operator', operator: 'test' } });
  const mine = await sendRequest(app, key.auth, { nhsNumber: TEST_PATIENT.nhsNumber, questionnaire: { url: own.url, version: '2' } });
  assert.equal(mine.statusCode, 201);
  assert.equal(mine.json().questionnaire.title, 'Hay fever');

  const other = await createTestOrganisation(services);
  await createTestPatient(services, other.id);
  const otherKey = await keyFor(services, other.id);
  const theirs = assertProblem(await sendRequest(app, otherKey.auth, { nhsNumber: TEST_PATIENT.nhsNumber, questionnaire: { url: own.url, version: '2' } }), 400);
  assert.deepEqual(theirs.errors, [{ field: 'questionnaire', message: theirs.detail }]);
});

test('POST questionnaire request: each kind of bad input gets a problem that says what is wrong, and nothing is sent', async (t) => {
  const { app, services, organisation, key } = await setup(t);
  await createTestPatient(services, organisation.id);
  const post = (payload: unknown) => sendRequest(app, key.auth, payload);
  const fieldsOf = (p: ProblemBody) => (p.errors ?? []).map((e) => e.field).sort();
  const valid = { nhsNumber: TEST_PATIENT.nhsNumber, questionnaire: WEIGHT_HEIGHT };

  const missing = assertProblem(await post({}), 400);
  assert.deepEqual(fieldsOf(missing), ['nhsNumber', 'questionnaire']);
  assert.ok(missing.errors!.some((e) => e.field === 'questionnaire' && /url and version/.test(e.message)));

  const halfQuestionnaire = assertProblem(await post({ ...valid, questionnaire: { url: WEIGHT_HEIGHT.url } }), 400);
  assert.deepEqual(halfQuestionnaire.errors, [{ field: 'questionnaire.version', message: "Enter the questionnaire's version" }]);

  const asString = assertProblem(await post({ ...valid, questionnaire: `${WEIGHT_HEIGHT.url}|1.0.0` }), 400);
  assert.deepEqual(fieldsOf(asString), ['questionnaire']);

  const extra = assertProblem(await post({ ...valid, questionnaire: { ...WEIGHT_HEIGHT, title: 'x' }, sendAt: 'tomorrow' }), 400);
  assert.deepEqual(extra.errors, [
    { field: 'questionnaire.title', message: 'This field is not allowed' },
    { field: 'sendAt', message: 'This field is not allowed' },
  ]);

  for (const [version, what] of [['9.9.9', 'unknown version'], ['1.0.0 ', 'version with a space']] as const) {
    const unknown = assertProblem(await post({ ...valid, questionnaire: { ...WEIGHT_HEIGHT, version } }), 400);
    assert.equal(unknown.detail, 'There is no questionnaire with this url and version in your organisation or the catalogue.', what);
    assert.deepEqual(unknown.errors, [{ field: 'questionnaire', message: unknown.detail }], what);
  }
  // PostgreSQL text cannot hold NUL: a field error, never a 500.
  for (const questionnaire of [{ url: 'https://example.org/\u0000', version: '1.0.0' }, { url: 'https://example.org/Questionnaire/x', version: '1\u0000' }]) {
    const nul = assertProblem(await post({ ...valid, questionnaire }), 400);
    assert.match(JSON.stringify(nul.errors), /must not contain control characters/);
  }
  const unknownUrl = assertProblem(await post({ ...valid, questionnaire: { url: 'https://example.org/Questionnaire/nope', version: '1.0.0' } }), 400);
  assert.match(unknownUrl.detail, /no questionnaire with this url and version/);

  for (const [closesAfterDays, message] of [
    [0, 'The questionnaire must stay open for at least 1 day'],
    [29, 'The questionnaire can stay open for 28 days at most'],
    [2.5, 'Enter the number of days as a whole number, like 7'],
    ['7', 'closesAfterDays must be a number'],
    [null, 'closesAfterDays must be a number'],
  ] as const) {
    const bad = assertProblem(await post({ ...valid, closesAfterDays }), 400);
    assert.deepEqual(bad.errors, [{ field: 'closesAfterDays', message }], `closesAfterDays ${JSON.stringify(closesAfterDays)}`);
  }
  const badNhs = assertProblem(await post({ ...valid, nhsNumber: '9990000019' }), 400);
  assert.deepEqual(badNhs.errors, [{ field: 'nhsNumber', message: 'Enter a valid 10-digit NHS number' }]);

  // An unknown patient and another organisation's patient: the same 404, saying to create the patient.
  const unknownPatientRes = await post({ ...valid, nhsNumber: '9990000026' });
  const unknownPatient = assertProblem(unknownPatientRes, 404);
  assert.match(unknownPatient.detail, /no patient with this NHS number in your organisation.*PUT \/api\/v1\/patients/);
  const other = await createTestOrganisation(services);
  const otherKey = await keyFor(services, other.id);
  const theirs = await sendRequest(app, otherKey.auth, valid);
  assertProblem(theirs, 404);
  assert.deepEqual(theirs.json(), unknownPatientRes.json(), 'nothing says the patient exists elsewhere');

  assert.equal((await services.db.select().from(conversations)).length, 0, 'nothing was sent');
  assert.equal((await services.db.select().from(outboundSms)).length, 0);
  // The edges of closesAfterDays are allowed.
  for (const closesAfterDays of [1, 28]) assert.equal((await post({ ...valid, closesAfterDays })).statusCode, 201, `closesAfterDays ${closesAfterDays}`);
});

test("POST questionnaire request: the organisation's daily send limit gets the same 429 problem as messages", async (t) => {
  const clock = new TestClock(Date.parse('2026-07-31T22:30:00Z'));
  const { app, services, organisation, key } = await setup(t, { now: clock.now, config: { ORGANISATION_DAILY_SEND_LIMIT: '2' } });
  await createTestPatient(services, organisation.id);
  const message = await app.inject({ method: 'POST', url: '/api/v1/messages', headers: key.auth, payload: { nhsNumber: TEST_PATIENT.nhsNumber, body: 'Hello', replyMode: 'none' } });
  assert.equal(message.statusCode, 201);
  assert.equal((await sendRequest(app, key.auth, { nhsNumber: TEST_PATIENT.nhsNumber, questionnaire: WEIGHT_HEIGHT })).statusCode, 201, 'messages and questionnaires share the day');
  const refused = await sendRequest(app, key.auth, { nhsNumber: TEST_PATIENT.nhsNumber, questionnaire: WEIGHT_HEIGHT });
  const problem = assertProblem(refused, 429);
  assert.equal(problem.limit, 2);
  assert.equal(problem.resetsAt, '2026-07-31T23:00:00.000Z', 'midnight in London');
  assert.match(problem.detail, /the most it can send in a day/);
  assert.equal(refused.headers['retry-after'], '1800');
  assert.equal((await services.db.select().from(conversations)).length, 2, 'nothing was written for the refused send');
});

// ---- GET /api/v1/questionnaire-requests/{id}/response --------------------------------------------

test('GET response: 404 before any answer, in-progress with the answers (and BMI once calculable) while answering, completed after submitting; each read audited', async (t) => {
  const clock = new TestClock(Date.parse('2026-11-26T10:00:00Z'));
  const { app, services, organisation, key } = await setup(t, { now: clock.now });
  const patient = await createTestPatient(services, organisation.id);
  const sent = await sendRequest(app, key.auth, { nhsNumber: TEST_PATIENT.nhsNumber, questionnaire: WEIGHT_HEIGHT });
  const id = sent.json().id as string;
  const token = await latestLinkToken(services, id);
  const viewed = () => services.db.select().from(auditEvents).where(and(eq(auditEvents.conversationId, id), eq(auditEvents.type, 'api.questionnaire_response_viewed'))).orderBy(auditEvents.id);

  const notYet = assertProblem(await readResponse(app, key.auth, id), 404);
  assert.equal(notYet.detail, NOT_ANSWERED_YET);
  assert.equal((await viewed()).length, 0, 'no response, nothing viewed');

  // The patient answers the first page.
  const jar = await firstDevice(app, token);
  clock.advance(60_000);
  await answer(app, token, jar, 'body-weight', '72.5');
  const onePage = await readResponse(app, key.auth, id);
  assert.equal(onePage.statusCode, 200);
  assert.match(String(onePage.headers['content-type']), /^application\/fhir\+json/);
  const inProgress = onePage.json();
  assert.equal(inProgress.resourceType, 'QuestionnaireResponse');
  assert.equal(inProgress.id, id);
  assert.equal(inProgress.questionnaire, `${WEIGHT_HEIGHT.url}|1.0.0`);
  assert.equal(inProgress.status, 'in-progress');
  assert.deepEqual(inProgress.subject, { identifier: { system: 'https://fhir.nhs.uk/Id/nhs-number', value: TEST_PATIENT.nhsNumber } });
  assert.equal(inProgress.authored, clock.now().toISOString(), 'when the answer was saved');
  assert.deepEqual(
    inProgress.item.map((i: { linkId: string; answer?: unknown[] }) => [i.linkId, i.answer]),
    [['body-weight', [{ valueDecimal: 72.5 }]]],
    'only what has been answered; no BMI without a height',
  );

  await answer(app, token, jar, 'body-height', '168');
  const bothPages = (await readResponse(app, key.auth, id)).json();
  assert.equal(bothPages.status, 'in-progress', 'not submitted yet');
  const bmi = bothPages.item.find((i: { linkId: string }) => i.linkId === 'bmi');
  assert.ok(bmi?.answer?.[0], `the calculated BMI is in the response: ${JSON.stringify(bothPages.item)}`);
  assert.match(JSON.stringify(bmi.answer[0]), /25\.7/);

  clock.advance(5 * 60_000);
  await submit(app, token, jar);
  const done = await readResponse(app, key.auth, id);
  assert.equal(done.statusCode, 200);
  const completed = done.json();
  assert.equal(completed.status, 'completed');
  assert.equal(completed.authored, clock.now().toISOString(), 'when it was submitted');
  assert.deepEqual(completed.item, bothPages.item, 'the same answers, now final');

  // The OpenAPI example is this very response (so the documentation shows what the API returns).
  const doc = (await app.inject({ method: 'GET', url: '/api/openapi.json' })).json();
  const example = doc.paths['/api/v1/questionnaire-requests/{id}/response'].get.responses['200'].content['application/fhir+json'].example;
  assert.deepEqual(example.item, completed.item);
  assert.deepEqual(Object.keys(example).sort(), Object.keys(completed).sort());

  const reads = await viewed();
  assert.deepEqual(
    reads.map((r) => [r.actorType, r.actorId, r.organisationId, r.details]),
    [
      ['api_key', key.id, organisation.id, { status: 'in-progress' }],
      ['api_key', key.id, organisation.id, { status: 'in-progress' }],
      ['api_key', key.id, organisation.id, { status: 'completed' }],
    ],
  );
  assert.ok(reads.every((r) => r.patientId === patient.id));
});

test("GET response: another organisation's key, an unknown id, a malformed id and a message all get the same 404, unaudited", async (t) => {
  const { app, services, organisation, key } = await setup(t);
  const questionnaire = await createTestQuestionnaireConversation(services, { questionnaire: 'smoking-status', organisation });
  const jar = await firstDevice(app, questionnaire.token);
  const first = await get(app, questionPath(questionnaire.token, 'smoking-status'), jar);
  const option = /type="radio"[^>]*value="([^"]+)"/.exec(first.body)![1]!;
  await answer(app, questionnaire.token, jar, 'smoking-status', option);
  assert.equal((await readResponse(app, key.auth, questionnaire.conversationId)).statusCode, 200, 'control: the owner reads it');
  const message = await createTestConversation(services, { organisation, patient: { nhsNumber: '9434765870' } });

  const other = await createTestOrganisation(services);
  const otherKey = await keyFor(services, other.id);
  const theirs = await readResponse(app, otherKey.auth, questionnaire.conversationId);
  assert.equal(assertProblem(theirs, 404).detail, QUESTIONNAIRE_REQUEST_NOT_FOUND);
  assert.doesNotMatch(theirs.body, new RegExp(`${TEST_PATIENT.nhsNumber}|${option}`));
  const unknown = await readResponse(app, key.auth, '7d1f0c38-2f7c-4c62-9d55-0a6c1f7a5e11');
  const malformed = await readResponse(app, key.auth, "not-a-uuid'%20OR%201=1");
  const ofMessage = await readResponse(app, key.auth, message.conversationId);
  for (const res of [unknown, malformed, ofMessage]) {
    assertProblem(res, 404);
    assert.deepEqual(res.json(), theirs.json());
  }
  // And the other way: a questionnaire request is not a message.
  const asMessage = await app.inject({ method: 'GET', url: `/api/v1/messages/${questionnaire.conversationId}`, headers: key.auth });
  assertProblem(asMessage, 404);

  const reads = await services.db.select().from(auditEvents).where(eq(auditEvents.type, 'api.questionnaire_response_viewed'));
  assert.equal(reads.length, 1, 'only the owner’s read is recorded');
  assert.equal(reads[0]!.actorId, key.id);
  const noKey = await app.inject({ method: 'GET', url: `/api/v1/questionnaire-requests/${questionnaire.conversationId}/response` });
  assertProblem(noKey, 401);
});

// ---- OpenAPI -------------------------------------------------------------------------------------

test('OpenAPI describes sending a questionnaire and reading its QuestionnaireResponse', async (t) => {
  const { app } = await setup(t);
  const doc = (await app.inject({ method: 'GET', url: '/api/openapi.json' })).json();
  const send = doc.paths['/api/v1/questionnaire-requests'].post;
  assert.equal(send.requestBody.content['application/json'].schema.$ref, '#/components/schemas/QuestionnaireRequestCreate');
  for (const status of ['201', '400', '401', '404', '413', '415', '429', '503']) assert.ok(send.responses[status], `send ${status}`);
  const read = doc.paths['/api/v1/questionnaire-requests/{id}/response'].get;
  for (const status of ['200', '401', '404', '429']) assert.ok(read.responses[status], `read ${status}`);
  assert.match(read.responses['404'].description, /has not answered any questions yet/);

  const create = doc.components.schemas.QuestionnaireRequestCreate;
  assert.equal(create.additionalProperties, false);
  assert.deepEqual(create.required, ['nhsNumber', 'questionnaire']);
  assert.deepEqual([create.properties.closesAfterDays.minimum, create.properties.closesAfterDays.maximum], [1, 28]);
  assert.deepEqual(create.properties.questionnaire.required, ['url', 'version']);
  const resource = doc.components.schemas.QuestionnaireResponse;
  assert.deepEqual(resource.properties.status.enum, ['in-progress', 'completed']);
  assert.equal(resource.properties.subject.properties.identifier.properties.system.const, 'https://fhir.nhs.uk/Id/nhs-number');
  // The examples are shaped as their schemas say.
  const example = read.responses['200'].content['application/fhir+json'].example;
  assert.equal(example.status, 'completed');
  assert.ok(example.item.length >= 3);
  assert.deepEqual(Object.keys(send.requestBody.content['application/json'].example).sort(), ['closesAfterDays', 'nhsNumber', 'questionnaire']);
  assert.deepEqual(Object.keys(send.responses['201'].content['application/json'].example).sort(), Object.keys(doc.components.schemas.QuestionnaireRequestCreated.properties).sort());
});
