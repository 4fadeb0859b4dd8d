// POST /callbacks/notify/sms: GOV.UK Notify's delivery receipts. Authenticated by the bearer token we
// gave Notify (NOTIFY_CALLBACK_TOKEN), not a cookie, so CSRF does not apply. Answers are problem
// documents, like the API's. Registered only when SMS_PROVIDER=notify (only then is there a token).
import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify';
import { STATUS_CODES } from 'node:http';
import { callbackTokenMatches, notifyReceiptSchema, recordNotifyReceipt } from './delivery-receipts.service.ts';

function problem(reply: FastifyReply, status: number, detail: string, errors?: Array<{ field: string; message: string }>) {
  return reply
    .status(status)
    .type('application/problem+json')
    .send({ type: 'about:blank', title: STATUS_CODES[status] ?? 'Error', status, detail, ...(errors ? { errors } : {}) });
}

export async function notifyCallbackRoutes(app: FastifyInstance, opts: { callbackToken: string }) {
  // Checked before the body is read: a caller without the token learns nothing about what we accept.
  app.addHook('onRequest', async (request, reply) => {
    if (!callbackTokenMatches(request.headers.authorization, opts.callbackToken)) {
      reply.header('WWW-Authenticate', 'Bearer');
      return problem(reply, 401, 'Send the callback bearer token in the Authorization header.');
    }
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
    if (status >= 500) {
      request.log.error({ err: error }, 'delivery receipt failed');
      return problem(reply, 500, 'Sorry, there is a problem with the service. Try again later.');
    }
    return problem(reply, status, status === 400 ? 'The request body is not valid JSON.' : 'The request is not valid.');
  });

  app.post('/callbacks/notify/sms', { config: { skipCsrf: true } }, async (request, reply) => {
    const parsed = notifyReceiptSchema.safeParse(request.body);
    if (!parsed.success) {
      const errors = parsed.error.issues.map((issue) => ({
        field: issue.path.length > 0 ? issue.path.map(String).join('.') : '(body)',
        message: issue.path.length > 0 ? issue.message : 'The request body must be a JSON object',
      }));
      return problem(reply, 400, 'The delivery receipt is not valid. Each entry in errors names a field.', errors);
    }
    const result = await recordNotifyReceipt(app.services, parsed.data);
    request.log.info({ result, status: parsed.data.status }, 'delivery receipt');
    return reply.status(200).send({ result });
  });
}
