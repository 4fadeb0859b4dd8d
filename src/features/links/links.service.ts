// Secure links: a 128-bit token in the URL opens one conversation, after verification. Only the
// token's SHA-256 is stored; the token itself exists only in the text message that carries it.
import { and, desc, eq, gt, inArray, isNull, lte, or, sql } from 'drizzle-orm';
import { conversations, links } from '../../platform/db/schema.ts';
import type { Queryable } from '../../platform/db/client.ts';
import { newLinkToken, sha256Hex } from '../../platform/crypto/tokens.ts';

export type Link = typeof links.$inferSelect;

export interface IssuedLink {
  link: Link;
  /** The secret; put it in the text message and nowhere else. */
  token: string;
}

/**
 * A new link for the conversation: open for `ttlDays` from now, or until `expiresAt` when given (a
 * reminder's link closes when the questionnaire does, never later).
 */
export async function issueLink(
  on: Queryable,
  input: {
    conversationId: string;
    phoneE164: string;
    now: Date;
    /**
     * Another link beside the ones still working (a staff reply, a reminder), not instead of them (a
     * re-send revokes those first and starts afresh): it takes over their count of wrong dates of birth
     * and codes and any lock, and from then on they count together (liveLinksOfItsConversation), so
     * each new text is not a new set of guesses.
     */
    besideLiveLinks?: boolean;
  } & ({ ttlDays: number } | { expiresAt: Date }),
): Promise<IssuedLink> {
  const token = newLinkToken();
  const inherited = input.besideLiveLinks ? await checksOfLiveLinks(on, input.conversationId, input.now) : {};
  const [link] = await on
    .insert(links)
    .values({
      conversationId: input.conversationId,
      tokenHash: sha256Hex(token),
      phoneE164: input.phoneE164,
      expiresAt: 'expiresAt' in input ? input.expiresAt : new Date(input.now.getTime() + input.ttlDays * 86_400_000),
      ...inherited,
    })
    .returning();
  return { link: link!, token };
}

/** The most any live link of the conversation has counted, and its latest lock. */
async function checksOfLiveLinks(on: Queryable, conversationId: string, now: Date) {
  const live = await on
    .select()
    .from(links)
    .where(and(eq(links.conversationId, conversationId), isNull(links.revokedAt), gt(links.expiresAt, now)));
  if (live.length === 0) return {};
  const latest = (dates: Array<Date | null>) => dates.reduce<Date | null>((a, d) => (d && (!a || d > a) ? d : a), null);
  return {
    dobFailuresInARow: Math.max(...live.map((l) => l.dobFailuresInARow)),
    dobFailuresTotal: Math.max(...live.map((l) => l.dobFailuresTotal)),
    codeFailuresInARow: Math.max(...live.map((l) => l.codeFailuresInARow)),
    lockedUntil: latest(live.map((l) => l.lockedUntil)),
    lockedPermanentlyAt: latest(live.map((l) => l.lockedPermanentlyAt)),
  };
}

/**
 * The link and every other live link of its conversation: wrong answers are counted, and locks set, on
 * all of them at once, so someone holding several texts' links gets no more guesses than with one.
 */
function liveLinksOfItsConversation(linkId: string, now: Date) {
  return and(
    sql`${links.conversationId} = (SELECT l.conversation_id FROM links l WHERE l.id = ${linkId}::uuid)`,
    or(eq(links.id, linkId), and(isNull(links.revokedAt), gt(links.expiresAt, now))),
  );
}

/** See revokeConversationLinks: whoever adds or revokes a conversation's links takes this first. */
export async function lockConversationForLinks(on: Queryable, conversationId: string): Promise<boolean> {
  const rows = await on.select({ id: conversations.id }).from(conversations).where(eq(conversations.id, conversationId)).for('no key update');
  return rows.length === 1;
}

export function linkUrl(publicBaseUrl: string, token: string): string {
  return `${publicBaseUrl}/${token}`;
}

export async function findLinkByToken(on: Queryable, token: string): Promise<Link | undefined> {
  const [row] = await on.select().from(links).where(eq(links.tokenHash, sha256Hex(token)));
  return row;
}

/** Revoke every live link of a conversation (staff revoke, or before a re-send). */
export async function revokeConversationLinks(on: Queryable, conversationId: string, now: Date): Promise<number> {
  // Holding the conversation's row (until the caller's transaction ends) waits for anything adding a
  // link to it under the same lock — a reminder — so that link is revoked too, not left working
  // because it was committed after this UPDATE's snapshot was taken. NO KEY UPDATE: rows that merely
  // reference the conversation (items, texts) can still be written meanwhile.
  await lockConversationForLinks(on, conversationId);
  const rows = await on
    .update(links)
    .set({ revokedAt: now })
    .where(and(eq(links.conversationId, conversationId), isNull(links.revokedAt)))
    .returning({ id: links.id });
  return rows.length;
}

/**
 * Keeps a conversation's live links working until at least `until` (a booked appointment: the patient
 * changes or cancels it with the link they booked with, which must not expire before the day).
 */
export async function extendConversationLinks(on: Queryable, conversationId: string, until: Date, now: Date): Promise<void> {
  // Only links that still work: one that has expired stays expired.
  await on
    .update(links)
    .set({ expiresAt: sql`GREATEST(${links.expiresAt}, ${until})` })
    .where(and(eq(links.conversationId, conversationId), isNull(links.revokedAt), gt(links.expiresAt, now)));
}

// ---------------------------------------------------------------------------------------------------
// Resolving a link for the patient, and the counters and trust it carries. The rules (how many wrong
// dates of birth, for how long a lock lasts) live in the verification feature; these are the
// statements, each a single UPDATE so concurrent requests cannot both read an old count.

export const DOB_FAILURES_IN_A_ROW_LIMIT = 5;
export const DOB_FAILURES_TOTAL_LIMIT = 10;
export const DOB_LOCK_MINUTES = 30;
/**
 * Wrong security codes in a row, over every code sent for the link, that lock it until staff re-send:
 * three codes' worth of tries (CODE_MAX_ATTEMPTS, 5 each, in verification). Counting tries rather than
 * burned codes means asking for a new code before the fifth wrong try gains nothing. Without it, 5
 * tries a code and 10 codes a day a phone allow ~350 guesses over a link's 7 days (NIST SP 800-63B
 * §5.2.2 allows at most 100 failures); with it, 15 until a person at the organisation acts.
 */
export const CODE_FAILURES_IN_A_ROW_LIMIT = 15;

/** Why a link is locked until staff re-send: too many wrong dates of birth, or security codes. */
export type PermanentLockReason = 'dates_of_birth' | 'security_codes';

/**
 * The one answer to "what state is this link in?", used by verification (which page a patient gets),
 * the portal (readable, answerable or gone), staff pages and the API, so they never disagree.
 *
 * The order is the rule: revoked first (staff acted, and revoking is how "sent to the wrong person"
 * is put right); then expired (time is up whatever else happened); then the locks, which only matter
 * on a live link (a lock stops new checks of who is opening it — dates of birth, security codes, NHS
 * login — never a browser already verified).
 */
export type LinkState =
  | { state: 'revoked'; since: Date }
  | { state: 'expired'; since: Date }
  /**
   * Too many wrong dates of birth in total, or security codes in a row: only staff re-sending opens
   * the conversation again.
   */
  | { state: 'locked-permanently'; since: Date; reason: PermanentLockReason }
  /** Too many wrong dates of birth in a row: no new tries until `until`. */
  | { state: 'locked'; until: Date }
  | { state: 'active'; until: Date; trustedDevice: boolean };

export type LockedLinkState = Extract<LinkState, { state: 'locked' | 'locked-permanently' }>;

export function linkState(link: Link, now: Date): LinkState {
  if (link.revokedAt) return { state: 'revoked', since: link.revokedAt };
  if (link.expiresAt.getTime() <= now.getTime()) return { state: 'expired', since: link.expiresAt };
  if (link.lockedPermanentlyAt) return { state: 'locked-permanently', since: link.lockedPermanentlyAt, reason: permanentLockReason(link) };
  if (link.lockedUntil && link.lockedUntil.getTime() > now.getTime()) return { state: 'locked', until: link.lockedUntil };
  return { state: 'active', until: link.expiresAt, trustedDevice: Boolean(link.trustedDeviceHash) };
}

/** The counters stop once a link is locked, so the one that reached its limit says why. */
function permanentLockReason(link: Link): PermanentLockReason {
  return link.codeFailuresInARow >= CODE_FAILURES_IN_A_ROW_LIMIT ? 'security_codes' : 'dates_of_birth';
}

/** Which of a conversation's links speaks for it: the newest one not revoked, else the newest. */
export function currentLink<L extends Pick<Link, 'revokedAt' | 'createdAt'>>(newestFirst: readonly L[]): L | undefined {
  return newestFirst.find((l) => !l.revokedAt) ?? newestFirst[0];
}

/** Every link of a conversation, newest first. */
export async function conversationLinks(on: Queryable, conversationId: string): Promise<Link[]> {
  return on.select().from(links).where(eq(links.conversationId, conversationId)).orderBy(desc(links.createdAt), desc(links.id));
}

/** The links of several conversations at once (an inbox page), each list newest first. */
export async function linksOfConversations(on: Queryable, conversationIds: readonly string[]): Promise<Map<string, Link[]>> {
  const grouped = new Map<string, Link[]>(conversationIds.map((id) => [id, []]));
  if (conversationIds.length === 0) return grouped;
  const rows = await on
    .select()
    .from(links)
    .where(inArray(links.conversationId, [...conversationIds]))
    .orderBy(desc(links.createdAt), desc(links.id));
  for (const row of rows) grouped.get(row.conversationId)?.push(row);
  return grouped;
}

function notLocked(now: Date) {
  return and(isNull(links.lockedPermanentlyAt), or(isNull(links.lockedUntil), lte(links.lockedUntil, now)));
}

/**
 * One wrong date of birth, counted atomically. Reaching the in-a-row limit locks the link for
 * DOB_LOCK_MINUTES and starts a new run of tries; reaching the total limit locks it until staff
 * re-send. Returns undefined when the link was already locked (a concurrent request got there first).
 */
export async function recordDobFailure(on: Queryable, linkId: string, now: Date): Promise<Link | undefined> {
  const lockUntil = new Date(now.getTime() + DOB_LOCK_MINUTES * 60_000);
  const reachesRow = sql`${links.dobFailuresInARow} + 1 >= ${DOB_FAILURES_IN_A_ROW_LIMIT}`;
  const reachesTotal = sql`${links.dobFailuresTotal} + 1 >= ${DOB_FAILURES_TOTAL_LIMIT}`;
  const rows = await on
    .update(links)
    .set({
      dobFailuresInARow: sql`CASE WHEN ${reachesRow} THEN 0 ELSE ${links.dobFailuresInARow} + 1 END`,
      dobFailuresTotal: sql`${links.dobFailuresTotal} + 1`,
      lockedUntil: sql`CASE WHEN ${reachesRow} THEN ${lockUntil.toISOString()}::timestamptz ELSE ${links.lockedUntil} END`,
      lockedPermanentlyAt: sql`CASE WHEN ${reachesTotal} THEN ${now.toISOString()}::timestamptz ELSE NULL END`,
    })
    .where(and(liveLinksOfItsConversation(linkId, now), notLocked(now)))
    .returning();
  return rows.find((r) => r.id === linkId);
}

/** A right date of birth ends the run of wrong ones (the total stays). Undefined when locked. */
export async function resetDobFailuresInARow(on: Queryable, linkId: string, now: Date): Promise<Link | undefined> {
  const rows = await on
    .update(links)
    .set({ dobFailuresInARow: 0 })
    .where(and(liveLinksOfItsConversation(linkId, now), notLocked(now)))
    .returning();
  return rows.find((r) => r.id === linkId);
}

/**
 * Holds the link's row for the rest of the transaction and reads it fresh: security codes for one link
 * are judged one at a time, so parallel guesses cannot all pass the check of the lock before any of
 * them is counted (the code's own attempt counter caps only each code, not the link).
 */
export async function lockLinkForCodeCheck(on: Queryable, linkId: string): Promise<Link | undefined> {
  const [row] = await on.select().from(links).where(eq(links.id, linkId)).for('update');
  return row;
}

/**
 * One wrong security code, counted on the link; reaching CODE_FAILURES_IN_A_ROW_LIMIT locks it until
 * staff re-send. Undefined when the link was already locked for good.
 */
export async function recordCodeFailure(on: Queryable, linkId: string, now: Date): Promise<Link | undefined> {
  const reachesLimit = sql`${links.codeFailuresInARow} + 1 >= ${CODE_FAILURES_IN_A_ROW_LIMIT}`;
  const rows = await on
    .update(links)
    .set({
      codeFailuresInARow: sql`${links.codeFailuresInARow} + 1`,
      lockedPermanentlyAt: sql`CASE WHEN ${reachesLimit} THEN ${now.toISOString()}::timestamptz ELSE NULL END`,
    })
    .where(and(liveLinksOfItsConversation(linkId, now), isNull(links.lockedPermanentlyAt)))
    .returning();
  return rows.find((r) => r.id === linkId);
}

/** A right security code (or NHS login at P9) proves it is the patient: the run of wrong codes ends. */
export async function resetCodeFailures(on: Queryable, linkId: string, now: Date): Promise<void> {
  await on.update(links).set({ codeFailuresInARow: 0 }).where(liveLinksOfItsConversation(linkId, now));
}

/** The first device to pass the check: only if no device is trusted yet (a race has one winner). */
export async function trustFirstDevice(on: Queryable, linkId: string, deviceHash: string, now: Date): Promise<boolean> {
  const rows = await on
    .update(links)
    .set({ trustedDeviceHash: deviceHash, trustedAt: now })
    .where(and(eq(links.id, linkId), isNull(links.trustedDeviceHash)))
    .returning({ id: links.id });
  return rows.length === 1;
}

/**
 * This device replaces whichever device was trusted before (after a right security code or NHS login).
 * The old device's hash is kept, so that browser can later be told why it needs a code.
 */
export async function replaceTrustedDevice(on: Queryable, linkId: string, deviceHash: string, now: Date): Promise<void> {
  await on
    .update(links)
    .set({
      previousTrustedDeviceHash: sql`CASE WHEN ${links.trustedDeviceHash} = ${deviceHash} THEN ${links.previousTrustedDeviceHash} ELSE ${links.trustedDeviceHash} END`,
      trustedDeviceHash: deviceHash,
      trustedAt: now,
    })
    .where(eq(links.id, linkId));
}

/**
 * A browser's device cookie is replaced whenever it earns trust; links that trusted its old value
 * follow it to the new one, so one browser stays trusted for every link it had proved itself on.
 */
export async function moveDeviceTrust(on: Queryable, oldHash: string, newHash: string): Promise<void> {
  await on.update(links).set({ trustedDeviceHash: newHash }).where(eq(links.trustedDeviceHash, oldHash));
  await on.update(links).set({ previousTrustedDeviceHash: newHash }).where(eq(links.previousTrustedDeviceHash, oldHash));
}

export async function getLink(on: Queryable, id: string): Promise<Link | undefined> {
  const [row] = await on.select().from(links).where(eq(links.id, id));
  return row;
}
