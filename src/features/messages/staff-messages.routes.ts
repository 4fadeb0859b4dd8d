// Staff pages for messaging: find a patient, write and send a message (the conversation page itself is
// the conversations feature's). HTTP only: parse, call one service function, render or redirect.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { FormErrors } from '../../platform/http/pages.ts';
import { CONTROL_CHARACTERS, FORMAT_CHARACTERS, formatCharactersMessage } from '../../platform/names.ts';
import { dateProblemMessage, parseDateOfBirth } from '../patients/identifiers.ts';
import { nhsNumberSchema } from '../patients/patients.service.ts';
import { currentStaff, requirePermission, staffLayout } from '../staff/staff-session.hooks.ts';
import { MESSAGE_BODY_MAX } from './messages.service.ts';
import {
  composeForm,
  messageLinkPreview,
  searchPatientsForStaff,
  sendStaffMessage,
  viewPatientForStaff,
  type PatientSearch,
} from './staff-compose.service.ts';
import { patientSummary } from './staff-words.ts';
import { DailySendLimitReached } from '../conversations/send-limits.ts';
import { filledTemplateForCompose, templatesForCompose } from '../templates/templates.service.ts';
import { renderStaffConversation } from '../conversations/staff-conversations.routes.ts';
import { staffReply } from './staff-reply.service.ts';
import { DuplicateSubmission, duplicateRedirect, EXPIRED_FORM_MESSAGE, formSubmissionId, newSubmissionId, sendFormIds, submissionResult, submittedId } from '../staff/staff-submissions.ts';

const FIND_VIEW = 'messages/views/staff-find-patient.njk';
const COMPOSE_VIEW = 'messages/views/staff-compose.njk';

const patientParams = z.object({ patientId: z.string() });
const conversationParams = z.object({ id: z.string() });
/** Where a sent message leads: its conversation page, saying it was sent. */
const sentPage = (conversationId: string) => `/staff/conversations/${conversationId}?done=sent`;
const composeQuery = z.object({ template: z.string().max(100).optional().catch(undefined) });

type Body = Record<string, unknown>;
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** The search form's input as a search, or the errors to show. */
function parseSearch(body: Body, today: Date): { search: PatientSearch } | { errors: FormErrors } {
  if (body.searchBy === 'nhs-number') {
    const nhs = nhsNumberSchema.safeParse(str(body.nhsNumber).slice(0, 40));
    if (!nhs.success) {
      const text = str(body.nhsNumber).trim() === '' ? 'Enter an NHS number' : 'Enter a valid 10-digit NHS number';
      return { errors: { nhsNumber: { href: '#nhsNumber', text } } };
    }
    return { search: { by: 'nhs-number', nhsNumber: nhs.data } };
  }
  const errors: FormErrors = {};
  const familyName = str(body.familyName).trim().slice(0, 100);
  if (familyName === '') errors.familyName = { href: '#familyName', text: "Enter the patient's family name" };
  // Stored names have none (platform/names.ts), and PostgreSQL text cannot hold NUL (a 500, not an answer).
  else if (CONTROL_CHARACTERS.test(familyName)) errors.familyName = { href: '#familyName', text: "The patient's family name must not contain control characters" };
  else if (FORMAT_CHARACTERS.test(familyName)) errors.familyName = { href: '#familyName', text: formatCharactersMessage("The patient's family name") };
  const dob = parseDateOfBirth({ day: str(body['dob[day]']), month: str(body['dob[month]']), year: str(body['dob[year]']) }, today);
  if (!dob.ok) {
    const first = dob.problem.kind === 'missing' ? dob.problem.parts[0] : 'day';
    const text =
      dob.problem.kind === 'missing' && dob.problem.parts.length === 3
        ? "Enter the patient's date of birth"
        : dateProblemMessage(dob.problem, 'Date of birth');
    errors.dob = { href: `#dob-${first}`, text };
  }
  if (Object.keys(errors).length > 0 || !dob.ok) return { errors };
  return { search: { by: 'name-dob', familyName, dateOfBirth: dob.iso } };
}

function dobErrorParts(body: Body, errors: FormErrors | undefined): Record<string, boolean> {
  if (!errors?.dob) return {};
  const parts = ['day', 'month', 'year'].filter((p) => str(body[`dob[${p}]`]).trim() === '');
  const all = parts.length === 0;
  return { day: all || parts.includes('day'), month: all || parts.includes('month'), year: all || parts.includes('year') };
}

export async function staffMessageRoutes(app: FastifyInstance): Promise<void> {
  if (!app.hasRequestDecorator('staff')) app.decorateRequest('staff', null);
  const services = app.services;
  const staffPage = (request: FastifyRequest) => staffLayout(currentStaff(request));

  app.get('/staff/messages/new', { preHandler: requirePermission('send') }, async (request, reply) => {
    return reply.page(FIND_VIEW, { pageTitle: 'Find a patient', ...staffPage(request), values: {} });
  });

  // A POST, not a GET with a query string: NHS numbers and dates of birth must not end up in URLs,
  // browser history or access logs.
  app.post('/staff/messages/new', { preHandler: requirePermission('send') }, async (request, reply) => {
    const staff = currentStaff(request);
    const body = (request.body ?? {}) as Body;
    const values = {
      searchBy: body.searchBy === 'nhs-number' ? 'nhs-number' : 'name-dob',
      nhsNumber: str(body.nhsNumber).slice(0, 40),
      familyName: str(body.familyName).slice(0, 100),
      dob: { day: str(body['dob[day]']).slice(0, 4), month: str(body['dob[month]']).slice(0, 4), year: str(body['dob[year]']).slice(0, 6) },
    };
    const parsed = parseSearch(body, services.now());
    if ('errors' in parsed) {
      return reply.page(
        FIND_VIEW,
        { pageTitle: 'Find a patient', ...staffPage(request), values, errors: parsed.errors, dobErrors: dobErrorParts(body, parsed.errors) },
        { status: 400 },
      );
    }
    const found = await searchPatientsForStaff(services, {
      organisationId: staff.organisation.id,
      staffId: staff.user.id,
      ip: request.ip,
      search: parsed.search,
    });
    // An NHS number identifies one person: its match goes straight to the patient's page (what can be
    // sent to them, and their conversations), not a list of one.
    if (parsed.search.by === 'nhs-number' && found.length === 1) return reply.redirect(`/staff/patients/${found[0]!.id}`, 303);
    return reply.page(FIND_VIEW, {
      // The result count in the title: the first thing a screen reader says on the new page.
      pageTitle: `Find a patient: ${found.length} ${found.length === 1 ? 'result' : 'results'}`,
      ...staffPage(request),
      values,
      searched: true,
      organisation: staff.organisation,
      results: found.map((p) => ({ ...patientSummary(p), formIds: sendFormIds() })),
    });
  });

  // The compose page, empty or shown again with what was typed. Showing it shows the patient, so it
  // is a view (and a 404 for another organisation's patient whatever the form says, as sending is).
  async function composePage(
    request: FastifyRequest,
    reply: FastifyReply,
    patientId: string,
    form: { values: Record<string, string>; submissionId: string; alreadySent?: string | null; errors?: FormErrors; sendLimit?: { limit: string } },
    status = 200,
  ) {
    const staff = currentStaff(request);
    const patient = await viewPatientForStaff(services, { organisationId: staff.organisation.id, staffId: staff.user.id, ip: request.ip, patientId });
    return reply.page(
      COMPOSE_VIEW,
      {
        pageTitle: 'Write a message',
        ...staffPage(request),
        patient: patientSummary(patient),
        preview: messageLinkPreview(staff.organisation.name, services.config.publicBaseUrl),
        maxLength: MESSAGE_BODY_MAX,
        templates: await templatesForCompose(services.db, staff.organisation.id),
        ...form,
      },
      { status },
    );
  }
  const typedValues = (body: Body) => ({ body: str(body.body).slice(0, MESSAGE_BODY_MAX * 2), replyMode: str(body.replyMode) });

  app.get('/staff/patients/:patientId/message', { preHandler: requirePermission('send') }, async (request, reply) => {
    const { patientId } = patientParams.parse(request.params);
    // "Use a template" (a GET, so it works without JavaScript): the message box filled for this patient.
    const { template: templateId } = composeQuery.parse(request.query ?? {});
    const filled = templateId ? await filledTemplateForCompose(services.db, { organisation: currentStaff(request).organisation, patientId, templateId }) : undefined;
    const submissionId = formSubmissionId(request.query);
    const alreadySent = await submissionResult(services.db, currentStaff(request).user.id, submissionId);
    return composePage(request, reply, patientId, { values: filled === undefined ? {} : { body: filled, template: templateId! }, submissionId, alreadySent });
  });

  app.post('/staff/patients/:patientId/message', { preHandler: requirePermission('send') }, async (request, reply) => {
    const staff = currentStaff(request);
    const { patientId } = patientParams.parse(request.params);
    const body = (request.body ?? {}) as Body;
    const submissionId = submittedId(body);
    if (!submissionId) {
      return composePage(request, reply, patientId, { values: typedValues(body), submissionId: newSubmissionId(), errors: { body: { href: '#body', text: EXPIRED_FORM_MESSAGE } } }, 400);
    }
    const parsed = composeForm.safeParse({ body: body.body, replyMode: body.replyMode });
    if (!parsed.success) {
      const errors: FormErrors = {};
      for (const issue of parsed.error.issues) {
        const field = String(issue.path[0]);
        if (errors[field]) continue;
        if (field === 'body') errors.body = { href: '#body', text: issue.message };
        if (field === 'replyMode') errors.replyMode = { href: '#replyMode', text: issue.message };
      }
      return composePage(request, reply, patientId, { values: typedValues(body), submissionId, errors }, 400);
    }
    try {
      const sent = await sendStaffMessage(services, {
        ...parsed.data,
        organisationId: staff.organisation.id,
        staffId: staff.user.id,
        patientId,
        ip: request.ip,
        submission: { staffUserId: staff.user.id, submissionId, resultUrl: sentPage },
      });
      return reply.redirect(sentPage(sent.conversationId), 303);
    } catch (error) {
      if (error instanceof DuplicateSubmission) return reply.redirect(duplicateRedirect(error), 303);
      if (!(error instanceof DailySendLimitReached)) throw error;
      // Nothing was sent: say why and until when, and keep what they wrote.
      reply.header('Retry-After', String(error.retryAfterSeconds));
      return composePage(request, reply, patientId, { values: typedValues(body), submissionId, sendLimit: { limit: error.limit.toLocaleString('en-GB') } }, 429);
    }
  });

  // The conversation page again, with what was typed and why it was not sent (the reply box is the
  // message kind's panel on that page, so it shows the errors and the text from this context).
  app.post('/staff/conversations/:id/reply', { preHandler: requirePermission('send') }, async (request, reply) => {
    const staff = currentStaff(request);
    const { id } = conversationParams.parse(request.params);
    const body = (request.body ?? {}) as Body;
    const typed = str(body.replyBody).slice(0, MESSAGE_BODY_MAX * 2);
    const submissionId = submittedId(body);
    if (!submissionId) return renderStaffConversation(request, reply, id, { replyValue: typed, errors: { replyBody: { href: '#replyBody', text: EXPIRED_FORM_MESSAGE } } }, 400);
    const repliedPage = (conversationId: string) => `/staff/conversations/${conversationId}?done=replied`;
    try {
      const result = await staffReply(services, {
        organisationId: staff.organisation.id,
        staffId: staff.user.id,
        conversationId: id,
        body: str(body.replyBody),
        ip: request.ip,
        submission: { staffUserId: staff.user.id, submissionId, resultUrl: repliedPage },
      });
      switch (result.kind) {
        case 'sent':
          return reply.redirect(repliedPage(id), 303);
        case 'invalid':
          return renderStaffConversation(request, reply, id, { replyValue: typed, replySubmissionId: submissionId, errors: { replyBody: { href: '#replyBody', text: result.message } } }, 400);
        case 'refused':
          // The page says why (the link expired, was revoked…) and shows what they wrote, to keep.
          return renderStaffConversation(request, reply, id, { replyValue: typed, replyRefused: true }, 400);
      }
    } catch (error) {
      if (error instanceof DuplicateSubmission) return reply.redirect(duplicateRedirect(error), 303);
      if (!(error instanceof DailySendLimitReached)) throw error;
      reply.header('Retry-After', String(error.retryAfterSeconds));
      return renderStaffConversation(request, reply, id, { replyValue: typed, replySubmissionId: submissionId, replySendLimit: { limit: error.limit.toLocaleString('en-GB') } }, 429);
    }
  });
}
