// Documents end to end through the pages: staff send a PDF, the patient opens and downloads it, staff
// see "Opened on …"; what is refused and how; 28 days later it is gone and the page says whom to call.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { and, eq } from 'drizzle-orm';
import { createTestApp, TestClock } from '../../../test/helpers/app.ts';
import { createTestOrganisation, createTestPatient, createTestStaff, latestLinkToken } from '../../../test/helpers/factories.ts';
import { firstDevice, get, textOf } from '../../../test/helpers/patient.ts';
import { errorSummaryItems, pageText, signInAsStaff, staffGet } from '../../../test/helpers/staff.ts';
import { type MultipartValue, formKeyFrom, HTML_AS_PDF, PDF_HTML_POLYGLOT, postMultipart, sampleJpeg, samplePdf } from '../../../test/helpers/files.ts';
import { auditEvents, conversations, files } from '../../platform/db/schema.ts';
import type { Services } from '../../services.ts';
import { runMaintenance } from '../maintenance/maintenance.service.ts';
import { resendLink } from '../conversations/conversations.service.ts';

async function staffAndPatient(services: Services) {
  const organisation = await createTestOrganisation(services, { contactPhone: '01632 960000' });
  const staff = await createTestStaff(services, organisation.id, { name: 'Dr Jo Bloggs' });
  const patient = await createTestPatient(services, organisation.id);
  return { organisation, staff, patient };
}

async function sendDocumentAsStaff(app: Parameters<typeof staffGet>[0], jar: Parameters<typeof staffGet>[1], patientId: string, fields: { title?: string; note?: string; file?: { fileName: string; content: Buffer } }) {
  const url = `/staff/patients/${patientId}/document`;
  const form = await staffGet(app, jar, url);
  const formKey = formKeyFrom(form.body, 'formKey');
  return postMultipart(
    app,
    url,
    jar,
    [
      ['formKey', formKey],
      ['title', fields.title ?? 'Blood test results'],
      ['note', fields.note ?? ''],
      ...(fields.file ? [['file', { ...fields.file, type: 'application/pdf' }] as [string, MultipartValue]] : []),
      ['action', 'send'],
    ],
    { csrfPage: url },
  );
}

test('staff send a PDF; the patient sees it, opens and downloads it with safe headers; staff see when it was opened', async (t) => {
  const clock = new TestClock();
  const { app, services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const { staff, patient } = await staffAndPatient(services);
  const jar = await signInAsStaff(app, staff.email, staff.password);
  const pdf = samplePdf();
  const sent = await sendDocumentAsStaff(app, jar, patient.id, { title: 'Blood test results', note: 'All normal.', file: { fileName: '../../Results "Nov".pdf', content: pdf } });
  assert.equal(sent.statusCode, 303, textOf(sent.body).slice(0, 500));
  const conversationId = /\/staff\/conversations\/([0-9a-f-]+)/.exec(sent.headers.location!)![1]!;

  const staffPage = await staffGet(app, jar, `/staff/conversations/${conversationId}`);
  assert.match(pageText(staffPage.body), /Not opened yet/);

  const token = await latestLinkToken(services, conversationId);
  const patientJar = await firstDevice(app, token);
  const page = await get(app, `/${token}/conversation`, patientJar);
  assert.equal(page.statusCode, 200);
  const words = textOf(page.body);
  assert.match(words, /Blood test results/);
  assert.match(words, /PDF, \d+ (KB|bytes)/);
  assert.match(words, /All normal\./);

  const opened = await get(app, `/${token}/conversation/file`, patientJar);
  assert.equal(opened.statusCode, 200);
  assert.equal(opened.headers['content-type'], 'application/pdf');
  assert.equal(opened.headers['x-content-type-options'], 'nosniff');
  assert.equal(opened.headers['cache-control'], 'no-store');
  assert.match(String(opened.headers['content-security-policy']), /default-src 'none'.*frame-ancestors 'none'/);
  assert.match(String(opened.headers['content-disposition']), /^inline; filename="Results 'Nov'\.pdf"|^inline; filename="Results _Nov_\.pdf"|^inline; filename=/);
  assert.doesNotMatch(String(opened.headers['content-disposition']), /\.\.\//);
  assert.deepEqual(opened.rawPayload, pdf);

  const downloaded = await get(app, `/${token}/conversation/file/download`, patientJar);
  assert.match(String(downloaded.headers['content-disposition']), /^attachment;/);
  assert.match(String(downloaded.headers['content-security-policy']), /sandbox/);
  assert.deepEqual(downloaded.rawPayload, pdf);

  const events = await services.db.select().from(auditEvents).where(eq(auditEvents.conversationId, conversationId));
  assert.equal(events.filter((e) => e.type === 'document.opened').length, 1);
  assert.equal(events.filter((e) => e.type === 'document.downloaded').length, 1);

  const after = await staffGet(app, jar, `/staff/conversations/${conversationId}`);
  assert.match(pageText(after.body), /Opened on 26 November 2026/);

  // The bytes at rest are not the PDF's.
  const [row] = await services.db.select().from(files).where(eq(files.conversationId, conversationId));
  assert.equal(row!.scanStatus, 'unscanned');
  assert.equal(row!.fileName.includes('/'), false);
});

test('a document past its days is deleted by maintenance; the patient is told it is no longer available and whom to contact', async (t) => {
  const clock = new TestClock();
  const { app, services, close } = await createTestApp({ now: clock.now, config: { DOCUMENT_AVAILABLE_DAYS: '28' } });
  t.after(close);
  const { staff, patient } = await staffAndPatient(services);
  const jar = await signInAsStaff(app, staff.email, staff.password);
  const sent = await sendDocumentAsStaff(app, jar, patient.id, { file: { fileName: 'letter.pdf', content: samplePdf() } });
  const conversationId = /\/staff\/conversations\/([0-9a-f-]+)/.exec(sent.headers.location!)![1]!;
  clock.advance(27 * 86_400_000);
  assert.equal((await runMaintenance(services)).expiredDocuments, 0);
  const token = await latestLinkToken(services, conversationId);
  const patientJar = await firstDevice(app, token);
  assert.equal((await get(app, `/${token}/conversation/file`, patientJar)).statusCode, 200);

  clock.advance(2 * 86_400_000);
  const report = await runMaintenance(services);
  assert.equal(report.expiredDocuments, 1);
  const [row] = await services.db.select().from(files).where(eq(files.conversationId, conversationId));
  assert.ok(row!.deletedAt, 'the record stays, marked deleted');
  assert.equal(await services.files.store.exists(row!.storageKey), false);
  // The link ended with the document; staff send a new one (the patient asked for it, say).
  await resendLink(services, { organisationId: staff.organisationId, staffId: staff.id, conversationId, ip: '127.0.0.1' });
  const newToken = await latestLinkToken(services, conversationId);
  const newJar = await firstDevice(app, newToken);
  const file = await get(app, `/${newToken}/conversation/file`, newJar);
  assert.equal(file.statusCode, 410);
  assert.match(textOf(file.body), /This document is no longer available/);
  assert.match(textOf(file.body), /01632 960000/);
});

test('what staff cannot send: no PDF, an HTML file named .pdf, a polyglot, a JPEG, too big; errors in the summary, nothing sent', async (t) => {
  const { app, services, close } = await createTestApp({ config: { DOCUMENT_MAX_MB: '0.05' } });
  t.after(close);
  const { staff, patient } = await staffAndPatient(services);
  const jar = await signInAsStaff(app, staff.email, staff.password);
  const cases: Array<[string, { fileName: string; content: Buffer } | undefined, RegExp]> = [
    ['no file', undefined, /Select a PDF to send/],
    ['html named .pdf', { fileName: 'results.pdf', content: HTML_AS_PDF }, /must be a PDF/],
    ['polyglot', { fileName: 'results.pdf', content: PDF_HTML_POLYGLOT }, /must be a PDF/],
    ['jpeg', { fileName: 'results.pdf', content: await sampleJpeg() }, /must be a PDF/],
    ['too big', { fileName: 'big.pdf', content: samplePdf('big', 80_000) }, /must be smaller than 51 KB/],
  ];
  for (const [label, file, message] of cases) {
    const res = await sendDocumentAsStaff(app, jar, patient.id, { file });
    assert.equal(res.statusCode, 400, label);
    assert.match(errorSummaryItems(res.body).join(' | '), message, label);
  }
  const sentCount = await services.db.select().from(conversations).where(and(eq(conversations.patientId, patient.id), eq(conversations.kind, 'document')));
  assert.equal(sentCount.length, 0);
  const stored = await services.db.select().from(files);
  assert.equal(stored.length, 0);
});

test('the inbox lists documents not opened after DOCUMENT_NOT_OPENED_DAYS; one opened, or sent since, is not listed', async (t) => {
  const clock = new TestClock();
  const { app, services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const { organisation, staff, patient } = await staffAndPatient(services);
  const other = await createTestPatient(services, organisation.id, { nhsNumber: '9990000026', givenName: 'Tom', familyName: 'Evans', dateOfBirth: '1952-11-30', mobileNumber: '+447700900002' });
  const jar = await signInAsStaff(app, staff.email, staff.password);
  const opened = await sendDocumentAsStaff(app, jar, patient.id, { title: 'Opened one', file: { fileName: 'a.pdf', content: samplePdf() } });
  const unopened = await sendDocumentAsStaff(app, jar, other.id, { title: 'Unopened one', file: { fileName: 'b.pdf', content: samplePdf() } });
  const openedId = /conversations\/([0-9a-f-]+)/.exec(opened.headers.location!)![1]!;
  const unopenedId = /conversations\/([0-9a-f-]+)/.exec(unopened.headers.location!)![1]!;
  const token = await latestLinkToken(services, openedId);
  await get(app, `/${token}/conversation/file`, await firstDevice(app, token));

  const early = await staffGet(app, jar, '/staff?show=not-opened');
  assert.equal(early.statusCode, 200);
  assert.doesNotMatch(early.body, new RegExp(unopenedId), 'not yet 3 days');

  clock.advance(3 * 86_400_000 + 60_000);
  // Three days on: a new staff session.
  const lateJar = await signInAsStaff(app, staff.email, staff.password);
  const late = await staffGet(app, lateJar, '/staff?show=not-opened');
  assert.match(pageText(late.body), /Documents not opened after 3 days/);
  assert.match(late.body, new RegExp(`/staff/conversations/${unopenedId}`));
  assert.doesNotMatch(late.body, new RegExp(`/staff/conversations/${openedId}`));
  const all = await staffGet(app, lateJar, '/staff');
  assert.match(pageText(all.body), /Not opened yet/);
  assert.match(all.body, new RegExp(`/staff/conversations/${openedId}`));
});
