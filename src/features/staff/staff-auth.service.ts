// Staff sign-in (DESIGN.md §3; OWASP ASVS 4.0.3 V2.2, V3.2). The rules:
// - a wrong email and a wrong password get the same answer, and cost the same work: an unknown email
//   is checked against a dummy argon2id hash, so timing does not reveal who has an account;
// - no lock an attacker can hold (a lock after 5 wrong passwords let anyone who knew a staff email keep
//   its owner out for good with 5 guesses every 15 minutes). Instead, per account, stepped delays: the
//   first 5 wrong passwords in a row are checked at once, then each further attempt must wait 1, 2, 4,
//   8, 16, 32 and at most 60 seconds after the one before; an attempt during the wait is refused
//   without checking the password and without adding to the wait, and a right password ends the run.
//   So the real person waits at most a minute whenever an attacker guesses, and a run checks at most
//   69 passwords in its first hour, from however many addresses (5, then 6 in 63 seconds, then one a
//   minute: 60 an hour, about 1,440 a day after that; each sign-in by the real person starts a new run);
// - per IP address, 20 attempts in 15 minutes across accounts (a success gives its count back), and
//   per account and address, 10 checked passwords in 15 minutes, so one address cannot take an
//   account's turn every minute and keep its owner waiting for long (a waiting attempt is not counted:
//   the owner pressing "Sign in" again uses up nothing);
// - unknown emails get exactly the same: every counter is keyed by a hash of the email as typed, never
//   by whether an account has it, so neither the words nor the waits reveal who has an account;
// - every counter lives in the database (the rate limiter), shared by every instance;
// - a successful sign-in always starts a new session; a session presented with it is ended;
// - a right password alone reaches a staff page only when the second factor is off (never in
//   production) and the account has none: otherwise the new session is at a stage (stageAfter) and
//   only that step's page takes it (staff-second-factor.service.ts);
// - a deactivated account gets the same answer as a wrong password, and no session.
import { verify } from '@node-rs/argon2';
import { eq } from 'drizzle-orm';
import { z } from 'zod';
import { staffUsers } from '../../platform/db/schema.ts';
import { sha256Hex } from '../../platform/crypto/tokens.ts';
import type { SteppedDelaySchedule } from '../../platform/http/rate-limiter.ts';
import type { Services } from '../../services.ts';
import { recordAudit } from '../audit/audit.service.ts';
import { hashPassword } from './staff-accounts.service.ts';
import { createStaffSession, deleteStaffSession, type StaffSessionStage } from './staff-sessions.service.ts';

export const SIGN_IN_IP_MAX = 20;
export const SIGN_IN_IP_WINDOW_SECONDS = 15 * 60;
export const SIGN_IN_ACCOUNT_IP_MAX = 10;
export const SIGN_IN_ACCOUNT_IP_WINDOW_SECONDS = 15 * 60;
export const SIGN_IN_DELAYS: SteppedDelaySchedule = {
  // After the 1st … 11th wrong password in a row; the last step repeats.
  delaysSeconds: [0, 0, 0, 0, 1, 2, 4, 8, 16, 32, 60],
  // A run nobody adds to for a day is forgotten, so an old run does not slow a later typo.
  forgetAfterSeconds: 24 * 60 * 60,
};

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
  /** The password was right; `stage` says whether that was all ('signed_in') or which step comes next. */
  | { outcome: 'signed-in'; token: string; staffUserId: string; stage: StaffSessionStage }
  | { outcome: 'wrong-details' }
  | { outcome: 'wait'; waitSeconds: number }
  | { outcome: 'too-many-attempts'; retryAfterMinutes: number };

/** The run of wrong passwords for an email as typed, whether or not an account has it. */
export const signInAccountKey = (email: string) => `staff-sign-in:account:${sha256Hex(email)}`;

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

const minutesUntil = (seconds: number) => Math.max(1, Math.ceil(seconds / 60));

/**
 * The stage a session moves to once `step` is done. The order is chosen so that nothing is changed on
 * an account before everything it already has is proven: an enrolled authenticator first (a leaked
 * temporary password alone must not let anyone choose the next password), then a temporary password
 * replaced, then an authenticator set up where one is required. An account with an authenticator
 * always gives a code, whatever the setting.
 */
export function stageAfter(
  step: 'password' | 'second_factor' | 'change_password' | 'enrol',
  user: { totpEnrolledAt: Date | null; mustChangePassword: boolean },
  secondFactor: 'required' | 'off',
): StaffSessionStage {
  if (step === 'password' && user.totpEnrolledAt) return 'second_factor';
  if ((step === 'password' || step === 'second_factor' || step === 'enrol') && user.mustChangePassword) return 'change_password';
  if (step !== 'enrol' && secondFactor === 'required' && !user.totpEnrolledAt) return 'enrol';
  return 'signed_in';
}

export async function signIn(
  services: Services,
  input: SignInForm & { ip: string; presentedSessionToken?: string | null },
): Promise<SignInResult> {
  const now = services.now();
  const limiter = services.rateLimiter;
  // Looked up first, for every attempt alike, only so the audit trail can name the account attacked;
  // nothing below depends on whether it was found until the password is checked.
  const [user] = await services.db.select().from(staffUsers).where(eq(staffUsers.email, input.email));
  // Only a hash of an unknown email is kept: the audit event records that an attempt happened, not who
  // was named.
  const failed = async (reason: string) =>
    recordAudit(services.db, {
      type: 'staff.sign_in_failed',
      actor: { type: 'staff', id: user?.id ?? null, ip: input.ip },
      organisationId: user?.organisationId ?? null,
      details: { reason },
    });

  // Every attempt counts against the address before anything is checked (atomic, so parallel guesses
  // cannot all slip under the limit); a successful sign-in gives its count back below, so a practice
  // where everyone signs in from one address is never held up by its own staff.
  const ipKey = `staff-sign-in:ip:${input.ip}`;
  const perIp = await limiter.hit(ipKey, SIGN_IN_IP_MAX, SIGN_IN_IP_WINDOW_SECONDS);
  if (!perIp.allowed) {
    await failed('too_many_attempts_from_ip');
    return { outcome: 'too-many-attempts', retryAfterMinutes: minutesUntil(perIp.retryAfterSeconds) };
  }

  const accountKey = signInAccountKey(input.email);
  const pairKey = `${accountKey}:ip:${input.ip}`;
  const perPair = await limiter.hit(pairKey, SIGN_IN_ACCOUNT_IP_MAX, SIGN_IN_ACCOUNT_IP_WINDOW_SECONDS);
  if (!perPair.allowed) {
    await failed('too_many_attempts_on_account_from_ip');
    return { outcome: 'too-many-attempts', retryAfterMinutes: minutesUntil(perPair.retryAfterSeconds) };
  }

  // Counted as a failure before the password is compared, in one statement that refuses while the run
  // waits (like the security code's attempt counter): concurrent guesses cannot all read the same old
  // count, so at most 5 passwords are compared at once and then one per step.
  const claim = await limiter.claimAttempt(accountKey, SIGN_IN_DELAYS);
  if (!claim.allowed) {
    // No password was checked, so the pair's count is given back: the real person pressing "Sign in"
    // while an attacker's wait runs must not use up their own address's allowance.
    await limiter.refund(pairKey, SIGN_IN_ACCOUNT_IP_WINDOW_SECONDS);
    await failed('waiting_after_wrong_passwords');
    return { outcome: 'wait', waitSeconds: claim.waitSeconds };
  }

  const matches = await passwordMatches(user?.passwordHash ?? (await dummyPasswordHash()), input.password);
  if (!user || !matches) {
    await failed(user ? 'wrong_password' : 'unknown_account');
    return { outcome: 'wrong-details' };
  }
  if (user.deactivatedAt) {
    // Checked only after the password, so the answer and its cost are those of a wrong password.
    await failed('deactivated');
    return { outcome: 'wrong-details' };
  }

  await limiter.endRun(accountKey);
  await limiter.refund(ipKey, SIGN_IN_IP_WINDOW_SECONDS);
  await limiter.refund(pairKey, SIGN_IN_ACCOUNT_IP_WINDOW_SECONDS);
  const stage = stageAfter('password', user, services.config.staff.secondFactor);
  const token = await services.db.transaction(async (tx) => {
    // Rotation: whatever session came with the request ends here; the new one shares nothing with it.
    if (input.presentedSessionToken) await deleteStaffSession(tx, input.presentedSessionToken);
    const newToken = await createStaffSession(tx, user.id, now, stage);
    // A session part-way through is not a sign-in yet: its step records the sign-in when it is done.
    if (stage === 'signed_in') {
      await recordAudit(tx, {
        type: 'staff.signed_in',
        actor: { type: 'staff', id: user.id, ip: input.ip },
        organisationId: user.organisationId,
      });
    }
    return newToken;
  });
  return { outcome: 'signed-in', token, staffUserId: user.id, stage };
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
