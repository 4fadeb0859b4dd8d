// enableWhen with FHIR R4 semantics, by example and by property (fast-check).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { AnswerValue, EnableWhenCondition } from './definition.ts';
import { conditionHolds, enabledItems, isEnabled } from './enable-when.ts';
import { load, questionnaire } from '../../../test/helpers/questionnaires.ts';

const red = { system: 'urn:colour', code: 'red', display: 'Red' };
const blue = { system: 'urn:colour', code: 'blue', display: 'Blue' };

const definition = load(
  questionnaire([
    { linkId: 'smokes', type: 'boolean', text: 'Do you smoke?' },
    { linkId: 'age', type: 'integer', text: 'Age' },
    { linkId: 'colour', type: 'choice', text: 'Colour', repeats: true, answerOption: [{ valueCoding: red }, { valueCoding: blue }] },
    { linkId: 'seen', type: 'date', text: 'Seen' },
    {
      linkId: 'smoking',
      type: 'group',
      text: 'Smoking',
      enableWhen: [{ question: 'smokes', operator: '=', answerBoolean: true }],
      item: [
        { linkId: 'per-day', type: 'integer', text: 'How many a day?' },
        { linkId: 'heavy', type: 'string', text: 'Heavy smoker', enableWhen: [{ question: 'per-day', operator: '>=', answerInteger: 20 }] },
        { linkId: 'always', type: 'string', text: 'No conditions of its own' },
      ],
    },
    { linkId: 'ne-red', type: 'display', text: 'x', enableWhen: [{ question: 'colour', operator: '!=', answerCoding: { system: 'urn:colour', code: 'red' } }] },
    { linkId: 'eq-red', type: 'display', text: 'x', enableWhen: [{ question: 'colour', operator: '=', answerCoding: { system: 'urn:colour', code: 'red' } }] },
    { linkId: 'no-age', type: 'display', text: 'x', enableWhen: [{ question: 'age', operator: 'exists', answerBoolean: false }] },
    { linkId: 'adult', type: 'display', text: 'x', enableWhen: [{ question: 'age', operator: '>', answerInteger: 17 }] },
    { linkId: 'child', type: 'display', text: 'x', enableWhen: [{ question: 'age', operator: '<', answerInteger: 18 }] },
    { linkId: 'up-to-2020', type: 'display', text: 'x', enableWhen: [{ question: 'seen', operator: '<=', answerDate: '2020-01-01' }] },
    {
      linkId: 'any',
      type: 'display',
      text: 'x',
      enableBehavior: 'any',
      enableWhen: [
        { question: 'smokes', operator: '=', answerBoolean: true },
        { question: 'age', operator: '>=', answerInteger: 65 },
      ],
    },
    {
      linkId: 'all',
      type: 'display',
      text: 'x',
      enableBehavior: 'all',
      enableWhen: [
        { question: 'smokes', operator: '=', answerBoolean: true },
        { question: 'age', operator: '>=', answerInteger: 65 },
      ],
    },
    // Depends on a question inside a group that may be disabled.
    { linkId: 'heavy-note', type: 'display', text: 'x', enableWhen: [{ question: 'per-day', operator: 'exists', answerBoolean: true }] },
  ]),
);

const bool = (value: boolean): AnswerValue => ({ type: 'boolean', value });
const int = (value: number): AnswerValue => ({ type: 'integer', value });
const coding = (value: typeof red): AnswerValue => ({ type: 'coding', value });
const answers = (entries: Record<string, AnswerValue[]>) => new Map(Object.entries(entries));

test('not answered: "exists false" is true, "=" and ordered operators are false, "!=" is true (no answer is equal)', () => {
  const enabled = enabledItems(definition, new Map());
  assert.equal(enabled.has('no-age'), true);
  assert.equal(enabled.has('adult'), false);
  assert.equal(enabled.has('child'), false);
  assert.equal(enabled.has('eq-red'), false);
  assert.equal(enabled.has('ne-red'), true);
  assert.equal(enabled.has('up-to-2020'), false);
});

test('codings are equal by system and code (display does not matter); several answers: any one matching', () => {
  const justRed = answers({ colour: [coding({ ...red, display: 'Rouge' })] });
  assert.equal(isEnabled(definition, justRed, 'eq-red'), true);
  assert.equal(isEnabled(definition, justRed, 'ne-red'), false);
  const otherSystem = answers({ colour: [coding({ system: 'urn:paint', code: 'red', display: 'Red' })] });
  assert.equal(isEnabled(definition, otherSystem, 'eq-red'), false);
  const both = answers({ colour: [coding(blue), coding(red)] });
  assert.equal(isEnabled(definition, both, 'eq-red'), true);
  assert.equal(isEnabled(definition, both, 'ne-red'), false, '"!=" needs no answer to be equal');
  assert.equal(isEnabled(definition, answers({ colour: [coding(blue)] }), 'ne-red'), true);
});

test('ordered operators on integers and dates; enableBehavior any and all', () => {
  assert.equal(isEnabled(definition, answers({ age: [int(18)] }), 'adult'), true);
  assert.equal(isEnabled(definition, answers({ age: [int(17)] }), 'adult'), false);
  assert.equal(isEnabled(definition, answers({ age: [int(17)] }), 'child'), true);
  assert.equal(isEnabled(definition, answers({ seen: [{ type: 'date', value: '2020-01-01' }] }), 'up-to-2020'), true);
  assert.equal(isEnabled(definition, answers({ seen: [{ type: 'date', value: '2020-01-02' }] }), 'up-to-2020'), false);
  assert.equal(isEnabled(definition, answers({ age: [int(70)] }), 'any'), true);
  assert.equal(isEnabled(definition, answers({ age: [int(70)] }), 'all'), false);
  assert.equal(isEnabled(definition, answers({ age: [int(70)], smokes: [bool(true)] }), 'all'), true);
});

test('children of a disabled group are disabled, and a disabled question counts as not answered', () => {
  const stale = answers({ smokes: [bool(false)], 'per-day': [int(30)] });
  const enabled = enabledItems(definition, stale);
  for (const linkId of ['smoking', 'per-day', 'heavy', 'always']) assert.equal(enabled.has(linkId), false, linkId);
  assert.equal(enabled.has('heavy-note'), false, 'per-day is disabled, so its old answer does not exist');
  const smoker = enabledItems(definition, answers({ smokes: [bool(true)], 'per-day': [int(30)] }));
  for (const linkId of ['smoking', 'per-day', 'heavy', 'always', 'heavy-note']) assert.equal(smoker.has(linkId), true, linkId);
});

const numberAnswers = fc.array(fc.integer({ min: -50, max: 50 }).map(int), { maxLength: 4 });

test('property: "!=" is exactly "not =", and "exists" is exactly "has an answer"', () => {
  fc.assert(
    fc.property(numberAnswers, fc.integer({ min: -50, max: 50 }), (given, expected) => {
      const equal: EnableWhenCondition = { question: 'age', operator: '=', answer: int(expected) };
      const notEqual: EnableWhenCondition = { question: 'age', operator: '!=', answer: int(expected) };
      assert.equal(conditionHolds(notEqual, given), !conditionHolds(equal, given));
      assert.equal(conditionHolds({ question: 'age', operator: 'exists', exists: true }, given), given.length > 0);
      assert.equal(conditionHolds({ question: 'age', operator: 'exists', exists: false }, given), given.length === 0);
    }),
  );
});

test('property: ordered operators agree with comparing the numbers, for at least one answer', () => {
  const compare = { '>': (a: number, b: number) => a > b, '<': (a: number, b: number) => a < b, '>=': (a: number, b: number) => a >= b, '<=': (a: number, b: number) => a <= b } as const;
  fc.assert(
    fc.property(numberAnswers, fc.integer({ min: -50, max: 50 }), fc.constantFrom('>', '<', '>=', '<=') as fc.Arbitrary<keyof typeof compare>, (given, expected, operator) => {
      const holds = conditionHolds({ question: 'age', operator, answer: { type: 'decimal', value: expected } }, given);
      assert.equal(holds, given.some((a) => compare[operator](a.value as number, expected)));
    }),
  );
});

test('property: an item under a disabled item is never enabled; an item with no conditions follows its parent', () => {
  const anyAnswers = fc.record(
    {
      smokes: fc.array(fc.boolean().map(bool), { maxLength: 1 }),
      age: fc.array(fc.integer({ min: 0, max: 120 }).map(int), { maxLength: 1 }),
      'per-day': fc.array(fc.integer({ min: 0, max: 60 }).map(int), { maxLength: 1 }),
      colour: fc.subarray([coding(red), coding(blue)]),
    },
    { requiredKeys: [] },
  );
  fc.assert(
    fc.property(anyAnswers, (given) => {
      const enabled = enabledItems(definition, new Map(Object.entries(given)));
      for (const item of definition.byLinkId.values()) {
        if (item.parentLinkId && !enabled.has(item.parentLinkId)) assert.equal(enabled.has(item.linkId), false, item.linkId);
        if (item.parentLinkId && item.enableWhen.length === 0) assert.equal(enabled.has(item.linkId), enabled.has(item.parentLinkId), item.linkId);
      }
      assert.equal(enabled.has('smoking'), (given.smokes ?? []).some((a) => a.value === true));
    }),
  );
});
