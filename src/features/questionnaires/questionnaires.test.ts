// Organisations' own questionnaires through the API (issue 11): validated as the engine will run them,
// stored per organisation, versions never changed, and nothing of one organisation's visible to another.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eq, sql } from 'drizzle-orm';
import { createTestApp } from '../../../test/helpers/app.ts';
import { createTestOrganisation } from '../../../test/helpers/factories.ts';
import { bodyMassIndex } from '../../../test/helpers/questionnaires.ts';
import { auditEvents, questionnaires } from '../../platform/db/schema.ts';
import type { Services } from '../../services.ts';
import { createApiKey } from '../api/api-keys.service.ts';
import { catalogueQuestionnaires, findQuestionnaire } from './questionnaires.service.ts';

const URL = '/api/v1/questionnaires';

async function keyFor(services: Services, organisationId: string) {
  const { key } = await createApiKey(services.db, { organisationId, name: 'Test integration' });
  return { authorization: `Bearer ${key}` };
}

async function setup(t: { after: (fn: () => Promise<void>) => void }) {
  const testApp = await createTestApp();
  t.after(testApp.close);
  const organisation = await createTestOrganisation(testApp.services);
  const other = await createTestOrganisation(testApp.services);
  return { ...testApp, organisation, auth: await keyFor(testApp.services, organisation.id), otherAuth: await keyFor(testApp.services, other.id) };
}

const hayFever = (version = '1.0.0', text = 'Have you been sneezing this week?') => ({
  resourceType: 'Questionnaire',
  url: 'https://example.org/fhir/Questionnaire/hay-fever',
  version,
  status: 'active',
  title: 'Hay fever',
  item: [{ linkId: 'sneezing', type: 'boolean', text, required: true }],
});

test('questionnaires API: a good one is added (201, Location), audited, and read back as given by its own organisation only', async (t) => {
  const { app, services, organisation, auth, otherAuth } = await setup(t);
  const res = await app.inject({ method: 'POST', url: URL, headers: auth, payload: bodyMassIndex });
  assert.equal(res.statusCode, 201, res.body);
  const body = res.json() as { id: string; url: string; version: string; title: string };
  assert.deepEqual({ ...body, id: undefined }, { id: undefined, url: 'https://example.org/Questionnaire/bmi', version: '1.1', title: 'Weight and height' });
  assert.equal(res.headers.location, `${URL}/${body.id}`);

  const [event] = await services.db.select().from(auditEvents).where(eq(auditEvents.type, 'questionnaire.added'));
  assert.equal(event!.organisationId, organisation.id);
  assert.equal(event!.actorType, 'api_key');
  assert.deepEqual(event!.details, { questionnaireId: body.id, url: 'https://example.org/Questionnaire/bmi', version: '1.1' });

  const read = await app.inject({ method: 'GET', url: `${URL}/${body.id}`, headers: auth });
  assert.equal(read.statusCode, 200);
  assert.match(String(read.headers['content-type']), /^application\/fhir\+json/);
  assert.deepEqual(read.json(), bodyMassIndex, 'the resource exactly as it was given');
  const viewed = await services.db.select().from(auditEvents).where(eq(auditEvents.type, 'api.questionnaire_viewed'));
  assert.equal(viewed.length, 1);

  // Another organisation's key: the same 404 as an id that does not exist, and not in its list.
  const other = await app.inject({ method: 'GET', url: `${URL}/${body.id}`, headers: otherAuth });
  assert.equal(other.statusCode, 404);
  assert.match(String(other.headers['content-type']), /^application\/problem\+json/);
  const unknown = await app.inject({ method: 'GET', url: `${URL}/00000000-0000-4000-8000-000000000000`, headers: auth });
  assert.equal(unknown.statusCode, 404);
  assert.equal((other.json() as { detail: string }).detail, (unknown.json() as { detail: string }).detail);
  assert.equal((await app.inject({ method: 'GET', url: `${URL}/not-a-uuid`, headers: auth })).statusCode, 404);
  const otherList = (await app.inject({ method: 'GET', url: URL, headers: otherAuth })).json() as { questionnaires: Array<{ source: string }> };
  assert.equal(otherList.questionnaires.filter((q) => q.source === 'organisation').length, 0);

  // The engine finds the exact version for the organisation that added it, and not for another.
  const found = await findQuestionnaire(services, organisation.id, 'https://example.org/Questionnaire/bmi', '1.1');
  assert.equal(found?.id, body.id);
  assert.equal(found?.definition.title, 'Weight and height');
});

test('questionnaires API: a refused one lists every problem by linkId (400), and nothing is stored', async (t) => {
  const { app, services, auth } = await setup(t);
  const res = await app.inject({
    method: 'POST',
    url: URL,
    headers: auth,
    payload: {
      resourceType: 'Questionnaire',
      url: 'https://example.org/q',
      status: 'active',
      item: [
        { linkId: 'when', type: 'time', text: 'What time?' },
        { linkId: 'b', type: 'string', text: 'B', modifierExtension: [{ url: 'https://example.org/m', valueBoolean: true }] },
      ],
    },
  });
  assert.equal(res.statusCode, 400);
  assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
  const problem = res.json() as { status: number; detail: string; problems: Array<{ linkId: string; message: string }> };
  assert.equal(problem.status, 400);
  assert.deepEqual(problem.problems, [
    { linkId: 'questionnaire', message: 'version: needs a version (Questionnaire.version), so each response records which version it answered' },
    { linkId: 'when', message: 'item type "time" is not supported: time questions are not supported' },
    { linkId: 'b', message: 'modifierExtension is not supported (https://example.org/m): it could change the meaning of the question' },
  ]);
  for (const payload of ['[]', '"Questionnaire"', '{"resourceType":"Patient"}', '{"resourceType":"Questionnaire","url":"u","version":"1","status":"active","title":"\\u0000","item":[]}']) {
    const refused = await app.inject({ method: 'POST', url: URL, headers: { ...auth, 'content-type': 'application/json' }, payload });
    assert.equal(refused.statusCode, 400, payload);
    assert.ok((refused.json() as { problems: unknown[] }).problems.length > 0, payload);
  }
  assert.equal((await services.db.select().from(questionnaires)).length, 0);
  assert.equal((await services.db.select().from(auditEvents).where(eq(auditEvents.type, 'questionnaire.added'))).length, 0);
});

test('questionnaires API: the same version again is idempotent (200); other content under that version is 409; a new version is added', async (t) => {
  const { app, services, auth } = await setup(t);
  const first = await app.inject({ method: 'POST', url: URL, headers: auth, payload: hayFever() });
  assert.equal(first.statusCode, 201);
  const id = (first.json() as { id: string }).id;

  // The same content, with its keys in another order, sent as application/fhir+json.
  const { item, ...rest } = hayFever();
  const again = await app.inject({
    method: 'POST',
    url: URL,
    headers: { ...auth, 'content-type': 'application/fhir+json' },
    payload: JSON.stringify({ item, ...rest }),
  });
  assert.equal(again.statusCode, 200, again.body);
  assert.equal((again.json() as { id: string }).id, id);

  const changed = await app.inject({ method: 'POST', url: URL, headers: auth, payload: hayFever('1.0.0', 'Have you been sneezing today?') });
  assert.equal(changed.statusCode, 409);
  assert.equal(
    (changed.json() as { detail: string }).detail,
    'version 1.0.0 of this questionnaire already exists with different content: give it a new version',
  );
  const stored = await app.inject({ method: 'GET', url: `${URL}/${id}`, headers: auth });
  assert.deepEqual(stored.json(), hayFever(), 'the stored version is unchanged');

  const next = await app.inject({ method: 'POST', url: URL, headers: auth, payload: hayFever('1.1.0', 'Have you been sneezing today?') });
  assert.equal(next.statusCode, 201);
  assert.equal((await services.db.select().from(questionnaires)).length, 2);
  assert.equal((await services.db.select().from(auditEvents).where(eq(auditEvents.type, 'questionnaire.added'))).length, 2, 'one event for each version added');

  // A built-in questionnaire's url and version cannot be taken over.
  const builtIn = catalogueQuestionnaires()[0]!;
  const clash = await app.inject({ method: 'POST', url: URL, headers: auth, payload: builtIn.resource });
  assert.equal(clash.statusCode, 409);

  // The database itself refuses to change a stored version.
  await assert.rejects(services.db.execute(sql`UPDATE questionnaires SET title = 'Changed'`));
});

test('questionnaires API: the list has the 7 built-in ones and the newest version of each of the organisation\'s own', async (t) => {
  const { app, auth } = await setup(t);
  for (const payload of [hayFever('1.0.0'), hayFever('2.0.0', 'Sneezing?'), bodyMassIndex]) {
    assert.equal((await app.inject({ method: 'POST', url: URL, headers: auth, payload })).statusCode, 201);
  }
  const res = await app.inject({ method: 'GET', url: URL, headers: auth });
  assert.equal(res.statusCode, 200);
  const list = (res.json() as { questionnaires: Array<{ id?: string; url: string; version: string; title: string | null; source: string }> }).questionnaires;
  const catalogue = list.filter((q) => q.source === 'catalogue');
  assert.equal(catalogue.length, 7);
  assert.ok(catalogue.every((q) => q.id === undefined && q.url && q.version && q.title));
  const own = list.filter((q) => q.source === 'organisation').map((q) => `${q.url}|${q.version}`).sort();
  assert.deepEqual(own, ['https://example.org/Questionnaire/bmi|1.1', 'https://example.org/fhir/Questionnaire/hay-fever|2.0.0']);
});

test('questionnaires API: no key is 401; a big questionnaire up to 1 MB is accepted, a bigger body is 413', async (t) => {
  const { app, auth } = await setup(t);
  for (const [method, url] of [['POST', URL], ['GET', URL], ['GET', `${URL}/00000000-0000-4000-8000-000000000000`]] as const) {
    const res = await app.inject({ method, url, ...(method === 'POST' ? { payload: hayFever() } : {}) });
    assert.equal(res.statusCode, 401, `${method} ${url}`);
  }
  // 200 KB: over the API's usual 64 KB, within this route's 1 MB.
  const long = hayFever('1.0.0');
  long.item[0]!.text = `Have you been sneezing? ${'a'.repeat(200 * 1024)}`;
  assert.equal((await app.inject({ method: 'POST', url: URL, headers: auth, payload: long })).statusCode, 201);
  long.item[0]!.text = 'a'.repeat(1100 * 1024);
  const tooBig = await app.inject({ method: 'POST', url: URL, headers: auth, payload: { ...long, version: '2' } });
  assert.equal(tooBig.statusCode, 413);
  assert.equal((tooBig.json() as { detail: string }).detail, 'The request body must be 1 MB or smaller.');
  // Other API routes keep their 64 KB limit.
  const message = await app.inject({ method: 'POST', url: '/api/v1/messages', headers: auth, payload: { body: 'a'.repeat(70 * 1024) } });
  assert.equal(message.statusCode, 413);
  assert.equal((message.json() as { detail: string }).detail, 'The request body must be 64 KB or smaller.');
});

test('questionnaires API: the same version sent twice at once is stored once; two contents at once, one is refused', async (t) => {
  const { app, services, auth } = await setup(t);
  const post = (payload: unknown) => app.inject({ method: 'POST', url: URL, headers: auth, payload: payload as Record<string, unknown> });
  const same = await Promise.all([post(hayFever('1.0.0')), post(hayFever('1.0.0'))]);
  assert.deepEqual(same.map((r) => r.statusCode).sort(), [200, 201]);
  assert.equal((same[0]!.json() as { id: string }).id, (same[1]!.json() as { id: string }).id);
  const different = await Promise.all([post(hayFever('2.0.0', 'One')), post(hayFever('2.0.0', 'Two'))]);
  assert.deepEqual(different.map((r) => r.statusCode).sort(), [201, 409]);
  assert.equal((await services.db.select().from(questionnaires)).length, 2);
});
