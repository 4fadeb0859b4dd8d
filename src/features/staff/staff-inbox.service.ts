// The staff inbox: an organisation's conversations in views (mine, unassigned, open, done), narrowed
// by what is waiting or by patient, urgent first then newest, a page at a time. Only rows of the staff
// member's own organisation are ever read. Each row is described by its conversation's kind. A page is
// a fixed number of queries whatever its size: the rows, the links of those rows, the counts, the audit.
import { conversations } from '../../platform/db/schema.ts';
import type { Queryable } from '../../platform/db/client.ts';
import type { Services } from '../../services.ts';
import { recordAudit } from '../audit/audit.service.ts';
import {
  countInboxViews,
  listOrganisationConversations,
  type InboxView,
  type InboxWaiting,
} from '../conversations/conversations.repository.ts';
import type { ItemKindRegistry } from '../conversations/item-kinds.ts';
import { conversationLinkStatus, type LinkStatus } from '../links/link-status.ts';
import { linksOfConversations } from '../links/links.service.ts';
import { latestLinkTextStatusSql } from '../sms/outbox.repository.ts';

export const INBOX_PAGE_SIZE = 50;
export const INBOX_VIEWS: readonly InboxView[] = ['open', 'mine', 'unassigned', 'done'];
/** The item the patient sent last, by filter: nobody at the practice has written since. */
const WAITING_ITEM_KINDS = { reply: 'patient_reply', answers: 'questionnaire_answers', booking: 'booking_event' } as const;
export const INBOX_WAITING = ['reply', 'answers', 'booking', 'not-opened', 'text-not-delivered'] as const;
export type InboxWaitingFilter = (typeof INBOX_WAITING)[number];
const NOT_DELIVERED = ['permanent_failure', 'temporary_failure', 'technical_failure'] as const;

export interface InboxRow {
  conversationId: string;
  sentAt: Date;
  /** What it is and its settings in staff words (a message's reply mode: "One reply"). */
  what: string;
  settings: string;
  patientName: string;
  nhsNumber: string;
  patientId: string;
  /** Status of the newest link text of the conversation (null if none was ever queued). */
  smsStatus: string | null;
  link: LinkStatus;
  assigneeName: string | null;
  done: boolean;
  /** Items the patient wrote (replies, answers). */
  replies: number;
  /** The patient wrote something after this staff member last opened the conversation. */
  unread: boolean;
  /** Something the patient sent needs a clinician soon, or staff said so; these rows come first. */
  urgent: boolean;
  /** The kind's words for what the patient sent: "Reply waiting", "2 replies"; "Answers waiting", "Answered". */
  fromPatientWaiting: string;
  fromPatientSent: string;
  /** The kind's words for nothing from the patient yet, when it has some ("Not opened yet"). */
  fromPatientNone?: string;
}

export interface InboxFilter {
  view: InboxView;
  waiting?: InboxWaitingFilter;
  /** As typed: 10 digits (spaces allowed) is an NHS number, anything else part of a name. */
  patient?: string;
}

export interface InboxPage {
  rows: InboxRow[];
  counts: Record<InboxView, number>;
  page: number;
  hasPrevious: boolean;
  hasNext: boolean;
}

function patientSearch(text: string | undefined): { nhsNumber: string } | { name: string } | undefined {
  const trimmed = text?.trim();
  if (!trimmed) return undefined;
  const digits = trimmed.replace(/\s+/g, '');
  return /^\d{10}$/.test(digits) ? { nhsNumber: digits } : { name: trimmed.slice(0, 100) };
}

function waitingQuery(waiting: InboxWaitingFilter | undefined, notOpenedBefore: Date): InboxWaiting | undefined {
  switch (waiting) {
    case undefined:
      return undefined;
    case 'not-opened':
      return { waiting: 'not-opened', kind: 'document', sentBefore: notOpenedBefore };
    case 'text-not-delivered':
      return { waiting: 'text-not-delivered', statuses: NOT_DELIVERED };
    default:
      return { waiting: 'latest-item', itemKind: WAITING_ITEM_KINDS[waiting] };
  }
}

export async function listInbox(
  db: Queryable,
  itemKinds: ItemKindRegistry,
  input: { organisationId: string; staffId: string; page: number; filter: InboxFilter; now: Date; notOpenedDays: number },
): Promise<InboxPage> {
  const p = Number.isSafeInteger(input.page) && input.page >= 1 ? Math.min(input.page, 10_000) : 1;
  const patient = patientSearch(input.filter.patient);
  const [rows, counts] = await Promise.all([
    listOrganisationConversations(db, {
      organisationId: input.organisationId,
      staffId: input.staffId,
      view: input.filter.view,
      limit: INBOX_PAGE_SIZE + 1,
      offset: (p - 1) * INBOX_PAGE_SIZE,
      latestTextStatus: latestLinkTextStatusSql(conversations.id),
      patientItemKinds: [...new Set(itemKinds.all().flatMap((k) => k.patientItemKinds))],
      waiting: waitingQuery(input.filter.waiting, new Date(input.now.getTime() - input.notOpenedDays * 86_400_000)),
      ...(patient && { patient }),
    }),
    countInboxViews(db, input.organisationId, input.staffId),
  ]);
  const pageRows = rows.slice(0, INBOX_PAGE_SIZE);
  const links = await linksOfConversations(
    db,
    pageRows.map((r) => r.conversation.id),
  );
  return {
    rows: pageRows.map((r) => {
      const { kind, at } = itemKinds.parse(r.conversation, []);
      const described = kind.describeForStaff(at.conversation.payload);
      return {
        conversationId: r.conversation.id,
        sentAt: r.conversation.createdAt,
        what: described.what,
        settings: described.settings,
        patientName: `${r.givenName} ${r.familyName}`,
        nhsNumber: r.nhsNumber,
        patientId: r.conversation.patientId,
        smsStatus: r.smsStatus,
        link: conversationLinkStatus(links.get(r.conversation.id) ?? [], input.now),
        assigneeName: r.assigneeName,
        done: r.conversation.doneAt !== null,
        replies: r.patientItems,
        unread: r.unread,
        urgent: r.conversation.urgentSince !== null,
        fromPatientWaiting: described.fromPatient?.waiting ?? 'Reply waiting',
        fromPatientSent: described.fromPatient?.sent(r.patientItems) ?? `${r.patientItems} ${r.patientItems === 1 ? 'reply' : 'replies'}`,
        fromPatientNone: described.fromPatient?.none,
      };
    }),
    counts,
    page: p,
    hasPrevious: p > 1,
    hasNext: rows.length > INBOX_PAGE_SIZE,
  };
}

/** The inbox page staff see: a page of conversations with patient names, recorded as 'inbox.viewed'. */
export async function viewInbox(
  services: Services,
  input: { organisationId: string; staffId: string; ip: string; page: number; filter: InboxFilter },
): Promise<InboxPage> {
  const inbox = await listInbox(services.db, services.itemKinds, {
    ...input,
    now: services.now(),
    notOpenedDays: services.config.files.documentNotOpenedDays,
  });
  await recordAudit(services.db, {
    type: 'inbox.viewed',
    actor: { type: 'staff', id: input.staffId, ip: input.ip },
    organisationId: input.organisationId,
    // Which page and filters, never the patient searched for; not conversation_id, which marks one conversation.
    details: {
      page: inbox.page,
      view: input.filter.view,
      waiting: input.filter.waiting ?? null,
      searched: Boolean(input.filter.patient?.trim()),
      conversationIds: inbox.rows.map((r) => r.conversationId),
    },
  });
  const searchTerm = patientSearch(input.filter.patient);
  if (searchTerm) {
    // A search by patient is a search for patients, wherever it is typed: recorded like the find-a-patient
    // search (how, and which patients it showed, never the terms), so the audit viewer's page for a
    // patient lists the inbox searches that showed them too.
    const patientIds = [...new Set(inbox.rows.map((r) => r.patientId))];
    await recordAudit(services.db, {
      type: 'patient.searched',
      actor: { type: 'staff', id: input.staffId, ip: input.ip },
      organisationId: input.organisationId,
      details: { searchBy: 'nhsNumber' in searchTerm ? 'inbox-nhs-number' : 'inbox-name', results: patientIds.length, patientIds },
    });
  }
  return inbox;
}
