// A questionnaire behind the secure link: start page, one question a page, progress saved, Check your
// answers, submitting once, hidden answers removed, two tabs, urgent flags, and who may not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { and, eq } from 'drizzle-orm';
import { createTestApp, TestClock } from '../../../test/helpers/app.ts';
import { CookieJar, createTestOrganisation, createTestQuestionnaireConversation, csrfFrom, type TestConversation } from '../../../test/helpers/factories.ts';
import { addQuestionnaire } from './questionnaires.service.ts';
import { firstDevice, get, postForm, textOf } from '../../../test/helpers/patient.ts';
import { auditEvents, conversationItems, conversations, questionnaireResponses } from '../../platform/db/schema.ts';
import type { Services } from '../../services.ts';
import type { FastifyInstance } from 'fastify';

const PHQ9_NOT_AT_ALL = 'LA6568-5';
const PHQ9_SEVERAL_DAYS = 'LA6569-3';

const base = (c: TestConversation) => `/${c.token}/conversation`;
const question = (c: TestConversation, linkId: string) => `${base(c)}/questions/${encodeURIComponent(linkId)}`;

async function answer(app: FastifyInstance, c: TestConversation, jar: CookieJar, linkId: string, fields: Record<string, string>, extra: Record<string, string> = {}) {
  return postForm(app, question(c, linkId), jar, { ...fields, ...extra }, { csrfPage: question(c, linkId) });
}

async function stored(services: Services, conversationId: string) {
  const [row] = await services.db.select().from(questionnaireResponses).where(eq(questionnaireResponses.conversationId, conversationId));
  return row;
}

async function audits(services: Services, conversationId: string, type: string) {
  return services.db.select().from(auditEvents).where(and(eq(auditEvents.conversationId, conversationId), eq(auditEvents.type, type)));
}

async function submit(app: FastifyInstance, c: TestConversation, jar: CookieJar) {
  const check = await get(app, `${base(c)}/check`, jar);
  assert.equal(check.statusCode, 200, textOf(check.body).slice(0, 300));
  const revision = /name="revision" value="(\d+)"/.exec(check.body)![1]!;
  return postForm(app, `${base(c)}/submit`, jar, { revision }, { csrf: csrfFrom(check.body) });
}

test('the start page says who sent it, what it is, about how long it takes and when it closes', async (t) => {
  const clock = new TestClock(Date.parse('2026-07-31T23:30:00Z'));
  const { app, services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const c = await createTestQuestionnaireConversation(services, { questionnaire: 'phq-9' });
  const jar = await firstDevice(app, c.token);
  const res = await get(app, base(c), jar);
  assert.equal(res.statusCode, 200);
  const text = textOf(res.body);
  assert.match(text, new RegExp(`Questionnaire from ${c.organisation.name}`));
  assert.match(text, /Depression questionnaire \(PHQ-9\)/);
  assert.match(text, /sent you this on 1 August 2026/, 'the UK date, whatever the machine time zone');
  // PHQ-9's own description says how long it takes, so Dovecote's estimate is not shown as well.
  assert.match(text, /It takes about 5 minutes\./);
  assert.equal(text.match(/takes about/g)?.length, 1);
  assert.match(text, /until .*8 August 2026/, '7 days by default');
  assert.match(res.body, new RegExp(`href="${question(c, 'phq9-q1')}"[^>]*>\\s*Start now`));
});

test('one question a page: Continue saves the answer on the server and goes to the next; a returning patient resumes at the first unanswered', async (t) => {
  const { app, services, close } = await createTestApp();
  t.after(close);
  const c = await createTestQuestionnaireConversation(services, { questionnaire: 'phq-9' });
  const jar = await firstDevice(app, c.token);
  const page = await get(app, question(c, 'phq9-q1'), jar);
  assert.equal(page.statusCode, 200);
  assert.match(page.body, /<h1\s+class="nhsuk-fieldset__heading">\s*Little interest or pleasure in doing things\?/);
  assert.match(page.body, /type="radio"/);
  assert.match(page.body, new RegExp(`class="nhsuk-back-link"[^>]*href="${base(c)}"|href="${base(c)}"[^>]*class="nhsuk-back-link`));

  const saved = await answer(app, c, jar, 'phq9-q1', { value: PHQ9_SEVERAL_DAYS });
  assert.equal(saved.statusCode, 303);
  assert.equal(saved.headers.location, question(c, 'phq9-q2'));
  const row = await stored(services, c.conversationId);
  assert.deepEqual(row!.answers, { 'phq9-q1': [{ type: 'coding', value: { system: 'http://loinc.org', code: PHQ9_SEVERAL_DAYS, display: 'Several days' } }] });
  assert.equal(row!.submittedAt, null);
  const pageSaved = await audits(services, c.conversationId, 'questionnaire.page_saved');
  assert.equal(pageSaved.length, 1);
  assert.deepEqual(pageSaved[0]!.details, { linkId: 'phq9-q1', answered: true }, 'which question, never the answer');

  // The browser closes; the link is opened again on the same device: it carries on at question 2.
  const start = await get(app, base(c), jar);
  assert.match(textOf(start.body), /Continue/);
  assert.match(start.body, new RegExp(`href="${question(c, 'phq9-q2')}"`));
  // Question 1 shows its saved answer.
  const again = await get(app, question(c, 'phq9-q1'), jar);
  assert.match(again.body, new RegExp(`value="${PHQ9_SEVERAL_DAYS}" checked|checked[^>]*value="${PHQ9_SEVERAL_DAYS}"`));
});

test('no answer, or one that is not an option, is shown again with the NHS error summary and nothing is saved', async (t) => {
  const { app, services, close } = await createTestApp();
  t.after(close);
  const c = await createTestQuestionnaireConversation(services, { questionnaire: 'weight-height-bmi' });
  const jar = await firstDevice(app, c.token);
  const empty = await answer(app, c, jar, 'body-weight', { value: '' });
  assert.equal(empty.statusCode, 400);
  assert.match(empty.body, /<title>Error: /);
  assert.match(empty.body, /nhsuk-error-summary/);
  assert.match(empty.body, /href="#value"/);
  const tooHeavy = await answer(app, c, jar, 'body-weight', { value: '900' });
  assert.equal(tooHeavy.statusCode, 400);
  assert.match(textOf(tooHeavy.body), /must be between/);
  assert.match(tooHeavy.body, /value="900"/, 'what they typed is kept');
  assert.equal(await stored(services, c.conversationId), undefined);
  const phq = await createTestQuestionnaireConversation(services, { questionnaire: 'phq-9', organisation: c.organisation, patient: { nhsNumber: '9434765870' } });
  const jar2 = await firstDevice(app, phq.token);
  const wrong = await answer(app, phq, jar2, 'phq9-q1', { value: 'not-an-option' });
  assert.equal(wrong.statusCode, 400);
  assert.match(wrong.body, /nhsuk-error-summary/);
});

test('weight and height: BMI is worked out on the server, shown on Check your answers without a Change link, and a BMI posted by the browser is ignored', async (t) => {
  const { app, services, close } = await createTestApp();
  t.after(close);
  const c = await createTestQuestionnaireConversation(services, { questionnaire: 'weight-height-bmi' });
  const jar = await firstDevice(app, c.token);
  assert.equal((await answer(app, c, jar, 'body-weight', { value: '72.5' })).headers.location, question(c, 'body-height'));
  assert.equal((await answer(app, c, jar, 'body-height', { value: '168' })).headers.location, `${base(c)}/check`);
  // A calculated item has no page to post to.
  const forged = await postForm(app, question(c, 'bmi'), jar, { value: '12' }, { csrfPage: `${base(c)}/check` });
  assert.equal(forged.statusCode, 303);
  const check = await get(app, `${base(c)}/check`, jar);
  const text = textOf(check.body);
  assert.match(text, /What is your weight\? 72\.5 kg Change/);
  assert.match(text, /Body mass index \(BMI\) 25\.7/);
  assert.doesNotMatch(check.body, new RegExp(`${question(c, 'bmi')}`));
  const sent = await submit(app, c, jar);
  assert.equal(sent.statusCode, 303);
  assert.equal(sent.headers.location, `${base(c)}?submitted=1`);
  const done = await get(app, sent.headers.location!, jar);
  assert.match(textOf(done.body), /Answers sent/);
  const row = await stored(services, c.conversationId);
  assert.ok(row!.submittedAt);
  assert.equal(Object.keys(row!.answers).sort().join(), 'body-height,body-weight', 'calculated values are not stored as answers');
});

test('submitting happens once: the answers can no longer change, and opening the link again shows them', async (t) => {
  const { app, services, close } = await createTestApp();
  t.after(close);
  const c = await createTestQuestionnaireConversation(services, { questionnaire: 'smoking-status' });
  const jar = await firstDevice(app, c.token);
  const first = await get(app, question(c, 'smoking-status'), jar);
  const option = /name="value" type="radio" value="([^"]+)"/.exec(first.body)?.[1] ?? /type="radio"[^>]*value="([^"]+)"/.exec(first.body)![1]!;
  const r = await answer(app, c, jar, 'smoking-status', { value: option });
  assert.equal(r.statusCode, 303);
  if (r.headers.location !== `${base(c)}/check`) await answer(app, c, jar, 'smoking-wants-help', { value: 'no' });
  const check = await get(app, `${base(c)}/check`, jar);
  const revision = /name="revision" value="(\d+)"/.exec(check.body)![1]!;
  const csrf = csrfFrom(check.body);
  const one = await postForm(app, `${base(c)}/submit`, jar, { revision }, { csrf });
  const two = await postForm(app, `${base(c)}/submit`, jar, { revision }, { csrf });
  assert.equal(one.headers.location, `${base(c)}?submitted=1`);
  assert.equal(two.headers.location, base(c), 'the second tap is not a second submission');
  const items = await services.db.select().from(conversationItems).where(and(eq(conversationItems.conversationId, c.conversationId), eq(conversationItems.kind, 'questionnaire_answers')));
  assert.equal(items.length, 1);
  assert.equal((await audits(services, c.conversationId, 'questionnaire.answered')).length, 1);
  const late = await postForm(app, question(c, 'smoking-status'), jar, { value: option }, { csrf });
  assert.equal(late.headers.location, base(c));
  const view = await get(app, base(c), jar);
  assert.match(textOf(view.body), /You sent your answers on .* You cannot change them now/);
  assert.doesNotMatch(view.body, /Change<span/);
});

test('two tabs: answers saved from each are kept, and Submit from a stale Check your answers page shows the answers again', async (t) => {
  const { app, services, close } = await createTestApp();
  t.after(close);
  const c = await createTestQuestionnaireConversation(services, { questionnaire: 'asthma-rcp3' });
  const jar = await firstDevice(app, c.token);
  // Both tabs drew question pages before either saved.
  const tabA = csrfFrom((await get(app, question(c, 'rcp3-q1'), jar)).body);
  const tabB = csrfFrom((await get(app, question(c, 'rcp3-q2'), jar)).body);
  await postForm(app, question(c, 'rcp3-q1'), jar, { value: 'yes' }, { csrf: tabA });
  await postForm(app, question(c, 'rcp3-q2'), jar, { value: 'no' }, { csrf: tabB });
  await answer(app, c, jar, 'rcp3-q3', { value: 'no' });
  const row = await stored(services, c.conversationId);
  assert.deepEqual(Object.keys(row!.answers).sort(), ['rcp3-q1', 'rcp3-q2', 'rcp3-q3']);
  const check = await get(app, `${base(c)}/check`, jar);
  const revision = /name="revision" value="(\d+)"/.exec(check.body)![1]!;
  // The other tab changes an answer after this Check your answers page was drawn.
  await answer(app, c, jar, 'rcp3-q3', { value: 'yes' }, { change: '1' });
  const stale = await postForm(app, `${base(c)}/submit`, jar, { revision }, { csrf: csrfFrom(check.body) });
  assert.equal(stale.statusCode, 409);
  assert.match(textOf(stale.body), /Your answers have changed/);
  assert.equal((await stored(services, c.conversationId))!.submittedAt, null);
  const fresh = /name="revision" value="(\d+)"/.exec(stale.body)![1]!;
  const ok = await postForm(app, `${base(c)}/submit`, jar, { revision: fresh }, { csrf: csrfFrom(stale.body) });
  assert.equal(ok.headers.location, `${base(c)}?submitted=1`);
});

test('PHQ-9 question 9 above "Not at all" flags the conversation urgent as soon as it is saved, and the patient is shown where to get help now', async (t) => {
  const { app, services, close } = await createTestApp();
  t.after(close);
  const c = await createTestQuestionnaireConversation(services, { questionnaire: 'phq-9' });
  const jar = await firstDevice(app, c.token);
  for (let i = 1; i <= 8; i++) await answer(app, c, jar, `phq9-q${i}`, { value: PHQ9_NOT_AT_ALL });
  const urgentSince = async () => (await services.db.select({ u: conversations.urgentSince }).from(conversations).where(eq(conversations.id, c.conversationId)))[0]!.u;
  assert.equal(await urgentSince(), null);
  await answer(app, c, jar, 'phq9-q9', { value: PHQ9_SEVERAL_DAYS });
  assert.ok(await urgentSince(), 'flagged before Submit: a patient who stops here still reaches a clinician');
  await answer(app, c, jar, 'phq9-difficulty', { value: '' });
  const sent = await submit(app, c, jar);
  const done = await get(app, sent.headers.location!, jar);
  const text = textOf(done.body);
  assert.match(text, /If you are thinking about hurting yourself/);
  assert.match(text, /Samaritans free on 116 123/);
});

test('answers to questions no longer asked are removed from what is submitted (smoking: help to stop is only asked of smokers)', async (t) => {
  const { app, services, close } = await createTestApp();
  t.after(close);
  const c = await createTestQuestionnaireConversation(services, { questionnaire: 'smoking-status' });
  const jar = await firstDevice(app, c.token);
  const page = await get(app, question(c, 'smoking-status'), jar);
  const options = [...page.body.matchAll(/type="radio"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*type="radio"/g)].map((m) => m[1] ?? m[2]!);
  // Find a choice that asks the follow-up and one that does not.
  let asks: string | undefined;
  let skips: string | undefined;
  for (const option of options) {
    const r = await answer(app, c, jar, 'smoking-status', { value: option });
    if (r.headers.location === question(c, 'smoking-wants-help')) asks ??= option;
    else skips ??= option;
  }
  assert.ok(asks && skips, `expected a choice of each kind among ${options.join(', ')}`);
  await answer(app, c, jar, 'smoking-status', { value: asks });
  await answer(app, c, jar, 'smoking-wants-help', { value: 'yes' });
  await answer(app, c, jar, 'smoking-status', { value: skips }, { change: '1' });
  const check = await get(app, `${base(c)}/check`, jar);
  assert.doesNotMatch(textOf(check.body), /Would you like help to stop smoking/);
  await submit(app, c, jar);
  const row = await stored(services, c.conversationId);
  assert.deepEqual(Object.keys(row!.answers), ['smoking-status']);
});

test('who may not: no session, another patient\'s link, a wrong CSRF token, a closed questionnaire', async (t) => {
  const clock = new TestClock(Date.parse('2026-03-02T10:00:00Z'));
  const { app, services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const c = await createTestQuestionnaireConversation(services, { questionnaire: 'asthma-rcp3', closesAfterDays: 2 });
  const other = await createTestQuestionnaireConversation(services, { questionnaire: 'asthma-rcp3', organisation: c.organisation, patient: { nhsNumber: '9434765870' } });
  // No session: the date of birth page, nothing saved.
  const anonymous = await app.inject({ method: 'GET', url: question(c, 'rcp3-q1') });
  assert.notEqual(anonymous.statusCode, 200);
  const jar = await firstDevice(app, c.token);
  // This browser is verified for c's link only.
  const cross = await get(app, question(other, 'rcp3-q1'), jar);
  assert.notEqual(cross.statusCode, 200);
  assert.doesNotMatch(cross.body, /Have you had difficulty sleeping/);
  const badCsrf = await postForm(app, question(c, 'rcp3-q1'), jar, { value: 'yes' }, { csrf: 'not-the-token' });
  assert.equal(badCsrf.statusCode, 403);
  assert.equal(await stored(services, c.conversationId), undefined);
  // Two days later the link has closed: pages that take answers take none, and a new browser cannot get in.
  clock.advance(2 * 24 * 60 * 60 * 1000 + 1000);
  const csrf = csrfFrom((await get(app, `/${other.token}`, new CookieJar())).body);
  const late = await postForm(app, question(c, 'rcp3-q1'), jar, { value: 'yes' }, { csrf });
  assert.notEqual(late.statusCode, 303);
  assert.equal(await stored(services, c.conversationId), undefined);
  const closed = await get(app, `/${c.token}`, new CookieJar());
  assert.match(textOf(closed.body), /expired/i);
});

test('control characters in a typed answer (NUL cannot be stored) are an error to fix, never a 500', async (t) => {
  const { app, services, close } = await createTestApp();
  t.after(close);
  const organisation = await createTestOrganisation(services);
  const url = 'https://example.org/fhir/Questionnaire/typed';
  await addQuestionnaire(services, {
    organisationId: organisation.id,
    author: { type: 'operator', operator: 'test' },
    json: {
      resourceType: 'Questionnaire', url, version: '1', status: 'active', title: 'Typed answers',
      item: [
        { linkId: 'name', type: 'string', text: 'What should we call you?', required: true },
        { linkId: 'where', type: 'open-choice', text: 'Where do you live?', required: true, answerOption: [{ valueString: 'At home' }] },
      ],
    },
  });
  const c = await createTestQuestionnaireConversation(services, { questionnaire: { url, version: '1' }, organisation });
  const jar = await firstDevice(app, c.token);
  const nul = await answer(app, c, jar, 'name', { value: 'a\u0000b' });
  assert.equal(nul.statusCode, 400);
  assert.match(textOf(nul.body), /must not contain special characters/);
  assert.equal((await answer(app, c, jar, 'name', { value: 'Sam' })).statusCode, 303);
  const other = await answer(app, c, jar, 'where', { value: '__other__', other: 'x\u0007' });
  assert.equal(other.statusCode, 400);
  assert.match(other.body, /href="#other"/);
  assert.deepEqual(Object.keys((await stored(services, c.conversationId))!.answers), ['name']);
});
