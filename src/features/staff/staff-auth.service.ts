// Staff sign-in (DESIGN.md §3; OWASP ASVS 4.0.3 V2.2, V3.2). The rules:
// - a wrong email and a wrong password get the same answer, and cost the same work: an unknown email
//   is checked against a dummy argon2id hash, so timing does not reveal who has an account;
// - attempts are limited per IP address (20 in 15 minutes) and per account (5 wrong in a row lock the
//   account for 15 minutes, even for the right password). Unknown emails are limited the same way, so
//   the lock does not reveal who has an account either;
// - a successful sign-in always starts a new session; a session presented with it is ended.
import { verify } from '@node-rs/argon2';
import { and, eq, isNull, lte, or, sql } from 'drizzle-orm';
import { z } from 'zod';
import { staffUsers } from '../../platform/db/schema.ts';
import { sha256Hex } from '../../platform/crypto/tokens.ts';
import type { Services } from '../../services.ts';
import { recordAudit } from '../audit/audit.service.ts';
import { hashPassword } from './staff-accounts.service.ts';
import { createStaffSession, deleteStaffSession } from './staff-sessions.service.ts';

export const SIGN_IN_IP_MAX = 20;
export const SIGN_IN_IP_WINDOW_SECONDS = 15 * 60;
export const SIGN_IN_ACCOUNT_MAX_FAILURES = 5;
export const SIGN_IN_ACCOUNT_LOCK_MS = 15 * 60_000;

export const signInForm = z.object({
  email: z
    .string('Enter your email address')
    .trim()
    .toLowerCase()
    .min(1, 'Enter your email address')
    .max(254, 'Enter a correct email address and password')
    // No address has control characters, and PostgreSQL text cannot hold NUL (a 500, not an answer).
    .regex(/^\P{Cc}*$/u, 'Enter a correct email address and password'),
  password: z.string('Enter your password').min(1, 'Enter your password').max(256, 'Enter a correct email address and password'),
});
export type SignInForm = z.output<typeof signInForm>;

export type SignInResult =
  | { outcome: 'signed-in'; token: string; staffUserId: string }
  | { outcome: 'wrong-details' }
  | { outcome: 'too-many-attempts'; retryAfterMinutes: number };

// Computed once, lazily: a real argon2id hash with the same parameters as every account's.
let dummyHash: Promise<string> | undefined;
function dummyPasswordHash(): Promise<string> {
  dummyHash ??= hashPassword(`dummy-${sha256Hex(String(Math.random()))}`);
  return dummyHash;
}

async function passwordMatches(hash: string, password: string): Promise<boolean> {
  try {
    return await verify(hash, password);
  } catch {
    // A malformed stored hash is a failed check, never a 500 that would tell accounts apart.
    return false;
  }
}

const minutesUntil = (ms: number) => Math.max(1, Math.ceil(ms / 60_000));

export async function signIn(
  services: Services,
  input: SignInForm & { ip: string; presentedSessionToken?: string | null },
): Promise<SignInResult> {
  const now = services.now();
  const failed = async (details: Record<string, unknown>, user?: { id: string; organisationId: string }) =>
    recordAudit(services.db, {
      type: 'staff.sign_in_failed',
      actor: { type: 'staff', id: user?.id ?? null, ip: input.ip },
      organisationId: user?.organisationId ?? null,
      details,
    });

  // Every attempt counts against the address before anything is checked (atomic, so parallel guesses
  // cannot all slip under the limit); a successful sign-in gives its count back below, so a practice
  // where everyone signs in from one address is never held up by its own staff.
  const ipKey = `staff-sign-in:ip:${input.ip}`;
  const perIp = await services.rateLimiter.hit(ipKey, SIGN_IN_IP_MAX, SIGN_IN_IP_WINDOW_SECONDS);
  if (!perIp.allowed) {
    await failed({ reason: 'too_many_attempts_from_ip' });
    return { outcome: 'too-many-attempts', retryAfterMinutes: minutesUntil(perIp.retryAfterSeconds * 1000) };
  }

  const [user] = await services.db.select().from(staffUsers).where(eq(staffUsers.email, input.email));

  if (!user) {
    // Behave as a real account would: 5 wrong, then "too many attempts". Only a hash of the email is
    // kept, and the audit event records that an attempt happened, not who was named.
    const perEmail = await services.rateLimiter.hit(
      `staff-sign-in:unknown:${sha256Hex(input.email)}`,
      SIGN_IN_ACCOUNT_MAX_FAILURES,
      SIGN_IN_ACCOUNT_LOCK_MS / 1000,
    );
    if (!perEmail.allowed) {
      await failed({ reason: 'unknown_account' });
      return { outcome: 'too-many-attempts', retryAfterMinutes: minutesUntil(perEmail.retryAfterSeconds * 1000) };
    }
    await passwordMatches(await dummyPasswordHash(), input.password);
    await failed({ reason: 'unknown_account' });
    return { outcome: 'wrong-details' };
  }

  if (user.signInLockedUntil && user.signInLockedUntil.getTime() > now.getTime()) {
    await failed({ reason: 'account_locked' }, user);
    return { outcome: 'too-many-attempts', retryAfterMinutes: minutesUntil(user.signInLockedUntil.getTime() - now.getTime()) };
  }

  // The attempt is counted before the password is compared, in one statement that also refuses a
  // locked account (like the security code's attempt counter): concurrent guesses cannot all read the
  // same old count, so at most SIGN_IN_ACCOUNT_MAX_FAILURES passwords are ever compared per lock.
  // Reaching the limit locks the account at once; a right password lifts the lock below.
  const lockUntil = new Date(now.getTime() + SIGN_IN_ACCOUNT_LOCK_MS);
  const reachesLimit = sql`${staffUsers.failedSignIns} + 1 >= ${SIGN_IN_ACCOUNT_MAX_FAILURES}`;
  const [counted] = await services.db
    .update(staffUsers)
    .set({
      failedSignIns: sql`CASE WHEN ${reachesLimit} THEN 0 ELSE ${staffUsers.failedSignIns} + 1 END`,
      signInLockedUntil: sql`CASE WHEN ${reachesLimit} THEN ${lockUntil.toISOString()}::timestamptz ELSE ${staffUsers.signInLockedUntil} END`,
    })
    .where(and(eq(staffUsers.id, user.id), or(isNull(staffUsers.signInLockedUntil), lte(staffUsers.signInLockedUntil, now))))
    .returning({ lockedUntil: staffUsers.signInLockedUntil });
  if (!counted) {
    // Locked by a concurrent attempt between our read and this statement.
    const [fresh] = await services.db.select({ lockedUntil: staffUsers.signInLockedUntil }).from(staffUsers).where(eq(staffUsers.id, user.id));
    await failed({ reason: 'account_locked' }, user);
    const until = fresh?.lockedUntil?.getTime() ?? lockUntil.getTime();
    return { outcome: 'too-many-attempts', retryAfterMinutes: minutesUntil(until - now.getTime()) };
  }

  if (!(await passwordMatches(user.passwordHash, input.password))) {
    const locked = Boolean(counted.lockedUntil && counted.lockedUntil.getTime() > now.getTime());
    await failed({ reason: 'wrong_password', ...(locked ? { accountLocked: true } : {}) }, user);
    return { outcome: 'wrong-details' };
  }

  await services.rateLimiter.refund(ipKey, SIGN_IN_IP_WINDOW_SECONDS);
  const token = await services.db.transaction(async (tx) => {
    await tx.update(staffUsers).set({ failedSignIns: 0, signInLockedUntil: null }).where(eq(staffUsers.id, user.id));
    // Rotation: whatever session came with the request ends here; the new one shares nothing with it.
    if (input.presentedSessionToken) await deleteStaffSession(tx, input.presentedSessionToken);
    const newToken = await createStaffSession(tx, user.id, now);
    await recordAudit(tx, {
      type: 'staff.signed_in',
      actor: { type: 'staff', id: user.id, ip: input.ip },
      organisationId: user.organisationId,
    });
    return newToken;
  });
  return { outcome: 'signed-in', token, staffUserId: user.id };
}

export async function signOut(
  services: Services,
  input: { token: string; staffUserId: string; organisationId: string; ip: string },
): Promise<void> {
  await services.db.transaction(async (tx) => {
    await deleteStaffSession(tx, input.token);
    await recordAudit(tx, {
      type: 'staff.signed_out',
      actor: { type: 'staff', id: input.staffUserId, ip: input.ip },
      organisationId: input.organisationId,
    });
  });
}
