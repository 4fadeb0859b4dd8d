// Sending a questionnaire: one exact version (the catalogue's or the organisation's own), through the
// conversation feature's one send transaction (conversation, link, text, audit). Used by the staff
// page and the API alike.
import { z } from 'zod';
import { InvalidInput } from '../../platform/errors.ts';
import type { Services } from '../../services.ts';
import { startConversation, type SentBy, type StaffSubmission, type StartedConversation } from '../conversations/conversations.service.ts';
import type { Patient } from '../patients/patients.service.ts';
import { QUESTIONNAIRE_REQUEST } from './questionnaire-journey.service.ts';
import { CLOSES_AFTER_DAYS_MAX, questionnaireKind } from './questionnaire.kind.ts';
import { findQuestionnaire, listQuestionnaires, type QuestionnaireSummary } from './questionnaires.service.ts';

export const closesAfterDaysSchema = z
  // Digits only: Number() would also take "1e1", "0x1C" or "+7".
  .union([z.number(), z.string().trim().regex(/^\d{1,3}$/, 'Enter the number of days as a whole number, like 7')])
  .pipe(z.coerce.number())
  .pipe(z.number()
  .int('Enter the number of days as a whole number, like 7')
  .min(1, 'The questionnaire must stay open for at least 1 day')
  .max(CLOSES_AFTER_DAYS_MAX, `The questionnaire can stay open for ${CLOSES_AFTER_DAYS_MAX} days at most`),
  );

export class UnknownQuestionnaire extends InvalidInput {
  constructor() {
    super('There is no questionnaire with this url and version in your organisation or the catalogue.');
  }
}

/** Every questionnaire the organisation can send, as staff choose it: "<url>|<version>". */
export async function sendableQuestionnaires(services: Pick<Services, 'db'>, organisationId: string): Promise<Array<QuestionnaireSummary & { choice: string }>> {
  return (await listQuestionnaires(services, organisationId)).map((q) => ({ ...q, choice: `${q.url}|${q.version}` }));
}

export interface SendQuestionnaireInput {
  organisationId: string;
  patient: Patient;
  url: string;
  version: string;
  closesAfterDays?: number;
  sentBy: SentBy;
  ip?: string | null;
  submission?: StaffSubmission;
}

export async function sendQuestionnaire(services: Services, input: SendQuestionnaireInput): Promise<StartedConversation> {
  const found = await findQuestionnaire(services, input.organisationId, input.url, input.version);
  if (!found) throw new UnknownQuestionnaire();
  const title = found.definition.title ?? found.definition.name ?? 'Questionnaire';
  return startConversation(services, {
    organisationId: input.organisationId,
    patient: input.patient,
    kind: questionnaireKind,
    payload: { url: input.url, version: input.version, title, ...(input.closesAfterDays !== undefined && { closesAfterDays: input.closesAfterDays }) },
    items: [{ kind: QUESTIONNAIRE_REQUEST, body: title }],
    sentBy: input.sentBy,
    ip: input.ip,
    submission: input.submission,
  });
}
