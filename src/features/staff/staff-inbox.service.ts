// The staff inbox: an organisation's conversations, newest first, a page at a time. Only rows of the
// staff member's own organisation are ever read. Each row is described by its conversation's kind.
import { conversations } from '../../platform/db/schema.ts';
import type { Queryable } from '../../platform/db/client.ts';
import type { Services } from '../../services.ts';
import { lastViewedItemSeqSql, recordAudit } from '../audit/audit.service.ts';
import { listOrganisationConversations } from '../conversations/conversations.repository.ts';
import type { ItemKindRegistry } from '../conversations/item-kinds.ts';
import { latestLinkTextStatusSql } from '../sms/outbox.repository.ts';

export const INBOX_PAGE_SIZE = 50;

export interface InboxRow {
  conversationId: string;
  sentAt: Date;
  /** What it is and its settings in staff words (a message's reply mode: "One reply"). */
  what: string;
  settings: string;
  patientName: string;
  nhsNumber: string;
  /** Status of the newest link text of the conversation (null if none was ever queued). */
  smsStatus: string | null;
  /** Items the patient wrote (replies, answers). */
  replies: number;
  /** The patient wrote something after staff last opened the conversation. */
  replyWaiting: boolean;
  /** Something the patient sent needs a clinician soon; these rows come first. */
  urgent: boolean;
  /** The kind's words for what the patient sent: "Reply waiting", "2 replies"; "Answers waiting", "Answered". */
  fromPatientWaiting: string;
  fromPatientSent: string;
  /** The kind's words for nothing from the patient yet, when it has some ("Not opened yet"). */
  fromPatientNone?: string;
}

/** A view of the inbox narrower than every conversation. */
export type InboxFilter = { show: 'all' } | { show: 'not-opened'; sentBefore: Date };

export interface InboxPage {
  rows: InboxRow[];
  page: number;
  hasPrevious: boolean;
  hasNext: boolean;
}

export async function listInbox(
  db: Queryable,
  itemKinds: ItemKindRegistry,
  organisationId: string,
  page: number,
  filter: InboxFilter = { show: 'all' },
): Promise<InboxPage> {
  const p = Number.isSafeInteger(page) && page >= 1 ? Math.min(page, 10_000) : 1;
  // "Waiting" compares item sequence numbers, not clocks: each conversation.viewed audit event records
  // the newest item the viewer saw.
  const rows = await listOrganisationConversations(db, {
    organisationId,
    limit: INBOX_PAGE_SIZE + 1,
    offset: (p - 1) * INBOX_PAGE_SIZE,
    latestTextStatus: latestLinkTextStatusSql(conversations.id),
    lastSeenSeq: lastViewedItemSeqSql(conversations.id),
    patientItemKinds: [...new Set(itemKinds.all().flatMap((k) => k.patientItemKinds))],
    ...(filter.show === 'not-opened' && { unansweredOfKind: { kind: 'document', sentBefore: filter.sentBefore } }),
  });
  return {
    rows: rows.slice(0, INBOX_PAGE_SIZE).map((r) => {
      const { kind, at } = itemKinds.parse(r.conversation, []);
      const described = kind.describeForStaff(at.conversation.payload);
      return {
        conversationId: r.conversation.id,
        sentAt: r.conversation.createdAt,
        what: described.what,
        settings: described.settings,
        patientName: `${r.givenName} ${r.familyName}`,
        nhsNumber: r.nhsNumber,
        smsStatus: r.smsStatus,
        replies: r.patientItems,
        replyWaiting: r.patientItemWaiting,
        urgent: r.conversation.urgentSince !== null,
        fromPatientWaiting: described.fromPatient?.waiting ?? 'Reply waiting',
        fromPatientSent: described.fromPatient?.sent(r.patientItems) ?? `${r.patientItems} ${r.patientItems === 1 ? 'reply' : 'replies'}`,
        fromPatientNone: described.fromPatient?.none,
      };
    }),
    page: p,
    hasPrevious: p > 1,
    hasNext: rows.length > INBOX_PAGE_SIZE,
  };
}

/** The inbox page staff see: a page of conversations with patient names, recorded as 'inbox.viewed'. */
export async function viewInbox(
  services: Services,
  input: { organisationId: string; staffId: string; ip: string; page: number; filter?: InboxFilter },
): Promise<InboxPage> {
  const inbox = await listInbox(services.db, services.itemKinds, input.organisationId, input.page, input.filter);
  await recordAudit(services.db, {
    type: 'inbox.viewed',
    actor: { type: 'staff', id: input.staffId, ip: input.ip },
    organisationId: input.organisationId,
    // Not conversation_id: that column marks a conversation as opened, which "reply waiting" reads.
    details: { page: inbox.page, show: input.filter?.show ?? 'all', conversationIds: inbox.rows.map((r) => r.conversationId) },
  });
  return inbox;
}
