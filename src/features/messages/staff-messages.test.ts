// Staff messaging pages: find a patient, compose and send, the conversation page, re-send and revoke,
// and who may not (other organisations, malformed ids).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { and, count, eq } from 'drizzle-orm';
import { createTestApp, type TestApp } from '../../../test/helpers/app.ts';
import {
  createTestConversation,
  createTestOrganisation,
  createTestPatient,
  createTestStaff,
  latestLinkToken,
  type TestConversation,
} from '../../../test/helpers/factories.ts';
import { errorSummaryItems, pageText, signInAsStaff, staffGet, staffPost } from '../../../test/helpers/staff.ts';
import {
  auditEvents,
  conversationItems,
  conversations,
  links,
  outboundSms,
} from '../../platform/db/schema.ts';
import { findLinkByToken } from '../links/links.service.ts';
import type { Organisation } from '../organisations/organisations.service.ts';

async function signedInStaffOf(t: TestApp, organisation: Organisation, name = 'Sam Carter') {
  const staff = await createTestStaff(t.services, organisation.id, { name });
  const jar = await signInAsStaff(t.app, staff.email, staff.password);
  return { staff, jar };
}

async function countRows(t: TestApp) {
  const [c] = await t.services.db.select({ n: count() }).from(conversations);
  const [o] = await t.services.db.select({ n: count() }).from(outboundSms);
  return { conversations: Number(c!.n), texts: Number(o!.n) };
}

test('staff find a patient by NHS number or by family name and date of birth, then see the compose page', async (t) => {
  const ta = await createTestApp();
  t.after(ta.close);
  const { app, services } = ta;
  const organisation = await createTestOrganisation(services, { name: 'Oak Lane Surgery' });
  const patient = await createTestPatient(services, organisation.id);
  const { jar } = await signedInStaffOf(ta, organisation);

  const page = await staffGet(app, jar, '/staff/messages/new');
  assert.equal(page.statusCode, 200);
  assert.match(pageText(page.body), /Find a patient/);

  // An exact NHS number goes straight to the patient's page: who they are, what can be sent, what was.
  const byNhs = await staffPost(app, jar, '/staff/messages/new', { searchBy: 'nhs-number', nhsNumber: '999 000 0018' });
  assert.equal(byNhs.statusCode, 303);
  assert.equal(byNhs.headers.location, `/staff/patients/${patient.id}`);
  const patientPage = await staffGet(app, jar, byNhs.headers.location);
  assert.equal(patientPage.statusCode, 200);
  assert.match(pageText(patientPage.body), /Priya Shah NHS number 999 000 0018 Date of birth 12 March 1984 Mobile ending 001 Send Priya Shah A message A questionnaire An invitation to book an appointment A document Conversations Nothing has been sent to Priya Shah yet/);
  for (const action of ['message', 'questionnaire', 'booking', 'document']) {
    assert.match(patientPage.body, new RegExp(`href="/staff/patients/${patient.id}/${action}\\?form=[A-Za-z0-9_-]{22}"`));
  }
  assert.equal((await staffGet(app, jar, '/staff/patients/00000000-0000-4000-8000-000000000000')).statusCode, 404);
  assert.equal((await staffGet(app, jar, '/staff/patients/not-a-uuid')).statusCode, 404);

  const byName = await staffPost(app, jar, '/staff/messages/new', {
    searchBy: 'name-dob',
    familyName: 'shah',
    'dob[day]': '12',
    'dob[month]': '3',
    'dob[year]': '1984',
  });
  assert.equal(byName.statusCode, 200);
  assert.match(byName.body, /<title>Find a patient: 1 result/);
  assert.match(pageText(byName.body), /1 patient found\. Priya Shah NHS number 999 000 0018 Date of birth 12 March 1984 Mobile ending 001/);
  assert.match(byName.body, new RegExp(`href="/staff/patients/${patient.id}/message\\?form=[A-Za-z0-9_-]{22}"`));
  assert.match(byName.body, /id="results" tabindex="-1"/);
  assert.doesNotMatch(byName.body, /07700 ?900 ?001|\+447700900001/, 'the full mobile number is not shown');

  const none = await staffPost(app, jar, '/staff/messages/new', { searchBy: 'nhs-number', nhsNumber: '9990000026' });
  assert.match(pageText(none.body), /No patients found\. Check the details and try again\. Only patients of Oak Lane Surgery can be found/);

  const badNhs = await staffPost(app, jar, '/staff/messages/new', { searchBy: 'nhs-number', nhsNumber: '9990000019' });
  assert.equal(badNhs.statusCode, 400);
  assert.deepEqual(errorSummaryItems(badNhs.body), ['#nhsNumber Enter a valid 10-digit NHS number']);
  const badDob = await staffPost(app, jar, '/staff/messages/new', { searchBy: 'name-dob', familyName: '', 'dob[day]': '31', 'dob[month]': '2', 'dob[year]': '1984' });
  assert.equal(badDob.statusCode, 400);
  assert.deepEqual(errorSummaryItems(badDob.body), ["#familyName Enter the patient's family name", '#dob-day Date of birth must be a real date']);
  const noMonth = await staffPost(app, jar, '/staff/messages/new', { searchBy: 'name-dob', familyName: 'Shah', 'dob[day]': '12', 'dob[month]': '', 'dob[year]': '1984' });
  assert.deepEqual(errorSummaryItems(noMonth.body), ['#dob-month Date of birth must include a month']);

  const compose = await staffGet(app, jar, `/staff/patients/${patient.id}/message`);
  assert.equal(compose.statusCode, 200);
  const text = pageText(compose.body);
  assert.match(text, /Write a message/);
  assert.match(text, /NHS number 999 000 0018/);
  assert.match(text, /Mobile ending 001/);
  assert.match(text, /Message from Oak Lane Surgery: you have a new message\. Open it here: http:\/\/localhost:3000\/x{22}/);
  assert.match(text, /This text is 1 text message part long/);
  assert.match(text, /You can enter up to 5000 characters/);
  assert.match(text, /No reply One reply Conversation \(replies until the link expires\)/);
  assert.match(compose.body, /data-module="nhsuk-character-count"/);
  assert.match(compose.body, /data-maxlength="5000"/);
});

async function auditOf(t: TestApp, type: string) {
  return t.services.db.select().from(auditEvents).where(eq(auditEvents.type, type)).orderBy(auditEvents.id);
}

test('each search and each compose page is audited once, with the results but never the terms searched for', async (t) => {
  const ta = await createTestApp();
  t.after(ta.close);
  const { app, services } = ta;
  const organisation = await createTestOrganisation(services);
  const patient = await createTestPatient(services, organisation.id);
  const { staff, jar } = await signedInStaffOf(ta, organisation);
  // Every form the search terms could take, as typed and as stored.
  const terms = [patient.nhsNumber, '999 000 0018', 'Shah', 'shah', patient.dateOfBirth, '1984', '12/03/1984'];
  const assertNoTerms = (details: unknown) => {
    // Ids masked, so a random UUID that happens to hold "1984" is not taken for a date of birth.
    const json = JSON.stringify(details).replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<id>');
    for (const term of terms) assert.equal(json.toLowerCase().includes(term.toLowerCase()), false, `the audit details hold "${term}": ${json}`);
  };

  await staffPost(app, jar, '/staff/messages/new', { searchBy: 'nhs-number', nhsNumber: '999 000 0018' });
  let searched = await auditOf(ta, 'patient.searched');
  assert.equal(searched.length, 1);
  assert.equal(searched[0]!.actorType, 'staff');
  assert.equal(searched[0]!.actorId, staff.id);
  assert.equal(searched[0]!.ip, '127.0.0.1');
  assert.equal(searched[0]!.organisationId, organisation.id);
  assert.deepEqual(searched[0]!.details, { searchBy: 'nhs-number', results: 1, patientIds: [patient.id] });
  assertNoTerms(searched[0]!.details);

  await staffPost(app, jar, '/staff/messages/new', { searchBy: 'name-dob', familyName: 'shah', 'dob[day]': '12', 'dob[month]': '3', 'dob[year]': '1984' });
  await staffPost(app, jar, '/staff/messages/new', { searchBy: 'nhs-number', nhsNumber: '9990000026' });
  searched = await auditOf(ta, 'patient.searched');
  assert.equal(searched.length, 3);
  assert.deepEqual(searched[1]!.details, { searchBy: 'name-dob', results: 1, patientIds: [patient.id] });
  assert.deepEqual(searched[2]!.details, { searchBy: 'nhs-number', results: 0, patientIds: [] });
  for (const event of searched) assertNoTerms(event.details);

  // A search refused for its input looked nothing up, so there is nothing to record.
  assert.equal((await staffPost(app, jar, '/staff/messages/new', { searchBy: 'nhs-number', nhsNumber: '9990000019' })).statusCode, 400);
  assert.equal((await staffPost(app, jar, '/staff/messages/new', { searchBy: 'name-dob', familyName: 'Shah', 'dob[day]': '31', 'dob[month]': '2', 'dob[year]': '1984' })).statusCode, 400);
  assert.equal((await auditOf(ta, 'patient.searched')).length, 3);

  assert.equal((await staffGet(app, jar, `/staff/patients/${patient.id}/message`)).statusCode, 200);
  const viewed = await auditOf(ta, 'patient.viewed');
  assert.equal(viewed.length, 1);
  assert.equal(viewed[0]!.actorType, 'staff');
  assert.equal(viewed[0]!.actorId, staff.id);
  assert.equal(viewed[0]!.organisationId, organisation.id);
  assert.equal(viewed[0]!.patientId, patient.id);
  assert.equal(viewed[0]!.conversationId, null);
  assertNoTerms(viewed[0]!.details);

  // The compose form shown again with an error shows the patient again; a sent message is 'message.sent'.
  assert.equal((await staffPost(app, jar, `/staff/patients/${patient.id}/message`, { body: '', replyMode: 'once' })).statusCode, 400);
  assert.equal((await auditOf(ta, 'patient.viewed')).length, 2);
  assert.equal((await staffPost(app, jar, `/staff/patients/${patient.id}/message`, { body: 'Hello', replyMode: 'none' })).statusCode, 303);
  assert.equal((await auditOf(ta, 'patient.viewed')).length, 2);

  // An unknown or malformed patient id shows nothing, so records nothing.
  assert.equal((await staffGet(app, jar, '/staff/patients/00000000-0000-4000-8000-000000000000/message')).statusCode, 404);
  assert.equal((await staffGet(app, jar, '/staff/patients/not-a-uuid/message')).statusCode, 404);
  assert.equal((await auditOf(ta, 'patient.viewed')).length, 2);
});

test("another organisation's staff searching for a patient get an event in their own organisation, with no results", async (t) => {
  const ta = await createTestApp();
  t.after(ta.close);
  const { app, services } = ta;
  const a = await createTestConversation(services);
  const organisationB = await createTestOrganisation(services, { name: 'Other Practice' });
  const { staff, jar } = await signedInStaffOf(ta, organisationB);

  await staffPost(app, jar, '/staff/messages/new', { searchBy: 'nhs-number', nhsNumber: a.patient.nhsNumber });
  await staffPost(app, jar, '/staff/messages/new', { searchBy: 'name-dob', familyName: 'Shah', 'dob[day]': '12', 'dob[month]': '03', 'dob[year]': '1984' });
  const searched = await auditOf(ta, 'patient.searched');
  assert.equal(searched.length, 2);
  for (const event of searched) {
    assert.equal(event.actorId, staff.id);
    assert.equal(event.organisationId, organisationB.id);
    assert.equal(event.patientId, null);
    assert.equal(event.details.results, 0);
    assert.deepEqual(event.details.patientIds, []);
    const json = JSON.stringify(event.details);
    for (const term of [a.patient.nhsNumber, a.patient.id, 'Shah', '1984']) assert.equal(json.includes(term), false, `details hold ${term}`);
  }
  assert.deepEqual(await auditOf(ta, 'patient.viewed'), []);
  assert.equal((await staffGet(app, jar, `/staff/patients/${a.patient.id}/message`)).statusCode, 404);
  assert.deepEqual(await auditOf(ta, 'patient.viewed'), [], "a refused look at A's patient records nothing");
});

test('compose errors (empty, too long, no reply mode) show the NHS error summary and store nothing', async (t) => {
  const ta = await createTestApp();
  t.after(ta.close);
  const { app, services } = ta;
  const organisation = await createTestOrganisation(services);
  const patient = await createTestPatient(services, organisation.id);
  const { jar } = await signedInStaffOf(ta, organisation);
  const url = `/staff/patients/${patient.id}/message`;

  const empty = await staffPost(app, jar, url, { body: '   ', replyMode: 'once' });
  assert.equal(empty.statusCode, 400);
  assert.match(empty.body, /<title>Error: Write a message/);
  assert.deepEqual(errorSummaryItems(empty.body), ['#body Enter a message']);
  assert.match(empty.body, /id="replyMode-2"[^>]*value="once" checked|value="once" checked/);

  const tooLong = await staffPost(app, jar, url, { body: 'a'.repeat(5001), replyMode: 'none' });
  assert.equal(tooLong.statusCode, 400);
  assert.deepEqual(errorSummaryItems(tooLong.body), ['#body Message must be 5,000 characters or fewer']);

  const noMode = await staffPost(app, jar, url, { body: 'Please book a blood test.' });
  assert.equal(noMode.statusCode, 400);
  assert.deepEqual(errorSummaryItems(noMode.body), ['#replyMode Select whether the patient can reply']);
  assert.match(noMode.body, /Please book a blood test\./, 'what was typed is kept');

  const badMode = await staffPost(app, jar, url, { body: 'Hello', replyMode: 'questionnaire' });
  assert.equal(badMode.statusCode, 400);
  assert.deepEqual(errorSummaryItems(badMode.body), ['#replyMode Select whether the patient can reply']);

  assert.deepEqual(await countRows(ta), { conversations: 0, texts: 0 });
});

test('sending creates the conversation and its text, then shows the conversation with status "Queued"', async (t) => {
  const logLines: string[] = [];
  const ta = await createTestApp({ logLines });
  t.after(ta.close);
  const { app, services } = ta;
  const organisation = await createTestOrganisation(services, { name: 'Oak Lane Surgery' });
  const patient = await createTestPatient(services, organisation.id);
  const { staff, jar } = await signedInStaffOf(ta, organisation, 'Sam Carter');

  const res = await staffPost(app, jar, `/staff/patients/${patient.id}/message`, {
    body: 'Your test results are back.\r\nPlease <b>call</b> us & <script>alert(1)</script>',
    replyMode: 'conversation',
  });
  assert.equal(res.statusCode, 303);
  const [conversation] = await services.db.select().from(conversations);
  assert.ok(conversation);
  assert.equal(conversation.organisationId, organisation.id);
  assert.equal(conversation.patientId, patient.id);
  assert.equal(conversation.kind, 'message');
  assert.deepEqual(conversation.payload, { replyMode: 'conversation' });
  assert.equal(conversation.createdByStaffId, staff.id);
  assert.equal(res.headers.location, `/staff/conversations/${conversation.id}?done=sent`);
  const texts = await services.db.select().from(outboundSms).where(eq(outboundSms.conversationId, conversation.id));
  assert.equal(texts.length, 1);
  assert.equal(texts[0]!.kind, 'message_link');
  assert.equal(texts[0]!.status, 'queued');
  assert.equal(texts[0]!.phoneE164, '+447700900001');
  assert.doesNotMatch(JSON.stringify(texts[0]!.personalisation), /test results/, 'the text never carries the message');
  const [sent] = await services.db.select().from(auditEvents).where(eq(auditEvents.type, 'message.sent'));
  assert.equal(sent?.actorType, 'staff');
  assert.equal(sent?.actorId, staff.id);

  const page = await staffGet(app, jar, res.headers.location!);
  assert.equal(page.statusCode, 200);
  const text = pageText(page.body);
  assert.match(text, /Success Message sent Priya Shah will get a text message with a link to your message/);
  assert.match(text, /Conversation Priya Shah NHS number 999 000 0018/);
  assert.match(text, /Replies Conversation/);
  assert.match(text, /Message from Sam Carter/);
  assert.match(text, /Link to the message Sent to Mobile ending 001 .* Queued/);
  assert.match(text, /The link works until/);
  assert.match(text, /Message sent/);
  // Escaped, never markup.
  assert.match(page.body, /Please &lt;b&gt;call&lt;\/b&gt; us &amp; &lt;script&gt;alert\(1\)&lt;\/script&gt;/);
  assert.doesNotMatch(page.body, /<script>alert/);
  assert.doesNotMatch(page.body, /<b>call/);

  const viewed = await services.db.select().from(auditEvents).where(eq(auditEvents.type, 'conversation.viewed'));
  assert.equal(viewed.length, 1);

  // Searching and sending leave no patient identifiers, message words or emails in the logs.
  await staffPost(app, jar, '/staff/messages/new', { searchBy: 'nhs-number', nhsNumber: patient.nhsNumber });
  await staffPost(app, jar, '/staff/messages/new', { searchBy: 'name-dob', familyName: 'Shah', 'dob[day]': '12', 'dob[month]': '3', 'dob[year]': '1984' });
  const logs = logLines.join('\n');
  assert.ok(logLines.length > 0, 'requests are logged');
  for (const secret of [patient.nhsNumber, '1984', '447700900001', 'test results', staff.email]) {
    assert.equal(logs.includes(secret), false, `logs contain ${secret}`);
  }
  assert.equal(viewed[0]!.actorId, staff.id);
  assert.equal(viewed[0]!.conversationId, conversation.id);
  assert.equal(viewed[0]!.patientId, patient.id);
});

test('the conversation page shows replies, every text status in words and the link events', async (t) => {
  const ta = await createTestApp();
  t.after(ta.close);
  const { app, services } = ta;
  const c = await createTestConversation(services, { replyMode: 'conversation' });
  const { jar } = await signedInStaffOf(ta, c.organisation);

  await services.db.insert(conversationItems).values({ conversationId: c.conversationId, kind: 'patient_reply', body: 'Thanks, <i>see you</i> Friday' });
  await services.db.update(outboundSms).set({ status: 'permanent_failure' }).where(eq(outboundSms.conversationId, c.conversationId));
  await services.db.insert(outboundSms).values({
    organisationId: c.organisation.id,
    conversationId: c.conversationId,
    linkId: c.linkId,
    kind: 'security_code',
    phoneE164: c.patient.mobileE164,
    personalisation: { organisation_name: c.organisation.name, code: '123456' },
    status: 'delivered',
  });
  for (const type of ['link.opened', 'link.dob_wrong', 'link.dob_right', 'code.sent', 'code.wrong', 'code.right', 'device.trusted'] as const) {
    await services.db.insert(auditEvents).values({ type, actorType: 'patient_link', actorId: c.linkId, organisationId: c.organisation.id, conversationId: c.conversationId, linkId: c.linkId });
  }

  const page = await staffGet(app, jar, `/staff/conversations/${c.conversationId}`);
  assert.equal(page.statusCode, 200);
  const text = pageText(page.body);
  assert.match(text, /Patient reply Reply from Priya Shah/);
  assert.match(page.body, /dc-conversation-item--patient/);
  assert.match(page.body, /Thanks, &lt;i&gt;see you&lt;\/i&gt; Friday/);
  assert.ok(text.indexOf('Message from') < text.indexOf('Reply from Priya Shah'), 'items in order');
  assert.match(text, /Link to the message Sent to Mobile ending 001 .* Not delivered The number does not exist or cannot receive text messages/);
  assert.match(text, /Security code Sent to Mobile ending 001 .* Delivered/);
  assert.doesNotMatch(text, /123456/, 'codes are never shown');
  assert.match(
    text,
    /Message sent .* Link opened .* Date of birth entered wrongly .* Date of birth entered correctly .* Security code sent .* Security code entered wrongly .* Security code entered correctly .* Device trusted/,
  );
  assert.match(text, /A device has been trusted to open it|The link works until/);
});

test('the link state: locked for a while, expired, revoked', async (t) => {
  const ta = await createTestApp();
  t.after(ta.close);
  const { app, services } = ta;
  const c = await createTestConversation(services);
  const { jar } = await signedInStaffOf(ta, c.organisation);
  const url = `/staff/conversations/${c.conversationId}`;

  await services.db.update(links).set({ lockedUntil: new Date(Date.now() + 30 * 60_000) }).where(eq(links.id, c.linkId));
  assert.match(pageText((await staffGet(app, jar, url)).body), /The link is locked until .* because the date of birth was entered wrongly too many times in a row/);

  await services.db.update(links).set({ lockedUntil: null, expiresAt: new Date(Date.now() - 60_000) }).where(eq(links.id, c.linkId));
  const expired = pageText((await staffGet(app, jar, url)).body);
  assert.match(expired, /The link expired on/);
  assert.doesNotMatch(expired, /Revoke link/, 'nothing to revoke');
  assert.match(expired, /Re-send link/);
});

test('re-sending unlocks a permanently locked link: the old token is revoked and a new link is texted', async (t) => {
  const ta = await createTestApp();
  t.after(ta.close);
  const { app, services } = ta;
  const c = await createTestConversation(services);
  const { staff, jar } = await signedInStaffOf(ta, c.organisation);
  const url = `/staff/conversations/${c.conversationId}`;
  await services.db.update(links).set({ lockedPermanentlyAt: new Date(), dobFailuresTotal: 10 }).where(eq(links.id, c.linkId));

  const locked = pageText((await staffGet(app, jar, url)).body);
  assert.match(locked, /The link is locked The date of birth was entered wrongly too many times .* Re-send the link to unlock it/);

  const res = await staffPost(app, jar, `${url}/resend`);
  assert.equal(res.statusCode, 303);
  assert.equal(res.headers.location, `${url}?done=resent`);

  const old = await findLinkByToken(services.db, c.token);
  assert.ok(old?.revokedAt, 'the old link is revoked');
  const newToken = await latestLinkToken(services, c.conversationId);
  assert.notEqual(newToken, c.token);
  const fresh = await findLinkByToken(services.db, newToken);
  assert.ok(fresh);
  assert.equal(fresh.revokedAt, null);
  assert.equal(fresh.lockedPermanentlyAt, null);
  assert.equal(fresh.dobFailuresTotal, 0);
  assert.equal(fresh.phoneE164, c.patient.mobileE164);
  const texts = await services.db.select().from(outboundSms).where(and(eq(outboundSms.conversationId, c.conversationId), eq(outboundSms.kind, 'message_link')));
  assert.equal(texts.length, 2);
  assert.ok(texts.some((x) => x.linkId === fresh.id && x.status === 'queued'));
  const events = await services.db.select().from(auditEvents).where(eq(auditEvents.conversationId, c.conversationId));
  assert.ok(events.some((e) => e.type === 'link.revoked' && e.actorId === staff.id && e.details.reason === 'resent'));
  assert.ok(events.some((e) => e.type === 'message.sent' && e.linkId === fresh.id && e.details.resent === true));

  const page = pageText((await staffGet(app, jar, res.headers.location!)).body);
  assert.match(page, /Success Link sent again Earlier links no longer work/);
  assert.match(page, /The link works until/);
  assert.match(page, /Link revoked .* Link sent again/);
});

test('revoking a link stops it working and is audited', async (t) => {
  const ta = await createTestApp();
  t.after(ta.close);
  const { app, services } = ta;
  const c = await createTestConversation(services);
  const { staff, jar } = await signedInStaffOf(ta, c.organisation);
  const url = `/staff/conversations/${c.conversationId}`;
  assert.match(pageText((await staffGet(app, jar, url)).body), /Revoke link/);

  const res = await staffPost(app, jar, `${url}/revoke`);
  assert.equal(res.statusCode, 303);
  assert.equal(res.headers.location, `${url}?done=revoked`);
  assert.ok((await findLinkByToken(services.db, c.token))?.revokedAt);
  const [event] = await services.db.select().from(auditEvents).where(and(eq(auditEvents.type, 'link.revoked'), eq(auditEvents.conversationId, c.conversationId)));
  assert.equal(event?.actorId, staff.id);
  assert.equal(event?.details.reason, 'staff');

  const page = pageText((await staffGet(app, jar, res.headers.location!)).body);
  assert.match(page, /Success Link revoked Priya Shah can no longer open this message/);
  assert.match(page, /The link was revoked on .* Re-send the link to give them a new one/);
  assert.doesNotMatch(page, /Revoke link/);
});

test('staff of another organisation cannot see, find, message, re-send or revoke anything of organisation A', async (t) => {
  const ta = await createTestApp();
  t.after(ta.close);
  const { app, services } = ta;
  const a: TestConversation = await createTestConversation(services);
  const organisationB = await createTestOrganisation(services, { name: 'Other Practice' });
  const { jar } = await signedInStaffOf(ta, organisationB);
  const before = await countRows(ta);

  const view = await staffGet(app, jar, `/staff/conversations/${a.conversationId}`);
  assert.equal(view.statusCode, 404);
  assert.match(view.body, /Page not found/);
  assert.doesNotMatch(view.body, /Priya|Shah|blood test/);

  const inbox = await staffGet(app, jar, '/staff');
  assert.doesNotMatch(inbox.body, new RegExp(a.conversationId));
  assert.match(pageText(inbox.body), /No messages have been sent yet/);

  const byNhs = await staffPost(app, jar, '/staff/messages/new', { searchBy: 'nhs-number', nhsNumber: a.patient.nhsNumber });
  assert.match(pageText(byNhs.body), /No patients found/);
  assert.doesNotMatch(byNhs.body, /Priya/);
  const byName = await staffPost(app, jar, '/staff/messages/new', { searchBy: 'name-dob', familyName: 'Shah', 'dob[day]': '12', 'dob[month]': '03', 'dob[year]': '1984' });
  assert.match(pageText(byName.body), /No patients found/);
  assert.doesNotMatch(byName.body, new RegExp(a.patient.id));

  assert.equal((await staffGet(app, jar, `/staff/patients/${a.patient.id}/message`)).statusCode, 404);
  const post = await staffPost(app, jar, `/staff/patients/${a.patient.id}/message`, { body: 'Hello', replyMode: 'none' });
  assert.equal(post.statusCode, 404);
  const invalidPost = await staffPost(app, jar, `/staff/patients/${a.patient.id}/message`, { body: '' });
  assert.equal(invalidPost.statusCode, 404, 'the patient check comes before the form check');

  assert.equal((await staffPost(app, jar, `/staff/conversations/${a.conversationId}/resend`)).statusCode, 404);
  assert.equal((await staffPost(app, jar, `/staff/conversations/${a.conversationId}/revoke`)).statusCode, 404);
  const link = await findLinkByToken(services.db, a.token);
  assert.equal(link?.revokedAt, null, "A's link still works");
  assert.deepEqual(await countRows(ta), before, 'nothing was created');
  const viewed = await services.db.select().from(auditEvents).where(eq(auditEvents.type, 'conversation.viewed'));
  assert.equal(viewed.length, 0);
});

test('malformed or unknown ids are 404 pages, never 500', async (t) => {
  const ta = await createTestApp();
  t.after(ta.close);
  const { app, services } = ta;
  const organisation = await createTestOrganisation(services);
  const { jar } = await signedInStaffOf(ta, organisation);
  for (const id of ['not-a-uuid', "1' OR '1'='1", '00000000-0000-4000-8000-000000000000', 'A'.repeat(90)]) {
    const enc = encodeURIComponent(id);
    for (const res of [
      await staffGet(app, jar, `/staff/conversations/${enc}`),
      await staffGet(app, jar, `/staff/patients/${enc}/message`),
      await staffPost(app, jar, `/staff/patients/${enc}/message`, { body: 'x', replyMode: 'none' }),
      await staffPost(app, jar, `/staff/conversations/${enc}/resend`),
      await staffPost(app, jar, `/staff/conversations/${enc}/revoke`),
    ]) {
      assert.equal(res.statusCode, 404, id);
      assert.match(res.body, /Page not found/);
    }
  }
});
