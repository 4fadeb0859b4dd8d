// The patient portal: NHS login (P9) at the home page opens every conversation sent to that NHS number,
// by every organisation. A conversation opens only when its patient has the session's NHS number;
// reading and replying follow the same rules as the link page (patient-messages.service).
import { and, desc, eq, sql } from 'drizzle-orm';
import { conversationItems, conversations, organisations, patients } from '../../platform/db/schema.ts';
import type { Queryable } from '../../platform/db/client.ts';
import type { Services } from '../../services.ts';
import { recordAudit, type AuditActor } from '../audit/audit.service.ts';
import type { NhsLoginIdentity } from '../nhs-login/nhs-login.client.ts';
import type { ReplyMode } from '../messages/messages.service.ts';
import {
  loadConversationMessages,
  replyAllowed,
  savePatientReply,
  type ConversationMessages,
} from '../messages/patient-messages.service.ts';
import { checkPortalSession, createPortalSession, endPortalSession, type PortalSession } from './portal-sessions.service.ts';

export type PortalProblem = { kind: 'no_session' } | { kind: 'session_expired' };

function portalActor(session: Pick<PortalSession, 'nhsLoginSub'>, ip: string | null): AuditActor {
  // NHS login's subject identifier: pseudonymous, stable, and never the NHS number.
  return { type: 'patient_nhs_login', id: session.nhsLoginSub, ip };
}

async function portalAccess(services: Services, sessionToken: string | undefined): Promise<PortalProblem | { kind: 'ok'; session: PortalSession }> {
  const check = await checkPortalSession(services.db, sessionToken, services.now());
  if (check.kind === 'none') return { kind: 'no_session' };
  if (check.kind === 'expired') return { kind: 'session_expired' };
  return check;
}

// ---------------------------------------------------------------------------------------------------
// Sign in and out.

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
      details: { identityProofingLevel: identity.identityProofingLevel ?? 'none', where: 'portal' },
    });
    return { kind: 'not_strong' };
  }
  const nhsNumber = identity.nhsNumber;
  return services.db.transaction(async (tx) => {
    await endPortalSession(tx, input.sessionToken);
    const { token } = await createPortalSession(tx, { nhsNumber, nhsLoginSub: identity.sub, now: services.now() });
    await recordAudit(tx, { type: 'portal.signed_in', actor, details: { identityProofingLevel: identity.identityProofingLevel } });
    return { kind: 'signed_in', sessionToken: token };
  });
}

/** Ends the session behind the cookie; says whether there was one. */
export async function signOutOfPortal(services: Services, input: { ip: string; sessionToken?: string }): Promise<{ signedOut: boolean }> {
  const access = await portalAccess(services, input.sessionToken);
  if (access.kind !== 'ok') return { signedOut: false };
  await endPortalSession(services.db, input.sessionToken);
  await recordAudit(services.db, { type: 'portal.signed_out', actor: portalActor(access.session, input.ip) });
  return { signedOut: true };
}

// ---------------------------------------------------------------------------------------------------
// GET /portal — every conversation sent to the NHS number, newest first.

export interface PortalConversationSummary {
  id: string;
  organisationName: string;
  sentAt: Date;
  /** What it is, in the patient's words. Only messages exist today. */
  what: string;
  /** A reply is allowed and the patient has not replied yet. */
  needsAction: boolean;
}

export async function listPortalConversations(
  services: Services,
  input: { ip: string; sessionToken?: string },
): Promise<PortalProblem | { kind: 'ok'; conversations: PortalConversationSummary[] }> {
  const access = await portalAccess(services, input.sessionToken);
  if (access.kind !== 'ok') return access;
  const replies = sql<number>`(select count(*) from ${conversationItems} where ${conversationItems.conversationId} = ${conversations.id} and ${conversationItems.kind} = 'patient_reply')`.mapWith(Number);
  const rows = await services.db
    .select({
      id: conversations.id,
      createdAt: conversations.createdAt,
      replyMode: conversations.replyMode,
      organisationName: organisations.name,
      replies,
    })
    .from(conversations)
    .innerJoin(patients, eq(patients.id, conversations.patientId))
    .innerJoin(organisations, eq(organisations.id, conversations.organisationId))
    .where(eq(patients.nhsNumber, access.session.nhsNumber))
    .orderBy(desc(conversations.createdAt), desc(conversations.id));
  await recordAudit(services.db, {
    type: 'portal.listed',
    actor: portalActor(access.session, input.ip),
    details: { conversations: rows.length },
  });
  return {
    kind: 'ok',
    conversations: rows.map((r) => ({
      id: r.id,
      organisationName: r.organisationName,
      sentAt: r.createdAt,
      what: 'Message',
      needsAction: r.replies === 0 && replyAllowed(r.replyMode, 0),
    })),
  };
}

// ---------------------------------------------------------------------------------------------------
// GET /portal/conversations/:id and POST /portal/conversations/:id/reply.

export interface PortalConversation {
  id: string;
  replyMode: ReplyMode;
  createdAt: Date;
  patientId: string;
  organisation: { id: string; name: string; contactPhone: string };
}

export interface PortalMessageView extends ConversationMessages {
  conversation: PortalConversation;
}

/** The conversation, only if it was sent to this NHS number. */
async function findOwnConversation(on: Queryable, nhsNumber: string, conversationId: string): Promise<PortalConversation | undefined> {
  const [row] = await on
    .select({
      id: conversations.id,
      replyMode: conversations.replyMode,
      createdAt: conversations.createdAt,
      patientId: conversations.patientId,
      organisation: { id: organisations.id, name: organisations.name, contactPhone: organisations.contactPhone },
    })
    .from(conversations)
    .innerJoin(patients, eq(patients.id, conversations.patientId))
    .innerJoin(organisations, eq(organisations.id, conversations.organisationId))
    .where(and(eq(conversations.id, conversationId), eq(patients.nhsNumber, nhsNumber)));
  return row;
}

async function loadPortalView(on: Queryable, conversation: PortalConversation): Promise<PortalMessageView> {
  return { conversation, ...(await loadConversationMessages(on, conversation)) };
}

function subjectOf(conversation: PortalConversation) {
  return { organisationId: conversation.organisation.id, patientId: conversation.patientId, conversationId: conversation.id };
}

export type OpenPortalConversationResult = PortalProblem | { kind: 'not_found' } | { kind: 'ok'; view: PortalMessageView };

/** Every view is audited as 'message.read' by the NHS login patient. */
export async function openPortalConversation(
  services: Services,
  input: { ip: string; sessionToken?: string; conversationId: string },
): Promise<OpenPortalConversationResult> {
  const access = await portalAccess(services, input.sessionToken);
  if (access.kind !== 'ok') return access;
  const conversation = await findOwnConversation(services.db, access.session.nhsNumber, input.conversationId);
  if (!conversation) return { kind: 'not_found' };
  const view = await loadPortalView(services.db, conversation);
  await recordAudit(services.db, { type: 'message.read', actor: portalActor(access.session, input.ip), ...subjectOf(conversation) });
  return { kind: 'ok', view };
}

export type PortalReplyResult =
  | PortalProblem
  | { kind: 'not_found' }
  | { kind: 'sent' }
  | { kind: 'invalid'; view: PortalMessageView; message: string; body: string }
  | { kind: 'not_allowed'; view: PortalMessageView };

export async function replyInPortal(
  services: Services,
  input: { ip: string; sessionToken?: string; conversationId: string; body: string },
): Promise<PortalReplyResult> {
  const access = await portalAccess(services, input.sessionToken);
  if (access.kind !== 'ok') return access;
  const conversation = await findOwnConversation(services.db, access.session.nhsNumber, input.conversationId);
  if (!conversation) return { kind: 'not_found' };
  const saved = await savePatientReply(services, {
    conversation,
    body: input.body,
    audit: { actor: portalActor(access.session, input.ip), ...subjectOf(conversation) },
  });
  switch (saved.kind) {
    case 'sent':
      return saved;
    case 'invalid':
      return { kind: 'invalid', view: await loadPortalView(services.db, conversation), message: saved.message, body: input.body };
    case 'not_allowed':
      return { kind: 'not_allowed', view: await loadPortalView(services.db, conversation) };
  }
}
