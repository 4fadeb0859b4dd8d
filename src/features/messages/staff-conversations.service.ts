// What staff see of a conversation and what they may do to its link. Every function takes the staff
// member's organisation and answers 404 for a conversation of any other organisation.
import { and, asc, desc, eq, inArray } from 'drizzle-orm';
import {
  auditEvents,
  conversationItems,
  conversations,
  links,
  outboundSms,
  patients,
  staffUsers,
} from '../../platform/db/schema.ts';
import type { Queryable } from '../../platform/db/client.ts';
import { NotFoundError } from '../../platform/http/errors.ts';
import type { Services } from '../../services.ts';
import { recordAudit } from '../audit/audit.service.ts';
import { issueLink, linkUrl, revokeConversationLinks, type Link } from '../links/links.service.ts';
import { getOrganisation } from '../organisations/organisations.service.ts';
import type { Patient } from '../patients/patients.service.ts';
import { enqueueSms } from '../sms/outbox.service.ts';
import type { ReplyMode } from './messages.service.ts';
import { isUuid } from './staff-compose.service.ts';
import { LINK_EVENT_WORDS } from './staff-words.ts';

export type LinkState =
  | { state: 'none' }
  | { state: 'active'; until: Date; trustedDevice: boolean }
  | { state: 'locked'; until: Date }
  | { state: 'locked-permanently'; since: Date }
  | { state: 'expired'; since: Date }
  | { state: 'revoked'; since: Date };

/** The state of a conversation's current link, as staff need to act on it. */
export function describeLink(link: Link | undefined, now: Date): LinkState {
  if (!link) return { state: 'none' };
  if (link.revokedAt) return { state: 'revoked', since: link.revokedAt };
  // A permanent lock needs staff to re-send whether or not the link has also expired, so it comes first.
  if (link.lockedPermanentlyAt) return { state: 'locked-permanently', since: link.lockedPermanentlyAt };
  if (link.expiresAt.getTime() <= now.getTime()) return { state: 'expired', since: link.expiresAt };
  if (link.lockedUntil && link.lockedUntil.getTime() > now.getTime()) return { state: 'locked', until: link.lockedUntil };
  return { state: 'active', until: link.expiresAt, trustedDevice: Boolean(link.trustedDeviceHash) };
}

export interface ConversationForStaff {
  conversation: { id: string; replyMode: ReplyMode; createdAt: Date; organisationId: string };
  patient: Patient;
  items: Array<{ id: string; seq: number; kind: 'staff_message' | 'patient_reply'; body: string; createdAt: Date; authorName: string | null }>;
  texts: Array<{ id: string; kind: string; phoneE164: string; status: string; createdAt: Date; sentAt: Date | null; updatedAt: Date }>;
  events: Array<{ id: number; type: string; occurredAt: Date; details: Record<string, unknown> }>;
  link: LinkState;
  /** The link staff can revoke right now, if any. */
  canRevoke: boolean;
}

async function findConversation(db: Queryable, organisationId: string, conversationId: string) {
  if (!isUuid(conversationId)) throw new NotFoundError('malformed conversation id');
  const [row] = await db
    .select({ conversation: conversations, patient: patients })
    .from(conversations)
    .innerJoin(patients, eq(patients.id, conversations.patientId))
    .where(and(eq(conversations.id, conversationId), eq(conversations.organisationId, organisationId)));
  if (!row) throw new NotFoundError('conversation not found in this organisation');
  return row;
}

export async function getConversationForStaff(db: Queryable, organisationId: string, conversationId: string, now: Date): Promise<ConversationForStaff> {
  const { conversation, patient } = await findConversation(db, organisationId, conversationId);
  const items = await db
    .select({
      id: conversationItems.id,
      seq: conversationItems.seq,
      kind: conversationItems.kind,
      body: conversationItems.body,
      createdAt: conversationItems.createdAt,
      authorName: staffUsers.name,
    })
    .from(conversationItems)
    .leftJoin(staffUsers, eq(staffUsers.id, conversationItems.authorStaffId))
    .where(eq(conversationItems.conversationId, conversation.id))
    .orderBy(asc(conversationItems.seq));
  // Never the personalisation: a security code may still be in it.
  const texts = await db
    .select({
      id: outboundSms.id,
      kind: outboundSms.kind,
      phoneE164: outboundSms.phoneE164,
      status: outboundSms.status,
      createdAt: outboundSms.createdAt,
      sentAt: outboundSms.sentAt,
      updatedAt: outboundSms.updatedAt,
    })
    .from(outboundSms)
    .where(and(eq(outboundSms.conversationId, conversation.id), eq(outboundSms.organisationId, organisationId)))
    .orderBy(asc(outboundSms.createdAt), asc(outboundSms.id));
  const events = await db
    .select({ id: auditEvents.id, type: auditEvents.type, occurredAt: auditEvents.occurredAt, details: auditEvents.details })
    .from(auditEvents)
    .where(and(eq(auditEvents.conversationId, conversation.id), inArray(auditEvents.type, Object.keys(LINK_EVENT_WORDS))))
    .orderBy(asc(auditEvents.id))
    .limit(500);
  const conversationLinks = await db
    .select()
    .from(links)
    .where(eq(links.conversationId, conversation.id))
    .orderBy(desc(links.createdAt), desc(links.id));
  const current = conversationLinks.find((l) => !l.revokedAt) ?? conversationLinks[0];
  const link = describeLink(current, now);
  return {
    conversation: {
      id: conversation.id,
      replyMode: conversation.replyMode,
      createdAt: conversation.createdAt,
      organisationId: conversation.organisationId,
    },
    patient,
    items,
    texts,
    events,
    link,
    canRevoke: link.state === 'active' || link.state === 'locked' || link.state === 'locked-permanently',
  };
}

/** The conversation page: reads it and records that this staff member saw it (and up to which item). */
export async function viewConversation(
  services: Services,
  input: { organisationId: string; staffId: string; conversationId: string; ip: string },
): Promise<ConversationForStaff> {
  const view = await getConversationForStaff(services.db, input.organisationId, input.conversationId, services.now());
  await recordAudit(services.db, {
    type: 'conversation.viewed',
    actor: { type: 'staff', id: input.staffId, ip: input.ip },
    organisationId: input.organisationId,
    patientId: view.patient.id,
    conversationId: view.conversation.id,
    // The inbox's "reply waiting" compares this with the sequence numbers of later replies.
    details: { lastItemSeq: view.items.at(-1)?.seq ?? 0 },
  });
  return view;
}

/**
 * Re-send: every live link of the conversation is revoked and a fresh one is texted to the patient's
 * current mobile number. This is also how a link locked after too many wrong dates of birth is unlocked.
 */
export async function resendLink(
  services: Services,
  input: { organisationId: string; staffId: string; conversationId: string; ip: string },
): Promise<{ linkId: string; outboundSmsId: string }> {
  const now = services.now();
  const organisation = await getOrganisation(services.db, input.organisationId);
  if (!organisation) throw new NotFoundError('organisation not found');
  return services.db.transaction(async (tx) => {
    const { conversation, patient } = await findConversation(tx, input.organisationId, input.conversationId);
    const actor = { type: 'staff' as const, id: input.staffId, ip: input.ip };
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
    const { link, token } = await issueLink(tx, {
      conversationId: conversation.id,
      phoneE164: patient.mobileE164,
      ttlDays: services.config.linkTtlDays,
      now,
    });
    const sms = await enqueueSms(tx, services.jobs, {
      organisationId: organisation.id,
      conversationId: conversation.id,
      linkId: link.id,
      kind: 'message_link',
      phoneE164: patient.mobileE164,
      personalisation: { organisation_name: organisation.name, link: linkUrl(services.config.publicBaseUrl, token) },
    });
    await recordAudit(tx, {
      type: 'message.sent',
      actor,
      organisationId: organisation.id,
      patientId: patient.id,
      conversationId: conversation.id,
      linkId: link.id,
      details: { replyMode: conversation.replyMode, resent: true },
    });
    return { linkId: link.id, outboundSmsId: sms.id };
  });
}

/** Revoke: the patient can no longer open the conversation with any link sent so far. */
export async function revokeLink(
  services: Services,
  input: { organisationId: string; staffId: string; conversationId: string; ip: string },
): Promise<number> {
  const now = services.now();
  return services.db.transaction(async (tx) => {
    const { conversation, patient } = await findConversation(tx, input.organisationId, input.conversationId);
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
