// Appointment reminders: one text, `config.booking.reminderDaysBefore` days before the appointment's
// London date, from 10:00 London that day (a reasonable hour to be texted), sent by the maintenance
// job that every instance runs on a timer.
//
// - Never twice: reminder_sent_at is set (markReminderSent, only if still unset and still live) in the
//   same transaction as the queued text, under the booking's row lock. A second run, or another
//   instance at the same moment, finds it set and sends nothing.
// - None after a cancellation: a cancelled booking is never due, and a cancel that races this waits for
//   the lock and is then seen (the check is made again under it).
// - Only when it helps: booked before the reminder moment (a later booking has just been confirmed by
//   text) and starting more than REMINDER_MIN_HOURS_AHEAD hours after now (a job that was down does not
//   text a reminder minutes before the appointment). 0 days before turns reminders off.
import type { Services } from '../../services.ts';
import { recordAudit } from '../audit/audit.service.ts';
import { lockConversationForLinks } from '../links/links.service.ts';
import { bookingsDueReminder, findSlot, liveBooking, markReminderSent } from './booking.repository.ts';
import { textPatient } from './booking.service.ts';
import { addDays, londonDate, londonInstant } from './booking-times.ts';

/** A reminder for an appointment closer than this would come too late to be of use. */
export const REMINDER_MIN_HOURS_AHEAD = 2;

/** Bookings a run handles at most; the rest wait for the next run (minutes later). */
export const BOOKING_REMINDER_BATCH = 500;

type ReminderServices = Pick<Services, 'db' | 'jobs' | 'now' | 'config'>;

function window(now: Date, daysBefore: number) {
  return {
    startsAfter: new Date(now.getTime() + REMINDER_MIN_HOURS_AHEAD * 3_600_000),
    // No booking on a later London day can have its reminder moment come yet.
    startsBefore: londonInstant(addDays(londonDate(now), daysBefore + 1), '00:00')!,
  };
}

/** Sends the reminders due now (at most BOOKING_REMINDER_BATCH); returns how many were queued. */
export async function sendBookingReminders(services: ReminderServices): Promise<number> {
  const daysBefore = services.config.booking.reminderDaysBefore;
  if (daysBefore <= 0) return 0;
  const now = services.now();
  const due = await bookingsDueReminder(services.db, { now, daysBefore, ...window(now, daysBefore), limit: BOOKING_REMINDER_BATCH });
  let sent = 0;
  for (const booking of due) {
    if (await sendReminder(services, booking.conversationId, booking.id, now, daysBefore)) sent++;
  }
  return sent;
}

/**
 * One booking's reminder, in one transaction. The conversation and then the booking are locked in the
 * order cancelling and changing use, and only then is the booking checked again.
 */
async function sendReminder(services: ReminderServices, conversationId: string, bookingId: string, now: Date, daysBefore: number): Promise<boolean> {
  return services.db.transaction(async (tx) => {
    if (!(await lockConversationForLinks(tx, conversationId))) return false;
    const live = await liveBooking(tx, conversationId, true);
    if (live?.id !== bookingId) return false;
    const [booking] = await bookingsDueReminder(tx, { now, daysBefore, ...window(now, daysBefore), limit: 1, bookingId });
    if (!booking) return false;
    if (!(await markReminderSent(tx, booking.id, now))) return false;
    const conversation = await tx.query.conversations.findFirst({ where: (c, { eq }) => eq(c.id, conversationId) });
    const slot = await findSlot(tx, booking.organisationId, booking.slotId);
    if (!conversation || !slot) throw new Error('booking without its conversation or slot');
    const smsId = await textPatient(services, tx, conversation, 'booking_reminder', booking.startsAt, slot.locationId);
    await recordAudit(tx, {
      type: 'booking.reminder_sent',
      actor: { type: 'system', id: 'maintenance' },
      organisationId: booking.organisationId,
      patientId: conversation.patientId,
      conversationId,
      details: { bookingId: booking.id, startsAt: booking.startsAt.toISOString(), daysBefore, outboundSmsId: smsId },
    });
    return true;
  });
}
