// Sending is idempotent: each staff send form carries a one-time submission id, so a double tap, a
// retried request or Back-and-resubmit sends one conversation and one text. Tried as staff would: the
// form page is fetched, and its id is posted once, twice, at once, by someone else, or not at all.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { and, count, eq } from 'drizzle-orm';
import { createTestApp, TestClock, type TestApp } from '../../../test/helpers/app.ts';
import { CATALOGUE_URL, createTestConversation, createTestOrganisation, createTestPatient, createTestStaff } from '../../../test/helpers/factories.ts';
import { formKeyFrom, postMultipart, samplePdf } from '../../../test/helpers/files.ts';
import { createTestClinic } from '../../../test/helpers/booking.ts';
import { errorSummaryItems, signInAsStaff, staffGet, staffPost } from '../../../test/helpers/staff.ts';
import { conversationItems, conversations, links, outboundSms, staffSubmissions } from '../../platform/db/schema.ts';
import type { Organisation } from '../organisations/organisations.service.ts';
import { runMaintenance } from '../maintenance/maintenance.service.ts';
import { newSubmissionId, submissionIdSchema } from './staff-submissions.ts';

const EXPIRED = 'This page has expired. Check the details and send again';
const onPostgres = Boolean(process.env.TEST_DATABASE_URL);

async function setup(t: { after(fn: () => Promise<void>): void }, clock = new TestClock()) {
  const ta = await createTestApp({ now: clock.now });
  t.after(ta.close);
  const organisation = await createTestOrganisation(ta.services, { name: 'Oak Lane Surgery' });
  const patient = await createTestPatient(ta.services, organisation.id);
  const { staff, jar } = await staffOf(ta, organisation, 'Sam Carter');
  return { ta, app: ta.app, services: ta.services, organisation, patient, staff, jar, clock };
}

async function staffOf(ta: TestApp, organisation: Organisation, name: string) {
  const staff = await createTestStaff(ta.services, organisation.id, { name });
  return { staff, jar: await signInAsStaff(ta.app, staff.email, staff.password) };
}

async function countRows(ta: TestApp) {
  const [c] = await ta.services.db.select({ n: count() }).from(conversations);
  const [o] = await ta.services.db.select({ n: count() }).from(outboundSms);
  return { conversations: Number(c!.n), texts: Number(o!.n) };
}

/** The submission id of the form posting to `action` on the page (a page may have several forms). */
function submissionIdOf(html: string, action: string): string {
  const form = new RegExp(`<form[^>]*action="${action.replace(/[.?*+^$()[\]{}|\\]/g, '\\$&')}"[\\s\\S]*?</form>`).exec(html)?.[0];
  assert.ok(form, `no form posting to ${action}`);
  const id = /name="submissionId" value="([^"]*)"/.exec(form)?.[1];
  assert.ok(id && submissionIdSchema.safeParse(id).success, `the form posting to ${action} has no submission id`);
  return id;
}

/** Posts the same form twice, as a double tap or Back-and-resubmit would; both go to the first's result. */
async function postTwice(post: () => Promise<{ statusCode: number; headers: Record<string, unknown>; body: string }>) {
  const first = await post();
  const second = await post();
  assert.equal(first.statusCode, 303, first.body.slice(0, 500));
  assert.equal(second.statusCode, 303, second.body.slice(0, 500));
  assert.equal(second.headers.location, first.headers.location);
  return String(first.headers.location);
}

test('compose: the same id twice sends once; no id or a wrong one sends nothing; each staff member claims their own', async (t) => {
  const { ta, app, patient, organisation, jar } = await setup(t);
  const url = `/staff/patients/${patient.id}/message`;
  const form = await staffGet(app, jar, url);
  const id = submissionIdOf(form.body, url);
  // Each showing of the form is a new id.
  assert.notEqual(submissionIdOf((await staffGet(app, jar, url)).body, url), id);

  const location = await postTwice(() => staffPost(app, jar, url, { body: 'Please book a blood test.', replyMode: 'none', submissionId: id }));
  assert.match(location, /^\/staff\/conversations\/[0-9a-f-]{36}\?done=sent$/);
  assert.deepEqual(await countRows(ta), { conversations: 1, texts: 1 });
  assert.equal((await staffGet(app, jar, location)).statusCode, 200);

  // Without an id, or with one that is not ours: nothing sent, the form back with what was typed and a new id.
  for (const submissionId of [null, '', 'short', 'x'.repeat(65), 'has spaces in it, sixteen+']) {
    const refused = await staffPost(app, jar, url, { body: 'Please book a blood test.', replyMode: 'none', submissionId });
    assert.equal(refused.statusCode, 400, `submissionId ${submissionId}`);
    assert.deepEqual(errorSummaryItems(refused.body), [`#body ${EXPIRED}`]);
    assert.match(refused.body, /Please book a blood test\./);
  }
  assert.deepEqual(await countRows(ta), { conversations: 1, texts: 1 });

  // The form shown again after "expired" has a fresh id: it sends, once.
  const expired = await staffPost(app, jar, url, { body: 'Your results are back.', replyMode: 'none', submissionId: null });
  const fresh = submissionIdOf(expired.body, url);
  await postTwice(() => staffPost(app, jar, url, { body: 'Your results are back.', replyMode: 'none', submissionId: fresh }));
  assert.deepEqual(await countRows(ta), { conversations: 2, texts: 2 });

  // A form shown again with a mistake keeps its id (nothing was claimed), and then sends once.
  const mistake = await staffPost(app, jar, url, { body: '', replyMode: 'none', submissionId: newSubmissionId() });
  assert.equal(mistake.statusCode, 400);
  const kept = submissionIdOf(mistake.body, url);
  const again = await staffPost(app, jar, url, { body: '', replyMode: 'none', submissionId: kept });
  assert.equal(submissionIdOf(again.body, url), kept);
  await postTwice(() => staffPost(app, jar, url, { body: 'Third message.', replyMode: 'none', submissionId: kept }));
  assert.deepEqual(await countRows(ta), { conversations: 3, texts: 3 });

  // The same id from another staff member is their own claim: it sends.
  const other = await staffOf(ta, organisation, 'Alex Jones');
  const theirs = await staffPost(app, other.jar, url, { body: 'Please book a blood test.', replyMode: 'none', submissionId: id });
  assert.equal(theirs.statusCode, 303);
  assert.notEqual(theirs.headers.location, location);
  assert.deepEqual(await countRows(ta), { conversations: 4, texts: 4 });
});

test('questionnaire and booking invitation: the same id twice sends once', async (t) => {
  const { ta, app, services, organisation, patient, jar } = await setup(t);
  const qUrl = `/staff/patients/${patient.id}/questionnaire`;
  const qId = submissionIdOf((await staffGet(app, jar, qUrl)).body, qUrl);
  await postTwice(() => staffPost(app, jar, qUrl, { questionnaire: `${CATALOGUE_URL('phq-9')}|1.0.0`, closesAfterDays: '7', submissionId: qId }));
  assert.deepEqual(await countRows(ta), { conversations: 1, texts: 1 });
  const qExpired = await staffPost(app, jar, qUrl, { questionnaire: `${CATALOGUE_URL('phq-9')}|1.0.0`, closesAfterDays: '7', submissionId: null });
  assert.equal(qExpired.statusCode, 400);
  assert.deepEqual(errorSummaryItems(qExpired.body), [`#questionnaire ${EXPIRED}`]);

  const clinic = await createTestClinic(services, { organisation });
  const bUrl = `/staff/patients/${patient.id}/booking`;
  const bId = submissionIdOf((await staffGet(app, jar, bUrl)).body, bUrl);
  const fields = { appointmentTypeId: clinic.type.id, earliest: '2026-11-26', latest: '2027-01-06' };
  await postTwice(() => staffPost(app, jar, bUrl, { ...fields, submissionId: bId }));
  assert.deepEqual(await countRows(ta), { conversations: 2, texts: 2 });
  const bExpired = await staffPost(app, jar, bUrl, { ...fields, submissionId: null });
  assert.equal(bExpired.statusCode, 400);
  assert.deepEqual(errorSummaryItems(bExpired.body), [`#appointmentTypeId ${EXPIRED}`]);
  assert.deepEqual(await countRows(ta), { conversations: 2, texts: 2 });
});

test('document (multipart): the same id twice sends one document; without one the PDF waits as the draft', async (t) => {
  const { ta, app, patient, jar } = await setup(t);
  const url = `/staff/patients/${patient.id}/document`;
  const page = await staffGet(app, jar, url);
  const formKey = formKeyFrom(page.body, 'formKey');
  const id = submissionIdOf(page.body, url);
  const post = (submissionId: string | null, key = formKey) =>
    postMultipart(app, url, jar, [
      ['formKey', key],
      ...(submissionId === null ? [] : [['submissionId', submissionId] as [string, string]]),
      ['title', 'Blood test results'],
      ['note', ''],
      ['file', { fileName: 'results.pdf', content: samplePdf(), type: 'application/pdf' }],
    ], { submissionId: null });
  await postTwice(() => post(id));
  assert.deepEqual(await countRows(ta), { conversations: 1, texts: 1 });

  const other = formKeyFrom((await staffGet(app, jar, url)).body, 'formKey');
  const expired = await post(null, other);
  assert.equal(expired.statusCode, 400);
  assert.deepEqual(errorSummaryItems(expired.body), [`#title ${EXPIRED}`]);
  assert.match(expired.body, /results\.pdf/, 'the PDF is kept as the draft');
  assert.deepEqual(await countRows(ta), { conversations: 1, texts: 1 });
});

test('staff reply and re-send link: the same id twice sends one reply, one new link and one text', async (t) => {
  const { ta, app, services, organisation, jar } = await setup(t);
  const sent = await createTestConversation(services, { organisation, replyMode: 'conversation', body: 'Please book a blood test.' });
  const page = `/staff/conversations/${sent.conversationId}`;
  const html = (await staffGet(app, jar, page)).body;
  const replyId = submissionIdOf(html, `${page}/reply`);
  const resendId = submissionIdOf(html, `${page}/resend`);
  assert.notEqual(replyId, resendId, 'each form on the page has its own id');

  const replied = await postTwice(() => staffPost(app, jar, `${page}/reply`, { replyBody: 'Any day this week.', submissionId: replyId }));
  assert.equal(replied, `${page}?done=replied`);
  const textsOf = (kind: 'staff_reply' | 'message_link') =>
    services.db.select().from(outboundSms).where(and(eq(outboundSms.conversationId, sent.conversationId), eq(outboundSms.kind, kind)));
  assert.equal((await textsOf('staff_reply')).length, 1);
  assert.equal((await services.db.select().from(conversationItems).where(eq(conversationItems.conversationId, sent.conversationId))).length, 2);

  const linksBefore = (await services.db.select().from(links).where(eq(links.conversationId, sent.conversationId))).length;
  const resent = await postTwice(() => staffPost(app, jar, `${page}/resend`, { submissionId: resendId }));
  assert.equal(resent, `${page}?done=resent`);
  assert.equal((await services.db.select().from(links).where(eq(links.conversationId, sent.conversationId))).length, linksBefore + 1);
  assert.equal((await textsOf('message_link')).length, 2, 'the first text and one re-send');

  // Without an id: the conversation page again, saying so, and nothing sent.
  const noReplyId = await staffPost(app, jar, `${page}/reply`, { replyBody: 'Hello again.', submissionId: null });
  assert.equal(noReplyId.statusCode, 400);
  assert.deepEqual(errorSummaryItems(noReplyId.body), [`#replyBody ${EXPIRED}`]);
  assert.match(noReplyId.body, /Hello again\./);
  const noResendId = await staffPost(app, jar, `${page}/resend`, { submissionId: null });
  assert.equal(noResendId.statusCode, 400);
  assert.deepEqual(errorSummaryItems(noResendId.body), [`#resend ${EXPIRED}`]);
  assert.equal((await textsOf('staff_reply')).length, 1);
  assert.equal((await textsOf('message_link')).length, 2);
  assert.deepEqual(await countRows(ta), { conversations: 1, texts: 3 });

  // A reply shown again with a mistake keeps its id, and then sends once.
  const mistake = await staffPost(app, jar, `${page}/reply`, { replyBody: '', submissionId: replyId.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A')) });
  assert.equal(mistake.statusCode, 400);
  const kept = submissionIdOf(mistake.body, `${page}/reply`);
  await postTwice(() => staffPost(app, jar, `${page}/reply`, { replyBody: 'Thursday is fine.', submissionId: kept }));
  assert.equal((await textsOf('staff_reply')).length, 2);
});

test('two posts of the same id at once send one conversation and one text', { skip: !onPostgres && 'needs two connections (PostgreSQL)' }, async (t) => {
  const { ta, app, patient, jar } = await setup(t);
  const url = `/staff/patients/${patient.id}/message`;
  const id = submissionIdOf((await staffGet(app, jar, url)).body, url);
  const [a, b] = await Promise.all([
    staffPost(app, jar, url, { body: 'Please book a blood test.', replyMode: 'none', submissionId: id }),
    staffPost(app, jar, url, { body: 'Please book a blood test.', replyMode: 'none', submissionId: id }),
  ]);
  assert.equal(a.statusCode, 303);
  assert.equal(b.statusCode, 303);
  assert.equal(a.headers.location, b.headers.location);
  assert.deepEqual(await countRows(ta), { conversations: 1, texts: 1 });
});

test('maintenance deletes claims older than 7 days, and keeps the newer ones', async (t) => {
  const clock = new TestClock();
  const { ta, app, patient, jar, staff, services } = await setup(t, clock);
  const url = `/staff/patients/${patient.id}/message`;
  const send = async (as: typeof jar) => {
    const id = submissionIdOf((await staffGet(app, as, url)).body, url);
    assert.equal((await staffPost(app, as, url, { body: 'Hello.', replyMode: 'none', submissionId: id })).statusCode, 303);
  };
  await send(jar);
  clock.advance(2 * 86_400_000);
  // Signed in again: the first session has timed out by now.
  await send(await signInAsStaff(app, staff.email, staff.password));
  clock.advance(5 * 86_400_000 + 1);
  assert.equal((await runMaintenance(services)).staffSubmissions, 1);
  const left = await services.db.select().from(staffSubmissions);
  assert.equal(left.length, 1);
  assert.ok(left[0]!.resultUrl?.startsWith('/staff/conversations/'));
  assert.equal((await runMaintenance(services)).staffSubmissions, 0);
  assert.deepEqual(await countRows(ta), { conversations: 2, texts: 2 });
});

test('Back after sending fetches the form page again (it is no-store) with the same id from its address: it says it was sent, and sending again sends nothing', async (t) => {
  const { ta, app, patient, jar } = await setup(t);
  // The patient's page links to each send form with a fresh id in the address.
  const patientPage = (await staffGet(app, jar, `/staff/patients/${patient.id}`)).body;
  const formUrl = new RegExp(`href="(/staff/patients/${patient.id}/message\\?form=[A-Za-z0-9_-]+)"`).exec(patientPage)?.[1];
  assert.ok(formUrl, 'the patient page links to the message form with an id');
  const again = (await staffGet(app, jar, `/staff/patients/${patient.id}`)).body;
  assert.ok(!again.includes(formUrl), 'each showing of the patient page gives new ids');

  const page = await staffGet(app, jar, formUrl);
  const id = submissionIdOf(page.body, `/staff/patients/${patient.id}/message`);
  assert.equal(id, formUrl.split('form=')[1], 'the form posts the id of its address');
  assert.doesNotMatch(page.body, /You have already sent this/);
  const sent = await staffPost(app, jar, `/staff/patients/${patient.id}/message`, { body: 'Please book a review.', replyMode: 'once', submissionId: id });
  assert.equal(sent.statusCode, 303);

  // Back: the browser asks for the form page again, at the same address.
  const back = await staffGet(app, jar, formUrl);
  assert.equal(submissionIdOf(back.body, `/staff/patients/${patient.id}/message`), id);
  assert.match(back.body, /You have already sent this/);
  assert.ok(back.body.includes(`href="${String(sent.headers.location).replace(/&/g, '&amp;')}"`), 'with a link to what was sent');
  const resent = await staffPost(app, jar, `/staff/patients/${patient.id}/message`, { body: 'Please book a review.', replyMode: 'once', submissionId: id });
  assert.equal(resent.headers.location, sent.headers.location);
  assert.deepEqual(await countRows(ta), { conversations: 1, texts: 1 });

  // A made-up or missing id in the address is a new form.
  const odd = await staffGet(app, jar, `/staff/patients/${patient.id}/message?form=<script>`);
  assert.notEqual(submissionIdOf(odd.body, `/staff/patients/${patient.id}/message`), '<script>');
});
