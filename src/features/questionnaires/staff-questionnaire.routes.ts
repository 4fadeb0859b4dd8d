// Staff pages for questionnaires: choose one and send it to a patient, and download a conversation's
// QuestionnaireResponse as FHIR JSON. HTTP only: parse, call one service function, render or redirect.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { FormErrors } from '../../platform/http/pages.ts';
import { DailySendLimitReached } from '../conversations/send-limits.ts';
import { getPatientForStaff, messageLinkPreview, viewPatientForStaff } from '../messages/staff-compose.service.ts';
import { patientSummary } from '../messages/staff-words.ts';
import { currentStaff, requirePermission, staffLayout } from '../staff/staff-session.hooks.ts';
import { questionnaireKind } from './questionnaire.kind.ts';
import { closesAfterDaysSchema, sendableQuestionnaires, sendQuestionnaire } from './questionnaire-sending.service.ts';
import { viewQuestionnaireResponseForStaff } from './staff-questionnaire.service.ts';
import { DuplicateSubmission, duplicateRedirect, EXPIRED_FORM_MESSAGE, formSubmissionId, newSubmissionId, submissionResult, submittedId } from '../staff/staff-submissions.ts';

const SEND_VIEW = 'questionnaires/views/staff-send-questionnaire.njk';
const patientParams = z.object({ patientId: z.string() });
const conversationParams = z.object({ id: z.string() });
const sentPage = (conversationId: string) => `/staff/conversations/${conversationId}?done=sent`;

type Body = Record<string, unknown>;
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

export async function staffQuestionnaireRoutes(app: FastifyInstance): Promise<void> {
  if (!app.hasRequestDecorator('staff')) app.decorateRequest('staff', null);
  const services = app.services;

  async function sendPage(
    request: FastifyRequest,
    reply: FastifyReply,
    patientId: string,
    form: { values: Record<string, string>; submissionId: string; alreadySent?: string | null; errors?: FormErrors; sendLimit?: { limit: string } },
    status = 200,
  ) {
    const staff = currentStaff(request);
    const patient = await viewPatientForStaff(services, { organisationId: staff.organisation.id, staffId: staff.user.id, ip: request.ip, patientId });
    const choices = await sendableQuestionnaires(services, staff.organisation.id);
    return reply.page(
      SEND_VIEW,
      {
        pageTitle: 'Send a questionnaire',
        ...staffLayout(staff),
        patient: patientSummary(patient),
        preview: messageLinkPreview(staff.organisation.name, services.config.publicBaseUrl, questionnaireKind.words),
        choices: choices.map((c) => ({
          value: c.choice,
          text: c.title ?? c.url,
          hint: `${c.source === 'catalogue' ? 'Built in' : 'Your organisation'}, version ${c.version}`,
          checked: form.values.questionnaire === c.choice,
        })),
        defaultDays: services.config.questionnaireLinkTtlDays,
        ...form,
      },
      { status },
    );
  }

  app.get('/staff/patients/:patientId/questionnaire', { preHandler: requirePermission('send') }, async (request, reply) => {
    const { patientId } = patientParams.parse(request.params);
    const submissionId = formSubmissionId(request.query);
    const alreadySent = await submissionResult(services.db, currentStaff(request).user.id, submissionId);
    return sendPage(request, reply, patientId, { values: { closesAfterDays: String(services.config.questionnaireLinkTtlDays) }, submissionId, alreadySent });
  });

  app.post('/staff/patients/:patientId/questionnaire', { preHandler: requirePermission('send') }, async (request, reply) => {
    const staff = currentStaff(request);
    const { patientId } = patientParams.parse(request.params);
    const body = (request.body ?? {}) as Body;
    const values = { questionnaire: str(body.questionnaire).slice(0, 2100), closesAfterDays: str(body.closesAfterDays).slice(0, 10) };
    const submissionId = submittedId(body);
    if (!submissionId) {
      return sendPage(request, reply, patientId, { values, submissionId: newSubmissionId(), errors: { questionnaire: { href: '#questionnaire', text: EXPIRED_FORM_MESSAGE } } }, 400);
    }
    const errors: FormErrors = {};
    const choices = await sendableQuestionnaires(services, staff.organisation.id);
    const chosen = choices.find((c) => c.choice === values.questionnaire);
    if (!chosen) errors.questionnaire = { href: '#questionnaire', text: 'Select a questionnaire' };
    const days = closesAfterDaysSchema.safeParse(values.closesAfterDays.trim() === '' ? undefined : values.closesAfterDays.trim());
    if (!days.success) errors.closesAfterDays = { href: '#closesAfterDays', text: values.closesAfterDays.trim() === '' ? 'Enter how many days the questionnaire stays open' : days.error.issues[0]!.message };
    if (!chosen || !days.success) return sendPage(request, reply, patientId, { values, submissionId, errors }, 400);
    const patient = await getPatientForStaff(services.db, staff.organisation.id, patientId);
    try {
      const sent = await sendQuestionnaire(services, {
        organisationId: staff.organisation.id,
        patient,
        url: chosen.url,
        version: chosen.version,
        ...(days.data !== services.config.questionnaireLinkTtlDays && { closesAfterDays: days.data }),
        sentBy: { staffId: staff.user.id },
        ip: request.ip,
        submission: { staffUserId: staff.user.id, submissionId, resultUrl: sentPage },
      });
      return reply.redirect(sentPage(sent.conversationId), 303);
    } catch (error) {
      if (error instanceof DuplicateSubmission) return reply.redirect(duplicateRedirect(error), 303);
      if (!(error instanceof DailySendLimitReached)) throw error;
      reply.header('Retry-After', String(error.retryAfterSeconds));
      return sendPage(request, reply, patientId, { values, submissionId, sendLimit: { limit: error.limit.toLocaleString('en-GB') } }, 429);
    }
  });

  app.get('/staff/conversations/:id/questionnaire-response', { preHandler: requirePermission('readAnswers') }, async (request, reply) => {
    const staff = currentStaff(request);
    const { id } = conversationParams.parse(request.params);
    const response = await viewQuestionnaireResponseForStaff(services, { organisationId: staff.organisation.id, staffId: staff.user.id, conversationId: id, ip: request.ip });
    return reply
      .type('application/fhir+json; charset=utf-8')
      .header('content-disposition', `attachment; filename="questionnaire-response-${id}.json"`)
      .send(JSON.stringify(response, null, 2));
  });
}
