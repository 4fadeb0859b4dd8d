// Every catalogue questionnaire completed end to end in Chromium, with JavaScript on and off (issue 11):
// sent to the patient, the link opened, the date of birth given, Start now, each question answered by
// clicking its labels or typing, one answer changed from Check your answers, the answers sent, and then
// the stored QuestionnaireResponse checked field by field. Each run first selects Continue with no answer
// to see the NHS error summary. The answers chosen walk the branches: a smoker is asked about help to
// stop, changing to ex-smoker removes that answer, PHQ-9 question 9 above "Not at all" shows where to
// get urgent help, three blood pressure readings are averaged.
//
// One Chromium for the file, a new context (browser) and a new app with its own database for each run.
// Set QUESTIONNAIRE_SHOTS=<folder> to keep a 320 px screenshot of a question page and of Check your
// answers for each questionnaire (JavaScript on), for a person to look at.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser } from '../helpers/browser.ts';
import { startTestServer } from '../helpers/server.ts';
import { CATALOGUE_URL, createTestQuestionnaireConversation, TEST_PATIENT } from '../helpers/factories.ts';
import { readQuestionnaireResponse } from '../../src/features/questionnaires/staff-questionnaire.service.ts';
import type { ResponseItem } from '../../src/features/questionnaires/response-items.ts';
import { conversations } from '../../src/platform/db/schema.ts';

// The browser globals the in-page callbacks use (the project compiles without the DOM library).
declare const document: {
  activeElement: { id: string; closest(selector: string): unknown } | null;
  getElementById(id: string): { tagName: string; closest(selector: string): unknown } | null;
};

const LOINC = 'http://loinc.org';
const SNOMED = 'http://snomed.info/sct';
const SHOTS = process.env.QUESTIONNAIRE_SHOTS;
const NARROW = { width: 320, height: 720 };

// ---- What the patient does on a question page ----------------------------------------------------

type Action = (page: Page) => Promise<void>;

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Click the label of a radio (an answer option, or Yes / No). */
const choose =
  (label: string): Action =>
  (page) =>
    page.locator('label', { hasText: new RegExp(`^\\s*${escapeRegExp(label)}\\s*$`) }).click();

/** Type into the question's one text box (a number question: the unit is a suffix beside it). */
const type =
  (value: string): Action =>
  (page) =>
    page.getByRole('textbox').fill(value);

const date =
  (iso: string): Action =>
  async (page) => {
    const [year, month, day] = iso.split('-');
    await page.getByLabel('Day').fill(String(Number(day)));
    await page.getByLabel('Month').fill(String(Number(month)));
    await page.getByLabel('Year').fill(year!);
  };

const nothing: Action = async () => {};

interface Step {
  linkId: string;
  /** The page's one heading (the question). */
  heading: string;
  /** The short group name above the heading. */
  caption?: string;
  answer: Action;
}

// ---- What the response must hold -----------------------------------------------------------------

type Expected = { linkId: string; answer?: Array<Record<string, unknown>>; item?: Expected[] };

const coding = (system: string, code: string, display: string) => ({ valueCoding: { system, code, display } });
const answered = (linkId: string, ...answer: Array<Record<string, unknown>>): Expected => ({ linkId, answer });
const group = (linkId: string, ...item: Expected[]): Expected => ({ linkId, item });

/** The response's items without their (repeated) question text: linkIds, answers and nesting. */
function shape(items: readonly ResponseItem[]): Expected[] {
  return items.map((i) => ({
    linkId: i.linkId,
    ...(i.answer !== undefined && { answer: i.answer }),
    ...(i.item !== undefined && { item: shape(i.item) }),
  }));
}

// ---- The journeys -----------------------------------------------------------------------------------

interface Journey {
  questionnaire: string;
  title: string;
  /** Every page from Start now to Check your answers, in order. */
  steps: Step[];
  /** The error the first page shows when Continue is selected with no answer. */
  emptyError: RegExp;
  /** On Check your answers, before the change. */
  checkShows: RegExp[];
  /** The Change link used (its question as Check your answers words it), and the pages it leads to before Check your answers again. */
  change: { question: string; steps: Step[] };
  afterChangeShows: RegExp[];
  afterChangeHides?: RegExp[];
  /** The confirmation after sending. */
  sentShows?: RegExp[];
  sentHides?: RegExp[];
  urgent: boolean;
  items: Expected[];
  /** The question page kept as a screenshot. */
  shotOf: string;
}

const PHQ = ['Not at all', 'Several days', 'More than half the days', 'Nearly every day'] as const;
const PHQ_CODES = { 'Not at all': 'LA6568-5', 'Several days': 'LA6569-3', 'More than half the days': 'LA6570-1', 'Nearly every day': 'LA6571-9' } as const;
type Frequency = (typeof PHQ)[number];
const frequency = (answer: Frequency) => coding(LOINC, PHQ_CODES[answer], answer);
const score = (answers: readonly Frequency[]) => answers.reduce((sum, a) => sum + PHQ.indexOf(a), 0);

const PHQ9_QUESTIONS = [
  'Little interest or pleasure in doing things?',
  'Feeling down, depressed, or hopeless?',
  'Trouble falling or staying asleep, or sleeping too much',
  'Feeling tired or having little energy',
  'Poor appetite or overeating',
  'Feeling bad about yourself, or that you are a failure or have let yourself or your family down',
  'Trouble concentrating on things, such as reading the newspaper or watching television',
  'Moving or speaking so slowly that other people could have noticed. Or the opposite, being so fidgety or restless that you have been moving around a lot more than usual',
  'Thoughts that you would be better off dead, or of hurting yourself in some way',
];
const PHQ9_DIFFICULTY = 'How difficult have these problems made it for you to do your work, take care of things at home, or get along with other people?';

function phq9(js: boolean): Journey {
  // JavaScript on: question 9 "Several days" (urgent). Off: "Not at all", and the optional last question skipped.
  const first: Frequency[] = js
    ? ['Several days', 'More than half the days', 'Not at all', 'Nearly every day', 'Several days', 'Not at all', 'More than half the days', 'Not at all', 'Several days']
    : ['Not at all', 'Not at all', 'Several days', 'Not at all', 'Not at all', 'Several days', 'Not at all', 'Not at all', 'Not at all'];
  const changedIndex = js ? 1 : 2;
  const changedTo: Frequency = js ? 'Not at all' : 'Nearly every day';
  const final = first.map((a, i) => (i === changedIndex ? changedTo : a));
  const steps: Step[] = PHQ9_QUESTIONS.map((heading, i) => ({ linkId: `phq9-q${i + 1}`, heading, answer: choose(first[i]!) }));
  steps.push({ linkId: 'phq9-difficulty', heading: `${PHQ9_DIFFICULTY} (optional)`, answer: js ? choose('Somewhat difficult') : nothing });
  return {
    questionnaire: 'phq-9',
    title: 'Depression questionnaire (PHQ-9)',
    steps,
    emptyError: /Select|answer/i,
    checkShows: [new RegExp(`${escapeRegExp(PHQ9_QUESTIONS[changedIndex]!)}\\s+${first[changedIndex]}\\s+Change`)],
    change: { question: PHQ9_QUESTIONS[changedIndex]!, steps: [{ linkId: `phq9-q${changedIndex + 1}`, heading: PHQ9_QUESTIONS[changedIndex]!, answer: choose(changedTo) }] },
    afterChangeShows: [new RegExp(`${escapeRegExp(PHQ9_QUESTIONS[changedIndex]!)}\\s+${changedTo}\\s+Change`)],
    ...(js ? { sentShows: [/If you are thinking about hurting yourself/, /Samaritans/] } : { sentHides: [/If you are thinking about hurting yourself/] }),
    urgent: js,
    items: [
      group('phq9-questions', ...final.map((a, i) => answered(`phq9-q${i + 1}`, frequency(a)))),
      ...(js ? [answered('phq9-difficulty', coding(LOINC, 'LA6573-5', 'Somewhat difficult'))] : []),
      answered('phq9-total', { valueInteger: score(final) }),
    ],
    shotOf: 'phq9-q9',
  };
}

const GAD7_QUESTIONS = [
  'Feeling nervous, anxious or on edge',
  'Not being able to stop or control worrying',
  'Worrying too much about different things',
  'Trouble relaxing',
  'Being so restless that it is hard to sit still',
  'Becoming easily annoyed or irritable',
  'Feeling afraid, as if something awful might happen',
];

function gad7(js: boolean): Journey {
  const first: Frequency[] = js
    ? ['Nearly every day', 'Several days', 'Not at all', 'More than half the days', 'Several days', 'Not at all', 'Nearly every day']
    : ['Not at all', 'Not at all', 'Not at all', 'Not at all', 'Not at all', 'Not at all', 'Not at all'];
  const changedIndex = js ? 6 : 0;
  const changedTo: Frequency = js ? 'Several days' : 'More than half the days';
  const final = first.map((a, i) => (i === changedIndex ? changedTo : a));
  return {
    questionnaire: 'gad-7',
    title: 'Anxiety questionnaire (GAD-7)',
    steps: GAD7_QUESTIONS.map((heading, i) => ({ linkId: `gad7-q${i + 1}`, heading, answer: choose(first[i]!) })),
    emptyError: /Select|answer/i,
    checkShows: [new RegExp(`${escapeRegExp(GAD7_QUESTIONS[changedIndex]!)}\\s+${first[changedIndex]}\\s+Change`)],
    change: { question: GAD7_QUESTIONS[changedIndex]!, steps: [{ linkId: `gad7-q${changedIndex + 1}`, heading: GAD7_QUESTIONS[changedIndex]!, answer: choose(changedTo) }] },
    afterChangeShows: [new RegExp(`${escapeRegExp(GAD7_QUESTIONS[changedIndex]!)}\\s+${changedTo}\\s+Change`)],
    sentHides: [/If you are thinking about hurting yourself/],
    urgent: false,
    items: [group('gad7-questions', ...final.map((a, i) => answered(`gad7-q${i + 1}`, frequency(a)))), answered('gad7-total', { valueInteger: score(final) })],
    shotOf: 'gad7-q2',
  };
}

const AUDIT = {
  often: 'How often do you have a drink containing alcohol?',
  many: 'How many standard drinks containing alcohol do you have on a typical day?',
  six: 'How often do you have 6 or more drinks on 1 occasion?',
};

function auditC(js: boolean): Journey {
  // Points: q1 Never 0 … 4 or more times a week 4; q2 1 or 2 0 … 10 or more 4; q3 Never 0 … Daily 4.
  if (js) {
    return {
      questionnaire: 'audit-c',
      title: 'Alcohol questionnaire (AUDIT-C)',
      steps: [
        { linkId: 'auditc-q1', heading: AUDIT.often, answer: choose('2-3 times a week') },
        { linkId: 'auditc-q2', heading: AUDIT.many, answer: choose('3 or 4') },
        { linkId: 'auditc-q3', heading: AUDIT.six, answer: choose('Monthly') },
      ],
      emptyError: /Select|answer/i,
      checkShows: [/3 or 4/],
      change: { question: AUDIT.many, steps: [{ linkId: 'auditc-q2', heading: AUDIT.many, answer: choose('5 or 6') }] },
      afterChangeShows: [/5 or 6/],
      afterChangeHides: [/3 or 4/],
      urgent: false,
      items: [
        answered('auditc-q1', coding(LOINC, 'LA18928-4', '2-3 times a week')),
        answered('auditc-q2', coding(LOINC, 'LA18930-0', '5 or 6')),
        answered('auditc-q3', coding(LOINC, 'LA18876-5', 'Monthly')),
        answered('auditc-total', { valueInteger: 3 + 2 + 2 }),
      ],
      shotOf: 'auditc-q2',
    };
  }
  return {
    questionnaire: 'audit-c',
    title: 'Alcohol questionnaire (AUDIT-C)',
    steps: [
      { linkId: 'auditc-q1', heading: AUDIT.often, answer: choose('Monthly or less') },
      { linkId: 'auditc-q2', heading: AUDIT.many, answer: choose('1 or 2') },
      { linkId: 'auditc-q3', heading: AUDIT.six, answer: choose('Never') },
    ],
    emptyError: /Select|answer/i,
    checkShows: [/Monthly or less/],
    change: { question: AUDIT.six, steps: [{ linkId: 'auditc-q3', heading: AUDIT.six, answer: choose('Daily or almost daily') }] },
    afterChangeShows: [/Daily or almost daily/],
    urgent: false,
    items: [
      answered('auditc-q1', coding(LOINC, 'LA18926-8', 'Monthly or less')),
      answered('auditc-q2', coding(LOINC, 'LA15694-5', '1 or 2')),
      answered('auditc-q3', coding(LOINC, 'LA18934-2', 'Daily or almost daily')),
      answered('auditc-total', { valueInteger: 1 + 0 + 4 }),
    ],
    shotOf: 'auditc-q2',
  };
}

const SMOKING = { status: 'Which of these best describes you?', help: 'Would you like help to stop smoking?' };
const SMOKER = coding(SNOMED, '77176002', 'Smoker');

function smoking(js: boolean): Journey {
  if (js) {
    // Never smoked: not asked about help. Changed to a smoker: now asked, before Check your answers.
    return {
      questionnaire: 'smoking-status',
      title: 'Smoking',
      steps: [{ linkId: 'smoking-status', heading: SMOKING.status, answer: choose('Never smoked tobacco') }],
      emptyError: /Select|answer/i,
      checkShows: [/Never smoked tobacco/],
      change: {
        question: SMOKING.status,
        steps: [
          { linkId: 'smoking-status', heading: SMOKING.status, answer: choose('Smoker') },
          { linkId: 'smoking-wants-help', heading: SMOKING.help, answer: choose('Yes') },
        ],
      },
      afterChangeShows: [/Which of these best describes you\?\s+Smoker\s+Change/, /Would you like help to stop smoking\?\s+Yes\s+Change/],
      urgent: false,
      items: [answered('smoking-status', SMOKER), answered('smoking-wants-help', { valueBoolean: true })],
      shotOf: 'smoking-status',
    };
  }
  // A smoker who wants no help; changed to ex-smoker, the help question is no longer asked and its answer goes.
  return {
    questionnaire: 'smoking-status',
    title: 'Smoking',
    steps: [
      { linkId: 'smoking-status', heading: SMOKING.status, answer: choose('Smoker') },
      { linkId: 'smoking-wants-help', heading: SMOKING.help, answer: choose('No') },
    ],
    emptyError: /Select|answer/i,
    checkShows: [/Would you like help to stop smoking\?\s+No/],
    change: { question: SMOKING.status, steps: [{ linkId: 'smoking-status', heading: SMOKING.status, answer: choose('Ex-smoker') }] },
    afterChangeShows: [/Which of these best describes you\?\s+Ex-smoker\s+Change/],
    afterChangeHides: [/help to stop smoking/],
    urgent: false,
    items: [answered('smoking-status', coding(SNOMED, '8517006', 'Ex-smoker'))],
    shotOf: 'smoking-wants-help',
  };
}

const BODY = { weight: 'What is your weight?', height: 'What is your height?' };

function weightHeight(js: boolean): Journey {
  // BMI = kg / m², to 1 decimal place: 72.5 / 1.68² = 25.7 → 72.5 / 1.75² = 23.7; 80 / 1.8² = 24.7 → 85 / 1.8² = 26.2.
  const [weight, height, changedTo] = js ? ['72.5', '168', '175'] : ['80', '180', '85'];
  const [bmiBefore, bmiAfter] = js ? ['25.7', '23.7'] : ['24.7', '26.2'];
  return {
    questionnaire: 'weight-height-bmi',
    title: 'Weight and height',
    steps: [
      { linkId: 'body-weight', heading: BODY.weight, answer: type(weight) },
      { linkId: 'body-height', heading: BODY.height, answer: type(height) },
    ],
    emptyError: /Enter/i,
    checkShows: [new RegExp(`What is your weight\\? ${escapeRegExp(weight)} kg\\s+Change`), new RegExp(`What is your height\\? ${height} cm\\s+Change`), new RegExp(`Body mass index \\(BMI\\)\\s+${bmiBefore}`)],
    change: js
      ? { question: BODY.height, steps: [{ linkId: 'body-height', heading: BODY.height, answer: type(changedTo) }] }
      : { question: BODY.weight, steps: [{ linkId: 'body-weight', heading: BODY.weight, answer: type(changedTo) }] },
    afterChangeShows: [new RegExp(`Body mass index \\(BMI\\)\\s+${bmiAfter}`)],
    urgent: false,
    items: [
      answered('body-weight', { valueDecimal: Number(js ? weight : changedTo) }),
      answered('body-height', { valueDecimal: Number(js ? changedTo : height) }),
      answered('bmi', { valueDecimal: Number(bmiAfter) }),
    ],
    shotOf: 'body-height',
  };
}

const BP = { date: 'When did you take these readings?', systolic: 'Systolic (the higher number)', diastolic: 'Diastolic (the lower number)', pulse: 'Pulse (optional)' };

function bloodPressure(js: boolean): Journey {
  type Reading = [systolic: string, diastolic: string, pulse: string];
  // JavaScript on: pulses on two readings; off: no pulses, so no average pulse.
  const readings: Reading[] = js
    ? [
        ['132', '84', '70'],
        ['128', '80', '68'],
        ['130', '83', ''],
      ]
    : [
        ['150', '95', ''],
        ['146', '92', ''],
        ['148', '90', ''],
      ];
  const steps: Step[] = [{ linkId: 'bp-readings-date', heading: BP.date, answer: date(js ? '2026-11-28' : '2026-02-01') }];
  readings.forEach(([systolic, diastolic, pulse], i) => {
    const caption = `Reading ${i + 1}`;
    steps.push(
      { linkId: `bp-reading-${i + 1}-systolic`, heading: BP.systolic, caption, answer: type(systolic) },
      { linkId: `bp-reading-${i + 1}-diastolic`, heading: BP.diastolic, caption, answer: type(diastolic) },
      { linkId: `bp-reading-${i + 1}-pulse`, heading: BP.pulse, caption, answer: pulse ? type(pulse) : nothing },
    );
  });
  // The change: reading 2's systolic (JavaScript on: 128 → 140), or the date (off).
  const final = readings.map((r) => [...r]);
  if (js) final[1]![0] = '140';
  const average = (values: string[]) => Math.round(values.reduce((s, v) => s + Number(v), 0) / values.length);
  const pulses = final.map((r) => r[2]!).filter(Boolean);
  const reading = (i: number): Expected =>
    group(
      `bp-reading-${i + 1}`,
      answered(`bp-reading-${i + 1}-systolic`, { valueInteger: Number(final[i]![0]) }),
      answered(`bp-reading-${i + 1}-diastolic`, { valueInteger: Number(final[i]![1]) }),
      ...(final[i]![2] ? [answered(`bp-reading-${i + 1}-pulse`, { valueInteger: Number(final[i]![2]) })] : []),
    );
  const systolicBefore = average(readings.map((r) => r[0]));
  const systolicAfter = average(final.map((r) => r[0]!));
  const diastolic = average(final.map((r) => r[1]!));
  return {
    questionnaire: 'home-blood-pressure',
    title: 'Home blood pressure readings',
    steps,
    emptyError: /Enter/i,
    checkShows: [
      new RegExp(`Average systolic\\s+${systolicBefore} mmHg`),
      new RegExp(`Average diastolic\\s+${diastolic} mmHg`),
      ...(js ? [new RegExp(`Average pulse\\s+${average(pulses)} beats per minute`)] : []),
    ],
    change: js
      ? { question: `Reading 2: ${BP.systolic}`, steps: [{ linkId: 'bp-reading-2-systolic', heading: BP.systolic, caption: 'Reading 2', answer: type('140') }] }
      : { question: BP.date, steps: [{ linkId: 'bp-readings-date', heading: BP.date, answer: date('2026-02-02') }] },
    afterChangeShows: js ? [new RegExp(`Average systolic\\s+${systolicAfter} mmHg`)] : [/2 February 2026/],
    afterChangeHides: js ? [] : [/Average pulse/],
    urgent: false,
    items: [
      answered('bp-readings-date', { valueDate: js ? '2026-11-28' : '2026-02-02' }),
      reading(0),
      reading(1),
      reading(2),
      answered('bp-average-systolic', { valueDecimal: systolicAfter }),
      answered('bp-average-diastolic', { valueDecimal: diastolic }),
      ...(pulses.length > 0 ? [answered('bp-average-pulse', { valueDecimal: average(pulses) })] : []),
    ],
    shotOf: 'bp-reading-1-systolic',
  };
}

const RCP3 = [
  'Have you had difficulty sleeping because of your asthma symptoms (including cough)?',
  'Have you had your usual asthma symptoms during the day (cough, wheeze, chest tightness or breathlessness)?',
  'Has your asthma interfered with your usual activities (e.g. housework, work/school etc)?',
];

function asthma(js: boolean): Journey {
  const first = js ? ['Yes', 'No', 'Yes'] : ['No', 'No', 'No'];
  const changedIndex = js ? 1 : 0;
  const final = first.map((a, i) => (i === changedIndex ? 'Yes' : a));
  return {
    questionnaire: 'asthma-rcp3',
    title: 'Asthma check',
    steps: RCP3.map((heading, i) => ({ linkId: `rcp3-q${i + 1}`, heading, caption: 'In the last month:', answer: choose(first[i]!) })),
    emptyError: /Select|answer/i,
    checkShows: [new RegExp(`${escapeRegExp(RCP3[changedIndex]!)}\\s+No\\s+Change`)],
    change: { question: `In the last month: ${RCP3[changedIndex]!}`, steps: [{ linkId: `rcp3-q${changedIndex + 1}`, heading: RCP3[changedIndex]!, caption: 'In the last month:', answer: choose('Yes') }] },
    afterChangeShows: [new RegExp(`${escapeRegExp(RCP3[changedIndex]!)}\\s+Yes\\s+Change`)],
    urgent: false,
    items: [
      group('rcp3-questions', ...final.map((a, i) => answered(`rcp3-q${i + 1}`, { valueBoolean: a === 'Yes' }))),
      answered('rcp3-score', { valueInteger: final.filter((a) => a === 'Yes').length }),
    ],
    shotOf: 'rcp3-q2',
  };
}

const JOURNEYS = [phq9, gad7, auditC, smoking, weightHeight, bloodPressure, asthma];

// ---- Driving the browser ------------------------------------------------------------------------

let browser: Browser;
before(async () => {
  browser = await launchBrowser();
  if (SHOTS) mkdirSync(SHOTS, { recursive: true });
});
after(() => browser?.close());

async function mainText(page: Page): Promise<string> {
  return (await page.locator('main').innerText()).replace(/\s+/g, ' ');
}

async function onQuestion(page: Page, step: Step) {
  await page.waitForURL((url) => url.pathname.endsWith(`/questions/${encodeURIComponent(step.linkId)}`));
  const heading = (await page.locator('h1').innerText()).replace(/\s+/g, ' ').trim();
  // The caption is read first, then a visually hidden " - ", then the question.
  assert.equal(heading, step.caption ? `${step.caption} - ${step.heading}` : step.heading, `the heading on ${step.linkId}`);
  if (step.caption) assert.equal((await page.locator('h1 .nhsuk-caption-l').innerText()).trim().replace(/\s*-\s*$/, ''), step.caption);
}

async function answerStep(page: Page, step: Step) {
  await onQuestion(page, step);
  await step.answer(page);
  await page.getByRole('button', { name: 'Continue' }).click();
}

/** Continue with no answer: the NHS error summary, linking to the field (and focused, with JavaScript). */
async function emptyContinueShowsError(page: Page, journey: Journey, js: boolean) {
  const step = journey.steps[0]!;
  await onQuestion(page, step);
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.waitForLoadState('load');
  assert.match(await page.title(), /^Error: /);
  const summary = page.locator('.nhsuk-error-summary');
  assert.match(await summary.innerText(), /There is a problem/);
  const link = summary.locator('a').first();
  assert.match(await link.innerText(), journey.emptyError);
  const href = (await link.getAttribute('href'))!;
  assert.match(href, /^#/);
  const target = href.slice(1);
  const field = await page.evaluate((id) => {
    const el = document.getElementById(id);
    return el ? { tag: el.tagName, inForm: el.closest('form') !== null } : null;
  }, target);
  assert.deepEqual(field, { tag: 'INPUT', inForm: true }, `the error summary links to a field of the form (${href})`);
  // The field itself shows the message too.
  assert.match(await page.locator('.nhsuk-error-message').first().innerText(), journey.emptyError);
  if (js) {
    const focused = await page.evaluate(() => document.activeElement?.closest('.nhsuk-error-summary') != null);
    assert.ok(focused, 'the error summary has focus');
  }
  await link.click();
  if (js) {
    assert.equal(await page.evaluate(() => document.activeElement?.id), target, 'the error link moves focus to the field');
  } else {
    assert.equal(new URL(page.url()).hash, href, 'the error link goes to the field');
  }
}

async function screenshot(page: Page, name: string) {
  if (SHOTS) await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

// Two runs at a time: while one waits on the browser the other's app is working (two cores).
describe('catalogue questionnaires in Chromium', { concurrency: 2 }, () => {
  for (const js of [true, false]) {
    for (const plan of JOURNEYS) {
      const journey = plan(js);
      test(`${journey.questionnaire}, JavaScript ${js ? 'on' : 'off'}: answered, one answer changed, sent, and the response stored field by field`, async (t) => {
        const server = await startTestServer();
        t.after(() => server.close());
        const { baseUrl, services } = server;
        const sent = await createTestQuestionnaireConversation(services, { questionnaire: journey.questionnaire });
        const context = await browser.newContext({ javaScriptEnabled: js, viewport: NARROW });
        t.after(() => context.close());
        const page = await context.newPage();

        // The link from the text, then the date of birth.
        await page.goto(`${baseUrl}/${sent.token}`);
        const [year, month, day] = TEST_PATIENT.dateOfBirth.split('-');
        await page.getByLabel('Day').fill(String(Number(day)));
        await page.getByLabel('Month').fill(String(Number(month)));
        await page.getByLabel('Year').fill(year!);
        await page.getByRole('button', { name: 'Continue' }).click();
        await page.waitForURL(/\/conversation$/);
        assert.match(await mainText(page), new RegExp(escapeRegExp(journey.title)));
        await page.getByRole('button', { name: 'Start now' }).or(page.getByRole('link', { name: 'Start now' })).click();

        await emptyContinueShowsError(page, journey, js);
        for (const step of journey.steps) {
          if (js && step.linkId === journey.shotOf) {
            await onQuestion(page, step);
            await screenshot(page, `${journey.questionnaire}-question`);
          }
          await answerStep(page, step);
        }

        await page.waitForURL(/\/check$/);
        assert.equal((await page.locator('h1').innerText()).trim(), 'Check your answers');
        const check = await mainText(page);
        for (const shown of journey.checkShows) assert.match(check, shown);
        if (js) await screenshot(page, `${journey.questionnaire}-check`);

        await page.getByRole('link', { name: `Change ${journey.change.question}`, exact: true }).click();
        for (const step of journey.change.steps) await answerStep(page, step);
        await page.waitForURL(/\/check$/);
        const changed = await mainText(page);
        for (const shown of journey.afterChangeShows) assert.match(changed, shown);
        for (const hidden of journey.afterChangeHides ?? []) assert.doesNotMatch(changed, hidden);

        await page.getByRole('button', { name: 'Send answers' }).click();
        await page.waitForURL(/\/conversation\?submitted=1$/);
        const confirmation = await mainText(page);
        assert.match(confirmation, /Answers sent/);
        assert.match(confirmation, new RegExp(`has your answers to ${escapeRegExp(journey.title)}`));
        for (const shown of journey.sentShows ?? []) assert.match(confirmation, shown);
        for (const hidden of journey.sentHides ?? []) assert.doesNotMatch(confirmation, hidden);

        // The response as staff and the API read it.
        const response = await readQuestionnaireResponse(services, {
          organisationId: sent.organisation.id,
          conversationId: sent.conversationId,
          actor: { type: 'staff', id: sent.staffId, ip: '127.0.0.1' },
          auditType: 'questionnaire_response.viewed',
        });
        assert.equal(response.resourceType, 'QuestionnaireResponse');
        assert.equal(response.status, 'completed');
        assert.equal(response.questionnaire, `${CATALOGUE_URL(journey.questionnaire)}|1.0.0`);
        assert.deepEqual(response.subject, { identifier: { system: 'https://fhir.nhs.uk/Id/nhs-number', value: TEST_PATIENT.nhsNumber } });
        assert.ok(!Number.isNaN(Date.parse(response.authored)), `authored is a date-time: ${response.authored}`);
        assert.deepEqual(shape(response.item), journey.items);

        const [row] = await services.db.select({ urgentSince: conversations.urgentSince }).from(conversations).where(eq(conversations.id, sent.conversationId));
        assert.equal(row!.urgentSince !== null, journey.urgent, journey.urgent ? 'flagged urgent for staff' : 'not flagged urgent');
      });
    }
  }
});
