// The rules behind the integrators' JSON API. Every function works within the organisation of the API
// key that called it: another organisation's patients and messages are simply "not found", so the API
// never reveals that they exist.
import { and, asc, desc, eq } from 'drizzle-orm';
import type { Services } from '../../services.ts';
import { conversationItems, conversations, links, outboundSms, patients } from '../../platform/db/schema.ts';
import { AppError } from '../../platform/http/errors.ts';
import { recordAudit, type AuditActor } from '../audit/audit.service.ts';
import { sendMessage, type ReplyMode } from '../messages/messages.service.ts';
import { findPatientByNhsNumber, upsertPatient, type Patient, type PatientDetails } from '../patients/patients.service.ts';
import { touchApiKey, verifyApiKey } from './api-keys.service.ts';
import type { MessageCreatedResponse, MessageResponse, PatientResponse } from './api.schemas.ts';

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

export class ApiUnauthorisedError extends AppError {
  constructor(publicMessage: string) {
    super(401, publicMessage);
    this.name = 'ApiUnauthorisedError';
  }
}

export class ApiRateLimitedError extends AppError {
  readonly retryAfterSeconds: number;
  constructor(retryAfterSeconds: number) {
    super(429, `Too many requests for this API key. Try again in ${retryAfterSeconds} seconds.`);
    this.name = 'ApiRateLimitedError';
    this.retryAfterSeconds = retryAfterSeconds;
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
  if (!patient) throw new AppError(404, PATIENT_NOT_FOUND);
  const sent = await sendMessage(services, {
    organisationId: principal.organisationId,
    patient,
    body: input.body,
    replyMode: input.replyMode,
    sentBy: { apiKeyId: principal.apiKeyId },
    ip: principal.ip ?? null,
  });
  const [row] = await services.db
    .select({ createdAt: conversations.createdAt })
    .from(conversations)
    .where(eq(conversations.id, sent.conversationId));
  return { id: sent.conversationId, status: 'queued', replyMode: input.replyMode, createdAt: row!.createdAt.toISOString() };
}

type SmsStatus = (typeof outboundSms.$inferSelect)['status'];

function apiSmsStatus(status: SmsStatus | undefined): Pick<MessageResponse, 'status' | 'failureReason'> {
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

function linkState(link: typeof links.$inferSelect, now: Date): MessageResponse['link']['state'] {
  if (link.revokedAt) return 'revoked';
  if (link.expiresAt.getTime() <= now.getTime()) return 'expired';
  if (link.lockedPermanentlyAt || (link.lockedUntil && link.lockedUntil.getTime() > now.getTime())) return 'locked';
  return 'active';
}

const MESSAGE_NOT_FOUND = 'There is no message with this id in your organisation.';

/** GET /api/v1/messages/{id}: status, link and replies of one of the caller's messages. */
export async function getApiMessage(services: Services, principal: ApiPrincipal, id: string): Promise<MessageResponse> {
  const [conversation] = await services.db
    .select({
      id: conversations.id,
      replyMode: conversations.replyMode,
      createdAt: conversations.createdAt,
      patientId: conversations.patientId,
      nhsNumber: patients.nhsNumber,
    })
    .from(conversations)
    .innerJoin(patients, eq(patients.id, conversations.patientId))
    .where(and(eq(conversations.id, id), eq(conversations.organisationId, principal.organisationId)));
  if (!conversation) throw new AppError(404, MESSAGE_NOT_FOUND);

  const [[link], [sms], replies] = await Promise.all([
    services.db.select().from(links).where(eq(links.conversationId, id)).orderBy(desc(links.createdAt)).limit(1),
    services.db
      .select({ status: outboundSms.status })
      .from(outboundSms)
      .where(and(eq(outboundSms.conversationId, id), eq(outboundSms.kind, 'message_link')))
      .orderBy(desc(outboundSms.createdAt))
      .limit(1),
    services.db
      .select({ id: conversationItems.id, body: conversationItems.body, createdAt: conversationItems.createdAt })
      .from(conversationItems)
      .where(and(eq(conversationItems.conversationId, id), eq(conversationItems.kind, 'patient_reply')))
      .orderBy(asc(conversationItems.seq)),
  ]);
  if (!link) throw new AppError(500, 'Sorry, there is a problem with the service', `conversation ${id} has no link`);

  await recordAudit(services.db, {
    type: 'api.message_viewed',
    actor: actorOf(principal),
    organisationId: principal.organisationId,
    patientId: conversation.patientId,
    conversationId: conversation.id,
  });

  return {
    id: conversation.id,
    ...apiSmsStatus(sms?.status),
    replyMode: conversation.replyMode,
    createdAt: conversation.createdAt.toISOString(),
    patient: { nhsNumber: conversation.nhsNumber },
    link: { expiresAt: link.expiresAt.toISOString(), state: linkState(link, services.now()) },
    replies: replies.map((r) => ({ id: r.id, body: r.body, createdAt: r.createdAt.toISOString() })),
  };
}
