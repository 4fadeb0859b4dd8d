// What verification hands to everything behind a link (DESIGN.md §2, "the seam"): a PatientAccess,
// set on the request by one of two guards — a link (date of birth ± security code, or NHS login from
// the link) or the patient portal (NHS login at the home page). Whatever is behind it (the item kinds)
// reads request.patientAccess and never learns how the patient got in beyond `via`.
import type { FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import { z } from 'zod';
import type { AuditActor } from '../audit/audit.service.ts';
import { auditSubject, checkPatientAccess, patientActor } from './patient-access.service.ts';
import { checkPortalAccess, checkPortalConversationAccess, type PortalPatient, type PortalProblem } from './portal-access.service.ts';
import { accessProblemReply, clearPortalCookie, portalCookieOf, sessionCookieOf } from './patient-pages.ts';

export interface PatientAccess {
  /** How the patient got in. Kinds use it only for the way back (the portal's list) and sign out. */
  via: 'link' | 'portal';
  conversation: { id: string; kind: string };
  organisation: { id: string; name: string; contactPhone: string };
  patientId: string;
  /** Who to name in the audit trail: the link, or the NHS login subject. */
  actor: AuditActor;
  /** The audit fields every event about this conversation carries. */
  subject: { organisationId: string; patientId: string; conversationId: string; linkId?: string };
  /** Where the conversation's pages live for this way in: '/<token>/conversation' or '/portal/conversations/<id>'. */
  basePath: string;
  /**
   * Whether the patient may still answer (reply, submit, book). A link that works may; in the portal a
   * conversation whose link has expired stays readable but takes no answer.
   */
  mayAnswer: boolean;
}

/** Where each way in lands once the patient is let in; given by whoever mounts the conversation pages. */
export interface LandingPaths {
  link(token: string): string;
  portal(conversationId: string): string;
}

declare module 'fastify' {
  interface FastifyRequest {
    patientAccess: PatientAccess | null;
    portalPatient: PortalPatient | null;
  }
}

/** The access a guard set; a route behind no guard asking for it is a programming error. */
export function patientAccessOf(request: FastifyRequest): PatientAccess {
  if (!request.patientAccess) throw new Error('patientAccessOf: this route has no patient access guard');
  return request.patientAccess;
}

export function portalPatientOf(request: FastifyRequest): PortalPatient {
  if (!request.portalPatient) throw new Error('portalPatientOf: this route has no portal session guard');
  return request.portalPatient;
}

const tokenParams = z.object({ token: z.string() });
const conversationParams = z.object({ id: z.uuid() });
/** A malformed id is looked up as this (which is nothing), after the session check: no session → sign in first. */
const NO_CONVERSATION = '00000000-0000-0000-0000-000000000000';

/** Guards `<prefix with :token>`: a browser verified for this link, on a link that still works. */
export function linkAccessGuard(landing: LandingPaths): preHandlerAsyncHookHandler {
  return async function linkAccess(request: FastifyRequest, reply: FastifyReply) {
    const services = request.server.services;
    const { token } = tokenParams.parse(request.params);
    const result = await checkPatientAccess(services, { token, ip: request.ip, sessionToken: sessionCookieOf(request), need: 'verified' });
    if (result.kind !== 'ok') return accessProblemReply(reply, services, token, result, landing);
    const { context } = result;
    request.patientAccess = {
      via: 'link',
      conversation: { id: context.conversation.id, kind: context.conversation.kind },
      organisation: context.organisation,
      patientId: context.patient.id,
      actor: patientActor(context, request.ip),
      subject: auditSubject(context),
      basePath: landing.link(token),
      mayAnswer: true,
    };
  };
}

function portalProblemReply(reply: FastifyReply, problem: PortalProblem): FastifyReply {
  clearPortalCookie(reply);
  return reply.redirect(problem.kind === 'session_expired' ? '/?session=expired' : '/', 303);
}

/** Guards `<prefix with :id>`: a portal session whose NHS number the conversation was sent to. */
export function portalAccessGuard(landing: LandingPaths): preHandlerAsyncHookHandler {
  return async function portalAccess(request: FastifyRequest, reply: FastifyReply) {
    const params = conversationParams.safeParse(request.params);
    const conversationId = params.success ? params.data.id : NO_CONVERSATION;
    const result = await checkPortalConversationAccess(request.server.services, {
      sessionToken: portalCookieOf(request),
      ip: request.ip,
      conversationId,
    });
    if (result.kind === 'not_found') return reply.callNotFound();
    if (result.kind !== 'ok') return portalProblemReply(reply, result);
    request.patientAccess = { ...result.access, basePath: landing.portal(conversationId) };
  };
}

/** Guards the portal's own pages (the list): any live portal session. */
export const portalSessionGuard: preHandlerAsyncHookHandler = async function portalSession(request, reply) {
  const result = await checkPortalAccess(request.server.services, { sessionToken: portalCookieOf(request), ip: request.ip });
  if (result.kind !== 'ok') return portalProblemReply(reply, result);
  request.portalPatient = result.patient;
};

/** Registers the request decorations the guards set (once per app). */
export function decoratePatientAccess(app: { hasRequestDecorator(name: string): boolean; decorateRequest(name: string, value: null): unknown }): void {
  if (!app.hasRequestDecorator('patientAccess')) app.decorateRequest('patientAccess', null);
  if (!app.hasRequestDecorator('portalPatient')) app.decorateRequest('portalPatient', null);
}
