// Small FHIR R4 Questionnaires for the engine's tests. Made up for the tests, apart from the shape of the
// scored ones (a PHQ-9-like mood score, weight and height with BMI), which follows the published forms.
import assert from 'node:assert/strict';
import { loadQuestionnaire, type QuestionnaireDefinition } from '../../src/features/questionnaires/definition.ts';

const SDC = 'http://hl7.org/fhir/uv/sdc/StructureDefinition/';
const CORE = 'http://hl7.org/fhir/StructureDefinition/';
export const LOINC = 'http://loinc.org';

export const ordinal = (value: number) => ({ url: `${CORE}ordinalValue`, valueDecimal: value });
export const calculated = (expression: string) => ({ url: `${SDC}sdc-questionnaire-calculatedExpression`, valueExpression: { language: 'text/fhirpath', expression } });
export const variable = (name: string, expression: string) => ({ url: `${CORE}variable`, valueExpression: { name, language: 'text/fhirpath', expression } });
export const unit = (code: string, display: string) => ({ url: `${CORE}questionnaire-unit`, valueCoding: { system: 'http://unitsofmeasure.org', code, display } });
export const minValue = (v: Record<string, unknown>) => ({ url: `${CORE}minValue`, ...v });
export const maxValue = (v: Record<string, unknown>) => ({ url: `${CORE}maxValue`, ...v });
export const shortText = (text: string) => ({ url: `${SDC}sdc-questionnaire-shortText`, valueString: text });
export const itemControl = (code: string) => ({
  url: `${CORE}questionnaire-itemControl`,
  valueCodeableConcept: { coding: [{ system: 'http://hl7.org/fhir/questionnaire-item-control', code }] },
});

export function questionnaire(items: unknown[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { resourceType: 'Questionnaire', url: 'https://example.org/Questionnaire/test', version: '1', status: 'active', title: 'Test', item: items, ...extra };
}

export function load(json: unknown): QuestionnaireDefinition {
  const result = loadQuestionnaire(json);
  assert.ok(result.ok, result.ok ? '' : JSON.stringify(result.problems, null, 2));
  return result.definition;
}

const FREQUENCY = [
  ['LA6568-5', 'Not at all', 0],
  ['LA6569-3', 'Several days', 1],
  ['LA6570-1', 'More than half the days', 2],
  ['LA6571-9', 'Nearly every day', 3],
] as const;

const frequencyOptions = () =>
  FREQUENCY.map(([code, display, score]) => ({ valueCoding: { system: LOINC, code, display }, extension: [ordinal(score)] }));

/** A PHQ-9-like score: nine frequency questions with ordinal values and a calculated total. */
export const moodScore = questionnaire(
  [
    {
      linkId: 'phq',
      type: 'group',
      text: 'Over the last 2 weeks, how often have you been bothered by the following problems?',
      item: [
        ...Array.from({ length: 9 }, (_, i) => ({ linkId: `q${i + 1}`, type: 'choice', text: `Problem ${i + 1}`, required: true, answerOption: frequencyOptions() })),
        {
          linkId: 'total',
          type: 'integer',
          text: 'Total score',
          readOnly: true,
          code: [{ system: LOINC, code: '44261-6', display: 'Patient Health Questionnaire 9 item (PHQ-9) total score' }],
          extension: [calculated("%resource.repeat(item).where(linkId.startsWith('q')).answer.value.ordinal().sum()")],
        },
      ],
    },
  ],
  { url: 'https://example.org/Questionnaire/mood', version: '2.0.0', title: 'Mood score' },
);

/** Weight and height with BMI calculated from variables, rounded to one decimal place. */
export const bodyMassIndex = questionnaire(
  [
    { linkId: 'weight', type: 'quantity', text: 'What is your weight?', required: true, extension: [unit('kg', 'kilograms'), minValue({ valueDecimal: 30 }), maxValue({ valueDecimal: 300 }), shortText('your weight'), { url: `${CORE}maxDecimalPlaces`, valueInteger: 1 }] },
    { linkId: 'height', type: 'quantity', text: 'What is your height?', required: true, extension: [unit('cm', 'centimetres'), minValue({ valueDecimal: 100 }), maxValue({ valueDecimal: 250 }), shortText('your height')] },
    {
      linkId: 'bmi',
      type: 'decimal',
      text: 'Body mass index (BMI)',
      readOnly: true,
      extension: [calculated('(%weight / ((%height / 100) * (%height / 100)))'), { url: `${CORE}maxDecimalPlaces`, valueInteger: 1 }],
    },
  ],
  {
    url: 'https://example.org/Questionnaire/bmi',
    version: '1.1',
    title: 'Weight and height',
    extension: [
      variable('weight', "%resource.item.where(linkId='weight').answer.value.value"),
      variable('height', "%resource.item.where(linkId='height').answer.value.value"),
    ],
  },
);
