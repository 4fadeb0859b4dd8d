// What the questionnaire engine accepts (issue 11). A Questionnaire is loaded only when every extension
// in it is on one of these lists: a patient is never shown a questionnaire that half works, because an
// extension we ignored might have changed what a valid answer is.

const CORE = 'http://hl7.org/fhir/StructureDefinition/';
const SDC = 'http://hl7.org/fhir/uv/sdc/StructureDefinition/';

/**
 * Extensions that do not change what a valid answer is: presentation, metadata and data-extraction
 * hints. Pages may render them with the nearest NHS pattern (itemControl drop-down → radios or a
 * select, shortText → the words of error messages) or ignore them. Gathered from the extensions used
 * by the HL7 SDC examples, LHC-Forms' LOINC questionnaires and the FHIR core examples.
 */
export const HINTS: readonly string[] = [
  `${CORE}questionnaire-itemControl`,
  `${CORE}questionnaire-optionPrefix`,
  `${CORE}questionnaire-displayCategory`,
  `${CORE}questionnaire-choiceOrientation`,
  `${CORE}questionnaire-sliderStepValue`,
  `${CORE}questionnaire-supportLink`,
  `${CORE}questionnaire-usageMode`,
  `${CORE}questionnaire-baseType`,
  `${CORE}questionnaire-fhirType`,
  `${CORE}entryFormat`,
  `${CORE}rendering-xhtml`,
  `${CORE}rendering-markdown`,
  `${CORE}rendering-style`,
  `${CORE}translation`,
  `${CORE}designNote`,
  `${CORE}structuredefinition-wg`,
  `${CORE}structuredefinition-fmm`,
  `${CORE}structuredefinition-standards-status`,
  `${CORE}artifact-author`,
  `${CORE}variable-description`,
  `${SDC}sdc-questionnaire-shortText`,
  `${SDC}sdc-questionnaire-observationLinkPeriod`,
  `${SDC}sdc-questionnaire-observationExtract`,
  `${SDC}sdc-questionnaire-observationExtractCategory`,
  `${SDC}sdc-questionnaire-isSubject`,
  `${SDC}sdc-questionnaire-collapsible`,
  `${SDC}sdc-questionnaire-entryMode`,
  `${SDC}sdc-questionnaire-width`,
  `${SDC}sdc-questionnaire-columnWidth`,
  `${SDC}sdc-questionnaire-displayCategory`,
  `${SDC}sdc-questionnaire-preferredTerminologyServer`,
  `${SDC}sdc-questionnaire-optionPrefix`,
  `${SDC}sdc-rendering-criticalExtension`,
];

/** Extensions the engine implements: they change what a valid answer is, or what the response holds. */
export const BEHAVIOUR: readonly string[] = [
  `${CORE}minValue`,
  `${CORE}maxValue`,
  `${CORE}minLength`,
  `${CORE}maxDecimalPlaces`,
  `${CORE}questionnaire-unit`,
  `${CORE}questionnaire-minOccurs`,
  `${CORE}questionnaire-maxOccurs`,
  `${CORE}questionnaire-hidden`,
  `${CORE}ordinalValue`,
  `${CORE}itemWeight`,
  `${CORE}variable`,
  `${CORE}questionnaire-optionExclusive`,
  `${SDC}sdc-questionnaire-optionExclusive`,
  `${SDC}sdc-questionnaire-calculatedExpression`,
  `${SDC}sdc-questionnaire-minQuantity`,
  `${SDC}sdc-questionnaire-maxQuantity`,
];

/** Extensions refused with a reason of their own (any other unknown extension is refused too). */
export const REFUSED: Readonly<Record<string, string>> = {
  [`${SDC}sdc-questionnaire-answerExpression`]: 'answerExpression (answers computed by an expression) is not supported',
  [`${SDC}sdc-questionnaire-enableWhenExpression`]: 'enableWhenExpression is not supported: use enableWhen',
  [`${SDC}sdc-questionnaire-initialExpression`]: 'initialExpression (answers filled in from the record) is not supported',
  [`${SDC}sdc-questionnaire-candidateExpression`]: 'candidateExpression is not supported',
  [`${SDC}sdc-questionnaire-contextExpression`]: 'contextExpression is not supported',
  [`${SDC}sdc-questionnaire-launchContext`]: 'launchContext (data from the patient record) is not supported',
  [`${SDC}sdc-questionnaire-itemPopulationContext`]: 'itemPopulationContext is not supported',
  [`${SDC}sdc-questionnaire-itemExtractionContext`]: 'itemExtractionContext is not supported',
  [`${SDC}sdc-questionnaire-answerOptionsToggleExpression`]: 'answerOptionsToggleExpression is not supported',
  [`${SDC}sdc-questionnaire-subQuestionnaire`]: 'subQuestionnaire (modular questionnaires) is not supported',
  [`${CORE}questionnaire-unitOption`]: 'unitOption (a choice of units) is not supported: use one questionnaire-unit',
  [`${CORE}questionnaire-unitValueSet`]: 'unitValueSet (a choice of units) is not supported: use one questionnaire-unit',
  [`${CORE}questionnaire-referenceResource`]: 'reference questions are not supported',
  [`${CORE}cqf-expression`]: 'cqf-expression (values computed by an expression) is not supported',
  [`${CORE}cqf-library`]: 'cqf-library (CQL) is not supported',
  [`${CORE}regex`]: 'regex is not supported',
};

/** Item types the engine can ask and answer. */
export const SUPPORTED_ITEM_TYPES = ['group', 'display', 'boolean', 'choice', 'open-choice', 'string', 'text', 'integer', 'decimal', 'quantity', 'date', 'attachment'] as const;

/** Item types refused with a reason of their own. */
export const REFUSED_ITEM_TYPES: Readonly<Record<string, string>> = {
  dateTime: 'date and time questions are not supported: use a date question',
  time: 'time questions are not supported',
  url: 'web address questions are not supported: use a string question',
  reference: 'reference questions are not supported',
  question: 'the "question" type is abstract and cannot be answered',
};

export const EXPRESSION_LANGUAGE = 'text/fhirpath';

export const URL = {
  minValue: `${CORE}minValue`,
  maxValue: `${CORE}maxValue`,
  minLength: `${CORE}minLength`,
  maxDecimalPlaces: `${CORE}maxDecimalPlaces`,
  unit: `${CORE}questionnaire-unit`,
  minOccurs: `${CORE}questionnaire-minOccurs`,
  maxOccurs: `${CORE}questionnaire-maxOccurs`,
  hidden: `${CORE}questionnaire-hidden`,
  ordinalValue: `${CORE}ordinalValue`,
  itemWeight: `${CORE}itemWeight`,
  variable: `${CORE}variable`,
  optionExclusive: [`${CORE}questionnaire-optionExclusive`, `${SDC}sdc-questionnaire-optionExclusive`],
  calculatedExpression: `${SDC}sdc-questionnaire-calculatedExpression`,
  minQuantity: `${SDC}sdc-questionnaire-minQuantity`,
  maxQuantity: `${SDC}sdc-questionnaire-maxQuantity`,
  itemControl: `${CORE}questionnaire-itemControl`,
  entryFormat: `${CORE}entryFormat`,
  shortText: `${SDC}sdc-questionnaire-shortText`,
} as const;
