// Admin pages for message templates: list, add, change and delete (permission 'manageTemplates').
// HTTP only: parse, call one service function, render or redirect.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { FormErrors } from '../../platform/http/pages.ts';
import { currentStaff, requirePermission, staffLayout } from '../staff/staff-session.hooks.ts';
import { MESSAGE_BODY_MAX } from '../messages/messages.service.ts';
import {
  changeTemplate,
  createTemplate,
  deleteTemplate,
  PLACEHOLDER_NAMES,
  TEMPLATE_NAME_MAX,
  templateOf,
  templatesOf,
  type TemplateResult,
} from './templates.service.ts';

const LIST_VIEW = 'templates/views/templates-list.njk';
const FORM_VIEW = 'templates/views/template-form.njk';
const DELETE_VIEW = 'templates/views/template-delete.njk';

const templateParams = z.object({ templateId: z.string() });
const listQuery = z.object({ done: z.enum(['added', 'changed', 'deleted']).optional().catch(undefined) });

type Body = Record<string, unknown>;
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

function formErrors(result: Extract<TemplateResult, { ok: false }>): FormErrors {
  const errors: FormErrors = {};
  if (result.errors.name) errors.name = { href: '#name', text: result.errors.name };
  if (result.errors.body) errors.body = { href: '#body', text: result.errors.body };
  return errors;
}

export async function templateRoutes(app: FastifyInstance): Promise<void> {
  if (!app.hasRequestDecorator('staff')) app.decorateRequest('staff', null);
  const services = app.services;
  const manage = { preHandler: requirePermission('manageTemplates') };
  const staffPage = (request: FastifyRequest) => staffLayout(currentStaff(request));
  const formPage = (request: FastifyRequest, extra: Record<string, unknown>) => ({
    ...staffPage(request),
    placeholders: PLACEHOLDER_NAMES.map((n) => `((${n}))`),
    maxLength: MESSAGE_BODY_MAX,
    nameMaxLength: TEMPLATE_NAME_MAX,
    ...extra,
  });
  const typed = (body: Body) => ({ name: str(body.name).slice(0, TEMPLATE_NAME_MAX * 4), body: str(body.body).slice(0, MESSAGE_BODY_MAX * 2) });

  app.get('/staff/templates', manage, async (request, reply) => {
    const staff = currentStaff(request);
    const { done } = listQuery.parse(request.query ?? {});
    const templates = await templatesOf(services.db, staff.organisation.id);
    return reply.page(LIST_VIEW, { pageTitle: 'Message templates', ...staffPage(request), templates, done });
  });

  app.get('/staff/templates/new', manage, async (request, reply) => {
    return reply.page(FORM_VIEW, formPage(request, { pageTitle: 'Add a template', action: '/staff/templates/new', values: {} }));
  });

  app.post('/staff/templates/new', manage, async (request, reply) => {
    const staff = currentStaff(request);
    const body = (request.body ?? {}) as Body;
    const result = await createTemplate(services, { organisationId: staff.organisation.id, staffId: staff.user.id, ip: request.ip, name: body.name, body: body.body });
    if (result.ok) return reply.redirect('/staff/templates?done=added', 303);
    return reply.page(FORM_VIEW, formPage(request, { pageTitle: 'Add a template', action: '/staff/templates/new', values: typed(body), errors: formErrors(result) }), { status: 400 });
  });

  app.get('/staff/templates/:templateId', manage, async (request, reply) => {
    const staff = currentStaff(request);
    const { templateId } = templateParams.parse(request.params);
    const template = await templateOf(services.db, staff.organisation.id, templateId);
    return reply.page(
      FORM_VIEW,
      formPage(request, { pageTitle: 'Change a template', action: `/staff/templates/${template.id}`, template, values: { name: template.name, body: template.body } }),
    );
  });

  app.post('/staff/templates/:templateId', manage, async (request, reply) => {
    const staff = currentStaff(request);
    const { templateId } = templateParams.parse(request.params);
    const body = (request.body ?? {}) as Body;
    const result = await changeTemplate(services, { organisationId: staff.organisation.id, staffId: staff.user.id, ip: request.ip, templateId, name: body.name, body: body.body });
    if (result.ok) return reply.redirect('/staff/templates?done=changed', 303);
    return reply.page(
      FORM_VIEW,
      formPage(request, { pageTitle: 'Change a template', action: `/staff/templates/${templateId}`, template: { id: templateId }, values: typed(body), errors: formErrors(result) }),
      { status: 400 },
    );
  });

  app.get('/staff/templates/:templateId/delete', manage, async (request, reply) => {
    const staff = currentStaff(request);
    const { templateId } = templateParams.parse(request.params);
    const template = await templateOf(services.db, staff.organisation.id, templateId);
    return reply.page(DELETE_VIEW, { pageTitle: `Delete the template ${template.name}`, ...staffPage(request), template });
  });

  app.post('/staff/templates/:templateId/delete', manage, async (request, reply) => {
    const staff = currentStaff(request);
    const { templateId } = templateParams.parse(request.params);
    await deleteTemplate(services, { organisationId: staff.organisation.id, staffId: staff.user.id, ip: request.ip, templateId });
    return reply.redirect('/staff/templates?done=deleted', 303);
  });
}
