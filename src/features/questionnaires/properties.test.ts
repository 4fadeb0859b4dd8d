// Property tests (fast-check) for the questionnaire engine, against oracles written here from the FHIR
// R4 rules and the catalogue's own expressions: enableWhen, removal of answers to disabled items,
// calculated scores, range checks, and answers kept as JSON between pages. The example tests sit next
// to each module; these look for the cases nobody thought to write down.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { isPatientAnswered, isQuestion, loadQuestionnaire, type AnswerValue, type Answers, type Operator, type QuestionnaireDefinition, type QuestionnaireItem } from './definition.ts';
import { enabledItems, isEnabled } from './enable-when.ts';
import { answersFromJson, answersToJson, checkAnswers, parseAnswer, validateAnswers, type FormInput } from './answers.ts';
import { resolveAnswers } from './calculations.ts';
import { buildResponse } from './response.ts';
import type { ResponseItem } from './response-items.ts';
import { load, maxValue, minValue, questionnaire, unit } from '../../../test/helpers/questionnaires.ts';

const RUNS = { numRuns: 200 };
const CORE = 'http://hl7.org/fhir/StructureDefinition/';
const authored = new Date('2026-03-01T10:00:00Z');

type Json = Record<string, unknown>;
const catalogueDir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'catalogue');
const catalogueJson = new Map<string, Json>(
  readdirSync(catalogueDir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => [f.replace(/\.json$/, ''), JSON.parse(readFileSync(path.join(catalogueDir, f), 'utf8')) as Json]),
);
const catalogue = new Map([...catalogueJson].map(([name, json]) => [name, load(json)]));
const fromCatalogue = (name: string): QuestionnaireDefinition => {
  const definition = catalogue.get(name);
  assert.ok(definition, `catalogue has ${name}`);
  return definition;
};

const questionsOf = (definition: QuestionnaireDefinition) => [...definition.byLinkId.values()].filter(isQuestion);

function flatten(items: readonly ResponseItem[], into = new Map<string, ResponseItem>()): Map<string, ResponseItem> {
  for (const item of items) {
    into.set(item.linkId, item);
    flatten(item.item ?? [], into);
  }
  return into;
}

/** Round half up, exactly, for numerator / denominator >= 0 (FHIRPath round(): "0.5 or higher will round to 1"). */
const roundHalfUp = (numerator: bigint, denominator: bigint): bigint => (2n * numerator + denominator) / (2n * denominator);

// ---------------------------------------------------------------------------------------------------
// 1. enableWhen against an oracle written from the R4 questionnaire-enable-operator definitions:
//    exists: "whether an answer exists" equals the boolean; "=": at least one answer is equal;
//    "!=": no answer is equal (so true when unanswered); ordered: at least one answer compares so.
//    A question that is itself disabled counts as unanswered.
// ---------------------------------------------------------------------------------------------------

type TriggerType = 'boolean' | 'integer' | 'choice';
type Simple = boolean | number | { system: string; code: string };
interface ConditionSpec {
  on: 0 | 1;
  operator: Operator;
  /** The boolean for "exists", otherwise the value compared with. */
  answer: Simple;
}

const TRIGGER_SYSTEM = 'urn:trigger';
const CODES = ['a', 'b', 'c'] as const;
const ORDERED = ['>', '<', '>=', '<='] as const;

const conditionFor = (type: TriggerType): fc.Arbitrary<Omit<ConditionSpec, 'on'>> => {
  const operators: Operator[] = type === 'integer' ? ['exists', '=', '!=', ...ORDERED] : ['exists', '=', '!='];
  const value: fc.Arbitrary<Simple> =
    type === 'boolean' ? fc.boolean() : type === 'integer' ? fc.integer({ min: -2, max: 2 }) : fc.constantFrom(...CODES).map((code) => ({ system: TRIGGER_SYSTEM, code }));
  return fc.record({ operator: fc.constantFrom(...operators), exists: fc.boolean(), value }).map(({ operator, exists, value }) => ({ operator, answer: operator === 'exists' ? exists : value }));
};

/** Answers as the browser might hold them: codings with other displays, and codings from another system. */
const triggerAnswers = (type: TriggerType, repeats: boolean): fc.Arbitrary<AnswerValue[]> => {
  if (type === 'boolean') return fc.array(fc.boolean().map((value): AnswerValue => ({ type: 'boolean', value })), { maxLength: 1 });
  if (type === 'integer') return fc.array(fc.integer({ min: -3, max: 3 }).map((value): AnswerValue => ({ type: 'integer', value })), { maxLength: 1 });
  const coding = fc
    .record({ system: fc.constantFrom(TRIGGER_SYSTEM, TRIGGER_SYSTEM, 'urn:elsewhere'), code: fc.constantFrom(...CODES), display: fc.constantFrom('Shown', 'Other words') })
    .map((value): AnswerValue => ({ type: 'coding', value }));
  return fc.uniqueArray(coding, { maxLength: repeats ? 3 : 1, selector: (a) => JSON.stringify(a.value) });
};

const enableWhenScenario = fc
  .record({ types: fc.tuple(fc.constantFrom<TriggerType>('boolean', 'integer', 'choice'), fc.constantFrom<TriggerType>('boolean', 'integer', 'choice')), repeats: fc.tuple(fc.boolean(), fc.boolean()) })
  .chain(({ types, repeats }) =>
    fc.record({
      types: fc.constant(types),
      repeats: fc.constant(repeats),
      /** The second trigger is itself shown only when the first is answered. */
      gated: fc.boolean(),
      conditions: fc.array(
        fc.constantFrom<0 | 1>(0, 1).chain((on) => conditionFor(types[on]).map((c): ConditionSpec => ({ on, ...c }))),
        { minLength: 1, maxLength: 2 },
      ),
      behavior: fc.constantFrom<'all' | 'any'>('all', 'any'),
      answers: fc.tuple(triggerAnswers(types[0], types[0] === 'choice' && repeats[0]), triggerAnswers(types[1], types[1] === 'choice' && repeats[1])),
    }),
  );
type EnableWhenScenario = typeof enableWhenScenario extends fc.Arbitrary<infer T> ? T : never;

const triggerId = (on: 0 | 1) => `t${on}`;

function fhirAnswerOf(type: TriggerType, condition: ConditionSpec): Json {
  if (condition.operator === 'exists' || type === 'boolean') return { answerBoolean: condition.answer };
  if (type === 'integer') return { answerInteger: condition.answer };
  return { answerCoding: condition.answer };
}

function enableWhenQuestionnaire(s: EnableWhenScenario): Json {
  const trigger = (on: 0 | 1): Json => ({
    linkId: triggerId(on),
    type: s.types[on],
    text: `Trigger ${on}`,
    ...(s.types[on] === 'choice' && { repeats: s.repeats[on], answerOption: CODES.map((code) => ({ valueCoding: { system: TRIGGER_SYSTEM, code, display: code.toUpperCase() } })) }),
    ...(on === 1 && s.gated && { enableWhen: [{ question: 't0', operator: 'exists', answerBoolean: true }] }),
  });
  return questionnaire([
    trigger(0),
    trigger(1),
    {
      linkId: 'dependent',
      type: 'string',
      text: 'Dependent',
      enableWhen: s.conditions.map((c) => ({ question: triggerId(c.on), operator: c.operator, ...fhirAnswerOf(s.types[c.on], c) })),
      ...(s.conditions.length > 1 && { enableBehavior: s.behavior }),
    },
  ]);
}

function simpleOf(answer: AnswerValue): Simple {
  if (answer.type === 'coding') return { system: answer.value.system ?? '', code: answer.value.code };
  return answer.value as boolean | number;
}

const equalSimple = (a: Simple, b: Simple) => (typeof a === 'object' && typeof b === 'object' ? a.system === b.system && a.code === b.code : a === b);

function oracleHolds(condition: ConditionSpec, given: readonly Simple[]): boolean {
  const expected = condition.answer;
  switch (condition.operator) {
    case 'exists':
      return given.length > 0 === expected;
    case '=':
      return given.some((g) => equalSimple(g, expected));
    case '!=':
      return !given.some((g) => equalSimple(g, expected));
    case '>':
      return given.some((g) => (g as number) > (expected as number));
    case '<':
      return given.some((g) => (g as number) < (expected as number));
    case '>=':
      return given.some((g) => (g as number) >= (expected as number));
    case '<=':
      return given.some((g) => (g as number) <= (expected as number));
  }
}

function oracleEnabled(s: EnableWhenScenario): { t1: boolean; dependent: boolean } {
  const t1 = !s.gated || s.answers[0].length > 0;
  const effective = (on: 0 | 1) => (on === 1 && !t1 ? [] : s.answers[on].map(simpleOf));
  const holds = (c: ConditionSpec) => oracleHolds(c, effective(c.on));
  const dependent = s.conditions.length > 1 && s.behavior === 'any' ? s.conditions.some(holds) : s.conditions.every(holds);
  return { t1, dependent };
}

test('property: enableWhen agrees with the R4 operator definitions for generated questionnaires, all and any, with a disabled trigger counting as unanswered', () => {
  fc.assert(
    fc.property(enableWhenScenario, (s) => {
      const definition = load(enableWhenQuestionnaire(s));
      const answers: Answers = new Map([
        ['t0', s.answers[0]],
        ['t1', s.answers[1]],
      ]);
      const expected = oracleEnabled(s);
      assert.equal(isEnabled(definition, answers, 't1'), expected.t1, 't1');
      assert.equal(isEnabled(definition, answers, 'dependent'), expected.dependent, 'dependent');
      assert.deepEqual([...enabledItems(definition, answers)].sort(), ['t0', ...(expected.t1 ? ['t1'] : []), ...(expected.dependent ? ['dependent'] : [])].sort());
    }),
    // Cheap runs, and many are needed to meet each operator on an equal value.
    { numRuns: 1000 },
  );
});

test('property: an ordered operator on a boolean or choice question is refused when the questionnaire is loaded', () => {
  fc.assert(
    fc.property(fc.constantFrom<TriggerType>('boolean', 'choice'), fc.constantFrom(...ORDERED), (type, operator) => {
      const answer = type === 'boolean' ? { answerBoolean: true } : { answerCoding: { system: TRIGGER_SYSTEM, code: 'a' } };
      const result = loadQuestionnaire(
        questionnaire([
          { linkId: 't0', type, text: 'Trigger', ...(type === 'choice' && { answerOption: [{ valueCoding: { system: TRIGGER_SYSTEM, code: 'a' } }] }) },
          { linkId: 'dependent', type: 'string', text: 'Dependent', enableWhen: [{ question: 't0', operator, ...answer }] },
        ]),
      );
      assert.equal(result.ok, false);
      if (!result.ok) assert.ok(result.problems.some((p) => p.linkId === 'dependent' && p.message.includes(`"${operator}"`)), JSON.stringify(result.problems));
    }),
    { numRuns: 20 },
  );
});

// ---------------------------------------------------------------------------------------------------
// Answers for any item: valid ones (what the patient could give) and forged ones (what a browser could post).
// ---------------------------------------------------------------------------------------------------

const decimalPlaces = (item: QuestionnaireItem) => item.maxDecimalPlaces ?? 2;

function scaledNumber(item: QuestionnaireItem, fallbackMin: number, fallbackMax: number): fc.Arbitrary<number> {
  const scale = 10 ** decimalPlaces(item);
  const min = typeof item.minValue === 'number' ? item.minValue : fallbackMin;
  const max = typeof item.maxValue === 'number' ? item.maxValue : fallbackMax;
  return fc.integer({ min: Math.ceil(min * scale), max: Math.floor(max * scale) }).map((n) => n / scale);
}

const isoDate = (min: string, max: string) =>
  fc.date({ min: new Date(`${min}T00:00:00Z`), max: new Date(`${max}T00:00:00Z`), noInvalidDate: true }).map((d) => d.toISOString().slice(0, 10));

/** Answers within the item's own rules (filtered through checkAnswers where combining options could break them). */
function validAnswers(item: QuestionnaireItem): fc.Arbitrary<AnswerValue[]> {
  const one = (arb: fc.Arbitrary<AnswerValue>) => arb.map((a) => [a]);
  let answers: fc.Arbitrary<AnswerValue[]>;
  switch (item.type) {
    case 'boolean':
      answers = one(fc.boolean().map((value) => ({ type: 'boolean', value })));
      break;
    case 'choice':
    case 'open-choice': {
      const fromOptions = fc.constantFrom(...item.options.map((o) => o.value));
      const other = fc.string({ minLength: 1, maxLength: 20 }).map((value): AnswerValue => ({ type: 'string', value }));
      const single = item.type === 'open-choice' ? fc.oneof(fromOptions, other) : fromOptions;
      answers = item.repeats ? fc.uniqueArray(single, { minLength: 1, maxLength: item.options.length + 1, selector: (a) => JSON.stringify(a) }) : one(single);
      break;
    }
    case 'integer': {
      const min = typeof item.minValue === 'number' ? Math.ceil(item.minValue) : -10_000;
      const max = typeof item.maxValue === 'number' ? Math.floor(item.maxValue) : 10_000;
      answers = one(fc.integer({ min, max }).map((value) => ({ type: 'integer', value })));
      break;
    }
    case 'decimal':
    case 'quantity': {
      const type = item.type;
      answers = one(scaledNumber(item, -10_000, 10_000).map((value) => ({ type, value })));
      break;
    }
    case 'date':
      answers = one(isoDate(typeof item.minValue === 'string' ? item.minValue : '1900-01-01', typeof item.maxValue === 'string' ? item.maxValue : '2100-12-31').map((value) => ({ type: 'date', value })));
      break;
    case 'string':
    case 'text':
      answers = one(fc.string({ minLength: item.minLength ?? 1, maxLength: Math.min(item.maxLength ?? 40, 40) }).map((value) => ({ type: 'string', value })));
      break;
    default:
      return fc.constant([]);
  }
  return answers.filter((a) => checkAnswers(item, a) === undefined);
}

/** Anything a browser could put in the answers map for the item, in range or not. */
function forgedAnswers(item: QuestionnaireItem): fc.Arbitrary<AnswerValue[]> {
  const numeric = item.type === 'integer' ? fc.integer({ min: -1000, max: 1000 }) : fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 });
  const typed =
    item.type === 'integer' || item.type === 'decimal' || item.type === 'quantity'
      ? fc.array(numeric.map((value) => ({ type: item.type, value }) as AnswerValue), { maxLength: 2 })
      : fc.constant<AnswerValue[]>([]);
  return fc.oneof(validAnswers(item), typed, fc.constant<AnswerValue[]>([]));
}

/** An answers map with an entry (or none) for every question, including read-only, hidden and calculated ones. */
function answersMap(definition: QuestionnaireDefinition, perItem: (item: QuestionnaireItem) => fc.Arbitrary<AnswerValue[]>, only = (_item: QuestionnaireItem) => true): fc.Arbitrary<Map<string, AnswerValue[]>> {
  const items = questionsOf(definition).filter(only);
  return fc
    .tuple(...items.map((item) => fc.option(perItem(item), { nil: undefined })))
    .map((values) => new Map(items.flatMap((item, i) => (values[i] === undefined ? [] : [[item.linkId, values[i]] as const]))));
}

// ---------------------------------------------------------------------------------------------------
// 2. Removal of answers to disabled items.
// ---------------------------------------------------------------------------------------------------

/** Nested groups, a gated group, chains of enableWhen, read-only, hidden and calculated items. */
const branching = load(
  questionnaire([
    { linkId: 'smokes', type: 'boolean', text: 'Do you smoke?' },
    {
      linkId: 'smoking',
      type: 'group',
      text: 'Smoking',
      enableWhen: [{ question: 'smokes', operator: '=', answerBoolean: true }],
      item: [
        { linkId: 'per-day', type: 'integer', text: 'How many a day?', extension: [minValue({ valueInteger: 1 }), maxValue({ valueInteger: 80 })] },
        {
          linkId: 'heavy',
          type: 'group',
          text: 'Heavy smoking',
          enableWhen: [{ question: 'per-day', operator: '>=', answerInteger: 20 }],
          item: [
            { linkId: 'tried-quitting', type: 'boolean', text: 'Have you tried to stop?' },
            { linkId: 'how', type: 'string', text: 'How?', maxLength: 30, enableWhen: [{ question: 'tried-quitting', operator: '=', answerBoolean: true }] },
          ],
        },
        { linkId: 'since', type: 'date', text: 'Since when?', extension: [minValue({ valueDate: '1950-01-01' }), maxValue({ valueDate: '2026-01-01' })] },
      ],
    },
    {
      linkId: 'kind',
      type: 'choice',
      text: 'What do you drink?',
      repeats: true,
      answerOption: [
        { valueCoding: { system: 'urn:drink', code: 'beer', display: 'Beer' } },
        { valueCoding: { system: 'urn:drink', code: 'wine', display: 'Wine' } },
        { valueCoding: { system: 'urn:drink', code: 'none', display: 'None' }, extension: [{ url: `${CORE}questionnaire-optionExclusive`, valueBoolean: true }] },
      ],
    },
    {
      linkId: 'units',
      type: 'decimal',
      text: 'Units a week',
      enableBehavior: 'any',
      enableWhen: [
        { question: 'kind', operator: '=', answerCoding: { system: 'urn:drink', code: 'beer' } },
        { question: 'kind', operator: '=', answerCoding: { system: 'urn:drink', code: 'wine' } },
      ],
      extension: [{ url: `${CORE}maxDecimalPlaces`, valueInteger: 1 }, minValue({ valueDecimal: 0 }), maxValue({ valueDecimal: 200 })],
    },
    { linkId: 'no-units', type: 'display', text: 'x', enableWhen: [{ question: 'units', operator: 'exists', answerBoolean: false }] },
    {
      linkId: 'drink-other',
      type: 'open-choice',
      text: 'Anything else?',
      maxLength: 20,
      enableWhen: [{ question: 'kind', operator: '!=', answerCoding: { system: 'urn:drink', code: 'none' } }],
      answerOption: [{ valueString: 'Cider' }, { valueString: 'Spirits' }],
    },
    { linkId: 'weight', type: 'quantity', text: 'Weight', extension: [unit('kg', 'kilograms'), minValue({ valueDecimal: 20 }), maxValue({ valueDecimal: 300 })] },
    { linkId: 'practice-note', type: 'string', text: 'From the practice', readOnly: true, initial: [{ valueString: 'Practice words' }] },
    { linkId: 'secret', type: 'integer', text: 'Hidden', extension: [{ url: `${CORE}questionnaire-hidden`, valueBoolean: true }], initial: [{ valueInteger: 7 }] },
    {
      linkId: 'score',
      type: 'integer',
      text: 'Score',
      readOnly: true,
      enableWhen: [{ question: 'smokes', operator: 'exists', answerBoolean: true }],
      extension: [{ url: 'http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-calculatedExpression', valueExpression: { language: 'text/fhirpath', expression: "%resource.repeat(item).where(linkId = 'per-day').answer.valueInteger.sum()" } }],
    },
  ]),
);

const removalSubjects: Array<[string, QuestionnaireDefinition]> = [['branching (test)', branching], ...catalogue];

test('property: resolved answers and the response hold no answer for a disabled item, and every enabled patient answer unchanged', () => {
  for (const [name, definition] of removalSubjects) {
    fc.assert(
      fc.property(answersMap(definition, forgedAnswers), (given) => {
        const resolved = resolveAnswers(definition, given);
        for (const linkId of resolved.answers.keys()) assert.ok(resolved.enabled.has(linkId), `${name}: ${linkId} is not enabled but has an answer`);
        // Dropping those answers changes nothing: the enabled set is the one the kept answers give.
        assert.deepEqual(enabledItems(definition, resolved.answers), resolved.enabled, name);
        for (const [linkId, values] of given) {
          const item = definition.byLinkId.get(linkId)!;
          if (!resolved.enabled.has(linkId)) assert.equal(resolved.answers.has(linkId), false, `${name}: ${linkId}`);
          else if (isPatientAnswered(item) && values.length > 0) assert.deepEqual(resolved.answers.get(linkId), values, `${name}: ${linkId}`);
        }
        const response = flatten(buildResponse(definition, given, { status: 'completed', authored }).item);
        for (const [linkId, node] of response) {
          assert.ok(resolved.enabled.has(linkId), `${name}: the response holds disabled ${linkId}`);
          const item = definition.byLinkId.get(linkId)!;
          if (isQuestion(item)) assert.equal(node.answer?.length ?? 0, resolved.answers.get(linkId)?.length ?? 0, `${name}: ${linkId}`);
        }
        for (const [linkId, values] of resolved.answers) if (values.length > 0) assert.ok(response.has(linkId), `${name}: the response lacks ${linkId}`);
      }),
      { numRuns: 100 },
    );
  }
});

test('property: what the browser sends for read-only, hidden or calculated items makes no difference', () => {
  for (const [name, definition] of removalSubjects) {
    fc.assert(
      fc.property(answersMap(definition, forgedAnswers), (given) => {
        const patientOnly = new Map([...given].filter(([linkId]) => isPatientAnswered(definition.byLinkId.get(linkId)!)));
        assert.deepEqual(resolveAnswers(definition, given), resolveAnswers(definition, patientOnly), name);
      }),
      { numRuns: 50 },
    );
  }
});

// ---------------------------------------------------------------------------------------------------
// 3. Calculations in the catalogue, against sums and means computed here.
// ---------------------------------------------------------------------------------------------------

/** The ordinal value of each answer option, read from the catalogue JSON itself (not through the loader). */
function rawOrdinals(name: string, linkId: string): Map<string, number> {
  const find = (items: unknown): Json | undefined => {
    for (const raw of (items ?? []) as Json[]) {
      if (raw.linkId === linkId) return raw;
      const inner = find(raw.item);
      if (inner) return inner;
    }
    return undefined;
  };
  const item = find(catalogueJson.get(name)!.item);
  assert.ok(item, `${name} has ${linkId}`);
  return new Map(
    (item.answerOption as Json[]).map((option) => {
      const ordinal = (option.extension as Json[]).find((e) => e.url === `${CORE}ordinalValue` || e.url === `${CORE}itemWeight`);
      return [(option.valueCoding as Json).code as string, (ordinal?.valueDecimal ?? ordinal?.valueInteger) as number];
    }),
  );
}

const SCORES = [
  { name: 'phq-9', questions: Array.from({ length: 9 }, (_, i) => `phq9-q${i + 1}`), total: 'phq9-total' },
  { name: 'gad-7', questions: Array.from({ length: 7 }, (_, i) => `gad7-q${i + 1}`), total: 'gad7-total' },
  { name: 'audit-c', questions: ['auditc-q1', 'auditc-q2', 'auditc-q3'], total: 'auditc-total' },
];

for (const score of SCORES) {
  test(`property: the ${score.name} total is the sum of the chosen options' ordinal values once every question is answered, whatever the browser sent`, () => {
    const definition = fromCatalogue(score.name);
    const ordinals = score.questions.map((linkId) => rawOrdinals(score.name, linkId));
    const choices = fc.tuple(...score.questions.map((linkId) => fc.option(fc.constantFrom(...definition.byLinkId.get(linkId)!.options), { nil: undefined })));
    fc.assert(
      fc.property(choices, fc.option(fc.integer(), { nil: undefined }), (chosen, forged) => {
        const answers = new Map<string, AnswerValue[]>();
        chosen.forEach((option, i) => option && answers.set(score.questions[i]!, [option.value]));
        if (forged !== undefined) answers.set(score.total, [{ type: 'integer', value: forged }]);
        const everyAnswered = chosen.every((option) => option !== undefined);
        const sum = chosen.reduce((total, option, i) => total + (option ? ordinals[i]!.get(option.key)! : 0), 0);
        const resolved = resolveAnswers(definition, answers);
        assert.deepEqual(resolved.failures, []);
        // The catalogue's expressions give no total until every question is answered (iif(count() = n, ...)).
        assert.deepEqual(resolved.answers.get(score.total), everyAnswered ? [{ type: 'integer', value: sum }] : undefined);
        const inResponse = flatten(buildResponse(definition, answers, { status: 'completed', authored }).item).get(score.total);
        assert.deepEqual(inResponse?.answer, everyAnswered ? [{ valueInteger: sum }] : undefined);
      }),
      RUNS,
    );
  });
}

test('property: the asthma RCP3 score counts the "yes" answers once all three are answered', () => {
  const definition = fromCatalogue('asthma-rcp3');
  const questions = ['rcp3-q1', 'rcp3-q2', 'rcp3-q3'];
  fc.assert(
    fc.property(fc.tuple(...questions.map(() => fc.option(fc.boolean(), { nil: undefined }))), fc.option(fc.integer(), { nil: undefined }), (given, forged) => {
      const answers = new Map<string, AnswerValue[]>();
      given.forEach((value, i) => value !== undefined && answers.set(questions[i]!, [{ type: 'boolean', value }]));
      if (forged !== undefined) answers.set('rcp3-score', [{ type: 'integer', value: forged }]);
      const expected = given.every((v) => v !== undefined) ? [{ type: 'integer', value: given.filter((v) => v === true).length }] : undefined;
      assert.deepEqual(resolveAnswers(definition, answers).answers.get('rcp3-score'), expected);
    }),
    RUNS,
  );
});

/** BMI to one decimal place, in exact decimal arithmetic, from weight and height in tenths (kg, cm). */
function exactBmi(weightTenths: number, heightTenths: number): { value: number; onHalf: boolean } {
  // weight / (height / 100)² = (W / 10) / (H / 1000)² = W·10⁵ / H²; in tenths: W·10⁶ / H².
  const numerator = BigInt(weightTenths) * 10n ** 6n;
  const denominator = BigInt(heightTenths) ** 2n;
  return { value: Number(roundHalfUp(numerator, denominator)) / 10, onHalf: (2n * numerator) % denominator === 0n && ((2n * numerator) / denominator) % 2n === 1n };
}

function bmiOf(weight: number, height: number, forged?: number): AnswerValue[] | undefined {
  const answers = new Map<string, AnswerValue[]>([
    ['body-weight', [{ type: 'decimal', value: weight }]],
    ['body-height', [{ type: 'decimal', value: height }]],
  ]);
  if (forged !== undefined) answers.set('bmi', [{ type: 'decimal', value: forged }]);
  return resolveAnswers(fromCatalogue('weight-height-bmi'), answers).answers.get('bmi');
}

test('property: BMI is weight / (height in metres)² rounded half up to 1 decimal place, exactly, never the browser\'s value', () => {
  const definition = fromCatalogue('weight-height-bmi');
  const weight = definition.byLinkId.get('body-weight')!;
  const height = definition.byLinkId.get('body-height')!;
  assert.equal(weight.maxDecimalPlaces, 1);
  assert.equal(height.maxDecimalPlaces, 1);
  const tenths = (item: QuestionnaireItem) => fc.integer({ min: (item.minValue as number) * 10, max: (item.maxValue as number) * 10 });
  fc.assert(
    fc.property(tenths(weight), tenths(height), fc.option(fc.double({ noNaN: true }), { nil: undefined }), (w, h, forged) => {
      const expected = exactBmi(w, h);
      const got = bmiOf(w / 10, h / 10, forged);
      assert.deepEqual(got, [{ type: 'decimal', value: expected.value }], `${w / 10} kg, ${h / 10} cm`);
    }),
    RUNS,
  );
});

test('BMI exactly on a half rounds up, as FHIRPath round() does with decimals', () => {
  // Worked in binary floating point, 80 / (1.6 * 1.6) = 31.249999… and round(1) gave 31.2.
  assert.deepEqual(exactBmi(800, 1600), { value: 31.3, onHalf: true });
  assert.deepEqual(bmiOf(80, 160), [{ type: 'decimal', value: 31.3 }]);
  assert.deepEqual(bmiOf(48, 160), [{ type: 'decimal', value: 18.8 }]);
  assert.deepEqual(bmiOf(105.8, 184), [{ type: 'decimal', value: 31.3 }]);
});

test('BMI: every allowed weight and height that lands exactly on a half rounds up', () => {
  const definition = fromCatalogue('weight-height-bmi');
  const tenths = (bound: unknown) => Math.round((bound as number) * 10);
  const weight = definition.byLinkId.get('body-weight')!;
  const height = definition.byLinkId.get('body-height')!;
  let halves = 0;
  for (let w = tenths(weight.minValue); w <= tenths(weight.maxValue); w++) {
    for (let h = tenths(height.minValue); h <= tenths(height.maxValue); h++) {
      // On a half when 2·W·10⁶ / H² is an odd whole number; every number here is below 2⁵³, so exact.
      const twice = 2 * w * 1e6;
      if (twice % (h * h) !== 0 || (twice / (h * h)) % 2 !== 1) continue;
      halves++;
      const expected = exactBmi(w, h);
      assert.equal(expected.onHalf, true);
      assert.deepEqual(bmiOf(w / 10, h / 10), [{ type: 'decimal', value: expected.value }], `${w / 10} kg, ${h / 10} cm`);
    }
  }
  assert.ok(halves > 1000, `found ${halves} weights and heights on a half`);
});

test('property: home blood pressure averages are the mean of the readings given, round(0), as the questionnaire says, never the browser\'s value', () => {
  const definition = fromCatalogue('home-blood-pressure');
  const KINDS = ['systolic', 'diastolic', 'pulse'] as const;
  const reading = (kind: (typeof KINDS)[number], n: number) => definition.byLinkId.get(`bp-reading-${n}-${kind}`)!;
  const readings = fc.tuple(
    ...[1, 2, 3].flatMap((n) =>
      KINDS.map((kind) => fc.option(fc.integer({ min: reading(kind, n).minValue as number, max: reading(kind, n).maxValue as number }), { nil: undefined })),
    ),
  );
  const forged = fc.tuple(...KINDS.map(() => fc.option(fc.double({ noNaN: true }), { nil: undefined })));
  fc.assert(
    fc.property(readings, forged, (values, fakes) => {
      const answers = new Map<string, AnswerValue[]>();
      [1, 2, 3].forEach((n, r) => KINDS.forEach((kind, k) => {
        const value = values[r * KINDS.length + k];
        if (value !== undefined) answers.set(`bp-reading-${n}-${kind}`, [{ type: 'integer', value }]);
      }));
      KINDS.forEach((kind, k) => fakes[k] !== undefined && answers.set(`bp-average-${kind}`, [{ type: 'decimal', value: fakes[k] }]));
      const resolved = resolveAnswers(definition, answers);
      assert.deepEqual(resolved.failures, []);
      KINDS.forEach((kind, k) => {
        const given = [0, 1, 2].map((r) => values[r * KINDS.length + k]).filter((v) => v !== undefined);
        const sum = given.reduce((a, b) => a + b, 0);
        const expected = given.length === 0 ? undefined : [{ type: 'decimal', value: Number(roundHalfUp(BigInt(sum), BigInt(given.length))) }];
        assert.deepEqual(resolved.answers.get(`bp-average-${kind}`), expected, `${kind}: ${given.join(', ')}`);
      });
    }),
    RUNS,
  );
});

// ---------------------------------------------------------------------------------------------------
// 4. Range checks, and parseAnswer on anything at all.
// ---------------------------------------------------------------------------------------------------

/** A decimal written with exactly `places` digits after the point: units / 10^places. */
function written(units: number, places: number): string {
  const sign = units < 0 ? '-' : '';
  const digits = String(Math.abs(units)).padStart(places + 1, '0');
  return places === 0 ? `${sign}${digits}` : `${sign}${digits.slice(0, -places)}.${digits.slice(-places)}`;
}

const rangeScenario = fc
  .record({
    type: fc.constantFrom('integer', 'decimal', 'quantity'),
    /** Bounds in hundredths (whole numbers for an integer question). */
    bounds: fc.tuple(fc.option(fc.integer({ min: -100_000, max: 100_000 }), { nil: undefined }), fc.option(fc.integer({ min: -100_000, max: 100_000 }), { nil: undefined })),
    maxPlaces: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }),
  })
  .chain((s) => {
    const integer = s.type === 'integer';
    const [a, b] = s.bounds.map((v) => (v === undefined ? undefined : integer ? Math.trunc(v / 100) : v));
    const [min, max] = a !== undefined && b !== undefined && a > b ? [b, a] : [a, b];
    const near = [min, max, 0].filter((v): v is number => v !== undefined);
    return fc.record({
      type: fc.constant(s.type),
      min: fc.constant(min),
      max: fc.constant(max),
      maxPlaces: fc.constant(integer ? undefined : s.maxPlaces),
      places: integer ? fc.constant(0) : fc.integer({ min: 0, max: 4 }),
      anchor: fc.constantFrom(...near),
      // Mostly on or next to the bound, where off-by-one mistakes live.
      offset: fc.oneof(fc.constantFrom(-1, 0, 1), fc.integer({ min: -30, max: 30 })),
    });
  });

test('property: a number question accepts exactly the values within [minValue, maxValue] with at most maxDecimalPlaces, and says why otherwise', () => {
  fc.assert(
    fc.property(rangeScenario, (s) => {
      const integer = s.type === 'integer';
      const scale = integer ? 1 : 100; // bounds are in hundredths for decimals
      const bound = (v: number) => (integer ? { valueInteger: v } : { valueDecimal: v / scale });
      const definition = load(
        questionnaire([
          {
            linkId: 'n',
            type: s.type,
            text: 'A number',
            extension: [
              ...(s.type === 'quantity' ? [unit('kg', 'kilograms')] : []),
              ...(s.min !== undefined ? [minValue(bound(s.min))] : []),
              ...(s.max !== undefined ? [maxValue(bound(s.max))] : []),
              ...(s.maxPlaces !== undefined ? [{ url: `${CORE}maxDecimalPlaces`, valueInteger: s.maxPlaces }] : []),
            ],
          },
        ]),
      );
      const item = definition.byLinkId.get('n')!;
      // The value as units of 10^-places, near a bound; compared with the bounds in exact integers.
      const units = Math.round((s.anchor * 10 ** s.places) / scale) + s.offset;
      const text = written(units, s.places);
      const cmp = (bound: number) => Math.sign(units * scale - bound * 10 ** s.places);
      const inRange = (s.min === undefined || cmp(s.min) >= 0) && (s.max === undefined || cmp(s.max) <= 0);
      const fraction = text.includes('.') ? text.split('.')[1]!.replace(/0+$/, '') : '';
      const placesAllowed = s.maxPlaces === undefined || fraction.length <= s.maxPlaces;
      const parsed = parseAnswer(item, { value: text });
      if (inRange && placesAllowed) {
        assert.ok(parsed.ok, `${text} refused: ${parsed.ok ? '' : parsed.error.message}`);
        assert.deepEqual(parsed.answers, [{ type: integer ? 'integer' : s.type, value: Number(text) === 0 ? 0 : Number(text) }]);
      } else {
        assert.ok(!parsed.ok, `${text} accepted (min ${s.min}, max ${s.max}, places ${s.maxPlaces})`);
        assert.equal(parsed.error.linkId, 'n');
        assert.ok(parsed.error.message.trim().length > 0);
        if (placesAllowed) {
          for (const b of [s.min, s.max]) if (b !== undefined) assert.ok(parsed.error.message.includes(String(b / scale)), `${parsed.error.message} names ${b / scale}`);
        }
      }
    }),
    { numRuns: 300 },
  );
});

// Random text, and numbers of every size and shape (day, month and year sized too), since those reach deeper.
const anyText = fc.oneof(
  fc.string(),
  fc.integer({ min: -5, max: 40 }).map(String),
  fc.integer({ min: 1800, max: 2200 }).map(String),
  fc.bigInt().map(String),
  fc.double().map(String),
  fc.string({ unit: 'binary' }),
  fc.string({ unit: 'grapheme' }),
  fc.constantFrom('1e3', 'Infinity', 'NaN', '0x10', '-0', '1,2', ' 12 ', '12.', '.5', '９', 'feb', 'Sept'),
);
const anyForm: fc.Arbitrary<FormInput> = fc.oneof(
  fc.dictionary(fc.constantFrom('value', 'other', 'day', 'month', 'year'), fc.oneof(anyText, fc.array(anyText, { maxLength: 3 }))),
  fc.record({ day: anyText, month: anyText, year: anyText }),
  // Nearly dates: 31 June, 29 February, month 0 or 13, short years.
  fc.record({
    day: fc.integer({ min: 0, max: 32 }).map(String),
    month: fc.oneof(fc.integer({ min: 0, max: 13 }).map(String), fc.constantFrom('feb', 'June', 'Sept', 'ju')),
    year: fc.oneof(fc.integer({ min: 1899, max: 2101 }).map(String), fc.constantFrom('24', '02024')),
  }),
);
const everyQuestion = [...catalogue, ['branching (test)', branching] as const].flatMap(([name, definition]) => questionsOf(definition).map((item) => ({ name, item })));
/** A question type first, then a question of that type, so the few date and text questions are not drowned by choices. */
const anyQuestion = fc.constantFrom(...new Set(everyQuestion.map((q) => q.item.type))).chain((type) => fc.constantFrom(...everyQuestion.filter((q) => q.item.type === type)));

test('property: parseAnswer never throws on any text for any catalogue question; it gives answers that pass the question\'s checks or a message', () => {
  fc.assert(
    fc.property(anyQuestion, anyForm, ({ name, item }, form) => {
      const parsed = parseAnswer(item, form);
      if (parsed.ok) assert.equal(checkAnswers(item, parsed.answers), undefined, `${name}: ${item.linkId}`);
      else {
        assert.equal(parsed.error.linkId, item.linkId);
        assert.ok(parsed.error.message.trim().length > 0, `${name}: ${item.linkId} gave an empty message`);
      }
    }),
    { numRuns: 1000 },
  );
});

// ---------------------------------------------------------------------------------------------------
// 5. Answers kept as JSON between pages.
// ---------------------------------------------------------------------------------------------------

test('property: valid answers survive answersToJson, JSON and answersFromJson unchanged', () => {
  for (const [name, definition] of removalSubjects) {
    fc.assert(
      fc.property(answersMap(definition, validAnswers, isPatientAnswered), (answers) => {
        const back = answersFromJson(definition, JSON.parse(JSON.stringify(answersToJson(answers))));
        assert.deepEqual(back, answers, name);
      }),
      { numRuns: 100 },
    );
  }
});

const answerLike = fc.oneof(
  fc.jsonValue(),
  fc.record({
    type: fc.constantFrom('boolean', 'coding', 'string', 'integer', 'decimal', 'quantity', 'date', 'other'),
    value: fc.oneof(
      fc.jsonValue(),
      fc.integer({ min: -500, max: 500 }),
      fc.double({ noNaN: true, min: -1e4, max: 1e4 }),
      fc.constantFrom('2024-02-29', '2023-02-29', '1800-01-01', 'yes'),
      fc.record({ system: fc.constantFrom('urn:drink', 'http://loinc.org', 'http://snomed.info/sct'), code: fc.constantFrom('beer', 'none', 'LA6568-5', 'LA6571-9', 'LA18929-2', '77176002') }, { requiredKeys: ['code'] }),
    ),
  }),
);

/** Codings are the same option by system and code; other options by type and value. */
const sameOption = (option: AnswerValue, answer: AnswerValue) =>
  option.type === 'coding' && answer.type === 'coding'
    ? option.value.code === answer.value.code && (option.value.system ?? '') === (answer.value.system ?? '')
    : option.type === answer.type && option.value === answer.value;

test('property: any JSON at all read back as answers never throws, and keeps only answers that fit and pass the checks', () => {
  for (const [name, definition] of removalSubjects) {
    // Entries aimed at the questions (forged, wrong-typed, doubled answers) as well as anything at all.
    const entry = fc.oneof(
      ...questionsOf(definition).map((item) =>
        fc.tuple(fc.constant(item.linkId), fc.oneof(forgedAnswers(item), fc.array(answerLike, { maxLength: 3 }), fc.tuple(validAnswers(item), validAnswers(item)).map(([a, b]) => [...a, ...b]))),
      ),
      fc.tuple(fc.constantFrom('not-an-item', '__proto__', ...definition.byLinkId.keys()), fc.oneof(fc.array(answerLike, { maxLength: 3 }), fc.jsonValue())),
    );
    const json = fc.oneof(fc.jsonValue(), fc.array(entry, { maxLength: 6 }).map((entries) => Object.fromEntries(entries)));
    fc.assert(
      fc.property(json, (value) => {
        const answers = answersFromJson(definition, value);
        for (const [linkId, values] of answers) {
          const item = definition.byLinkId.get(linkId);
          assert.ok(item && isPatientAnswered(item), `${name}: ${linkId}`);
          assert.ok(values.length > 0);
          assert.equal(checkAnswers(item, values), undefined, `${name}: ${linkId} ${JSON.stringify(values)}`);
          for (const v of values) {
            if (item.type === 'choice' || (item.type === 'open-choice' && v.type !== 'string')) {
              assert.ok(item.options.some((o) => sameOption(o.value, v)), `${name}: ${linkId} kept ${JSON.stringify(v)}, not an option`);
            } else if (item.type !== 'open-choice') {
              assert.equal(v.type, item.type === 'text' ? 'string' : item.type, `${name}: ${linkId} kept ${JSON.stringify(v)}`);
            }
          }
        }
        for (const error of validateAnswers(definition, answers)) assert.ok(error.message.trim().length > 0 && definition.byLinkId.has(error.linkId), `${name}: ${JSON.stringify(error)}`);
      }),
      { numRuns: 100 },
    );
  }
});
