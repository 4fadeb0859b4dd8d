// GET /dev/phone and /dev/phone/:number: the development "phone" showing the texts Dovecote would have
// sent. Registered only by devPhoneRoutes' guard: never in production, never with Notify.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { NotFoundError } from '../../platform/http/errors.ts';
import { devPhoneEnabled, getDevPhone, listDevPhones } from './dev-phone.service.ts';

const numberParams = z.object({ number: z.string().max(32) });

export async function devPhoneRoutes(app: FastifyInstance) {
  if (!devPhoneEnabled(app.services.config)) return;

  app.get('/dev/phone', async (_request, reply) => {
    const phones = await listDevPhones(app.services.db);
    return reply.page('sms/views/dev-phone.njk', { pageTitle: 'Development phone', phones });
  });

  app.get('/dev/phone/:number', async (request, reply) => {
    const params = numberParams.safeParse(request.params);
    const phone = params.success ? await getDevPhone(app.services.db, params.data.number) : null;
    if (!phone) throw new NotFoundError('not a UK mobile number');
    return reply.page('sms/views/dev-phone.njk', { pageTitle: `Texts to ${phone.number}`, phones: [phone], single: true });
  });
}
