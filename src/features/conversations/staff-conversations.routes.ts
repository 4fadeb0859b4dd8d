// Staff pages for one conversation, whatever its kind: see it, re-send or revoke its link. HTTP only:
// parse, call one service function, render or redirect.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { currentStaff, requirePermission, staffLayout } from '../staff/staff-session.hooks.ts';
import { InvalidInput } from '../../platform/errors.ts';
import { LINK_EVENT_WORDS, linkActivity, maskedMobile, patientSummary, SMS_KIND_WORDS, smsStatusWords } from '../messages/staff-words.ts';
import { resendLink, revokeConversation } from './conversations.service.ts';
import { DuplicateSubmission, duplicateRedirect, EXPIRED_FORM_MESSAGE, newSubmissionId, submittedId } from '../staff/staff-submissions.ts';
import {
  assignConversation,
  pollConversationViewers,
  setConversationDone,
  setConversationUrgent,
  viewConversation,
  viewRevokeConfirmation,
  type ConversationForStaff,
} from './staff-conversations.service.ts';

const CONVERSATION_VIEW = 'conversations/views/staff-conversation.njk';
const conversationParams = z.object({ id: z.string() });
const conversationQuery = z.object({
  done: z.enum(['sent', 'replied', 'resent', 'revoked', 'assigned', 'urgent', 'not-urgent', 'marked-done', 'reopened']).optional().catch(undefined),
});
// '' is "Unassigned". A colleague's id is checked against the organisation by the service.
const assignForm = z.object({
  staffId: z.string('Select who to assign it to').max(100, 'Select who to assign it to'),
  // Who it was assigned to when the page was shown ('' for nobody): a change made meanwhile is not overwritten.
  assignedOnPage: z.string().max(100).optional(),
});
// Hidden fields the page fills in: a wrong value came from an old or altered page, so it is refused.
const urgentForm = z.object({ urgent: z.enum(['yes', 'no'], 'The page was out of date. Choose Mark as urgent again') });
const doneForm = z.object({
  done: z.enum(['yes', 'no'], 'The page was out of date. Choose Mark as done again'),
  // The newest item the page showed: something the patient sent after it keeps the conversation open.
  seenSeq: z.coerce.number('The page was out of date. Choose Mark as done again').int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
});

export function conversationContext(view: ConversationForStaff) {
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
    events: linkActivity(view.events),
    link: view.link,
    linkStatus: view.linkStatus,
    doneAt: view.doneAt,
    assignedStaffId: view.assignedStaffId,
    assigneeName: view.assignable.find((s) => s.id === view.assignedStaffId)?.name,
    assignOptions: [
      { value: '', text: 'Unassigned', selected: view.assignedStaffId === null },
      ...view.assignable.map((s) => ({ value: s.id, text: s.name, selected: s.id === view.assignedStaffId })),
    ],
    alsoViewing: view.alsoViewing,
    canRevoke: view.canRevoke,
    recordMismatches: view.recordMismatches,
    panel: view.panel,
    urgentSince: view.urgentSince,
    // Each send form on the page has its own one-time id (staff/staff-submissions.ts).
    submissionIds: { resend: newSubmissionId(), reply: newSubmissionId() },
  };
}

/**
 * The staff conversation page for the signed-in staff member (viewing it marks it read and is audited),
 * with what the caller adds: a banner, or the errors and typed text of a refused form.
 */
export async function renderStaffConversation(request: FastifyRequest, reply: FastifyReply, conversationId: string, extra: Record<string, unknown> = {}, status = 200) {
  const staff = currentStaff(request);
  const view = await viewConversation(request.server.services, {
    organisationId: staff.organisation.id,
    staffId: staff.user.id,
    role: staff.user.role,
    conversationId,
    ip: request.ip,
    eventTypes: Object.keys(LINK_EVENT_WORDS),
  });
  const context = conversationContext(view);
  return reply.page(CONVERSATION_VIEW, { pageTitle: `Conversation with ${context.patient.name}`, ...staffLayout(staff), ...context, staffId: staff.user.id, ...extra }, { status });
}

export async function staffConversationRoutes(app: FastifyInstance): Promise<void> {
  if (!app.hasRequestDecorator('staff')) app.decorateRequest('staff', null);
  const services = app.services;

  app.get('/staff/conversations/:id', { preHandler: requirePermission('readReplies') }, async (request, reply) => {
    const { id } = conversationParams.parse(request.params);
    const { done } = conversationQuery.parse(request.query ?? {});
    return renderStaffConversation(request, reply, id, { done });
  });

  app.get('/staff/conversations/:id/viewers', { preHandler: requirePermission('readReplies') }, async (request, reply) => {
    const staff = currentStaff(request);
    const { id } = conversationParams.parse(request.params);
    const viewers = await pollConversationViewers(services, { organisationId: staff.organisation.id, staffId: staff.user.id, conversationId: id });
    return reply.header('cache-control', 'no-store').send({ viewers });
  });

  /** The conversation page again, as it is, with what was refused: nothing was changed. */
  const pageWithError = (request: FastifyRequest, reply: FastifyReply, id: string, field: string, text: string) =>
    renderStaffConversation(request, reply, id, { errors: { [field]: { href: `#${field}`, text } } }, 400);

  app.post('/staff/conversations/:id/assign', { preHandler: requirePermission('send') }, async (request, reply) => {
    const staff = currentStaff(request);
    const { id } = conversationParams.parse(request.params);
    const parsed = assignForm.safeParse(request.body ?? {});
    if (!parsed.success) return pageWithError(request, reply, id, 'assignTo', parsed.error.issues[0]!.message);
    try {
      const { assignedOnPage } = parsed.data;
      await assignConversation(services, {
        organisationId: staff.organisation.id,
        staffId: staff.user.id,
        conversationId: id,
        ip: request.ip,
        assignTo: parsed.data.staffId,
        ...(assignedOnPage !== undefined && { assignedOnPage: assignedOnPage === '' ? null : assignedOnPage }),
      });
    } catch (error) {
      if (!(error instanceof InvalidInput)) throw error;
      return pageWithError(request, reply, id, 'assignTo', error.publicMessage);
    }
    return reply.redirect(`/staff/conversations/${id}?done=assigned`, 303);
  });

  app.post('/staff/conversations/:id/urgent', { preHandler: requirePermission('send') }, async (request, reply) => {
    const staff = currentStaff(request);
    const { id } = conversationParams.parse(request.params);
    const parsed = urgentForm.safeParse(request.body ?? {});
    if (!parsed.success) return pageWithError(request, reply, id, 'urgent', parsed.error.issues[0]!.message);
    const urgent = parsed.data.urgent === 'yes';
    await setConversationUrgent(services, { organisationId: staff.organisation.id, staffId: staff.user.id, conversationId: id, ip: request.ip, urgent });
    return reply.redirect(`/staff/conversations/${id}?done=${urgent ? 'urgent' : 'not-urgent'}`, 303);
  });

  app.post('/staff/conversations/:id/done', { preHandler: requirePermission('send') }, async (request, reply) => {
    const staff = currentStaff(request);
    const { id } = conversationParams.parse(request.params);
    const parsed = doneForm.safeParse(request.body ?? {});
    if (!parsed.success) return pageWithError(request, reply, id, 'done', parsed.error.issues[0]!.message);
    const done = parsed.data.done === 'yes';
    try {
      await setConversationDone(services, { organisationId: staff.organisation.id, staffId: staff.user.id, conversationId: id, ip: request.ip, done, seenSeq: parsed.data.seenSeq });
    } catch (error) {
      if (!(error instanceof InvalidInput)) throw error;
      return pageWithError(request, reply, id, 'done', error.publicMessage);
    }
    return reply.redirect(`/staff/conversations/${id}?done=${done ? 'marked-done' : 'reopened'}`, 303);
  });

  app.get('/staff/conversations/:id/revoke', { preHandler: requirePermission('send') }, async (request, reply) => {
    const staff = currentStaff(request);
    const { id } = conversationParams.parse(request.params);
    const confirm = await viewRevokeConfirmation(services, { organisationId: staff.organisation.id, staffId: staff.user.id, conversationId: id, ip: request.ip });
    return reply.page('conversations/views/staff-revoke-confirm.njk', {
      pageTitle: `Are you sure you want to revoke the link for ${confirm.patientName}?`,
      ...staffLayout(staff),
      ...confirm,
      organisation: staff.organisation,
    });
  });

  app.post('/staff/conversations/:id/resend', { preHandler: requirePermission('send') }, async (request, reply) => {
    const staff = currentStaff(request);
    const { id } = conversationParams.parse(request.params);
    const submissionId = submittedId(request.body);
    if (!submissionId) return pageWithError(request, reply, id, 'resend', EXPIRED_FORM_MESSAGE);
    const resentPage = (conversationId: string) => `/staff/conversations/${conversationId}?done=resent`;
    try {
      await resendLink(services, {
        organisationId: staff.organisation.id,
        staffId: staff.user.id,
        conversationId: id,
        ip: request.ip,
        submission: { staffUserId: staff.user.id, submissionId, resultUrl: resentPage },
      });
    } catch (error) {
      if (error instanceof DuplicateSubmission) return reply.redirect(duplicateRedirect(error), 303);
      throw error;
    }
    return reply.redirect(resentPage(id), 303);
  });

  app.post('/staff/conversations/:id/revoke', { preHandler: requirePermission('send') }, async (request, reply) => {
    const staff = currentStaff(request);
    const { id } = conversationParams.parse(request.params);
    await revokeConversation(services, { organisationId: staff.organisation.id, staffId: staff.user.id, conversationId: id, ip: request.ip });
    return reply.redirect(`/staff/conversations/${id}?done=revoked`, 303);
  });
}
