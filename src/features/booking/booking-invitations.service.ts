// Sending an invitation to book: through the conversation feature's one send transaction
// (conversation, link, text, audit). Used by the staff page and the API alike.
import { z } from 'zod';
import type { Services } from '../../services.ts';
import { InvalidInput } from '../../platform/errors.ts';
import { isUuid } from '../../platform/ids.ts';
import { startConversation, type SentBy, type StaffSubmission, type StartedConversation } from '../conversations/conversations.service.ts';
import type { Patient } from '../patients/patients.service.ts';
import { findAppointmentType, listClinicians } from './booking.repository.ts';
import { BOOKING_INVITATION } from './booking-items.ts';
import { bookingKind } from './booking.kind.ts';
import { addDays, daysBetween, isCalendarDate, londonDate } from './booking-times.ts';

export const WINDOW_DEFAULT_WEEKS = 6;
export const WINDOW_MAX_WEEKS = 12;

const optionalDate = (label: string) =>
  z
    .string()
    .trim()
    .optional()
    .transform((v) => (v ? v : undefined))
    .refine((v) => v === undefined || isCalendarDate(v), `The ${label} must be a real date`);

/** What cannot be sent, and which field of the invitation says so (staff pages and the API each point at it). */
export class InvalidInvitation extends InvalidInput {
  readonly field: 'appointmentTypeId' | 'clinicianIds' | 'earliest' | 'latest';
  /** For clinicianIds: the position of the first clinician that is not the organisation's. */
  readonly index: number | undefined;

  constructor(field: InvalidInvitation['field'], message: string, index?: number) {
    super(message);
    this.field = field;
    this.index = index;
  }
}

export const invitationInput = z.object({
  appointmentTypeId: z.string('Select an appointment type').refine(isUuid, 'Select an appointment type'),
  clinicianIds: z
    .array(z.string().refine(isUuid, 'Select clinicians from the list'))
    .max(50, 'Select 50 clinicians at most')
    .default([]),
  earliest: optionalDate('earliest date'),
  latest: optionalDate('latest date'),
});
export type InvitationInput = z.output<typeof invitationInput>;

/**
 * The window as London dates: by default from today for 6 weeks; at most 12 weeks from the earliest
 * date, which may not be in the past.
 */
export function invitationWindowDates(input: Pick<InvitationInput, 'earliest' | 'latest'>, now: Date): { earliest: string; latest: string } {
  const today = londonDate(now);
  const earliest = input.earliest ?? today;
  const latest = input.latest ?? addDays(earliest, WINDOW_DEFAULT_WEEKS * 7 - 1);
  if (earliest < today) throw new InvalidInvitation('earliest', 'The earliest date must be today or in the future');
  if (earliest > addDays(today, 365)) throw new InvalidInvitation('earliest', 'The earliest date must be within a year from today');
  if (latest < earliest) throw new InvalidInvitation('latest', 'The latest date must be the same as or after the earliest date');
  if (daysBetween(earliest, latest) >= WINDOW_MAX_WEEKS * 7) throw new InvalidInvitation('latest', `The latest date must be within ${WINDOW_MAX_WEEKS} weeks of the earliest date`);
  return { earliest, latest };
}

export async function sendInvitation(
  services: Services,
  input: { organisationId: string; patient: Patient; invitation: InvitationInput; sentBy: SentBy; ip?: string | null; submission?: StaffSubmission },
): Promise<StartedConversation> {
  const type = await findAppointmentType(services.db, input.organisationId, input.invitation.appointmentTypeId);
  if (!type) throw new InvalidInvitation('appointmentTypeId', 'Select an appointment type');
  const clinicianIds = [...new Set(input.invitation.clinicianIds)];
  if (clinicianIds.length > 0) {
    const known = new Set((await listClinicians(services.db, input.organisationId)).map((c) => c.id));
    const unknown = input.invitation.clinicianIds.findIndex((id) => !known.has(id));
    if (unknown >= 0) throw new InvalidInvitation('clinicianIds', 'Select clinicians from the list', unknown);
  }
  const window = invitationWindowDates(input.invitation, services.now());
  return startConversation(services, {
    organisationId: input.organisationId,
    patient: input.patient,
    kind: bookingKind,
    payload: { appointmentTypeId: type.id, typeName: type.name, clinicianIds, ...window, bookForDays: services.config.booking.linkTtlDays },
    items: [{ kind: BOOKING_INVITATION, body: type.name }],
    sentBy: input.sentBy,
    ip: input.ip,
    submission: input.submission,
  });
}
