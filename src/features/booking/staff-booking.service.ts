// What the staff booking pages read: the clinic's set-up, the diary (audited: it shows patient names),
// one booking with its patient, the times a booking can move to, and a booking conversation's story.
// Every function takes the staff member's organisation and answers "not found" for anything else's.
import type { Services } from '../../services.ts';
import { NotFound } from '../../platform/errors.ts';
import { isUuid } from '../../platform/ids.ts';
import { recordAudit } from '../audit/audit.service.ts';
import { findOrganisationConversation, listItemsWithAuthors } from '../conversations/conversations.repository.ts';
import { getPatient, type Patient } from '../patients/patients.service.ts';
import {
  conversationBookings,
  diarySlots,
  freeSlots,
  listAppointmentTypes,
  listClinicians,
  listLocations,
  listSessions,
  type AppointmentType,
  type BookingSession,
  type Clinician,
  type DiarySlot,
  type Location,
  type SlotWithPlace,
} from './booking.repository.ts';
import { bookingById, type BookingDetails } from './booking.service.ts';
import { addDays, londonDate, londonInstant } from './booking-times.ts';

/** How far ahead staff are offered times to move a booking to. */
export const MOVE_WEEKS = 6;

export interface ClinicSetUp {
  clinicians: Clinician[];
  locations: Location[];
  types: AppointmentType[];
  sessions: BookingSession[];
}

export async function clinicSetUp(services: Pick<Services, 'db'>, organisationId: string): Promise<ClinicSetUp> {
  const [clinicians, locations, types, sessions] = await Promise.all([
    listClinicians(services.db, organisationId),
    listLocations(services.db, organisationId),
    listAppointmentTypes(services.db, organisationId),
    listSessions(services.db, organisationId),
  ]);
  return { clinicians, locations, types, sessions };
}

/** Monday of the London week that `date` ('YYYY-MM-DD') is in. */
export function mondayOf(date: string): string {
  const weekday = new Date(`${date}T12:00:00Z`).getUTCDay(); // 0 = Sunday
  return addDays(date, -((weekday + 6) % 7));
}

export interface DiaryRange {
  view: 'day' | 'week';
  date: string;
  clinicianId?: string;
  locationId?: string;
}

/** The London days the diary shows: the day, or Monday to Sunday of its week. */
export function diaryDays(range: Pick<DiaryRange, 'view' | 'date'>): string[] {
  if (range.view === 'day') return [range.date];
  const monday = mondayOf(range.date);
  return Array.from({ length: 7 }, (_, i) => addDays(monday, i));
}

/** The diary's slots, each day's in time order, recorded as a staff read ('booking.diary_viewed'). */
export async function viewDiary(
  services: Services,
  input: { organisationId: string; staffId: string; ip: string | null; range: DiaryRange },
): Promise<Map<string, DiarySlot[]>> {
  const days = diaryDays(input.range);
  const slots = await diarySlots(services.db, {
    organisationId: input.organisationId,
    from: londonInstant(days[0]!, '00:00')!,
    to: londonInstant(addDays(days[days.length - 1]!, 1), '00:00')!,
    clinicianId: input.range.clinicianId,
    locationId: input.range.locationId,
  });
  const byDay = new Map<string, DiarySlot[]>(days.map((d) => [d, []]));
  for (const slot of slots) byDay.get(londonDate(slot.startsAt))?.push(slot);
  await recordAudit(services.db, {
    type: 'booking.diary_viewed',
    actor: { type: 'staff', id: input.staffId, ip: input.ip },
    organisationId: input.organisationId,
    // Which patients it showed, as the inbox's read does: the page names them.
    details: {
      view: input.range.view,
      date: input.range.date,
      ...(input.range.clinicianId && { clinicianId: input.range.clinicianId }),
      ...(input.range.locationId && { locationId: input.range.locationId }),
      slots: slots.length,
      bookingIds: slots.flatMap((s) => (s.bookingId ? [s.bookingId] : [])),
    },
  });
  return byDay;
}

export interface StaffBookingView {
  details: BookingDetails;
  patient: Patient;
  conversationId: string;
}

/** One booking of the organisation with its patient; 404 for any other organisation's (or none). */
export async function bookingForStaff(services: Pick<Services, 'db'>, organisationId: string, bookingId: string): Promise<StaffBookingView> {
  const details = isUuid(bookingId) ? await bookingById(services, organisationId, bookingId) : undefined;
  if (!details) throw new NotFound('Page not found', 'booking not found in this organisation');
  const conversation = await findOrganisationConversation(services.db, organisationId, details.booking.conversationId);
  const patient = conversation ? await getPatient(services.db, organisationId, conversation.patientId) : undefined;
  if (!conversation || !patient) throw new NotFound('Page not found', 'booking without its conversation or patient');
  return { details, patient, conversationId: conversation.id };
}

/** Free times of the booking's type in the next weeks it could move to (not its own time). */
export async function moveChoices(services: Pick<Services, 'db'>, view: StaffBookingView, now: Date): Promise<SlotWithPlace[]> {
  const slots = await freeSlots(services.db, {
    organisationId: view.details.booking.organisationId,
    appointmentTypeId: view.details.slot.appointmentTypeId,
    from: now,
    to: new Date(now.getTime() + MOVE_WEEKS * 7 * 86_400_000),
    now,
    conversationId: view.conversationId,
  });
  return slots.filter((s) => s.id !== view.details.booking.slotId);
}

export interface ConversationBookingStory {
  bookings: BookingDetails[];
  clinicians: Clinician[];
  /** Names of the staff who wrote the conversation's items, by id (who cancelled or moved). */
  staffNames: Map<string, string>;
}

/** A booking conversation's bookings, newest first, for the staff panel. */
export async function conversationBookingStory(services: Pick<Services, 'db'>, organisationId: string, conversationId: string): Promise<ConversationBookingStory> {
  const rows = await conversationBookings(services.db, conversationId);
  const bookings: BookingDetails[] = [];
  for (const row of rows) {
    const details = await bookingById(services, organisationId, row.id);
    if (details) bookings.push(details);
  }
  const clinicians = await listClinicians(services.db, organisationId);
  const staffNames = new Map<string, string>();
  for (const { item, authorName } of await listItemsWithAuthors(services.db, conversationId)) {
    if (item.authorStaffId && authorName) staffNames.set(item.authorStaffId, authorName);
  }
  return { bookings, clinicians, staffNames };
}
