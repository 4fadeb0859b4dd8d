// "No double booking, ever", under real concurrency: many bookings, changes and holds fired at once
// through the booking service on a PostgreSQL pool (10 connections, so requests queue and overlap as
// they would in production). Each test then reads the bookings table itself: the service's answers
// must agree with what the database holds. PGlite has one connection and runs one statement at a
// time, so nothing can race on it: these tests need TEST_DATABASE_URL.
import test from 'node:test';
import assert from 'node:assert/strict';
import { and, eq, inArray, isNull } from 'drizzle-orm';
import { createTestApp, TestClock } from '../../../test/helpers/app.ts';
import { createTestClinic, createTestInvitation, testNhsNumber, type TestClinic, asThePatient, invitationOf } from '../../../test/helpers/booking.ts';
import { databaseKind } from '../../../test/helpers/database.ts';
import { csrfFrom, type CookieJar, type TestConversation } from '../../../test/helpers/factories.ts';
import { firstDevice, get, postForm, textOf } from '../../../test/helpers/patient.ts';
import type { Services } from '../../services.ts';
import { bookingHolds, bookings } from '../../platform/db/schema.ts';
import { InvalidInput } from '../../platform/errors.ts';
import { insertBooking, listSlotsOfSession, slotConflict, type Slot } from './booking.repository.ts';
import { bookTime, cancelByStaff, holdTime, moveByStaff, SlotTaken, type BookResult } from './booking.service.ts';
import { addLocation, addSession } from './clinic-setup.service.ts';

const POSTGRES_ONLY = databaseKind === 'postgres' ? false : 'races need PostgreSQL (PGlite has one connection): set TEST_DATABASE_URL';
const RACE = { skip: POSTGRES_ONLY, timeout: 120_000 };


type Invitation = Awaited<ReturnType<typeof invitationOf>>;

interface Invited {
  c: TestConversation;
  invitation: Invitation;
}

/** `count` invitations of the clinic, each to its own patient (patient k gets testNhsNumber(k)). */
async function invite(services: Services, clinic: TestClinic, count: number, firstPatient = 1): Promise<Invited[]> {
  const out: Invited[] = [];
  for (let k = firstPatient; k < firstPatient + count; k++) {
    const c = await createTestInvitation(services, clinic, { patient: { nhsNumber: testNhsNumber(k) } });
    out.push({ c, invitation: await invitationOf(services, c) });
  }
  return out;
}

function book(services: Services, who: Invited, slotId: string): Promise<BookResult> {
  return bookTime(services, {
    invitation: who.invitation,
    slotId,
    ...asThePatient(who.c),
  });
}

/** Live bookings of these slots, straight from the table. */
function liveOnSlots(services: Services, slotIds: string[]) {
  return services.db.select().from(bookings).where(and(inArray(bookings.slotId, slotIds), isNull(bookings.cancelledAt)));
}

function liveOfInvitation(services: Services, conversationId: string) {
  return services.db.select().from(bookings).where(and(eq(bookings.conversationId, conversationId), isNull(bookings.cancelledAt)));
}

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Counts of each outcome ('booked', 'taken', ...), so a failure shows what happened. */
function outcomes(results: readonly BookResult[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of results) {
    const key = 'booked' in r ? 'booked' : 'alreadyBooked' in r ? 'alreadyBooked' : r.refused;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

test('50 parallel bookings of the same slot from 50 invitations: one is booked, 49 are told it has gone, one booking in the database', RACE, async (t) => {
  const clock = new TestClock();
  const { services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const clinic = await createTestClinic(services);
  const invited = await invite(services, clinic, 50);
  const slot = clinic.slots[3]!;

  const results = await Promise.all(invited.map((who) => book(services, who, slot.id)));

  assert.deepEqual(outcomes(results), { booked: 1, taken: 49 });
  const live = await liveOnSlots(services, [slot.id]);
  assert.equal(live.length, 1);
  const winner = invited[results.findIndex((r) => 'booked' in r)]!;
  assert.equal(live[0]!.conversationId, winner.c.conversationId);
  // The losers were rolled back whole: no booking of theirs anywhere, cancelled or not, and no hold left.
  assert.equal((await services.db.select().from(bookings)).length, 1);
  const holds = await services.db.select().from(bookingHolds).where(eq(bookingHolds.slotId, slot.id));
  assert.equal(holds.length, 0, 'nobody is left holding the booked time');
});

test('overlapping slots of one clinician from two sessions, 25 + 25 at once: one booking in all, the clinician is never in two places', RACE, async (t) => {
  const clock = new TestClock();
  const { services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const clinic = await createTestClinic(services);
  // The same clinician also runs a session at another surgery, five minutes out of step with the first.
  const actor = { organisationId: clinic.organisation.id, staffId: clinic.staffId, ip: null };
  const elsewhere = await addLocation(services, actor, { name: 'Hillside Health Centre', address: '2 Hill Road, Leeds LS2 2BB', phone: '01632 960 002' });
  const { session } = await addSession(services, actor, {
    clinicianId: clinic.clinician.id,
    locationId: elsewhere.id,
    appointmentTypeId: clinic.type.id,
    firstDate: '2026-12-03',
    weekly: false,
    startTime: '09:05',
    endTime: '12:05',
  });
  const second = await listSlotsOfSession(services.db, session.id);
  const a = clinic.slots[0]!; // 09:00–09:10
  const b = second[0]!; // 09:05–09:15
  assert.ok(a.startsAt < b.endsAt && b.startsAt < a.endsAt, 'the two slots overlap');
  assert.notEqual(a.id, b.id);
  const invited = await invite(services, clinic, 50);

  const results = await Promise.all(invited.map((who, i) => book(services, who, i % 2 === 0 ? a.id : b.id)));

  assert.deepEqual(outcomes(results), { booked: 1, taken: 49 });
  const live = await services.db
    .select()
    .from(bookings)
    .where(and(eq(bookings.clinicianId, clinic.clinician.id), isNull(bookings.cancelledAt)));
  assert.equal(live.length, 1, 'one live booking of the clinician between 09:00 and 09:15');
  assert.ok([a.id, b.id].includes(live[0]!.slotId));
});

test('ten sessions of one clinician a minute apart, 50 bookings spread over ten mutually overlapping slots: one booking in all', RACE, async (t) => {
  const clock = new TestClock();
  const { services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const clinic = await createTestClinic(services);
  const actor = { organisationId: clinic.organisation.id, staffId: clinic.staffId, ip: null };
  // Slots 10:00–10:10, 10:01–10:11, … 10:09–10:19: every two of them overlap, none is the same row, so
  // only the exclusion constraint stands between them (many inserts reach it at the same moment).
  const slots: Slot[] = [];
  for (let m = 0; m < 10; m++) {
    const { session } = await addSession(services, actor, {
      clinicianId: clinic.clinician.id,
      locationId: clinic.location.id,
      appointmentTypeId: clinic.type.id,
      firstDate: '2026-12-03',
      weekly: false,
      startTime: `10:0${m}`,
      endTime: `10:1${m}`,
    });
    slots.push(...(await listSlotsOfSession(services.db, session.id)));
  }
  assert.equal(slots.length, 10);
  const invited = await invite(services, clinic, 50);

  const results = await Promise.all(invited.map((who, i) => book(services, who, slots[i % 10]!.id)));

  assert.deepEqual(outcomes(results), { booked: 1, taken: 49 });
  const live = await liveOnSlots(services, [...slots.map((s) => s.id), ...clinic.slots.filter((s) => s.startsAt < slots[9]!.endsAt && s.endsAt > slots[0]!.startsAt).map((s) => s.id)]);
  assert.equal(live.length, 1);
});

test('changing to a time while 20 others book it: exactly one has it; if the change lost, the old time is kept', RACE, async (t) => {
  const clock = new TestClock();
  const { services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const clinic = await createTestClinic(services);
  // Several rounds with fresh people and times, so both outcomes of the change get a chance to happen.
  const rounds = 6;
  let changesWon = 0;
  for (let round = 0; round < rounds; round++) {
    const from = clinic.slots[round * 2]!;
    const to = clinic.slots[round * 2 + 1]!;
    const [changer, ...others] = await invite(services, clinic, 21, 1 + round * 21);
    assert.ok('booked' in (await book(services, changer!, from.id)));

    // A change does more work before it reaches the slot than a first booking, so fired all at once it
    // always loses. In even rounds it is in the middle of a crowd fired at once; in odd rounds it goes
    // first and the crowd arrives over the next 3–23 ms, while its transaction is open, so it can win.
    const at = round % 2 === 0 ? 10 : 0;
    const arrival = (i: number) => (round % 2 === 0 ? 0 : 3 + i);
    const attempts = others.map((who, i) => () => delay(arrival(i)).then(() => book(services, who, to.id)));
    attempts.splice(at, 0, () => book(services, changer!, to.id));
    const results = await Promise.all(attempts.map((go) => go()));
    const changed = results[at]!;

    assert.deepEqual(outcomes(results), { booked: 1, taken: 20 }, `round ${round}`);
    const onTo = await liveOnSlots(services, [to.id]);
    assert.equal(onTo.length, 1, `round ${round}: one live booking of the new time`);
    const mine = await liveOfInvitation(services, changer!.c.conversationId);
    assert.equal(mine.length, 1, `round ${round}: the changer has exactly one live booking`);
    if ('booked' in changed) {
      changesWon++;
      assert.equal(mine[0]!.slotId, to.id);
      assert.equal((await liveOnSlots(services, [from.id])).length, 0, 'the old time is free again');
      assert.equal(changed.changedFrom?.slotId, from.id);
    } else {
      assert.deepEqual(changed, { refused: 'taken' });
      assert.equal(mine[0]!.slotId, from.id, `round ${round}: the change lost, so the old booking stands`);
      assert.notEqual(onTo[0]!.conversationId, changer!.c.conversationId);
    }
  }
  t.diagnostic(`the change won ${changesWon} of ${rounds} rounds`);
});

test('staff moving a booking to a time 20 patients are booking at once: exactly one has it; a move that lost keeps the old time', RACE, async (t) => {
  const clock = new TestClock();
  const { services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const clinic = await createTestClinic(services);
  const [moved, ...others] = await invite(services, clinic, 21);
  const from = clinic.slots[0]!;
  const to = clinic.slots[5]!;
  const first = await book(services, moved!, from.id);
  assert.ok('booked' in first);

  const patients = others.map((who) => book(services, who, to.id));
  const move = moveByStaff(services, { organisationId: clinic.organisation.id, bookingId: first.booked.booking.id, staffId: clinic.staffId, ip: null, slotId: to.id }).then(
    () => 'moved' as const,
    (error: unknown) => {
      if (error instanceof SlotTaken) return 'taken' as const;
      throw error;
    },
  );
  const [moveResult, ...results] = await Promise.all([move, ...patients]);

  const patientsBooked = results.filter((r) => 'booked' in r).length;
  assert.equal(patientsBooked + (moveResult === 'moved' ? 1 : 0), 1, `move ${moveResult}, ${JSON.stringify(outcomes(results))}`);
  assert.equal((await liveOnSlots(services, [to.id])).length, 1);
  const mine = await liveOfInvitation(services, moved!.c.conversationId);
  assert.equal(mine.length, 1);
  assert.equal(mine[0]!.slotId, moveResult === 'moved' ? to.id : from.id);
});

test('staff moving or cancelling a booking while the patient changes it: they queue, the patient keeps the time they chose, one live booking', RACE, async (t) => {
  const clock = new TestClock();
  const { services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const clinic = await createTestClinic(services);
  const invited = await invite(services, clinic, 6);
  const staff = { organisationId: clinic.organisation.id, staffId: clinic.staffId, ip: null };
  // Patient i has slot i; staff act on it while the patient moves to slot i + 6 (staff move it to i + 12).
  const bookingIds: string[] = [];
  for (const [i, who] of invited.entries()) {
    const result = await book(services, who, clinic.slots[i]!.id);
    assert.ok('booked' in result);
    bookingIds.push(result.booked.booking.id);
  }
  const staffSays = (error: unknown) => {
    // Losing to the patient is a refusal staff are shown, never a crash.
    if (error instanceof InvalidInput || error instanceof SlotTaken) return error.constructor.name;
    throw error;
  };
  const results = await Promise.all(
    invited.flatMap((who, i) => [
      book(services, who, clinic.slots[i + 6]!.id),
      (i % 2 === 0
        ? moveByStaff(services, { ...staff, bookingId: bookingIds[i]!, slotId: clinic.slots[i + 12]!.id })
        : cancelByStaff(services, { ...staff, bookingId: bookingIds[i]!, reason: 'Clinic closed' })
      ).then(() => 'done', staffSays),
    ]),
  );
  // Staff and patient queue on the invitation, so each sees what the other did: the patient's new time
  // is free and theirs whichever went first (a change of the moved booking, or a new booking after the
  // cancellation), and staff acting second are told the booking they opened has been replaced.
  for (const [i, who] of invited.entries()) {
    const [patient, staffResult] = [results[2 * i] as BookResult, results[2 * i + 1] as string];
    assert.ok('booked' in patient, `patient ${i}: ${JSON.stringify(outcomes([patient]))}`);
    assert.ok(['done', 'InvalidInput'].includes(staffResult), `staff ${i}: ${staffResult}`);
    const live = await liveOfInvitation(services, who.c.conversationId);
    assert.deepEqual(live.map((b) => b.slotId), [clinic.slots[i + 6]!.id], `invitation ${i} has the time the patient chose last`);
  }
  const all = await services.db.select().from(bookings).where(isNull(bookings.cancelledAt));
  assert.equal(new Set(all.map((b) => b.slotId)).size, all.length, 'no slot booked twice');
});

test('two tabs of one invitation confirming two different times at once: one live booking for the invitation', RACE, async (t) => {
  const clock = new TestClock();
  const { services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const clinic = await createTestClinic(services);
  // Eight invitations, each confirming two times in two tabs, all at the same moment.
  const invited = await invite(services, clinic, 8);
  const results = await Promise.all(invited.map((who, i) => Promise.all([book(services, who, clinic.slots[i]!.id), book(services, who, clinic.slots[i + 9]!.id)])));

  // Each pair queues on the invitation: the second to run changes the first's time, never a second booking.
  for (const [i, who] of invited.entries()) {
    const pair = results[i]!;
    assert.ok(pair.every((r) => 'booked' in r), `invitation ${i}: ${JSON.stringify(outcomes(pair))}`);
    const changes = pair.filter((r) => 'booked' in r && r.changedFrom);
    assert.equal(changes.length, 1, `invitation ${i}: one tab booked, the other changed it`);
    const live = await liveOfInvitation(services, who.c.conversationId);
    assert.equal(live.length, 1, `invitation ${i} has one live booking`);
    assert.equal(live[0]!.id, (changes[0] as { booked: { booking: { id: string } } }).booked.booking.id, 'the one left is the later tab’s');
  }
  const all = await services.db.select().from(bookings).where(isNull(bookings.cancelledAt));
  assert.equal(new Set(all.map((b) => b.slotId)).size, all.length, 'no slot booked twice');
});

test('30 parallel holds of the same time from different invitations: exactly one holds it', RACE, async (t) => {
  const clock = new TestClock();
  const { services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const clinic = await createTestClinic(services);
  const invited = await invite(services, clinic, 30);
  const slot = clinic.slots[7]!;

  const results = await Promise.all(invited.map((who) => holdTime(services, who.invitation, slot.id)));

  const held = results.filter((r) => 'held' in r);
  assert.equal(held.length, 1);
  assert.ok(results.every((r) => 'held' in r || r.refused === 'taken'), JSON.stringify(results.filter((r) => !('held' in r))));
  const holds = await services.db.select().from(bookingHolds).where(eq(bookingHolds.slotId, slot.id));
  assert.equal(holds.length, 1);
  assert.equal(holds[0]!.conversationId, held[0]!.held.conversationId);
  // The holder can confirm it; nobody else can.
  const holder = invited[results.findIndex((r) => 'held' in r)]!;
  const other = invited.find((who) => who !== holder)!;
  assert.deepEqual(await book(services, other, slot.id), { refused: 'taken' });
  assert.ok('booked' in (await book(services, holder, slot.id)));
});

test('holds and bookings of one time at once: whoever books it, nobody else is left holding it', RACE, async (t) => {
  const clock = new TestClock();
  const { services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const clinic = await createTestClinic(services);
  for (let round = 0; round < 3; round++) {
    const invited = await invite(services, clinic, 30, 1 + round * 30);
    const slot = clinic.slots[round]!;
    const results = await Promise.all(invited.map((who, i) => (i % 2 === 0 ? book(services, who, slot.id) : holdTime(services, who.invitation, slot.id))));
    const live = await liveOnSlots(services, [slot.id]);
    const heldNow = await services.db.select().from(bookingHolds).where(eq(bookingHolds.slotId, slot.id));
    const holders = heldNow.filter((h) => h.expiresAt > clock.now()).map((h) => h.conversationId);
    // Either someone booked it and nobody holds it, or someone holds it and nobody could book it.
    assert.equal(live.length + holders.length, 1, `round ${round}: ${live.length} booked, ${holders.length} holding`);
    assert.equal(results.filter((r) => 'booked' in r || 'held' in r).length, 1, `round ${round}: one of the 30 got the time`);
  }
});

// ---- The database's own rules, without the service ----

function bookingRow(who: Invited, slot: Slot, now: Date) {
  return {
    organisationId: who.c.organisation.id,
    conversationId: who.c.conversationId,
    slotId: slot.id,
    clinicianId: slot.clinicianId,
    startsAt: slot.startsAt,
    endsAt: slot.endsAt,
    bookedBy: 'patient',
    bookedAt: now,
  };
}

test('the constraints themselves refuse a second booking of a slot, of a clinician’s time and of an invitation, even from two open transactions', RACE, async (t) => {
  const clock = new TestClock();
  const { services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const clinic = await createTestClinic(services);
  const [a, b, c] = await invite(services, clinic, 3);
  const slot = clinic.slots[2]!;

  // Two transactions insert the same slot: the second waits on the first's row, then is refused.
  let inserted!: () => void;
  let commit!: () => void;
  const firstInserted = new Promise<void>((resolve) => (inserted = resolve));
  const mayCommit = new Promise<void>((resolve) => (commit = resolve));
  const first = services.db.transaction(async (tx) => {
    await insertBooking(tx, bookingRow(a!, slot, clock.now()));
    inserted();
    await mayCommit;
  });
  await firstInserted;
  const second = services.db.transaction((tx) => insertBooking(tx, bookingRow(b!, slot, clock.now())));
  const secondOutcome = second.then(
    () => 'inserted',
    (error: unknown) => slotConflict(error) ?? error,
  );
  await delay(200);
  commit();
  await first;
  assert.equal(await secondOutcome, 'slot_taken');

  // The same clinician at an overlapping time from another session (another slot row) is refused by
  // the exclusion constraint; so is a second live booking of one invitation.
  const actor = { organisationId: clinic.organisation.id, staffId: clinic.staffId, ip: null };
  const { session } = await addSession(services, actor, {
    clinicianId: clinic.clinician.id,
    locationId: clinic.location.id,
    appointmentTypeId: clinic.type.id,
    firstDate: '2026-12-03',
    weekly: false,
    startTime: '09:25',
    endTime: '10:25',
  });
  const overlapping = (await listSlotsOfSession(services.db, session.id))[0]!; // 09:25–09:35 against 09:20–09:30
  await assert.rejects(
    services.db.transaction((tx) => insertBooking(tx, bookingRow(c!, overlapping, clock.now()))),
    (error) => slotConflict(error) === 'clinician_busy',
  );
  await assert.rejects(
    services.db.transaction((tx) => insertBooking(tx, bookingRow(a!, clinic.slots[10]!, clock.now()))),
    (error) => slotConflict(error) === 'invitation_has_booking',
  );
  assert.equal((await services.db.select().from(bookings)).length, 1);
});

test('through the pages: 50 browsers press Confirm for the same time at once; one sees "Appointment booked", 49 the "just booked" page with the times still free', RACE, async (t) => {
  const clock = new TestClock();
  const { app, services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const clinic = await createTestClinic(services);
  const contested = clinic.slots[4]!;
  const browsers: Array<{ c: TestConversation; jar: CookieJar; csrf: string }> = [];
  for (const { c } of await invite(services, clinic, 50, 200)) {
    const jar = await firstDevice(app, c.token);
    // Each browser has the form in front of it (the check page's Confirm carries the CSRF token).
    const page = await get(app, `/${c.token}/conversation/appointment/times?date=2026-12-03`, jar);
    browsers.push({ c, jar, csrf: csrfFrom(page.body) });
  }
  const responses = await Promise.all(
    browsers.map(({ c, jar, csrf }) =>
      postForm(app, `/${c.token}/conversation/appointment/confirm`, jar, { slotId: contested.id, date: '2026-12-03' }, { csrf }),
    ),
  );
  const booked = responses.filter((r) => r.statusCode === 303 && String(r.headers.location).endsWith('/conversation?booked=1'));
  const lost = responses.filter((r) => r.statusCode === 409);
  assert.equal(booked.length, 1, `statuses: ${responses.map((r) => r.statusCode).join(',')}`);
  assert.equal(lost.length, 49);
  for (const page of lost) {
    const words = textOf(page.body);
    assert.match(words, /That time has just been booked by someone else/);
    // The times still free that day are offered again, the contested one not among them.
    assert.ok(page.body.includes(clinic.slots[5]!.id) && !page.body.includes(`value="${contested.id}"`));
  }
  assert.equal((await liveOnSlots(services, [contested.id])).length, 1);
});
