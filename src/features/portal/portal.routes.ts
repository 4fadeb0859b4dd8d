// The patient portal's own pages: GET / (home page for patients), GET /portal (every conversation for
// the NHS number), POST /portal/sign-out, GET /portal/signed-out. A conversation opened from the list
// is served by the conversations feature under /portal/conversations/:id. HTTP only.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { isNhsLoginEnabled } from '../nhs-login/nhs-login.service.ts';
import { nhsLoginStartHref, PORTAL_RETURN_TO } from '../verification/nhs-login-destinations.ts';
import { portalPatientOf, portalSessionGuard } from '../verification/patient-access.ts';
import { clearPortalCookie, portalCookieOf } from '../verification/patient-pages.ts';
import { signOutOfPortal } from '../verification/portal-access.service.ts';
import { conversationPaths } from '../conversations/conversation-pages.ts';
import { listPortalConversations } from './portal.service.ts';

const homeQuery = z.object({ session: z.preprocess((v) => (typeof v === 'string' ? v : undefined), z.string().optional()) });

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

  app.get('/portal', { preHandler: portalSessionGuard }, async (request, reply) => {
    const conversations = await listPortalConversations(services, portalPatientOf(request));
    return reply.page('portal/views/portal.njk', {
      pageTitle: 'Your messages',
      conversations: conversations.map((c) => ({ ...c, href: conversationPaths.portal(c.id) })),
    });
  });

  app.post('/portal/sign-out', async (request, reply) => {
    await signOutOfPortal(services, { ip: request.ip, sessionToken: portalCookieOf(request) });
    clearPortalCookie(reply);
    return reply.redirect('/portal/signed-out', 303);
  });

  app.get('/portal/signed-out', async (_request, reply) => {
    return reply.page('portal/views/signed-out.njk', { pageTitle: 'You have signed out' });
  });
}
