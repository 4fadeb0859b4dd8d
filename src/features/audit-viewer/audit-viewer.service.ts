// The audit viewer (permission 'readAudit'): an organisation's audit trail for its admins, in words,
// filtered, paged, and exported as CSV. Only the organisation's own events are ever read (see the
// repository), and reading the trail is itself audited: the filters used, never the events shown.
import { pipeline, Readable } from 'node:stream';
import { stringify } from 'csv-stringify';
import type { Queryable } from '../../platform/db/client.ts';
import { NotFound } from '../../platform/errors.ts';
import { isUuid } from '../../platform/ids.ts';
import { ukDayBounds } from '../../platform/uk-day.ts';
import type { Services } from '../../services.ts';
import { recordAudit } from '../audit/audit.service.ts';
import { findPatientByNhsNumber, getPatient, nhsNumberSchema, type Patient } from '../patients/patients.service.ts';
import {
  auditEventsPage,
  auditTypesPresent,
  organisationApiKeyNames,
  organisationStaff,
  patientsNamed,
  type AuditFilters,
  type AuditRow,
} from './audit-viewer.repository.ts';

export const AUDIT_PAGE_SIZE = 100;
const EXPORT_BATCH_SIZE = 1000;

/** What the filter form or the page's address says, as typed. */
export interface AuditFilterInput {
  nhsNumber?: string;
  patient?: string;
  staff?: string;
  type?: string;
  from?: string;
  to?: string;
}
export type AuditFilterField = 'nhsNumber' | 'staff' | 'type' | 'from' | 'to';

export type ParsedAuditFilters =
  | { ok: true; filters: AuditFilters; patient: Patient | undefined; values: Record<AuditFilterField, string> }
  | { ok: false; errors: Partial<Record<AuditFilterField, string>>; values: Record<AuditFilterField, string> };

const UK_DATE = /^(\d{1,2})\/(\d{1,2})\/(\d{4})$/;

/** A UK date as typed (27/11/2026) → the London day it names, or undefined if it is not a real date. */
export function parseUkDate(text: string): { start: Date; end: Date } | undefined {
  const match = UK_DATE.exec(text.trim());
  if (!match) return undefined;
  const [day, month, year] = [Number(match[1]), Number(match[2]), Number(match[3])];
  if (year < 2000 || year > 2100 || month < 1 || month > 12 || day < 1) return undefined;
  // Midday UTC falls on the same calendar day in London whatever the clocks say.
  const midday = new Date(Date.UTC(year, month - 1, day, 12));
  if (midday.getUTCDate() !== day) return undefined;
  return ukDayBounds(midday);
}

/** The filters, checked: the patient and the staff member must be the organisation's own. */
export async function parseAuditFilters(db: Queryable, organisationId: string, input: AuditFilterInput): Promise<ParsedAuditFilters> {
  const values: Record<AuditFilterField, string> = {
    nhsNumber: (input.nhsNumber ?? '').slice(0, 40),
    staff: (input.staff ?? '').slice(0, 100),
    type: (input.type ?? '').slice(0, 100),
    from: (input.from ?? '').trim().slice(0, 20),
    to: (input.to ?? '').trim().slice(0, 20),
  };
  const errors: Partial<Record<AuditFilterField, string>> = {};
  const filters: AuditFilters = { organisationId };
  let patient: Patient | undefined;

  if (values.nhsNumber.trim() !== '') {
    const nhs = nhsNumberSchema.safeParse(values.nhsNumber);
    if (!nhs.success) errors.nhsNumber = 'Enter a valid 10-digit NHS number';
    else {
      patient = await findPatientByNhsNumber(db, organisationId, nhs.data);
      if (!patient) errors.nhsNumber = 'No patient in your organisation has this NHS number';
    }
  } else if (input.patient) {
    // A patient id in the address (from a link on these pages): another organisation's is not found.
    patient = isUuid(input.patient) ? await getPatient(db, organisationId, input.patient) : undefined;
    if (!patient) throw new NotFound('Page not found', 'audit filter names a patient not in this organisation');
    values.nhsNumber = patient.nhsNumber;
  }
  if (patient) filters.patientId = patient.id;

  if (values.staff !== '') {
    const staff = await organisationStaff(db, organisationId);
    if (staff.some((s) => s.id === values.staff)) filters.staffId = values.staff;
    else errors.staff = 'Select a staff member from the list';
  }
  if (values.type !== '') {
    if (/^[a-z0-9_.]+$/.test(values.type)) filters.type = values.type;
    else errors.type = 'Select an event from the list';
  }
  const from = values.from === '' ? undefined : parseUkDate(values.from);
  const to = values.to === '' ? undefined : parseUkDate(values.to);
  if (values.from !== '' && !from) errors.from = "The 'from' date must be a real date, for example 27/11/2026";
  if (values.to !== '' && !to) errors.to = "The 'to' date must be a real date, for example 27/11/2026";
  if (from && to && to.end <= from.start) errors.to = "The 'to' date must be the same as or after the 'from' date";
  if (from) filters.from = from.start;
  if (to) filters.to = to.end;

  if (Object.keys(errors).length > 0) return { ok: false, errors, values };
  return { ok: true, filters, patient, values };
}

/** The filters as a query string for links (the patient by id: NHS numbers stay out of addresses). */
export function filtersQuery(filters: AuditFilters, values: Record<AuditFilterField, string>): string {
  const query = new URLSearchParams();
  if (filters.patientId) query.set('patient', filters.patientId);
  if (filters.staffId) query.set('staff', filters.staffId);
  if (filters.type) query.set('type', filters.type);
  if (filters.from) query.set('from', values.from);
  if (filters.to) query.set('to', values.to);
  return query.toString();
}

/** What the audit event of a read records: the filters, never the events. */
function filtersForAudit(filters: AuditFilters, values: Record<AuditFilterField, string>) {
  return {
    ...(filters.patientId ? { patientId: filters.patientId } : {}),
    ...(filters.staffId ? { staffId: filters.staffId } : {}),
    ...(filters.type ? { type: filters.type } : {}),
    ...(filters.from ? { from: values.from } : {}),
    ...(filters.to ? { to: values.to } : {}),
  };
}

// What happened, in words, for the types staff meet most; any other type is shown as it is stored.
const EVENT_WORDS: Record<string, string> = {
  'link.opened': 'Opened the secure link',
  'link.dob_wrong': 'Entered a date of birth that did not match',
  'link.dob_right': 'Entered the right date of birth',
  'link.locked': 'The link was locked after wrong dates of birth',
  'link.revoked': 'Stopped a link working',
  'code.sent': 'A security code was sent by text message',
  'code.wrong': 'Entered a wrong security code',
  'code.right': 'Entered the right security code',
  'code.burned': 'A security code stopped working after wrong tries',
  'device.trusted': 'A device was remembered for the link',
  'message.read': 'Read the message',
  'message.sent': 'Sent a message',
  'reply.sent': 'Sent a reply',
  'conversation.viewed': 'Looked at a conversation',
  'patient.searched': 'Searched for patients',
  'patient.viewed': "Looked at a patient's details",
  'inbox.viewed': 'Looked at the inbox',
  'patient.created': 'Added a patient',
  'patient.updated': "Changed a patient's details",
  'staff.signed_in': 'Signed in',
  'staff.sign_in_failed': 'Tried to sign in, but it did not work',
  'staff.signed_out': 'Signed out',
  'portal.signed_in': 'Signed in with NHS login',
  'portal.signed_out': 'Signed out of NHS login',
  'portal.listed': 'Looked at their messages with NHS login',
  'nhs_login.verified': 'Confirmed who they are with NHS login',
  'nhs_login.mismatch': "Used an NHS login that does not match the patient's record",
  'file.uploaded': 'Uploaded a file',
  'file.refused': 'A file was refused',
  'file.downloaded': 'Downloaded a file',
  'document.opened': 'Opened a document',
  'document.downloaded': 'Downloaded a document',
  'booking.booked': 'Booked an appointment',
  'booking.changed': 'Changed an appointment',
  'booking.cancelled': 'Cancelled an appointment',
  'questionnaire.sent': 'Sent a questionnaire',
  'questionnaire.answered': 'Answered a questionnaire',
  'questionnaire_response.viewed': 'Looked at questionnaire answers',
  'template.created': 'Added a message template',
  'template.changed': 'Changed a message template',
  'template.deleted': 'Deleted a message template',
  'audit.viewed': 'Looked at the audit trail',
  'audit.exported': 'Downloaded the audit trail',
};

export function eventWords(row: Pick<AuditRow, 'type' | 'details'>): string {
  const words = EVENT_WORDS[row.type];
  if (!words) return row.type;
  if (row.type === 'patient.searched' && typeof row.details.results === 'number') {
    return `${words} (${row.details.results} found)`;
  }
  if (row.type.startsWith('template.') && typeof row.details.name === 'string') return `${words}: ${row.details.name}`;
  return words;
}

interface Names {
  staff: Map<string, string>;
  apiKeys: Map<string, string>;
  patients: Map<string, { name: string; nhsNumber: string }>;
}

export function actorWords(row: Pick<AuditRow, 'actorType' | 'actorId'>, names: Pick<Names, 'staff' | 'apiKeys'>): string {
  switch (row.actorType) {
    case 'staff':
      return (row.actorId && names.staff.get(row.actorId)) || 'A staff member';
    case 'patient_link':
      return 'The patient (secure link)';
    case 'patient_nhs_login':
      return 'The patient (NHS login)';
    case 'api_key': {
      const name = row.actorId ? names.apiKeys.get(row.actorId) : undefined;
      return name ? `API key: ${name}` : 'An API key';
    }
    case 'operator':
      return 'The team that runs Dovecote';
    default:
      return 'System';
  }
}

export interface AuditEventView {
  id: number;
  occurredAt: Date;
  who: string;
  what: string;
  type: string;
  patient: { id: string; name: string; nhsNumber: string } | null;
  ip: string | null;
  details: Record<string, unknown>;
}

async function namesFor(db: Queryable, organisationId: string, rows: AuditRow[]): Promise<Names> {
  const patientIds = [...new Set(rows.map((r) => r.patientId).filter((id): id is string => id !== null))];
  const [staff, keys, named] = await Promise.all([
    organisationStaff(db, organisationId),
    organisationApiKeyNames(db, organisationId),
    patientsNamed(db, organisationId, patientIds),
  ]);
  return {
    staff: new Map(staff.map((s) => [s.id, s.name])),
    apiKeys: new Map(keys.map((k) => [k.id, k.name])),
    patients: new Map(named.map((p) => [p.id, { name: `${p.givenName} ${p.familyName}`, nhsNumber: p.nhsNumber }])),
  };
}

function inWords(rows: AuditRow[], names: Names): AuditEventView[] {
  return rows.map((row) => {
    const patient = row.patientId ? names.patients.get(row.patientId) : undefined;
    return {
      id: row.id,
      occurredAt: row.occurredAt,
      who: actorWords(row, names),
      what: eventWords(row),
      type: row.type,
      patient: patient && row.patientId ? { id: row.patientId, ...patient } : null,
      ip: row.ip,
      details: row.details,
    };
  });
}

interface AuditReader {
  organisationId: string;
  staffId: string;
  ip: string;
}

export interface AuditPage {
  events: AuditEventView[];
  /** The id to page on from, when there are older events. */
  olderThan: number | undefined;
}

/** One page of events (newest first), recorded as 'audit.viewed' with the filters. */
export async function readAuditPage(
  services: Services,
  input: AuditReader & { filters: AuditFilters; values: Record<AuditFilterField, string>; beforeId?: number; view: 'list' | 'patient' },
): Promise<AuditPage> {
  const rows = await auditEventsPage(services.db, input.filters, { beforeId: input.beforeId, limit: AUDIT_PAGE_SIZE + 1 });
  const shown = rows.slice(0, AUDIT_PAGE_SIZE);
  const names = await namesFor(services.db, input.organisationId, shown);
  await recordAudit(services.db, {
    type: 'audit.viewed',
    actor: { type: 'staff', id: input.staffId, ip: input.ip },
    organisationId: input.organisationId,
    patientId: input.filters.patientId ?? null,
    details: { view: input.view, filters: filtersForAudit(input.filters, input.values), ...(input.beforeId ? { olderThan: input.beforeId } : {}) },
  });
  return { events: inWords(shown, names), olderThan: rows.length > AUDIT_PAGE_SIZE ? shown.at(-1)!.id : undefined };
}

/** The filter form's choices: the organisation's staff and the event types its trail holds. */
export async function auditFilterChoices(db: Queryable, organisationId: string) {
  const [staff, types] = await Promise.all([organisationStaff(db, organisationId), auditTypesPresent(db, organisationId)]);
  return { staff, types: types.map((type) => ({ type, words: EVENT_WORDS[type] ?? type })) };
}

/** The patient whose whole trail is asked for, if they are the organisation's (else NotFound). */
export async function auditPatient(db: Queryable, organisationId: string, patientId: string): Promise<Patient> {
  const patient = isUuid(patientId) ? await getPatient(db, organisationId, patientId) : undefined;
  if (!patient) throw new NotFound('Page not found', 'audit page for a patient not in this organisation');
  return patient;
}

/**
 * A cell that a spreadsheet would run as a formula (=, +, -, @, tab, carriage return first) is
 * prefixed with a single quote (OWASP "CSV injection"): the export holds text from staff and patients.
 */
export function spreadsheetSafe(value: string): string {
  return /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
}

const CSV_COLUMNS = ['Time (UTC)', 'Who', 'What', 'Event type', 'Patient', 'NHS number', 'IP address', 'Details'];

/**
 * The whole filtered trail as CSV, read in batches as the response is written (a large date range never
 * sits in memory), recorded as 'audit.exported' with the filters before the first byte.
 */
export async function exportAuditCsv(services: Services, input: AuditReader & { filters: AuditFilters; values: Record<AuditFilterField, string> }): Promise<Readable> {
  await recordAudit(services.db, {
    type: 'audit.exported',
    actor: { type: 'staff', id: input.staffId, ip: input.ip },
    organisationId: input.organisationId,
    patientId: input.filters.patientId ?? null,
    details: { filters: filtersForAudit(input.filters, input.values) },
  });
  const { db } = services;
  async function* records(): AsyncGenerator<string[]> {
    let beforeId: number | undefined;
    for (;;) {
      const rows = await auditEventsPage(db, input.filters, { beforeId, limit: EXPORT_BATCH_SIZE });
      if (rows.length === 0) return;
      const names = await namesFor(db, input.organisationId, rows);
      for (const event of inWords(rows, names)) {
        yield [
          event.occurredAt.toISOString(),
          event.who,
          event.what,
          event.type,
          event.patient?.name ?? '',
          event.patient?.nhsNumber ?? '',
          event.ip ?? '',
          JSON.stringify(event.details),
        ].map(spreadsheetSafe);
      }
      if (rows.length < EXPORT_BATCH_SIZE) return;
      beforeId = rows.at(-1)!.id;
    }
  }
  // pipeline, not pipe: a reader who goes away (or a failed query) stops the batches too.
  return pipeline(Readable.from(records()), stringify({ header: true, columns: CSV_COLUMNS }), () => undefined);
}
