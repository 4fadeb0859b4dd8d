// The appointment invitation: the third item kind. Staff (or an integrator) invite a patient to book
// one type of appointment, optionally with chosen clinicians, between two dates; behind the link the
// patient chooses a day, a time, checks and confirms, and later changes or cancels it. Bookings live in
// their own tables (booking.repository.ts); the conversation carries the invitation.
import { z } from 'zod';
import type { ItemKind } from '../conversations/item-kinds.ts';
import { bookingPatientRoutes, bookingHome } from './patient-booking.routes.ts';
import { bookingStaffPanel } from './staff-booking.panel.ts';
import { BOOKING_EVENT, BOOKING_INVITATION, BOOKING_STAFF_EVENT } from './booking-items.ts';
import { liveBooking } from './booking.repository.ts';


export const bookingPayloadSchema = z.object({
  appointmentTypeId: z.uuid(),
  /** Kept so lists (the inbox, the portal) can name it without a look-up. */
  typeName: z.string(),
  /** Empty: any clinician who offers the type. */
  clinicianIds: z.array(z.uuid()).default([]),
  /** London calendar dates, inclusive. */
  earliest: z.string().regex(/^\d{4}-\d{2}-\d{2}$/),
  latest: z.string().regex(/^\d{4}-\d{2}-\d{2}$/),
  /** How long after sending a first booking can be made (BOOKING_LINK_TTL_DAYS when it was sent). */
  bookForDays: z.number().int().min(1).max(28),
});
export type BookingPayload = z.output<typeof bookingPayloadSchema>;

export const bookingKind: ItemKind<BookingPayload> = {
  name: 'booking',
  words: { caption: 'Appointment', thing: 'appointment booking', textWaiting: 'please book an appointment' },
  sentAuditType: 'booking.invited',
  patientItemKinds: [BOOKING_EVENT],
  payloadSchema: bookingPayloadSchema,
  linkTtlDays: (_config, payload) => payload.bookForDays,
  // A re-sent link (also how staff unlock a locked one) must still reach a booked appointment.
  keepLinksUntil: async (on, conversationId) => (await liveBooking(on, conversationId))?.endsAt,
  page: bookingHome,
  routes: bookingPatientRoutes,
  waitingForPatient: ({ items }) => (items.some((i) => i.kind === BOOKING_EVENT) ? { waiting: false } : { waiting: true, tag: 'Booking needed' }),
  describeForStaff: (payload) => ({
    what: 'Appointment invitation',
    settingsLabel: 'Appointment',
    settings: payload.typeName,
    fromPatient: { waiting: 'Booked', sent: () => 'Booked' },
  }),
  describeItemForStaff: (item, names) =>
    item.kind === BOOKING_EVENT
      ? { fromPatient: true, tag: 'Booking', heading: `${item.body} (${names.patientName})` }
      : item.kind === BOOKING_INVITATION
        ? { fromPatient: false, heading: `Invitation to book sent by ${names.authorName ?? 'your organisation'}` }
        : item.kind === BOOKING_STAFF_EVENT
          ? { fromPatient: false, heading: `${item.body} (${names.authorName ?? 'staff'})` }
          : { fromPatient: false, heading: 'Note' },
  staffPanel: bookingStaffPanel,
};
