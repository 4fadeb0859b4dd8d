// Patient sessions: server-side rows keyed by the SHA-256 of a random token that lives only in the
// browser's cookie (DESIGN.md §3). A session opens one link; it ends 15 minutes after the last request
// or 1 hour after it began, whichever comes first. Every verification makes a new token.
import { and, eq, lt, ne, or } from 'drizzle-orm';
import { patientSessions } from '../../platform/db/schema.ts';
import type { Queryable } from '../../platform/db/client.ts';
import { newSecret, sha256Hex } from '../../platform/crypto/tokens.ts';

export const SESSION_IDLE_MINUTES = 15;
export const SESSION_ABSOLUTE_MINUTES = 60;

export type PatientSession = typeof patientSessions.$inferSelect;
export type PatientSessionState = PatientSession['state'];

export type SessionCheck =
  | { kind: 'ok'; session: PatientSession }
  /** The browser had a session for this link but it timed out: ask for the details again. */
  | { kind: 'expired' }
  /** No session, or one for another link. */
  | { kind: 'none' };

/** A new session for one link; returns the token for the cookie (256 bits) and the row. */
export async function createPatientSession(
  on: Queryable,
  input: { linkId: string; state: PatientSessionState; now: Date },
): Promise<{ token: string; session: PatientSession }> {
  const token = newSecret(32);
  const [session] = await on
    .insert(patientSessions)
    .values({
      tokenHash: sha256Hex(token),
      linkId: input.linkId,
      state: input.state,
      createdAt: input.now,
      lastSeenAt: input.now,
      expiresAt: new Date(input.now.getTime() + SESSION_ABSOLUTE_MINUTES * 60_000),
    })
    .returning();
  return { token, session: session! };
}

function isLive(session: PatientSession, now: Date): boolean {
  const t = now.getTime();
  return session.expiresAt.getTime() > t && session.lastSeenAt.getTime() + SESSION_IDLE_MINUTES * 60_000 > t;
}

/**
 * The session in the cookie, if it is live and was made for this link; a live one is touched (its idle
 * timer restarts). A timed-out session is deleted.
 */
export async function checkPatientSession(on: Queryable, token: string | undefined, linkId: string, now: Date): Promise<SessionCheck> {
  if (!token) return { kind: 'none' };
  const tokenHash = sha256Hex(token);
  const [session] = await on.select().from(patientSessions).where(eq(patientSessions.tokenHash, tokenHash));
  if (!session || session.linkId !== linkId) return { kind: 'none' };
  if (!isLive(session, now)) {
    await on.delete(patientSessions).where(eq(patientSessions.tokenHash, tokenHash));
    return { kind: 'expired' };
  }
  const [touched] = await on
    .update(patientSessions)
    .set({ lastSeenAt: now })
    .where(eq(patientSessions.tokenHash, tokenHash))
    .returning();
  // Deleted between the two statements (trust moved to another device): no session.
  return touched ? { kind: 'ok', session: touched } : { kind: 'none' };
}

/** End the session behind a cookie (before a new one replaces it). */
export async function endPatientSession(on: Queryable, token: string | undefined): Promise<void> {
  if (!token) return;
  await on.delete(patientSessions).where(eq(patientSessions.tokenHash, sha256Hex(token)));
}

/** When trust moves to a new device, every other browser's session for the link ends. */
export async function endOtherSessionsForLink(on: Queryable, linkId: string, keepTokenHash: string): Promise<void> {
  await on.delete(patientSessions).where(and(eq(patientSessions.linkId, linkId), ne(patientSessions.tokenHash, keepTokenHash)));
}

/**
 * Sessions (link and portal) that ended more than a day ago, for the maintenance job. The day's grace
 * keeps the row while a browser might still come back with its cookie and be told "for your security,
 * confirm your details again" rather than be treated as new. No session lives a day: the longest are
 * portal sessions, 12 hours.
 */
export async function deleteEndedPatientSessions(on: Queryable, now: Date): Promise<number> {
  const dayAgo = new Date(now.getTime() - 24 * 3_600_000);
  const rows = await on
    .delete(patientSessions)
    .where(or(lt(patientSessions.expiresAt, dayAgo), lt(patientSessions.lastSeenAt, dayAgo)))
    .returning({ tokenHash: patientSessions.tokenHash });
  return rows.length;
}
