// The staff page of one patient (GET /staff/patients/:patientId). HTTP only.
import type { FastifyInstance } from 'fastify';
import { sendFormIds } from '../staff/staff-submissions.ts';
import { z } from 'zod';
import { patientSummary } from '../messages/staff-words.ts';
import { currentStaff, requirePermission, staffLayout } from '../staff/staff-session.hooks.ts';
import { viewPatientPage } from './staff-patient.service.ts';

const patientParams = z.object({ patientId: z.string() });

export async function staffPatientRoutes(app: FastifyInstance): Promise<void> {
  if (!app.hasRequestDecorator('staff')) app.decorateRequest('staff', null);
  const services = app.services;

  app.get('/staff/patients/:patientId', { preHandler: requirePermission('send') }, async (request, reply) => {
    const staff = currentStaff(request);
    const { patientId } = patientParams.parse(request.params);
    const view = await viewPatientPage(services, { organisationId: staff.organisation.id, staffId: staff.user.id, ip: request.ip, patientId });
    const patient = patientSummary(view.patient);
    return reply.page('patients/views/staff-patient.njk', {
      pageTitle: patient.name,
      ...staffLayout(staff),
      patient,
      conversations: view.conversations,
      formIds: sendFormIds(),
    });
  });
}
