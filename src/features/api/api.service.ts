// The rules behind the integrators' JSON API. Every function works within the organisation of the API
// key that called it: another organisation's patients and messages are simply "not found", so the API
// never reveals that they exist.
import type { Services } from '../../services.ts';
import { DomainError, InvalidInput, NotAuthenticated, NotFound, RateLimited } from '../../platform/errors.ts';
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
import { InvalidInvitation, sendInvitation } from '../booking/booking-invitations.service.ts';
import { bookingKind, bookingPayloadSchema } from '../booking/booking.kind.ts';
import { bookingOpen } from '../booking/booking.service.ts';
import {
  findAppointmentType,
  freeSlots,
  listAppointmentTypes,
  listClinicians,
  listLocations,
  organisationBookings,
  ORGANISATION_BOOKINGS_MAX,
  invitationBookings,
  type AppointmentMode,
  type AppointmentType,
  type Booking,
  type Clinician,
  type Location,
} from '../booking/booking.repository.ts';
import { addDays, londonInstant } from '../booking/booking-times.ts';
import { newSecret } from '../../platform/crypto/tokens.ts';
import { deleteFileBytes, takeFile, type FileRefusal } from '../files/file-intake.service.ts';
import { findConversationFile, type FileRow } from '../files/files.repository.ts';
import { refusalMessage } from '../files/file-words.ts';
import { documentKind, documentPayloadSchema } from '../documents/document.kind.ts';
import { documentView, sendDocument } from '../documents/documents.service.ts';
import { touchApiKey, verifyApiKey } from './api-keys.service.ts';
import type { Readable } from 'node:stream';
import type {
  AppointmentTypesResponse,
  DocumentCreatedResponse,
  DocumentResponse,
  BookingInvitationCreatedResponse,
  BookingInvitationResponse,
  BookingJson,
  BookingSlotsResponse,
  BookingsResponse,
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

// ---- Booking: what can be booked, invitations to book, and the bookings made ---------------------

/** Bad input about one field, found only by looking in the database (an id of no type of yours). */
export class ApiFieldInvalid extends InvalidInput {
  readonly field: string;
  constructor(field: string, message: string) {
    super(message);
    this.field = field;
  }
}

const UNKNOWN_TYPE = 'There is no appointment type with this id in your organisation. See GET /api/v1/appointment-types.';
const UNKNOWN_CLINICIAN = 'There is no clinician with this id in your organisation. See GET /api/v1/appointment-types.';
// freeSlots() leaves out times held by other invitations than this one; the API holds nothing, so no
// invitation is "this one" and every live hold counts.
const NO_INVITATION = '00000000-0000-0000-0000-000000000000';

/** London dates, both included, as the instants [from midnight, the midnight after `to`). */
function londonRange(from: string, to: string): { from: Date; to: Date } {
  return { from: londonInstant(from, '00:00')!, to: londonInstant(addDays(to, 1), '00:00')! };
}

/** GET /api/v1/appointment-types: the ids an integrator needs for the other booking endpoints. */
export async function listApiAppointmentTypes(services: Services, principal: ApiPrincipal): Promise<AppointmentTypesResponse> {
  const [types, clinicians, locations] = await Promise.all([
    listAppointmentTypes(services.db, principal.organisationId),
    listClinicians(services.db, principal.organisationId),
    listLocations(services.db, principal.organisationId),
  ]);
  return {
    appointmentTypes: types.map((t) => ({ id: t.id, name: t.name, lengthMinutes: t.lengthMinutes, mode: t.mode as AppointmentMode, cancelCutoffMinutes: t.cancelCutoffMinutes })),
    clinicians: clinicians.map((c) => ({ id: c.id, name: c.name, role: c.role })),
    locations: locations.map((l) => ({ id: l.id, name: l.name, address: l.address, phone: l.phone })),
  };
}

/**
 * GET /api/v1/booking-slots: times a patient could book now (future, not blocked, booked or held).
 * Only a guide: an invitation's patient may still lose a time to someone quicker, and the database
 * refuses the second booking of a slot whoever makes it.
 */
export async function listApiBookingSlots(
  services: Services,
  principal: ApiPrincipal,
  query: { appointmentTypeId: string; from: string; to: string; clinicianId?: string },
): Promise<BookingSlotsResponse> {
  const { organisationId } = principal;
  const type = await findAppointmentType(services.db, organisationId, query.appointmentTypeId);
  if (!type) throw new ApiFieldInvalid('appointmentTypeId', UNKNOWN_TYPE);
  const clinicians = await listClinicians(services.db, organisationId);
  if (query.clinicianId && !clinicians.some((c) => c.id === query.clinicianId)) throw new ApiFieldInvalid('clinicianId', UNKNOWN_CLINICIAN);
  const slots = await freeSlots(services.db, {
    organisationId,
    appointmentTypeId: type.id,
    ...(query.clinicianId && { clinicianIds: [query.clinicianId] }),
    ...londonRange(query.from, query.to),
    now: services.now(),
    conversationId: NO_INVITATION,
  });
  await recordAudit(services.db, {
    type: 'api.booking_slots_listed',
    actor: actorOf(principal),
    organisationId,
    details: { appointmentTypeId: type.id, from: query.from, to: query.to, ...(query.clinicianId && { clinicianId: query.clinicianId }), count: slots.length },
  });
  return {
    slots: slots.map((s) => ({
      id: s.id,
      start: s.startsAt.toISOString(),
      end: s.endsAt.toISOString(),
      clinician: { id: s.clinicianId, name: s.clinicianName, role: s.clinicianRole },
      location: { id: s.locationId, name: s.locationName },
    })),
  };
}

/**
 * POST /api/v1/booking-invitations: text the patient a link to book a time of one appointment type.
 * The type and clinicians are looked up in the caller's organisation first, so another organisation's
 * ids are refused naming the field, exactly as unknown ones are.
 */
export async function sendApiBookingInvitation(
  services: Services,
  principal: ApiPrincipal,
  input: { nhsNumber: string; appointmentTypeId: string; clinicianIds?: string[]; earliest?: string; latest?: string },
): Promise<BookingInvitationCreatedResponse> {
  const { organisationId } = principal;
  // The patient first, as every other send does: another organisation's patient is 404 whatever else is sent.
  const patient = await findPatientByNhsNumber(services.db, organisationId, input.nhsNumber);
  if (!patient) throw new NotFound(PATIENT_NOT_FOUND);
  const sent = await sendInvitation(services, {
    organisationId,
    patient,
    invitation: { appointmentTypeId: input.appointmentTypeId, clinicianIds: input.clinicianIds ?? [], earliest: input.earliest, latest: input.latest },
    sentBy: { apiKeyId: principal.apiKeyId },
    ip: principal.ip ?? null,
  }).catch((error: unknown) => {
    // The API's words for ids: where to find the right ones.
    if (!(error instanceof InvalidInvitation)) throw error;
    if (error.field === 'appointmentTypeId') throw new ApiFieldInvalid('appointmentTypeId', UNKNOWN_TYPE);
    if (error.field === 'clinicianIds') throw new ApiFieldInvalid(`clinicianIds.${error.index ?? 0}`, UNKNOWN_CLINICIAN);
    throw new ApiFieldInvalid(error.field, error.publicMessage);
  });
  const [conversation, links] = await Promise.all([
    findOrganisationConversation(services.db, organisationId, sent.conversationId),
    conversationLinks(services.db, sent.conversationId),
  ]);
  const link = currentLink(links);
  if (!conversation || !link) throw new Error(`booking invitation ${sent.conversationId} has no conversation or no link`);
  const payload = bookingPayloadSchema.parse(conversation.payload);
  return {
    id: sent.conversationId,
    status: 'queued',
    appointmentType: { id: payload.appointmentTypeId, name: payload.typeName },
    earliest: payload.earliest,
    latest: payload.latest,
    linkExpiresAt: link.expiresAt.toISOString(),
    createdAt: sent.createdAt.toISOString(),
  };
}

type BookingRow = Booking & { locationId: string; appointmentTypeId: string; nhsNumber: string };

/** A booking as the API shows it, named from the organisation's types, clinicians and places. */
function bookingToJson(setUp: { types: AppointmentType[]; clinicians: Clinician[]; locations: Location[] }): (row: BookingRow) => BookingJson {
  const typeById = new Map(setUp.types.map((t) => [t.id, t]));
  const clinicianById = new Map(setUp.clinicians.map((c) => [c.id, c]));
  const locationById = new Map(setUp.locations.map((l) => [l.id, l]));
  return (row) => {
    const type = typeById.get(row.appointmentTypeId);
    const clinician = clinicianById.get(row.clinicianId);
    const location = locationById.get(row.locationId);
    if (!type || !clinician || !location) throw new Error(`booking ${row.id} has no type, clinician or location`);
    return {
      id: row.id,
      invitationId: row.conversationId,
      status: row.cancelledAt ? 'cancelled' : 'booked',
      patient: { nhsNumber: row.nhsNumber },
      start: row.startsAt.toISOString(),
      end: row.endsAt.toISOString(),
      clinician: { id: clinician.id, name: clinician.name, role: clinician.role },
      location: { id: location.id, name: location.name },
      appointmentType: { id: type.id, name: type.name },
      bookedAt: row.bookedAt.toISOString(),
      cancelledAt: row.cancelledAt?.toISOString() ?? null,
      // A time changed from was replaced by the booking after it, by whoever changed it.
      cancelledBy: row.cancelledAt ? (row.cancelledBy === 'staff' ? 'staff' : 'patient') : null,
      cancelReason: row.cancelReason,
    };
  };
}

export const BOOKING_INVITATION_NOT_FOUND = 'There is no invitation to book with this id in your organisation.';

/** GET /api/v1/booking-invitations/{id}: whether the patient booked, and every booking made from it. */
export async function getApiBookingInvitation(services: Services, principal: ApiPrincipal, id: string): Promise<BookingInvitationResponse> {
  const { organisationId } = principal;
  const conversation = isUuid(id) ? await findOrganisationConversation(services.db, organisationId, id) : undefined;
  if (!conversation || conversation.kind !== bookingKind.name) throw new NotFound(BOOKING_INVITATION_NOT_FOUND);
  const payload = bookingPayloadSchema.parse(conversation.payload);
  const [patient, rows, links, types, clinicians, locations] = await Promise.all([
    getPatient(services.db, organisationId, conversation.patientId),
    invitationBookings(services.db, conversation.id),
    conversationLinks(services.db, conversation.id),
    listAppointmentTypes(services.db, organisationId),
    listClinicians(services.db, organisationId),
    listLocations(services.db, organisationId),
  ]);
  const link = currentLink(links);
  if (!patient || !link) throw new Error(`booking invitation ${id} has no patient or no link`);
  const history = rows.map((row) => bookingToJson({ types, clinicians, locations })({ ...row, nhsNumber: patient.nhsNumber }));
  const booking = history.find((b) => b.status === 'booked') ?? null;
  const now = services.now();
  const open = bookingOpen(services, { ...conversation, payload }, now) && !['revoked', 'expired'].includes(linkState(link, now).state);
  await recordAudit(services.db, {
    type: 'api.booking_invitation_viewed',
    actor: actorOf(principal),
    organisationId,
    patientId: patient.id,
    conversationId: conversation.id,
  });
  return {
    id: conversation.id,
    status: booking ? 'booked' : history.length > 0 ? 'cancelled' : open ? 'waiting' : 'closed',
    appointmentType: { id: payload.appointmentTypeId, name: payload.typeName },
    earliest: payload.earliest,
    latest: payload.latest,
    linkExpiresAt: link.expiresAt.toISOString(),
    createdAt: conversation.createdAt.toISOString(),
    booking,
    history,
  };
}

/**
 * GET /api/v1/bookings: the organisation's bookings starting on the London dates asked (a change of
 * time shows only as the new booking). The audit records ids only, never patient details.
 */
export async function listApiBookings(
  services: Services,
  principal: ApiPrincipal,
  query: { from: string; to: string; includeCancelled: boolean },
): Promise<BookingsResponse> {
  const { organisationId } = principal;
  const [found, types, clinicians, locations] = await Promise.all([
    organisationBookings(services.db, { organisationId, ...londonRange(query.from, query.to), includeCancelled: query.includeCancelled }),
    listAppointmentTypes(services.db, organisationId),
    listClinicians(services.db, organisationId),
    listLocations(services.db, organisationId),
  ]);
  if (found.more) throw new ApiFieldInvalid('to', `More than ${ORGANISATION_BOOKINGS_MAX} bookings start in these dates: ask for fewer days at a time`);
  const toJson = bookingToJson({ types, clinicians, locations });
  const bookings = found.rows.map(toJson);
  await recordAudit(services.db, {
    type: 'api.bookings_listed',
    actor: actorOf(principal),
    organisationId,
    details: { from: query.from, to: query.to, includeCancelled: query.includeCancelled, bookingIds: bookings.map((b) => b.id) },
  });
  return { bookings };
}

// ---- Documents: a PDF sent to a patient, and whether they have opened it --------------------------

/** The file could not be checked for viruses (the scanner is down or timed out): try again later. */
export class ApiFileUnchecked extends DomainError {
  readonly retryAfterSeconds: number;
  constructor(publicMessage: string, retryAfterSeconds: number) {
    super(publicMessage);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** How long a client should wait before sending a file again that could not be scanned. */
export const SCAN_RETRY_AFTER_SECONDS = 60;

const DOCUMENT_WORDS = { allowedWords: 'a PDF' } as const;

/** The API's words for a refused file: the page's, which name the rule broken. */
export function documentRefusalMessage(services: Services, refusal: FileRefusal): string {
  return refusalMessage(refusal, { ...DOCUMENT_WORDS, maxBytes: services.config.files.documentMaxBytes, maxFiles: 1 });
}

/**
 * POST /api/v1/documents, first step: the patient (before a byte of the file is read: another
 * organisation's patient is a 404 and nothing is stored), then the PDF, taken in through the one
 * upload path (checked, counted, encrypted, scanned). A refused file leaves nothing in the store; it
 * throws ApiFieldInvalid naming `file`, or ApiFileUnchecked (503) when it could not be scanned.
 */
export async function takeApiDocument(
  services: Services,
  principal: ApiPrincipal,
  input: { nhsNumber: string; file: { fileName: string; stream: Readable } },
): Promise<{ patient: Patient; file: FileRow }> {
  const patient = await findApiPatient(services, principal, input.nhsNumber);
  const taken = await takeFile(services, {
    body: input.file.stream,
    originalName: input.file.fileName,
    purpose: 'document',
    allowed: ['application/pdf'],
    maxBytes: services.config.files.documentMaxBytes,
    organisationId: principal.organisationId,
    conversationId: null,
    // No form to come back to: a key of its own, so no other send can take this draft.
    draftKey: newSecret(16),
    uploadedByStaffId: null,
    availableDays: services.config.files.documentAvailableDays,
    actor: actorOf(principal),
    patientId: patient.id,
  });
  if (taken.ok) return { patient, file: taken.file };
  const message = documentRefusalMessage(services, taken.refusal);
  if (taken.refusal === 'scan_failed') throw new ApiFileUnchecked(message, SCAN_RETRY_AFTER_SECONDS);
  throw new ApiFieldInvalid('file', message);
}

/** The caller's patient with this NHS number; NotFound (404) for anyone else's or no one's. */
export async function findApiPatient(services: Services, principal: ApiPrincipal, nhsNumber: string): Promise<Patient> {
  const patient = await findPatientByNhsNumber(services.db, principal.organisationId, nhsNumber);
  if (!patient) throw new NotFound(PATIENT_NOT_FOUND);
  return patient;
}

/** A PDF taken in but not sent (the request was refused after it): its bytes go at once. */
export async function discardApiDocument(services: Services, principal: ApiPrincipal, file: FileRow): Promise<void> {
  await deleteFileBytes(services, file, 'abandoned', actorOf(principal));
}

/**
 * POST /api/v1/documents, second step: text the patient a link to the document. Throws
 * DailySendLimitReached as messages do; whatever stops the send, the file's bytes are deleted, since
 * an API client has no form to send it again from.
 */
export async function sendApiDocument(
  services: Services,
  principal: ApiPrincipal,
  input: { patient: Patient; title: string; note: string; file: FileRow },
): Promise<DocumentCreatedResponse> {
  let sent;
  try {
    sent = await sendDocument(services, {
      organisationId: principal.organisationId,
      patient: input.patient,
      title: input.title,
      note: input.note,
      file: input.file,
      sentBy: { apiKeyId: principal.apiKeyId },
      ip: principal.ip ?? null,
    });
  } catch (error) {
    await discardApiDocument(services, principal, input.file);
    throw error;
  }
  const links = await conversationLinks(services.db, sent.conversationId);
  const link = currentLink(links);
  if (!link) throw new Error(`document ${sent.conversationId} has no link`);
  return {
    id: sent.conversationId,
    status: 'queued',
    title: input.title,
    file: documentFileJson(input.file),
    availableUntil: input.file.availableUntil!.toISOString(),
    linkExpiresAt: link.expiresAt.toISOString(),
    createdAt: sent.createdAt.toISOString(),
  };
}

function documentFileJson(file: Pick<FileRow, 'fileName' | 'mediaType' | 'sizeBytes'>): DocumentResponse['file'] {
  return { name: file.fileName, mediaType: file.mediaType, sizeBytes: file.sizeBytes };
}

export const DOCUMENT_NOT_FOUND = 'There is no document with this id in your organisation.';

/** GET /api/v1/documents/{id}: delivery, whether the patient can still open it, and when they first did. */
export async function getApiDocument(services: Services, principal: ApiPrincipal, id: string): Promise<DocumentResponse> {
  const conversation = isUuid(id) ? await findOrganisationConversation(services.db, principal.organisationId, id) : undefined;
  if (!conversation || conversation.kind !== documentKind.name) throw new NotFound(DOCUMENT_NOT_FOUND);
  const payload = documentPayloadSchema.parse(conversation.payload);
  const [patient, items, links, smsStatus] = await Promise.all([
    getPatient(services.db, principal.organisationId, conversation.patientId),
    listItems(services.db, conversation.id),
    conversationLinks(services.db, conversation.id),
    latestLinkTextStatus(services.db, conversation.id),
  ]);
  const link = currentLink(links);
  if (!link || !patient) throw new Error(`document ${id} has no link or no patient`);
  const view = await documentView(services, { conversation: { ...conversation, payload }, items }, '');
  const file = await findConversationFile(services.db, conversation.id, payload.fileId);
  if (!file) throw new Error(`document ${id} has no file row`);

  await recordAudit(services.db, {
    type: 'api.document_viewed',
    actor: actorOf(principal),
    organisationId: principal.organisationId,
    patientId: conversation.patientId,
    conversationId: conversation.id,
  });

  return {
    id: conversation.id,
    ...apiSmsStatus(smsStatus),
    createdAt: conversation.createdAt.toISOString(),
    patient: { nhsNumber: patient.nhsNumber },
    title: view.title,
    note: view.note,
    file: documentFileJson(file),
    available: view.document.state === 'available',
    availableUntil: file.availableUntil!.toISOString(),
    deleted: file.deletedAt !== null,
    firstOpenedAt: view.firstOpenedAt?.toISOString() ?? null,
    link: { expiresAt: link.expiresAt.toISOString(), state: apiLinkState(linkState(link, services.now())) },
  };
}
