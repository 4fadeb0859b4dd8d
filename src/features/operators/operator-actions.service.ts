// What operators change from the command line (src/cli/admin.ts). Each change is written on one
// transaction with its 'operator.*' audit event, so neither lands without the other. The actor is the
// operating-system user who ran the command (there is no sign-in and no IP address); the details name
// what changed by id, never a password, an API key or its hash.
import type { Db } from '../../platform/db/client.ts';
import { createApiKey, revokeApiKey, type ApiKey } from '../api/api-keys.service.ts';
import { recordAudit, type AuditActor } from '../audit/audit.service.ts';
import { createOrganisation, type Organisation, type OrganisationInput } from '../organisations/organisations.service.ts';
import { createStaffUser, type StaffAccountInput, type StaffUser } from '../staff/staff-accounts.service.ts';

/** Who ran the command: the operating-system user name. */
export type OperatorName = string;

const actor = (operator: OperatorName): AuditActor => ({ type: 'operator', id: operator, ip: null });

export async function createOrganisationAsOperator(db: Db, operator: OperatorName, input: OrganisationInput): Promise<Organisation> {
  return db.transaction(async (tx) => {
    const organisation = await createOrganisation(tx, input);
    await recordAudit(tx, {
      type: 'operator.organisation_created',
      actor: actor(operator),
      organisationId: organisation.id,
      details: { odsCode: organisation.odsCode, name: organisation.name },
    });
    return organisation;
  });
}

export async function createStaffUserAsOperator(
  db: Db,
  operator: OperatorName,
  input: StaffAccountInput,
): Promise<Omit<StaffUser, 'passwordHash'>> {
  return db.transaction(async (tx) => {
    const user = await createStaffUser(tx, input);
    await recordAudit(tx, {
      type: 'operator.staff_created',
      actor: actor(operator),
      organisationId: user.organisationId,
      details: { staffUserId: user.id },
    });
    return user;
  });
}

export async function createApiKeyAsOperator(
  db: Db,
  operator: OperatorName,
  input: { organisationId: string; name: string },
): Promise<{ key: string; apiKey: Omit<ApiKey, 'secretHash'> }> {
  return db.transaction(async (tx) => {
    const created = await createApiKey(tx, input);
    await recordAudit(tx, {
      type: 'operator.api_key_created',
      actor: actor(operator),
      organisationId: created.apiKey.organisationId,
      details: { apiKeyId: created.apiKey.id, name: created.apiKey.name },
    });
    return created;
  });
}

/** False if there is no active key with that id (nothing changed, nothing recorded). */
export async function revokeApiKeyAsOperator(db: Db, operator: OperatorName, apiKeyId: string): Promise<boolean> {
  return db.transaction(async (tx) => {
    const revoked = await revokeApiKey(tx, apiKeyId);
    if (!revoked) return false;
    await recordAudit(tx, {
      type: 'operator.api_key_revoked',
      actor: actor(operator),
      organisationId: revoked.organisationId,
      details: { apiKeyId: revoked.id, name: revoked.name },
    });
    return true;
  });
}
