// The conversation items a booking invitation writes, so staff read its story in order.
export const BOOKING_INVITATION = 'booking_invitation';
/** What the patient did (booked, changed, cancelled): counted as something from the patient. */
export const BOOKING_EVENT = 'booking_event';
/** A change staff made (cancelled, moved): shown to staff, not counted as something from the patient. */
export const BOOKING_STAFF_EVENT = 'booking_staff_event';
