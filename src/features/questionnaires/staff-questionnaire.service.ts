// Reading a conversation's QuestionnaireResponse outside the conversation page (the staff download and
// the API): scoped to the reader's organisation, and each read recorded in the audit trail.
import { NotFound } from '../../platform/errors.ts';
import { isUuid } from '../../platform/ids.ts';
import type { Services } from '../../services.ts';
import { recordAudit, type AuditActor } from '../audit/audit.service.ts';
import { findOrganisationConversation } from '../conversations/conversations.repository.ts';
import { storedQuestionnaireResponse } from './questionnaire-journey.service.ts';
import { questionnaireKind } from './questionnaire.kind.ts';
import type { QuestionnaireResponse } from './response.ts';

export const NO_QUESTIONNAIRE_RESPONSE = 'There is no questionnaire with this id in your organisation.';
export const NOT_ANSWERED_YET = 'The patient has not answered any questions yet.';

export class NotAnsweredYet extends NotFound {}

/**
 * The response of one of the organisation's questionnaire conversations, in progress or completed.
 * NotFound for another organisation's conversation or one of another kind; NotAnsweredYet before the
 * first answer is saved (there is no response resource to return yet).
 */
export async function readQuestionnaireResponse(
  services: Services,
  input: { organisationId: string; conversationId: string; actor: AuditActor; auditType: 'questionnaire_response.viewed' | 'api.questionnaire_response_viewed' },
): Promise<QuestionnaireResponse> {
  const row = isUuid(input.conversationId) ? await findOrganisationConversation(services.db, input.organisationId, input.conversationId) : undefined;
  if (!row || row.kind !== questionnaireKind.name) throw new NotFound(NO_QUESTIONNAIRE_RESPONSE, 'no questionnaire conversation with this id in the organisation');
  const conversation = { ...row, payload: questionnaireKind.payloadSchema.parse(row.payload) };
  const stored = await storedQuestionnaireResponse(services, conversation);
  if (!stored) throw new NotAnsweredYet(NOT_ANSWERED_YET);
  await recordAudit(services.db, {
    type: input.auditType,
    actor: input.actor,
    organisationId: input.organisationId,
    patientId: row.patientId,
    conversationId: row.id,
    details: { status: stored.response.status },
  });
  return stored.response;
}

export function viewQuestionnaireResponseForStaff(
  services: Services,
  input: { organisationId: string; staffId: string; conversationId: string; ip: string },
): Promise<QuestionnaireResponse> {
  return readQuestionnaireResponse(services, {
    organisationId: input.organisationId,
    conversationId: input.conversationId,
    actor: { type: 'staff', id: input.staffId, ip: input.ip },
    auditType: 'questionnaire_response.viewed',
  });
}
