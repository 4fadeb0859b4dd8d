// GET /:token/message and POST /:token/reply: the message behind a link, for a verified browser.
import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import type { FormErrors } from '../../platform/http/pages.ts';
import { accessProblemReply, organisationOf, sessionCookieOf } from '../verification/patient-pages.ts';
import { REPLY_BODY_MAX } from './messages.service.ts';
import { sendPatientReply, viewPatientMessage, type PatientMessageView } from './patient-messages.service.ts';

const tokenParams = z.object({ token: z.string() });
const messageQuery = z.object({ replied: z.preprocess((v) => (typeof v === 'string' ? v : undefined), z.string().optional()) });
const replyForm = z.object({ reply: z.preprocess((v) => (typeof v === 'string' ? v : ''), z.string()) });

function renderMessage(
  reply: FastifyReply,
  token: string,
  view: PatientMessageView,
  extra: { errors?: FormErrors; replyValue?: string; replied?: boolean; refused?: boolean } = {},
  status = 200,
) {
  return reply.page(
    'messages/views/patient-message.njk',
    {
      pageTitle: `Message from ${view.context.organisation.name}`,
      token,
      organisation: organisationOf(view.context),
      view,
      replyMax: REPLY_BODY_MAX,
      errors: extra.errors,
      replyValue: extra.replyValue ?? '',
      replied: extra.replied ?? false,
      refused: extra.refused ?? false,
    },
    { status },
  );
}

export async function patientMessagesRoutes(app: FastifyInstance) {
  const services = app.services;

  app.get('/:token/message', async (request, reply) => {
    const { token } = tokenParams.parse(request.params);
    const query = messageQuery.parse(request.query);
    const result = await viewPatientMessage(services, { token, ip: request.ip, sessionToken: sessionCookieOf(request) });
    if (result.kind !== 'ok') return accessProblemReply(reply, services, token, result);
    // The banner only confirms a reply that exists.
    return renderMessage(reply, token, result.view, { replied: query.replied === '1' && result.view.replies.length > 0 });
  });

  app.post('/:token/reply', async (request, reply) => {
    const { token } = tokenParams.parse(request.params);
    const form = replyForm.parse(request.body ?? {});
    const result = await sendPatientReply(services, {
      token,
      ip: request.ip,
      sessionToken: sessionCookieOf(request),
      body: form.reply,
    });
    switch (result.kind) {
      case 'sent':
        return reply.redirect(`/${token}/message?replied=1`, 303);
      case 'invalid':
        return renderMessage(reply, token, result.view, { errors: { reply: { href: '#reply', text: result.message } }, replyValue: result.body }, 400);
      case 'not_allowed':
        return renderMessage(reply, token, result.view, { refused: true }, 409);
      default:
        return accessProblemReply(reply, services, token, result);
    }
  });
}
