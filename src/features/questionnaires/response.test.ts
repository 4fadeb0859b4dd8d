// QuestionnaireResponse building: the item tree, typed answers, hidden answers removed, calculated
// values recomputed on the server (never the browser's), by example and by property.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { AnswerValue } from './definition.ts';
import { enabledItems } from './enable-when.ts';
import { resolveAnswers } from './calculations.ts';
import { buildResponse, nhsNumberSubject, type QuestionnaireResponse } from './response.ts';
import type { ResponseItem } from './response-items.ts';
import { bodyMassIndex, calculated, load, moodScore, questionnaire, unit, variable } from '../../../test/helpers/questionnaires.ts';

const authored = new Date('2026-03-01T10:00:00Z');

function flatten(items: ResponseItem[]): Map<string, ResponseItem> {
  const result = new Map<string, ResponseItem>();
  const walk = (list: ResponseItem[]) => {
    for (const i of list) {
      result.set(i.linkId, i);
      walk(i.item ?? []);
    }
  };
  walk(items);
  return result;
}

const everyType = load(
  questionnaire([
    { linkId: 'intro', type: 'display', text: 'Hello' },
    {
      linkId: 'g',
      type: 'group',
      text: 'About you',
      item: [
        { linkId: 'b', type: 'boolean', text: 'B' },
        { linkId: 'c', type: 'choice', text: 'C', answerOption: [{ valueCoding: { system: 'urn:c', code: 'x', display: 'X' } }] },
        { linkId: 'oc', type: 'open-choice', text: 'OC', answerOption: [{ valueCoding: { system: 'urn:c', code: 'y', display: 'Y' } }] },
        { linkId: 's', type: 'string', text: 'S' },
        { linkId: 'i', type: 'integer', text: 'I' },
        { linkId: 'd', type: 'decimal', text: 'D' },
        { linkId: 'q', type: 'quantity', text: 'Q', extension: [unit('kg', 'kilograms')] },
        { linkId: 'dt', type: 'date', text: 'DT' },
        { linkId: 'ro', type: 'string', text: 'Read only', readOnly: true, initial: [{ valueString: 'From the practice' }] },
      ],
    },
    { linkId: 'empty-group', type: 'group', text: 'Nothing answered here', item: [{ linkId: 'e1', type: 'string', text: 'E1' }] },
  ]),
);

test('the response mirrors groups, types every answer, names the version, and leaves out display items and empty groups', () => {
  const answers = new Map<string, AnswerValue[]>([
    ['b', [{ type: 'boolean', value: true }]],
    ['c', [{ type: 'coding', value: { system: 'urn:c', code: 'x', display: 'X' } }]],
    ['oc', [{ type: 'string', value: 'Something else' }]],
    ['s', [{ type: 'string', value: 'Hello' }]],
    ['i', [{ type: 'integer', value: 3 }]],
    ['d', [{ type: 'decimal', value: 2.5 }]],
    ['q', [{ type: 'quantity', value: 70 }]],
    ['dt', [{ type: 'date', value: '2024-02-29' }]],
    ['ro', [{ type: 'string', value: 'Typed by the browser' }]],
  ]);
  const response = buildResponse(everyType, answers, { status: 'completed', subject: nhsNumberSubject('9990000018'), authored, id: 'r1' });
  assert.deepEqual(response, {
    resourceType: 'QuestionnaireResponse',
    id: 'r1',
    questionnaire: 'https://example.org/Questionnaire/test|1',
    status: 'completed',
    subject: { identifier: { system: 'https://fhir.nhs.uk/Id/nhs-number', value: '9990000018' } },
    authored: '2026-03-01T10:00:00.000Z',
    item: [
      {
        linkId: 'g',
        text: 'About you',
        item: [
          { linkId: 'b', text: 'B', answer: [{ valueBoolean: true }] },
          { linkId: 'c', text: 'C', answer: [{ valueCoding: { system: 'urn:c', code: 'x', display: 'X' } }] },
          { linkId: 'oc', text: 'OC', answer: [{ valueString: 'Something else' }] },
          { linkId: 's', text: 'S', answer: [{ valueString: 'Hello' }] },
          { linkId: 'i', text: 'I', answer: [{ valueInteger: 3 }] },
          { linkId: 'd', text: 'D', answer: [{ valueDecimal: 2.5 }] },
          { linkId: 'q', text: 'Q', answer: [{ valueQuantity: { value: 70, unit: 'kg', system: 'http://unitsofmeasure.org', code: 'kg' } }] },
          { linkId: 'dt', text: 'DT', answer: [{ valueDate: '2024-02-29' }] },
          { linkId: 'ro', text: 'Read only', answer: [{ valueString: 'From the practice' }] },
        ],
      },
    ],
  } satisfies QuestionnaireResponse);
});

test('PHQ-9-like: the total is the sum of the ordinal values, computed on the server', () => {
  const mood = load(moodScore);
  const pick = (scores: number[]) =>
    new Map<string, AnswerValue[]>([
      ...scores.map((score, i) => [`q${i + 1}`, [mood.byLinkId.get(`q${i + 1}`)!.options[score]!.value]] as [string, AnswerValue[]]),
      ['total', [{ type: 'integer', value: 0 }]],
    ]);
  const total = (response: QuestionnaireResponse) => flatten(response.item).get('total')?.answer;
  assert.deepEqual(total(buildResponse(mood, pick([3, 3, 3, 3, 3, 3, 3, 3, 3]), { status: 'completed', authored })), [{ valueInteger: 27 }]);
  assert.deepEqual(total(buildResponse(mood, pick([0, 1, 2, 3, 0, 1, 2, 3, 1]), { status: 'completed', authored })), [{ valueInteger: 13 }]);
  // fhirpath.js gives no value for sum() of nothing, so no total until something is answered.
  assert.equal(total(buildResponse(mood, new Map(), { status: 'in-progress', authored })), undefined);
  assert.deepEqual(total(buildResponse(mood, new Map([['q1', [mood.byLinkId.get('q1')!.options[2]!.value]]]), { status: 'in-progress', authored })), [{ valueInteger: 2 }]);
});

test('property: the PHQ-9-like total always equals the sum of the chosen scores, whatever the browser sent', () => {
  const mood = load(moodScore);
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 9, maxLength: 9 }), fc.integer(), (scores, forged) => {
      const answers = new Map<string, AnswerValue[]>(scores.map((s, i) => [`q${i + 1}`, [mood.byLinkId.get(`q${i + 1}`)!.options[s]!.value]]));
      answers.set('total', [{ type: 'integer', value: forged }]);
      const response = buildResponse(mood, answers, { status: 'completed', authored });
      assert.deepEqual(flatten(response.item).get('total')?.answer, [{ valueInteger: scores.reduce((a, b) => a + b, 0) }]);
    }),
    { numRuns: 200 },
  );
});

test('BMI: calculated from weight and height through variables, rounded to maxDecimalPlaces; absent until both are answered', () => {
  const bmi = load(bodyMassIndex);
  const answers = new Map<string, AnswerValue[]>([
    ['weight', [{ type: 'quantity', value: 72.5 }]],
    ['height', [{ type: 'quantity', value: 180 }]],
  ]);
  const items = flatten(buildResponse(bmi, answers, { status: 'completed', authored }).item);
  assert.deepEqual(items.get('bmi')?.answer, [{ valueDecimal: 22.4 }]);
  const weightOnly = flatten(buildResponse(bmi, new Map([['weight', answers.get('weight')!]]), { status: 'in-progress', authored }).item);
  assert.equal(weightOnly.has('bmi'), false);
});

test('property: BMI is weight / height² rounded to one place, never the browser\'s value', () => {
  const bmi = load(bodyMassIndex);
  fc.assert(
    fc.property(fc.integer({ min: 300, max: 3000 }), fc.integer({ min: 100, max: 250 }), fc.double({ noNaN: true }), (weightTenths, height, forged) => {
      const weight = weightTenths / 10;
      const answers = new Map<string, AnswerValue[]>([
        ['weight', [{ type: 'quantity', value: weight }]],
        ['height', [{ type: 'quantity', value: height }]],
        ['bmi', [{ type: 'decimal', value: forged }]],
      ]);
      const value = flatten(buildResponse(bmi, answers, { status: 'completed', authored }).item).get('bmi')!.answer![0]!.valueDecimal as number;
      const expected = weight / ((height / 100) * (height / 100));
      assert.ok(Math.abs(value - expected) <= 0.05 + 1e-9, `${value} vs ${expected}`);
      assert.equal(Number(value.toFixed(1)), value);
    }),
    { numRuns: 200 },
  );
});

const branching = load(
  questionnaire([
    { linkId: 'smokes', type: 'boolean', text: 'Do you smoke?' },
    {
      linkId: 'smoking',
      type: 'group',
      text: 'Smoking',
      enableWhen: [{ question: 'smokes', operator: '=', answerBoolean: true }],
      item: [
        { linkId: 'per-day', type: 'integer', text: 'How many a day?' },
        { linkId: 'quit', type: 'boolean', text: 'Would you like help to stop?', enableWhen: [{ question: 'per-day', operator: '>', answerInteger: 0 }] },
      ],
    },
    { linkId: 'ex', type: 'boolean', text: 'Did you used to smoke?', enableWhen: [{ question: 'smokes', operator: '=', answerBoolean: false }] },
    { linkId: 'units', type: 'integer', text: 'Units of alcohol a week' },
    { linkId: 'heavy', type: 'boolean', text: 'Heavy drinker (calculated)', readOnly: true, extension: [calculated("%resource.item.where(linkId='units').answer.value > 14")] },
    { linkId: 'advice', type: 'string', text: 'Would you like advice?', enableWhen: [{ question: 'heavy', operator: '=', answerBoolean: true }] },
  ]),
);

test('answers to items that are no longer enabled are removed; a calculated value can enable a question', () => {
  const changedMind = new Map<string, AnswerValue[]>([
    ['smokes', [{ type: 'boolean', value: false }]],
    ['per-day', [{ type: 'integer', value: 20 }]],
    ['quit', [{ type: 'boolean', value: true }]],
    ['ex', [{ type: 'boolean', value: true }]],
    ['units', [{ type: 'integer', value: 20 }]],
    ['advice', [{ type: 'string', value: 'Yes please' }]],
  ]);
  const items = flatten(buildResponse(branching, changedMind, { status: 'completed', authored }).item);
  assert.deepEqual([...items.keys()], ['smokes', 'ex', 'units', 'heavy', 'advice']);
  assert.deepEqual(items.get('heavy')?.answer, [{ valueBoolean: true }]);
  const light = flatten(buildResponse(branching, new Map([...changedMind, ['units', [{ type: 'integer', value: 3 }]]]), { status: 'completed', authored }).item);
  assert.deepEqual(light.get('heavy')?.answer, [{ valueBoolean: false }]);
  assert.equal(light.has('advice'), false, 'advice is disabled by the calculated value, so its answer goes');
});

test('property: the response holds an answer exactly for the enabled items the patient (or the server) answered', () => {
  const maybe = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });
  fc.assert(
    fc.property(
      fc.record({ smokes: maybe(fc.boolean()), 'per-day': maybe(fc.integer({ min: 0, max: 40 })), quit: maybe(fc.boolean()), ex: maybe(fc.boolean()), units: maybe(fc.integer({ min: 0, max: 40 })), advice: maybe(fc.string({ minLength: 1 })) }),
      (given) => {
        const answers = new Map<string, AnswerValue[]>();
        for (const [linkId, value] of Object.entries(given)) {
          if (value === undefined) continue;
          const type = typeof value === 'boolean' ? 'boolean' : typeof value === 'number' ? 'integer' : 'string';
          answers.set(linkId, [{ type, value } as AnswerValue]);
        }
        const response = buildResponse(branching, answers, { status: 'completed', authored });
        const items = flatten(response.item);
        const resolved = resolveAnswers(branching, answers);
        const enabled = enabledItems(branching, resolved.answers);
        for (const linkId of branching.order) {
          const item = branching.byLinkId.get(linkId)!;
          if (item.type === 'group') continue;
          const expected = enabled.has(linkId) && (item.calculatedExpression ? given.units !== undefined : answers.has(linkId));
          assert.equal(items.get(linkId)?.answer !== undefined, expected, linkId);
        }
        if (items.has('advice')) assert.equal(items.get('heavy')?.answer?.[0]?.valueBoolean, true);
        if (items.has('per-day')) assert.equal(given.smokes, true);
      },
    ),
    { numRuns: 300 },
  );
});

test('a calculation that fails at run time leaves its item unanswered and is reported, never thrown', () => {
  const definition = load(
    questionnaire(
      [
        { linkId: 'a', type: 'string', text: 'A' },
        { linkId: 'n', type: 'integer', text: 'N', readOnly: true, extension: [calculated("%resource.item.where(linkId='a').answer.value.toInteger() / 2")] },
        { linkId: 'item-variable', type: 'decimal', text: 'With an item variable', readOnly: true, extension: [variable('twice', '2 * 2'), calculated('%twice + %root')] },
      ],
      { extension: [variable('root', '1')] },
    ),
  );
  const resolved = resolveAnswers(definition, new Map([['a', [{ type: 'string', value: '3' }]]]));
  assert.deepEqual(resolved.failures, [{ linkId: 'n', message: 'calculatedExpression gave 1.5, not a whole number' }]);
  assert.equal(resolved.answers.has('n'), false);
  assert.deepEqual(resolved.answers.get('item-variable'), [{ type: 'decimal', value: 5 }]);
});
