// Loading FHIR R4 Questionnaires: everything supported loads; everything else is refused, with every
// reason at once, each naming the item's linkId.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadQuestionnaire, type Problem } from './definition.ts';
import { BEHAVIOUR, HINTS } from './supported.ts';
import { resolveAnswers } from './calculations.ts';
import { bodyMassIndex, calculated, itemControl, load, minValue, maxValue, moodScore, ordinal, questionnaire, unit, variable } from '../../../test/helpers/questionnaires.ts';

const SDC = 'http://hl7.org/fhir/uv/sdc/StructureDefinition/';
const CORE = 'http://hl7.org/fhir/StructureDefinition/';

function refused(json: unknown): Problem[] {
  const result = loadQuestionnaire(json);
  assert.equal(result.ok, false, 'expected the questionnaire to be refused');
  return result.ok ? [] : result.problems;
}

const hasProblem = (problems: Problem[], linkId: string, pattern: RegExp) =>
  assert.ok(problems.some((p) => p.linkId === linkId && pattern.test(p.message)), `no problem on ${linkId} matching ${pattern}: ${JSON.stringify(problems)}`);

/** One item of every supported type, with every supported rule. */
const everyType = questionnaire(
  [
    { linkId: 'intro', type: 'display', text: 'About you', extension: [{ url: `${CORE}rendering-xhtml`, valueString: '<p>About you</p>' }] },
    {
      linkId: 'about',
      type: 'group',
      text: 'About you',
      item: [
        { linkId: 'smokes', type: 'boolean', text: 'Do you smoke?', required: true },
        {
          linkId: 'colour',
          type: 'choice',
          text: 'Favourite colour',
          answerOption: [{ valueCoding: { system: 'urn:colour', code: 'red', display: 'Red' } }, { valueCoding: { system: 'urn:colour', code: 'blue', display: 'Blue' }, initialSelected: true }],
          extension: [itemControl('drop-down')],
        },
        {
          linkId: 'symptoms',
          type: 'choice',
          repeats: true,
          text: 'Which symptoms?',
          answerValueSet: '#symptoms',
          extension: [{ url: `${CORE}questionnaire-maxOccurs`, valueInteger: 2 }],
        },
        { linkId: 'pets', type: 'open-choice', text: 'Pets', answerOption: [{ valueString: 'Cat' }, { valueString: 'Dog' }], item: [{ linkId: 'pets-help', type: 'display', text: 'Any pet', extension: [itemControl('flyover')] }] },
        { linkId: 'count', type: 'choice', text: 'How many?', answerOption: [{ valueInteger: 1 }, { valueInteger: 2 }] },
        { linkId: 'name', type: 'string', text: 'Name', maxLength: 40, extension: [{ url: `${CORE}minLength`, valueInteger: 2 }, { url: `${CORE}entryFormat`, valueString: 'Jo Bloggs' }] },
        { linkId: 'notes', type: 'text', text: 'Anything else?', readOnly: false, initial: [{ valueString: 'None' }] },
        { linkId: 'age', type: 'integer', text: 'Age', extension: [minValue({ valueInteger: 0 }), maxValue({ valueInteger: 130 })] },
        { linkId: 'temp', type: 'decimal', text: 'Temperature', extension: [{ url: `${CORE}maxDecimalPlaces`, valueInteger: 1 }, unit('Cel', 'degrees Celsius')] },
        { linkId: 'weight', type: 'quantity', text: 'Weight', extension: [unit('kg', 'kilograms'), { url: `${SDC}sdc-questionnaire-minQuantity`, valueQuantity: { value: 1, code: 'kg' } }] },
        { linkId: 'seen', type: 'date', text: 'Date seen', extension: [minValue({ valueDate: '2000-01-01' }), maxValue({ valueDate: '2030-12-31' }), { url: `${CORE}questionnaire-hidden`, valueBoolean: false }] },
        { linkId: 'secret', type: 'string', text: 'Hidden', extension: [{ url: `${CORE}questionnaire-hidden`, valueBoolean: true }] },
      ],
    },
    {
      linkId: 'follow-up',
      type: 'string',
      text: 'Tell us more',
      enableBehavior: 'any',
      enableWhen: [
        { question: 'smokes', operator: '=', answerBoolean: true },
        { question: 'colour', operator: '!=', answerCoding: { system: 'urn:colour', code: 'red' } },
      ],
    },
    { linkId: 'e-exists', type: 'display', text: 'x', enableWhen: [{ question: 'age', operator: 'exists', answerBoolean: true }] },
    { linkId: 'e-gt', type: 'display', text: 'x', enableWhen: [{ question: 'age', operator: '>', answerInteger: 17 }] },
    { linkId: 'e-lt', type: 'display', text: 'x', enableWhen: [{ question: 'temp', operator: '<', answerDecimal: 36.5 }] },
    { linkId: 'e-ge', type: 'display', text: 'x', enableWhen: [{ question: 'weight', operator: '>=', answerQuantity: { value: 100, code: 'kg' } }] },
    { linkId: 'e-le', type: 'display', text: 'x', enableWhen: [{ question: 'seen', operator: '<=', answerDate: '2020-01-01' }] },
    { linkId: 'e-string', type: 'display', text: 'x', enableWhen: [{ question: 'pets', operator: '=', answerString: 'Hamster' }] },
    { linkId: 'e-int-option', type: 'display', text: 'x', enableWhen: [{ question: 'count', operator: '=', answerInteger: 2 }] },
  ],
  {
    contained: [
      {
        resourceType: 'ValueSet',
        id: 'symptoms',
        status: 'active',
        compose: { include: [{ system: 'urn:symptom', concept: [{ code: 'cough', display: 'Cough' }, { code: 'fever', display: 'Fever' }, { code: 'none', display: 'None of these' }] }] },
      },
    ],
    extension: [{ url: `${CORE}structuredefinition-wg`, valueCode: 'fhir' }],
  },
);

test('a questionnaire using every supported type and rule loads, with its rules read', () => {
  const definition = load(everyType);
  assert.equal(definition.url, 'https://example.org/Questionnaire/test');
  assert.equal(definition.version, '1');
  assert.deepEqual(definition.items.map((i) => i.linkId).slice(0, 3), ['intro', 'about', 'follow-up']);
  const get = (linkId: string) => definition.byLinkId.get(linkId)!;
  assert.equal(get('smokes').required, true);
  assert.equal(get('colour').itemControl, 'drop-down');
  assert.deepEqual(get('colour').initial, [{ type: 'coding', value: { system: 'urn:colour', code: 'blue', display: 'Blue' } }]);
  assert.deepEqual(get('symptoms').options.map((o) => o.key), ['cough', 'fever', 'none']);
  assert.equal(get('symptoms').options[0]!.value.type, 'coding');
  assert.equal(get('symptoms').maxOccurs, 2);
  assert.deepEqual(get('count').options.map((o) => o.value), [{ type: 'integer', value: 1 }, { type: 'integer', value: 2 }]);
  assert.equal(get('name').maxLength, 40);
  assert.equal(get('name').minLength, 2);
  assert.equal(get('name').entryFormat, 'Jo Bloggs');
  assert.deepEqual(get('notes').initial, [{ type: 'string', value: 'None' }]);
  assert.equal(get('age').minValue, 0);
  assert.equal(get('age').maxValue, 130);
  assert.equal(get('temp').maxDecimalPlaces, 1);
  assert.deepEqual(get('weight').unit, { system: 'http://unitsofmeasure.org', code: 'kg', display: 'kilograms' });
  assert.equal(get('weight').minValue, 1);
  assert.equal(get('seen').minValue, '2000-01-01');
  assert.equal(get('secret').hidden, true);
  assert.equal(get('seen').hidden, false);
  assert.equal(get('follow-up').enableBehavior, 'any');
  assert.deepEqual(get('follow-up').enableWhen[1], { question: 'colour', operator: '!=', answer: { type: 'coding', value: { system: 'urn:colour', code: 'red', display: 'Red' } } });
  assert.deepEqual(get('e-ge').enableWhen[0], { question: 'weight', operator: '>=', answer: { type: 'quantity', value: 100 } });
  assert.deepEqual(get('pets-help').parentLinkId, 'pets');
});

test('the PHQ-9-like and BMI questionnaires load with their ordinal values and compiled expressions', () => {
  const mood = load(moodScore);
  assert.deepEqual(mood.byLinkId.get('q1')!.options.map((o) => o.ordinal), [0, 1, 2, 3]);
  assert.match(mood.byLinkId.get('total')!.calculatedExpression!.expression, /ordinal\(\)\.sum\(\)/);
  const bmi = load(bodyMassIndex);
  assert.deepEqual(bmi.variables.map((v) => v.name), ['weight', 'height']);
});

test('every supported type loads: one questionnaire per type', () => {
  const minimal: Record<string, Record<string, unknown>> = {
    boolean: {},
    choice: { answerOption: [{ valueString: 'A' }] },
    'open-choice': { answerOption: [{ valueCoding: { code: 'a' } }] },
    string: {},
    text: {},
    integer: {},
    decimal: {},
    quantity: { extension: [unit('kg', 'kilograms')] },
    date: {},
  };
  for (const [type, extra] of Object.entries(minimal)) {
    const definition = load(questionnaire([{ linkId: 'q', type, text: type, ...extra }, { linkId: 'd', type: 'display', text: 'Thanks' }]));
    assert.equal(definition.byLinkId.get('q')!.type, type);
  }
});

test('an attachment question loads, one file or (repeats) several; it cannot be calculated or have an initial value', () => {
  const definition = load(questionnaire([
    { linkId: 'photo', type: 'attachment', text: 'Add a photo', required: true },
    { linkId: 'photos', type: 'attachment', text: 'Add photos', repeats: true },
  ]));
  assert.equal(definition.byLinkId.get('photo')!.required, true);
  assert.equal(definition.byLinkId.get('photos')!.repeats, true);
  const problems = refused(
    questionnaire([
      {
        linkId: 'sum', type: 'attachment', text: 'A file',
        extension: [{ url: 'http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-calculatedExpression', valueExpression: { language: 'text/fhirpath', expression: '1' } }],
      },
      { linkId: 'given', type: 'attachment', text: 'A file', initial: [{ valueAttachment: { title: 'x.pdf' } }] },
    ]),
  );
  hasProblem(problems, 'sum', /calculatedExpression does not fit a attachment item/);
  hasProblem(problems, 'given', /initial value: a Attachment does not fit a attachment question/);
});

test('types the engine cannot ask are refused with a reason; the linkId is named', () => {
  const problems = refused(
    questionnaire([
      { linkId: 'when', type: 'dateTime', text: 'When?' },
      { linkId: 'odd', type: 'wibble' },
    ]),
  );
  hasProblem(problems, 'when', /dateTime.*not supported/);
  hasProblem(problems, 'odd', /"wibble" is not supported: unknown type/);
});

test('every problem is listed at once: modifierExtension, unknown and refused extensions, expressions, duplicates, bad enableWhen', () => {
  const problems = refused(
    questionnaire(
      [
        { linkId: 'a', type: 'string', text: 'A', modifierExtension: [{ url: 'https://example.org/flip', valueBoolean: true }] },
        { linkId: 'b', type: 'string', text: 'B', extension: [{ url: 'https://example.org/unknown', valueString: 'x' }] },
        { linkId: 'c', type: 'choice', text: 'C', extension: [{ url: `${SDC}sdc-questionnaire-answerExpression`, valueExpression: { language: 'text/fhirpath', expression: "'x'" } }] },
        { linkId: 'd', type: 'string', text: 'D', extension: [{ url: `${SDC}sdc-questionnaire-enableWhenExpression`, valueExpression: { language: 'text/fhirpath', expression: 'true' } }] },
        { linkId: 'e', type: 'string', text: 'E', extension: [{ url: `${SDC}sdc-questionnaire-initialExpression`, valueExpression: { language: 'text/fhirpath', expression: "'x'" } }] },
        { linkId: 'f', type: 'integer', text: 'F', extension: [{ url: `${SDC}sdc-questionnaire-calculatedExpression`, valueExpression: { language: 'application/x-fhir-query', expression: 'Observation?code=x' } }] },
        { linkId: 'a', type: 'string', text: 'A again' },
        { linkId: 'g', type: 'string', text: 'G', enableWhen: [{ question: 'nowhere', operator: '=', answerString: 'x' }] },
        { linkId: 'h', type: 'string', text: 'H', enableWhen: [{ question: 'i', operator: '=', answerString: 'yes' }] },
        { linkId: 'i', type: 'boolean', text: 'I' },
        { linkId: 'j', type: 'string', text: 'J', enableWhen: [{ question: 'i', operator: '>', answerBoolean: true }] },
        { linkId: 'k', type: 'string', text: 'K', enableWhen: [{ question: 'i', operator: '=', answerBoolean: true }, { question: 'b', operator: 'exists', answerBoolean: true }] },
        { linkId: 'l', type: 'integer', text: 'L', extension: [calculated('%resource.item.answer.value.frobnicate()')] },
        { linkId: 'm', type: 'integer', text: 'M', extension: [calculated('%undefinedVariable + 1')] },
        { linkId: 'n', type: 'string', text: 'N', extension: [calculated("%resource.item.answer.value.memberOf('http://example.org/vs')")] },
        { linkId: 'o', type: 'choice', text: 'O', answerValueSet: 'http://example.org/ValueSet/external' },
        { linkId: 'p', type: 'string', text: 'P', enableWhen: [{ question: 'i', operator: 'matches', answerBoolean: true }] },
        { linkId: 'q', type: 'group', text: 'Q', repeats: true, item: [{ linkId: 'q1', type: 'string', text: 'Q1' }] },
        { linkId: 'r', type: 'quantity', text: 'R' },
        { linkId: 's', type: 'string', text: 'S', item: [{ linkId: 's1', type: 'string', text: 'Nested' }] },
        { linkId: 't', type: 'choice', text: 'T', answerOption: [{ valueCoding: { code: 'x' } }], enableWhen: [{ question: 'c', operator: '=', answerCoding: { code: 'nope' } }] },
        { linkId: 'u', type: 'string', text: 'U', answerConstraint: 'optionsOnly' },
        { linkId: 'v', type: 'string', text: 'V', extension: [minValue({ valueInteger: 3 })] },
      ],
      { extension: [{ url: `${SDC}sdc-questionnaire-launchContext`, extension: [{ url: 'name', valueCoding: { code: 'patient' } }] }], implicitRules: 'https://example.org/rules' },
    ),
  );
  hasProblem(problems, 'a', /modifierExtension is not supported \(https:\/\/example.org\/flip\)/);
  hasProblem(problems, 'a', /linkId is used by more than one item/);
  hasProblem(problems, 'b', /unknown extension https:\/\/example.org\/unknown/);
  hasProblem(problems, 'c', /answerExpression .* is not supported/);
  hasProblem(problems, 'd', /enableWhenExpression is not supported/);
  hasProblem(problems, 'e', /initialExpression .* is not supported/);
  hasProblem(problems, 'f', /x-fhir-query, which is not supported/);
  hasProblem(problems, 'g', /enableWhen refers to "nowhere", which is not an item/);
  hasProblem(problems, 'h', /enableWhen on "i": a String does not fit a boolean question/);
  hasProblem(problems, 'j', /">" cannot compare a boolean answer/);
  hasProblem(problems, 'k', /enableBehavior \(all or any\) is required when there is more than one enableWhen/);
  hasProblem(problems, 'p', /operator "matches" is not one of/);
  hasProblem(problems, 'o', /not contained in the questionnaire/);
  hasProblem(problems, 'q', /repeating groups are not supported yet/);
  hasProblem(problems, 'r', /a quantity question needs its unit/);
  hasProblem(problems, 's1', /items nested under a question are not supported yet/);
  hasProblem(problems, 'c', /a choice question needs answer options/);
  hasProblem(problems, 'u', /unknown element "answerConstraint"/);
  hasProblem(problems, 'v', /minValue valueInteger does not fit a string question/);
  hasProblem(problems, 'questionnaire', /launchContext .* is not supported/);
  hasProblem(problems, 'questionnaire', /implicitRules is not supported/);
  // Expressions are tried only once the structure is right: these are checked on their own below.
  assert.ok(problems.length >= 21, `${problems.length} problems`);
});

test('FHIRPath expressions the engine cannot evaluate are refused at load, naming the linkId', () => {
  const problems = refused(
    questionnaire(
      [
        { linkId: 'l', type: 'integer', text: 'L', extension: [calculated('%resource.item.answer.value.frobnicate()')] },
        { linkId: 'm', type: 'integer', text: 'M', extension: [calculated('%undefinedVariable + 1')] },
        { linkId: 'n', type: 'string', text: 'N', extension: [calculated("%resource.item.answer.value.memberOf('http://example.org/vs')")] },
        { linkId: 'p', type: 'integer', text: 'P', extension: [variable('ok', '1'), calculated('%ok + 1')] },
      ],
      { extension: [variable('broken', 'resolve()')] },
    ),
  );
  hasProblem(problems, 'questionnaire', /variable broken "resolve\(\)" cannot be evaluated: The asynchronous function "resolve" is not allowed/);
  assert.equal(problems.length, 1, 'a broken questionnaire-level variable stops the other tries (they could all use it)');

  const items = refused(
    questionnaire([
      { linkId: 'l', type: 'integer', text: 'L', extension: [calculated('%resource.item.answer.value.frobnicate()')] },
      { linkId: 'm', type: 'integer', text: 'M', extension: [calculated('%undefinedVariable + 1')] },
      { linkId: 'n', type: 'string', text: 'N', extension: [calculated("%resource.item.answer.value.memberOf('http://example.org/vs')")] },
      { linkId: 'p', type: 'integer', text: 'P', extension: [variable('ok', '1'), calculated('%ok + 1')] },
    ]),
  );
  hasProblem(refused(questionnaire([{ linkId: 'o', type: 'integer', text: 'O', extension: [calculated('1 +')] }])), 'o', /calculatedExpression "1 \+" cannot be read: .*mismatched input/);
  hasProblem(items, 'l', /calculatedExpression "%resource.item.answer.value.frobnicate\(\)" cannot be evaluated: Not implemented: frobnicate/);
  hasProblem(items, 'm', /undefined environment variable: undefinedVariable/);
  hasProblem(items, 'n', /memberOf/);
  assert.equal(items.some((p) => p.linkId === 'p'), false, 'a working item-level variable is fine');
});

test('enableWhen cycles and enableWhen on groups are refused', () => {
  const problems = refused(
    questionnaire([
      { linkId: 'a', type: 'boolean', text: 'A', enableWhen: [{ question: 'b', operator: 'exists', answerBoolean: true }] },
      { linkId: 'b', type: 'boolean', text: 'B', enableWhen: [{ question: 'a', operator: 'exists', answerBoolean: true }] },
      { linkId: 'g', type: 'group', text: 'G', item: [{ linkId: 'g1', type: 'boolean', text: 'G1' }] },
      { linkId: 'c', type: 'boolean', text: 'C', enableWhen: [{ question: 'g', operator: 'exists', answerBoolean: true }] },
    ]),
  );
  hasProblem(problems, 'a', /enableWhen goes round in a circle: a → b → a/);
  hasProblem(problems, 'c', /a group item, which has no answer/);
});

test('the root needs a url, a version and items; non-questionnaires are refused', () => {
  hasProblem(refused({ resourceType: 'Patient' }), 'questionnaire', /resourceType must be "Questionnaire"/);
  hasProblem(refused(null), 'questionnaire', /./);
  const problems = refused({ resourceType: 'Questionnaire', status: 'active', item: [{ linkId: 'a', type: 'string', text: 'A' }] });
  hasProblem(problems, 'questionnaire', /url: needs a url/);
  hasProblem(problems, 'questionnaire', /version: needs a version/);
  hasProblem(refused({ ...questionnaire([]) }), 'questionnaire', /has no items/);
});

test('answer options: unsupported value types, duplicates and broken value sets are refused', () => {
  const problems = refused(
    questionnaire(
      [
        { linkId: 'a', type: 'choice', text: 'A', answerOption: [{ valueDate: '2020-01-01' }] },
        { linkId: 'b', type: 'choice', text: 'B', answerOption: [{ valueCoding: { code: 'x' } }, { valueCoding: { code: 'x', system: 'urn:other' } }] },
        { linkId: 'c', type: 'choice', text: 'C', answerValueSet: '#filtered' },
        { linkId: 'd', type: 'choice', text: 'D', answerValueSet: '#missing' },
        { linkId: 'e', type: 'choice', text: 'E', answerOption: [{ valueCoding: { code: 'x' }, extension: [{ url: 'https://example.org/x' }] }] },
      ],
      { contained: [{ resourceType: 'ValueSet', id: 'filtered', compose: { include: [{ system: 'http://snomed.info/sct', filter: [{ property: 'concept', op: 'is-a', value: '1' }] }] } }] },
    ),
  );
  hasProblem(problems, 'a', /answer option valueDate is not supported/);
  hasProblem(problems, 'b', /two answer options have the same code or value "x"/);
  hasProblem(problems, 'c', /filters and other value sets are not supported/);
  hasProblem(problems, 'd', /no contained ValueSet with id "missing"/);
  hasProblem(problems, 'e', /unknown extension https:\/\/example.org\/x/);
});

test('hints are accepted anywhere; behaviour extensions only where the engine reads them', () => {
  for (const url of HINTS) {
    load(questionnaire([{ linkId: 'a', type: 'string', text: 'A', extension: [{ url, valueString: 'x' }], _text: { extension: [{ url, valueString: 'y' }] } }]));
  }
  const misplaced = refused(questionnaire([{ linkId: 'a', type: 'string', text: 'A', _text: { extension: [{ url: `${CORE}minValue`, valueInteger: 1 }] } }]));
  hasProblem(misplaced, 'a', /minValue is not supported in this place/);
  assert.ok(BEHAVIOUR.includes(`${CORE}ordinalValue`) && BEHAVIOUR.includes(`${SDC}sdc-questionnaire-calculatedExpression`));
  assert.equal(
    HINTS.some((h) => BEHAVIOUR.includes(h)),
    false,
    'no extension is both a hint and behaviour',
  );
});

test('ordinal values on the coding, on the option, and in a contained value set (itemWeight too)', () => {
  const definition = load(
    questionnaire(
      [
        { linkId: 'a', type: 'choice', text: 'A', answerOption: [{ valueCoding: { code: 'x', extension: [ordinal(2)] } }, { valueCoding: { code: 'y' }, extension: [{ url: `${CORE}itemWeight`, valueDecimal: 5 }] }] },
        { linkId: 'b', type: 'choice', text: 'B', answerValueSet: '#scored' },
        { linkId: 'sum', type: 'integer', text: 'Sum', readOnly: true, extension: [calculated('%resource.item.answer.value.ordinal().sum()')] },
      ],
      { contained: [{ resourceType: 'ValueSet', id: 'scored', expansion: { contains: [{ system: 'urn:s', code: 'p', display: 'P', extension: [ordinal(10)] }] } }] },
    ),
  );
  assert.deepEqual(definition.byLinkId.get('a')!.options.map((o) => o.ordinal), [2, 5]);
  assert.deepEqual(definition.byLinkId.get('b')!.options.map((o) => [o.key, o.ordinal]), [['p', 10]]);
  // ordinal() finds each of them: on the coding (copied onto the option for FHIRPath) and in the value set.
  const answers = new Map([
    ['a', [definition.byLinkId.get('a')!.options[0]!.value]],
    ['b', [definition.byLinkId.get('b')!.options[0]!.value]],
  ]);
  assert.deepEqual(resolveAnswers(definition, answers).answers.get('sum'), [{ type: 'integer', value: 12 }]);
  answers.set('a', [definition.byLinkId.get('a')!.options[1]!.value]);
  assert.deepEqual(resolveAnswers(definition, answers).answers.get('sum'), [{ type: 'integer', value: 15 }]);
});

test('limits: items nested too deep, too many items, and over-long expressions are refused, not thrown', () => {
  let deep: Record<string, unknown> = { linkId: 'leaf', type: 'string', text: 'Leaf' };
  for (let i = 0; i < 12; i++) deep = { linkId: `g${i}`, type: 'group', text: 'G', item: [deep] };
  hasProblem(refused(questionnaire([deep])), 'g1', /items are nested more than 10 deep/);
  const many = Array.from({ length: 1001 }, (_, i) => ({ linkId: `q${i}`, type: 'string', text: 'Q' }));
  hasProblem(refused(questionnaire(many)), 'questionnaire', /has more than 1000 items/);
  hasProblem(refused(questionnaire([{ linkId: 'c', type: 'integer', text: 'C', extension: [calculated(`1${' + 1'.repeat(1000)}`)] }])), 'c', /longer than 4000 characters/);
  let nested: Record<string, unknown> = { value: 1 };
  for (let i = 0; i < 100; i++) nested = { nested };
  hasProblem(refused(questionnaire([{ linkId: 'x', type: 'string', text: 'X', _text: nested }])), 'x', /nested more than 40 levels deep/);
});

test("linkIds that are JSON objects' own machinery (__proto__, constructor, prototype) are refused: an answer under one would be lost", () => {
  for (const linkId of ['__proto__', 'constructor', 'prototype']) {
    const problems = refused(questionnaire([{ linkId, type: 'string', text: 'Name', required: true }]));
    assert.ok(problems.some((p) => /linkId must not be __proto__, constructor or prototype/.test(p.message)), `${linkId}: ${JSON.stringify(problems)}`);
  }
});
