// The FHIR R4 QuestionnaireResponse for a set of answers. Built on the server from the patient's
// answers: answers to items that are not enabled are removed (the patient went back and changed an
// earlier answer), and calculated values are computed here, never taken from the browser.
import type { Answers, QuestionnaireDefinition } from './definition.ts';
import { resolveAnswers } from './calculations.ts';
import { responseItems, type ResponseItem } from './response-items.ts';

export interface Reference {
  reference?: string;
  identifier?: { system?: string; value: string };
  display?: string;
}

export interface ResponseOptions {
  status: 'in-progress' | 'completed';
  subject?: Reference;
  /** When the answers were given (injected: the engine never reads the clock). */
  authored: Date;
  id?: string;
}

export interface QuestionnaireResponse {
  resourceType: 'QuestionnaireResponse';
  id?: string;
  questionnaire: string;
  status: ResponseOptions['status'];
  subject?: Reference;
  authored: string;
  item: ResponseItem[];
}

/** The subject of a response, identified by NHS number. */
export const nhsNumberSubject = (nhsNumber: string): Reference => ({ identifier: { system: 'https://fhir.nhs.uk/Id/nhs-number', value: nhsNumber } });

export function buildResponse(definition: QuestionnaireDefinition, answers: Answers, options: ResponseOptions): QuestionnaireResponse {
  const resolved = resolveAnswers(definition, answers);
  return {
    resourceType: 'QuestionnaireResponse',
    ...(options.id !== undefined && { id: options.id }),
    questionnaire: `${definition.url}|${definition.version}`,
    status: options.status,
    ...(options.subject && { subject: options.subject }),
    authored: options.authored.toISOString(),
    item: responseItems(definition.items, resolved.answers, resolved.enabled, false),
  };
}
