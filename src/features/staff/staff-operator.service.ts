// What operators do to a staff account from the command line (src/cli/admin.ts), found by its email:
// the account may belong to any organisation, so the look-up is by the unique email and the reset is
// then scoped to that account's own organisation.
import { eq } from 'drizzle-orm';
import { staffUsers } from '../../platform/db/schema.ts';
import type { Db } from '../../platform/db/client.ts';
import { resetSecondFactor } from './staff-accounts.service.ts';

/** Resets the second factor of the account with this email; null when there is none. */
export async function resetSecondFactorAsOperator(db: Db, operator: string, email: string): Promise<{ id: string; email: string; organisationId: string } | null> {
  const [user] = await db
    .select({ id: staffUsers.id, email: staffUsers.email, organisationId: staffUsers.organisationId })
    .from(staffUsers)
    .where(eq(staffUsers.email, email.trim().toLowerCase()));
  if (!user) return null;
  await resetSecondFactor(db, { staffUserId: user.id, organisationId: user.organisationId, actor: { type: 'operator', id: operator, ip: null } });
  return user;
}
