// Questionnaires written elsewhere (test/fixtures/questionnaires, kept with their licences) and the
// built-in catalogue (src/features/questionnaires/catalogue): each catalogue questionnaire must load;
// each published one loads or is refused for the precise reasons recorded here. A new fixture fails
// this test until its outcome is recorded below.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { allItems, loadQuestionnaire } from './definition.ts';
import { resolveAnswers } from './calculations.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const fixtures = path.resolve(here, '../../../test/fixtures/questionnaires');
const catalogue = path.join(here, 'catalogue');

const readJson = (file: string): unknown => JSON.parse(readFileSync(file, 'utf8'));
const describe = (json: unknown) => {
  const result = loadQuestionnaire(json);
  return result.ok ? 'OK' : result.problems.map((p) => `${p.linkId}: ${p.message}`);
};

/** What each published questionnaire gives, as it was published. */
const AS_PUBLISHED: Record<string, 'OK' | string[]> = {
  // Ours, not published elsewhere: every question type the pages support, for test/a11y/questionnaire-pages.test.ts.
  'dovecote-every-type.json': 'OK',
  'lhcforms-enable-when-expression.json': [
    "questionnaire: url: needs a url (Questionnaire.url), so responses can say what they answer",
    "questionnaire: version: needs a version (Questionnaire.version), so each response records which version it answered",
    "q4: enableWhenExpression is not supported: use enableWhen"
  ],
  'lhcforms-launch-context.json': [
    "questionnaire: url: needs a url (Questionnaire.url), so responses can say what they answer",
    "questionnaire: version: needs a version (Questionnaire.version), so each response records which version it answered",
    "q1: initialExpression (answers filled in from the record) is not supported",
    "q2: initialExpression (answers filled in from the record) is not supported",
    "questionnaire: launchContext (data from the patient record) is not supported"
  ],
  'lhcforms-phq9.json': [
    "questionnaire: url: needs a url (Questionnaire.url), so responses can say what they answer",
    "questionnaire: version: needs a version (Questionnaire.version), so each response records which version it answered"
  ],
  'lhcforms-test-enablewhen.json': [
    "questionnaire: url: needs a url (Questionnaire.url), so responses can say what they answer",
    "questionnaire: version: needs a version (Questionnaire.version), so each response records which version it answered"
  ],
  'lhcforms-weight-height-bmi.json': [
    "questionnaire: url: needs a url (Questionnaire.url), so responses can say what they answer"
  ],
  'lhcforms-x-fhir-query-test.json': [
    "questionnaire: url: needs a url (Questionnaire.url), so responses can say what they answer",
    "questionnaire: version: needs a version (Questionnaire.version), so each response records which version it answered",
    "questionnaire: variable uses x-fhir-query, which is not supported (only text/fhirpath)",
    "listViewFromURL: an open-choice question needs answer options (answerOption or a contained answerValueSet)",
    "listViewFromURL: answerExpression (answers computed by an expression) is not supported",
    "listViewFromContext: an open-choice question needs answer options (answerOption or a contained answerValueSet)",
    "listViewFromContext: answerExpression (answers computed by an expression) is not supported"
  ],
  'smartforms-aucore-smoking-status.json': [
    "questionnaire: url: needs a url (Questionnaire.url), so responses can say what they answer",
    "questionnaire: variable uses x-fhir-query, which is not supported (only text/fhirpath)",
    "patient-id: initialExpression (answers filled in from the record) is not supported",
    "patient-name: initialExpression (answers filled in from the record) is not supported",
    "observation-status: answer value set http://hl7.org/fhir/ValueSet/observation-status is not contained in the questionnaire: only contained value sets (\"#id\") are supported",
    "observation-status: initialExpression (answers filled in from the record) is not supported",
    "observation-category: answer value set http://hl7.org/fhir/ValueSet/observation-category is not contained in the questionnaire: only contained value sets (\"#id\") are supported",
    "observation-category: initialExpression (answers filled in from the record) is not supported",
    "observation-code-loinc: answer value set http://hl7.org/fhir/ValueSet/observation-vitalsignresult is not contained in the questionnaire: only contained value sets (\"#id\") are supported",
    "observation-code-loinc: initialExpression (answers filled in from the record) is not supported",
    "observation-effective-datetime: item type \"dateTime\" is not supported: date and time questions are not supported: use a date question",
    "observation-effective-datetime: initialExpression (answers filled in from the record) is not supported",
    "observation-value: answer value set https://healthterminologies.gov.au/fhir/ValueSet/smoking-status-1 is not contained in the questionnaire: only contained value sets (\"#id\") are supported",
    "observation-value: initialExpression (answers filled in from the record) is not supported",
    "questionnaire: launchContext (data from the patient record) is not supported"
  ],
};

/** Published without a url or version (which every response must record), but otherwise supported. */
const LOAD_ONCE_NAMED = ['lhcforms-phq9.json', 'lhcforms-test-enablewhen.json', 'lhcforms-weight-height-bmi.json'];

test('each published questionnaire loads, or is refused for exactly the recorded reasons', () => {
  const files = existsSync(fixtures) ? readdirSync(fixtures).filter((f) => f.endsWith('.json')).sort() : [];
  for (const file of files) {
    const expected = AS_PUBLISHED[file];
    const actual = describe(readJson(path.join(fixtures, file)));
    assert.ok(expected, `${file} is new: record its outcome in AS_PUBLISHED: ${JSON.stringify(actual, null, 2)}`);
    assert.deepEqual(actual, expected, file);
  }
});

const named = (file: string) => {
  const json = readJson(path.join(fixtures, file)) as Record<string, unknown>;
  return { ...json, url: json.url ?? `https://example.org/Questionnaire/${file}`, version: json.version ?? '0' };
};

test('given a url and a version, the LHC-Forms PHQ-9, enableWhen and weight-height questionnaires load', { skip: !existsSync(fixtures) }, () => {
  for (const file of LOAD_ONCE_NAMED.filter((f) => existsSync(path.join(fixtures, f)))) assert.equal(describe(named(file)), 'OK', file);
});

test('their own FHIRPath runs in the engine: the LHC-Forms PHQ-9 total and the BMI', { skip: !existsSync(path.join(fixtures, 'lhcforms-phq9.json')) }, () => {
  const phq = loadQuestionnaire(named('lhcforms-phq9.json'));
  assert.ok(phq.ok);
  const answers = new Map();
  const scores = [0, 1, 2, 3, 3, 2, 1, 0, 1];
  const frequencies = [...allItems(phq.definition.items)].filter((i) => i.type === 'choice' && i.options.length === 4 && i.options[0]!.ordinal === 0);
  assert.equal(frequencies.length, 9);
  frequencies.forEach((item, i) => answers.set(item.linkId, [item.options[scores[i]!]!.value]));
  assert.deepEqual(resolveAnswers(phq.definition, answers).answers.get('/44261-6'), [{ type: 'decimal', value: 13 }]);

  const bmi = loadQuestionnaire(named('lhcforms-weight-height-bmi.json'));
  assert.ok(bmi.ok);
  const measured = new Map([
    ['/29463-7', [{ type: 'decimal' as const, value: 80 }]],
    ['/8302-2', [{ type: 'decimal' as const, value: 70 }]],
  ]);
  // 80 kg / (70 in × 0.0254 m)² = 25.3
  assert.deepEqual(resolveAnswers(bmi.definition, measured).answers.get('/39156-5'), [{ type: 'decimal', value: 25.3 }]);
});

test('every catalogue questionnaire loads', async () => {
  const files = existsSync(catalogue) ? readdirSync(catalogue).filter((f) => /\.(json|ts)$/.test(f) && !f.endsWith('.test.ts')) : [];
  for (const file of files) {
    const full = path.join(catalogue, file);
    const resources: unknown[] = file.endsWith('.json')
      ? [readJson(full)]
      : Object.values((await import(pathToFileURL(full).href)) as Record<string, unknown>).filter((v) => typeof v === 'object' && v !== null && (v as { resourceType?: unknown }).resourceType === 'Questionnaire');
    for (const resource of resources) assert.equal(JSON.stringify(describe(resource)), JSON.stringify('OK'), file);
  }
});
