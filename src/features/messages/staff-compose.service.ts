// Staff compose: find a patient of the staff member's own organisation, preview the text message and
// send. Patients of other organisations are never found, shown or messaged: every look-up is scoped.
import { z } from 'zod';
import type { Queryable } from '../../platform/db/client.ts';
import { NotFoundError } from '../../platform/http/errors.ts';
import type { Services } from '../../services.ts';
import { linkUrl } from '../links/links.service.ts';
import {
  findPatientByNhsNumber,
  getPatient,
  searchPatientsByNameAndDob,
  type Patient,
} from '../patients/patients.service.ts';
import { renderSms, smsFragments } from '../sms/sms-texts.ts';
import { messageBodySchema, replyModes, sendMessage, type SentMessage } from './messages.service.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A malformed id cannot name a row: callers answer 404 rather than letting the database fail. */
export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID.test(value);
}

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
  if (!patient) throw new NotFoundError('patient not found in this organisation');
  return patient;
}

export const composeForm = z.object({
  body: messageBodySchema,
  replyMode: z.enum(replyModes, 'Select whether the patient can reply'),
});
export type ComposeForm = z.output<typeof composeForm>;

/** The text the patient will get, with a stand-in link of the real length, and how many parts it takes. */
export function messageLinkPreview(organisationName: string, publicBaseUrl: string): { text: string; fragments: number } {
  const text = renderSms('message_link', { organisation_name: organisationName, link: linkUrl(publicBaseUrl, 'x'.repeat(22)) });
  return { text, fragments: smsFragments(text) };
}

export async function sendStaffMessage(
  services: Services,
  input: ComposeForm & { organisationId: string; staffId: string; patientId: string; ip: string },
): Promise<SentMessage> {
  const patient = await getPatientForStaff(services.db, input.organisationId, input.patientId);
  return sendMessage(services, {
    organisationId: input.organisationId,
    patient,
    body: input.body,
    replyMode: input.replyMode,
    sentBy: { staffId: input.staffId },
    ip: input.ip,
  });
}
