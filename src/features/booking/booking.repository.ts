// The only SQL on booking's tables. No double booking is the database's rule (schema.ts, `bookings`):
// these functions insert and let PostgreSQL refuse; slotConflict() says which rule refused.
import { and, asc, eq, gt, gte, inArray, isNull, lt, lte, ne, or, sql } from 'drizzle-orm';
import { appointmentTypes, bookingClinicians, bookingHolds, bookingLocations, bookings, bookingSessions, bookingSlots, conversations, patients } from '../../platform/db/schema.ts';
import type { Queryable } from '../../platform/db/client.ts';

export type Clinician = typeof bookingClinicians.$inferSelect;
export type Location = typeof bookingLocations.$inferSelect;
export type AppointmentType = typeof appointmentTypes.$inferSelect;
export type BookingSession = typeof bookingSessions.$inferSelect;
export type Slot = typeof bookingSlots.$inferSelect;
export type Booking = typeof bookings.$inferSelect;
export type Hold = typeof bookingHolds.$inferSelect;
export type AppointmentMode = 'face_to_face' | 'telephone' | 'video';

// ---- Set-up: clinicians, locations, types, sessions and slots ----

export async function insertClinician(on: Queryable, values: { organisationId: string; name: string; role: string }): Promise<Clinician> {
  const [row] = await on.insert(bookingClinicians).values(values).returning();
  return row!;
}

export async function insertLocation(on: Queryable, values: { organisationId: string; name: string; address: string; phone: string }): Promise<Location> {
  const [row] = await on.insert(bookingLocations).values(values).returning();
  return row!;
}

export async function insertAppointmentType(
  on: Queryable,
  values: { organisationId: string; name: string; lengthMinutes: number; mode: AppointmentMode; patientInfo: string; cancelCutoffMinutes: number },
): Promise<AppointmentType> {
  const [row] = await on.insert(appointmentTypes).values(values).returning();
  return row!;
}

export function listClinicians(on: Queryable, organisationId: string): Promise<Clinician[]> {
  return on.select().from(bookingClinicians).where(eq(bookingClinicians.organisationId, organisationId)).orderBy(asc(bookingClinicians.name));
}

export function listLocations(on: Queryable, organisationId: string): Promise<Location[]> {
  return on.select().from(bookingLocations).where(eq(bookingLocations.organisationId, organisationId)).orderBy(asc(bookingLocations.name));
}

export function listAppointmentTypes(on: Queryable, organisationId: string): Promise<AppointmentType[]> {
  return on.select().from(appointmentTypes).where(eq(appointmentTypes.organisationId, organisationId)).orderBy(asc(appointmentTypes.name));
}

export async function findClinician(on: Queryable, organisationId: string, id: string): Promise<Clinician | undefined> {
  const [row] = await on.select().from(bookingClinicians).where(and(eq(bookingClinicians.organisationId, organisationId), eq(bookingClinicians.id, id)));
  return row;
}

export async function findLocation(on: Queryable, organisationId: string, id: string): Promise<Location | undefined> {
  const [row] = await on.select().from(bookingLocations).where(and(eq(bookingLocations.organisationId, organisationId), eq(bookingLocations.id, id)));
  return row;
}

export async function findAppointmentType(on: Queryable, organisationId: string, id: string): Promise<AppointmentType | undefined> {
  const [row] = await on.select().from(appointmentTypes).where(and(eq(appointmentTypes.organisationId, organisationId), eq(appointmentTypes.id, id)));
  return row;
}

export async function insertSessionWithSlots(
  on: Queryable,
  session: Omit<typeof bookingSessions.$inferInsert, 'id' | 'createdAt'>,
  slots: ReadonlyArray<{ startsAt: Date; endsAt: Date }>,
): Promise<{ session: BookingSession; slots: number }> {
  const [row] = await on.insert(bookingSessions).values(session).returning();
  const created = row!;
  if (slots.length > 0) {
    await on.insert(bookingSlots).values(
      slots.map((s) => ({
        organisationId: created.organisationId,
        sessionId: created.id,
        clinicianId: created.clinicianId,
        locationId: created.locationId,
        appointmentTypeId: created.appointmentTypeId,
        startsAt: s.startsAt,
        endsAt: s.endsAt,
      })),
    );
  }
  return { session: created, slots: slots.length };
}

export function listSessions(on: Queryable, organisationId: string): Promise<BookingSession[]> {
  return on.select().from(bookingSessions).where(eq(bookingSessions.organisationId, organisationId)).orderBy(asc(bookingSessions.firstDate), asc(bookingSessions.startTime));
}

export async function findSlot(on: Queryable, organisationId: string, id: string): Promise<Slot | undefined> {
  const [row] = await on.select().from(bookingSlots).where(and(eq(bookingSlots.organisationId, organisationId), eq(bookingSlots.id, id)));
  return row;
}

export async function setSlotBlocked(on: Queryable, input: { organisationId: string; slotId: string; blocked: boolean; staffId: string; now: Date }): Promise<Slot | undefined> {
  const [row] = await on
    .update(bookingSlots)
    .set(input.blocked ? { blockedAt: input.now, blockedByStaffId: input.staffId } : { blockedAt: null, blockedByStaffId: null })
    .where(and(eq(bookingSlots.organisationId, input.organisationId), eq(bookingSlots.id, input.slotId)))
    .returning();
  return row;
}

// ---- What is free ----

export interface SlotWithPlace extends Slot {
  clinicianName: string;
  clinicianRole: string;
  locationName: string;
}

const slotWithPlace = {
  id: bookingSlots.id,
  organisationId: bookingSlots.organisationId,
  sessionId: bookingSlots.sessionId,
  clinicianId: bookingSlots.clinicianId,
  locationId: bookingSlots.locationId,
  appointmentTypeId: bookingSlots.appointmentTypeId,
  startsAt: bookingSlots.startsAt,
  endsAt: bookingSlots.endsAt,
  blockedAt: bookingSlots.blockedAt,
  blockedByStaffId: bookingSlots.blockedByStaffId,
  createdAt: bookingSlots.createdAt,
  clinicianName: bookingClinicians.name,
  clinicianRole: bookingClinicians.role,
  locationName: bookingLocations.name,
};

export interface FreeSlotQuery {
  organisationId: string;
  appointmentTypeId: string;
  clinicianIds?: readonly string[];
  from: Date;
  to: Date;
  now: Date;
  /** Whose own hold and booking do not count against it (the nil UUID for no one: the API). */
  conversationId: string;
  /** Only this slot (is the one chosen still free?). */
  slotId?: string;
}

/**
 * Slots a patient may be offered: of the type, in the window, in the future, not blocked, not booked,
 * not overlapping a live booking of the same clinician (from any session), and not held by another
 * invitation. (The last three are what the database refuses anyway; leaving them out here only keeps
 * patients from choosing times they would lose.)
 */
function freeSlotConditions(input: FreeSlotQuery) {
  return and(
    eq(bookingSlots.organisationId, input.organisationId),
    eq(bookingSlots.appointmentTypeId, input.appointmentTypeId),
    input.slotId ? eq(bookingSlots.id, input.slotId) : undefined,
    input.clinicianIds && input.clinicianIds.length > 0 ? inArray(bookingSlots.clinicianId, [...input.clinicianIds]) : undefined,
    // Started times are gone; the window includes a time at its first midnight (as offeredSlot does).
    gt(bookingSlots.startsAt, input.now),
    gte(bookingSlots.startsAt, input.from),
    lt(bookingSlots.startsAt, input.to),
    isNull(bookingSlots.blockedAt),
    sql`NOT EXISTS (SELECT 1 FROM ${bookings} b WHERE b.cancelled_at IS NULL AND b.clinician_id = ${bookingSlots.clinicianId}
          AND tstzrange(b.starts_at, b.ends_at, '[)') && tstzrange(${bookingSlots.startsAt}, ${bookingSlots.endsAt}, '[)')
          AND b.conversation_id <> ${input.conversationId})`,
    sql`NOT EXISTS (SELECT 1 FROM ${bookingHolds} h WHERE h.slot_id = ${bookingSlots.id} AND h.expires_at > ${input.now}
          AND h.conversation_id <> ${input.conversationId})`,
  );
}

/** The free slots themselves, in time order: callers ask for a day (a page of times) or one slot. */
export function freeSlots(on: Queryable, input: FreeSlotQuery, limit = 5000): Promise<SlotWithPlace[]> {
  return on
    .select(slotWithPlace)
    .from(bookingSlots)
    .innerJoin(bookingClinicians, eq(bookingClinicians.id, bookingSlots.clinicianId))
    .innerJoin(bookingLocations, eq(bookingLocations.id, bookingSlots.locationId))
    .where(freeSlotConditions(input))
    .orderBy(asc(bookingSlots.startsAt), asc(bookingClinicians.name))
    .limit(limit);
}

/** How many free slots each London day of the window has (the Choose a day page), counted in SQL. */
export async function freeSlotDays(on: Queryable, input: FreeSlotQuery): Promise<Array<{ date: string; count: number }>> {
  const day = sql<string>`to_char(${bookingSlots.startsAt} AT TIME ZONE 'Europe/London', 'YYYY-MM-DD')`;
  const rows = await on
    .select({ date: day, count: sql<number>`count(*)::int` })
    .from(bookingSlots)
    .where(freeSlotConditions(input))
    .groupBy(day)
    .orderBy(day);
  return rows.map((r) => ({ date: r.date, count: Number(r.count) }));
}

export async function findSlotWithPlace(on: Queryable, organisationId: string, slotId: string): Promise<SlotWithPlace | undefined> {
  const [row] = await on
    .select(slotWithPlace)
    .from(bookingSlots)
    .innerJoin(bookingClinicians, eq(bookingClinicians.id, bookingSlots.clinicianId))
    .innerJoin(bookingLocations, eq(bookingLocations.id, bookingSlots.locationId))
    .where(and(eq(bookingSlots.organisationId, organisationId), eq(bookingSlots.id, slotId)));
  return row;
}

// ---- Holds ----

export async function findHold(on: Queryable, conversationId: string): Promise<Hold | undefined> {
  const [row] = await on.select().from(bookingHolds).where(eq(bookingHolds.conversationId, conversationId));
  return row;
}

/**
 * Holds `slotId` for the invitation (replacing any time it held before). A live hold on the same slot
 * keeps its expiry, so choosing the same time again never renews it; a new hold counts towards the
 * invitation's limit and is refused (undefined) past it. Another invitation's live hold on the slot
 * makes the insert fail on booking_holds_slot_idx: see slotConflict(). Expired holds of others on
 * this slot are let go first (their rows, and so their counts, stay), so an expired hold never keeps a
 * time from anyone.
 */
export async function takeHold(
  on: Queryable,
  input: { conversationId: string; slotId: string; now: Date; expiresAt: Date; maxHolds: number; counts: boolean },
): Promise<Hold | undefined> {
  await on
    .update(bookingHolds)
    .set({ slotId: null })
    .where(and(eq(bookingHolds.slotId, input.slotId), lte(bookingHolds.expiresAt, input.now), ne(bookingHolds.conversationId, input.conversationId)));
  const sameLive = sql`(${bookingHolds.slotId} = ${input.slotId} AND ${bookingHolds.expiresAt} > ${input.now})`;
  const rows = await on
    .insert(bookingHolds)
    .values({ conversationId: input.conversationId, slotId: input.slotId, expiresAt: input.expiresAt, taken: input.counts ? 1 : 0, createdAt: input.now })
    .onConflictDoUpdate({
      target: bookingHolds.conversationId,
      set: {
        slotId: input.slotId,
        expiresAt: sql`CASE WHEN ${sameLive} THEN ${bookingHolds.expiresAt} ELSE ${input.expiresAt} END`,
        taken: input.counts ? sql`CASE WHEN ${sameLive} THEN ${bookingHolds.taken} ELSE ${bookingHolds.taken} + 1 END` : bookingHolds.taken,
        createdAt: sql`CASE WHEN ${sameLive} THEN ${bookingHolds.createdAt} ELSE ${input.now} END`,
      },
      setWhere: input.counts ? sql`${sameLive} OR ${bookingHolds.taken} < ${input.maxHolds}` : undefined,
    })
    .returning();
  return rows[0];
}

/** The invitation holds nothing (it booked, or it let the time go); its count of holds is kept. */
export async function releaseHold(on: Queryable, conversationId: string): Promise<void> {
  await on.update(bookingHolds).set({ slotId: null }).where(eq(bookingHolds.conversationId, conversationId));
}

// ---- Bookings ----

/** Whether another invitation's live booking has the slot's clinician at any of its time (the slot itself included). */
export async function clinicianBookedBetween(on: Queryable, slot: { clinicianId: string; startsAt: Date; endsAt: Date }, conversationId: string): Promise<boolean> {
  const rows = await on
    .select({ id: bookings.id })
    .from(bookings)
    .where(
      and(
        isNull(bookings.cancelledAt),
        eq(bookings.clinicianId, slot.clinicianId),
        ne(bookings.conversationId, conversationId),
        lt(bookings.startsAt, slot.endsAt),
        gt(bookings.endsAt, slot.startsAt),
      ),
    )
    .limit(1);
  return rows.length > 0;
}

export async function liveBooking(on: Queryable, conversationId: string, lock = false): Promise<Booking | undefined> {
  const query = on.select().from(bookings).where(and(eq(bookings.conversationId, conversationId), isNull(bookings.cancelledAt)));
  const [row] = lock ? await query.for('update') : await query;
  return row;
}

/**
 * Every booking of the invitation, newest first (a change leaves the old one cancelled, 'changed').
 * Newest by sequence, which only grows within an invitation: booked_at can tie.
 */
export function conversationBookings(on: Queryable, conversationId: string): Promise<Booking[]> {
  return on.select().from(bookings).where(eq(bookings.conversationId, conversationId)).orderBy(sql`${bookings.sequence} DESC, ${bookings.bookedAt} DESC`);
}

export async function insertBooking(on: Queryable, values: typeof bookings.$inferInsert): Promise<Booking> {
  const [row] = await on.insert(bookings).values(values).returning();
  return row!;
}

export async function cancelBookingRow(
  on: Queryable,
  input: { bookingId: string; now: Date; by: 'patient' | 'staff' | 'changed'; staffId?: string | null; reason?: string | null },
): Promise<Booking | undefined> {
  const [row] = await on
    .update(bookings)
    .set({
      cancelledAt: input.now,
      cancelledBy: input.by,
      cancelledByStaffId: input.staffId ?? null,
      cancelReason: input.reason ?? null,
      // A cancelled event's calendar file must outrank the one that booked it (RFC 5545 SEQUENCE).
      sequence: input.by === 'changed' ? bookings.sequence : sql`${bookings.sequence} + 1`,
    })
    .where(and(eq(bookings.id, input.bookingId), isNull(bookings.cancelledAt)))
    .returning();
  return row;
}

export async function findOrganisationBooking(on: Queryable, organisationId: string, bookingId: string, lock = false): Promise<Booking | undefined> {
  const query = on.select().from(bookings).where(and(eq(bookings.organisationId, organisationId), eq(bookings.id, bookingId)));
  const [row] = lock ? await query.for('update') : await query;
  return row;
}

/**
 * The reminder moment of a booking: 10:00 London on the day `daysBefore` days before the appointment's
 * London date (10:00 is never in an hour the clocks skip or repeat).
 */
function reminderMoment(daysBefore: number) {
  return sql`((((${bookings.startsAt} AT TIME ZONE 'Europe/London')::date - ${daysBefore}::int) + time '10:00') AT TIME ZONE 'Europe/London')`;
}

/**
 * Live bookings, across organisations, with a reminder due at `now`: none sent yet, starting in
 * (startsAfter, startsBefore), their reminder moment come, and booked before it (a booking made later
 * was confirmed by text just now: a reminder would repeat it). `startsBefore` only bounds the index scan.
 */
export function bookingsDueReminder(
  on: Queryable,
  input: { now: Date; daysBefore: number; startsAfter: Date; startsBefore: Date; limit?: number; bookingId?: string },
): Promise<Booking[]> {
  const moment = reminderMoment(input.daysBefore);
  return on
    .select()
    .from(bookings)
    .where(
      and(
        isNull(bookings.cancelledAt),
        isNull(bookings.reminderSentAt),
        gt(bookings.startsAt, input.startsAfter),
        lt(bookings.startsAt, input.startsBefore),
        input.bookingId ? eq(bookings.id, input.bookingId) : undefined,
        sql`${moment} <= ${input.now.toISOString()}::timestamptz`,
        sql`${bookings.bookedAt} < ${moment}`,
      ),
    )
    .orderBy(asc(bookings.startsAt), asc(bookings.id))
    .limit(input.limit ?? 500);
}

/** Marks the reminder sent, once: false when another run (or a cancellation) got there first. */
export async function markReminderSent(on: Queryable, bookingId: string, now: Date): Promise<boolean> {
  const rows = await on
    .update(bookings)
    .set({ reminderSentAt: now })
    .where(and(eq(bookings.id, bookingId), isNull(bookings.reminderSentAt), isNull(bookings.cancelledAt)))
    .returning({ id: bookings.id });
  return rows.length === 1;
}

// ---- The diary ----

export interface DiarySlot extends SlotWithPlace {
  appointmentTypeName: string;
  bookingId: string | null;
  bookingConversationId: string | null;
  patientGivenName: string | null;
  patientFamilyName: string | null;
  /** The last cancelled booking of the slot, when it has no live one. */
  cancelledAt: Date | null;
}

export async function diarySlots(
  on: Queryable,
  input: { organisationId: string; from: Date; to: Date; clinicianId?: string; locationId?: string },
): Promise<DiarySlot[]> {
  const rows = await on.execute(sql`
    SELECT s.id, s.organisation_id AS "organisationId", s.session_id AS "sessionId", s.clinician_id AS "clinicianId",
           s.location_id AS "locationId", s.appointment_type_id AS "appointmentTypeId", s.starts_at AS "startsAt",
           s.ends_at AS "endsAt", s.blocked_at AS "blockedAt", s.blocked_by_staff_id AS "blockedByStaffId",
           s.created_at AS "createdAt", c.name AS "clinicianName", c.role AS "clinicianRole", l.name AS "locationName",
           t.name AS "appointmentTypeName", live.id AS "bookingId", live.conversation_id AS "bookingConversationId",
           p.given_name AS "patientGivenName", p.family_name AS "patientFamilyName", gone.cancelled_at AS "cancelledAt"
      FROM booking_slots s
      JOIN booking_clinicians c ON c.id = s.clinician_id
      JOIN booking_locations l ON l.id = s.location_id
      JOIN appointment_types t ON t.id = s.appointment_type_id
      LEFT JOIN bookings live ON live.slot_id = s.id AND live.cancelled_at IS NULL
      LEFT JOIN conversations cv ON cv.id = live.conversation_id
      LEFT JOIN patients p ON p.id = cv.patient_id
      LEFT JOIN LATERAL (SELECT b.cancelled_at FROM bookings b WHERE b.slot_id = s.id AND b.cancelled_at IS NOT NULL
                          ORDER BY b.cancelled_at DESC LIMIT 1) gone ON live.id IS NULL
     WHERE s.organisation_id = ${input.organisationId} AND s.starts_at >= ${input.from} AND s.starts_at < ${input.to}
       ${input.clinicianId ? sql`AND s.clinician_id = ${input.clinicianId}` : sql``}
       ${input.locationId ? sql`AND s.location_id = ${input.locationId}` : sql``}
     ORDER BY s.starts_at, c.name
     LIMIT 10000`);
  return (rows as unknown as { rows: DiarySlot[] }).rows.map((r) => ({
    ...r,
    startsAt: new Date(r.startsAt),
    endsAt: new Date(r.endsAt),
    blockedAt: r.blockedAt ? new Date(r.blockedAt) : null,
    createdAt: new Date(r.createdAt),
    cancelledAt: r.cancelledAt ? new Date(r.cancelledAt) : null,
  }));
}

/** An organisation's bookings starting in [from, to), for the API and staff lists. */
/** Every booking made from one invitation, newest first, with its slot's place and type. */
export async function invitationBookings(on: Queryable, conversationId: string): Promise<Array<Booking & { locationId: string; appointmentTypeId: string }>> {
  const rows = await on
    .select({ booking: bookings, locationId: bookingSlots.locationId, appointmentTypeId: bookingSlots.appointmentTypeId })
    .from(bookings)
    .innerJoin(bookingSlots, eq(bookingSlots.id, bookings.slotId))
    .where(eq(bookings.conversationId, conversationId))
    .orderBy(sql`${bookings.sequence} DESC, ${bookings.bookedAt} DESC`);
  return rows.map((r) => ({ ...r.booking, locationId: r.locationId, appointmentTypeId: r.appointmentTypeId }));
}

export const ORGANISATION_BOOKINGS_MAX = 5000;

/**
 * An organisation's bookings starting in [from, to), with what a list names (the slot's place and type,
 * the patient's NHS number) in the same statement; at most ORGANISATION_BOOKINGS_MAX, and `more` says
 * when there were more.
 */
export async function organisationBookings(
  on: Queryable,
  input: { organisationId: string; from: Date; to: Date; includeCancelled: boolean },
): Promise<{ rows: Array<Booking & { locationId: string; appointmentTypeId: string; nhsNumber: string }>; more: boolean }> {
  const rows = await on
    .select({ booking: bookings, locationId: bookingSlots.locationId, appointmentTypeId: bookingSlots.appointmentTypeId, nhsNumber: patients.nhsNumber })
    .from(bookings)
    .innerJoin(bookingSlots, eq(bookingSlots.id, bookings.slotId))
    .innerJoin(conversations, eq(conversations.id, bookings.conversationId))
    .innerJoin(patients, eq(patients.id, conversations.patientId))
    .where(
      and(
        eq(bookings.organisationId, input.organisationId),
        gte(bookings.startsAt, input.from),
        lt(bookings.startsAt, input.to),
        input.includeCancelled ? undefined : isNull(bookings.cancelledAt),
        or(isNull(bookings.cancelledBy), ne(bookings.cancelledBy, 'changed')),
      ),
    )
    .orderBy(asc(bookings.startsAt), asc(bookings.id))
    .limit(ORGANISATION_BOOKINGS_MAX + 1);
  return {
    rows: rows.slice(0, ORGANISATION_BOOKINGS_MAX).map((r) => ({ ...r.booking, locationId: r.locationId, appointmentTypeId: r.appointmentTypeId, nhsNumber: r.nhsNumber })),
    more: rows.length > ORGANISATION_BOOKINGS_MAX,
  };
}

/** Which of the database's booking rules refused a write, if one did. */
export function slotConflict(error: unknown): 'slot_taken' | 'clinician_busy' | 'held_by_another' | 'invitation_has_booking' | undefined {
  let cause: unknown = error;
  for (let depth = 0; depth < 4 && cause; depth++) {
    const { code, constraint, message } = cause as { code?: string; constraint?: string; message?: string };
    if (code === '23505' || code === '23P01') {
      const name = constraint ?? message ?? '';
      if (name.includes('bookings_slot_live_idx')) return 'slot_taken';
      if (name.includes('bookings_clinician_no_overlap')) return 'clinician_busy';
      if (name.includes('booking_holds_slot_idx')) return 'held_by_another';
      if (name.includes('bookings_conversation_live_idx')) return 'invitation_has_booking';
    }
    cause = (cause as { cause?: unknown }).cause;
  }
  return undefined;
}

export function listSlotsOfSession(on: Queryable, sessionId: string): Promise<Slot[]> {
  return on.select().from(bookingSlots).where(eq(bookingSlots.sessionId, sessionId)).orderBy(asc(bookingSlots.startsAt));
}
