// Staff accounts. Passwords are hashed with argon2id at (at least) the OWASP minimum parameters.
import { hash } from '@node-rs/argon2';
import { and, eq } from 'drizzle-orm';
import { z } from 'zod';
import { staffRecoveryCodes, staffUsers } from '../../platform/db/schema.ts';
import type { Db, Queryable } from '../../platform/db/client.ts';
import { AppError, NotFoundError } from '../../platform/http/errors.ts';
import { recordAudit, type AuditActor } from '../audit/audit.service.ts';
import { deleteSessionsOfStaff } from './staff-sessions.service.ts';
import { CONTROL_CHARACTERS, FORMAT_CHARACTERS, formatCharactersMessage } from '../../platform/names.ts';
import { STAFF_ROLES } from './permissions.ts';

// OWASP Password Storage Cheat Sheet: argon2id, m=19 MiB, t=2, p=1 as the minimum.
export const ARGON2_OPTIONS = { algorithm: 2 /* Argon2id */, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

export const staffAccountInput = z.object({
  organisationId: z.uuid(),
  email: z.email('Enter an email address, like name@example.nhs.uk').trim().toLowerCase().max(254),
  // Shown to colleagues as the author of messages: no control or invisible format characters.
  name: z
    .string()
    .trim()
    .min(1, 'Enter a name')
    .max(120)
    .refine((v) => !CONTROL_CHARACTERS.test(v), 'The name must not contain control characters')
    .refine((v) => !FORMAT_CHARACTERS.test(v), formatCharactersMessage('The name')),
  // NCSC and NIST 800-63B: length over composition rules.
  password: z.string().min(12, 'Password must be 12 characters or more').max(256),
  role: z.enum(STAFF_ROLES, 'Select a role'),
});
export type StaffAccountInput = z.input<typeof staffAccountInput>;
export type StaffUser = typeof staffUsers.$inferSelect;

export async function hashPassword(password: string): Promise<string> {
  return hash(password, ARGON2_OPTIONS);
}

/**
 * `mustChangePassword`: the password is a temporary one an admin was shown, so the first sign-in must
 * replace it.
 */
export async function createStaffUser(
  db: Queryable,
  input: StaffAccountInput,
  options: { mustChangePassword?: boolean } = {},
): Promise<Omit<StaffUser, 'passwordHash'>> {
  const values = staffAccountInput.parse(input);
  const [existing] = await db.select({ id: staffUsers.id }).from(staffUsers).where(eq(staffUsers.email, values.email));
  if (existing) throw new AppError(409, `A staff account for ${values.email} already exists`);
  const [row] = await db
    .insert(staffUsers)
    .values({
      organisationId: values.organisationId,
      email: values.email,
      name: values.name,
      passwordHash: await hashPassword(values.password),
      role: values.role,
      mustChangePassword: options.mustChangePassword ?? false,
    })
    .returning();
  const { passwordHash: _omit, ...user } = row!;
  return user;
}

/**
 * Removes an account's second factor (its authenticator key and every recovery code) and ends its
 * sessions, so the next sign-in must set up a new authenticator. For a lost phone: an admin of the
 * organisation or an operator does it, and the audit trail says who.
 */
export async function resetSecondFactor(
  db: Db,
  input: { staffUserId: string; organisationId: string; actor: AuditActor },
): Promise<void> {
  await db.transaction(async (tx) => {
    const [user] = await tx
      .update(staffUsers)
      .set({ totpSecretSealed: null, totpEnrolledAt: null, totpLastStep: null })
      .where(and(eq(staffUsers.id, input.staffUserId), eq(staffUsers.organisationId, input.organisationId)))
      .returning({ id: staffUsers.id });
    if (!user) throw new NotFoundError('No such staff account');
    await tx.delete(staffRecoveryCodes).where(eq(staffRecoveryCodes.staffUserId, user.id));
    await deleteSessionsOfStaff(tx, user.id);
    await recordAudit(tx, {
      type: 'staff.second_factor_reset',
      actor: input.actor,
      organisationId: input.organisationId,
      details: { staffUserId: user.id },
    });
  });
}
