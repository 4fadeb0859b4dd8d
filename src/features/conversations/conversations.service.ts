// Starting a conversation, re-sending and revoking its link: the one send transaction every kind and
// every caller (staff pages, the API, later batches) goes through. Either all of it happens or none:
// the conversation and its first items, a new secure link, the text that carries it (outbox) and the
// audit event.
import type { Services } from '../../services.ts';
import type { Tx } from '../../platform/db/client.ts';
import { NotFound } from '../../platform/errors.ts';
import { isUuid } from '../../platform/ids.ts';
import { recordAudit, type AuditActor } from '../audit/audit.service.ts';
import { issueLink, linkUrl, revokeConversationLinks } from '../links/links.service.ts';
import { getOrganisation, type Organisation } from '../organisations/organisations.service.ts';
import { getPatient, type Patient } from '../patients/patients.service.ts';
import { enqueueSms } from '../sms/outbox.service.ts';
import { claimOrThrow, recordSubmissionResult, type Submission } from '../staff/staff-submissions.ts';
import { findOrganisationConversation, insertConversation, insertItem, type ConversationRow } from './conversations.repository.ts';
import type { ItemKind, KindBasics } from './item-kinds.ts';
import { logSendLimitNotice, takeDailySend } from './send-limits.ts';

/** Who started it: a staff member or an organisation's API key. */
export type SentBy = { staffId: string } | { apiKeyId: string };

export function senderActor(sentBy: SentBy, ip: string | null | undefined): AuditActor {
  return 'staffId' in sentBy ? { type: 'staff', id: sentBy.staffId, ip } : { type: 'api_key', id: sentBy.apiKeyId, ip };
}

export interface StartConversationInput<P> {
  organisationId: string;
  patient: Patient;
  kind: ItemKind<P>;
  payload: P;
  /** What staff wrote or chose, in order (a message; later a questionnaire request, an invitation…). */
  items: Array<{ kind: string; body: string; payload?: Record<string, unknown> }>;
  sentBy: SentBy;
  ip?: string | null;
  /**
   * Inside the send transaction, once the items exist: what the kind keeps beside them (a document's
   * file) joins the conversation in the same commit, so there is never a sent link to something missing.
   */
  attach?: (tx: Tx, created: { conversationId: string; itemIds: string[] }) => Promise<void>;
  /**
   * A staff form's one-time id: a second send of it throws DuplicateSubmission (nothing is written) and
   * says where the first one led. The API does not use it (it gets its own idempotency key).
   */
  submission?: StaffSubmission;
}

/** A staff send form's one-time id, and the page its result is (given the conversation). */
export interface StaffSubmission extends Submission {
  resultUrl: (conversationId: string) => string;
}

export interface StartedConversation {
  conversationId: string;
  linkId: string;
  outboundSmsId: string;
  createdAt: Date;
}

export async function startConversation<P>(services: Services, input: StartConversationInput<P>): Promise<StartedConversation> {
  if (input.patient.organisationId !== input.organisationId) {
    // Defence in depth: callers look patients up within the organisation already.
    throw new NotFound('Patient not found', 'patient belongs to another organisation');
  }
  const payload = input.kind.payloadSchema.parse(input.payload) as Record<string, unknown>;
  const organisation = await getOrganisation(services.db, input.organisationId);
  if (!organisation) throw new NotFound('Organisation not found');
  const now = services.now();
  const staffId = 'staffId' in input.sentBy ? input.sentBy.staffId : null;
  const actor = senderActor(input.sentBy, input.ip);
  const started = await services.db.transaction(async (tx) => {
    // First, before anything else is written or counted: see staff-submissions.ts for why here.
    if (input.submission) await claimOrThrow(tx, input.submission, now);
    // Throws DailySendLimitReached (nothing is written) once the organisation's day is used up.
    const notice = await takeDailySend(services, tx, { organisationId: input.organisationId, actor, now });
    const conversation = await insertConversation(tx, {
      organisationId: input.organisationId,
      patientId: input.patient.id,
      kind: input.kind.name,
      payload,
      createdByStaffId: staffId,
      createdByApiKeyId: 'apiKeyId' in input.sentBy ? input.sentBy.apiKeyId : null,
      createdAt: now,
    });
    const itemIds: string[] = [];
    for (const item of input.items) {
      const inserted = await insertItem(tx, { conversationId: conversation.id, ...item, authorStaffId: staffId, createdAt: now });
      itemIds.push(inserted!.id);
    }
    await input.attach?.(tx, { conversationId: conversation.id, itemIds });
    const sent = await sendNewLink(services, tx, {
      conversation,
      patient: input.patient,
      organisation,
      actor,
      kind: input.kind,
      now,
      resent: false,
    });
    if (input.submission) await recordSubmissionResult(tx, input.submission.staffUserId, input.submission.submissionId, input.submission.resultUrl(conversation.id));
    return { notice, conversation: { conversationId: conversation.id, ...sent, createdAt: conversation.createdAt } };
  });
  logSendLimitNotice(services, input.organisationId, started.notice);
  return started.conversation;
}

/** A new link for the conversation, the text that carries it, and the audit event that says so. */
async function sendNewLink(
  services: Services,
  tx: Tx,
  input: { conversation: ConversationRow; patient: Patient; organisation: Organisation; actor: AuditActor; kind: KindBasics; now: Date; resent: boolean },
): Promise<{ linkId: string; outboundSmsId: string }> {
  const { conversation, patient, organisation, kind } = input;
  const ttlEnds = new Date(input.now.getTime() + kind.linkTtlDays(services.config, kind.payloadSchema.parse(conversation.payload)) * 86_400_000);
  const keepUntil = await kind.keepLinksUntil?.(tx, conversation.id);
  const { link, token } = await issueLink(tx, {
    conversationId: conversation.id,
    phoneE164: patient.mobileE164,
    expiresAt: keepUntil && keepUntil > ttlEnds ? keepUntil : ttlEnds,
    now: input.now,
  });
  const sms = await enqueueSms(tx, services.jobs, {
    organisationId: organisation.id,
    conversationId: conversation.id,
    linkId: link.id,
    kind: 'message_link',
    phoneE164: patient.mobileE164,
    personalisation: {
      organisation_name: organisation.name,
      waiting: kind.words.textWaiting,
      link: linkUrl(services.config.publicBaseUrl, token),
    },
  });
  await recordAudit(tx, {
    type: kind.sentAuditType,
    actor: input.actor,
    organisationId: organisation.id,
    patientId: patient.id,
    conversationId: conversation.id,
    linkId: link.id,
    details: input.resent ? { ...conversation.payload, resent: true } : conversation.payload,
  });
  return { linkId: link.id, outboundSmsId: sms.id };
}

interface StaffAction {
  organisationId: string;
  staffId: string;
  conversationId: string;
  ip: string;
}

async function organisationConversation(services: Services, tx: Tx, input: StaffAction) {
  const conversation = isUuid(input.conversationId) ? await findOrganisationConversation(tx, input.organisationId, input.conversationId) : undefined;
  if (!conversation) throw new NotFound('Page not found', 'conversation not found in this organisation');
  const patient = await getPatient(tx, input.organisationId, conversation.patientId);
  if (!patient) throw new NotFound('Page not found', 'conversation without its patient');
  return { conversation, patient };
}

/**
 * Re-send: every live link of the conversation is revoked and a fresh one is texted to the patient's
 * current mobile number. This is also how a link locked after too many wrong dates of birth or security
 * codes is unlocked: the new link starts with no failures counted.
 */
export async function resendLink(
  services: Services,
  input: StaffAction & { submission?: StaffSubmission },
): Promise<{ linkId: string; outboundSmsId: string }> {
  const now = services.now();
  const organisation = await getOrganisation(services.db, input.organisationId);
  if (!organisation) throw new NotFound('Page not found', 'organisation not found');
  return services.db.transaction(async (tx) => {
    // First in the transaction, as in startConversation: a duplicate sends no second link.
    if (input.submission) await claimOrThrow(tx, input.submission, now);
    const { conversation, patient } = await organisationConversation(services, tx, input);
    const actor: AuditActor = { type: 'staff', id: input.staffId, ip: input.ip };
    const revoked = await revokeConversationLinks(tx, conversation.id, now);
    if (revoked > 0) {
      await recordAudit(tx, {
        type: 'link.revoked',
        actor,
        organisationId: organisation.id,
        patientId: patient.id,
        conversationId: conversation.id,
        details: { reason: 'resent', links: revoked },
      });
    }
    const kind = services.itemKinds.get(conversation.kind);
    const sent = await sendNewLink(services, tx, { conversation, patient, organisation, actor, kind, now, resent: true });
    if (input.submission) await recordSubmissionResult(tx, input.submission.staffUserId, input.submission.submissionId, input.submission.resultUrl(conversation.id));
    return sent;
  });
}

/**
 * Revoke: the patient can no longer open the conversation with any link sent so far, and it is gone
 * from their portal too (revoking is how staff put right a message sent to the wrong person).
 */
export async function revokeConversation(services: Services, input: StaffAction): Promise<number> {
  const now = services.now();
  return services.db.transaction(async (tx) => {
    const { conversation, patient } = await organisationConversation(services, tx, input);
    const revoked = await revokeConversationLinks(tx, conversation.id, now);
    if (revoked > 0) {
      await recordAudit(tx, {
        type: 'link.revoked',
        actor: { type: 'staff', id: input.staffId, ip: input.ip },
        organisationId: input.organisationId,
        patientId: patient.id,
        conversationId: conversation.id,
        details: { reason: 'staff', links: revoked },
      });
    }
    return revoked;
  });
}
