// The SQL of the outbox's life after enqueueSms: a worker claims a row, then records what the provider
// said; a delivery receipt records what happened on the phone network. Every change is one statement
// with its guard in the WHERE clause, so two workers, or a worker and a receipt, cannot undo each other.
import { and, asc, desc, eq, inArray, lt, notInArray, or, sql, type AnyColumn, type SQL } from 'drizzle-orm';
import { outboundSms } from '../../platform/db/schema.ts';
import { queryRows, type Queryable } from '../../platform/db/client.ts';
import type { OutboundSms } from './outbox.service.ts';

export type OutboundSmsStatus = OutboundSms['status'];

/** States nothing may move a row out of: the provider's last word, or ours after giving up. */
export const FINAL_SMS_STATUSES = ['delivered', 'permanent_failure', 'technical_failure', 'temporary_failure'] as const satisfies readonly OutboundSmsStatus[];

// A security code or a link is only needed until it has been handed to the provider (or we gave up):
// after that the database keeps no live code (only its HMAC, in security_codes) and no working link
// (only its token's hash, in links), so a copy or a backup of it opens nothing. A re-send makes a new
// link; staff pages and /dev/phone never read these values back.
const withoutSecrets = sql`${outboundSms.personalisation} - 'code' - 'link'`;

/**
 * Why a text held by a provider problem must no longer go, or null while it still should. A held text
 * can wait hours: by then staff may have revoked its link, the link may have expired, the patient's
 * number may have been corrected (staff then re-send to the new one), or its security code expired.
 * Sent late, it would reach the wrong person or carry a dead link. Only held rows pay for this query.
 */
export async function reasonHeldTextIsStale(on: Queryable, row: Pick<OutboundSms, 'linkId' | 'conversationId' | 'phoneE164' | 'kind' | 'createdAt'>, now: Date, codeTtlMs: number): Promise<string | null> {
  if (row.kind === 'security_code' && now.getTime() - row.createdAt.getTime() >= codeTtlMs) return 'Not sent: the security code expired while our text service could not send';
  if (!row.linkId && !row.conversationId) return null;
  const [found] = await queryRows<{ revoked: boolean | null; expired: boolean | null; mobile: string | null }>(on, sql`
    SELECT l.revoked_at IS NOT NULL AS revoked, l.expires_at <= ${now.toISOString()}::timestamptz AS expired, p.mobile_e164 AS mobile
    FROM conversations c
    JOIN patients p ON p.id = c.patient_id AND p.organisation_id = c.organisation_id
    LEFT JOIN links l ON l.id = ${row.linkId}::uuid
    WHERE c.id = COALESCE(${row.conversationId}::uuid, (SELECT conversation_id FROM links WHERE id = ${row.linkId}::uuid))`);
  if (!found) return null;
  if (found.revoked) return 'Not sent: the link was revoked while our text service could not send';
  if (found.expired) return 'Not sent: the link expired while our text service could not send';
  if (found.mobile !== null && found.mobile !== row.phoneE164) return 'Not sent: the patient’s mobile number changed while our text service could not send';
  return null;
}

/**
 * Take the rows for one send attempt each, in one statement (a worker claims a whole fetched batch).
 * A row already sent or finished, or held by another attempt ('sending' updated after staleBefore),
 * is not returned: the caller leaves it alone. A 'sending' row older than staleBefore belongs to an
 * attempt that died (process crash), so it may be taken again.
 */
export async function claimOutboundSms(on: Queryable, ids: string[], now: Date, staleBefore: Date): Promise<OutboundSms[]> {
  if (ids.length === 0) return [];
  return on
    .update(outboundSms)
    .set({ status: 'sending', attempts: sql`${outboundSms.attempts} + 1`, updatedAt: now })
    .where(
      and(
        inArray(outboundSms.id, ids),
        or(
          inArray(outboundSms.status, ['queued', 'temporary_failure']),
          and(eq(outboundSms.status, 'sending'), lt(outboundSms.updatedAt, staleBefore)),
        ),
      ),
    )
    .returning();
}

/** The provider accepted the text. A receipt that already arrived (delivered, failed) keeps its status. */
export async function markOutboundSmsSent(on: Queryable, id: string, providerId: string, now: Date): Promise<void> {
  await on
    .update(outboundSms)
    .set({
      status: sql`CASE WHEN ${outboundSms.status} = 'sending' THEN 'sent' ELSE ${outboundSms.status} END`,
      providerId,
      sentAt: now,
      lastError: null,
      providerProblem: null,
      updatedAt: now,
      personalisation: withoutSecrets,
    })
    .where(eq(outboundSms.id, id));
}

/** The attempt failed in a way worth repeating: back in the queue, with the reason for staff. */
export async function markOutboundSmsForRetry(on: Queryable, id: string, reason: string, now: Date): Promise<void> {
  await on
    .update(outboundSms)
    .set({ status: 'queued', lastError: reason, updatedAt: now })
    .where(and(eq(outboundSms.id, id), eq(outboundSms.status, 'sending')));
}

/**
 * The provider refused our set-up (key, template), not the text: back in the queue with the problem
 * noted, so staff see that it is held and the worker's next job sends it once the set-up is fixed.
 */
export async function markOutboundSmsHeld(
  on: Queryable,
  id: string,
  problem: NonNullable<OutboundSms['providerProblem']>,
  reason: string,
  now: Date,
): Promise<void> {
  await on
    .update(outboundSms)
    .set({ status: 'queued', providerProblem: problem, lastError: reason, updatedAt: now })
    .where(and(eq(outboundSms.id, id), eq(outboundSms.status, 'sending')));
}

/** permanent_failure (the provider refused it) or technical_failure (we gave up retrying). */
export async function markOutboundSmsFailed(
  on: Queryable,
  id: string,
  status: 'permanent_failure' | 'technical_failure',
  reason: string,
  now: Date,
): Promise<boolean> {
  const rows = await on
    .update(outboundSms)
    // The final word replaces a provider problem noted earlier: it is what staff need to read now.
    .set({ status, lastError: reason, providerProblem: null, updatedAt: now, personalisation: withoutSecrets })
    .where(and(eq(outboundSms.id, id), notInArray(outboundSms.status, ['sent', ...FINAL_SMS_STATUSES])))
    .returning({ id: outboundSms.id });
  return rows.length > 0;
}

export type ReceiptOutcome = 'updated' | 'already-final' | 'unknown';

/** A delivery receipt: moves a row that is not yet final to the receipt's status. The first final state wins. */
export async function applyDeliveryReceipt(
  on: Queryable,
  id: string,
  status: (typeof FINAL_SMS_STATUSES)[number],
  now: Date,
): Promise<ReceiptOutcome> {
  const rows = await on
    .update(outboundSms)
    .set({ status, updatedAt: now, personalisation: withoutSecrets })
    .where(and(eq(outboundSms.id, id), notInArray(outboundSms.status, [...FINAL_SMS_STATUSES])))
    .returning({ id: outboundSms.id });
  if (rows.length > 0) return 'updated';
  const [existing] = await on.select({ id: outboundSms.id }).from(outboundSms).where(eq(outboundSms.id, id));
  return existing ? 'already-final' : 'unknown';
}

export async function findOutboundSmsStatuses(on: Queryable, ids: string[]): Promise<Map<string, OutboundSmsStatus>> {
  if (ids.length === 0) return new Map();
  const rows = await on.select({ id: outboundSms.id, status: outboundSms.status }).from(outboundSms).where(inArray(outboundSms.id, ids));
  return new Map(rows.map((r) => [r.id, r.status]));
}

// ---------------------------------------------------------------------------------------------------
// What other features may know of a conversation's texts: their kinds and statuses, never the
// personalisation (a code or a link may still be in it).
//
// The status staff see is the row's, except for a text the provider would not take because of our own
// set-up (provider_problem): it is not sent yet, and that is neither the patient's fault nor "Queued".

/** The staff-facing status of a text held back by a provider problem (never stored in a row). */
export const SMS_HELD_BY_PROVIDER = 'held_by_provider';
export type StaffSmsStatus = OutboundSmsStatus | typeof SMS_HELD_BY_PROVIDER;

const staffStatus = sql<StaffSmsStatus>`CASE WHEN ${outboundSms.providerProblem} IS NOT NULL AND ${outboundSms.status} IN ('queued', 'sending') THEN ${sql.raw(`'${SMS_HELD_BY_PROVIDER}'`)} ELSE ${outboundSms.status} END`;

export async function textsOfConversation(on: Queryable, organisationId: string, conversationId: string) {
  return on
    .select({
      id: outboundSms.id,
      kind: outboundSms.kind,
      phoneE164: outboundSms.phoneE164,
      status: staffStatus,
      createdAt: outboundSms.createdAt,
      sentAt: outboundSms.sentAt,
      updatedAt: outboundSms.updatedAt,
    })
    .from(outboundSms)
    .where(and(eq(outboundSms.conversationId, conversationId), eq(outboundSms.organisationId, organisationId)))
    .orderBy(asc(outboundSms.createdAt), asc(outboundSms.id));
}

/** The staff-facing status of the newest link text of the conversation whose id `conversationId` names (SQL, for a list query). */
export function latestLinkTextStatusSql(conversationId: SQL | AnyColumn): SQL<StaffSmsStatus | null> {
  return sql<StaffSmsStatus | null>`(
    SELECT ${staffStatus} FROM ${outboundSms}
    WHERE ${outboundSms.conversationId} = ${conversationId} AND ${outboundSms.kind} = 'message_link'
    ORDER BY ${outboundSms.createdAt} DESC, ${outboundSms.id} DESC LIMIT 1)`;
}

export async function latestLinkTextStatus(on: Queryable, conversationId: string): Promise<OutboundSmsStatus | undefined> {
  const [row] = await on
    .select({ status: outboundSms.status })
    .from(outboundSms)
    .where(and(eq(outboundSms.conversationId, conversationId), eq(outboundSms.kind, 'message_link')))
    .orderBy(desc(outboundSms.createdAt), desc(outboundSms.id))
    .limit(1);
  return row?.status;
}

// ---------------------------------------------------------------------------------------------------
// For /metrics and /health: how far behind the outbox is. One statement over the queued rows only.

export interface OutboxBacklog {
  queued: number;
  /** Seconds since the oldest queued text was made, by the database's clock (created_at is its default); 0 when none. */
  oldestQueuedSeconds: number;
  heldByProviderProblem: number;
}

export async function outboxBacklog(on: Queryable): Promise<OutboxBacklog> {
  const [row] = await on
    .select({
      queued: sql<number>`count(*)`.mapWith(Number),
      oldestQueuedSeconds: sql<number>`coalesce(greatest(0, extract(epoch from (now() - min(${outboundSms.createdAt})))), 0)`.mapWith(Number),
      heldByProviderProblem: sql<number>`count(*) FILTER (WHERE ${outboundSms.providerProblem} IS NOT NULL)`.mapWith(Number),
    })
    .from(outboundSms)
    .where(eq(outboundSms.status, 'queued'));
  return { queued: row?.queued ?? 0, oldestQueuedSeconds: row?.oldestQueuedSeconds ?? 0, heldByProviderProblem: row?.heldByProviderProblem ?? 0 };
}
