// The staff inbox: an organisation's conversations, newest first, a page at a time. Only rows of the
// staff member's own organisation are ever read.
import { and, desc, eq, sql } from 'drizzle-orm';
import { conversations, patients } from '../../platform/db/schema.ts';
import type { Queryable } from '../../platform/db/client.ts';
import type { Services } from '../../services.ts';
import { recordAudit } from '../audit/audit.service.ts';
import type { ReplyMode } from '../messages/messages.service.ts';

export const INBOX_PAGE_SIZE = 50;

export interface InboxRow {
  conversationId: string;
  sentAt: Date;
  replyMode: ReplyMode;
  patientName: string;
  nhsNumber: string;
  /** Status of the newest link text of the conversation (null if none was ever queued). */
  smsStatus: string | null;
  replies: number;
  /** A patient reply arrived after staff last opened the conversation. */
  replyWaiting: boolean;
}

export interface InboxPage {
  rows: InboxRow[];
  page: number;
  hasPrevious: boolean;
  hasNext: boolean;
}

export async function listInbox(db: Queryable, organisationId: string, page: number): Promise<InboxPage> {
  const p = Number.isSafeInteger(page) && page >= 1 ? Math.min(page, 10_000) : 1;
  // "Waiting" compares item sequence numbers, not clocks: each conversation.viewed audit event records
  // the newest item the viewer saw.
  const rows = await db
    .select({
      conversationId: conversations.id,
      sentAt: conversations.createdAt,
      replyMode: conversations.replyMode,
      givenName: patients.givenName,
      familyName: patients.familyName,
      nhsNumber: patients.nhsNumber,
      smsStatus: sql<string | null>`(
        SELECT o.status FROM outbound_sms o
        WHERE o.conversation_id = ${conversations.id} AND o.kind = 'message_link'
        ORDER BY o.created_at DESC, o.id DESC LIMIT 1)`,
      replies: sql<number>`(
        SELECT count(*) FROM conversation_items ci
        WHERE ci.conversation_id = ${conversations.id} AND ci.kind = 'patient_reply')`.mapWith(Number),
      replyWaiting: sql<boolean>`EXISTS (
        SELECT 1 FROM conversation_items ci
        WHERE ci.conversation_id = ${conversations.id} AND ci.kind = 'patient_reply'
          AND ci.seq > COALESCE((
            SELECT (a.details->>'lastItemSeq')::bigint FROM audit_events a
            WHERE a.conversation_id = ${conversations.id} AND a.type = 'conversation.viewed'
            ORDER BY a.id DESC LIMIT 1), 0))`.mapWith(Boolean),
    })
    .from(conversations)
    .innerJoin(patients, and(eq(patients.id, conversations.patientId), eq(patients.organisationId, conversations.organisationId)))
    .where(eq(conversations.organisationId, organisationId))
    .orderBy(desc(conversations.createdAt), desc(conversations.id))
    .limit(INBOX_PAGE_SIZE + 1)
    .offset((p - 1) * INBOX_PAGE_SIZE);
  return {
    rows: rows.slice(0, INBOX_PAGE_SIZE).map((r) => ({
      conversationId: r.conversationId,
      sentAt: r.sentAt,
      replyMode: r.replyMode,
      patientName: `${r.givenName} ${r.familyName}`,
      nhsNumber: r.nhsNumber,
      smsStatus: r.smsStatus,
      replies: r.replies,
      replyWaiting: r.replyWaiting,
    })),
    page: p,
    hasPrevious: p > 1,
    hasNext: rows.length > INBOX_PAGE_SIZE,
  };
}

/** The inbox page staff see: a page of conversations with patient names, recorded as 'inbox.viewed'. */
export async function viewInbox(
  services: Services,
  input: { organisationId: string; staffId: string; ip: string; page: number },
): Promise<InboxPage> {
  const inbox = await listInbox(services.db, input.organisationId, input.page);
  await recordAudit(services.db, {
    type: 'inbox.viewed',
    actor: { type: 'staff', id: input.staffId, ip: input.ip },
    organisationId: input.organisationId,
    // Not conversation_id: that column marks a conversation as opened, which "reply waiting" reads.
    details: { page: inbox.page, conversationIds: inbox.rows.map((r) => r.conversationId) },
  });
  return inbox;
}
