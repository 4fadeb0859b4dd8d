// Patient portal sessions: NHS login at the home page (P9 only) opens every conversation sent to that
// NHS number. Same table and token scheme as link sessions (kind 'portal', no link), with NHS login's
// rule for timing: re-authenticate after 30 minutes idle and after 12 hours (DESIGN.md §3).
import { and, eq } from 'drizzle-orm';
import { patientSessions } from '../../platform/db/schema.ts';
import type { Queryable } from '../../platform/db/client.ts';
import { newSecret, sha256Hex } from '../../platform/crypto/tokens.ts';

export const PORTAL_IDLE_MINUTES = 30;
export const PORTAL_ABSOLUTE_HOURS = 12;

export interface PortalSession {
  tokenHash: string;
  nhsNumber: string;
  nhsLoginSub: string;
  /** NHS login's date of birth (YYYY-MM-DD) and family name: a record must have them too to be shown. */
  birthdate: string | null;
  familyName: string | null;
  createdAt: Date;
  lastSeenAt: Date;
  expiresAt: Date;
}

export type PortalSessionCheck = { kind: 'ok'; session: PortalSession } | { kind: 'expired' } | { kind: 'none' };

/** A new portal session (256-bit token for the cookie); the caller ends the browser's old one first. */
export async function createPortalSession(
  on: Queryable,
  input: { nhsNumber: string; nhsLoginSub: string; birthdate: string | null; familyName: string | null; now: Date },
): Promise<{ token: string }> {
  const token = newSecret(32);
  await on.insert(patientSessions).values({
    tokenHash: sha256Hex(token),
    kind: 'portal',
    linkId: null,
    nhsNumber: input.nhsNumber,
    nhsLoginSub: input.nhsLoginSub,
    nhsLoginBirthdate: input.birthdate,
    nhsLoginFamilyName: input.familyName,
    state: 'verified',
    createdAt: input.now,
    lastSeenAt: input.now,
    expiresAt: new Date(input.now.getTime() + PORTAL_ABSOLUTE_HOURS * 3_600_000),
  });
  return { token };
}

function toPortalSession(row: typeof patientSessions.$inferSelect): PortalSession | undefined {
  if (row.kind !== 'portal' || !row.nhsNumber || !row.nhsLoginSub) return undefined;
  return {
    tokenHash: row.tokenHash,
    nhsNumber: row.nhsNumber,
    nhsLoginSub: row.nhsLoginSub,
    birthdate: row.nhsLoginBirthdate,
    familyName: row.nhsLoginFamilyName,
    createdAt: row.createdAt,
    lastSeenAt: row.lastSeenAt,
    expiresAt: row.expiresAt,
  };
}

/** The live portal session behind a cookie, touched; a timed-out one is deleted and reported as expired. */
export async function checkPortalSession(on: Queryable, token: string | undefined, now: Date): Promise<PortalSessionCheck> {
  if (!token) return { kind: 'none' };
  const tokenHash = sha256Hex(token);
  const where = and(eq(patientSessions.tokenHash, tokenHash), eq(patientSessions.kind, 'portal'));
  const [row] = await on.select().from(patientSessions).where(where);
  const session = row && toPortalSession(row);
  if (!session) return { kind: 'none' };
  const t = now.getTime();
  const live = session.expiresAt.getTime() > t && session.lastSeenAt.getTime() + PORTAL_IDLE_MINUTES * 60_000 > t;
  if (!live) {
    await on.delete(patientSessions).where(where);
    return { kind: 'expired' };
  }
  const [touched] = await on.update(patientSessions).set({ lastSeenAt: now }).where(where).returning();
  const fresh = touched && toPortalSession(touched);
  return fresh ? { kind: 'ok', session: fresh } : { kind: 'none' };
}

/** Ends the portal session behind a cookie (sign out, or before a new sign-in replaces it). */
export async function endPortalSession(on: Queryable, token: string | undefined): Promise<boolean> {
  if (!token) return false;
  const rows = await on
    .delete(patientSessions)
    .where(and(eq(patientSessions.tokenHash, sha256Hex(token)), eq(patientSessions.kind, 'portal')))
    .returning({ tokenHash: patientSessions.tokenHash });
  return rows.length > 0;
}
