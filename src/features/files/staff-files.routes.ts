// Staff file routes: download a sent file, see an image's thumbnail. HTTP only.
import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { currentStaff, requirePermission, staffLayout } from '../staff/staff-session.hooks.ts';
import { sendStoredFile } from './file-responses.ts';
import { downloadFileForStaff, FileGone, NoThumbnail, thumbnailForStaff } from './staff-files.service.ts';

const fileParams = z.object({ fileId: z.string().max(100) });

export async function staffFileRoutes(app: FastifyInstance): Promise<void> {
  if (!app.hasRequestDecorator('staff')) app.decorateRequest('staff', null);
  const services = app.services;

  async function gone(reply: FastifyReply, request: Parameters<typeof currentStaff>[0]) {
    return reply.page(
      'files/views/staff-file-gone.njk',
      { pageTitle: 'This file is no longer available', ...staffLayout(currentStaff(request)) },
      { status: 410 },
    );
  }

  // No HEAD routes: a HEAD would be audited as a download without anyone seeing the file.
  app.get('/staff/files/:fileId', { preHandler: requirePermission('readReplies'), exposeHeadRoute: false }, async (request, reply) => {
    const staff = currentStaff(request);
    const { fileId } = fileParams.parse(request.params);
    try {
      const { file, bytes } = await downloadFileForStaff(services, { organisationId: staff.organisation.id, staffId: staff.user.id, role: staff.user.role, fileId, ip: request.ip });
      return sendStoredFile(reply, file, bytes, 'attachment');
    } catch (error) {
      if (error instanceof FileGone) return gone(reply, request);
      throw error;
    }
  });

  app.get('/staff/files/:fileId/thumbnail', { preHandler: requirePermission('readReplies'), exposeHeadRoute: false }, async (request, reply) => {
    const staff = currentStaff(request);
    const { fileId } = fileParams.parse(request.params);
    try {
      const thumbnail = await thumbnailForStaff(services, { organisationId: staff.organisation.id, staffId: staff.user.id, role: staff.user.role, fileId, ip: request.ip });
      return reply
        .header('Content-Type', 'image/jpeg')
        .header('X-Content-Type-Options', 'nosniff')
        .header('Cache-Control', 'no-store')
        .header('Cross-Origin-Resource-Policy', 'same-origin')
        .send(thumbnail);
    } catch (error) {
      if (error instanceof FileGone) return reply.status(410).header('Cache-Control', 'no-store').send();
      // The image's name and its download link are on the page beside the empty thumbnail.
      if (error instanceof NoThumbnail) return reply.status(422).header('Cache-Control', 'no-store').send();
      throw error;
    }
  });
}
