// The audit viewer's pages (permission 'readAudit'): the organisation's trail with filters, one
// patient's whole trail, and the CSV export. HTTP only: parse, call one service function, render.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { FormErrors } from '../../platform/http/pages.ts';
import { currentStaff, requirePermission, staffLayout } from '../staff/staff-session.hooks.ts';
import {
  auditFilterChoices,
  auditPatient,
  exportAuditCsv,
  filtersQuery,
  parseAuditFilters,
  readAuditPage,
  type AuditFilterField,
  type AuditFilterInput,
  type ParsedAuditFilters,
} from './audit-viewer.service.ts';

const LIST_VIEW = 'audit-viewer/views/audit-list.njk';
const PATIENT_VIEW = 'audit-viewer/views/audit-patient.njk';

const text = z.string().max(200).optional().catch(undefined);
// No NHS number here: it is posted (the form) and the page's address names the patient by id.
const filterQuery = z.object({ patient: text, staff: text, type: text, from: text, to: text, before: z.coerce.number().int().positive().optional().catch(undefined) });
const patientParams = z.object({ patientId: z.string() });

type Body = Record<string, unknown>;
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

const FIELD_IDS: Record<AuditFilterField, string> = { nhsNumber: '#nhsNumber', staff: '#staff', type: '#type', from: '#from', to: '#to' };

function formErrors(parsed: Extract<ParsedAuditFilters, { ok: false }>): FormErrors {
  const errors: FormErrors = {};
  for (const [field, message] of Object.entries(parsed.errors) as [AuditFilterField, string][]) errors[field] = { href: FIELD_IDS[field], text: message };
  return errors;
}

export async function auditViewerRoutes(app: FastifyInstance): Promise<void> {
  if (!app.hasRequestDecorator('staff')) app.decorateRequest('staff', null);
  const services = app.services;
  const readAudit = { preHandler: requirePermission('readAudit') };

  async function listPage(request: FastifyRequest, reply: FastifyReply, parsed: ParsedAuditFilters, beforeId: number | undefined) {
    const staff = currentStaff(request);
    const choices = await auditFilterChoices(services.db, staff.organisation.id);
    const common = { pageTitle: 'Audit trail', ...staffLayout(staff), values: parsed.values, choices };
    if (!parsed.ok) return reply.page(LIST_VIEW, { ...common, errors: formErrors(parsed) }, { status: 400 });
    const page = await readAuditPage(services, {
      organisationId: staff.organisation.id,
      staffId: staff.user.id,
      ip: request.ip,
      filters: parsed.filters,
      values: parsed.values,
      beforeId,
      view: 'list',
    });
    const query = filtersQuery(parsed.filters, parsed.values);
    return reply.page(LIST_VIEW, { ...common, page, query, filtered: query !== '', patient: parsed.patient, paged: beforeId !== undefined });
  }

  app.get('/staff/audit', readAudit, async (request, reply) => {
    const staff = currentStaff(request);
    const { before, ...query } = filterQuery.parse(request.query ?? {});
    const parsed = await parseAuditFilters(services.db, staff.organisation.id, query);
    return listPage(request, reply, parsed, before);
  });

  // The filter form posts (an NHS number must not go into an address) and is sent to the page's
  // address with the patient named by id.
  app.post('/staff/audit', readAudit, async (request, reply) => {
    const staff = currentStaff(request);
    const body = (request.body ?? {}) as Body;
    const input: AuditFilterInput = { nhsNumber: str(body.nhsNumber), staff: str(body.staff), type: str(body.type), from: str(body.from), to: str(body.to) };
    const parsed = await parseAuditFilters(services.db, staff.organisation.id, input);
    if (!parsed.ok) return listPage(request, reply, parsed, undefined);
    const query = filtersQuery(parsed.filters, parsed.values);
    return reply.redirect(query ? `/staff/audit?${query}` : '/staff/audit', 303);
  });

  app.get('/staff/audit.csv', readAudit, async (request, reply) => {
    const staff = currentStaff(request);
    const { before: _ignored, ...query } = filterQuery.parse(request.query ?? {});
    const parsed = await parseAuditFilters(services.db, staff.organisation.id, query);
    if (!parsed.ok) return listPage(request, reply, parsed, undefined);
    const csv = await exportAuditCsv(services, { organisationId: staff.organisation.id, staffId: staff.user.id, ip: request.ip, filters: parsed.filters, values: parsed.values });
    const day = services.now().toISOString().slice(0, 10);
    return reply
      .header('Content-Type', 'text/csv; charset=utf-8')
      .header('Content-Disposition', `attachment; filename="audit-trail-${day}.csv"`)
      .header('Cache-Control', 'no-store')
      .send(csv);
  });

  app.get('/staff/audit/patients/:patientId', readAudit, async (request, reply) => {
    const staff = currentStaff(request);
    const { patientId } = patientParams.parse(request.params);
    const { before } = filterQuery.parse(request.query ?? {});
    const patient = await auditPatient(services.db, staff.organisation.id, patientId);
    const page = await readAuditPage(services, {
      organisationId: staff.organisation.id,
      staffId: staff.user.id,
      ip: request.ip,
      filters: { organisationId: staff.organisation.id, patientId: patient.id },
      values: { nhsNumber: '', staff: '', type: '', from: '', to: '' },
      beforeId: before,
      view: 'patient',
    });
    return reply.page(PATIENT_VIEW, {
      pageTitle: `Audit trail for ${patient.givenName} ${patient.familyName}`,
      ...staffLayout(staff),
      patient: { id: patient.id, name: `${patient.givenName} ${patient.familyName}`, nhsNumber: patient.nhsNumber, dateOfBirth: patient.dateOfBirth },
      page,
      paged: before !== undefined,
    });
  });
}
