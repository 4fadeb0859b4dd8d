// Booking test set-up: a clinic (clinician, location, type, session with its slots) and invitations to
// book in it, made through the same services staff and the API use.
import type { Services } from '../../src/services.ts';
import type { Organisation } from '../../src/features/organisations/organisations.service.ts';
import { addAppointmentType, addClinician, addLocation, addSession } from '../../src/features/booking/clinic-setup.service.ts';
import { sendInvitation } from '../../src/features/booking/booking-invitations.service.ts';
import { listSlotsOfSession } from '../../src/features/booking/booking.repository.ts';
import { bookingPayloadSchema } from '../../src/features/booking/booking.kind.ts';
import { bookTime, type BookResult } from '../../src/features/booking/booking.service.ts';
import { findOrganisationConversation } from '../../src/features/conversations/conversations.repository.ts';
import type { AppointmentType, Clinician, Location, Slot } from '../../src/features/booking/booking.repository.ts';
import type { TEST_PATIENT} from './factories.ts';
import { createTestOrganisation, createTestPatient, createTestStaff, latestLinkToken, type TestConversation } from './factories.ts';

export interface TestClinic {
  organisation: Organisation;
  staffId: string;
  clinician: Clinician;
  location: Location;
  type: AppointmentType;
  /** The first session's slots, in time order. */
  slots: Slot[];
}

/**
 * A clinic on `date` (London) from `start` to `end`, 10-minute face-to-face appointments by default.
 * The test clock's default day is 2026-11-26, so the default date is the week after.
 */
export async function createTestClinic(
  services: Services,
  opts: { organisation?: Organisation; date?: string; start?: string; end?: string; lengthMinutes?: number; cancelCutoffMinutes?: number; weeklyUntil?: string } = {},
): Promise<TestClinic> {
  const organisation = opts.organisation ?? (await createTestOrganisation(services));
  const staff = await createTestStaff(services, organisation.id, { email: `clinic-${Math.random().toString(36).slice(2)}@example.nhs.uk` });
  const actor = { organisationId: organisation.id, staffId: staff.id, ip: '127.0.0.1' };
  const clinician = await addClinician(services, actor, { name: 'Sam Patel', role: 'Practice nurse' });
  const location = await addLocation(services, actor, { name: 'Riverside Surgery', address: '1 River Street, Leeds LS1 1AA', phone: '01632 960 001' });
  const type = await addAppointmentType(services, actor, {
    name: 'Flu vaccination',
    lengthMinutes: opts.lengthMinutes ?? 10,
    mode: 'face_to_face',
    patientInfo: 'Wear a top with short sleeves.',
    cancelCutoffMinutes: opts.cancelCutoffMinutes ?? 60,
  });
  const { session } = await addSession(services, actor, {
    clinicianId: clinician.id,
    locationId: location.id,
    appointmentTypeId: type.id,
    firstDate: opts.date ?? '2026-12-03',
    lastDate: opts.weeklyUntil,
    weekly: opts.weeklyUntil !== undefined,
    startTime: opts.start ?? '09:00',
    endTime: opts.end ?? '12:00',
  });
  return { organisation, staffId: staff.id, clinician, location, type, slots: await listSlotsOfSession(services.db, session.id) };
}

/** An invitation to book the clinic's type, sent to a new patient (or the given one). */
export async function createTestInvitation(
  services: Services,
  clinic: TestClinic,
  opts: { patient?: Partial<typeof TEST_PATIENT>; earliest?: string; latest?: string; clinicianIds?: string[] } = {},
): Promise<TestConversation> {
  const patient = await createTestPatient(services, clinic.organisation.id, opts.patient);
  const sent = await sendInvitation(services, {
    organisationId: clinic.organisation.id,
    patient,
    invitation: { appointmentTypeId: clinic.type.id, clinicianIds: opts.clinicianIds ?? [], earliest: opts.earliest, latest: opts.latest },
    sentBy: { staffId: clinic.staffId },
  });
  return { organisation: clinic.organisation, patient, conversationId: sent.conversationId, linkId: sent.linkId, token: await latestLinkToken(services, sent.conversationId), staffId: clinic.staffId };
}

/** A valid NHS number from the 998 range (never issued to real patients) for each k, for tests that need many patients. */
export function testNhsNumber(k: number): string {
  for (let n = k * 2; ; n++) {
    const base = `998${String(n).padStart(6, '0')}`;
    let sum = 0;
    for (let i = 0; i < 9; i++) sum += Number(base[i]) * (10 - i);
    const check = (11 - (sum % 11)) % 11;
    if (check !== 10) return base + String(check);
  }
}

/** The invitation as the booking service takes it: the conversation with its payload parsed. */
export async function invitationOf(services: Services, c: Pick<TestConversation, 'organisation' | 'conversationId'>) {
  const row = await findOrganisationConversation(services.db, c.organisation.id, c.conversationId);
  if (!row) throw new Error(`no conversation ${c.conversationId}`);
  return { ...row, payload: bookingPayloadSchema.parse(row.payload) };
}

/** Who the booking service names in the audit trail when the invitation's patient acts through its link. */
export function asThePatient(c: Pick<TestConversation, 'organisation' | 'patient' | 'conversationId' | 'linkId'>) {
  return {
    actor: { type: 'patient_link' as const, id: c.linkId, ip: null },
    subject: { organisationId: c.organisation.id, patientId: c.patient.id, conversationId: c.conversationId, linkId: c.linkId },
  };
}

/** The invitation's patient books the slot (through the service, as the confirm page does). */
export async function bookAsThePatient(services: Services, c: TestConversation, slotId: string): Promise<BookResult> {
  return bookTime(services, { invitation: await invitationOf(services, c), slotId, ...asThePatient(c) });
}
