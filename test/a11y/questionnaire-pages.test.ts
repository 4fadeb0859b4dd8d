// Every questionnaire page in every state, in a real browser (issue 11): each question type (boolean,
// radios, checkboxes with an exclusive option, open-choice with Other, string, text with a character
// count, integer, decimal and quantity with units, date; a group name as caption, a long group stem and a
// display item as lead text, an enableWhen) empty, with each of its errors, and answered; the start page
// (new and in progress), Check your answers (with a calculated value, and "your answers have changed"),
// the confirmation with and without the PHQ-9 urgent help card, the answers when the link is opened
// again, and the questionnaire closed (by the link, and through the portal). Staff: the send page
// (empty and with errors) and the questionnaire panel not started, in progress, and submitted with an
// urgent flag. The same checkPage() as the other suites (axe WCAG 2.2 AA, titles, error summary, reflow
// at 320 px and 200 % text), JavaScript on and off, and a question page answered by keyboard alone.
import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { sql } from 'drizzle-orm';
import type { BrowserContextOptions, Page } from 'playwright-core';
import { createTestOrganisation, createTestQuestionnaireConversation, createTestStaff, csrfFrom, TEST_PATIENT, type TestConversation } from '../helpers/factories.ts';
import { firstDevice, get, postForm } from '../helpers/patient.ts';
import { freePort } from '../helpers/server.ts';
import { startTestNhsLogin, type TestNhsLogin } from '../helpers/nhs-login.ts';
import { addQuestionnaire } from '../../src/features/questionnaires/questionnaires.service.ts';
import type { Organisation } from '../../src/features/organisations/organisations.service.ts';
import { checkPage, clickAndWait, enterDateOfBirth, isoParts, open, startRig, type A11yRig } from './a11y-support.ts';

// The browser globals the in-page callbacks use (the project compiles without the DOM library).
interface DomElement {
  tagName: string;
  id: string;
  innerText: string;
  getAttribute(name: string): string | null;
  closest(selector: string): DomElement | null;
}
declare const document: { activeElement: DomElement | null };
declare function getComputedStyle(el: DomElement): { outlineStyle: string; outlineWidth: string; boxShadow: string };

const EVERY_TYPE = JSON.parse(readFileSync(new URL('../fixtures/questionnaires/dovecote-every-type.json', import.meta.url), 'utf8')) as { url: string; version: string; title: string };
const TITLE = EVERY_TYPE.title;
const DAY_MS = 24 * 60 * 60 * 1000;
const NO_JS = { javaScriptEnabled: false } as const;

let rig: A11yRig;
let nhsLogin: TestNhsLogin;

before(async () => {
  // The portal's closed questionnaire needs NHS login's stand-in, which must know the app's port first.
  const port = await freePort();
  nhsLogin = await startTestNhsLogin({ publicBaseUrl: `http://localhost:${port}` });
  rig = await startRig({ port, config: nhsLogin.env });
});
after(async () => {
  await rig?.close();
  await nhsLogin?.close();
});
// Every request comes from one address; forget link look-ups so the limit (60 a minute) is not hit.
beforeEach(async () => {
  await rig.forgetLookups();
});

async function organisationWithEveryType(): Promise<Organisation> {
  const organisation = await createTestOrganisation(rig.server.services);
  await addQuestionnaire(rig.server.services, { organisationId: organisation.id, json: EVERY_TYPE, author: { type: 'operator', operator: 'test' } });
  return organisation;
}

async function sendEveryType(organisation?: Organisation): Promise<TestConversation> {
  return createTestQuestionnaireConversation(rig.server.services, {
    questionnaire: { url: EVERY_TYPE.url, version: EVERY_TYPE.version },
    organisation: organisation ?? (await organisationWithEveryType()),
  });
}

const base = (c: TestConversation) => `/${c.token}/conversation`;
const questionPath = (c: TestConversation, linkId: string) => `${base(c)}/questions/${encodeURIComponent(linkId)}`;

/** A browser that has passed the date of birth as the link's first device, on the questionnaire's start page. */
async function verified(c: TestConversation, options: BrowserContextOptions = {}): Promise<Page> {
  const page = await rig.newPage(options);
  await open(rig, page, `/${c.token}`);
  await enterDateOfBirth(page, isoParts(TEST_PATIENT.dateOfBirth));
  assert.match(page.url(), /\/conversation$/);
  return page;
}

/** Click a submit button and wait for the page it leads to; the status of the POST itself (400 or 303). */
async function submitAndWait(page: Page, button: string): Promise<number> {
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST' && r.request().isNavigationRequest()),
    page.waitForEvent('load'),
    page.getByRole('button', { name: button }).click(),
  ]);
  return response.status();
}

const mainText = (page: Page) => page.locator('main').innerText();
const choose = (page: Page, label: string) => page.getByLabel(label, { exact: true }).check();
const value = (page: Page) => page.locator('#value');

interface WrongAnswer {
  /** What is entered on top of what the page shows (nothing: the page as it is). */
  enter?: (page: Page) => Promise<void>;
  href: string;
  message: RegExp;
  /** With JavaScript the page prevents it (the exclusive checkbox clears the others). */
  withoutJavaScriptOnly?: boolean;
}

interface QuestionStep {
  linkId: string;
  heading: string;
  errors: WrongAnswer[];
  answer: (page: Page) => Promise<void>;
  /** The answered page shows the saved answer. */
  shows: (page: Page) => Promise<void>;
}

const isChecked = async (page: Page, label: string) => assert.ok(await page.getByLabel(label, { exact: true }).isChecked(), `${label} is selected`);

const EVERY_TYPE_STEPS: QuestionStep[] = [
  {
    linkId: 'smoker',
    heading: 'Do you smoke?',
    errors: [{ href: '#value', message: /Select yes or no/ }],
    answer: (page) => choose(page, 'Yes'),
    shows: (page) => isChecked(page, 'Yes'),
  },
  {
    linkId: 'cigarettes-per-day',
    heading: 'How many cigarettes do you smoke a day?',
    errors: [
      { href: '#value', message: /Enter the number of cigarettes/ },
      { enter: (page) => value(page).fill('ten'), href: '#value', message: /must be a whole number/ },
      { enter: (page) => value(page).fill('0'), href: '#value', message: /must be between 1 and 100/ },
    ],
    answer: (page) => value(page).fill('10'),
    shows: async (page) => assert.equal(await value(page).inputValue(), '10'),
  },
  {
    linkId: 'general-health',
    heading: 'How is your health in general?',
    errors: [{ href: '#value', message: /Select an answer/ }],
    answer: (page) => choose(page, 'Fair'),
    shows: (page) => isChecked(page, 'Fair'),
  },
  {
    linkId: 'symptoms',
    heading: 'Which of these have you had in the last month?',
    errors: [
      { href: '#value', message: /Select an answer/ },
      {
        enter: async (page) => {
          await choose(page, 'A cough');
          await choose(page, 'None of these');
        },
        href: '#value',
        message: /Select "None of these" or the other answers, not both/,
        withoutJavaScriptOnly: true,
      },
    ],
    answer: async (page) => {
      await page.getByLabel('None of these', { exact: true }).uncheck();
      await choose(page, 'A cough');
      await choose(page, 'Shortness of breath');
    },
    shows: async (page) => {
      await isChecked(page, 'A cough');
      await isChecked(page, 'Shortness of breath');
    },
  },
  {
    linkId: 'heard-about',
    heading: 'Where did you hear about your review?',
    errors: [
      { href: '#value', message: /Select an answer/ },
      { enter: (page) => choose(page, 'Other'), href: '#other', message: /Enter your answer for "Other"/ },
    ],
    answer: (page) => page.getByLabel('Tell us your answer').fill('From a friend'),
    shows: async (page) => {
      await isChecked(page, 'Other');
      assert.equal(await page.getByLabel('Tell us your answer').inputValue(), 'From a friend');
    },
  },
  {
    linkId: 'preferred-name',
    heading: 'What name would you like us to call you?',
    errors: [{ href: '#value', message: /Enter the name you would like us to use/ }],
    answer: (page) => value(page).fill('Priya'),
    shows: async (page) => assert.equal(await value(page).inputValue(), 'Priya'),
  },
  {
    linkId: 'anything-else',
    heading: 'Is there anything else you would like us to know?',
    errors: [
      { href: '#value', message: /Enter what you would like us to know/ },
      { enter: (page) => value(page).fill('x'.repeat(201)), href: '#value', message: /must be 200 characters or fewer/ },
    ],
    answer: (page) => value(page).fill('I have a cough in the mornings.'),
    shows: async (page) => assert.equal(await value(page).inputValue(), 'I have a cough in the mornings.'),
  },
  {
    linkId: 'temperature',
    heading: 'What is your temperature?',
    errors: [
      { href: '#value', message: /Enter your temperature in degrees Celsius/ },
      { enter: (page) => value(page).fill('37.25'), href: '#value', message: /must have no more than 1 decimal place/ },
      { enter: (page) => value(page).fill('50'), href: '#value', message: /must be between 34 and 43 degrees Celsius/ },
    ],
    answer: (page) => value(page).fill('37.5'),
    shows: async (page) => assert.equal(await value(page).inputValue(), '37.5'),
  },
  {
    linkId: 'weight',
    heading: 'What is your weight?',
    errors: [
      { href: '#value', message: /Enter your weight in kilograms/ },
      { enter: (page) => value(page).fill('20'), href: '#value', message: /must be between 30 and 300 kilograms/ },
    ],
    answer: (page) => value(page).fill('70'),
    shows: async (page) => assert.equal(await value(page).inputValue(), '70'),
  },
  {
    linkId: 'height',
    heading: 'What is your height?',
    errors: [
      { href: '#value', message: /Enter your height in centimetres/ },
      { enter: (page) => value(page).fill('tall'), href: '#value', message: /must be a number/ },
    ],
    answer: (page) => value(page).fill('175'),
    shows: async (page) => assert.equal(await value(page).inputValue(), '175'),
  },
  {
    linkId: 'tiredness',
    heading: 'Feeling tired or having little energy',
    errors: [{ href: '#value', message: /Select an answer/ }],
    answer: (page) => choose(page, 'Several days'),
    shows: (page) => isChecked(page, 'Several days'),
  },
  {
    linkId: 'last-review',
    heading: 'When did you last have a review?',
    errors: [
      { href: '#date-day', message: /Enter the date of your last review/ },
      {
        enter: async (page) => {
          await page.getByLabel('Day').fill('1');
          await page.getByLabel('Year').fill('2024');
        },
        href: '#date-month',
        message: /must include a month/,
      },
      {
        enter: async (page) => {
          await page.getByLabel('Month').fill('1');
          await page.getByLabel('Year').fill('1999');
        },
        href: '#date-day',
        message: /must be the same as or after 1 January 2000/,
      },
    ],
    answer: async (page) => {
      await page.getByLabel('Day').fill('15');
      await page.getByLabel('Month').fill('3');
      await page.getByLabel('Year').fill('2025');
    },
    shows: async (page) => assert.equal(await page.getByLabel('Year').inputValue(), '2025'),
  },
];

/**
 * Every question of the every-type questionnaire empty, with each error, and answered (saved, then
 * opened again), then Check your answers, "your answers have changed" (another tab saved an answer),
 * the confirmation and the answers when the link is opened again.
 */
async function everyTypeJourney(javaScript: boolean): Promise<void> {
  const how = javaScript ? '' : ' without JavaScript';
  const c = await sendEveryType();
  const page = await verified(c, javaScript ? {} : NO_JS);
  await checkPage(page, `questionnaire start page${how}`, { title: `${TITLE} from ${c.organisation.name}`, reflow: true, javaScript });
  assert.match(await mainText(page), /It takes about \d+ minutes?\./);
  await clickAndWait(page, page.getByRole('button', { name: 'Start now' }));

  for (const step of EVERY_TYPE_STEPS) {
    await rig.forgetLookups();
    const what = `question "${step.linkId}"${how}`;
    assert.equal(page.url(), `${rig.baseUrl}${questionPath(c, step.linkId)}`, `${what}: reached in order`);
    await checkPage(page, `${what}, empty`, { title: `${step.heading} – ${TITLE}`, reflow: true, javaScript });
    for (const wrong of step.errors) {
      if (wrong.withoutJavaScriptOnly && javaScript) continue;
      await wrong.enter?.(page);
      assert.equal(await submitAndWait(page, 'Continue'), 400, `${what}: ${wrong.message} is refused`);
      assert.match(await page.locator('.nhsuk-error-summary').innerText(), wrong.message, `${what}: error message`);
      await checkPage(page, `${what}, error ${wrong.message}`, { errors: true, firstErrorHref: wrong.href, title: `${step.heading} – ${TITLE}`, reflow: true, javaScript });
    }
    await step.answer(page);
    assert.equal(await submitAndWait(page, 'Continue'), 303, `${what}: the answer is saved`);
    const next = page.url();
    await open(rig, page, questionPath(c, step.linkId), 200);
    await step.shows(page);
    await checkPage(page, `${what}, answered`, { title: `${step.heading} – ${TITLE}`, reflow: true, javaScript });

    if (step.linkId === 'smoker') {
      await open(rig, page, base(c), 200);
      const resume = page.getByRole('button', { name: 'Continue' });
      assert.equal(await resume.getAttribute('href'), questionPath(c, 'cigarettes-per-day'), 'the start page carries on at the first unanswered question');
      await checkPage(page, `questionnaire start page, in progress${how}`, { title: `${TITLE} from ${c.organisation.name}`, reflow: true, javaScript });
    }
    await page.goto(next);
  }

  // The group name is the caption, the long stem and the display item are lead text.
  await open(rig, page, questionPath(c, 'weight'), 200);
  assert.match(await page.locator('h1').innerText(), /Your measurements/);
  await open(rig, page, questionPath(c, 'tiredness'), 200);
  assert.match(await mainText(page), /Over the last 2 weeks, how often have you felt tired/);
  await open(rig, page, questionPath(c, 'smoker'), 200);
  assert.match(await mainText(page), /The next questions are about smoking/);

  await open(rig, page, `${base(c)}/check`, 200);
  assert.match(await mainText(page), /Body mass index \(BMI\)\s+22\.9/);
  assert.match(await mainText(page), /Some values were worked out from your answers/);
  await checkPage(page, `Check your answers${how}`, { title: `Check your answers – ${TITLE}`, reflow: true, javaScript });

  // Another tab changes an answer after this page was drawn: Send answers shows the page again.
  const otherTab = await page.context().newPage();
  await open(rig, otherTab, `${questionPath(c, 'preferred-name')}?change=1`, 200);
  await otherTab.locator('#value').fill('Pri');
  assert.equal(await submitAndWait(otherTab, 'Continue'), 303);
  await otherTab.close();
  assert.equal(await submitAndWait(page, 'Send answers'), 409, 'answers changed in another tab');
  assert.match(await mainText(page), /Your answers have changed/);
  assert.match(await mainText(page), /What name would you like us to call you\?\s+Pri\b/);
  await checkPage(page, `Check your answers, answers changed${how}`, { title: `Check your answers – ${TITLE}`, reflow: true, javaScript });

  assert.equal(await submitAndWait(page, 'Send answers'), 303);
  assert.match(page.url(), /\/conversation\?submitted=1$/);
  assert.doesNotMatch(await mainText(page), /If you are thinking about hurting yourself/);
  await checkPage(page, `confirmation${how}`, { title: 'Answers sent', reflow: true, javaScript });

  await open(rig, page, base(c), 200);
  assert.match(await mainText(page), /You cannot change them now/);
  await checkPage(page, `answers, opened again${how}`, { title: `Your answers: ${TITLE}`, reflow: true, javaScript });
}

test('every question type empty, with each error and answered; start, Check your answers, changed, confirmation, answers (JavaScript on)', async () => {
  await everyTypeJourney(true);
});

test('every question type empty, with each error and answered; start, Check your answers, changed, confirmation, answers (JavaScript off)', async () => {
  await everyTypeJourney(false);
});

/** What has keyboard focus, and whether it shows (an outline or a box shadow, as the NHS focus state). */
async function focused(page: Page) {
  return page.evaluate(() => {
    const el = document.activeElement;
    const style = el ? getComputedStyle(el) : null;
    return {
      tag: el?.tagName.toLowerCase() ?? '',
      id: el?.id ?? '',
      type: el?.getAttribute('type') ?? '',
      text: (el?.innerText || el?.getAttribute('aria-label') || '').trim(),
      inErrorSummary: Boolean(el?.closest('.nhsuk-error-summary')),
      indicated: Boolean(style && ((style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0) || style.boxShadow !== 'none')),
    };
  });
}

/** Press Tab until focus is on the element that matches; fails after 40 presses. */
async function tabTo(page: Page, what: string, matches: (f: Awaited<ReturnType<typeof focused>>) => boolean): Promise<void> {
  const seen: string[] = [];
  for (let i = 0; i < 40; i++) {
    await page.keyboard.press('Tab');
    const f = await focused(page);
    seen.push(`${f.tag}${f.id ? '#' + f.id : ''}${f.text ? ` "${f.text.slice(0, 30)}"` : ''}`);
    if (matches(f)) {
      assert.ok(f.indicated, `${what} has no visible focus indicator`);
      return;
    }
  }
  assert.fail(`Tab never reached ${what}; focus went: ${seen.join(' → ')}`);
}

const continueButton = (f: Awaited<ReturnType<typeof focused>>) => f.tag === 'button' && f.text === 'Continue';

async function pressAndWait(page: Page, key: string): Promise<void> {
  await Promise.all([page.waitForEvent('load'), page.keyboard.press(key)]);
}

test('by keyboard alone: yes or no (with its error), a number, radios and checkboxes', async () => {
  const c = await sendEveryType();
  const page = await verified(c);
  await tabTo(page, 'Start now', (f) => f.tag === 'a' && f.text === 'Start now');
  await pressAndWait(page, 'Enter');
  assert.match(page.url(), /\/questions\/smoker$/);

  // Continue with nothing chosen: focus on the error summary, whose link takes focus to the first radio.
  await tabTo(page, 'the Continue button', continueButton);
  await pressAndWait(page, 'Enter');
  await page.waitForFunction(() => Boolean(document.activeElement?.closest('.nhsuk-error-summary')));
  await tabTo(page, 'the error link', (f) => f.tag === 'a' && f.inErrorSummary);
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.activeElement?.id === 'value');
  await page.keyboard.press('Space');
  assert.ok(await page.getByLabel('Yes', { exact: true }).isChecked(), 'Space selects Yes');
  await tabTo(page, 'the Continue button', continueButton);
  await pressAndWait(page, 'Enter');

  assert.match(page.url(), /\/questions\/cigarettes-per-day$/);
  await tabTo(page, 'the number field', (f) => f.id === 'value');
  await page.keyboard.type('12');
  await pressAndWait(page, 'Enter');

  assert.match(page.url(), /\/questions\/general-health$/);
  await tabTo(page, 'the first radio', (f) => f.id === 'value' && f.type === 'radio');
  await page.keyboard.press('Space');
  await page.keyboard.press('ArrowDown');
  assert.ok(await page.getByLabel('Fair', { exact: true }).isChecked(), 'the arrow key moves the choice to Fair');
  await tabTo(page, 'the Continue button', continueButton);
  await pressAndWait(page, 'Enter');

  assert.match(page.url(), /\/questions\/symptoms$/);
  await tabTo(page, 'A cough', (f) => f.id === 'value' && f.type === 'checkbox');
  await page.keyboard.press('Space');
  await page.keyboard.press('Tab');
  await page.keyboard.press('Space');
  await tabTo(page, 'the Continue button', continueButton);
  await pressAndWait(page, 'Enter');
  assert.match(page.url(), /\/questions\/heard-about$/);

  await open(rig, page, questionPath(c, 'symptoms'), 200);
  await isChecked(page, 'A cough');
  await isChecked(page, 'Shortness of breath');
  await open(rig, page, questionPath(c, 'cigarettes-per-day'), 200);
  assert.equal(await value(page).inputValue(), '12');
});

const PHQ9 = { notAtAll: 'Not at all', severalDays: 'Several days' };

/** PHQ-9 answered in the browser: "Not at all" to everything but question 9, which is given. */
async function answerPhq9(page: Page, q9: string): Promise<void> {
  await clickAndWait(page, page.getByRole('button', { name: 'Start now' }));
  for (let i = 0; i < 15 && /\/questions\//.test(page.url()); i++) {
    if (page.url().endsWith('/phq9-q9')) await choose(page, q9);
    else if ((await page.getByLabel(PHQ9.notAtAll, { exact: true }).count()) > 0) await choose(page, PHQ9.notAtAll);
    assert.equal(await submitAndWait(page, 'Continue'), 303, `${page.url()} saved`);
  }
  assert.match(page.url(), /\/check$/);
}

test('PHQ-9 with question 9 "Several days": the urgent help card on the confirmation and on the answers', async () => {
  const c = await createTestQuestionnaireConversation(rig.server.services, { questionnaire: 'phq-9' });
  const page = await verified(c);
  await checkPage(page, 'PHQ-9 start page', { title: /from /, reflow: true });
  await answerPhq9(page, PHQ9.severalDays);
  await checkPage(page, 'PHQ-9 Check your answers (score)', { title: /^Check your answers – /, reflow: true });
  assert.equal(await submitAndWait(page, 'Send answers'), 303);
  assert.match(await mainText(page), /If you are thinking about hurting yourself/);
  await checkPage(page, 'confirmation with the urgent help card', { title: 'Answers sent', reflow: true });
  await open(rig, page, base(c), 200);
  assert.match(await mainText(page), /If you are thinking about hurting yourself/);
  await checkPage(page, 'answers opened again, with the urgent help card', { title: /^Your answers: /, reflow: true });

  // The same pages without JavaScript (no axe there: structure and reflow at 320 px).
  const again = await createTestQuestionnaireConversation(rig.server.services, { questionnaire: 'phq-9' });
  const noJs = await verified(again, NO_JS);
  await answerPhq9(noJs, PHQ9.severalDays);
  assert.equal(await submitAndWait(noJs, 'Send answers'), 303);
  await checkPage(noJs, 'confirmation with the urgent help card without JavaScript', { title: 'Answers sent', reflow: true, javaScript: false });
});

test('closed: the link after the questionnaire closes, and the same questionnaire through the portal', async () => {
  const c = await sendEveryType();
  const page = await verified(c);
  await clickAndWait(page, page.getByRole('button', { name: 'Start now' }));
  await choose(page, 'No');
  assert.equal(await submitAndWait(page, 'Continue'), 303);

  // The link closes with the questionnaire (7 days): verification's "link expired" page, not the questionnaire.
  rig.advance(8 * DAY_MS);
  try {
    await open(rig, page, `/${c.token}`);
    assert.match(await mainText(page), /This link has expired/);
    await checkPage(page, 'link closed with the questionnaire', { reflow: true });
    const closedText = await mainText(page);
    await open(rig, page, questionPath(c, 'general-health'));
    assert.equal(await mainText(page), closedText, 'a question page of a closed questionnaire shows the same page');
    assert.equal(await page.locator('input[name="value"]').count(), 0, 'no question is asked');
  } finally {
    rig.advance(-8 * DAY_MS);
  }

  // Through the portal the conversation stays readable after its link expires: the start page says it
  // has closed and whom to contact. The link is expired in the database, not by the clock, because NHS
  // login's stand-in keeps real time.
  await rig.exec(sql`UPDATE links SET expires_at = ${new Date(rig.server.services.now().getTime() - 60_000).toISOString()} WHERE id = ${c.linkId}`);
  const portal = await rig.newPage();
  await open(rig, portal, '/');
  await portal.getByRole('link', { name: 'Continue with NHS login' }).click();
  await portal.waitForURL(/\/interaction\//);
  await portal.getByLabel(/^Priya Shah — P9/).check();
  await clickAndWait(portal, portal.getByRole('button', { name: 'Continue' }));
  assert.equal(portal.url(), `${rig.baseUrl}/portal`);
  await open(rig, portal, `/portal/conversations/${c.conversationId}`, 200);
  assert.match(await mainText(portal), /This questionnaire has closed, so you can no longer answer it/);
  await checkPage(portal, 'questionnaire closed, through the portal', { title: `${TITLE} from ${c.organisation.name}`, reflow: true });
  await open(rig, portal, `/portal/conversations/${c.conversationId}/questions/general-health`);
  assert.equal(portal.url(), `${rig.baseUrl}/portal/conversations/${c.conversationId}`, 'question pages go back to the closed start page');
});

/** Answer PHQ-9 over HTTP (not in the browser): question 9 "Several days", then submit. */
async function submittedUrgentPhq9(organisation: Organisation): Promise<TestConversation> {
  const { app, services } = rig.server;
  const c = await createTestQuestionnaireConversation(services, { questionnaire: 'phq-9', organisation });
  const jar = await firstDevice(app, c.token);
  for (let i = 1; i <= 9; i++) {
    const path = questionPath(c, `phq9-q${i}`);
    const res = await postForm(app, path, jar, { value: i === 9 ? 'LA6569-3' : 'LA6568-5' }, { csrfPage: path });
    assert.equal(res.statusCode, 303, `phq9-q${i} saved`);
  }
  const difficulty = questionPath(c, 'phq9-difficulty');
  assert.equal((await postForm(app, difficulty, jar, { value: '' }, { csrfPage: difficulty })).statusCode, 303);
  const check = await get(app, `${base(c)}/check`, jar);
  const revision = /name="revision" value="(\d+)"/.exec(check.body)![1]!;
  assert.equal((await postForm(app, `${base(c)}/submit`, jar, { revision }, { csrf: csrfFrom(check.body) })).statusCode, 303);
  return c;
}

test('staff: send a questionnaire (empty, with errors, sent) and the questionnaire panel in every state', async () => {
  const { services, app } = rig.server;
  const organisation = await organisationWithEveryType();
  const staff = await createTestStaff(services, organisation.id);
  const inProgress = await sendEveryType(organisation);
  const jar = await firstDevice(app, inProgress.token);
  const smoker = questionPath(inProgress, 'smoker');
  assert.equal((await postForm(app, smoker, jar, { value: 'yes' }, { csrfPage: smoker })).statusCode, 303);
  const urgent = await submittedUrgentPhq9(organisation);

  const page = await rig.newPage();
  await open(rig, page, '/staff/sign-in');
  await page.getByLabel('Email address').fill(staff.email);
  await page.getByLabel('Password', { exact: true }).fill(staff.password);
  await clickAndWait(page, page.getByRole('button', { name: 'Sign in' }));
  assert.match(page.url(), /\/staff$/);

  await open(rig, page, `/staff/patients/${inProgress.patient.id}/questionnaire`, 200);
  await checkPage(page, 'send a questionnaire', { title: 'Send a questionnaire', narrow: true });
  assert.match(await mainText(page), new RegExp(`${TITLE}\\s+Your organisation, version 1\\.0\\.0`));
  assert.equal(await submitAndWait(page, 'Send questionnaire'), 400);
  await checkPage(page, 'send a questionnaire, none chosen', { errors: true, firstErrorHref: '#questionnaire', title: 'Send a questionnaire', narrow: true });
  await page.getByLabel(TITLE).check();
  await page.getByLabel('How many days can the patient answer it for?').fill('99');
  assert.equal(await submitAndWait(page, 'Send questionnaire'), 400);
  await checkPage(page, 'send a questionnaire, days out of range', { errors: true, firstErrorHref: '#closesAfterDays', title: 'Send a questionnaire', narrow: true });
  await page.getByLabel('How many days can the patient answer it for?').fill('');
  assert.equal(await submitAndWait(page, 'Send questionnaire'), 400);
  await checkPage(page, 'send a questionnaire, no days', { errors: true, firstErrorHref: '#closesAfterDays', title: 'Send a questionnaire', narrow: true });
  await page.getByLabel('How many days can the patient answer it for?').fill('7');
  assert.equal(await submitAndWait(page, 'Send questionnaire'), 303);
  assert.match(page.url(), /\/staff\/conversations\/[0-9a-f-]+\?done=sent$/);
  assert.match(await mainText(page), /Not started/);
  await checkPage(page, 'questionnaire sent, not started', { title: /^Conversation with /, narrow: true });

  await open(rig, page, `/staff/conversations/${inProgress.conversationId}`, 200);
  assert.match(await mainText(page), /Not submitted yet/);
  await checkPage(page, 'questionnaire in progress', { title: /^Conversation with /, narrow: true });

  await open(rig, page, `/staff/conversations/${urgent.conversationId}`, 200);
  assert.match(await mainText(page), /Submitted on/);
  assert.match(await mainText(page), /Urgent/);
  await checkPage(page, 'questionnaire submitted, urgent', { title: /^Conversation with /, narrow: true });
  await page.locator('summary', { hasText: 'FHIR QuestionnaireResponse' }).click();
  await checkPage(page, 'questionnaire submitted, urgent, FHIR JSON shown', { title: /^Conversation with /, narrow: true });

  // The inbox lists the urgent conversation first.
  await open(rig, page, '/staff', 200);
  await checkPage(page, 'inbox with an urgent questionnaire', { title: 'Conversations', narrow: true });
});
