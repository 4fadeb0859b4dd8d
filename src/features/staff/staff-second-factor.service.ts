// The steps of staff sign-in after the password (DESIGN.md §3 "Staff second factor"; OWASP ASVS 4.0.3
// V2.8, NIST SP 800-63B §5.1.5). The rules:
// - a TOTP code (RFC 6238) is accepted for the current 30-second step or one either side, and each
//   step once only: the step is written to totpLastStep in the same statement that checks it is later
//   than the last one used, so two parallel posts of one code cannot both succeed, and a code seen over
//   a shoulder is dead once used, in this sign-in or any later one;
// - wrong codes and wrong recovery codes share one run of stepped delays per account, the same as
//   passwords (SIGN_IN_DELAYS), counted before comparing; and the per-address limit of sign-in;
// - recovery codes are kept only hashed, each used once (its used_at set where it was null);
// - every step done replaces the session (new token, old one deleted) and the route rotates the CSRF
//   secret with the cookie;
// - a pending authenticator key is kept sealed in totpSecretSealed with totpEnrolledAt null: the
//   account has no second factor until a code from it has been typed back.
import { and, count, eq, isNotNull, isNull, lt, or } from 'drizzle-orm';
import { z } from 'zod';
import { verify } from '@node-rs/argon2';
import QRCode from 'qrcode';
import { staffRecoveryCodes, staffUsers } from '../../platform/db/schema.ts';
import type { Queryable } from '../../platform/db/client.ts';
import type { FileKey } from '../../platform/files/envelope.ts';
import type { Services } from '../../services.ts';
import { recordAudit } from '../audit/audit.service.ts';
import { hashPassword } from './staff-accounts.service.ts';
import { SIGN_IN_DELAYS, SIGN_IN_IP_MAX, SIGN_IN_IP_WINDOW_SECONDS, stageAfter } from './staff-auth.service.ts';
import { advanceStaffSession, deleteOtherSessionsOfStaff, type StaffSessionStage } from './staff-sessions.service.ts';
import {
  groupedSecret,
  hashRecoveryCode,
  matchingTotpStep,
  newRecoveryCode,
  newTotpSecret,
  normaliseRecoveryCode,
  openTotpSecret,
  RECOVERY_CODE_COUNT,
  recoveryCodeMatches,
  sealTotpSecret,
  totpUri,
} from './staff-totp.ts';

export const totpCodeForm = z.object({
  // Apps show "123 456"; people type it so.
  code: z
    .string('Enter the code from your authenticator app')
    .transform((v) => v.replace(/[\s-]/g, ''))
    .pipe(z.string().min(1, 'Enter the code from your authenticator app').regex(/^\d{6}$/, 'Enter the 6-digit code from your authenticator app')),
});

export const recoveryCodeForm = z.object({
  code: z
    .string('Enter a recovery code')
    .transform(normaliseRecoveryCode)
    .pipe(z.string().min(1, 'Enter a recovery code').regex(/^[A-Z2-7]{10}$/, 'Enter a recovery code, like ABCDE-FGH23')),
});

export const changePasswordForm = z
  .object({
    newPassword: z.string('Enter a new password').min(1, 'Enter a new password').min(12, 'Password must be 12 characters or more').max(256, 'Password must be 256 characters or fewer'),
    confirmPassword: z.string('Enter the new password again').min(1, 'Enter the new password again'),
  })
  .refine((v) => v.newPassword === v.confirmPassword, { path: ['confirmPassword'], message: 'The passwords do not match' });

export type CodeRefusal =
  | { outcome: 'wrong-code' }
  | { outcome: 'wait'; waitSeconds: number }
  | { outcome: 'too-many-attempts'; retryAfterMinutes: number }
  /** Too many wrong authenticator codes in a row: only a recovery code or a reset gets in now. */
  | { outcome: 'locked' };

/**
 * Wrong authenticator codes in a row before the code step locks. The stepped waits alone still allow a
 * try a minute (about 1,400 a day against 3 right codes in a million); NIST SP 800-63B §5.2.2 asks for
 * at most 100 failures in a row. A recovery code (50 bits: not guessable this way) still works and ends
 * the run, as does an admin or operator reset (a new authenticator starts a new run). A run nobody adds
 * to for a day is forgotten (SIGN_IN_DELAYS), so at most this many guesses a day.
 */
export const TOTP_FAILURES_IN_A_ROW_LIMIT = 20;

interface StepInput {
  staffUserId: string;
  /** The session's cookie token: replaced by a new one when the step is done. */
  token: string;
  ip: string;
}

// One run per authenticator (after a reset and a new enrolment the count starts again), and recovery
// codes a run of their own, so codes guessed against the app do not keep its owner from a recovery code.
const secondFactorKey = (user: Pick<StaffUserRow, 'id' | 'totpEnrolledAt'>) =>
  `staff-second-factor:${user.id}:${user.totpEnrolledAt ? user.totpEnrolledAt.getTime() : 'enrolling'}`;
const recoveryCodeKey = (user: Pick<StaffUserRow, 'id'>) => `staff-recovery-code:${user.id}`;
const ipKey = (ip: string) => `staff-second-factor:ip:${ip}`;
const minutesUntil = (seconds: number) => Math.max(1, Math.ceil(seconds / 60));

type StaffUserRow = typeof staffUsers.$inferSelect;

async function loadUser(on: Queryable, staffUserId: string): Promise<StaffUserRow> {
  const [user] = await on.select().from(staffUsers).where(eq(staffUsers.id, staffUserId));
  if (!user) throw new Error('A staff session without its account');
  return user;
}

/**
 * Counts an attempt against the address and the account's run before anything is compared; returns a
 * refusal, or the function that gives the counts back once the code turns out right.
 */
async function claimCodeAttempt(
  services: Services,
  user: StaffUserRow,
  ip: string,
  method: 'totp' | 'recovery_code',
): Promise<{ refused: CodeRefusal } | { succeeded: () => Promise<void>; failed: () => Promise<void> }> {
  const limiter = services.rateLimiter;
  const failedAudit = (reason: string) =>
    recordAudit(services.db, {
      type: 'staff.second_factor_failed',
      actor: { type: 'staff', id: user.id, ip },
      organisationId: user.organisationId,
      details: { method, reason },
    });
  const perIp = await limiter.hit(ipKey(ip), SIGN_IN_IP_MAX, SIGN_IN_IP_WINDOW_SECONDS);
  if (!perIp.allowed) {
    await failedAudit('too_many_attempts_from_ip');
    return { refused: { outcome: 'too-many-attempts', retryAfterMinutes: minutesUntil(perIp.retryAfterSeconds) } };
  }
  const runKey = method === 'totp' ? secondFactorKey(user) : recoveryCodeKey(user);
  const claim = await limiter.claimAttempt(runKey, SIGN_IN_DELAYS);
  if (!claim.allowed) {
    await failedAudit('waiting_after_wrong_codes');
    return { refused: { outcome: 'wait', waitSeconds: claim.waitSeconds } };
  }
  // Someone who has the password is guessing codes: stop checking them at all. (While enrolling there is
  // no authenticator to protect: whoever has the password could set one up anyway.)
  if (method === 'totp' && user.totpEnrolledAt && claim.failuresInARow > TOTP_FAILURES_IN_A_ROW_LIMIT) {
    await failedAudit('locked_after_wrong_codes');
    return { refused: { outcome: 'locked' } };
  }
  return {
    succeeded: async () => {
      // Either factor proves the owner is here: both runs end.
      await limiter.endRun(secondFactorKey(user));
      await limiter.endRun(recoveryCodeKey(user));
      await limiter.refund(ipKey(ip), SIGN_IN_IP_WINDOW_SECONDS);
    },
    failed: () => failedAudit(method === 'totp' ? 'wrong_code' : 'wrong_recovery_code'),
  };
}

/**
 * One authenticator code checked under the attempt limits: a refusal (waiting, locked, wrong), or
 * undefined when it was right (its time step is then used up and the run of wrong ones ended).
 */
async function authenticatorCodeRefused(services: Services, user: StaffUserRow, input: { ip: string; code: string }, enrolling: boolean): Promise<CodeRefusal | undefined> {
  const attempt = await claimCodeAttempt(services, user, input.ip, 'totp');
  if ('refused' in attempt) return attempt.refused;
  if (!(await checkTotp(services, user, input.code, enrolling))) {
    await attempt.failed();
    return { outcome: 'wrong-code' };
  }
  await attempt.succeeded();
  return undefined;
}

/**
 * Uses up the step of a right code: one statement that succeeds only when the step is later than the
 * last one used (and, while enrolling, only for the pending key that was checked).
 */
async function claimTotpStep(
  on: Queryable,
  user: StaffUserRow,
  step: number,
  enrolment: { sealed: string; now: Date } | null,
): Promise<boolean> {
  const stepIsNew = or(isNull(staffUsers.totpLastStep), lt(staffUsers.totpLastStep, step));
  const rows = await on
    .update(staffUsers)
    .set(enrolment ? { totpLastStep: step, totpEnrolledAt: enrolment.now } : { totpLastStep: step })
    .where(
      enrolment
        ? and(eq(staffUsers.id, user.id), stepIsNew, isNull(staffUsers.totpEnrolledAt), eq(staffUsers.totpSecretSealed, enrolment.sealed))
        : and(eq(staffUsers.id, user.id), stepIsNew, isNotNull(staffUsers.totpEnrolledAt)),
    )
    .returning({ id: staffUsers.id });
  return rows.length === 1;
}

/** Whether the code is right for the account's (or, enrolling, the pending) key and its step was unused; the step is then used up. */
async function checkTotp(services: Services, user: StaffUserRow, code: string, enrolling: boolean): Promise<boolean> {
  const sealed = user.totpSecretSealed;
  if (!sealed || (enrolling ? user.totpEnrolledAt !== null : user.totpEnrolledAt === null)) return false;
  const secret = openTotpSecret(services.config.files.encryptionKeys, sealed, user.id);
  const now = services.now();
  const step = matchingTotpStep(secret, code, now);
  if (step === null) return false;
  if (!(await claimTotpStep(services.db, user, step, enrolling ? { sealed, now } : null))) return false;
  const keys = services.config.files.encryptionKeys;
  if (!sealed.startsWith(`${keys[0]!.id}:`)) {
    // Sealed under an older FILE_ENCRYPTION_KEYS key: sealed again under the newest, so the old key can
    // be removed once every account has signed in since the rotation (or been reset).
    await services.db
      .update(staffUsers)
      .set({ totpSecretSealed: sealTotpSecret(keys, secret, user.id) })
      .where(and(eq(staffUsers.id, user.id), eq(staffUsers.totpSecretSealed, sealed)));
  }
  return true;
}

async function replaceRecoveryCodes(on: Queryable, keys: readonly FileKey[], staffUserId: string, now: Date): Promise<string[]> {
  await on.delete(staffRecoveryCodes).where(eq(staffRecoveryCodes.staffUserId, staffUserId));
  const codes = Array.from({ length: RECOVERY_CODE_COUNT }, newRecoveryCode);
  await on.insert(staffRecoveryCodes).values(codes.map((code) => ({ staffUserId, codeHash: hashRecoveryCode(keys, code), createdAt: now })));
  return codes;
}

export async function recoveryCodesLeft(on: Queryable, staffUserId: string): Promise<number> {
  const [row] = await on
    .select({ n: count() })
    .from(staffRecoveryCodes)
    .where(and(eq(staffRecoveryCodes.staffUserId, staffUserId), isNull(staffRecoveryCodes.usedAt)));
  return Number(row?.n ?? 0);
}

// ---- Enrolment --------------------------------------------------------------------------------------

export interface EnrolmentView {
  /** The key grouped in fours, for typing in by hand. */
  secretGrouped: string;
  /** An inline SVG of the otpauth:// URI (made on the server: it works with JavaScript off). */
  qrSvg: string;
}

/** The pending key (made and sealed on first sight, the same one after), shown to scan or type in. */
export async function startEnrolment(services: Services, staffUserId: string, organisationName: string): Promise<EnrolmentView> {
  let user = await loadUser(services.db, staffUserId);
  if (!user.totpSecretSealed && !user.totpEnrolledAt) {
    const sealed = sealTotpSecret(services.config.files.encryptionKeys, newTotpSecret(), user.id);
    // Only where there is none yet: two tabs opening the page at once end up showing the same key.
    await services.db
      .update(staffUsers)
      .set({ totpSecretSealed: sealed })
      .where(and(eq(staffUsers.id, user.id), isNull(staffUsers.totpSecretSealed), isNull(staffUsers.totpEnrolledAt)));
    user = await loadUser(services.db, staffUserId);
  }
  if (!user.totpSecretSealed || user.totpEnrolledAt) throw new Error('Enrolment page for an account that already has an authenticator');
  const secret = openTotpSecret(services.config.files.encryptionKeys, user.totpSecretSealed, user.id);
  const svg = await QRCode.toString(totpUri(secret, organisationName, user.email), { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
  return {
    secretGrouped: groupedSecret(secret),
    qrSvg: svg.replace('<svg ', '<svg role="img" aria-label="QR code to add Dovecote to your authenticator app" focusable="false" '),
  };
}

export type EnrolResult = { outcome: 'enrolled'; token: string; stage: StaffSessionStage; recoveryCodes: string[] } | CodeRefusal;

/** A code from the pending key finishes enrolment: the account then has a second factor and 10 recovery codes, shown once. */
export async function finishEnrolment(services: Services, input: StepInput & { code: string }): Promise<EnrolResult> {
  const user = await loadUser(services.db, input.staffUserId);
  const refused = await authenticatorCodeRefused(services, user, input, true);
  if (refused) return refused;
  const now = services.now();
  const enrolled = { ...user, totpEnrolledAt: now };
  const stage = stageAfter('enrol', enrolled, services.config.staff.secondFactor);
  return services.db.transaction(async (tx) => {
    const recoveryCodes = await replaceRecoveryCodes(tx, services.config.files.encryptionKeys, user.id, now);
    const token = await advanceStaffSession(tx, { oldToken: input.token, staffUserId: user.id, from: 'enrol', to: stage }, now);
    const actor = { type: 'staff' as const, id: user.id, ip: input.ip };
    await recordAudit(tx, { type: 'staff.second_factor_enrolled', actor, organisationId: user.organisationId });
    if (stage === 'signed_in') await recordAudit(tx, { type: 'staff.signed_in', actor, organisationId: user.organisationId, details: { method: 'totp' } });
    return { outcome: 'enrolled' as const, token, stage, recoveryCodes };
  });
}

// ---- Signing in with a code -------------------------------------------------------------------------

export type CodeResult = { outcome: 'passed'; token: string; stage: StaffSessionStage; recoveryCodesLeft?: number } | CodeRefusal;

async function passSecondFactor(services: Services, user: StaffUserRow, input: StepInput, method: 'totp' | 'recovery_code', on: Queryable): Promise<{ token: string; stage: StaffSessionStage }> {
  const now = services.now();
  const stage = stageAfter('second_factor', user, services.config.staff.secondFactor);
  const token = await advanceStaffSession(on, { oldToken: input.token, staffUserId: user.id, from: 'second_factor', to: stage }, now);
  if (stage === 'signed_in') {
    await recordAudit(on, { type: 'staff.signed_in', actor: { type: 'staff', id: user.id, ip: input.ip }, organisationId: user.organisationId, details: { method } });
  }
  return { token, stage };
}

export async function signInWithTotp(services: Services, input: StepInput & { code: string }): Promise<CodeResult> {
  const user = await loadUser(services.db, input.staffUserId);
  const refused = await authenticatorCodeRefused(services, user, input, false);
  if (refused) return refused;
  const passed = await services.db.transaction((tx) => passSecondFactor(services, user, input, 'totp', tx));
  return { outcome: 'passed', ...passed };
}

export async function signInWithRecoveryCode(services: Services, input: StepInput & { code: string }): Promise<CodeResult> {
  const user = await loadUser(services.db, input.staffUserId);
  const attempt = await claimCodeAttempt(services, user, input.ip, 'recovery_code');
  if ('refused' in attempt) return attempt.refused;
  const unused = user.totpEnrolledAt
    ? await services.db
        .select({ id: staffRecoveryCodes.id, codeHash: staffRecoveryCodes.codeHash })
        .from(staffRecoveryCodes)
        .where(and(eq(staffRecoveryCodes.staffUserId, user.id), isNull(staffRecoveryCodes.usedAt)))
    : [];
  // Every stored code is compared, so the time taken does not say how many are left or which matched.
  const match = unused.filter((row) => recoveryCodeMatches(services.config.files.encryptionKeys, row.codeHash, input.code))[0];
  const now = services.now();
  const used = match
    ? await services.db
        .update(staffRecoveryCodes)
        .set({ usedAt: now })
        .where(and(eq(staffRecoveryCodes.id, match.id), isNull(staffRecoveryCodes.usedAt)))
        .returning({ id: staffRecoveryCodes.id })
    : [];
  if (used.length !== 1) {
    await attempt.failed();
    return { outcome: 'wrong-code' };
  }
  await attempt.succeeded();
  const passed = await services.db.transaction((tx) => passSecondFactor(services, user, input, 'recovery_code', tx));
  return { outcome: 'passed', ...passed, recoveryCodesLeft: await recoveryCodesLeft(services.db, user.id) };
}

// ---- Your account -----------------------------------------------------------------------------------

export interface AccountSecondFactor {
  enrolledAt: Date | null;
  recoveryCodesLeft: number;
}

export async function viewAccountSecondFactor(services: Services, staffUserId: string): Promise<AccountSecondFactor> {
  const user = await loadUser(services.db, staffUserId);
  return { enrolledAt: user.totpEnrolledAt, recoveryCodesLeft: await recoveryCodesLeft(services.db, staffUserId) };
}

export type NewRecoveryCodesResult = { outcome: 'replaced'; recoveryCodes: string[] } | CodeRefusal;

/** A current code from the authenticator proves it is still theirs: the old recovery codes stop working. */
export async function makeNewRecoveryCodes(services: Services, input: { staffUserId: string; ip: string; code: string }): Promise<NewRecoveryCodesResult> {
  const user = await loadUser(services.db, input.staffUserId);
  const refused = await authenticatorCodeRefused(services, user, input, false);
  if (refused) return refused;
  return services.db.transaction(async (tx) => {
    const recoveryCodes = await replaceRecoveryCodes(tx, services.config.files.encryptionKeys, user.id, services.now());
    await recordAudit(tx, { type: 'staff.recovery_codes_replaced', actor: { type: 'staff', id: user.id, ip: input.ip }, organisationId: user.organisationId });
    return { outcome: 'replaced' as const, recoveryCodes };
  });
}

// ---- A temporary password replaced ------------------------------------------------------------------

export type ChangePasswordResult = { outcome: 'changed'; token: string; stage: StaffSessionStage } | { outcome: 'same-as-temporary' };

export async function changeTemporaryPassword(services: Services, input: StepInput & { newPassword: string }): Promise<ChangePasswordResult> {
  const user = await loadUser(services.db, input.staffUserId);
  // A malformed stored hash cannot match anything: the new password is simply not the same.
  const same = await verify(user.passwordHash, input.newPassword).catch(() => false);
  if (same) return { outcome: 'same-as-temporary' };
  const passwordHash = await hashPassword(input.newPassword);
  const now = services.now();
  const changed = { ...user, mustChangePassword: false };
  const stage = stageAfter('change_password', changed, services.config.staff.secondFactor);
  return services.db.transaction(async (tx) => {
    await tx.update(staffUsers).set({ passwordHash, mustChangePassword: false }).where(eq(staffUsers.id, user.id));
    const token = await advanceStaffSession(tx, { oldToken: input.token, staffUserId: user.id, from: 'change_password', to: stage }, now);
    // Whoever else held the temporary password is signed out everywhere; this session carries on.
    await deleteOtherSessionsOfStaff(tx, user.id, token);
    const actor = { type: 'staff' as const, id: user.id, ip: input.ip };
    await recordAudit(tx, { type: 'staff.password_changed', actor, organisationId: user.organisationId });
    // With an authenticator the code came before this step (stageAfter), so the sign-in used it.
    const method = user.totpEnrolledAt ? 'second_factor_then_new_password' : 'new_password';
    if (stage === 'signed_in') await recordAudit(tx, { type: 'staff.signed_in', actor, organisationId: user.organisationId, details: { method } });
    return { outcome: 'changed' as const, token, stage };
  });
}
