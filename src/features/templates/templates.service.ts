// Message templates: an organisation's ready-made message texts, with placeholders filled for one
// patient when staff use one on the compose page. Admins manage them (permission 'manageTemplates');
// everyone who may send can use them. Each change is audited; a template holds no patient data itself.
import { z } from 'zod';
import type { Queryable } from '../../platform/db/client.ts';
import { NotFound } from '../../platform/errors.ts';
import { isUuid } from '../../platform/ids.ts';
import { CONTROL_CHARACTERS } from '../../platform/names.ts';
import type { Services } from '../../services.ts';
import { recordAudit } from '../audit/audit.service.ts';
import { messageBodySchema } from '../messages/messages.service.ts';
import { getPatient, type Patient } from '../patients/patients.service.ts';
import {
  deleteTemplateRow,
  findTemplate,
  insertTemplate,
  isTemplateNameConflict,
  listTemplates,
  templateNameTaken,
  updateTemplate,
  type MessageTemplate,
} from './templates.repository.ts';

export type { MessageTemplate };

export const TEMPLATE_NAME_MAX = 80;

/** What a placeholder is replaced with, given the patient and the organisation the message is from. */
interface FillWith {
  patient: Pick<Patient, 'givenName' | 'familyName'>;
  organisation: { name: string; contactPhone: string };
}
const PLACEHOLDERS: Record<string, (w: FillWith) => string> = {
  patient_first_name: (w) => w.patient.givenName,
  patient_name: (w) => `${w.patient.givenName} ${w.patient.familyName}`,
  organisation_name: (w) => w.organisation.name,
  organisation_phone: (w) => w.organisation.contactPhone,
};
export const PLACEHOLDER_NAMES = Object.keys(PLACEHOLDERS);
const PLACEHOLDER = /\(\(([^()]*)\)\)/g;

/** The placeholders in a body that Dovecote cannot fill, each once, in the order they appear. */
export function unknownPlaceholders(body: string): string[] {
  const unknown = [...body.matchAll(PLACEHOLDER)].map((m) => m[1]!).filter((name) => !(name in PLACEHOLDERS));
  return [...new Set(unknown)];
}

/**
 * The template's text for one patient. The result is checked again as a message body when it is sent
 * (a long name can take a template near the limit over it), so staff see that error and can shorten it.
 */
export function fillTemplate(template: Pick<MessageTemplate, 'body'>, fillWith: FillWith): string {
  return template.body.replace(PLACEHOLDER, (whole, name: string) => PLACEHOLDERS[name]?.(fillWith) ?? whole);
}

const placeholderList = PLACEHOLDER_NAMES.map((n) => `((${n}))`);
const knownPlaceholdersInWords = `${placeholderList.slice(0, -1).join(', ')} or ${placeholderList.at(-1)}`;

const templateForm = z.object({
  name: z
    .string('Enter a name for the template')
    .transform((v) => v.trim())
    .pipe(
      z
        .string()
        .min(1, 'Enter a name for the template')
        .max(TEMPLATE_NAME_MAX, `Template name must be ${TEMPLATE_NAME_MAX} characters or fewer`)
        .refine((v) => !CONTROL_CHARACTERS.test(v), 'Template name must not contain control characters'),
    ),
  // The length is checked with the placeholders as written; the filled text is checked again at sending.
  body: messageBodySchema.refine((v) => unknownPlaceholders(v).length === 0, {
    error: (issue) => {
      const [first] = unknownPlaceholders(String(issue.input));
      return `The message uses ((${first})), which is not a placeholder Dovecote can fill. Use ${knownPlaceholdersInWords}`;
    },
  }),
});

export type TemplateFormField = 'name' | 'body';
export type TemplateResult = { ok: true; template: MessageTemplate } | { ok: false; errors: Partial<Record<TemplateFormField, string>> };

function formProblems(input: { name: unknown; body: unknown }): { ok: true; name: string; body: string } | { ok: false; errors: Partial<Record<TemplateFormField, string>> } {
  const parsed = templateForm.safeParse(input);
  if (parsed.success) return { ok: true, ...parsed.data };
  const errors: Partial<Record<TemplateFormField, string>> = {};
  for (const issue of parsed.error.issues) {
    const field = issue.path[0] as TemplateFormField;
    errors[field] ??= issue.message;
  }
  return { ok: false, errors };
}

const nameTakenMessage = (name: string) => `A template called ${name} already exists`;

interface StaffAction {
  organisationId: string;
  staffId: string;
  ip: string;
}

export async function templatesOf(db: Queryable, organisationId: string): Promise<MessageTemplate[]> {
  return listTemplates(db, organisationId);
}

/** The organisation's template, or NotFound (another organisation's id looks the same as no id). */
export async function templateOf(db: Queryable, organisationId: string, templateId: string): Promise<MessageTemplate> {
  const template = isUuid(templateId) ? await findTemplate(db, organisationId, templateId) : undefined;
  if (!template) throw new NotFound('Page not found', 'template not found in this organisation');
  return template;
}

export async function createTemplate(services: Services, input: StaffAction & { name: unknown; body: unknown }): Promise<TemplateResult> {
  const form = formProblems(input);
  if (!form.ok) return form;
  try {
    const template = await services.db.transaction(async (tx) => {
      if (await templateNameTaken(tx, input.organisationId, form.name)) return undefined;
      const created = await insertTemplate(tx, { organisationId: input.organisationId, name: form.name, body: form.body, createdByStaffId: input.staffId, now: services.now() });
      await recordAudit(tx, {
        type: 'template.created',
        actor: { type: 'staff', id: input.staffId, ip: input.ip },
        organisationId: input.organisationId,
        details: { templateId: created.id, name: created.name },
      });
      return created;
    });
    return template ? { ok: true, template } : { ok: false, errors: { name: nameTakenMessage(form.name) } };
  } catch (error) {
    // Two admins adding the same name at once: the index decides, and the loser is told as above.
    if (isTemplateNameConflict(error)) return { ok: false, errors: { name: nameTakenMessage(form.name) } };
    throw error;
  }
}

export async function changeTemplate(services: Services, input: StaffAction & { templateId: string; name: unknown; body: unknown }): Promise<TemplateResult> {
  const existing = await templateOf(services.db, input.organisationId, input.templateId);
  const form = formProblems(input);
  if (!form.ok) return form;
  try {
    const template = await services.db.transaction(async (tx) => {
      if (await templateNameTaken(tx, input.organisationId, form.name, existing.id)) return 'taken' as const;
      const changed = await updateTemplate(tx, input.organisationId, existing.id, { name: form.name, body: form.body, now: services.now() });
      if (!changed) return undefined;
      await recordAudit(tx, {
        type: 'template.changed',
        actor: { type: 'staff', id: input.staffId, ip: input.ip },
        organisationId: input.organisationId,
        details: { templateId: changed.id, name: changed.name, ...(existing.name !== changed.name ? { previousName: existing.name } : {}) },
      });
      return changed;
    });
    if (template === 'taken') return { ok: false, errors: { name: nameTakenMessage(form.name) } };
    // Deleted by another admin between the look-up and the update.
    if (!template) throw new NotFound('Page not found', 'template deleted meanwhile');
    return { ok: true, template };
  } catch (error) {
    if (isTemplateNameConflict(error)) return { ok: false, errors: { name: nameTakenMessage(form.name) } };
    throw error;
  }
}

export async function deleteTemplate(services: Services, input: StaffAction & { templateId: string }): Promise<MessageTemplate> {
  if (!isUuid(input.templateId)) throw new NotFound('Page not found', 'template id is not a uuid');
  return services.db.transaction(async (tx) => {
    const deleted = await deleteTemplateRow(tx, input.organisationId, input.templateId);
    if (!deleted) throw new NotFound('Page not found', 'template not found in this organisation');
    await recordAudit(tx, {
      type: 'template.deleted',
      actor: { type: 'staff', id: input.staffId, ip: input.ip },
      organisationId: input.organisationId,
      details: { templateId: deleted.id, name: deleted.name },
    });
    return deleted;
  });
}

/** The compose page's "Use a template" list: the organisation's templates, by name. */
export async function templatesForCompose(db: Queryable, organisationId: string): Promise<{ id: string; name: string }[]> {
  return (await listTemplates(db, organisationId)).map(({ id, name }) => ({ id, name }));
}

/**
 * The compose page's message box filled from one of the organisation's templates for one of its
 * patients; undefined when either is not the organisation's (another organisation's template id is
 * ignored, never filled), so the page shows as if no template had been asked for.
 */
export async function filledTemplateForCompose(
  db: Queryable,
  input: { organisation: FillWith['organisation'] & { id: string }; patientId: string; templateId: string },
): Promise<string | undefined> {
  if (!isUuid(input.templateId) || !isUuid(input.patientId)) return undefined;
  const [template, patient] = await Promise.all([findTemplate(db, input.organisation.id, input.templateId), getPatient(db, input.organisation.id, input.patientId)]);
  if (!template || !patient) return undefined;
  return fillTemplate(template, { patient, organisation: input.organisation });
}
