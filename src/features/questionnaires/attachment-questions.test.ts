// A questionnaire's attachment question (issue 13): the file goes in through the same path as a reply's
// attachments (checked, scanned, kept as the question's draft), Check your answers names it, Submit
// attaches it to the answers item, the QuestionnaireResponse describes it (valueAttachment, no data) and
// staff download it. Refused files and a required question with no file are shown with the error summary.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eq } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import { createTestApp } from '../../../test/helpers/app.ts';
import { createTestOrganisation, csrfFrom, type CookieJar, type TestConversation } from '../../../test/helpers/factories.ts';
import { createTestQuestionnaireConversation, createTestStaff } from '../../../test/helpers/factories.ts';
import { firstDevice, get, postForm, textOf } from '../../../test/helpers/patient.ts';
import { errorSummaryItems, signInAsStaff, staffGet } from '../../../test/helpers/staff.ts';
import { HTML_AS_PDF, postMultipart, sampleJpeg, samplePdf } from '../../../test/helpers/files.ts';
import { conversationItems, files } from '../../platform/db/schema.ts';
import type { Services } from '../../services.ts';
import { addQuestionnaire } from './questionnaires.service.ts';

const URL_BASE = 'https://example.org/fhir/Questionnaire/attachment-test';

async function conversationWithPhotoQuestion(services: Services, required: boolean): Promise<TestConversation> {
  const organisation = await createTestOrganisation(services);
  const url = `${URL_BASE}-${required ? 'required' : 'optional'}`;
  await addQuestionnaire(services, {
    organisationId: organisation.id,
    author: { type: 'operator', operator: 'test' },
    json: {
      resourceType: 'Questionnaire', url, version: '1', status: 'active', title: 'Your rash',
      item: [
        { linkId: 'where', type: 'string', text: 'Where is the rash?', required: true },
        { linkId: 'photo', type: 'attachment', text: 'Add a photo of the rash', required },
      ],
    },
  });
  return createTestQuestionnaireConversation(services, { questionnaire: { url, version: '1' }, organisation });
}

const base = (c: TestConversation) => `/${c.token}/conversation`;
const photoPage = (c: TestConversation) => `${base(c)}/questions/photo`;

async function startAnswering(app: FastifyInstance, c: TestConversation): Promise<CookieJar> {
  const jar = await firstDevice(app, c.token);
  const where = await postForm(app, `${base(c)}/questions/where`, jar, { value: 'On my arm' }, { csrfPage: `${base(c)}/questions/where` });
  assert.equal(where.statusCode, 303);
  assert.equal(where.headers.location, photoPage(c));
  return jar;
}

const removeButton = (html: string, fileName: string) =>
  new RegExp(`name="remove" value="([0-9a-f-]+)"[^>]*>Remove<span class="nhsuk-u-visually-hidden"> ${fileName.replace('.', '\\.')}`).exec(html)?.[1];

test('an attachment question: add a JPEG, remove it, Continue with a PDF, check, submit; the response describes it and staff download it', async (t) => {
  const { app, services, close } = await createTestApp();
  t.after(close);
  const c = await conversationWithPhotoQuestion(services, true);
  const jar = await startAnswering(app, c);

  const page = await get(app, photoPage(c), jar);
  assert.equal(page.statusCode, 200);
  assert.match(page.body, /enctype="multipart\/form-data"/);
  assert.match(page.body, /<form[^>]*enctype="multipart\/form-data">\s*<input type="hidden" name="_csrf"/, '_csrf is the first field');
  assert.doesNotMatch(page.body, /multiple/, 'one file only');
  assert.match(page.body, /type="file"[^>]*accept="image\/jpeg,image\/png,application\/pdf"|accept="image\/jpeg,image\/png,application\/pdf"[^>]*type="file"/);
  assert.match(textOf(page.body), /a JPG, PNG or PDF smaller than/);

  const jpeg = await sampleJpeg();
  const added = await postMultipart(app, photoPage(c), jar, [['files', { fileName: 'rash.jpg', content: jpeg, type: 'image/jpeg' }], ['action', 'add']]);
  assert.equal(added.statusCode, 200, textOf(added.body).slice(0, 400));
  assert.match(textOf(added.body), /rash\.jpg \(JPEG image/);
  const jpegId = removeButton(added.body, 'rash.jpg');
  assert.ok(jpegId, 'shown back with Remove');
  assert.doesNotMatch(added.body, /type="file"/, 'one file only: no more can be added until it is removed');

  const removed = await postMultipart(app, photoPage(c), jar, [['remove', jpegId]]);
  assert.equal(removed.statusCode, 200);
  assert.match(textOf(removed.body), /The file has been removed/);
  assert.doesNotMatch(textOf(removed.body), /rash\.jpg/);

  const pdf = samplePdf('Photo of the rash');
  const continued = await postMultipart(app, photoPage(c), jar, [['files', { fileName: 'rash notes.pdf', content: pdf, type: 'application/pdf' }], ['action', 'continue']]);
  assert.equal(continued.statusCode, 303, textOf(continued.body).slice(0, 400));
  assert.equal(continued.headers.location, `${base(c)}/check`);

  const check = await get(app, `${base(c)}/check`, jar);
  assert.equal(check.statusCode, 200);
  assert.match(textOf(check.body), /Add a photo of the rash\s*rash notes\.pdf/);
  const rows = await services.db.select().from(files).where(eq(files.conversationId, c.conversationId));
  const pdfRow = rows.find((r) => r.mediaType === 'application/pdf' && !r.deletedAt)!;
  assert.equal(pdfRow.itemId, null, 'a draft until the answers are sent');
  assert.ok(rows.find((r) => r.id === jpegId)!.deletedAt, 'the removed JPEG is deleted');

  const revision = /name="revision" value="(\d+)"/.exec(check.body)![1]!;
  const submitted = await postForm(app, `${base(c)}/submit`, jar, { revision }, { csrf: csrfFrom(check.body) });
  assert.equal(submitted.statusCode, 303);
  const [answersItem] = await services.db.select().from(conversationItems).where(eq(conversationItems.conversationId, c.conversationId)).then((items) => items.filter((i) => i.kind === 'questionnaire_answers'));
  const [attached] = await services.db.select().from(files).where(eq(files.id, pdfRow.id));
  assert.equal(attached!.itemId, answersItem!.id, 'Submit attaches the file to the answers item');
  assert.equal(attached!.draftKey, null);

  const staff = await createTestStaff(services, c.organisation.id);
  const staffJar = await signInAsStaff(app, staff.email, staff.password);
  const json = await staffGet(app, staffJar, `/staff/conversations/${c.conversationId}/questionnaire-response`);
  assert.equal(json.statusCode, 200);
  const response = JSON.parse(json.body) as { item: Array<{ linkId: string; answer: Array<Record<string, unknown>> }> };
  const photo = response.item.find((i) => i.linkId === 'photo')!;
  assert.deepEqual(photo.answer, [
    { valueAttachment: { contentType: 'application/pdf', title: 'rash notes.pdf', size: pdf.length, creation: pdfRow.createdAt.toISOString() } },
  ]);
  assert.doesNotMatch(json.body, /"data"/, 'the bytes are never in the response');

  const conversation = await staffGet(app, staffJar, `/staff/conversations/${c.conversationId}`);
  assert.match(conversation.body, new RegExp(`<a href="/staff/files/${pdfRow.id}" download>rash notes\\.pdf</a> \\(PDF, `));
  const download = await staffGet(app, staffJar, `/staff/files/${pdfRow.id}`);
  assert.equal(download.statusCode, 200);
  assert.deepEqual(download.rawPayload, pdf);
});

test('a disguised file is refused with the error summary and not kept; a required attachment with no file says "Add a file"', async (t) => {
  const { app, services, close } = await createTestApp();
  t.after(close);
  const c = await conversationWithPhotoQuestion(services, true);
  const jar = await startAnswering(app, c);

  const disguised = await postMultipart(app, photoPage(c), jar, [['files', { fileName: 'photo.pdf', content: HTML_AS_PDF, type: 'application/pdf' }], ['action', 'continue']]);
  assert.equal(disguised.statusCode, 400);
  assert.match(disguised.body, /<title>Error: /);
  assert.deepEqual(errorSummaryItems(disguised.body), ['#files photo.pdf must be a JPG, PNG or PDF']);
  const kept = await services.db.select().from(files).where(eq(files.conversationId, c.conversationId));
  assert.equal(kept.length, 0, 'nothing of it is kept');

  const none = await postMultipart(app, photoPage(c), jar, [['action', 'continue']]);
  assert.equal(none.statusCode, 400);
  assert.deepEqual(errorSummaryItems(none.body), ['#files Add a file']);
  assert.match(none.body, /id="files"/);

  // Nothing was saved, so Check your answers sends the patient back to the question.
  const check = await get(app, `${base(c)}/check`, jar);
  assert.equal(check.statusCode, 303);
  assert.equal(check.headers.location, photoPage(c));
});

test('an optional attachment question can be left without a file; Check your answers says "Not answered"', async (t) => {
  const { app, services, close } = await createTestApp();
  t.after(close);
  const c = await conversationWithPhotoQuestion(services, false);
  const jar = await startAnswering(app, c);
  const page = await get(app, photoPage(c), jar);
  assert.match(textOf(page.body), /Add a photo of the rash \(optional\)/);
  const skipped = await postMultipart(app, photoPage(c), jar, [['action', 'continue']]);
  assert.equal(skipped.statusCode, 303);
  const check = await get(app, `${base(c)}/check`, jar);
  assert.match(textOf(check.body), /Add a photo of the rash\s*Not answered/);
});
