// The SQL of conversations and their items: the only module that writes either table or reads items.
// Other features reach them through these functions. Reads here may join the tables of the features
// below (patients, organisations, links) where one query is much cheaper than several; writes touch
// only this feature's own tables.
import { and, asc, count, desc, eq, gt, gte, inArray, isNotNull, isNull, lt, min, ne, sql, type SQL } from 'drizzle-orm';
import { alias } from 'drizzle-orm/pg-core';
import {
  apiKeys,
  conversationItems,
  conversationReads,
  conversations,
  conversationViewers,
  links,
  organisations,
  patients,
  staffUsers,
} from '../../platform/db/schema.ts';
import type { Queryable } from '../../platform/db/client.ts';
import { SMS_HELD_BY_PROVIDER } from '../sms/outbox.repository.ts';

export type ConversationRow = typeof conversations.$inferSelect;
export type ConversationItem = typeof conversationItems.$inferSelect;

export interface NewConversation {
  organisationId: string;
  patientId: string;
  kind: string;
  payload: Record<string, unknown>;
  createdByStaffId: string | null;
  createdByApiKeyId: string | null;
  createdAt: Date;
}

export async function insertConversation(on: Queryable, values: NewConversation): Promise<ConversationRow> {
  const [row] = await on.insert(conversations).values(values).returning();
  return row!;
}

/**
 * Serialises new conversations of one organisation for the rest of the transaction, so a count of the
 * day's conversations stays true until this one is written (parallel sends cannot both be the last).
 */
export async function lockOrganisationSends(on: Queryable, organisationId: string): Promise<void> {
  await on.execute(sql`SELECT pg_advisory_xact_lock(hashtextextended(${`organisation-sends:${organisationId}`}, 0))`);
}

/** Conversations the organisation started in [from, to) (conversations_org_created_idx). */
export async function countOrganisationConversations(on: Queryable, organisationId: string, from: Date, to: Date): Promise<number> {
  const [row] = await on
    .select({ n: count() })
    .from(conversations)
    .where(and(eq(conversations.organisationId, organisationId), gte(conversations.createdAt, from), lt(conversations.createdAt, to)));
  return Number(row?.n ?? 0);
}

export interface NewItem {
  conversationId: string;
  kind: string;
  body: string;
  payload?: Record<string, unknown>;
  authorStaffId?: string | null;
  /** The patient form's one-time key: a second post of the same form stores nothing. */
  clientKey?: string | null;
  createdAt: Date;
}

/**
 * Items the patient sends: one of these takes the conversation out of "Done", so nothing the patient
 * sends waits unseen. A document being opened is not among them: the patient sent nothing to deal with.
 * (The kinds' own constants live in features that import this module; item-kinds.test.ts checks these
 * against every kind's patientItemKinds.)
 */
export const ITEM_KINDS_THAT_REOPEN: ReadonlySet<string> = new Set(['patient_reply', 'questionnaire_answers', 'booking_event']);

/**
 * Adds an item; undefined when an item with the same client key is already in the conversation. The
 * one place items are written, so an item from the patient reopens a done conversation in the same
 * transaction as it is stored, whichever feature stored it.
 */
export async function insertItem(on: Queryable, item: NewItem): Promise<ConversationItem | undefined> {
  const [row] = await on
    .insert(conversationItems)
    .values({ ...item, payload: item.payload ?? {} })
    .onConflictDoNothing({ target: [conversationItems.conversationId, conversationItems.clientKey] })
    .returning();
  if (row && !row.authorStaffId && ITEM_KINDS_THAT_REOPEN.has(row.kind)) {
    await on
      .update(conversations)
      .set({ doneAt: null })
      .where(and(eq(conversations.id, row.conversationId), isNotNull(conversations.doneAt)));
  }
  return row;
}

export async function findItemByClientKey(on: Queryable, conversationId: string, clientKey: string): Promise<ConversationItem | undefined> {
  const [row] = await on
    .select()
    .from(conversationItems)
    .where(and(eq(conversationItems.conversationId, conversationId), eq(conversationItems.clientKey, clientKey)));
  return row;
}

/**
 * Locks the conversation row until the transaction ends, so rules that count items ("one reply") see
 * every item written before them: two requests at once are served one after the other.
 */
/** Conversations left to someone who no longer works here go back to Unassigned; their ids. */
export async function unassignConversationsOf(on: Queryable, organisationId: string, staffUserId: string): Promise<string[]> {
  const rows = await on
    .update(conversations)
    .set({ assignedStaffId: null })
    .where(and(eq(conversations.organisationId, organisationId), eq(conversations.assignedStaffId, staffUserId)))
    .returning({ id: conversations.id });
  return rows.map((r) => r.id);
}

/** The type of one item (what a file hangs on), or undefined. */
export async function findItemKind(on: Queryable, itemId: string): Promise<string | undefined> {
  const [row] = await on.select({ kind: conversationItems.kind }).from(conversationItems).where(eq(conversationItems.id, itemId));
  return row?.kind;
}

export async function lockConversation(on: Queryable, conversationId: string): Promise<void> {
  await on.select({ id: conversations.id }).from(conversations).where(eq(conversations.id, conversationId)).for('update');
}

export async function countItems(on: Queryable, conversationId: string, itemKind: string): Promise<number> {
  const [row] = await on
    .select({ n: count() })
    .from(conversationItems)
    .where(and(eq(conversationItems.conversationId, conversationId), eq(conversationItems.kind, itemKind)));
  return Number(row?.n ?? 0);
}

/**
 * How many items of a kind the conversation got since `since`, and when the oldest of them came: for
 * limits counted from what is stored (every instance sees the same rows), under lockConversation.
 */
export async function countItemsSince(on: Queryable, conversationId: string, itemKind: string, since: Date): Promise<{ count: number; oldest: Date | null }> {
  const [row] = await on
    .select({ n: count(), oldest: min(conversationItems.createdAt) })
    .from(conversationItems)
    .where(and(eq(conversationItems.conversationId, conversationId), eq(conversationItems.kind, itemKind), gt(conversationItems.createdAt, since)));
  return { count: Number(row?.n ?? 0), oldest: row?.oldest ? new Date(row.oldest) : null };
}

export async function findConversation(on: Queryable, conversationId: string): Promise<ConversationRow | undefined> {
  const [row] = await on.select().from(conversations).where(eq(conversations.id, conversationId));
  return row;
}

/** A conversation of this organisation; undefined for any other organisation's (callers say "not found"). */
export async function findOrganisationConversation(
  on: Queryable,
  organisationId: string,
  conversationId: string,
): Promise<ConversationRow | undefined> {
  const [row] = await on
    .select()
    .from(conversations)
    .where(and(eq(conversations.id, conversationId), eq(conversations.organisationId, organisationId)));
  return row;
}

/** Items in the order they were written (seq, not the clock: two items can share a millisecond). */
export async function listItems(on: Queryable, conversationId: string): Promise<ConversationItem[]> {
  return on.select().from(conversationItems).where(eq(conversationItems.conversationId, conversationId)).orderBy(asc(conversationItems.seq));
}

/** The items of several conversations at once, grouped by conversation, each in order. */
export async function listItemsOf(on: Queryable, conversationIds: readonly string[]): Promise<Map<string, ConversationItem[]>> {
  const grouped = new Map<string, ConversationItem[]>(conversationIds.map((id) => [id, []]));
  if (conversationIds.length === 0) return grouped;
  const rows = await on
    .select()
    .from(conversationItems)
    .where(inArray(conversationItems.conversationId, [...conversationIds]))
    .orderBy(asc(conversationItems.seq));
  for (const row of rows) grouped.get(row.conversationId)?.push(row);
  return grouped;
}

/** Items with the name of the staff member who wrote each (null for the patient's and the API's), and the API key that started the conversation, if one did. */
export async function listItemsWithAuthors(on: Queryable, conversationId: string) {
  return on
    .select({ item: conversationItems, authorName: staffUsers.name, apiKeyName: apiKeys.name })
    .from(conversationItems)
    .leftJoin(staffUsers, eq(staffUsers.id, conversationItems.authorStaffId))
    .innerJoin(conversations, eq(conversations.id, conversationItems.conversationId))
    .leftJoin(apiKeys, eq(apiKeys.id, conversations.createdByApiKeyId))
    .where(eq(conversationItems.conversationId, conversationId))
    .orderBy(asc(conversationItems.seq));
}

// ---------------------------------------------------------------------------------------------------
// The portal: one person's conversations across organisations, found by the NHS number NHS login vouched for.

/** A conversation still has a link that staff have not revoked: revoking takes it out of the portal. */
const notRevoked = sql`EXISTS (SELECT 1 FROM ${links} WHERE ${links.conversationId} = ${conversations.id} AND ${isNull(links.revokedAt)})`;

export interface PortalListRow {
  conversation: ConversationRow;
  organisationName: string;
  /** The organisation's record's details, for the caller to check against NHS login's (never shown). */
  patient: { dateOfBirth: string; familyName: string };
  /** When the newest live link stops working: the conversation then stays readable but takes no answer. */
  linkExpiresAt: Date;
}

export async function listConversationsForNhsNumber(on: Queryable, nhsNumber: string): Promise<PortalListRow[]> {
  const linkExpiresAt = sql<Date>`(SELECT max(${links.expiresAt}) FROM ${links} WHERE ${links.conversationId} = ${conversations.id} AND ${isNull(links.revokedAt)})`.mapWith(
    (v: string | Date) => new Date(v),
  );
  return on
    .select({
      conversation: conversations,
      organisationName: organisations.name,
      patient: { dateOfBirth: patients.dateOfBirth, familyName: patients.familyName },
      linkExpiresAt,
    })
    .from(conversations)
    .innerJoin(patients, eq(patients.id, conversations.patientId))
    .innerJoin(organisations, eq(organisations.id, conversations.organisationId))
    .where(and(eq(patients.nhsNumber, nhsNumber), notRevoked))
    .orderBy(desc(conversations.createdAt), desc(conversations.id));
}

/** One conversation, only if it was sent to this NHS number; with what the access decision needs. */
export async function findConversationForNhsNumber(on: Queryable, nhsNumber: string, conversationId: string) {
  const [row] = await on
    .select({
      conversation: conversations,
      organisation: { id: organisations.id, name: organisations.name, contactPhone: organisations.contactPhone },
      patient: { dateOfBirth: patients.dateOfBirth, familyName: patients.familyName },
    })
    .from(conversations)
    .innerJoin(patients, eq(patients.id, conversations.patientId))
    .innerJoin(organisations, eq(organisations.id, conversations.organisationId))
    .where(and(eq(conversations.id, conversationId), eq(patients.nhsNumber, nhsNumber)));
  return row;
}

// ---------------------------------------------------------------------------------------------------
// The staff inbox: an organisation's conversations, urgent first then newest, a page at a time.

/** The inbox's views: "open" is everything not done; "mine" and "unassigned" are open ones too. */
export type InboxView = 'mine' | 'unassigned' | 'open' | 'done';

/** What the practice is waiting to deal with. The newest item decides: nothing has been written since. */
export type InboxWaiting =
  | { waiting: 'latest-item'; itemKind: string }
  | { waiting: 'not-opened'; kind: string; sentBefore: Date }
  | { waiting: 'text-not-delivered'; statuses: readonly string[] };

export interface InboxQuery {
  organisationId: string;
  staffId: string;
  view: InboxView;
  limit: number;
  offset: number;
  /** The newest link text's status, as SQL on conversations.id (the sms feature knows how). */
  latestTextStatus: SQL<string | null>;
  /** Item types the patient writes: the count of answers, and "unread" (newer than this staff member's last read). */
  patientItemKinds: readonly string[];
  waiting?: InboxWaiting;
  /** A patient of the organisation: an exact NHS number, or part of the name. */
  patient?: { nhsNumber: string } | { name: string };
}

const assignee = alias(staffUsers, 'assignee');

function viewCondition(view: InboxView, staffId: string): SQL {
  switch (view) {
    case 'mine':
      return and(isNull(conversations.doneAt), eq(conversations.assignedStaffId, staffId))!;
    case 'unassigned':
      return and(isNull(conversations.doneAt), isNull(conversations.assignedStaffId))!;
    case 'open':
      return isNull(conversations.doneAt);
    case 'done':
      return isNotNull(conversations.doneAt);
  }
}

function patientItemOf(patientItemKinds: readonly string[]) {
  return and(sql`${conversationItems.conversationId} = ${conversations.id}`, inArray(conversationItems.kind, [...patientItemKinds]));
}

function waitingCondition(query: InboxQuery): SQL | undefined {
  const w = query.waiting;
  if (!w) return undefined;
  switch (w.waiting) {
    case 'latest-item':
      return sql`(SELECT ${conversationItems.kind} FROM ${conversationItems} WHERE ${conversationItems.conversationId} = ${conversations.id} ORDER BY ${conversationItems.seq} DESC LIMIT 1) = ${w.itemKind}`;
    case 'not-opened':
      return and(
        eq(conversations.kind, w.kind),
        lt(conversations.createdAt, w.sentBefore),
        sql`NOT EXISTS (SELECT 1 FROM ${conversationItems} WHERE ${patientItemOf(query.patientItemKinds)})`,
      );
    case 'text-not-delivered':
      // A text held by a problem with our text service has not reached the patient either.
      return sql`${query.latestTextStatus} IN (${sql.join(
        [...w.statuses, SMS_HELD_BY_PROVIDER].map((s) => sql`${s}`),
        sql`, `,
      )})`;
  }
}

/** LIKE matches the name as typed: % and _ in it are letters, not wildcards. */
function likeContaining(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

function patientCondition(query: InboxQuery): SQL | undefined {
  if (!query.patient) return undefined;
  if ('nhsNumber' in query.patient) return eq(patients.nhsNumber, query.patient.nhsNumber);
  return sql`(${patients.givenName} || ' ' || ${patients.familyName}) ILIKE ${likeContaining(query.patient.name)}`;
}

export async function listOrganisationConversations(on: Queryable, query: InboxQuery) {
  const patientItem = patientItemOf(query.patientItemKinds);
  const lastReadSeq = sql`(SELECT ${conversationReads.lastReadSeq} FROM ${conversationReads} WHERE ${conversationReads.conversationId} = ${conversations.id} AND ${conversationReads.staffUserId} = ${query.staffId})`;
  return on
    .select({
      conversation: conversations,
      givenName: patients.givenName,
      familyName: patients.familyName,
      nhsNumber: patients.nhsNumber,
      assigneeName: assignee.name,
      patientItems: sql<number>`(SELECT count(*) FROM ${conversationItems} WHERE ${patientItem})`.mapWith(Number),
      // Per staff member: each person's own conversation_reads row, so one colleague opening it does
      // not hide it from another.
      unread: sql<boolean>`EXISTS (SELECT 1 FROM ${conversationItems} WHERE ${patientItem} AND ${conversationItems.seq} > COALESCE(${lastReadSeq}, 0))`.mapWith(Boolean),
      smsStatus: query.latestTextStatus,
    })
    .from(conversations)
    .innerJoin(patients, and(eq(patients.id, conversations.patientId), eq(patients.organisationId, conversations.organisationId)))
    .leftJoin(assignee, eq(assignee.id, conversations.assignedStaffId))
    .where(and(eq(conversations.organisationId, query.organisationId), viewCondition(query.view, query.staffId), waitingCondition(query), patientCondition(query)))
    // Urgent first, then newest: exactly conversations_org_inbox_idx's order, so a page is an index
    // scan that stops after `limit` rows rather than a sort of every conversation of the organisation.
    .orderBy(sql`(${conversations.urgentSince} IS NULL)`, desc(conversations.createdAt), desc(conversations.id))
    .limit(query.limit)
    .offset(query.offset);
}

/** One patient's conversations with the organisation, newest first (conversations_patient_idx). */
export async function listPatientConversations(on: Queryable, organisationId: string, patientId: string, limit: number): Promise<ConversationRow[]> {
  return on
    .select()
    .from(conversations)
    .where(and(eq(conversations.patientId, patientId), eq(conversations.organisationId, organisationId)))
    .orderBy(desc(conversations.createdAt), desc(conversations.id))
    .limit(limit);
}

/** How many conversations each view holds, in one pass over the organisation's rows. */
export async function countInboxViews(on: Queryable, organisationId: string, staffId: string): Promise<Record<InboxView, number>> {
  const [row] = await on
    .select({
      mine: sql<number>`count(*) FILTER (WHERE ${viewCondition('mine', staffId)})`.mapWith(Number),
      unassigned: sql<number>`count(*) FILTER (WHERE ${viewCondition('unassigned', staffId)})`.mapWith(Number),
      open: sql<number>`count(*) FILTER (WHERE ${viewCondition('open', staffId)})`.mapWith(Number),
      done: sql<number>`count(*) FILTER (WHERE ${viewCondition('done', staffId)})`.mapWith(Number),
    })
    .from(conversations)
    .where(eq(conversations.organisationId, organisationId));
  return { mine: row?.mine ?? 0, unassigned: row?.unassigned ?? 0, open: row?.open ?? 0, done: row?.done ?? 0 };
}

// ---------------------------------------------------------------------------------------------------
// The practice's state of a conversation: who deals with it, urgent, done; and who read or is viewing it.

/** Only conversations of this organisation change; false when there is none (callers say "not found"). */
export async function setConversationState(
  on: Queryable,
  organisationId: string,
  conversationId: string,
  values: Partial<Pick<ConversationRow, 'assignedStaffId' | 'urgentSince' | 'doneAt'>>,
): Promise<boolean> {
  const rows = await on
    .update(conversations)
    .set(values)
    .where(and(eq(conversations.id, conversationId), eq(conversations.organisationId, organisationId)))
    .returning({ id: conversations.id });
  return rows.length === 1;
}

/**
 * Assigns only if the assignee is still the one the staff member's page showed: of two people with the
 * page open, the second to choose is told, not silently overwritten. False when someone changed it.
 */
export async function assignIfUnchanged(on: Queryable, organisationId: string, conversationId: string, from: string | null, to: string | null): Promise<boolean> {
  const rows = await on
    .update(conversations)
    .set({ assignedStaffId: to })
    .where(and(eq(conversations.id, conversationId), eq(conversations.organisationId, organisationId), sql`${conversations.assignedStaffId} IS NOT DISTINCT FROM ${from}::uuid`))
    .returning({ id: conversations.id });
  return rows.length === 1;
}

/**
 * Marks done only if the patient has sent nothing after the newest item the page showed: a reply that
 * arrived while staff were reading reopens the conversation, and a click on the older page must not
 * close it again over a reply nobody has seen. False when something newer came.
 */
export async function markDoneIfNothingNewer(
  on: Queryable,
  input: { organisationId: string; conversationId: string; seenSeq: number; patientItemKinds: readonly string[]; now: Date },
): Promise<boolean> {
  const newer =
    input.patientItemKinds.length === 0
      ? sql`false`
      : sql`EXISTS (SELECT 1 FROM ${conversationItems} WHERE ${conversationItems.conversationId} = ${conversations.id} AND ${conversationItems.seq} > ${input.seenSeq} AND ${inArray(conversationItems.kind, [...input.patientItemKinds])})`;
  const rows = await on
    .update(conversations)
    .set({ doneAt: sql`COALESCE(${conversations.doneAt}, ${input.now.toISOString()}::timestamptz)` })
    .where(and(eq(conversations.id, input.conversationId), eq(conversations.organisationId, input.organisationId), sql`NOT ${newer}`))
    .returning({ id: conversations.id });
  return rows.length === 1;
}

/** Records that this staff member has seen up to `seq`; GREATEST, so an older tab cannot move it back. */
export async function markConversationRead(on: Queryable, conversationId: string, staffUserId: string, seq: number, now: Date): Promise<void> {
  await on
    .insert(conversationReads)
    .values({ conversationId, staffUserId, lastReadSeq: seq, readAt: now })
    .onConflictDoUpdate({
      target: [conversationReads.conversationId, conversationReads.staffUserId],
      set: { lastReadSeq: sql`GREATEST(${conversationReads.lastReadSeq}, excluded.last_read_seq)`, readAt: now },
    });
}

export async function touchConversationViewer(on: Queryable, conversationId: string, staffUserId: string, now: Date): Promise<void> {
  await on
    .insert(conversationViewers)
    .values({ conversationId, staffUserId, seenAt: now })
    .onConflictDoUpdate({ target: [conversationViewers.conversationId, conversationViewers.staffUserId], set: { seenAt: now } });
}

/** The other staff who had the conversation open since `since`, by name. */
export async function listOtherViewers(on: Queryable, conversationId: string, staffUserId: string, since: Date): Promise<string[]> {
  const rows = await on
    .select({ name: staffUsers.name })
    .from(conversationViewers)
    .innerJoin(staffUsers, eq(staffUsers.id, conversationViewers.staffUserId))
    .where(and(eq(conversationViewers.conversationId, conversationId), ne(conversationViewers.staffUserId, staffUserId), gte(conversationViewers.seenAt, since)))
    .orderBy(asc(staffUsers.name));
  return rows.map((r) => r.name);
}

/** Maintenance: viewer rows this old mean nobody is looking any more. */
export async function deleteViewersSeenBefore(on: Queryable, before: Date): Promise<number> {
  const rows = await on.delete(conversationViewers).where(lt(conversationViewers.seenAt, before)).returning({ id: conversationViewers.conversationId });
  return rows.length;
}

/** Who a conversation can be assigned to: the organisation's active accounts, by name. */
export async function listAssignableStaff(on: Queryable, organisationId: string): Promise<Array<{ id: string; name: string }>> {
  return on
    .select({ id: staffUsers.id, name: staffUsers.name })
    .from(staffUsers)
    .where(and(eq(staffUsers.organisationId, organisationId), isNull(staffUsers.deactivatedAt)))
    .orderBy(asc(staffUsers.name), asc(staffUsers.id));
}
