// Staff replying in a 'conversation' message: one more staff item in the thread, and a text that says
// the organisation has replied, with a link to the same conversation. The first link's token exists
// only in the first text (only its hash is stored), so the text carries a fresh link to the same
// conversation, as a questionnaire reminder does: it closes when the current link does (a reply never
// keeps a conversation open longer) and the earlier links keep working.
import type { Queryable, Tx } from '../../platform/db/client.ts';
import { NotFound } from '../../platform/errors.ts';
import { isUuid } from '../../platform/ids.ts';
import type { Services } from '../../services.ts';
import { recordAudit } from '../audit/audit.service.ts';
import { findOrganisationConversation, insertItem, markConversationRead, type ConversationRow } from '../conversations/conversations.repository.ts';
import { ensureDailySendLeft } from '../conversations/send-limits.ts';
import { conversationLinks, currentLink, issueLink, linkState, linkUrl, lockConversationForLinks, type Link } from '../links/links.service.ts';
import { getOrganisation } from '../organisations/organisations.service.ts';
import { getPatient, type Patient } from '../patients/patients.service.ts';
import { enqueueSms } from '../sms/outbox.service.ts';
import type { StaffSubmission } from '../conversations/conversations.service.ts';
import { claimOrThrow, recordSubmissionResult } from '../staff/staff-submissions.ts';
import { STAFF_MESSAGE } from './message-replies.service.ts';
import { messageBodySchema } from './messages.service.ts';

/** Why staff cannot reply: each has its own sentence on the conversation page. */
export type StaffReplyBlock = 'not_conversation' | 'no_link' | 'revoked' | 'expired' | 'locked' | 'number_changed';

export type StaffReplyState = { canReply: true; linkExpiresAt: Date } | { canReply: false; reason: StaffReplyBlock };

/**
 * Whether staff may reply now. Only a message sent as a conversation takes replies from staff, and only
 * while its link works: not revoked, not expired, and no live link of it locked (a new link must not
 * get round a lock, which only a re-send lifts). The link must still go to the patient's number: after
 * a change, staff re-send.
 */
export function staffReplyState(
  conversation: { kind: string; payload: Record<string, unknown> },
  newestFirst: readonly Link[],
  patient: Pick<Patient, 'mobileE164'>,
  now: Date,
): StaffReplyState {
  if (conversation.kind !== 'message' || conversation.payload.replyMode !== 'conversation') return { canReply: false, reason: 'not_conversation' };
  const current = currentLink(newestFirst);
  if (!current) return { canReply: false, reason: 'no_link' };
  const state = linkState(current, now);
  if (state.state === 'revoked' || state.state === 'expired') return { canReply: false, reason: state.state };
  const live = newestFirst.filter((l) => !l.revokedAt && l.expiresAt.getTime() > now.getTime());
  if (state.state !== 'active' || live.some((l) => linkState(l, now).state !== 'active')) return { canReply: false, reason: 'locked' };
  if (current.phoneE164 !== patient.mobileE164) return { canReply: false, reason: 'number_changed' };
  return { canReply: true, linkExpiresAt: current.expiresAt };
}

/** The state for a conversation already found in the organisation (the conversation page's panel). */
export async function staffReplyStateOf(
  services: Services,
  on: Queryable,
  conversation: Pick<ConversationRow, 'id' | 'kind' | 'organisationId' | 'patientId'> & { payload: Record<string, unknown> },
): Promise<StaffReplyState> {
  const patient = await getPatient(on, conversation.organisationId, conversation.patientId);
  if (!patient) return { canReply: false, reason: 'no_link' };
  return staffReplyState(conversation, await conversationLinks(on, conversation.id), patient, services.now());
}

export interface StaffReplyInput {
  organisationId: string;
  staffId: string;
  conversationId: string;
  body: string;
  ip: string;
  /** The reply form's one-time id: a second post of it throws DuplicateSubmission and sends nothing. */
  submission?: StaffSubmission;
}

/** Thrown inside the transaction so a refused reply leaves no claim of its form's id behind. */
class ReplyRefused extends Error {
  readonly reason: StaffReplyBlock;
  constructor(reason: StaffReplyBlock) {
    super(reason);
    this.reason = reason;
  }
}

export type StaffReplyResult =
  | { kind: 'sent'; itemId: string; linkId: string; outboundSmsId: string; patientName: string }
  | { kind: 'invalid'; message: string }
  | { kind: 'refused'; reason: StaffReplyBlock };

/**
 * Stores the reply and queues its text in one transaction (item, new link, text, audit event). Throws
 * NotFound for a conversation of any other organisation, and DailySendLimitReached (nothing written)
 * once the organisation's day is used up. The reply does not take the conversation out of "Done", nor
 * mark it unread for anyone: only what the patient sends does that.
 */
export async function staffReply(services: Services, input: StaffReplyInput): Promise<StaffReplyResult> {
  const parsed = messageBodySchema.safeParse(input.body);
  if (!parsed.success) return { kind: 'invalid', message: parsed.error.issues[0]!.message };
  if (!isUuid(input.conversationId)) throw new NotFound('Page not found', 'conversation not found in this organisation');
  const organisation = await getOrganisation(services.db, input.organisationId);
  if (!organisation) throw new NotFound('Page not found', 'organisation not found');
  const now = services.now();
  try {
    return await services.db.transaction(async (tx): Promise<StaffReplyResult> => {
      // First in the transaction: see staff-submissions.ts for why.
      if (input.submission) await claimOrThrow(tx, input.submission, now);
      return await replyInTransaction(services, tx, input, parsed.data, organisation, now);
    });
  } catch (error) {
    if (error instanceof ReplyRefused) return { kind: 'refused', reason: error.reason };
    throw error;
  }
}

async function replyInTransaction(
  services: Services,
  tx: Tx,
  input: StaffReplyInput,
  body: string,
  organisation: { id: string; name: string },
  now: Date,
): Promise<StaffReplyResult> {
  // Held as revoking and reminders hold it: a revoke that comes after waits, and revokes this link too.
  await lockConversationForLinks(tx, input.conversationId);
  const conversation = await findOrganisationConversation(tx, input.organisationId, input.conversationId);
  if (!conversation) throw new NotFound('Page not found', 'conversation not found in this organisation');
  const patient = await getPatient(tx, input.organisationId, conversation.patientId);
  if (!patient) throw new NotFound('Page not found', 'conversation without its patient');
  const state = staffReplyState(conversation, await conversationLinks(tx, conversation.id), patient, now);
  if (!state.canReply) throw new ReplyRefused(state.reason);
  await ensureDailySendLeft(services, tx, { organisationId: organisation.id, now });
  const item = await insertItem(tx, { conversationId: conversation.id, kind: STAFF_MESSAGE, body, authorStaffId: input.staffId, createdAt: now });
  const { link, token } = await issueLink(tx, { conversationId: conversation.id, phoneE164: patient.mobileE164, expiresAt: state.linkExpiresAt, now, besideLiveLinks: true });
  const sms = await enqueueSms(tx, services.jobs, {
    organisationId: organisation.id,
    conversationId: conversation.id,
    linkId: link.id,
    kind: 'staff_reply',
    phoneE164: patient.mobileE164,
    personalisation: { organisation_name: organisation.name, link: linkUrl(services.config.publicBaseUrl, token) },
  });
  await recordAudit(tx, {
    type: 'message.staff_replied',
    actor: { type: 'staff', id: input.staffId, ip: input.ip },
    organisationId: organisation.id,
    patientId: patient.id,
    conversationId: conversation.id,
    linkId: link.id,
    details: { conversationId: conversation.id, itemId: item!.id },
  });
  // They wrote it, so it is not unread for them.
  await markConversationRead(tx, conversation.id, input.staffId, item!.seq, now);
  if (input.submission) await recordSubmissionResult(tx, input.submission.staffUserId, input.submission.submissionId, input.submission.resultUrl(conversation.id));
  return { kind: 'sent', itemId: item!.id, linkId: link.id, outboundSmsId: sms.id, patientName: `${patient.givenName} ${patient.familyName}` };
}
