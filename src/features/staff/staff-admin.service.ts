// An organisation's admins manage its staff accounts: add people (with a one-time set-up link or a
// temporary password), change roles, reset a lost second factor, send a new set-up link, deactivate and
// reactivate. Every rule is here; the routes only parse and render. Every query is scoped to the admin's
// own organisation, and a staff id from another one is "not found", never "not yours".
import { randomInt } from 'node:crypto';
import { and, asc, eq, gt, isNull, sql } from 'drizzle-orm';
import { z } from 'zod';
import { auditEvents, staffSetupTokens, staffUsers } from '../../platform/db/schema.ts';
import type { Queryable } from '../../platform/db/client.ts';
import { newSecret, sha256Hex } from '../../platform/crypto/tokens.ts';
import { NotFound, NotPermitted } from '../../platform/errors.ts';
import type { Services } from '../../services.ts';
import { recordAudit, type AuditActor } from '../audit/audit.service.ts';
import { createStaffSession, deleteSessionsOfStaff } from './staff-sessions.service.ts';
import { createStaffUser, hashPassword, resetSecondFactor, staffAccountInput } from './staff-accounts.service.ts';
import { STAFF_ROLES, type StaffRole } from './permissions.ts';
import { stageAfter } from './staff-auth.service.ts';
import { unassignConversationsOf } from '../conversations/conversations.repository.ts';

export const SETUP_LINK_HOURS = 72;
/** Wrong set-up tokens one address may try before it is told to wait (a token is 256 bits; this is for noise). */
export const SETUP_LINK_MISSES_PER_WINDOW = 20;
export const SETUP_LINK_MISS_WINDOW_SECONDS = 600;
/** 43 base64url characters: newSecret(32), 256 bits. */
const SETUP_TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;
const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const ACCOUNT_NOT_FOUND = 'Page not found';

export const ROLE_DESCRIPTIONS: Record<StaffRole, string> = {
  admin: 'Everything: messages, questionnaire answers, the diary and clinics, and also staff accounts, message templates and the audit trail.',
  clinician: "Sends and answers patients' messages, reads questionnaire answers and manages the diary.",
  receptionist: "Sends and answers patients' messages, manages the diary and sets up clinics, but does not see questionnaire answers.",
};

export interface AdminContext {
  organisationId: string;
  adminId: string;
  ip: string | null;
}

function actorOf(admin: AdminContext): AuditActor {
  return { type: 'staff', id: admin.adminId, ip: admin.ip };
}

// ---------------------------------------------------------------------------------------------------
// The list and one account

export interface StaffAccountSummary {
  id: string;
  name: string;
  email: string;
  role: StaffRole;
  secondFactorSetUp: boolean;
  deactivatedAt: Date | null;
  mustChangePassword: boolean;
  lastSignedInAt: Date | null;
  createdAt: Date;
}

const lastSignedIn = sql<Date | string | null>`(
  select max(${auditEvents.occurredAt}) from ${auditEvents}
  where ${auditEvents.organisationId} = ${staffUsers.organisationId}
    and ${auditEvents.actorId} = ${staffUsers.id}::text
    and ${auditEvents.type} = 'staff.signed_in'
)`;

const summaryColumns = {
  id: staffUsers.id,
  name: staffUsers.name,
  email: staffUsers.email,
  role: staffUsers.role,
  totpEnrolledAt: staffUsers.totpEnrolledAt,
  deactivatedAt: staffUsers.deactivatedAt,
  mustChangePassword: staffUsers.mustChangePassword,
  createdAt: staffUsers.createdAt,
  lastSignedInAt: lastSignedIn,
};

function toSummary(row: {
  id: string;
  name: string;
  email: string;
  role: StaffRole;
  totpEnrolledAt: Date | null;
  deactivatedAt: Date | null;
  mustChangePassword: boolean;
  createdAt: Date;
  lastSignedInAt: Date | string | null;
}): StaffAccountSummary {
  const { totpEnrolledAt, lastSignedInAt, ...rest } = row;
  return { ...rest, secondFactorSetUp: totpEnrolledAt !== null, lastSignedInAt: lastSignedInAt === null ? null : new Date(lastSignedInAt) };
}

export async function listStaffAccounts(db: Queryable, organisationId: string): Promise<StaffAccountSummary[]> {
  const rows = await db
    .select(summaryColumns)
    .from(staffUsers)
    .where(eq(staffUsers.organisationId, organisationId))
    .orderBy(sql`${staffUsers.deactivatedAt} is not null`, asc(staffUsers.name), asc(staffUsers.email));
  return rows.map(toSummary);
}

/** One account of the admin's organisation; anything else (another organisation's, not a uuid) is NotFound. */
export async function getStaffAccount(db: Queryable, organisationId: string, staffId: string): Promise<StaffAccountSummary> {
  if (!UUID_PATTERN.test(staffId)) throw new NotFound(ACCOUNT_NOT_FOUND, 'staff id is not a uuid');
  const [row] = await db
    .select(summaryColumns)
    .from(staffUsers)
    .where(and(eq(staffUsers.id, staffId), eq(staffUsers.organisationId, organisationId)));
  if (!row) throw new NotFound(ACCOUNT_NOT_FOUND, 'no such staff account in this organisation');
  return toSummary(row);
}

// ---------------------------------------------------------------------------------------------------
// Adding someone

export const ACCESS_METHODS = ['link', 'password'] as const;
export type AccessMethod = (typeof ACCESS_METHODS)[number];

export const addStaffForm = z.object({
  name: staffAccountInput.shape.name,
  // Trimmed before the email check: a pasted address often carries a space.
  email: z.string('Enter an email address, like name@example.nhs.uk').trim().pipe(staffAccountInput.shape.email),
  role: z.enum(STAFF_ROLES, 'Select a role'),
  access: z.enum(ACCESS_METHODS, 'Select how they will get access'),
});

export const EMAIL_TAKEN = 'A staff account already uses this email address';

export type FieldErrors = Record<string, string>;

export type AddStaffResult =
  | { ok: false; errors: FieldErrors }
  | { ok: true; staffId: string; name: string; email: string; access: 'link'; setupUrl: string; expiresAt: Date }
  | { ok: true; staffId: string; name: string; email: string; access: 'password'; temporaryPassword: string };

function fieldErrors(error: z.ZodError): FieldErrors {
  const errors: FieldErrors = {};
  for (const issue of error.issues) {
    const field = String(issue.path[0]);
    if (!errors[field]) errors[field] = issue.message;
  }
  return errors;
}

function isUniqueViolation(error: unknown): boolean {
  let cause: unknown = error;
  for (let depth = 0; depth < 4 && cause; depth++) {
    if ((cause as { code?: string }).code === '23505') return true;
    cause = (cause as { cause?: unknown }).cause;
  }
  return false;
}

// No 0/O, 1/l/I: it is read off a screen and typed in. 16 characters of 31 ≈ 79 bits, in four groups.
const TEMPORARY_PASSWORD_ALPHABET = 'abcdefghijkmnpqrstuvwxyz23456789';
export function newTemporaryPassword(): string {
  const groups: string[] = [];
  for (let g = 0; g < 4; g++) {
    let group = '';
    for (let i = 0; i < 4; i++) group += TEMPORARY_PASSWORD_ALPHABET[randomInt(TEMPORARY_PASSWORD_ALPHABET.length)];
    groups.push(group);
  }
  return groups.join('-');
}

export function setupUrl(services: Services, token: string): string {
  return `${services.config.publicBaseUrl}/staff/set-up/${token}`;
}

/**
 * Issues a set-up link for an account and revokes any earlier unused one (only the newest link works,
 * so a link sent to the wrong place is dead once the admin sends another). Returns the token: it exists
 * only in the admin's page, never in the database or a log.
 */
async function issueSetupToken(tx: Queryable, input: { staffUserId: string; createdByStaffId: string; now: Date }): Promise<{ token: string; expiresAt: Date }> {
  await revokeSetupTokens(tx, input.staffUserId, input.now);
  const token = newSecret(32);
  const expiresAt = new Date(input.now.getTime() + SETUP_LINK_HOURS * 3_600_000);
  await tx.insert(staffSetupTokens).values({
    tokenHash: sha256Hex(token),
    staffUserId: input.staffUserId,
    createdByStaffId: input.createdByStaffId,
    createdAt: input.now,
    expiresAt,
  });
  return { token, expiresAt };
}

async function revokeSetupTokens(tx: Queryable, staffUserId: string, now: Date): Promise<void> {
  await tx
    .update(staffSetupTokens)
    .set({ usedAt: now })
    .where(and(eq(staffSetupTokens.staffUserId, staffUserId), isNull(staffSetupTokens.usedAt)));
}

export async function addStaffMember(services: Services, admin: AdminContext, form: Record<string, unknown>): Promise<AddStaffResult> {
  const parsed = addStaffForm.safeParse(form);
  if (!parsed.success) return { ok: false, errors: fieldErrors(parsed.error) };
  const { name, email, role, access } = parsed.data;
  // Emails are unique across organisations: saying so reveals only that an account exists somewhere,
  // which the admin needs to know to sort it out.
  const [taken] = await services.db.select({ id: staffUsers.id }).from(staffUsers).where(eq(staffUsers.email, email));
  if (taken) return { ok: false, errors: { email: EMAIL_TAKEN } };
  // With a link, the account's password is a random secret nobody is told: until the link is used the
  // account cannot be signed in to.
  const temporaryPassword = access === 'password' ? newTemporaryPassword() : undefined;
  const now = services.now();
  try {
    return await services.db.transaction(async (tx) => {
      const user = await createStaffUser(
        tx,
        { organisationId: admin.organisationId, name, email, role, password: temporaryPassword ?? newSecret(32) },
        { mustChangePassword: access === 'password' },
      );
      await recordAudit(tx, {
        type: 'staff.created',
        actor: actorOf(admin),
        organisationId: admin.organisationId,
        details: { staffUserId: user.id, role, access },
      });
      if (temporaryPassword) return { ok: true, staffId: user.id, name, email, access: 'password', temporaryPassword } as const;
      const { token, expiresAt } = await issueSetupToken(tx, { staffUserId: user.id, createdByStaffId: admin.adminId, now });
      await recordAudit(tx, {
        type: 'staff.setup_link_issued',
        actor: actorOf(admin),
        organisationId: admin.organisationId,
        details: { staffUserId: user.id, expiresAt: expiresAt.toISOString() },
      });
      return { ok: true, staffId: user.id, name, email, access: 'link', setupUrl: setupUrl(services, token), expiresAt } as const;
    });
  } catch (error) {
    // Two admins adding the same email at once: the unique index decides, and the loser hears why.
    if (isUniqueViolation(error)) return { ok: false, errors: { email: EMAIL_TAKEN } };
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------------
// Changes to an account. Each runs in a transaction that first locks every account row of the
// organisation (in id order, so two transactions never deadlock): the "at least one active admin" rule
// reads the admins and then changes one, and without the lock two admins demoting (or deactivating)
// each other at the same moment would each see the other still there and leave none.

interface LockedAccount {
  id: string;
  role: StaffRole;
  deactivatedAt: Date | null;
}

async function lockOrganisationAccounts(tx: Queryable, admin: AdminContext, staffId: string): Promise<{ accounts: LockedAccount[]; target: LockedAccount }> {
  if (!UUID_PATTERN.test(staffId)) throw new NotFound(ACCOUNT_NOT_FOUND, 'staff id is not a uuid');
  const accounts = await tx
    .select({ id: staffUsers.id, role: staffUsers.role, deactivatedAt: staffUsers.deactivatedAt })
    .from(staffUsers)
    .where(eq(staffUsers.organisationId, admin.organisationId))
    .orderBy(asc(staffUsers.id))
    .for('update');
  const target = accounts.find((a) => a.id === staffId);
  if (!target) throw new NotFound(ACCOUNT_NOT_FOUND, 'no such staff account in this organisation');
  // The admin's own role may have changed since their request passed requirePermission (the other admin
  // of a pair demoting each other committed first): decide on what is true now.
  const self = accounts.find((a) => a.id === admin.adminId);
  if (!self || self.role !== 'admin' || self.deactivatedAt) throw new NotPermitted('You are no longer an admin', 'actor lost admin rights');
  return { accounts, target };
}

function otherActiveAdmins(accounts: LockedAccount[], exceptId: string): number {
  return accounts.filter((a) => a.id !== exceptId && a.role === 'admin' && !a.deactivatedAt).length;
}

export const OWN_ADMIN_ROLE = 'You cannot remove your own admin role. Ask another admin to do it.';
export const LAST_ADMIN_ROLE = 'This is the only active admin. Make someone else an admin first.';
export const OWN_DEACTIVATION = 'You cannot deactivate your own account. Ask another admin to do it.';
export const LAST_ADMIN_DEACTIVATION = 'This is the only active admin and cannot be deactivated. Make someone else an admin first.';

export type ChangeResult = { ok: true } | { ok: false; error: string };

export async function changeRole(services: Services, admin: AdminContext, staffId: string, form: Record<string, unknown>): Promise<ChangeResult> {
  const parsed = z.object({ role: z.enum(STAFF_ROLES, 'Select a role') }).safeParse(form);
  if (!parsed.success) {
    // A missing or unknown role still needs the account to exist, so the 404 wins over the form error.
    await getStaffAccount(services.db, admin.organisationId, staffId);
    return { ok: false, error: 'Select a role' };
  }
  const role = parsed.data.role;
  return services.db.transaction(async (tx): Promise<ChangeResult> => {
    const { accounts, target } = await lockOrganisationAccounts(tx, admin, staffId);
    if (target.role === role) return { ok: true };
    if (target.role === 'admin') {
      if (target.id === admin.adminId) return { ok: false, error: OWN_ADMIN_ROLE };
      if (!target.deactivatedAt && otherActiveAdmins(accounts, target.id) === 0) return { ok: false, error: LAST_ADMIN_ROLE };
    }
    await tx.update(staffUsers).set({ role }).where(eq(staffUsers.id, target.id));
    await recordAudit(tx, {
      type: 'staff.role_changed',
      actor: actorOf(admin),
      organisationId: admin.organisationId,
      details: { staffUserId: target.id, from: target.role, to: role },
    });
    return { ok: true };
  });
}

export async function deactivateStaff(services: Services, admin: AdminContext, staffId: string): Promise<ChangeResult> {
  const now = services.now();
  return services.db.transaction(async (tx): Promise<ChangeResult> => {
    const { accounts, target } = await lockOrganisationAccounts(tx, admin, staffId);
    if (target.deactivatedAt) return { ok: true };
    if (target.id === admin.adminId) return { ok: false, error: OWN_DEACTIVATION };
    if (target.role === 'admin' && otherActiveAdmins(accounts, target.id) === 0) return { ok: false, error: LAST_ADMIN_DEACTIVATION };
    await tx.update(staffUsers).set({ deactivatedAt: now }).where(eq(staffUsers.id, target.id));
    // At once, not at the next idle timeout: someone leaving on bad terms must lose access now. A set-up
    // link in their inbox would let them back in, so it goes too.
    await deleteSessionsOfStaff(tx, target.id);
    await revokeSetupTokens(tx, target.id, now);
    // What they were handling goes back to Unassigned, where colleagues look: left assigned, it would
    // be in no one's "Assigned to me" and not in "Unassigned" either.
    const unassigned = await unassignConversationsOf(tx, admin.organisationId, target.id);
    await recordAudit(tx, {
      type: 'staff.deactivated',
      actor: actorOf(admin),
      organisationId: admin.organisationId,
      details: { staffUserId: target.id, unassignedConversationIds: unassigned },
    });
    return { ok: true };
  });
}

export async function reactivateStaff(services: Services, admin: AdminContext, staffId: string): Promise<ChangeResult> {
  return services.db.transaction(async (tx): Promise<ChangeResult> => {
    const { target } = await lockOrganisationAccounts(tx, admin, staffId);
    if (!target.deactivatedAt) return { ok: true };
    await tx.update(staffUsers).set({ deactivatedAt: null }).where(eq(staffUsers.id, target.id));
    await recordAudit(tx, {
      type: 'staff.reactivated',
      actor: actorOf(admin),
      organisationId: admin.organisationId,
      details: { staffUserId: target.id },
    });
    return { ok: true };
  });
}

export async function resetStaffSecondFactor(services: Services, admin: AdminContext, staffId: string): Promise<void> {
  // Checked first so a foreign or malformed id is the same 404 as everywhere else.
  await getStaffAccount(services.db, admin.organisationId, staffId);
  await resetSecondFactor(services.db, { staffUserId: staffId, organisationId: admin.organisationId, actor: actorOf(admin) });
}

export const DEACTIVATED_NO_LINK = 'This account is deactivated. Reactivate it before sending a set-up link.';

/** A new set-up link (a new person, or someone who forgot their password); earlier unused ones stop working. */
export async function sendNewSetupLink(
  services: Services,
  admin: AdminContext,
  staffId: string,
): Promise<{ ok: true; setupUrl: string; expiresAt: Date } | { ok: false; error: string }> {
  const now = services.now();
  return services.db.transaction(async (tx) => {
    const { target } = await lockOrganisationAccounts(tx, admin, staffId);
    if (target.deactivatedAt) return { ok: false, error: DEACTIVATED_NO_LINK } as const;
    const { token, expiresAt } = await issueSetupToken(tx, { staffUserId: target.id, createdByStaffId: admin.adminId, now });
    await recordAudit(tx, {
      type: 'staff.setup_link_issued',
      actor: actorOf(admin),
      organisationId: admin.organisationId,
      details: { staffUserId: target.id, expiresAt: expiresAt.toISOString() },
    });
    return { ok: true, setupUrl: setupUrl(services, token), expiresAt } as const;
  });
}

// ---------------------------------------------------------------------------------------------------
// Using a set-up link (public: the person has no session yet)

export type SetupLinkLookup =
  | { kind: 'valid'; name: string; email: string }
  /** Never existed, or not a token at all: 404. */
  | { kind: 'unknown' }
  /** Expired, used or revoked, or the account is deactivated: 410. Same words as unknown. */
  | { kind: 'gone' }
  | { kind: 'rate_limited'; retryAfterSeconds: number };

async function countMiss(services: Services, ip: string): Promise<SetupLinkLookup> {
  const miss = await services.rateLimiter.hit(`staff-setup-lookup:${ip}`, SETUP_LINK_MISSES_PER_WINDOW, SETUP_LINK_MISS_WINDOW_SECONDS);
  return miss.allowed ? { kind: 'unknown' } : { kind: 'rate_limited', retryAfterSeconds: miss.retryAfterSeconds };
}

export async function lookUpSetupLink(services: Services, token: string, ip: string): Promise<SetupLinkLookup> {
  if (!SETUP_TOKEN_PATTERN.test(token)) return countMiss(services, ip);
  const [row] = await services.db
    .select({ usedAt: staffSetupTokens.usedAt, expiresAt: staffSetupTokens.expiresAt, name: staffUsers.name, email: staffUsers.email, deactivatedAt: staffUsers.deactivatedAt })
    .from(staffSetupTokens)
    .innerJoin(staffUsers, eq(staffUsers.id, staffSetupTokens.staffUserId))
    .where(eq(staffSetupTokens.tokenHash, sha256Hex(token)));
  if (!row) return countMiss(services, ip);
  if (row.usedAt || row.expiresAt.getTime() <= services.now().getTime() || row.deactivatedAt) return { kind: 'gone' };
  return { kind: 'valid', name: row.name, email: row.email };
}

export const NEW_PASSWORD_TOO_SHORT = 'Password must be 12 characters or more';
export const newPasswordForm = z
  .object({
    password: z.string(NEW_PASSWORD_TOO_SHORT).min(12, NEW_PASSWORD_TOO_SHORT).max(256, 'Password must be 256 characters or fewer'),
    confirmPassword: z.string('Enter the password again').min(1, 'Enter the password again'),
  })
  .refine((v) => v.password === v.confirmPassword, { path: ['confirmPassword'], message: 'The passwords do not match' });

export type SetupLinkResult =
  | { kind: 'form_errors'; errors: FieldErrors; name: string; email: string }
  | Exclude<SetupLinkLookup, { kind: 'valid' }>
  /** The session's token for the cookie, and where it may go next. */
  | { kind: 'done'; sessionToken: string; next: 'enrol' | 'signed_in' }
  /** The account already has an authenticator and one is required: sign in with it as usual. */
  | { kind: 'done_sign_in' };

export async function useSetupLink(services: Services, token: string, ip: string, form: Record<string, unknown>): Promise<SetupLinkResult> {
  const lookup = await lookUpSetupLink(services, token, ip);
  if (lookup.kind !== 'valid') return lookup;
  const parsed = newPasswordForm.safeParse(form);
  if (!parsed.success) return { kind: 'form_errors', errors: fieldErrors(parsed.error), name: lookup.name, email: lookup.email };
  // argon2 before the transaction: it takes a while and needs no lock.
  const passwordHash = await hashPassword(parsed.data.password);
  const now = services.now();
  return services.db.transaction(async (tx): Promise<SetupLinkResult> => {
    // One statement decides who used the link: two tabs posting at once cannot both set a password.
    const [used] = await tx
      .update(staffSetupTokens)
      .set({ usedAt: now })
      .where(and(eq(staffSetupTokens.tokenHash, sha256Hex(token)), isNull(staffSetupTokens.usedAt), gt(staffSetupTokens.expiresAt, now)))
      .returning({ staffUserId: staffSetupTokens.staffUserId });
    if (!used) return { kind: 'gone' };
    const [user] = await tx
      .update(staffUsers)
      .set({ passwordHash, mustChangePassword: false })
      .where(and(eq(staffUsers.id, used.staffUserId), isNull(staffUsers.deactivatedAt)))
      .returning({ id: staffUsers.id, organisationId: staffUsers.organisationId, totpEnrolledAt: staffUsers.totpEnrolledAt });
    if (!user) throw new GoneDuringUse();
    // A new password ends every session the old one started (someone who forgot it may have left one open).
    await deleteSessionsOfStaff(tx, user.id);
    await recordAudit(tx, {
      type: 'staff.setup_link_used',
      actor: { type: 'staff', id: user.id, ip },
      organisationId: user.organisationId,
      details: { staffUserId: user.id },
    });
    // A set-up link proves the email, not the authenticator: an account that has one gives its code
    // at sign-in, whatever STAFF_SECOND_FACTOR says (stageAfter's rule), so the link never skips it.
    if (user.totpEnrolledAt) return { kind: 'done_sign_in' };
    const next = stageAfter('change_password', { totpEnrolledAt: null, mustChangePassword: false }, services.config.staff.secondFactor);
    if (next !== 'enrol' && next !== 'signed_in') throw new Error(`unexpected stage after a set-up link: ${next}`);
    return { kind: 'done', sessionToken: await createStaffSession(tx, user.id, now, next), next };
  }).catch((error: unknown) => {
    if (error instanceof GoneDuringUse) return { kind: 'gone' } as const;
    throw error;
  });
}

/** Rolls the link's use back: the account was deactivated between the look-up and the use. */
class GoneDuringUse extends Error {}

