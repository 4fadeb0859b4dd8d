// The rules behind the integrators' JSON API. Every function works within the organisation of the API
// key that called it: another organisation's patients and messages are simply "not found", so the API
// never reveals that they exist.
import type { Services } from '../../services.ts';
import { NotAuthenticated, NotFound, RateLimited } from '../../platform/errors.ts';
import { isUuid } from '../../platform/ids.ts';
import { recordAudit, type AuditActor } from '../audit/audit.service.ts';
import { findOrganisationConversation, listItems } from '../conversations/conversations.repository.ts';
import { conversationLinks, currentLink, linkState, type LinkState } from '../links/links.service.ts';
import { messageKind, PATIENT_REPLY } from '../messages/message.kind.ts';
import { questionnaireKind } from '../questionnaires/questionnaire.kind.ts';
import { sendMessage, type ReplyMode } from '../messages/messages.service.ts';
import { findPatientByNhsNumber, getPatient, upsertPatient, type Patient, type PatientDetails } from '../patients/patients.service.ts';
import { latestLinkTextStatus, type OutboundSmsStatus } from '../sms/outbox.repository.ts';
import { addQuestionnaire, getQuestionnaire, listQuestionnaires } from '../questionnaires/questionnaires.service.ts';
import { sendQuestionnaire } from '../questionnaires/questionnaire-sending.service.ts';
import { NotAnsweredYet, readQuestionnaireResponse } from '../questionnaires/staff-questionnaire.service.ts';
import type { QuestionnaireResponse } from '../questionnaires/response.ts';
import { touchApiKey, verifyApiKey } from './api-keys.service.ts';
import type {
  MessageCreatedResponse,
  MessageResponse,
  PatientResponse,
  QuestionnaireAddedResponse,
  QuestionnaireListResponse,
  QuestionnaireRequestCreatedResponse,
} from './api.schemas.ts';

/** Requests a minute for each API key. */
/** The default of API_RATE_PER_MINUTE. */
export const API_RATE_LIMIT_PER_MINUTE = 600;
export const API_RATE_LIMIT_WINDOW_SECONDS = 60;
export const apiRateLimitKey = (apiKeyId: string) => `api-key:${apiKeyId}`;

/** Who is calling: an API key and the organisation it belongs to. */
export interface ApiPrincipal {
  apiKeyId: string;
  organisationId: string;
  ip?: string | null;
}

export class ApiUnauthorisedError extends NotAuthenticated {}

export class ApiRateLimitedError extends RateLimited {
  constructor(retryAfterSeconds: number) {
    super(`Too many requests for this API key. Try again in ${retryAfterSeconds} seconds.`, retryAfterSeconds);
  }
}

const BEARER = /^Bearer[ ]+(\S+)\s*$/i;

/**
 * Checks the `Authorization: Bearer dck_…` header and the key's rate limit. Throws ApiUnauthorisedError
 * (401) or ApiRateLimitedError (429); returns who is calling.
 */
export async function authenticateApiRequest(
  services: Services,
  authorization: string | undefined,
  ip?: string | null,
): Promise<ApiPrincipal> {
  const match = authorization ? BEARER.exec(authorization) : null;
  if (!match) throw new ApiUnauthorisedError('Send your API key in the Authorization header: Bearer dck_…');
  const key = await verifyApiKey(services.db, match[1]!);
  if (!key) throw new ApiUnauthorisedError('The API key is not valid or has been revoked');
  const limit = await services.rateLimiter.hit(apiRateLimitKey(key.apiKeyId), services.config.apiRatePerMinute, API_RATE_LIMIT_WINDOW_SECONDS);
  if (!limit.allowed) throw new ApiRateLimitedError(limit.retryAfterSeconds);
  await touchApiKey(services.db, key, services.now());
  return { apiKeyId: key.apiKeyId, organisationId: key.organisationId, ip };
}

function actorOf(principal: ApiPrincipal): AuditActor {
  return { type: 'api_key', id: principal.apiKeyId, ip: principal.ip ?? null };
}

function patientResponseOf(patient: Patient): PatientResponse {
  return {
    nhsNumber: patient.nhsNumber,
    givenName: patient.givenName,
    familyName: patient.familyName,
    dateOfBirth: patient.dateOfBirth,
    mobileNumber: patient.mobileE164,
  };
}

/** PUT /api/v1/patients/{nhsNumber}: create or update within the caller's organisation. */
export async function putPatient(
  services: Services,
  principal: ApiPrincipal,
  nhsNumber: string,
  details: PatientDetails,
): Promise<{ created: boolean; patient: PatientResponse }> {
  return services.db.transaction(async (tx) => {
    const { patient, created } = await upsertPatient(tx, principal.organisationId, nhsNumber, details);
    await recordAudit(tx, {
      type: created ? 'patient.created' : 'patient.updated',
      actor: actorOf(principal),
      organisationId: principal.organisationId,
      patientId: patient.id,
    });
    return { created, patient: patientResponseOf(patient) };
  });
}

const PATIENT_NOT_FOUND = 'There is no patient with this NHS number in your organisation. Create the patient first with PUT /api/v1/patients/{nhsNumber}.';

/** POST /api/v1/messages: text the patient a link to a new message. */
export async function sendApiMessage(
  services: Services,
  principal: ApiPrincipal,
  input: { nhsNumber: string; body: string; replyMode: ReplyMode },
): Promise<MessageCreatedResponse> {
  const patient = await findPatientByNhsNumber(services.db, principal.organisationId, input.nhsNumber);
  if (!patient) throw new NotFound(PATIENT_NOT_FOUND);
  const sent = await sendMessage(services, {
    organisationId: principal.organisationId,
    patient,
    body: input.body,
    replyMode: input.replyMode,
    sentBy: { apiKeyId: principal.apiKeyId },
    ip: principal.ip ?? null,
  });
  return { id: sent.conversationId, status: 'queued', replyMode: input.replyMode, createdAt: sent.createdAt.toISOString() };
}

function apiSmsStatus(status: OutboundSmsStatus | undefined): Pick<MessageResponse, 'status' | 'failureReason'> {
  switch (status) {
    case 'temporary_failure':
    case 'permanent_failure':
    case 'technical_failure':
      return { status: 'failed', failureReason: status };
    case undefined:
      return { status: 'queued' };
    default:
      return { status };
  }
}

/** The API's words for a link's state (links.service.ts linkState): both locks are "locked". */
function apiLinkState(state: LinkState): MessageResponse['link']['state'] {
  return state.state === 'locked-permanently' ? 'locked' : state.state;
}

export const MESSAGE_NOT_FOUND = 'There is no message with this id in your organisation.';

/** GET /api/v1/messages/{id}: status, link and replies of one of the caller's messages. */
export async function getApiMessage(services: Services, principal: ApiPrincipal, id: string): Promise<MessageResponse> {
  const conversation = isUuid(id) ? await findOrganisationConversation(services.db, principal.organisationId, id) : undefined;
  // Only messages are messages: a conversation of another kind is not found here.
  if (!conversation || conversation.kind !== messageKind.name) throw new NotFound(MESSAGE_NOT_FOUND);
  const [patient, items, links, smsStatus] = await Promise.all([
    getPatient(services.db, principal.organisationId, conversation.patientId),
    listItems(services.db, conversation.id),
    conversationLinks(services.db, conversation.id),
    latestLinkTextStatus(services.db, conversation.id),
  ]);
  const link = currentLink(links);
  if (!link || !patient) throw new Error(`conversation ${id} has no link or no patient`);
  const payload = messageKind.payloadSchema.parse(conversation.payload);

  await recordAudit(services.db, {
    type: 'api.message_viewed',
    actor: actorOf(principal),
    organisationId: principal.organisationId,
    patientId: conversation.patientId,
    conversationId: conversation.id,
  });

  return {
    id: conversation.id,
    ...apiSmsStatus(smsStatus),
    replyMode: payload.replyMode,
    createdAt: conversation.createdAt.toISOString(),
    patient: { nhsNumber: patient.nhsNumber },
    link: { expiresAt: link.expiresAt.toISOString(), state: apiLinkState(linkState(link, services.now())) },
    replies: items
      .filter((i) => i.kind === PATIENT_REPLY)
      .map((r) => ({ id: r.id, body: r.body, createdAt: r.createdAt.toISOString() })),
  };
}

// ---- Questionnaires ---------------------------------------------------------------------------

/** POST /api/v1/questionnaires: add one of the organisation's own (validated; versions never change). */
export async function addApiQuestionnaire(
  services: Services,
  principal: ApiPrincipal,
  json: unknown,
): Promise<{ created: boolean; questionnaire: QuestionnaireAddedResponse }> {
  const { created, questionnaire } = await addQuestionnaire(services, {
    organisationId: principal.organisationId,
    json,
    author: { type: 'api_key', apiKeyId: principal.apiKeyId, ip: principal.ip ?? null },
  });
  const { id, url, version, title } = questionnaire;
  return { created, questionnaire: { id, url, version, title } };
}

/** GET /api/v1/questionnaires: the built-in catalogue and the organisation's own. */
export async function listApiQuestionnaires(services: Services, principal: ApiPrincipal): Promise<QuestionnaireListResponse> {
  const questionnaires = await listQuestionnaires(services, principal.organisationId);
  await recordAudit(services.db, { type: 'api.questionnaires_listed', actor: actorOf(principal), organisationId: principal.organisationId });
  return { questionnaires };
}

/** GET /api/v1/questionnaires/{id}: one of the organisation's own, as it was given. */
export async function getApiQuestionnaire(services: Services, principal: ApiPrincipal, id: string): Promise<Record<string, unknown>> {
  const questionnaire = await getQuestionnaire(services, principal.organisationId, id);
  await recordAudit(services.db, {
    type: 'api.questionnaire_viewed',
    actor: actorOf(principal),
    organisationId: principal.organisationId,
    details: { questionnaireId: questionnaire.id },
  });
  return questionnaire.resource;
}

// ---- Questionnaire requests: a questionnaire sent to a patient, and its answers -----------------

/**
 * POST /api/v1/questionnaire-requests: text the patient a link to one exact version of a
 * questionnaire. Throws UnknownQuestionnaire (an InvalidInput) for a url and version the organisation
 * cannot send, and DailySendLimitReached as messages do.
 */
export async function sendApiQuestionnaire(
  services: Services,
  principal: ApiPrincipal,
  input: { nhsNumber: string; questionnaire: { url: string; version: string }; closesAfterDays?: number },
): Promise<QuestionnaireRequestCreatedResponse> {
  const patient = await findPatientByNhsNumber(services.db, principal.organisationId, input.nhsNumber);
  if (!patient) throw new NotFound(PATIENT_NOT_FOUND);
  const sent = await sendQuestionnaire(services, {
    organisationId: principal.organisationId,
    patient,
    url: input.questionnaire.url,
    version: input.questionnaire.version,
    ...(input.closesAfterDays !== undefined && { closesAfterDays: input.closesAfterDays }),
    sentBy: { apiKeyId: principal.apiKeyId },
    ip: principal.ip ?? null,
  });
  const [conversation, links] = await Promise.all([
    findOrganisationConversation(services.db, principal.organisationId, sent.conversationId),
    conversationLinks(services.db, sent.conversationId),
  ]);
  const link = currentLink(links);
  if (!conversation || !link) throw new Error(`questionnaire request ${sent.conversationId} has no conversation or no link`);
  const { title } = questionnaireKind.payloadSchema.parse(conversation.payload);
  return {
    id: sent.conversationId,
    status: 'queued',
    questionnaire: { url: input.questionnaire.url, version: input.questionnaire.version, title },
    closesAt: link.expiresAt.toISOString(),
    createdAt: sent.createdAt.toISOString(),
  };
}

export const QUESTIONNAIRE_REQUEST_NOT_FOUND = 'There is no questionnaire request with this id in your organisation.';

/**
 * GET /api/v1/questionnaire-requests/{id}/response: the FHIR QuestionnaireResponse, in progress or
 * completed; each read audited. Another organisation's conversation, or a message, is not found;
 * NotAnsweredYet (also a 404, with its own words) before the patient has saved an answer.
 */
export async function getApiQuestionnaireResponse(services: Services, principal: ApiPrincipal, id: string): Promise<QuestionnaireResponse> {
  try {
    return await readQuestionnaireResponse(services, {
      organisationId: principal.organisationId,
      conversationId: id,
      actor: actorOf(principal),
      auditType: 'api.questionnaire_response_viewed',
    });
  } catch (error) {
    // The service's words name "a questionnaire", which in this API is the definition at /questionnaires.
    if (error instanceof NotFound && !(error instanceof NotAnsweredYet)) throw new NotFound(QUESTIONNAIRE_REQUEST_NOT_FOUND);
    throw error;
  }
}
