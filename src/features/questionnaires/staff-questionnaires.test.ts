// Staff pages for questionnaires: choosing and sending one, the answers panel on the conversation page
// (not started, saved so far, urgent, submitted), the FHIR JSON download, and who may not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { and, eq } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import { createTestApp, TestClock, type TestApp } from '../../../test/helpers/app.ts';
import {
  CookieJar,
  createTestConversation,
  createTestOrganisation,
  createTestPatient,
  createTestQuestionnaireConversation,
  createTestStaff,
  type TestConversation,
} from '../../../test/helpers/factories.ts';
import { firstDevice, get, postForm, textOf } from '../../../test/helpers/patient.ts';
import { questionnaire } from '../../../test/helpers/questionnaires.ts';
import { errorSummaryItems, pageText, signInAsStaff, staffGet, staffPost } from '../../../test/helpers/staff.ts';
import { auditEvents, conversationItems, conversations, files, links, outboundSms } from '../../platform/db/schema.ts';
import type { Organisation } from '../organisations/organisations.service.ts';
import { addQuestionnaire } from './questionnaires.service.ts';

const DAY_MS = 24 * 60 * 60 * 1000;
const CATALOGUE = 'https://dovecote.example/fhir/Questionnaire/';
const CATALOGUE_TITLES = [
  'Depression questionnaire (PHQ-9)',
  'Anxiety questionnaire (GAD-7)',
  'Weight and height',
  'Home blood pressure readings',
];
const PHQ9_NOT_AT_ALL = 'LA6568-5';
const PHQ9_SEVERAL_DAYS = 'LA6569-3';

async function signedInStaffOf(t: TestApp, organisation: Organisation, name = 'Sam Carter') {
  const staff = await createTestStaff(t.services, organisation.id, { name });
  const jar = await signInAsStaff(t.app, staff.email, staff.password);
  return { staff, jar };
}

/** The organisation's own questionnaire: one yes/no question. */
async function addOwnQuestionnaire(t: TestApp, organisation: Organisation, url: string, title: string) {
  const staff = await createTestStaff(t.services, organisation.id);
  const json = questionnaire([{ linkId: 'q1', text: 'Have you had a cough this week?', type: 'boolean', required: true }], { url, version: '2', title });
  const added = await addQuestionnaire(t.services, { organisationId: organisation.id, json, author: { type: 'staff', staffUserId: staff.id } });
  assert.equal(added.created, true);
  return added.questionnaire;
}

const radioValues = (html: string) => [...html.matchAll(/<input[^>]*name="questionnaire"[^>]*>/g)].map((m) => /value="([^"]*)"/.exec(m[0])![1]!.replace(/&#124;|&amp;#124;/g, '|'));

const sendPath = (patientId: string) => `/staff/patients/${patientId}/questionnaire`;

test('the send page offers the 7 built-in questionnaires and the organisation\'s own, never another organisation\'s', async (t) => {
  const ta = await createTestApp();
  t.after(ta.close);
  const organisation = await createTestOrganisation(ta.services, { name: 'Oak Lane Surgery' });
  const elsewhere = await createTestOrganisation(ta.services, { name: 'Elm Street Practice' });
  await addOwnQuestionnaire(ta, organisation, 'https://oak-lane.example/Questionnaire/cough', 'Cough check <b>now</b>');
  await addOwnQuestionnaire(ta, elsewhere, 'https://elm-street.example/Questionnaire/secret', 'Elm Street only');
  const patient = await createTestPatient(ta.services, organisation.id);
  const { jar } = await signedInStaffOf(ta, organisation);

  const page = await staffGet(ta.app, jar, sendPath(patient.id));
  assert.equal(page.statusCode, 200);
  const text = pageText(page.body);
  assert.match(text, /Send a questionnaire/);
  assert.match(text, /NHS number 999 000 0018/);
  const values = radioValues(page.body);
  const builtIn = values.filter((v) => v.startsWith(CATALOGUE));
  assert.equal(builtIn.length, 7, values.join('\n'));
  assert.ok(builtIn.every((v) => v.endsWith('|1.0.0')));
  for (const title of CATALOGUE_TITLES) assert.ok(text.includes(title), title);
  assert.ok(values.includes('https://oak-lane.example/Questionnaire/cough|2'));
  assert.match(text, /Cough check <b>now<\/b> Your organisation, version 2/);
  assert.doesNotMatch(page.body, /<b>now/, 'a title is text, never markup');
  assert.equal(values.length, 8);
  assert.doesNotMatch(page.body, /elm-street|Elm Street only/);
  // The default closing time is filled in.
  assert.match(page.body, /name="closesAfterDays"[^>]*value="7"|value="7"[^>]*name="closesAfterDays"/);
  assert.match(text, /please fill in a questionnaire/);
});

test('the send form refuses no choice, a choice not offered and a closing time out of range, and sends nothing', async (t) => {
  const ta = await createTestApp();
  t.after(ta.close);
  const organisation = await createTestOrganisation(ta.services);
  const elsewhere = await createTestOrganisation(ta.services);
  const theirs = await addOwnQuestionnaire(ta, elsewhere, 'https://elm-street.example/Questionnaire/secret', 'Elm Street only');
  const patient = await createTestPatient(ta.services, organisation.id);
  const { jar } = await signedInStaffOf(ta, organisation);
  const phq9 = `${CATALOGUE}phq-9|1.0.0`;

  const none = await staffPost(ta.app, jar, sendPath(patient.id), { closesAfterDays: '7' });
  assert.equal(none.statusCode, 400);
  assert.deepEqual(errorSummaryItems(none.body), ['#questionnaire Select a questionnaire']);

  for (const forged of [`${CATALOGUE}phq-9|0.9.0`, `${CATALOGUE}not-there|1.0.0`, `${theirs.url}|${theirs.version}`, 'phq-9']) {
    const res = await staffPost(ta.app, jar, sendPath(patient.id), { questionnaire: forged, closesAfterDays: '7' });
    assert.equal(res.statusCode, 400, forged);
    assert.deepEqual(errorSummaryItems(res.body), ['#questionnaire Select a questionnaire'], forged);
  }

  const days: Array<[string, string]> = [
    ['', 'Enter how many days the questionnaire stays open'],
    ['0', 'The questionnaire must stay open for at least 1 day'],
    ['29', 'The questionnaire can stay open for 28 days at most'],
    ['abc', 'Enter the number of days as a whole number, like 7'],
    ['2.5', 'Enter the number of days as a whole number, like 7'],
    // Number() would read these as whole numbers; a person typing them has made a mistake.
    ['1e1', 'Enter the number of days as a whole number, like 7'],
    ['0x1C', 'Enter the number of days as a whole number, like 7'],
    ['+7', 'Enter the number of days as a whole number, like 7'],
  ];
  for (const [value, message] of days) {
    const res = await staffPost(ta.app, jar, sendPath(patient.id), { questionnaire: phq9, closesAfterDays: value });
    assert.equal(res.statusCode, 400, `closesAfterDays "${value}"`);
    assert.deepEqual(errorSummaryItems(res.body), [`#closesAfterDays ${message}`], `closesAfterDays "${value}"`);
    // What was chosen and typed is kept.
    assert.match(res.body, /type="radio"[^>]*checked|checked[^>]*type="radio"/);
  }
  const both = await staffPost(ta.app, jar, sendPath(patient.id), { closesAfterDays: '0' });
  assert.deepEqual(errorSummaryItems(both.body), ['#questionnaire Select a questionnaire', '#closesAfterDays The questionnaire must stay open for at least 1 day']);
  assert.equal((await ta.services.db.select().from(conversations)).length, 0);
  assert.equal((await ta.services.db.select().from(outboundSms)).length, 0);
});

test('sending: 303 to the conversation, a questionnaire conversation, the text queued, and the link closes after the days chosen or 7', async (t) => {
  const clock = new TestClock(Date.parse('2026-05-04T09:00:00Z'));
  const ta = await createTestApp({ now: clock.now });
  t.after(ta.close);
  const organisation = await createTestOrganisation(ta.services, { name: 'Oak Lane Surgery' });
  const own = await addOwnQuestionnaire(ta, organisation, 'https://oak-lane.example/Questionnaire/cough', 'Cough check');
  const patient = await createTestPatient(ta.services, organisation.id);
  const { staff, jar } = await signedInStaffOf(ta, organisation);

  const sendAndRead = async (choice: string, closesAfterDays: string) => {
    const res = await staffPost(ta.app, jar, sendPath(patient.id), { questionnaire: choice, closesAfterDays });
    assert.equal(res.statusCode, 303, pageText(res.body).slice(0, 300));
    const id = /^\/staff\/conversations\/([0-9a-f-]{36})\?done=sent$/.exec(res.headers.location ?? '')?.[1];
    assert.ok(id, `redirected to ${res.headers.location}`);
    const [conversation] = await ta.services.db.select().from(conversations).where(eq(conversations.id, id));
    const [link] = await ta.services.db.select().from(links).where(eq(links.conversationId, id));
    const texts = await ta.services.db.select().from(outboundSms).where(eq(outboundSms.conversationId, id));
    return { id, location: res.headers.location!, conversation: conversation!, link: link!, texts };
  };

  const chosen = await sendAndRead(`${CATALOGUE}phq-9|1.0.0`, '3');
  assert.equal(chosen.conversation.kind, 'questionnaire');
  assert.equal(chosen.conversation.patientId, patient.id);
  assert.equal(chosen.conversation.createdByStaffId, staff.id);
  assert.deepEqual(chosen.conversation.payload, { url: `${CATALOGUE}phq-9`, version: '1.0.0', title: 'Depression questionnaire (PHQ-9)', closesAfterDays: 3 });
  assert.equal(chosen.texts.length, 1);
  assert.equal(chosen.texts[0]!.kind, 'message_link');
  assert.equal(chosen.texts[0]!.status, 'queued');
  assert.equal(chosen.texts[0]!.personalisation.waiting, 'please fill in a questionnaire');
  assert.equal(chosen.texts[0]!.personalisation.organisation_name, 'Oak Lane Surgery');
  assert.doesNotMatch(JSON.stringify(chosen.texts[0]!.personalisation), /PHQ|Depression/, 'the text never names the questionnaire');
  assert.equal(chosen.link.expiresAt.toISOString(), new Date(clock.now().getTime() + 3 * DAY_MS).toISOString());
  const [sent] = await ta.services.db.select().from(auditEvents).where(and(eq(auditEvents.type, 'questionnaire.sent'), eq(auditEvents.conversationId, chosen.id)));
  assert.equal(sent?.actorType, 'staff');
  assert.equal(sent?.actorId, staff.id);

  const page = await staffGet(ta.app, jar, chosen.location);
  assert.equal(page.statusCode, 200);
  const sentText = pageText(page.body);
  assert.match(sentText, /Questionnaire sent Priya Shah will get a text message with a link to your questionnaire\./);
  assert.match(sentText, /Answers: Depression questionnaire \(PHQ-9\) Not started/);

  // The default, as the form fills it in: 7 days, and not stored as the sender's own choice.
  const usual = await sendAndRead(`${own.url}|${own.version}`, '7');
  assert.deepEqual(usual.conversation.payload, { url: own.url, version: '2', title: 'Cough check' });
  assert.equal(usual.link.expiresAt.toISOString(), new Date(clock.now().getTime() + 7 * DAY_MS).toISOString());
  const longest = await sendAndRead(`${CATALOGUE}gad-7|1.0.0`, ' 28 ');
  assert.equal(longest.link.expiresAt.toISOString(), new Date(clock.now().getTime() + 28 * DAY_MS).toISOString());
});

// ---- The panel on the conversation page -----------------------------------------------------------

const base = (c: TestConversation) => `/${c.token}/conversation`;
const question = (c: TestConversation, linkId: string) => `${base(c)}/questions/${encodeURIComponent(linkId)}`;

async function answer(app: FastifyInstance, c: TestConversation, jar: CookieJar, linkId: string, value: string) {
  const res = await postForm(app, question(c, linkId), jar, { value }, { csrfPage: question(c, linkId) });
  assert.equal(res.statusCode, 303, `${linkId}: ${textOf(res.body).slice(0, 300)}`);
}

async function submit(app: FastifyInstance, c: TestConversation, jar: CookieJar) {
  const check = await get(app, `${base(c)}/check`, jar);
  assert.equal(check.statusCode, 200);
  const revision = /name="revision" value="(\d+)"/.exec(check.body)![1]!;
  const csrf = /name="_csrf" value="([^"]+)"/.exec(check.body)![1]!;
  const res = await postForm(app, `${base(c)}/submit`, jar, { revision }, { csrf });
  assert.equal(res.headers.location, `${base(c)}?submitted=1`);
}

const recordText = (html: string) => {
  const raw = /<textarea[^>]*id="record-text"[^>]*>([\s\S]*?)<\/textarea>/.exec(html)?.[1];
  assert.ok(raw !== undefined, 'no Copy for the record text');
  return raw.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
};

/** The conversation ids in the inbox table, top to bottom. */
const inboxOrder = (html: string) => [...html.matchAll(/href="\/staff\/conversations\/([0-9a-f-]{36})"/g)].map((m) => m[1]!).filter((id, i, all) => all.indexOf(id) === i);

test('the panel: not started, then the answers saved so far, then Urgent (first in the inbox), then submitted with the score first and the codes to copy', async (t) => {
  const clock = new TestClock(Date.parse('2026-05-04T09:00:00Z'));
  const ta = await createTestApp({ now: clock.now });
  t.after(ta.close);
  const { app, services } = ta;
  const c = await createTestQuestionnaireConversation(services, { questionnaire: 'phq-9' });
  const { jar: staffJar } = await signedInStaffOf(ta, c.organisation);
  const page = async () => {
    const res = await staffGet(app, staffJar, `/staff/conversations/${c.conversationId}`);
    assert.equal(res.statusCode, 200);
    return res;
  };

  const notStarted = pageText((await page()).body);
  assert.match(notStarted, /Answers: Depression questionnaire \(PHQ-9\) Not started The patient has not answered any questions yet/);
  assert.doesNotMatch(notStarted, /Copy for the record/);
  const notYet = await staffGet(app, staffJar, `/staff/conversations/${c.conversationId}/questionnaire-response`);
  assert.equal(notYet.statusCode, 404);

  // The patient answers two questions and stops (minutes later: staff sessions time out when idle).
  clock.advance(5 * 60 * 1000);
  const patientJar = await firstDevice(app, c.token);
  await answer(app, c, patientJar, 'phq9-q1', PHQ9_SEVERAL_DAYS);
  await answer(app, c, patientJar, 'phq9-q2', PHQ9_NOT_AT_ALL);
  const saved = pageText((await page()).body);
  assert.match(saved, /Not submitted yet These are the answers saved so far/);
  assert.match(saved, /Little interest or pleasure in doing things\? Several days/);
  assert.match(saved, /Feeling down, depressed, or hopeless\? Not at all/);
  assert.doesNotMatch(saved, /Urgent/);
  assert.doesNotMatch(saved, /Submitted on/);
  const soFar = await staffGet(app, staffJar, `/staff/conversations/${c.conversationId}/questionnaire-response`);
  assert.equal(soFar.statusCode, 200);
  assert.equal((JSON.parse(soFar.body) as { status: string }).status, 'in-progress');

  // A newer message conversation in the same organisation.
  clock.advance(60 * 1000);
  const newer = await createTestConversation(services, { organisation: c.organisation, patient: { nhsNumber: '9434765870', givenName: 'Alex', familyName: 'Jones' } });
  let inbox = await staffGet(app, staffJar, '/staff');
  assert.deepEqual(inboxOrder(inbox.body), [newer.conversationId, c.conversationId], 'newest first while nothing is urgent');

  for (let i = 3; i <= 8; i++) await answer(app, c, patientJar, `phq9-q${i}`, PHQ9_NOT_AT_ALL);
  await answer(app, c, patientJar, 'phq9-q9', PHQ9_SEVERAL_DAYS);
  const urgent = pageText((await page()).body);
  assert.match(urgent, /Not submitted yet/);
  assert.match(urgent, /Urgent/);
  inbox = await staffGet(app, staffJar, '/staff');
  assert.deepEqual(inboxOrder(inbox.body), [c.conversationId, newer.conversationId], 'the urgent conversation first, though older');
  const firstRow = /<tr[^>]*>(?:(?!<\/tr>)[\s\S])*?\/staff\/conversations\/[0-9a-f-]{36}[\s\S]*?<\/tr>/.exec(inbox.body.slice(inbox.body.indexOf('<tbody')))?.[0] ?? '';
  assert.match(pageText(firstRow), /Priya Shah Urgent/);
  assert.doesNotMatch(pageText(inbox.body.slice(inbox.body.indexOf(firstRow) + firstRow.length)), /Urgent/, 'only the flagged conversation is tagged');

  await answer(app, c, patientJar, 'phq9-difficulty', '');
  clock.advance(60 * 1000);
  await submit(app, c, patientJar);
  // The inbox names what the patient sent in the kind's words: answers, not a reply.
  assert.match(pageText((await staffGet(app, staffJar, '/staff')).body), /Patient reply Answers waiting/);
  const done = await page();
  const text = pageText(done.body);
  assert.match(pageText((await staffGet(app, staffJar, '/staff')).body), /Patient reply Answered/);
  assert.match(text, /Link to the questionnaire Sent to Mobile ending/);
  assert.match(text, /Submitted Submitted on .* \(version 1\.0\.0\)/);
  assert.match(text, /Urgent .*The patient was shown where to get help now/);
  // Scores before the questions and answers.
  const scores = text.indexOf('Scores and calculated values');
  const answers = text.indexOf('Questions and answers');
  assert.ok(scores > 0 && scores < answers, 'scores first');
  assert.match(text, /Scores and calculated values PHQ-9 total score 2 Questions and answers Little interest/);
  const record = recordText(done.body).split('\n');
  assert.equal(record[0], 'Depression questionnaire (PHQ-9) (version 1.0.0)');
  assert.match(record[1]!, /^Submitted by the patient on 4 May 2026/);
  assert.match(record[2]!, /^URGENT: Question 9/);
  assert.ok(record.includes('PHQ-9 total score [LOINC 44261-6 Patient health questionnaire 9 item total score]: 2'), 'the total, with its code');
  const q9 = record.find((line) => line.includes('[LOINC 44260-8 '));
  assert.match(q9 ?? '', /: LOINC LA6569-3 Several days$/, 'question 9 with the code of its answer');

  // The download: the FHIR resource, audited.
  const download = await staffGet(app, staffJar, `/staff/conversations/${c.conversationId}/questionnaire-response`);
  assert.equal(download.statusCode, 200);
  assert.match(String(download.headers['content-type']), /^application\/fhir\+json/);
  assert.match(String(download.headers['content-disposition']), /^attachment; filename="questionnaire-response-/);
  const resource = JSON.parse(download.body) as { resourceType: string; status: string; questionnaire: string; subject?: { identifier?: { system?: string; value?: string } } };
  assert.equal(resource.resourceType, 'QuestionnaireResponse');
  assert.equal(resource.status, 'completed');
  assert.equal(resource.questionnaire, `${CATALOGUE}phq-9|1.0.0`);
  assert.equal(resource.subject?.identifier?.system, 'https://fhir.nhs.uk/Id/nhs-number');
  assert.equal(resource.subject?.identifier?.value, c.patient.nhsNumber);
  const viewed = await services.db.select().from(auditEvents).where(and(eq(auditEvents.type, 'questionnaire_response.viewed'), eq(auditEvents.conversationId, c.conversationId)));
  assert.deepEqual(viewed.map((v) => v.details), [{ status: 'in-progress' }, { status: 'completed' }], 'each download audited');
  assert.equal(viewed[1]!.actorType, 'staff');
  assert.equal(viewed[1]!.patientId, c.patient.id);
});

test('who may not: another organisation\'s staff get 404, no session goes to sign in, a wrong CSRF token is refused', async (t) => {
  const ta = await createTestApp();
  t.after(ta.close);
  const { app, services } = ta;
  const c = await createTestQuestionnaireConversation(services, { questionnaire: 'asthma-rcp3' });
  const patientJar = await firstDevice(app, c.token);
  await answer(app, c, patientJar, 'rcp3-q1', 'yes');
  const elsewhere = await createTestOrganisation(services);
  const { jar: otherJar } = await signedInStaffOf(ta, elsewhere, 'Jo Other');
  const phq9 = `${CATALOGUE}phq-9|1.0.0`;
  const conversationCount = async () => (await services.db.select().from(conversations)).length;
  const before = await conversationCount();

  const sendPage = await staffGet(app, otherJar, sendPath(c.patient.id));
  assert.equal(sendPage.statusCode, 404);
  assert.doesNotMatch(sendPage.body, /Priya|999 000 0018/);
  const send = await staffPost(app, otherJar, sendPath(c.patient.id), { questionnaire: phq9, closesAfterDays: '7' });
  assert.equal(send.statusCode, 404);
  const download = await staffGet(app, otherJar, `/staff/conversations/${c.conversationId}/questionnaire-response`);
  assert.equal(download.statusCode, 404);
  assert.doesNotMatch(download.body, /QuestionnaireResponse|9990000018/);
  const panel = await staffGet(app, otherJar, `/staff/conversations/${c.conversationId}`);
  assert.equal(panel.statusCode, 404);
  for (const malformed of ['not-a-uuid', '00000000-0000-4000-8000-000000000000']) {
    assert.equal((await staffGet(app, otherJar, sendPath(malformed))).statusCode, 404, malformed);
    assert.equal((await staffGet(app, otherJar, `/staff/conversations/${malformed}/questionnaire-response`)).statusCode, 404, malformed);
  }
  // A message conversation has no questionnaire response.
  const message = await createTestConversation(services, { organisation: elsewhere, patient: { nhsNumber: '9434765870' } });
  assert.equal((await staffGet(app, otherJar, `/staff/conversations/${message.conversationId}/questionnaire-response`)).statusCode, 404);
  assert.equal((await services.db.select().from(auditEvents).where(eq(auditEvents.type, 'questionnaire_response.viewed'))).length, 0);

  const anonymous = new CookieJar();
  for (const url of [sendPath(c.patient.id), `/staff/conversations/${c.conversationId}/questionnaire-response`]) {
    const res = await staffGet(app, anonymous, url);
    assert.equal(res.statusCode, 303, url);
    assert.equal(res.headers.location, '/staff/sign-in', url);
  }
  // A valid CSRF token but no session: to sign in, and nothing sent.
  const anonymousPost = await staffPost(app, anonymous, sendPath(c.patient.id), { questionnaire: phq9, closesAfterDays: '7' });
  assert.equal(anonymousPost.statusCode, 303);
  assert.equal(anonymousPost.headers.location, '/staff/sign-in');

  const { jar } = await signedInStaffOf(ta, c.organisation);
  const badCsrf = await staffPost(app, jar, sendPath(c.patient.id), { questionnaire: phq9, closesAfterDays: '7', _csrf: 'not-the-token' });
  assert.equal(badCsrf.statusCode, 403);
  const noCsrf = await staffPost(app, jar, sendPath(c.patient.id), { questionnaire: phq9, closesAfterDays: '7', _csrf: null });
  assert.equal(noCsrf.statusCode, 403);
  assert.equal(await conversationCount(), before + 1, 'only the message conversation was added');
});

test('a receptionist sees that answers arrived and that a clinician is needed, never the answers, scores, record text, JSON or answer files', async (t) => {
  const clock = new TestClock(Date.parse('2026-05-04T09:00:00Z'));
  const ta = await createTestApp({ now: clock.now });
  t.after(ta.close);
  const { app, services } = ta;
  const c = await createTestQuestionnaireConversation(services, { questionnaire: 'phq-9' });
  const receptionist = await createTestStaff(services, c.organisation.id, { name: 'Jo Reception', role: 'receptionist' });
  const clinician = await createTestStaff(services, c.organisation.id, { name: 'Sam Clinician', role: 'clinician' });
  const receptionJar = await signInAsStaff(app, receptionist.email, receptionist.password);
  const clinicianJar = await signInAsStaff(app, clinician.email, clinician.password);

  clock.advance(60 * 1000);
  const patientJar = await firstDevice(app, c.token);
  await answer(app, c, patientJar, 'phq9-q1', PHQ9_SEVERAL_DAYS);
  for (let i = 2; i <= 8; i++) await answer(app, c, patientJar, `phq9-q${i}`, PHQ9_NOT_AT_ALL);
  await answer(app, c, patientJar, 'phq9-q9', PHQ9_SEVERAL_DAYS);
  await answer(app, c, patientJar, 'phq9-difficulty', '');
  await submit(app, c, patientJar);

  const url = `/staff/conversations/${c.conversationId}`;
  const asReception = await staffGet(app, receptionJar, url);
  assert.equal(asReception.statusCode, 200);
  const seen = pageText(asReception.body);
  assert.match(seen, /Answers: Depression questionnaire \(PHQ-9\) Submitted Submitted on/);
  assert.match(seen, /A clinician needs to see these answers soon Pass this conversation to a clinician now/);
  assert.match(seen, /Answers to questionnaires are shown only to clinicians and admins/);
  for (const clinical of [/Little interest or pleasure/, /Several days/, /Copy for the record/, /QuestionnaireResponse/, /Scores and calculated values/, /thoughts that you would be better off dead/i]) {
    assert.doesNotMatch(seen, clinical, `a receptionist was shown ${clinical}`);
  }
  assert.doesNotMatch(asReception.body, /questionnaire-response/);
  assert.equal((await staffGet(app, receptionJar, `${url}/questionnaire-response`)).statusCode, 403);

  const asClinician = pageText((await staffGet(app, clinicianJar, url)).body);
  assert.match(asClinician, /Little interest or pleasure in doing things\? Several days/);
  assert.match(asClinician, /Copy for the record/);

  // A file given as an answer (its row is enough: the refusal comes before its bytes are read).
  const [answers] = await services.db
    .select()
    .from(conversationItems)
    .where(and(eq(conversationItems.conversationId, c.conversationId), eq(conversationItems.kind, 'questionnaire_answers')));
  assert.ok(answers, 'the submitted answers are an item');
  const fileId = '7d1f3c0e-3a1b-4c5d-8e9f-0a1b2c3d4e5f';
  await services.db.insert(files).values({
    id: fileId,
    organisationId: c.organisation.id,
    purpose: 'attachment',
    conversationId: c.conversationId,
    itemId: answers.id,
    fileName: 'rash.jpg',
    mediaType: 'image/jpeg',
    sizeBytes: 10,
    sha256: '0'.repeat(64),
    storageKey: `test/${fileId}`,
    encryptionKeyId: 'k1',
    wrappedKey: 'x',
    scanStatus: 'clean',
    scanEngine: 'test',
  });
  assert.equal((await staffGet(app, receptionJar, `/staff/files/${fileId}`)).statusCode, 403);
  assert.equal((await staffGet(app, receptionJar, `/staff/files/${fileId}/thumbnail`)).statusCode, 403);
  const downloads = await services.db.select().from(auditEvents).where(eq(auditEvents.type, 'file.downloaded'));
  assert.equal(downloads.length, 0, 'a refused file is not recorded as downloaded');
});
