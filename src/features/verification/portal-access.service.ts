// The patient portal's way in: NHS login (P9) at the home page opens every conversation sent to that
// NHS number, by every organisation, whose patient record also has NHS login's date of birth and
// family name (a record with the right number but someone else's details is another person, or a
// mistake: it shows nothing, and its organisation's staff are told). Signing in and out, and the
// answer to "may this portal session open this conversation now?" — the same rules as a link: a
// revoked conversation is gone, an expired one stays readable but takes no answer.
import type { Queryable } from '../../platform/db/client.ts';
import type { Services } from '../../services.ts';
import { recordAudit, type AuditActor } from '../audit/audit.service.ts';
import type { NhsLoginIdentity } from '../nhs-login/nhs-login.client.ts';
import { conversationLinks, currentLink, linkState } from '../links/links.service.ts';
import { findConversationForNhsNumber } from '../conversations/conversations.repository.ts';
import { listRecordsForNhsNumber } from '../patients/patients.service.ts';
import { recordDifferences, recordMatches } from '../patients/record-match.ts';
import { checkPortalSession, createPortalSession, endPortalSession, type PortalSession } from './portal-sessions.service.ts';
import type { PatientAccess } from './patient-access.ts';

export type PortalProblem = { kind: 'no_session' } | { kind: 'session_expired' };

export function portalActor(session: Pick<PortalSession, 'nhsLoginSub'>, ip: string | null): AuditActor {
  // NHS login's subject identifier: pseudonymous, stable, and never the NHS number.
  return { type: 'patient_nhs_login', id: session.nhsLoginSub, ip };
}

/** Who is signed in to the portal, for the pages that list their conversations. */
export interface PortalPatient {
  nhsNumber: string;
  /** NHS login's date of birth and family name: only records that have them too are shown. */
  identity: { birthdate: string | null; familyName: string | null };
  actor: AuditActor;
}

export async function checkPortalAccess(
  services: Services,
  input: { sessionToken?: string; ip: string },
): Promise<PortalProblem | { kind: 'ok'; patient: PortalPatient; session: PortalSession }> {
  const check = await checkPortalSession(services.db, input.sessionToken, services.now());
  if (check.kind === 'none') return { kind: 'no_session' };
  if (check.kind === 'expired') return { kind: 'session_expired' };
  const { session } = check;
  return {
    kind: 'ok',
    session,
    patient: {
      nhsNumber: session.nhsNumber,
      identity: { birthdate: session.birthdate, familyName: session.familyName },
      actor: portalActor(session, input.ip),
    },
  };
}

export type PortalConversationAccess = PortalProblem | { kind: 'not_found' } | { kind: 'ok'; access: Omit<PatientAccess, 'basePath'> };

/**
 * The conversation opens only when it was sent to the session's NHS number, to a record with NHS
 * login's date of birth and family name, and staff have not revoked its link; once the link has
 * expired it is still shown, read only.
 */
export async function checkPortalConversationAccess(
  services: Services,
  input: { sessionToken?: string; ip: string; conversationId: string },
): Promise<PortalConversationAccess> {
  const portal = await checkPortalAccess(services, input);
  if (portal.kind !== 'ok') return portal;
  const found = await findConversationForNhsNumber(services.db, portal.patient.nhsNumber, input.conversationId);
  if (!found || !recordMatches(found.patient, portal.patient.identity)) return { kind: 'not_found' };
  const link = currentLink(await conversationLinks(services.db, found.conversation.id));
  const state = link ? linkState(link, services.now()) : undefined;
  if (!state || state.state === 'revoked') return { kind: 'not_found' };
  const { conversation, organisation } = found;
  return {
    kind: 'ok',
    access: {
      via: 'portal',
      conversation: { id: conversation.id, kind: conversation.kind },
      organisation,
      patientId: conversation.patientId,
      actor: portal.patient.actor,
      subject: { organisationId: organisation.id, patientId: conversation.patientId, conversationId: conversation.id },
      mayAnswer: state.state !== 'expired',
    },
  };
}

export type PortalSignInResult = { kind: 'not_strong' } | { kind: 'signed_in'; sessionToken: string };

/** After NHS login at the home page: only P9 with an NHS number opens the portal. New token every time. */
export async function signInToPortal(
  services: Services,
  input: { identity: NhsLoginIdentity; ip: string; sessionToken?: string },
): Promise<PortalSignInResult> {
  const { identity } = input;
  const actor = portalActor({ nhsLoginSub: identity.sub }, input.ip);
  if (!identity.isStrong || !identity.nhsNumber) {
    await recordAudit(services.db, {
      type: 'nhs_login.not_strong',
      actor,
      details: { identityProofingLevel: identity.identityProofingLevel ?? 'none', vot: identity.vot ?? 'none', where: 'portal' },
    });
    services.metrics.verification('nhs_login', 'not_strong');
    return { kind: 'not_strong' };
  }
  const nhsNumber = identity.nhsNumber;
  return services.db.transaction(async (tx) => {
    await endPortalSession(tx, input.sessionToken);
    const { token } = await createPortalSession(tx, {
      nhsNumber,
      nhsLoginSub: identity.sub,
      birthdate: identity.birthdate,
      familyName: identity.familyName,
      now: services.now(),
    });
    await recordAudit(tx, { type: 'portal.signed_in', actor, details: { identityProofingLevel: identity.identityProofingLevel } });
    services.metrics.verification('nhs_login', 'portal_signed_in');
    await recordPortalMismatches(tx, { nhsNumber, identity, actor });
    return { kind: 'signed_in', sessionToken: token };
  });
}

/**
 * One 'portal.record_mismatch' event for each organisation's record with this NHS number whose date of
 * birth or family name is not NHS login's: that organisation's staff see the count on the patient's
 * conversations and can check the record. Only which details differ is kept, never their values; and
 * the record's version (updatedAt), so that once staff change the record the old count no longer shows.
 * Nothing is counted when NHS login gave neither detail: that is not the record's fault.
 */
async function recordPortalMismatches(
  tx: Queryable,
  input: { nhsNumber: string; identity: NhsLoginIdentity; actor: AuditActor },
): Promise<void> {
  if (input.identity.birthdate === null && input.identity.familyName === null) return;
  for (const record of await listRecordsForNhsNumber(tx, input.nhsNumber)) {
    const differs = recordDifferences(record, input.identity);
    if (differs.length === 0) continue;
    await recordAudit(tx, {
      type: 'portal.record_mismatch',
      actor: input.actor,
      organisationId: record.organisationId,
      patientId: record.id,
      details: { differs, recordUpdatedAt: record.updatedAt.toISOString() },
    });
  }
}

/** Ends the session behind the cookie; says whether there was one. */
export async function signOutOfPortal(services: Services, input: { ip: string; sessionToken?: string }): Promise<{ signedOut: boolean }> {
  const access = await checkPortalAccess(services, input);
  if (access.kind !== 'ok') return { signedOut: false };
  await endPortalSession(services.db, input.sessionToken);
  await recordAudit(services.db, { type: 'portal.signed_out', actor: access.patient.actor });
  return { signedOut: true };
}
