// Staff pages for one conversation, whatever its kind: see it, re-send or revoke its link. HTTP only:
// parse, call one service function, render or redirect.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { currentStaff, requirePermission, staffLayout } from '../staff/staff-session.hooks.ts';
import { LINK_EVENT_WORDS, maskedMobile, patientSummary, SMS_KIND_WORDS, smsStatusWords } from '../messages/staff-words.ts';
import { resendLink, revokeConversation } from './conversations.service.ts';
import { viewConversation, type ConversationForStaff } from './staff-conversations.service.ts';

const CONVERSATION_VIEW = 'conversations/views/staff-conversation.njk';
const conversationParams = z.object({ id: z.string() });
const conversationQuery = z.object({ done: z.enum(['sent', 'resent', 'revoked']).optional().catch(undefined) });

function conversationContext(view: ConversationForStaff) {
  return {
    conversation: view.conversation,
    patient: patientSummary(view.patient),
    items: view.items,
    texts: view.texts.map((t) => ({
      ...t,
      // The link's text names what it opens: "Link to the questionnaire".
      kindText: t.kind === 'message_link' ? `Link to the ${view.conversation.thing}` : (SMS_KIND_WORDS[t.kind] ?? t.kind),
      to: maskedMobile(t.phoneE164),
      status: smsStatusWords(t.status),
    })),
    events: view.events.map((e) => ({
      ...e,
      text: e.type.endsWith('.sent') && e.details.resent ? 'Link sent again' : (LINK_EVENT_WORDS[e.type] ?? e.type),
    })),
    link: view.link,
    canRevoke: view.canRevoke,
    recordMismatches: view.recordMismatches,
    panel: view.panel,
    urgentSince: view.urgentSince,
  };
}

export async function staffConversationRoutes(app: FastifyInstance): Promise<void> {
  if (!app.hasRequestDecorator('staff')) app.decorateRequest('staff', null);
  const services = app.services;

  app.get('/staff/conversations/:id', { preHandler: requirePermission('readReplies') }, async (request, reply) => {
    const staff = currentStaff(request);
    const { id } = conversationParams.parse(request.params);
    const { done } = conversationQuery.parse(request.query ?? {});
    const view = await viewConversation(services, {
      organisationId: staff.organisation.id,
      staffId: staff.user.id,
      conversationId: id,
      ip: request.ip,
      eventTypes: Object.keys(LINK_EVENT_WORDS),
    });
    const context = conversationContext(view);
    return reply.page(CONVERSATION_VIEW, {
      pageTitle: `Conversation with ${context.patient.name}`,
      ...staffLayout(staff),
      ...context,
      done,
    });
  });

  app.post('/staff/conversations/:id/resend', { preHandler: requirePermission('send') }, async (request, reply) => {
    const staff = currentStaff(request);
    const { id } = conversationParams.parse(request.params);
    await resendLink(services, { organisationId: staff.organisation.id, staffId: staff.user.id, conversationId: id, ip: request.ip });
    return reply.redirect(`/staff/conversations/${id}?done=resent`, 303);
  });

  app.post('/staff/conversations/:id/revoke', { preHandler: requirePermission('send') }, async (request, reply) => {
    const staff = currentStaff(request);
    const { id } = conversationParams.parse(request.params);
    await revokeConversation(services, { organisationId: staff.organisation.id, staffId: staff.user.id, conversationId: id, ip: request.ip });
    return reply.redirect(`/staff/conversations/${id}?done=revoked`, 303);
  });
}
