// Staff compose: find a patient of the staff member's own organisation, preview the text message and
// send. Patients of other organisations are never found, shown or messaged: every look-up is scoped.
import { z } from 'zod';
import type { Queryable } from '../../platform/db/client.ts';
import { NotFound } from '../../platform/errors.ts';
import { isUuid } from '../../platform/ids.ts';
import type { Services } from '../../services.ts';
import { recordAudit } from '../audit/audit.service.ts';
import { linkUrl } from '../links/links.service.ts';
import {
  findPatientByNhsNumber,
  getPatient,
  searchPatientsByNameAndDob,
  type Patient,
} from '../patients/patients.service.ts';
import { renderSms, smsFragments } from '../sms/sms-texts.ts';
import { messageBodySchema, replyModes, sendMessage, type SentMessage } from './messages.service.ts';
import { messageKind } from './message.kind.ts';
import type { KindWords } from '../conversations/item-kinds.ts';
import type { StaffSubmission } from '../conversations/conversations.service.ts';

export type PatientSearch =
  | { by: 'nhs-number'; nhsNumber: string }
  | { by: 'name-dob'; familyName: string; dateOfBirth: string };

export async function findPatientsForStaff(db: Queryable, organisationId: string, search: PatientSearch): Promise<Patient[]> {
  if (search.by === 'nhs-number') {
    const patient = await findPatientByNhsNumber(db, organisationId, search.nhsNumber);
    return patient ? [patient] : [];
  }
  return searchPatientsByNameAndDob(db, organisationId, search.familyName, search.dateOfBirth);
}

/** The patient, if they belong to the organisation; otherwise 404 (never "forbidden": that would confirm they exist). */
export async function getPatientForStaff(db: Queryable, organisationId: string, patientId: string): Promise<Patient> {
  const patient = isUuid(patientId) ? await getPatient(db, organisationId, patientId) : undefined;
  if (!patient) throw new NotFound('Page not found', 'patient not found in this organisation');
  return patient;
}

interface StaffRead {
  organisationId: string;
  staffId: string;
  ip: string;
}

/**
 * The find-a-patient search, recorded as one 'patient.searched' event in the searcher's organisation.
 * The terms searched for are themselves patient identifiers (an NHS number, or a family name and date
 * of birth), so the event keeps only how the search was made and which patients it showed.
 */
export async function searchPatientsForStaff(services: Services, input: StaffRead & { search: PatientSearch }): Promise<Patient[]> {
  const found = await findPatientsForStaff(services.db, input.organisationId, input.search);
  await recordAudit(services.db, {
    type: 'patient.searched',
    actor: { type: 'staff', id: input.staffId, ip: input.ip },
    organisationId: input.organisationId,
    // A search can show several patients, so they are listed here rather than in patient_id.
    details: { searchBy: input.search.by, results: found.length, patientIds: found.map((p) => p.id) },
  });
  return found;
}

/** A page that shows one patient's details to staff (the compose page): 404 if not theirs, else 'patient.viewed'. */
export async function viewPatientForStaff(services: Services, input: StaffRead & { patientId: string }): Promise<Patient> {
  const patient = await getPatientForStaff(services.db, input.organisationId, input.patientId);
  await recordAudit(services.db, {
    type: 'patient.viewed',
    actor: { type: 'staff', id: input.staffId, ip: input.ip },
    organisationId: input.organisationId,
    patientId: patient.id,
  });
  return patient;
}

export const composeForm = z.object({
  body: messageBodySchema,
  replyMode: z.enum(replyModes, 'Select whether the patient can reply'),
});
export type ComposeForm = z.output<typeof composeForm>;

/** The text the patient will get, with a stand-in link of the real length, and how many parts it takes. */
export function messageLinkPreview(
  organisationName: string,
  publicBaseUrl: string,
  words: KindWords = messageKind.words,
): { text: string; fragments: number } {
  const text = renderSms('message_link', {
    organisation_name: organisationName,
    waiting: words.textWaiting,
    link: linkUrl(publicBaseUrl, 'x'.repeat(22)),
  });
  return { text, fragments: smsFragments(text) };
}

export async function sendStaffMessage(
  services: Services,
  input: ComposeForm & { organisationId: string; staffId: string; patientId: string; ip: string; submission?: StaffSubmission },
): Promise<SentMessage> {
  const patient = await getPatientForStaff(services.db, input.organisationId, input.patientId);
  return sendMessage(services, {
    organisationId: input.organisationId,
    patient,
    body: input.body,
    replyMode: input.replyMode,
    sentBy: { staffId: input.staffId },
    ip: input.ip,
    submission: input.submission,
  });
}
