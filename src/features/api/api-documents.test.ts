// The integrators' API for documents: POST /api/v1/documents (a PDF, streamed as multipart/form-data,
// the fields first) and GET /api/v1/documents/{id} (delivery, availability, first opening), each
// scoped to the key's organisation; what is refused, how, and that a refusal keeps nothing.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { and, eq } from 'drizzle-orm';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { createTestApp, TestClock } from '../../../test/helpers/app.ts';
import { createTestOrganisation, createTestPatient, latestLinkToken } from '../../../test/helpers/factories.ts';
import { firstDevice, get } from '../../../test/helpers/patient.ts';
import { HTML_AS_PDF, multipart, samplePdf, type MultipartValue } from '../../../test/helpers/files.ts';
import { auditEvents, conversations, files, outboundSms } from '../../platform/db/schema.ts';
import { ScanFailed, type Scanner } from '../../platform/files/scanner.ts';
import type { Services } from '../../services.ts';
import { createApiKey } from './api-keys.service.ts';

async function keyFor(services: Services, organisationId: string) {
  const { key, apiKey } = await createApiKey(services.db, { organisationId, name: 'Test integration' });
  return { id: apiKey.id, auth: { authorization: `Bearer ${key}` } };
}

async function setup(t: TestContext, options: Parameters<typeof createTestApp>[0] = {}) {
  const testApp = await createTestApp(options);
  t.after(testApp.close);
  const { services } = testApp;
  const organisation = await createTestOrganisation(services);
  const patient = await createTestPatient(services, organisation.id);
  const key = await keyFor(services, organisation.id);
  return { ...testApp, organisation, patient, key };
}

type ProblemBody = { type: string; status: number; detail: string; errors?: Array<{ field: string; message: string }> };

function assertProblem(res: LightMyRequestResponse, status: number): ProblemBody {
  assert.equal(res.statusCode, status, res.body.slice(0, 400));
  assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
  const body = res.json() as ProblemBody;
  assert.equal(body.status, status);
  assert.ok(body.detail.length > 0);
  return body;
}

/** A 400 that names `field` with words matching `message`. */
function assertFieldError(res: LightMyRequestResponse, field: string, message: RegExp): ProblemBody {
  const body = assertProblem(res, 400);
  const entry = body.errors?.find((e) => e.field === field);
  assert.ok(entry, `${field} named in ${JSON.stringify(body.errors)}`);
  assert.match(entry.message, message);
  return body;
}

const pdfPart = (content = samplePdf(), fileName = 'results.pdf'): [string, MultipartValue] => ['file', { fileName, content, type: 'application/pdf' }];

async function postDocument(app: FastifyInstance, auth: Record<string, string> | undefined, parts: Array<[string, MultipartValue]>) {
  const body = await multipart(parts);
  return app.inject({ method: 'POST', url: '/api/v1/documents', headers: { ...auth, 'content-type': body.contentType }, payload: body.payload });
}

/** Every file under the local store's directory (the store makes sub-directories per month). */
async function filesInStore(services: Services): Promise<string[]> {
  const storage = services.config.files.storage;
  assert.equal(storage.kind, 'local');
  const entries = await readdir(storage.rootDir, { recursive: true, withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [];
    throw error;
  });
  return entries.filter((entry) => entry.isFile() && !entry.name.startsWith('.health-')).map((entry) => path.join(entry.parentPath, entry.name));
}

/** Nothing kept: no file row, no bytes in the store, no conversation, no text. */
async function assertNothingStored(services: Services, why: string) {
  assert.deepEqual(await services.db.select().from(files), [], `${why}: a file row`);
  assert.deepEqual(await filesInStore(services), [], `${why}: bytes in the store`);
  assert.deepEqual(await services.db.select().from(conversations), [], `${why}: a conversation`);
  assert.deepEqual(await services.db.select().from(outboundSms), [], `${why}: a text`);
}

test('documents API: a PDF sent, texted, shown by GET, opened by the patient, and the first opening shown', async (t) => {
  const clock = new TestClock();
  const { app, services, patient, key } = await setup(t, { now: clock.now, config: { DOCUMENT_AVAILABLE_DAYS: '28' } });
  const pdf = samplePdf('Blood test results: all normal');

  const sent = await postDocument(app, key.auth, [
    ['nhsNumber', patient.nhsNumber],
    ['title', '  Blood   test results '],
    ['note', 'All normal. No action is needed.'],
    pdfPart(pdf, '../../Results "Nov".pdf'),
  ]);
  assert.equal(sent.statusCode, 201, sent.body);
  const created = sent.json();
  assert.equal(sent.headers.location, `/api/v1/documents/${created.id}`);
  assert.equal(created.status, 'queued');
  assert.equal(created.title, 'Blood test results');
  assert.equal(created.file.mediaType, 'application/pdf');
  assert.equal(created.file.sizeBytes, pdf.length);
  assert.doesNotMatch(created.file.name, /\.\.|\//, 'the name is cleaned of paths');
  assert.equal(created.createdAt, clock.now().toISOString());
  assert.equal(created.availableUntil, new Date(clock.now().getTime() + 28 * 86_400_000).toISOString());

  // The patient gets a text with the link; the send is the API key's.
  const [conversation] = await services.db.select().from(conversations).where(eq(conversations.id, created.id));
  assert.equal(conversation!.kind, 'document');
  assert.equal(conversation!.patientId, patient.id);
  const texts = await services.db.select().from(outboundSms).where(eq(outboundSms.conversationId, created.id));
  assert.equal(texts.length, 1);
  const sentAudit = await services.db.select().from(auditEvents).where(and(eq(auditEvents.conversationId, created.id), eq(auditEvents.type, 'document.sent')));
  assert.deepEqual(sentAudit.map((a) => [a.actorType, a.actorId]), [['api_key', key.id]]);
  const [row] = await services.db.select().from(files);
  assert.equal(row!.conversationId, created.id);
  assert.equal(row!.uploadedByStaffId, null);
  assert.equal(row!.purpose, 'document');

  const read = async () => {
    const res = await app.inject({ method: 'GET', url: `/api/v1/documents/${created.id}`, headers: key.auth });
    assert.equal(res.statusCode, 200, res.body);
    return res.json();
  };
  const before = await read();
  assert.deepEqual(
    { ...before, link: { state: before.link.state } },
    {
      id: created.id,
      status: 'queued',
      createdAt: created.createdAt,
      patient: { nhsNumber: patient.nhsNumber },
      title: 'Blood test results',
      note: 'All normal. No action is needed.',
      file: created.file,
      available: true,
      availableUntil: created.availableUntil,
      deleted: false,
      firstOpenedAt: null,
      link: { state: 'active' },
    },
  );
  const viewed = await services.db.select().from(auditEvents).where(eq(auditEvents.type, 'api.document_viewed'));
  assert.deepEqual(viewed.map((a) => [a.actorType, a.actorId, a.conversationId, a.patientId]), [['api_key', key.id, created.id, patient.id]]);

  // The patient opens it an hour later: the first opening is what GET shows, however often they open it.
  clock.advance(60 * 60 * 1000);
  const openedAt = clock.now().toISOString();
  const token = await latestLinkToken(services, created.id);
  const jar = await firstDevice(app, token);
  const opened = await get(app, `/${token}/conversation/file`, jar);
  assert.equal(opened.statusCode, 200);
  assert.deepEqual(opened.rawPayload, pdf);
  clock.advance(60 * 1000);
  assert.equal((await get(app, `/${token}/conversation/file/download`, jar)).statusCode, 200);
  const after = await read();
  assert.equal(after.firstOpenedAt, openedAt);
  assert.equal(after.available, true);

  // Past its time the patient can no longer open it, and GET says so.
  clock.advance(29 * 86_400_000);
  const gone = await read();
  assert.equal(gone.available, false);
});

test('documents API: a refused file (not a PDF, too big, no file, file first, bad fields) is a 400 that keeps nothing', async (t) => {
  const { app, services, patient, key } = await setup(t, { config: { DOCUMENT_MAX_MB: '0.05' } });
  const fields = (title = 'Blood test results'): Array<[string, MultipartValue]> => [
    ['nhsNumber', patient.nhsNumber],
    ['title', title],
  ];

  const html = await postDocument(app, key.auth, [...fields(), pdfPart(HTML_AS_PDF, 'letter.pdf')]);
  assertFieldError(html, 'file', /must be a PDF/);
  await assertNothingStored(services, 'HTML named .pdf');
  const refused = await services.db.select().from(auditEvents).where(eq(auditEvents.type, 'file.refused'));
  assert.deepEqual(refused.map((a) => [a.actorType, a.actorId]), [['api_key', key.id]]);

  const big = await postDocument(app, key.auth, [...fields(), pdfPart(samplePdf('Large', 60_000))]);
  assertFieldError(big, 'file', /must be smaller than 51 KB/);
  await assertNothingStored(services, 'too big');

  const noTitle = await postDocument(app, key.auth, [['nhsNumber', patient.nhsNumber], pdfPart()]);
  const noTitleBody = assertFieldError(noTitle, 'title', /./);
  assert.match(noTitleBody.detail, /fields .* first/);
  const blankTitle = await postDocument(app, key.auth, [...fields('   '), pdfPart()]);
  assertFieldError(blankTitle, 'title', /Enter a title/);
  const badNhs = await postDocument(app, key.auth, [['nhsNumber', '1234567890'], ['title', 'Results'], pdfPart()]);
  assertFieldError(badNhs, 'nhsNumber', /valid 10-digit NHS number/);
  const unknownField = await postDocument(app, key.auth, [...fields(), ['replyMode', 'once'], pdfPart()]);
  assertFieldError(unknownField, 'replyMode', /not allowed/);
  await assertNothingStored(services, 'bad fields');

  const fileFirst = await postDocument(app, key.auth, [pdfPart(), ...fields()]);
  const fileFirstBody = assertFieldError(fileFirst, 'nhsNumber', /./);
  assert.match(fileFirstBody.detail, /The file came before the fields.*nhsNumber, title and note first/);
  await assertNothingStored(services, 'file before the fields');

  const noFile = await postDocument(app, key.auth, fields());
  assertFieldError(noFile, 'file', /Send the PDF as a part named file/);
  const emptyFile = await postDocument(app, key.auth, [...fields(), ['file', { fileName: 'empty.pdf', content: Buffer.alloc(0) }]]);
  assertFieldError(emptyFile, 'file', /is empty/);
  const otherName = await postDocument(app, key.auth, [...fields(), ['attachment', { fileName: 'a.pdf', content: samplePdf() }]]);
  assertFieldError(otherName, 'attachment', /not allowed/);
  await assertNothingStored(services, 'no file');

  // A field after the file: the PDF was taken in before it was seen, so its bytes are deleted at once.
  const trailing = await postDocument(app, key.auth, [...fields(), pdfPart(), ['note', 'Too late']]);
  const trailingBody = assertFieldError(trailing, 'note', /first, then the PDF/);
  assert.match(trailingBody.detail, /then the PDF as the part named file \(the last part\)/);
  const twoFiles = await postDocument(app, key.auth, [...fields(), pdfPart(), pdfPart()]);
  assertFieldError(twoFiles, 'file', /one file/);
  assert.deepEqual(await filesInStore(services), [], 'no bytes left for a refused request');
  const rows = await services.db.select().from(files);
  assert.equal(rows.length, 2);
  assert.ok(rows.every((r) => r.deletedAt !== null && r.conversationId === null));
  assert.deepEqual(await services.db.select().from(conversations), []);

  // Far more parts than the form has: 413, before any file is read.
  const many = await postDocument(app, key.auth, [...Array.from({ length: 12 }, (_, i): [string, MultipartValue] => [`extra${i}`, 'x']), pdfPart()]);
  assert.match(assertProblem(many, 413).detail, /too many parts/);
  assert.equal((await services.db.select().from(files)).length, 2, 'no file taken in');

  // A broken multipart body is the caller's fault, never a 500.
  const broken = await app.inject({
    method: 'POST',
    url: '/api/v1/documents',
    headers: { ...key.auth, 'content-type': 'multipart/form-data; boundary=----x' },
    payload: '------x\r\nContent-Disposition: form-data; name="nhsNumber"\r\n\r\n99',
  });
  assertProblem(broken, 400);
});

test('documents API: the patient must be yours; JSON and forms are refused with words that say what to send; no key is 401', async (t) => {
  const { app, services, patient, key } = await setup(t);
  const other = await createTestOrganisation(services);
  const theirs = await createTestPatient(services, other.id, { nhsNumber: '9990000026' });
  const theirKey = await keyFor(services, other.id);

  const unknown = await postDocument(app, key.auth, [['nhsNumber', theirs.nhsNumber], ['title', 'Results'], pdfPart()]);
  const unknownBody = assertProblem(unknown, 404);
  assert.match(unknownBody.detail, /no patient with this NHS number/);
  await assertNothingStored(services, 'another organisation’s patient');

  const asJson = await app.inject({ method: 'POST', url: '/api/v1/documents', headers: key.auth, payload: { nhsNumber: patient.nhsNumber, title: 'Results' } });
  const jsonBody = assertFieldError(asJson, 'file', /multipart\/form-data/);
  assert.match(jsonBody.detail, /Send the document as multipart\/form-data/);
  const jsonForOther = await app.inject({ method: 'POST', url: '/api/v1/documents', headers: theirKey.auth, payload: { nhsNumber: patient.nhsNumber, title: 'Results' } });
  assertProblem(jsonForOther, 404);
  const asForm = await app.inject({
    method: 'POST',
    url: '/api/v1/documents',
    headers: { ...key.auth, 'content-type': 'application/x-www-form-urlencoded' },
    payload: `nhsNumber=${patient.nhsNumber}&title=Results`,
  });
  assertProblem(asForm, 415);

  // Only this route takes multipart: the others still refuse it.
  const body = await multipart([['nhsNumber', patient.nhsNumber], ['body', 'Hello'], ['replyMode', 'none']]);
  const multipartMessage = await app.inject({ method: 'POST', url: '/api/v1/messages', headers: { ...key.auth, 'content-type': body.contentType }, payload: body.payload });
  assertProblem(multipartMessage, 415);

  // Authentication comes before the body is looked at.
  const noKey = await postDocument(app, undefined, [['nhsNumber', patient.nhsNumber], ['title', 'Results'], pdfPart()]);
  assertProblem(noKey, 401);
  assert.equal(noKey.headers['www-authenticate'], 'Bearer');
  await assertNothingStored(services, 'refused requests');

  // Another organisation's document, or no document, is 404; so is a message's id.
  const sent = await postDocument(app, key.auth, [['nhsNumber', patient.nhsNumber], ['title', 'Results'], pdfPart()]);
  assert.equal(sent.statusCode, 201, sent.body);
  const { id } = sent.json();
  assertProblem(await app.inject({ method: 'GET', url: `/api/v1/documents/${id}`, headers: theirKey.auth }), 404);
  assertProblem(await app.inject({ method: 'GET', url: '/api/v1/documents/not-a-uuid', headers: key.auth }), 404);
  assertProblem(await app.inject({ method: 'GET', url: `/api/v1/documents/${id}` }), 401);
  const message = await app.inject({ method: 'POST', url: '/api/v1/messages', headers: key.auth, payload: { nhsNumber: patient.nhsNumber, body: 'Hello', replyMode: 'none' } });
  assert.equal(message.statusCode, 201, message.body);
  assertProblem(await app.inject({ method: 'GET', url: `/api/v1/documents/${message.json().id}`, headers: key.auth }), 404);
  assert.equal((await services.db.select().from(auditEvents).where(eq(auditEvents.type, 'api.document_viewed'))).length, 0);
});

test('documents API: a file the scanner could not check is a 503 with Retry-After, and nothing is kept', async (t) => {
  const down: Scanner = {
    name: 'clamd',
    async scan(body) {
      body.resume();
      throw new ScanFailed('unavailable', 'clamd is not answering');
    },
    async check() {
      return { ok: false, detail: 'down' };
    },
  };
  const { app, services, patient, key } = await setup(t, { files: (defaults) => ({ ...defaults, scanner: down }) });
  const res = await postDocument(app, key.auth, [['nhsNumber', patient.nhsNumber], ['title', 'Results'], pdfPart()]);
  const body = assertProblem(res, 503);
  assert.match(body.detail, /could not be checked for viruses/);
  assert.ok(Number(res.headers['retry-after']) > 0);
  assert.equal(body.errors?.[0]?.field, 'file');
  await assertNothingStored(services, 'not scanned');
});

test('documents API: past the daily send limit a 429, and the PDF taken in is deleted', async (t) => {
  const { app, services, patient, key } = await setup(t, { config: { ORGANISATION_DAILY_SEND_LIMIT: '1' } });
  const first = await postDocument(app, key.auth, [['nhsNumber', patient.nhsNumber], ['title', 'Results'], pdfPart()]);
  assert.equal(first.statusCode, 201, first.body);
  const second = await postDocument(app, key.auth, [['nhsNumber', patient.nhsNumber], ['title', 'More results'], pdfPart()]);
  const body = assertProblem(second, 429) as ProblemBody & { limit: number; resetsAt: string };
  assert.equal(body.limit, 1);
  assert.ok(Date.parse(body.resetsAt) > 0);
  const rows = await services.db.select().from(files);
  assert.equal(rows.length, 2);
  const unsent = rows.find((r) => r.conversationId === null)!;
  assert.notEqual(unsent.deletedAt, null, 'the unsent PDF is marked deleted');
  assert.equal((await filesInStore(services)).length, 1, 'only the sent PDF is in the store');
});

test('documents API: both operations are in the OpenAPI description, the upload as multipart with a binary file', async (t) => {
  const { app } = await setup(t);
  const doc = (await app.inject({ method: 'GET', url: '/api/docs/json' })).json();
  const post = doc.paths['/api/v1/documents'].post;
  const form = post.requestBody.content['multipart/form-data'];
  assert.equal(form.schema.$ref, '#/components/schemas/DocumentCreate');
  const schema = doc.components.schemas.DocumentCreate;
  assert.deepEqual(Object.keys(schema.properties), ['nhsNumber', 'title', 'note', 'file']);
  assert.deepEqual(schema.required, ['nhsNumber', 'title', 'file']);
  assert.equal(schema.properties.file.format, 'binary');
  assert.match(schema.properties.file.description, /LAST part/);
  assert.deepEqual(Object.keys(post.responses).sort(), ['201', '400', '401', '404', '409', '413', '415', '422', '429', '503']);
  assert.ok(post.responses['201'].headers.Location);
  const getOp = doc.paths['/api/v1/documents/{id}'].get;
  assert.equal(getOp.responses['200'].content['application/json'].schema.$ref, '#/components/schemas/Document');
  assert.ok(doc.components.schemas.Document.properties.firstOpenedAt);
});
