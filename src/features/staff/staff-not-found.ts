// The staff workspace's "page not found": staff words and the staff menu, not the patient's page about
// links. Used for unknown paths under /staff and for a NotFound from a staff route (another
// organisation's conversation, say), which must look the same: neither says whether the thing exists.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { loadStaffSession, type StaffContext } from './staff-sessions.service.ts';
import { presentedStaffToken, staffLayout } from './staff-session.hooks.ts';

async function signedInStaffIfAny(request: FastifyRequest): Promise<StaffContext | null> {
  // Set when the 404 came from a route behind requireStaff; an unknown path has run no preHandler.
  const known = (request as { staff?: StaffContext | null }).staff;
  if (known) return known;
  const token = presentedStaffToken(request);
  if (!token) return null;
  try {
    return await loadStaffSession(request.server.services.db, token, request.server.services.now());
  } catch (error) {
    // The 404 must still be shown when the session cannot be read: as a page for someone signed out.
    request.log.warn({ errName: (error as Error).name }, 'staff session not loaded for the not-found page');
    return null;
  }
}

export async function staffNotFoundPage(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const staff = await signedInStaffIfAny(request);
  return reply.page('staff/views/not-found.njk', { pageTitle: 'Page not found', signedIn: staff !== null, ...staffLayout(staff) }, { status: 404 });
}

export async function staffNotFoundPages(app: FastifyInstance): Promise<void> {
  app.useNotFoundPage('/staff', staffNotFoundPage);
}
