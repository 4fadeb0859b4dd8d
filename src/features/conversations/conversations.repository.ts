// The SQL of conversations and their items: the only module that writes either table or reads items.
// Other features reach them through these functions. Reads here may join the tables of the features
// below (patients, organisations, links) where one query is much cheaper than several; writes touch
// only this feature's own tables.
import { and, asc, count, desc, eq, gt, gte, inArray, isNull, lt, min, sql, type SQL } from 'drizzle-orm';
import { conversationItems, conversations, links, organisations, patients, staffUsers } from '../../platform/db/schema.ts';
import type { Queryable } from '../../platform/db/client.ts';

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

/** Adds an item; undefined when an item with the same client key is already in the conversation. */
export async function insertItem(on: Queryable, item: NewItem): Promise<ConversationItem | undefined> {
  const [row] = await on
    .insert(conversationItems)
    .values({ ...item, payload: item.payload ?? {} })
    .onConflictDoNothing({ target: [conversationItems.conversationId, conversationItems.clientKey] })
    .returning();
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

/** Items with the name of the staff member who wrote each (null for the patient's and the API's). */
export async function listItemsWithAuthors(on: Queryable, conversationId: string) {
  return on
    .select({ item: conversationItems, authorName: staffUsers.name })
    .from(conversationItems)
    .leftJoin(staffUsers, eq(staffUsers.id, conversationItems.authorStaffId))
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
// The staff inbox: an organisation's conversations, newest first, a page at a time.

export interface InboxQuery {
  organisationId: string;
  limit: number;
  offset: number;
  /** The newest link text's status, as SQL on conversations.id (the sms feature knows how). */
  latestTextStatus: SQL<string | null>;
  /** Item types the patient writes, for the count of answers and "waiting" (a reply after staff last looked). */
  patientItemKinds: readonly string[];
  /** The sequence number of the newest item the organisation's staff have seen, as SQL on conversations.id. */
  lastSeenSeq: SQL;
  /** Only conversations of this kind, sent before this moment, that the patient has not acted on yet. */
  unansweredOfKind?: { kind: string; sentBefore: Date };
}

export async function listOrganisationConversations(on: Queryable, query: InboxQuery) {
  const patientItem = and(
    sql`${conversationItems.conversationId} = ${conversations.id}`,
    inArray(conversationItems.kind, [...query.patientItemKinds]),
  );
  return on
    .select({
      conversation: conversations,
      givenName: patients.givenName,
      familyName: patients.familyName,
      nhsNumber: patients.nhsNumber,
      patientItems: sql<number>`(SELECT count(*) FROM ${conversationItems} WHERE ${patientItem})`.mapWith(Number),
      patientItemWaiting: sql<boolean>`EXISTS (SELECT 1 FROM ${conversationItems} WHERE ${patientItem} AND ${conversationItems.seq} > COALESCE(${query.lastSeenSeq}, 0))`.mapWith(Boolean),
      smsStatus: query.latestTextStatus,
    })
    .from(conversations)
    .innerJoin(patients, and(eq(patients.id, conversations.patientId), eq(patients.organisationId, conversations.organisationId)))
    .where(
      and(
        eq(conversations.organisationId, query.organisationId),
        query.unansweredOfKind &&
          and(
            eq(conversations.kind, query.unansweredOfKind.kind),
            lt(conversations.createdAt, query.unansweredOfKind.sentBefore),
            sql`NOT EXISTS (SELECT 1 FROM ${conversationItems} WHERE ${patientItem})`,
          ),
      ),
    )
    // Urgent first (a questionnaire's flag), then newest first.
    .orderBy(sql`${conversations.urgentSince} IS NULL`, desc(conversations.createdAt), desc(conversations.id))
    .limit(query.limit)
    .offset(query.offset);
}
