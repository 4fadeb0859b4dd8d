// Answers that need a clinician soon. Each rule names a questionnaire (url, any version) and the
// question whose answers flag the conversation urgent: staff see it first in the inbox, and the patient
// is shown where to get help now rather than wait for the practice to read their answers.
//
// The rules live in code, not in the Questionnaire resource: a flag is a clinical safety decision the
// service owns, and a Questionnaire written elsewhere cannot switch one off (or on) by an extension.
import type { AnswerValue, Answers, QuestionnaireDefinition } from './definition.ts';
import { sameAnswer } from './enable-when.ts';

export type PatientAdvice = 'mental-health-crisis';

export interface UrgentRule {
  questionnaireUrl: string;
  linkId: string;
  /** What staff read on the conversation and in "Copy for the record". */
  staffWords: string;
  advice: PatientAdvice;
  holds(definition: QuestionnaireDefinition, values: readonly AnswerValue[]): boolean;
}

export interface UrgentFlag {
  linkId: string;
  staffWords: string;
  advice: PatientAdvice;
}

/** An answer scored above the question's lowest option (PHQ-9: anything other than "Not at all"). */
function scoredAboveZero(linkId: string) {
  return (definition: QuestionnaireDefinition, values: readonly AnswerValue[]) => {
    const item = definition.byLinkId.get(linkId);
    return values.some((value) => (item?.options.find((o) => sameAnswer(o.value, value))?.ordinal ?? 0) > 0);
  };
}

export const URGENT_RULES: readonly UrgentRule[] = [
  {
    // PHQ-9 question 9 (LOINC 44260-8). Its authors and NICE guidance (CG90) ask for any answer above
    // "Not at all" to be followed up promptly by a clinician, whatever the total score.
    questionnaireUrl: 'https://dovecote.example/fhir/Questionnaire/phq-9',
    linkId: 'phq9-q9',
    staffWords: 'Question 9 (thoughts of being better off dead or of self-harm) was answered above "Not at all"',
    advice: 'mental-health-crisis',
    holds: scoredAboveZero('phq9-q9'),
  },
];

/** The urgent flags these answers raise (answers to questions that are not enabled must already be removed). */
export function urgentFlags(definition: QuestionnaireDefinition, answers: Answers): UrgentFlag[] {
  return URGENT_RULES.filter((rule) => rule.questionnaireUrl === definition.url)
    .filter((rule) => rule.holds(definition, answers.get(rule.linkId) ?? []))
    .map(({ linkId, staffWords, advice }) => ({ linkId, staffWords, advice }));
}
