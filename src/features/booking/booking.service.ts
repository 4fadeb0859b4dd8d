// Booking an appointment from an invitation, changing and cancelling it (patient and staff), and the
// texts each sends. No double booking is not checked here: the inserts go to PostgreSQL, whose unique
// indexes and exclusion constraint refuse a second booking of a slot or of a clinician's time
// (booking.repository.ts slotConflict), and whoever loses that race is told the time has just gone.
import type { Services } from '../../services.ts';
import type { Queryable, Tx } from '../../platform/db/client.ts';
import { AlreadyExists, InvalidInput, NotFound } from '../../platform/errors.ts';
import { isUuid } from '../../platform/ids.ts';
import { hasControlCharactersBesidesLineBreaks } from '../../platform/names.ts';
import { recordAudit, type AuditActor } from '../audit/audit.service.ts';
import { extendConversationLinks, lockConversationForLinks } from '../links/links.service.ts';
import { getOrganisation } from '../organisations/organisations.service.ts';
import { getPatient } from '../patients/patients.service.ts';
import { enqueueSms } from '../sms/outbox.service.ts';
import type { SmsKind } from '../sms/sms-texts.ts';
import type { KindConversation } from '../conversations/item-kinds.ts';
import { insertItem } from '../conversations/conversations.repository.ts';
import { BOOKING_EVENT, BOOKING_STAFF_EVENT } from './booking-items.ts';
import {
  cancelBookingRow,
  clinicianBookedBetween,
  conversationBookings,
  findAppointmentType,
  findHold,
  findLocation,
  findOrganisationBooking,
  findSlotWithPlace,
  freeSlotDays,
  freeSlots,
  insertBooking,
  liveBooking,
  releaseHold,
  slotConflict,
  takeHold,
  type AppointmentType,
  type Booking,
  type Hold,
  type Location,
  type SlotWithPlace,
} from './booking.repository.ts';
import { addDays, dayInWords, londonDate, londonInstant, timeInWords } from './booking-times.ts';
import type { BookingPayload } from './booking.kind.ts';

type Invitation = KindConversation<BookingPayload>['conversation'];

/** The time was booked or held by someone else between being shown and being chosen. */
export class SlotTaken extends AlreadyExists {
  constructor(detail: string) {
    super('That time has just been booked by someone else', detail);
  }
}

/** The invitation is past its booking period (it may still show a booking made in time). */
export function bookingOpen(services: Pick<Services, 'config'>, invitation: Invitation, now: Date): boolean {
  return now.getTime() < invitation.createdAt.getTime() + invitation.payload.bookForDays * 86_400_000;
}

/** The invitation's window as instants: from London midnight of `earliest` to the end of `latest`. */
export function invitationWindow(payload: BookingPayload): { from: Date; to: Date } {
  return { from: londonInstant(payload.earliest, '00:00')!, to: londonInstant(addDays(payload.latest, 1), '00:00')! };
}

function offeredQuery(invitation: Invitation, now: Date, from: Date, to: Date) {
  return {
    organisationId: invitation.organisationId,
    appointmentTypeId: invitation.payload.appointmentTypeId,
    clinicianIds: invitation.payload.clinicianIds,
    from,
    to,
    now,
    conversationId: invitation.id,
  };
}

/** The London days of the window with times the invitation may choose from now, and how many each. */
export async function offeredDays(services: Pick<Services, 'db'>, invitation: Invitation, now: Date, exceptSlotId?: string): Promise<Array<{ date: string; count: number }>> {
  const { from, to } = invitationWindow(invitation.payload);
  const days = await freeSlotDays(services.db, offeredQuery(invitation, now, from, to));
  if (!exceptSlotId) return days;
  // The time the patient has now is not offered again: one fewer on its day.
  const own = await findSlotWithPlace(services.db, invitation.organisationId, exceptSlotId);
  const ownDay = own ? londonDate(own.startsAt) : undefined;
  return days.map((d) => (d.date === ownDay && own && own.startsAt > now && own.startsAt >= from && own.startsAt < to ? { ...d, count: d.count - 1 } : d)).filter((d) => d.count > 0);
}

/**
 * The times the invitation may choose from now (its own held time included): those of one London day
 * (the Choose a time page), or of the whole window.
 */
export async function offeredSlots(services: Pick<Services, 'db'>, invitation: Invitation, now: Date, date?: string, exceptSlotId?: string): Promise<SlotWithPlace[]> {
  const window = invitationWindow(invitation.payload);
  const dayStart = date ? londonInstant(date, '00:00') : window.from;
  const dayEnd = date ? londonInstant(addDays(date, 1), '00:00') : window.to;
  if (!dayStart || !dayEnd) return [];
  const from = dayStart > window.from ? dayStart : window.from;
  const to = dayEnd < window.to ? dayEnd : window.to;
  if (from >= to) return [];
  const slots = await freeSlots(services.db, offeredQuery(invitation, now, from, to));
  return exceptSlotId ? slots.filter((s) => s.id !== exceptSlotId) : slots;
}

export function slotsByDay(slots: readonly SlotWithPlace[]): Map<string, SlotWithPlace[]> {
  const days = new Map<string, SlotWithPlace[]>();
  for (const slot of slots) {
    const day = londonDate(slot.startsAt);
    days.set(day, [...(days.get(day) ?? []), slot]);
  }
  return days;
}

/** "9:30am on Tuesday 8 December 2026", UK time. */
export function whenInWords(at: Date): string {
  return `${timeInWords(at)} on ${dayInWords(at)}`;
}

export interface BookingDetails {
  booking: Booking;
  slot: SlotWithPlace;
  type: AppointmentType;
  location: Location;
  /** Until when the patient may change or cancel it themselves. */
  changeUntil: Date;
}

async function detailsOf(on: Queryable, organisationId: string, booking: Booking): Promise<BookingDetails> {
  const slot = await findSlotWithPlace(on, organisationId, booking.slotId);
  if (!slot) throw new Error('booking without its slot');
  const type = await findAppointmentType(on, organisationId, slot.appointmentTypeId);
  const location = await findLocation(on, organisationId, slot.locationId);
  if (!type || !location) throw new Error('slot without its type or location');
  return { booking, slot, type, location, changeUntil: new Date(booking.startsAt.getTime() - type.cancelCutoffMinutes * 60_000) };
}

export async function currentBooking(services: Pick<Services, 'db'>, invitation: Invitation): Promise<BookingDetails | undefined> {
  const booking = await liveBooking(services.db, invitation.id);
  return booking ? detailsOf(services.db, invitation.organisationId, booking) : undefined;
}

/** The newest booking of the invitation, live or cancelled (its calendar file, the page after cancelling). */
export async function latestBooking(services: Pick<Services, 'db'>, invitation: Invitation): Promise<BookingDetails | undefined> {
  const [latest] = await conversationBookings(services.db, invitation.id);
  return latest ? detailsOf(services.db, invitation.organisationId, latest) : undefined;
}

export async function bookingById(services: Pick<Services, 'db'>, organisationId: string, bookingId: string): Promise<BookingDetails | undefined> {
  const booking = isUuid(bookingId) ? await findOrganisationBooking(services.db, organisationId, bookingId) : undefined;
  return booking ? detailsOf(services.db, organisationId, booking) : undefined;
}

/** A slot the invitation may choose: one it is offered now (or its own held time). */
async function offeredSlot(services: Pick<Services, 'db'>, invitation: Invitation, slotId: string, now: Date): Promise<SlotWithPlace | undefined> {
  if (!isUuid(slotId)) return undefined;
  const slot = await findSlotWithPlace(services.db, invitation.organisationId, slotId);
  if (!slot || slot.blockedAt || slot.startsAt <= now || slot.appointmentTypeId !== invitation.payload.appointmentTypeId) return undefined;
  const { clinicianIds } = invitation.payload;
  if (clinicianIds.length > 0 && !clinicianIds.includes(slot.clinicianId)) return undefined;
  const { from, to } = invitationWindow(invitation.payload);
  if (slot.startsAt < from || slot.startsAt >= to) return undefined;
  return slot;
}

export type HoldResult = { held: Hold; slot: SlotWithPlace } | { refused: 'taken' | 'not_offered' | 'too_many_holds' };

/** The patient chose a time: hold it for them while they check and confirm. */
export async function holdTime(services: Services, invitation: Invitation, slotId: string): Promise<HoldResult> {
  const now = services.now();
  const slot = await offeredSlot(services, invitation, slotId, now);
  if (!slot) return { refused: 'not_offered' };
  const { from, to } = invitationWindow(invitation.payload);
  const stillFree = await freeSlots(services.db, { ...offeredQuery(invitation, now, from, to), slotId: slot.id }, 1);
  if (stillFree.length === 0) return { refused: 'taken' };
  try {
    const held = await services.db.transaction(async (tx) => {
      const row = await takeHold(tx, {
        conversationId: invitation.id,
        slotId: slot.id,
        now,
        expiresAt: new Date(now.getTime() + services.config.booking.holdMinutes * 60_000),
        maxHolds: services.config.booking.holdsPerInvitation,
        counts: true,
      });
      // A booking of this time takes its hold first, so the insert above waited for any booking being
      // made at this moment; this later statement sees it once committed. Without it a patient could
      // be told a time is held for them that another has just booked.
      if (row && (await clinicianBookedBetween(tx, slot, invitation.id))) throw new SlotTaken('booked while being held');
      return row;
    });
    return held ? { held, slot } : { refused: 'too_many_holds' };
  } catch (error) {
    if (error instanceof SlotTaken || slotConflict(error)) return { refused: 'taken' };
    throw error;
  }
}

/** The time this invitation holds right now, if its hold has not run out. */
export async function liveHold(services: Pick<Services, 'db'>, invitation: Invitation, now: Date): Promise<Hold | undefined> {
  const hold = await findHold(services.db, invitation.id);
  return hold?.slotId && hold.expiresAt > now ? hold : undefined;
}

/** The invitation's live hold with what the check page shows of it (its place and type), if any. */
export async function heldTime(services: Pick<Services, 'db'>, invitation: Invitation, now: Date): Promise<{ hold: Hold; slot: SlotWithPlace; type: AppointmentType; location: Location } | undefined> {
  const hold = await liveHold(services, invitation, now);
  const slot = hold?.slotId ? await findSlotWithPlace(services.db, invitation.organisationId, hold.slotId) : undefined;
  if (!hold || !slot) return undefined;
  const type = await findAppointmentType(services.db, invitation.organisationId, slot.appointmentTypeId);
  const location = await findLocation(services.db, invitation.organisationId, slot.locationId);
  return type && location ? { hold, slot, type, location } : undefined;
}

export type BookResult = { booked: BookingDetails; changedFrom?: Booking } | { refused: 'taken' | 'not_offered' | 'closed' | 'too_late_to_change' } | { alreadyBooked: BookingDetails };

interface PatientBooking {
  invitation: Invitation;
  slotId: string;
  actor: AuditActor;
  subject: { organisationId: string; patientId: string; conversationId: string; linkId?: string };
}

/**
 * Books the slot for the invitation, or moves its booking there (the old time is cancelled in the same
 * transaction, so a failed move keeps the old time). The invitation's hold on the slot is taken first,
 * under the same unique index holds use, so a time another invitation holds live cannot be booked; an
 * own hold that has run out is taken again if nobody else has the time. The link is kept working until
 * the appointment, so the patient can change or cancel it with the link they booked with.
 */
export async function bookTime(services: Services, input: PatientBooking): Promise<BookResult> {
  const now = services.now();
  const { invitation } = input;
  const slot = await offeredSlot(services, invitation, input.slotId, now);
  if (!slot) return { refused: 'not_offered' };
  try {
    type Outcome = { alreadyBooked: Booking } | { refused: 'too_late_to_change' | 'closed' } | { booked: Booking; changedFrom: Booking | undefined };
    const result = await services.db.transaction(async (tx): Promise<Outcome> => {
      // One booking at a time per invitation: two tabs confirming two times queue here.
      await lockConversationForLinks(tx, invitation.id);
      const existing = await liveBooking(tx, invitation.id, true);
      if (existing?.slotId === slot.id) return { alreadyBooked: existing };
      if (existing) {
        const details = await detailsOf(tx, invitation.organisationId, existing);
        if (now >= details.changeUntil) return { refused: 'too_late_to_change' };
      } else if (!bookingOpen(services, invitation, now)) {
        return { refused: 'closed' };
      }
      await takeHold(tx, { conversationId: invitation.id, slotId: slot.id, now, expiresAt: new Date(now.getTime() + 60_000), maxHolds: 0, counts: false });
      if (existing) await cancelBookingRow(tx, { bookingId: existing.id, now, by: 'changed' });
      const booking = await insertBooking(tx, {
        organisationId: invitation.organisationId,
        conversationId: invitation.id,
        slotId: slot.id,
        clinicianId: slot.clinicianId,
        startsAt: slot.startsAt,
        endsAt: slot.endsAt,
        // One calendar event per invitation (calendar-file.ts): every new booking of it, a re-booking
        // after a cancellation too, must outrank every file sent before.
        sequence: existing ? existing.sequence + 1 : await nextSequence(tx, invitation.id),
        bookedBy: 'patient',
        bookedAt: now,
      });
      await releaseHold(tx, invitation.id);
      await extendConversationLinks(tx, invitation.id, slot.endsAt, now);
      await recordAudit(tx, {
        type: existing ? 'booking.changed' : 'booking.booked',
        actor: input.actor,
        ...input.subject,
        details: { bookingId: booking.id, slotId: slot.id, startsAt: slot.startsAt.toISOString(), ...(existing && { fromBookingId: existing.id }) },
      });
      await insertItem(tx, {
        conversationId: invitation.id,
        kind: BOOKING_EVENT,
        body: `${existing ? 'Changed to' : 'Booked'} ${whenInWords(slot.startsAt)}`,
        payload: { bookingId: booking.id },
        createdAt: now,
      });
      await textPatient(services, tx, invitation, 'booking_confirmed', booking.startsAt, slot.locationId);
      return { booked: booking, changedFrom: existing };
    });
    if ('alreadyBooked' in result) return { alreadyBooked: await detailsOf(services.db, invitation.organisationId, result.alreadyBooked) };
    if ('refused' in result) return { refused: result.refused };
    return { booked: await detailsOf(services.db, invitation.organisationId, result.booked), ...(result.changedFrom && { changedFrom: result.changedFrom }) };
  } catch (error) {
    if (slotConflict(error)) return { refused: 'taken' };
    throw error;
  }
}

async function nextSequence(tx: Tx, conversationId: string): Promise<number> {
  const [latest] = await conversationBookings(tx, conversationId);
  return latest ? latest.sequence + 1 : 0;
}

export const CANCEL_REASON_MAX = 500;

export type CancelResult = { cancelled: BookingDetails } | { refused: 'nothing_booked' | 'too_late' };

export async function cancelByPatient(services: Services, input: Omit<PatientBooking, 'slotId'> & { reason?: string }): Promise<CancelResult> {
  const now = services.now();
  const reason = cleanReason(input.reason);
  type Outcome = { refused: 'nothing_booked' | 'too_late' } | { cancelled: Booking };
  const result = await services.db.transaction(async (tx): Promise<Outcome> => {
    await lockConversationForLinks(tx, input.invitation.id);
    const existing = await liveBooking(tx, input.invitation.id, true);
    if (!existing) return { refused: 'nothing_booked' };
    const details = await detailsOf(tx, input.invitation.organisationId, existing);
    if (now >= details.changeUntil) return { refused: 'too_late' };
    const cancelled = await cancelBookingRow(tx, { bookingId: existing.id, now, by: 'patient', reason });
    await recordAudit(tx, {
      type: 'booking.cancelled',
      actor: input.actor,
      ...input.subject,
      details: { bookingId: existing.id, by: 'patient', startsAt: existing.startsAt.toISOString() },
    });
    await insertItem(tx, {
      conversationId: input.invitation.id,
      kind: BOOKING_EVENT,
      body: `Cancelled ${whenInWords(existing.startsAt)}${reason ? `. Reason: ${reason}` : ''}`,
      payload: { bookingId: existing.id },
      createdAt: now,
    });
    return { cancelled: cancelled! };
  });
  if ('refused' in result) return { refused: result.refused };
  return { cancelled: await detailsOf(services.db, input.invitation.organisationId, result.cancelled) };
}

function cleanReason(reason: string | undefined): string | null {
  const trimmed = reason?.trim();
  if (!trimmed) return null;
  if (trimmed.length > CANCEL_REASON_MAX) throw new InvalidInput(`Reason must be ${CANCEL_REASON_MAX} characters or fewer`);
  // Control characters (NUL cannot even be stored) are a pasted mistake, not a reason.
  if (hasControlCharactersBesidesLineBreaks(trimmed)) throw new InvalidInput('Reason must only include letters, numbers and punctuation');
  return trimmed;
}

/** The confirmation, reminder and staff-change texts: fixed words, the time and the place's phone. */
export async function textPatient(services: Pick<Services, 'jobs'>, tx: Tx, invitation: { id: string; organisationId: string; patientId: string }, kind: Extract<SmsKind, `booking_${string}`>, startsAt: Date, locationId: string): Promise<string> {
  // One after another: a transaction's statements cannot overlap on one connection.
  const organisation = await getOrganisation(tx, invitation.organisationId);
  const patient = await getPatient(tx, invitation.organisationId, invitation.patientId);
  const location = await findLocation(tx, invitation.organisationId, locationId);
  if (!organisation || !patient || !location) throw new Error('booking text without its organisation, patient or place');
  const sms = await enqueueSms(tx, services.jobs, {
    organisationId: organisation.id,
    conversationId: invitation.id,
    kind,
    phoneE164: patient.mobileE164,
    personalisation: { organisation_name: organisation.name, when: whenInWords(startsAt), phone: location.phone || organisation.contactPhone },
  });
  return sms.id;
}

// ---- Staff ----

interface StaffBookingAction {
  organisationId: string;
  bookingId: string;
  staffId: string;
  ip: string | null;
}

async function staffBooking(tx: Tx, input: StaffBookingAction) {
  const found = isUuid(input.bookingId) ? await findOrganisationBooking(tx, input.organisationId, input.bookingId) : undefined;
  if (!found) throw new NotFound('Page not found', 'booking not found in this organisation');
  // The invitation first, as the patient's own change and cancel do: staff and patient then act one
  // after the other, each seeing what the other left (a patient's change after a staff move changes
  // the moved booking, instead of being told its new time was taken).
  await lockConversationForLinks(tx, found.conversationId);
  const booking = (await findOrganisationBooking(tx, input.organisationId, input.bookingId, true))!;
  const conversation = await tx.query.conversations.findFirst({ where: (c, { eq }) => eq(c.id, booking.conversationId) });
  if (!conversation) throw new NotFound('Page not found', 'booking without its conversation');
  return { booking, conversation };
}

/** Staff cancel a booking: the slot is free at once and the patient is texted. */
export async function cancelByStaff(services: Services, input: StaffBookingAction & { reason?: string }): Promise<BookingDetails> {
  const now = services.now();
  const reason = cleanReason(input.reason);
  const cancelled = await services.db.transaction(async (tx) => {
    const { booking, conversation } = await staffBooking(tx, input);
    if (booking.cancelledAt) throw new InvalidInput('This appointment has already been cancelled');
    const row = await cancelBookingRow(tx, { bookingId: booking.id, now, by: 'staff', staffId: input.staffId, reason });
    const slot = await findSlotWithPlace(tx, input.organisationId, booking.slotId);
    await recordAudit(tx, {
      type: 'booking.cancelled',
      actor: { type: 'staff', id: input.staffId, ip: input.ip },
      organisationId: input.organisationId,
      patientId: conversation.patientId,
      conversationId: conversation.id,
      details: { bookingId: booking.id, by: 'staff', startsAt: booking.startsAt.toISOString() },
    });
    await insertItem(tx, {
      conversationId: conversation.id,
      kind: BOOKING_STAFF_EVENT,
      body: `Cancelled by staff: ${whenInWords(booking.startsAt)}${reason ? `. Reason: ${reason}` : ''}`,
      payload: { bookingId: booking.id },
      authorStaffId: input.staffId,
      createdAt: now,
    });
    if (booking.startsAt > now) await textPatient(services, tx, conversation, 'booking_cancelled', booking.startsAt, slot!.locationId);
    return row!;
  });
  return detailsOf(services.db, input.organisationId, cancelled);
}

/** Staff move a booking to another free slot of the same type: one transaction, the patient is texted. */
export async function moveByStaff(services: Services, input: StaffBookingAction & { slotId: string }): Promise<BookingDetails> {
  const now = services.now();
  try {
    const moved = await services.db.transaction(async (tx) => {
      const { booking, conversation } = await staffBooking(tx, input);
      if (booking.cancelledAt) throw new InvalidInput('This appointment has been cancelled: it cannot be moved');
      const slot = isUuid(input.slotId) ? await findSlotWithPlace(tx, input.organisationId, input.slotId) : undefined;
      const from = await findSlotWithPlace(tx, input.organisationId, booking.slotId);
      if (!slot || slot.blockedAt || slot.startsAt <= now || slot.appointmentTypeId !== from?.appointmentTypeId || slot.id === booking.slotId) {
        throw new InvalidInput('Choose a free time in the future for the same type of appointment');
      }
      // Under the same unique index patients' holds use: a time a patient is confirming is refused
      // (slotConflict 'held_by_another'), and a patient choosing it now waits for this to finish.
      await takeHold(tx, { conversationId: conversation.id, slotId: slot.id, now, expiresAt: new Date(now.getTime() + 60_000), maxHolds: 0, counts: false });
      await cancelBookingRow(tx, { bookingId: booking.id, now, by: 'changed', staffId: input.staffId });
      const row = await insertBooking(tx, {
        organisationId: input.organisationId,
        conversationId: conversation.id,
        slotId: slot.id,
        clinicianId: slot.clinicianId,
        startsAt: slot.startsAt,
        endsAt: slot.endsAt,
        sequence: booking.sequence + 1,
        bookedBy: 'staff',
        bookedByStaffId: input.staffId,
        bookedAt: now,
      });
      await releaseHold(tx, conversation.id);
      await extendConversationLinks(tx, conversation.id, slot.endsAt, now);
      await recordAudit(tx, {
        type: 'booking.changed',
        actor: { type: 'staff', id: input.staffId, ip: input.ip },
        organisationId: input.organisationId,
        patientId: conversation.patientId,
        conversationId: conversation.id,
        details: { bookingId: row.id, fromBookingId: booking.id, slotId: slot.id, startsAt: slot.startsAt.toISOString() },
      });
      await insertItem(tx, {
        conversationId: conversation.id,
        kind: BOOKING_STAFF_EVENT,
        body: `Moved by staff from ${whenInWords(booking.startsAt)} to ${whenInWords(slot.startsAt)}`,
        payload: { bookingId: row.id },
        authorStaffId: input.staffId,
        createdAt: now,
      });
      await textPatient(services, tx, conversation, 'booking_moved', slot.startsAt, slot.locationId);
      return row;
    });
    return detailsOf(services.db, input.organisationId, moved);
  } catch (error) {
    if (slotConflict(error)) throw new SlotTaken('slot taken');
    throw error;
  }
}

