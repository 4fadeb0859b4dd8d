// One-time security codes sent by text to the number a link was sent to (DESIGN.md §3, after Ory
// Kratos' persister_code.go): 6 digits from crypto.randomInt, valid 10 minutes, single use, only the
// newest works, stored as HMAC-SHA256 under a named server key, compared in constant time, and the
// attempt counter is raised in the same statement that picks the code, before any comparison.
import { createHmac, randomInt, timingSafeEqual } from 'node:crypto';
import { and, count, desc, eq, gt, isNull, max, min, sql } from 'drizzle-orm';
import { securityCodes } from '../../platform/db/schema.ts';
import { queryRows, type Queryable } from '../../platform/db/client.ts';
import type { HmacKey } from '../../config/config.ts';
import type { Jobs } from '../../platform/jobs/jobs.ts';
import { enqueueSms } from '../sms/outbox.service.ts';

export const CODE_DIGITS = 6;
export const CODE_TTL_MINUTES = 10;
export const CODE_MAX_ATTEMPTS = 5;
export const RESEND_WAIT_SECONDS = 60;
export const CODES_PER_LINK_PER_HOUR = 5;
export const CODES_PER_PHONE_PER_DAY = 10;

export type SecurityCode = typeof securityCodes.$inferSelect;

export function newSecurityCode(): string {
  return String(randomInt(0, 1_000_000)).padStart(CODE_DIGITS, '0');
}

/** The code is bound to its link, so a row copied to another link proves nothing. */
export function codeHmac(key: HmacKey, linkId: string, code: string): string {
  return createHmac('sha256', key.secret).update(`${linkId}:${code}`).digest('hex');
}

function matches(keys: HmacKey[], row: SecurityCode, code: string): boolean {
  const key = keys.find((k) => k.id === row.keyId);
  if (!key) return false; // The key was retired: the code can no longer be checked, so it is wrong.
  const expected = Buffer.from(row.codeHmac, 'hex');
  const actual = Buffer.from(codeHmac(key, row.linkId, code), 'hex');
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

export type CodeLimit =
  | { ok: true }
  | { ok: false; limit: 'wait' | 'link_hour' | 'phone_day'; retryAt: Date };

/**
 * May another code be sent for this link now? Not within RESEND_WAIT_SECONDS of the last one, at most
 * CODES_PER_LINK_PER_HOUR per link and CODES_PER_PHONE_PER_DAY per phone number. Call inside the
 * sending transaction after lockPhoneForCodes, so two requests cannot both pass.
 */
export async function checkCodeLimits(on: Queryable, link: { id: string; phoneE164: string }, now: Date): Promise<CodeLimit> {
  const hourAgo = new Date(now.getTime() - 3_600_000);
  const [mine] = await on
    .select({ last: max(securityCodes.createdAt), oldestInHour: min(securityCodes.createdAt), inHour: count() })
    .from(securityCodes)
    .where(and(eq(securityCodes.linkId, link.id), gt(securityCodes.createdAt, hourAgo)));
  const last = mine?.last ? new Date(mine.last) : null;
  if (last && now.getTime() - last.getTime() < RESEND_WAIT_SECONDS * 1000) {
    return { ok: false, limit: 'wait', retryAt: new Date(last.getTime() + RESEND_WAIT_SECONDS * 1000) };
  }
  if (Number(mine?.inHour ?? 0) >= CODES_PER_LINK_PER_HOUR && mine?.oldestInHour) {
    return { ok: false, limit: 'link_hour', retryAt: new Date(new Date(mine.oldestInHour).getTime() + 3_600_000) };
  }
  // Texts are stamped by the database when they are queued, so this window is on the database clock.
  const [phone] = await queryRows<{ n: number; wait_seconds: number | string | null }>(on, sql`
    SELECT count(*)::int AS n,
           extract(epoch FROM (min(created_at) + interval '24 hours' - now()))::float8 AS wait_seconds
    FROM outbound_sms
    WHERE phone_e164 = ${link.phoneE164} AND kind = 'security_code' AND created_at > now() - interval '24 hours'`);
  if (Number(phone?.n ?? 0) >= CODES_PER_PHONE_PER_DAY) {
    const wait = Math.max(1, Math.ceil(Number(phone?.wait_seconds ?? 86_400)));
    return { ok: false, limit: 'phone_day', retryAt: new Date(now.getTime() + wait * 1000) };
  }
  return { ok: true };
}

/** Serialises code sending per phone number for the rest of the transaction (limits stay exact). */
export async function lockPhoneForCodes(on: Queryable, phoneE164: string): Promise<void> {
  await on.execute(sql`SELECT pg_advisory_xact_lock(hashtextextended(${`security-code:${phoneE164}`}, 0))`);
}

export interface SendCodeInput {
  link: { id: string; phoneE164: string };
  organisationId: string;
  organisationName: string;
  /** The item kind's word for what the code opens ("message"). */
  thing: string;
  conversationId: string;
  hmacKey: HmacKey;
  now: Date;
}

/**
 * Burn every live code for the link, store a new one and queue its text, on the caller's transaction.
 * Limits are the caller's business (checkCodeLimits).
 */
export async function sendSecurityCode(tx: Queryable, jobs: Jobs, input: SendCodeInput): Promise<SecurityCode> {
  const { link, now } = input;
  await tx
    .update(securityCodes)
    .set({ burnedAt: now })
    .where(and(eq(securityCodes.linkId, link.id), isNull(securityCodes.usedAt), isNull(securityCodes.burnedAt)));
  const code = newSecurityCode();
  const [row] = await tx
    .insert(securityCodes)
    .values({
      linkId: link.id,
      codeHmac: codeHmac(input.hmacKey, link.id, code),
      keyId: input.hmacKey.id,
      createdAt: now,
      expiresAt: new Date(now.getTime() + CODE_TTL_MINUTES * 60_000),
    })
    .returning();
  await enqueueSms(tx, jobs, {
    kind: 'security_code',
    linkId: link.id,
    organisationId: input.organisationId,
    conversationId: input.conversationId,
    phoneE164: link.phoneE164,
    personalisation: { organisation_name: input.organisationName, thing: input.thing, code },
  });
  return row!;
}

export type CodeCheck =
  | { kind: 'right'; code: SecurityCode }
  | { kind: 'wrong'; triesLeft: number }
  /** This wrong try was the last one allowed: the code is burned. */
  | { kind: 'burned' }
  /** No live code: expired, used, burned or never sent. */
  | { kind: 'no_code' };

/**
 * Check a code for a link. The attempt is counted in the one statement that picks the newest live
 * code (and refuses it once CODE_MAX_ATTEMPTS are used), before the comparison; a right code is then
 * marked used in a statement that only one request can win.
 */
export async function checkSecurityCode(on: Queryable, keys: HmacKey[], linkId: string, code: string, now: Date): Promise<CodeCheck> {
  const nowIso = now.toISOString();
  const [row] = await on
    .update(securityCodes)
    .set({ attempts: sql`${securityCodes.attempts} + 1` })
    .where(
      and(
        eq(
          securityCodes.id,
          sql`(SELECT id FROM security_codes
               WHERE link_id = ${linkId} AND used_at IS NULL AND burned_at IS NULL AND expires_at > ${nowIso}::timestamptz
               ORDER BY created_at DESC LIMIT 1)`,
        ),
        sql`${securityCodes.attempts} < ${CODE_MAX_ATTEMPTS}`,
      ),
    )
    .returning();
  if (!row) return { kind: 'no_code' };
  if (matches(keys, row, code)) {
    const [used] = await on
      .update(securityCodes)
      .set({ usedAt: now })
      .where(and(eq(securityCodes.id, row.id), isNull(securityCodes.usedAt), isNull(securityCodes.burnedAt)))
      .returning();
    return used ? { kind: 'right', code: used } : { kind: 'no_code' };
  }
  if (row.attempts >= CODE_MAX_ATTEMPTS) {
    await on.update(securityCodes).set({ burnedAt: now }).where(eq(securityCodes.id, row.id));
    return { kind: 'burned' };
  }
  return { kind: 'wrong', triesLeft: CODE_MAX_ATTEMPTS - row.attempts };
}

/** Is there a code the patient could still type (for pages that decide whether to send another)? */
export async function hasLiveCode(on: Queryable, linkId: string, now: Date): Promise<boolean> {
  const [row] = await on
    .select({ id: securityCodes.id })
    .from(securityCodes)
    .where(
      and(
        eq(securityCodes.linkId, linkId),
        isNull(securityCodes.usedAt),
        isNull(securityCodes.burnedAt),
        gt(securityCodes.expiresAt, now),
        sql`${securityCodes.attempts} < ${CODE_MAX_ATTEMPTS}`,
      ),
    )
    .orderBy(desc(securityCodes.createdAt))
    .limit(1);
  return Boolean(row);
}
