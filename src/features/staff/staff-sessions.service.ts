// Staff sessions live on the server (DESIGN.md §3, OWASP ASVS V3): the cookie carries a 256-bit random
// token and the database keeps only its SHA-256, so a leaked table hands out no live sessions. A session
// ends after 30 minutes without use or 12 hours after sign-in, whichever comes first.
import { and, eq, isNull, lt, ne, or } from 'drizzle-orm';
import { NotAuthenticated } from '../../platform/errors.ts';
import { organisations, staffSessions, staffUsers } from '../../platform/db/schema.ts';
import type { Queryable } from '../../platform/db/client.ts';
import { newSecret, sha256Hex } from '../../platform/crypto/tokens.ts';
import type { StaffRole } from './permissions.ts';

export const STAFF_SESSION_IDLE_MS = 30 * 60_000;
export const STAFF_SESSION_ABSOLUTE_MS = 12 * 60 * 60_000;
// A session part-way through sign-in (password given, code or new password still to come) is only a
// short ticket to the next step: a cookie left on a shared computer there must not wait 12 hours.
export const STAFF_PARTIAL_SESSION_MS = 10 * 60_000;
/** lastSeenAt is only rewritten when it is older than this, to spare a write on every page. */
const TOUCH_AFTER_MS = 60_000;

export interface StaffContext {
  sessionTokenHash: string;
  stage: StaffSessionStage;
  user: { id: string; name: string; email: string; role: StaffRole };
  organisation: { id: string; name: string; odsCode: string; contactPhone: string };
}

export type StaffSessionStage = (typeof staffSessions.$inferSelect)['stage'];

/**
 * Starts a session and returns the token for the cookie (the only place it exists). Only a 'signed_in'
 * session reaches staff pages; the other stages reach only the sign-in step they name.
 */
export async function createStaffSession(on: Queryable, staffUserId: string, now: Date, stage: StaffSessionStage): Promise<string> {
  const token = newSecret(32);
  await on.insert(staffSessions).values({
    tokenHash: sha256Hex(token),
    staffUserId,
    createdAt: now,
    lastSeenAt: now,
    expiresAt: new Date(now.getTime() + (stage === 'signed_in' ? STAFF_SESSION_ABSOLUTE_MS : STAFF_PARTIAL_SESSION_MS)),
    stage,
  });
  return token;
}

/**
 * The staff member behind a cookie token, or null when there is no fully signed-in session. A session
 * part-way through sign-in is null here, so nothing that asks "who is signed in?" can mistake a
 * password alone for a sign-in; the sign-in steps themselves use loadStaffSessionAtAnyStage.
 */
export async function loadStaffSession(on: Queryable, token: string, now: Date): Promise<StaffContext | null> {
  const staff = await loadStaffSessionAtAnyStage(on, token, now);
  return staff?.stage === 'signed_in' ? staff : null;
}

/**
 * The session behind a cookie token at whatever stage of sign-in it has reached, or null when there is
 * no live session. An expired session is deleted on sight; a live one has its idle clock restarted.
 */
export async function loadStaffSessionAtAnyStage(on: Queryable, token: string, now: Date): Promise<StaffContext | null> {
  if (!token || token.length > 128) return null;
  const tokenHash = sha256Hex(token);
  const [row] = await on
    .select({
      session: staffSessions,
      user: { id: staffUsers.id, name: staffUsers.name, email: staffUsers.email, role: staffUsers.role },
      organisation: {
        id: organisations.id,
        name: organisations.name,
        odsCode: organisations.odsCode,
        contactPhone: organisations.contactPhone,
      },
    })
    .from(staffSessions)
    .innerJoin(staffUsers, eq(staffUsers.id, staffSessions.staffUserId))
    .innerJoin(organisations, eq(organisations.id, staffUsers.organisationId))
    // A deactivated account's sessions are deleted when it is deactivated; the check here also covers a
    // session created by a sign-in racing the deactivation.
    .where(and(eq(staffSessions.tokenHash, tokenHash), isNull(staffUsers.deactivatedAt)));
  if (!row) return null;
  const t = now.getTime();
  const idleFor = t - row.session.lastSeenAt.getTime();
  if (row.session.expiresAt.getTime() <= t || idleFor >= STAFF_SESSION_IDLE_MS) {
    await deleteStaffSession(on, token);
    return null;
  }
  if (idleFor >= TOUCH_AFTER_MS) {
    await on.update(staffSessions).set({ lastSeenAt: now }).where(eq(staffSessions.tokenHash, tokenHash));
  }
  return { sessionTokenHash: tokenHash, stage: row.session.stage, user: row.user, organisation: row.organisation };
}

/**
 * Moves a session from the stage it is at to its next one by replacing it: the old token stops working
 * and the new one shares nothing with it (session fixation, OWASP ASVS V3.2.1), and a session reaching
 * 'signed_in' gets its full lifetime from that moment. One DELETE decides: when two tabs finish the same
 * step at once, or the session was ended meanwhile, only one gets a new session; the other is refused.
 */
export async function advanceStaffSession(
  on: Queryable,
  move: { oldToken: string; staffUserId: string; from: StaffSessionStage; to: StaffSessionStage },
  now: Date,
): Promise<string> {
  const ended = await on
    .delete(staffSessions)
    .where(and(eq(staffSessions.tokenHash, sha256Hex(move.oldToken)), eq(staffSessions.staffUserId, move.staffUserId), eq(staffSessions.stage, move.from)))
    .returning({ tokenHash: staffSessions.tokenHash });
  if (ended.length !== 1) throw new NotAuthenticated('This sign-in step was already used or the session has ended');
  return createStaffSession(on, move.staffUserId, now, move.to);
}

export async function deleteStaffSession(on: Queryable, token: string): Promise<void> {
  await on.delete(staffSessions).where(eq(staffSessions.tokenHash, sha256Hex(token)));
}

/** Sessions past either timeout; for the maintenance job. */
export async function deleteExpiredStaffSessions(on: Queryable, now: Date): Promise<number> {
  const rows = await on
    .delete(staffSessions)
    .where(
      or(lt(staffSessions.expiresAt, now), lt(staffSessions.lastSeenAt, new Date(now.getTime() - STAFF_SESSION_IDLE_MS))),
    )
    .returning({ tokenHash: staffSessions.tokenHash });
  return rows.length;
}

/** Every other session of one staff member: a changed password signs out whoever held the old one. */
export async function deleteOtherSessionsOfStaff(on: Queryable, staffUserId: string, keepToken: string): Promise<void> {
  await on.delete(staffSessions).where(and(eq(staffSessions.staffUserId, staffUserId), ne(staffSessions.tokenHash, sha256Hex(keepToken))));
}

/** Every session of one staff member (e.g. when an operator disables the account). */
export async function deleteSessionsOfStaff(on: Queryable, staffUserId: string): Promise<void> {
  await on.delete(staffSessions).where(eq(staffSessions.staffUserId, staffUserId));
}
