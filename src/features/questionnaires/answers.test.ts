// Answers from posted forms: every type, every rule, and the words patients see.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { OTHER_OPTION, type QuestionnaireItem } from './definition.ts';
import { answersFromJson, answersToJson, checkAnswers, firstUnanswered, parseAnswer, validateAnswers, type FormInput } from './answers.ts';
import { bodyMassIndex, load, maxValue, minValue, questionnaire, shortText, unit } from '../../../test/helpers/questionnaires.ts';

const CORE = 'http://hl7.org/fhir/StructureDefinition/';
const SDC = 'http://hl7.org/fhir/uv/sdc/StructureDefinition/';

const definition = load(
  questionnaire([
    { linkId: 'smokes', type: 'boolean', text: 'Do you smoke?', required: true },
    { linkId: 'age', type: 'integer', text: 'How old are you?', required: true, extension: [minValue({ valueInteger: 16 }), maxValue({ valueInteger: 120 }), shortText('your age')] },
    { linkId: 'count', type: 'integer', text: 'How many?' },
    { linkId: 'temp', type: 'decimal', text: 'Temperature', extension: [{ url: `${CORE}maxDecimalPlaces`, valueInteger: 1 }, minValue({ valueDecimal: 30 }), shortText('your temperature')] },
    { linkId: 'free', type: 'decimal', text: 'A number' },
    { linkId: 'weight', type: 'quantity', text: 'What is your weight?', required: true, extension: [unit('kg', 'kilograms'), minValue({ valueDecimal: 30 }), maxValue({ valueDecimal: 300 }), shortText('your weight')] },
    { linkId: 'name', type: 'string', text: 'Name', required: true, maxLength: 10, extension: [{ url: `${CORE}minLength`, valueInteger: 2 }, shortText('your name')] },
    { linkId: 'notes', type: 'text', text: 'Anything else?', maxLength: 20 },
    { linkId: 'period', type: 'date', text: 'When did your last period start?', required: true, extension: [shortText('date of your last period'), minValue({ valueDate: '2020-01-01' }), maxValue({ valueDate: '2030-12-31' })] },
    { linkId: 'any-date', type: 'date', text: 'A date' },
    {
      linkId: 'colour',
      type: 'choice',
      text: 'Colour',
      required: true,
      answerOption: [{ valueCoding: { system: 'urn:c', code: 'red', display: 'Red' } }, { valueCoding: { system: 'urn:c', code: 'blue', display: 'Blue' } }],
    },
    {
      linkId: 'symptoms',
      type: 'choice',
      text: 'Which symptoms do you have?',
      repeats: true,
      required: true,
      extension: [shortText('your symptoms'), { url: `${CORE}questionnaire-maxOccurs`, valueInteger: 2 }],
      answerOption: [
        { valueCoding: { code: 'cough', display: 'Cough' } },
        { valueCoding: { code: 'fever', display: 'Fever' } },
        { valueCoding: { code: 'rash', display: 'Rash' } },
        { valueCoding: { code: 'none', display: 'None of these' }, extension: [{ url: `${SDC}sdc-questionnaire-optionExclusive`, valueBoolean: true }] },
      ],
    },
    { linkId: 'pet', type: 'open-choice', text: 'Pet', required: true, answerOption: [{ valueString: 'Cat' }, { valueString: 'Dog' }], maxLength: 12 },
    { linkId: 'later', type: 'string', text: 'Later', required: true, enableWhen: [{ question: 'smokes', operator: '=', answerBoolean: true }] },
  ]),
);
const item = (linkId: string): QuestionnaireItem => definition.byLinkId.get(linkId)!;

function ok(linkId: string, input: FormInput) {
  const parsed = parseAnswer(item(linkId), input);
  assert.ok(parsed.ok, parsed.ok ? '' : parsed.error.message);
  return parsed.answers;
}
function error(linkId: string, input: FormInput) {
  const parsed = parseAnswer(item(linkId), input);
  assert.equal(parsed.ok, false, `expected an error for ${JSON.stringify(input)}`);
  return parsed.ok ? undefined : parsed.error;
}

test('boolean: yes or no', () => {
  assert.deepEqual(ok('smokes', { value: 'true' }), [{ type: 'boolean', value: true }]);
  assert.deepEqual(ok('smokes', { value: 'false' }), [{ type: 'boolean', value: false }]);
  assert.equal(error('smokes', {})?.message, 'Select yes or no');
  assert.equal(error('smokes', { value: 'maybe' })?.message, 'Select yes or no');
});

test('integer: whole numbers, with commas and spaces allowed; range and words', () => {
  assert.deepEqual(ok('age', { value: ' 42 ' }), [{ type: 'integer', value: 42 }]);
  assert.deepEqual(ok('count', { value: '1,000' }), [{ type: 'integer', value: 1000 }]);
  assert.deepEqual(ok('count', {}), []);
  assert.equal(error('count', { value: '12.5' })?.message, 'Enter a whole number');
  assert.equal(error('count', { value: 'twelve' })?.message, 'Enter a whole number');
  assert.equal(error('count', { value: '99999999999' })?.message, 'The answer must be a smaller number');
  assert.equal(error('age', { value: '' })?.message, 'Enter your age');
  assert.equal(error('age', { value: 'ten' })?.message, 'Your age must be a whole number');
  assert.equal(error('age', { value: '15' })?.message, 'Your age must be between 16 and 120');
  assert.equal(error('age', { value: '121' })?.message, 'Your age must be between 16 and 120');
});

test('decimal: decimal places and range', () => {
  assert.deepEqual(ok('temp', { value: '37.5' }), [{ type: 'decimal', value: 37.5 }]);
  assert.deepEqual(ok('temp', { value: '37.50' }), [{ type: 'decimal', value: 37.5 }], 'trailing zeros are not extra places');
  assert.equal(error('temp', { value: '37.55' })?.message, 'Your temperature must have no more than 1 decimal place');
  assert.equal(error('temp', { value: '29' })?.message, 'Your temperature must be 30 or more');
  assert.equal(error('free', { value: 'abc' })?.message, 'Enter a number');
  assert.deepEqual(ok('free', { value: '.5' }), [{ type: 'decimal', value: 0.5 }]);
});

test('quantity: the unit comes from the question', () => {
  assert.deepEqual(ok('weight', { value: '72.5' }), [{ type: 'quantity', value: 72.5 }]);
  assert.equal(error('weight', { value: '' })?.message, 'Enter your weight in kilograms');
  assert.equal(error('weight', { value: '3000' })?.message, 'Your weight must be between 30 and 300 kilograms');
  assert.equal(error('weight', { value: '12kg' })?.message, 'Your weight must be a number');
});

test('string and text: trimmed, line endings made plain, length limits', () => {
  assert.deepEqual(ok('name', { value: '  Jo   Bloggs ' }), [{ type: 'string', value: 'Jo Bloggs' }]);
  assert.equal(error('name', { value: '' })?.message, 'Enter your name');
  assert.equal(error('name', { value: 'J' })?.message, 'Your name must be 2 characters or more');
  assert.equal(error('name', { value: 'Jo Bloggs-Smith' })?.message, 'Your name must be 10 characters or fewer');
  assert.deepEqual(ok('notes', { value: 'line one\r\nline two' }), [{ type: 'string', value: 'line one\nline two' }]);
  assert.equal(error('notes', { value: 'x'.repeat(21) })?.message, 'The answer must be 20 characters or fewer');
  assert.deepEqual(ok('notes', { value: '😀'.repeat(20) }), [{ type: 'string', value: '😀'.repeat(20) }], 'characters, not UTF-16 units');
});

test('date: day, month and year, as the NHS date input posts them', () => {
  assert.deepEqual(ok('period', { day: '3', month: '4', year: '2024' }), [{ type: 'date', value: '2024-04-03' }]);
  assert.deepEqual(ok('period', { day: '3', month: 'Apr', year: '2024' }), [{ type: 'date', value: '2024-04-03' }]);
  assert.deepEqual(error('period', {}), { linkId: 'period', field: 'day', message: 'Enter date of your last period' });
  assert.deepEqual(error('period', { day: '3', year: '2024' }), { linkId: 'period', field: 'month', message: 'Date of your last period must include a month' });
  assert.equal(error('period', { year: '2024' })?.message, 'Date of your last period must include a day and month');
  assert.deepEqual(error('period', { day: '31', month: '2', year: '2024' }), { linkId: 'period', field: 'day', message: 'Date of your last period must be a real date' });
  assert.equal(error('period', { day: '1', month: '13', year: '2024' })?.message, 'Date of your last period must be a real date');
  assert.deepEqual(error('period', { day: '1', month: '1', year: '24' }), { linkId: 'period', field: 'year', message: 'Year must include 4 numbers' });
  assert.equal(error('period', { day: '31', month: '12', year: '2019' })?.message, 'Date of your last period must be the same as or after 1 January 2020');
  assert.equal(error('period', { day: '1', month: '1', year: '2031' })?.message, 'Date of your last period must be the same as or before 31 December 2030');
  assert.equal(error('any-date', { day: 'x', month: '1', year: '2020' })?.message, 'The date must be a real date');
  assert.deepEqual(ok('any-date', {}), []);
});

test('choice: radios take one code; checkboxes take several; an exclusive option stands alone', () => {
  assert.deepEqual(ok('colour', { value: 'blue' }), [{ type: 'coding', value: { system: 'urn:c', code: 'blue', display: 'Blue' } }]);
  assert.equal(error('colour', {})?.message, 'Select an answer');
  assert.equal(error('colour', { value: 'green' })?.message, 'Select an answer from the list');
  assert.deepEqual(
    ok('symptoms', { value: ['cough', 'fever', 'cough'] }).map((a) => (a.type === 'coding' ? a.value.code : '')),
    ['cough', 'fever'],
  );
  assert.equal(error('symptoms', {})?.message, 'Select your symptoms');
  assert.equal(error('symptoms', { value: ['cough', 'none'] })?.message, 'Select "None of these" or the other answers, not both');
  assert.deepEqual(ok('symptoms', { value: 'none' }).length, 1);
  assert.equal(error('symptoms', { value: ['cough', 'fever', 'rash'] })?.message, 'Select no more than 2 answers');
});

test('open-choice: an option, or "Other" with its text (typing in the box is choosing it)', () => {
  assert.deepEqual(ok('pet', { value: 'Cat' }), [{ type: 'string', value: 'Cat' }]);
  assert.deepEqual(ok('pet', { value: OTHER_OPTION, other: 'Hamster' }), [{ type: 'string', value: 'Hamster' }]);
  assert.deepEqual(ok('pet', { other: 'Hamster' }), [{ type: 'string', value: 'Hamster' }]);
  assert.deepEqual(error('pet', { value: OTHER_OPTION }), { linkId: 'pet', field: 'other', message: 'Enter your answer for "Other"' });
  assert.equal(error('pet', { value: OTHER_OPTION, other: 'A very long pet name' })?.field, 'other');
  assert.equal(error('pet', {})?.message, 'Select an answer');
});

test('validateAnswers checks enabled questions only; firstUnanswered is where a patient carries on', () => {
  const some = new Map([['smokes', [{ type: 'boolean' as const, value: false }]]]);
  const errors = validateAnswers(definition, some);
  assert.ok(errors.some((e) => e.linkId === 'age'));
  assert.equal(errors.some((e) => e.linkId === 'later'), false, 'later is not enabled');
  assert.equal(firstUnanswered(definition, some)?.linkId, 'age');
  const smoker = new Map([['smokes', [{ type: 'boolean' as const, value: true }]]]);
  assert.ok(validateAnswers(definition, smoker).some((e) => e.linkId === 'later'));
});

test('answers kept as JSON come back only when they still fit the definition', () => {
  const answers = new Map([
    ['age', [{ type: 'integer' as const, value: 40 }]],
    ['colour', [{ type: 'coding' as const, value: { code: 'red', system: 'urn:c', display: 'Red' } }]],
  ]);
  const json = JSON.parse(JSON.stringify(answersToJson(answers)));
  assert.deepEqual(answersFromJson(definition, json), answers);
  const tampered = { ...json, age: [{ type: 'integer', value: 500 }], colour: [{ type: 'coding', value: { code: 'green' } }], nowhere: [{ type: 'string', value: 'x' }] };
  assert.deepEqual(answersFromJson(definition, tampered), new Map());
  assert.deepEqual(answersFromJson(definition, 'not json'), new Map());
  assert.deepEqual(answersFromJson(definition, { __proto__: [{ type: 'string', value: 'x' }] }), new Map());
});

test('property: any in-range decimal with allowed places parses to itself; out of range is refused with the range message', () => {
  const bmi = load(bodyMassIndex);
  const weight = bmi.byLinkId.get('weight')!;
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 5000 }), fc.integer({ min: 0, max: 9 }), (whole, tenth) => {
      const text = `${whole}.${tenth}`;
      const value = Number(text);
      const parsed = parseAnswer(weight, { value: text });
      if (value >= 30 && value <= 300) assert.deepEqual(parsed, { ok: true, answers: [{ type: 'quantity', value }] });
      else assert.deepEqual(parsed, { ok: false, error: { linkId: 'weight', field: 'value', message: 'Your weight must be between 30 and 300 kilograms' } });
    }),
  );
});

test('property: any form input at all gives answers that pass the question\'s own checks, or an error; never a throw', () => {
  const input = fc.dictionary(fc.constantFrom('value', 'other', 'day', 'month', 'year', 'junk'), fc.oneof(fc.string(), fc.array(fc.string(), { maxLength: 4 })));
  fc.assert(
    fc.property(fc.constantFrom(...definition.byLinkId.keys()), input, (linkId, form) => {
      const question = item(linkId);
      const parsed = parseAnswer(question, form);
      if (parsed.ok) assert.equal(checkAnswers(question, parsed.answers), undefined);
      else assert.ok(parsed.error.message.length > 0 && parsed.error.linkId === linkId);
    }),
    { numRuns: 2000 },
  );
});

test('property: real dates round-trip through the date input', () => {
  const anyDate = definition.byLinkId.get('any-date')!;
  fc.assert(
    fc.property(fc.date({ min: new Date('1900-01-01T00:00:00Z'), max: new Date('2100-12-31T00:00:00Z'), noInvalidDate: true }), (date) => {
      const iso = date.toISOString().slice(0, 10);
      const [year, month, day] = iso.split('-');
      assert.deepEqual(parseAnswer(anyDate, { day: String(Number(day)), month: month!, year: year! }), { ok: true, answers: [{ type: 'date', value: iso }] });
    }),
  );
});

test('a required group needs at least one of its questions answered', () => {
  const grouped = load(
    questionnaire([
      { linkId: 'reading', type: 'group', text: 'First reading', required: true, item: [{ linkId: 'sys', type: 'integer', text: 'Systolic' }, { linkId: 'dia', type: 'integer', text: 'Diastolic' }] },
    ]),
  );
  assert.deepEqual(validateAnswers(grouped, new Map()), [{ linkId: 'sys', field: 'value', message: 'Answer at least one question in "First reading"' }]);
  assert.deepEqual(validateAnswers(grouped, new Map([['dia', [{ type: 'integer' as const, value: 80 }]]])), []);
});
