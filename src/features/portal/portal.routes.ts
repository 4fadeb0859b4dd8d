// The patient portal: GET / (home page for patients), GET /portal (every conversation for the NHS
// number), GET /portal/conversations/:id, POST /portal/conversations/:id/reply, POST /portal/sign-out,
// GET /portal/signed-out. HTTP only: parse, call one service function, render or redirect.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { FormErrors } from '../../platform/http/pages.ts';
import type { NhsLoginIdentity } from '../nhs-login/nhs-login.client.ts';
import { isNhsLoginEnabled } from '../nhs-login/nhs-login.service.ts';
import { nhsLoginStartHref, PORTAL_RETURN_TO } from '../nhs-login/nhs-login-destinations.ts';
import { REPLY_BODY_MAX } from '../messages/messages.service.ts';
import {
  listPortalConversations,
  openPortalConversation,
  replyInPortal,
  signInToPortal,
  signOutOfPortal,
  type PortalMessageView,
  type PortalProblem,
} from './portal.service.ts';

export const PORTAL_COOKIE = '__Host-dovecote-portal';
const cookieBase = { path: '/', httpOnly: true, secure: true, sameSite: 'lax' } as const;

function portalCookieOf(request: FastifyRequest): string | undefined {
  return request.cookies[PORTAL_COOKIE] || undefined;
}

const homeQuery = z.object({ session: z.preprocess((v) => (typeof v === 'string' ? v : undefined), z.string().optional()) });
const conversationParams = z.object({ id: z.uuid() });
const messageQuery = z.object({ replied: z.preprocess((v) => (typeof v === 'string' ? v : undefined), z.string().optional()) });
const replyForm = z.object({ reply: z.preprocess((v) => (typeof v === 'string' ? v : ''), z.string()) });
/** A malformed id is looked up as this (which is nothing), after the session check: no session → sign in first. */
const NO_CONVERSATION = '00000000-0000-0000-0000-000000000000';

function conversationIdOf(request: FastifyRequest): string {
  const params = conversationParams.safeParse(request.params);
  return params.success ? params.data.id : NO_CONVERSATION;
}

function problemReply(reply: FastifyReply, problem: PortalProblem): FastifyReply {
  reply.clearCookie(PORTAL_COOKIE, cookieBase);
  return reply.redirect(problem.kind === 'session_expired' ? '/?session=expired' : '/', 303);
}

function renderMessage(
  reply: FastifyReply,
  view: PortalMessageView,
  extra: { errors?: FormErrors; replyValue?: string; replied?: boolean; refused?: boolean } = {},
  status = 200,
) {
  const organisation = view.conversation.organisation;
  return reply.page(
    'portal/views/portal-message.njk',
    {
      pageTitle: `Message from ${organisation.name}`,
      organisation: { name: organisation.name, contactPhone: organisation.contactPhone },
      view,
      replyAction: `/portal/conversations/${view.conversation.id}/reply`,
      replyMax: REPLY_BODY_MAX,
      errors: extra.errors,
      replyValue: extra.replyValue ?? '',
      replied: extra.replied ?? false,
      refused: extra.refused ?? false,
    },
    { status },
  );
}

/**
 * The end of "Continue with NHS login" from the home page: P9 opens the portal (a new session token,
 * replacing any this browser had); anything less gets a page that says why.
 */
export async function finishPortalSignIn(request: FastifyRequest, reply: FastifyReply, identity: NhsLoginIdentity): Promise<FastifyReply> {
  const result = await signInToPortal(request.server.services, { identity, ip: request.ip, sessionToken: portalCookieOf(request) });
  if (result.kind === 'not_strong') {
    return reply.page('nhs-login/views/not-strong.njk', { pageTitle: 'NHS login could not confirm your identity' }, { status: 403 });
  }
  // A browser session cookie: the server ends the session after 30 minutes idle or 12 hours.
  reply.setCookie(PORTAL_COOKIE, result.sessionToken, cookieBase);
  return reply.redirect('/portal', 303);
}

export async function portalRoutes(app: FastifyInstance) {
  const services = app.services;

  app.get('/', async (request, reply) => {
    const query = homeQuery.parse(request.query);
    return reply.page('portal/views/home.njk', {
      pageTitle: 'Messages from your GP surgery, hospital or NHS service',
      sessionExpired: query.session === 'expired',
      nhsLoginHref: isNhsLoginEnabled(services.config) ? nhsLoginStartHref(PORTAL_RETURN_TO) : undefined,
    });
  });

  app.get('/portal', async (request, reply) => {
    const result = await listPortalConversations(services, { ip: request.ip, sessionToken: portalCookieOf(request) });
    if (result.kind !== 'ok') return problemReply(reply, result);
    return reply.page('portal/views/portal.njk', { pageTitle: 'Your messages', conversations: result.conversations });
  });

  app.get('/portal/conversations/:id', async (request, reply) => {
    const result = await openPortalConversation(services, {
      ip: request.ip,
      sessionToken: portalCookieOf(request),
      conversationId: conversationIdOf(request),
    });
    if (result.kind === 'not_found') return reply.callNotFound();
    if (result.kind !== 'ok') return problemReply(reply, result);
    const query = messageQuery.parse(request.query);
    return renderMessage(reply, result.view, { replied: query.replied === '1' && result.view.replies.length > 0 });
  });

  app.post('/portal/conversations/:id/reply', async (request, reply) => {
    const conversationId = conversationIdOf(request);
    const form = replyForm.parse(request.body ?? {});
    const result = await replyInPortal(services, { ip: request.ip, sessionToken: portalCookieOf(request), conversationId, body: form.reply });
    switch (result.kind) {
      case 'sent':
        return reply.redirect(`/portal/conversations/${conversationId}?replied=1`, 303);
      case 'invalid':
        return renderMessage(reply, result.view, { errors: { reply: { href: '#reply', text: result.message } }, replyValue: result.body }, 400);
      case 'not_allowed':
        return renderMessage(reply, result.view, { refused: true }, 409);
      case 'not_found':
        return reply.callNotFound();
      default:
        return problemReply(reply, result);
    }
  });

  app.post('/portal/sign-out', async (request, reply) => {
    await signOutOfPortal(services, { ip: request.ip, sessionToken: portalCookieOf(request) });
    reply.clearCookie(PORTAL_COOKIE, cookieBase);
    return reply.redirect('/portal/signed-out', 303);
  });

  app.get('/portal/signed-out', async (_request, reply) => {
    return reply.page('portal/views/signed-out.njk', { pageTitle: 'You have signed out' });
  });
}
