// The rules of holding and booking a time, on the test clock, on both databases: how long a hold
// lasts, one per invitation, how many an invitation may take, what is offered to whom, and when an
// invitation may book, change or cancel.
import test from 'node:test';
import assert from 'node:assert/strict';
import { eq } from 'drizzle-orm';
import { createTestApp, TestClock } from '../../../test/helpers/app.ts';
import { createTestClinic, createTestInvitation, testNhsNumber, type TestClinic, asThePatient, invitationOf } from '../../../test/helpers/booking.ts';
import type { TestConversation } from '../../../test/helpers/factories.ts';
import type { Services } from '../../services.ts';
import { bookingHolds } from '../../platform/db/schema.ts';
import { listSlotsOfSession, type Slot } from './booking.repository.ts';
import { bookTime, cancelByPatient, holdTime, liveHold, moveByStaff, offeredSlots, SlotTaken, type BookResult } from './booking.service.ts';
import { addClinician, addSession, setSlotBlock } from './clinic-setup.service.ts';

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

let patients = 0;

interface Invited {
  c: TestConversation;
  invitation: Awaited<ReturnType<typeof invitationOf>>;
}


/** An invitation to a new patient of the clinic. */
async function invite(services: Services, clinic: TestClinic, opts: { earliest?: string; latest?: string; clinicianIds?: string[] } = {}): Promise<Invited> {
  const c = await createTestInvitation(services, clinic, { ...opts, patient: { nhsNumber: testNhsNumber(++patients) } });
  return { c, invitation: await invitationOf(services, c) };
}

const link = (who: Invited) => asThePatient(who.c);

const book = (services: Services, who: Invited, slot: Slot): Promise<BookResult> => bookTime(services, { invitation: who.invitation, slotId: slot.id, ...link(who) });
const hold = (services: Services, who: Invited, slot: Slot) => holdTime(services, who.invitation, slot.id);
const offeredTo = async (services: Services, who: Invited, now: Date) => new Set((await offeredSlots(services, who.invitation, now)).map((s) => s.id));

/** A second session of the clinic's type, on another day or with another clinician. */
async function anotherSession(services: Services, clinic: TestClinic, input: { clinicianId?: string; date: string; start: string; end: string }): Promise<Slot[]> {
  const { session } = await addSession(services, { organisationId: clinic.organisation.id, staffId: clinic.staffId, ip: null }, {
    clinicianId: input.clinicianId ?? clinic.clinician.id,
    locationId: clinic.location.id,
    appointmentTypeId: clinic.type.id,
    firstDate: input.date,
    weekly: false,
    startTime: input.start,
    endTime: input.end,
  });
  return listSlotsOfSession(services.db, session.id);
}

test('a hold lasts BOOKING_HOLD_MINUTES: until then the time is not offered to others nor can they take it; then it can be booked by someone else', async (t) => {
  const clock = new TestClock();
  const { services, close } = await createTestApp({ now: clock.now, config: { BOOKING_HOLD_MINUTES: '5' } });
  t.after(close);
  const clinic = await createTestClinic(services);
  const [a, b] = [await invite(services, clinic), await invite(services, clinic)];
  const slot = clinic.slots[4]!;

  const held = await hold(services, a, slot);
  assert.ok('held' in held);
  assert.equal(held.held.expiresAt.getTime(), clock.now().getTime() + 5 * MINUTE);
  assert.ok((await offeredTo(services, a, clock.now())).has(slot.id), 'the holder is still offered its own time');
  assert.ok(!(await offeredTo(services, b, clock.now())).has(slot.id), 'nobody else is');
  assert.equal((await offeredTo(services, b, clock.now())).size, 17);
  assert.deepEqual(await hold(services, b, slot), { refused: 'taken' });
  assert.deepEqual(await book(services, b, slot), { refused: 'taken' });
  await assert.rejects(moveByStaff(services, { organisationId: clinic.organisation.id, bookingId: await bookedId(services, b, clinic.slots[0]!), staffId: clinic.staffId, ip: null, slotId: slot.id }), SlotTaken);

  clock.advance(5 * MINUTE - 1);
  assert.ok(!(await offeredTo(services, b, clock.now())).has(slot.id), 'still held a millisecond before it runs out');
  assert.ok(await liveHold(services, a.invitation, clock.now()));
  clock.advance(1);
  assert.equal(await liveHold(services, a.invitation, clock.now()), undefined);
  assert.ok((await offeredTo(services, b, clock.now())).has(slot.id), 'offered to others once it runs out');
  const c = await invite(services, clinic);
  assert.ok('booked' in (await book(services, c, slot)), 'someone else books the expired hold');
  assert.deepEqual(await book(services, a, slot), { refused: 'taken' }, 'the late holder is told it has gone');
});

/** Books `slot` for the invitation and returns the booking's id. */
async function bookedId(services: Services, who: Invited, slot: Slot): Promise<string> {
  const result = await book(services, who, slot);
  assert.ok('booked' in result, JSON.stringify(result));
  return result.booked.booking.id;
}

test('one hold per invitation: choosing another time lets the first go, and it is offered to others again', async (t) => {
  const clock = new TestClock();
  const { services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const clinic = await createTestClinic(services);
  const [a, b] = [await invite(services, clinic), await invite(services, clinic)];
  const [first, second] = [clinic.slots[1]!, clinic.slots[2]!];

  assert.ok('held' in (await hold(services, a, first)));
  assert.ok(!(await offeredTo(services, b, clock.now())).has(first.id));
  assert.ok('held' in (await hold(services, a, second)));
  const offered = await offeredTo(services, b, clock.now());
  assert.ok(offered.has(first.id), 'the first time is free again');
  assert.ok(!offered.has(second.id));
  assert.equal((await liveHold(services, a.invitation, clock.now()))?.slotId, second.id);
  const rows = await services.db.select().from(bookingHolds).where(eq(bookingHolds.conversationId, a.c.conversationId));
  assert.equal(rows.length, 1);
  assert.ok('held' in (await hold(services, b, first)), 'another invitation can hold it now');
  // Booking releases the hold too: the booked time is then kept by the booking alone.
  assert.ok('booked' in (await book(services, a, second)));
  assert.equal(await liveHold(services, a.invitation, clock.now()), undefined);
  assert.ok(!(await offeredTo(services, b, clock.now())).has(second.id));
});

test('choosing the same time again does not extend its hold', async (t) => {
  const clock = new TestClock();
  const { services, close } = await createTestApp({ now: clock.now, config: { BOOKING_HOLD_MINUTES: '10' } });
  t.after(close);
  const clinic = await createTestClinic(services);
  const [a, b] = [await invite(services, clinic), await invite(services, clinic)];
  const slot = clinic.slots[6]!;
  const firstHeldAt = clock.now().getTime();

  assert.ok('held' in (await hold(services, a, slot)));
  for (let i = 0; i < 3; i++) {
    clock.advance(3 * MINUTE);
    const again = await hold(services, a, slot);
    assert.ok('held' in again);
    assert.equal(again.held.expiresAt.getTime(), firstHeldAt + 10 * MINUTE, 'the first expiry stands');
  }
  clock.advance(MINUTE);
  assert.ok('held' in (await hold(services, b, slot)), 'ten minutes after it was first chosen, it is anyone’s');
});

test('after BOOKING_HOLDS_PER_INVITATION holds the next is refused; holding the same time again is not a new hold', async (t) => {
  const clock = new TestClock();
  const { services, close } = await createTestApp({ now: clock.now, config: { BOOKING_HOLDS_PER_INVITATION: '3' } });
  t.after(close);
  const clinic = await createTestClinic(services);
  const [a, b] = [await invite(services, clinic), await invite(services, clinic)];
  const s = clinic.slots;

  assert.ok('held' in (await hold(services, a, s[0]!)));
  assert.ok('held' in (await hold(services, a, s[0]!)), 'the same time again does not count');
  assert.ok('held' in (await hold(services, a, s[1]!)));
  assert.ok('held' in (await hold(services, a, s[2]!)));
  assert.deepEqual(await hold(services, a, s[3]!), { refused: 'too_many_holds' });
  assert.equal((await liveHold(services, a.invitation, clock.now()))?.slotId, s[2]!.id, 'the refused choice keeps the time held before');
  assert.ok('held' in (await hold(services, a, s[2]!)), 'the time it holds can still be chosen again');
  assert.ok((await offeredTo(services, b, clock.now())).has(s[3]!.id));
  // Once its hold runs out, holding even the same time again would be a fourth hold.
  clock.advance(10 * MINUTE);
  assert.deepEqual(await hold(services, a, s[2]!), { refused: 'too_many_holds' });
  // The limit stops an invitation keeping times from others, not booking: a free time can still be confirmed.
  assert.ok('booked' in (await book(services, a, s[2]!)));
});

test('an expired hold taken over by another invitation still counts towards its own invitation’s limit', async (t) => {
  const clock = new TestClock();
  const { services, close } = await createTestApp({ now: clock.now, config: { BOOKING_HOLDS_PER_INVITATION: '2' } });
  t.after(close);
  const clinic = await createTestClinic(services);
  const [a, b] = [await invite(services, clinic), await invite(services, clinic)];
  const s = clinic.slots;

  assert.ok('held' in (await hold(services, b, s[0]!)));
  clock.advance(10 * MINUTE);
  assert.ok('held' in (await hold(services, a, s[0]!)), 'A takes the time B let run out');
  assert.ok('held' in (await hold(services, b, s[1]!)), 'B’s second hold');
  assert.deepEqual(await hold(services, b, s[2]!), { refused: 'too_many_holds' }, 'B has had its two: losing the first to A gave it no extra');
});

test('a blocked time and a time in the past are never offered nor can they be held or booked', async (t) => {
  const clock = new TestClock();
  const { services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const clinic = await createTestClinic(services);
  const [a, b] = [await invite(services, clinic), await invite(services, clinic)];
  const actor = { organisationId: clinic.organisation.id, staffId: clinic.staffId, ip: null };
  const [blocked, heldThenBlocked] = [clinic.slots[8]!, clinic.slots[9]!];

  assert.ok('held' in (await hold(services, b, heldThenBlocked)));
  await setSlotBlock(services, actor, blocked.id, true);
  await setSlotBlock(services, actor, heldThenBlocked.id, true);
  for (const slot of [blocked, heldThenBlocked]) {
    assert.ok(!(await offeredTo(services, a, clock.now())).has(slot.id));
    assert.ok(!(await offeredTo(services, b, clock.now())).has(slot.id), 'not even to the invitation that held it');
    assert.deepEqual(await hold(services, a, slot), { refused: 'not_offered' });
    assert.deepEqual(await book(services, a, slot), { refused: 'not_offered' });
  }
  assert.deepEqual(await book(services, b, heldThenBlocked), { refused: 'not_offered' }, 'a hold does not outlast a block');
  await setSlotBlock(services, actor, blocked.id, false);
  assert.ok((await offeredTo(services, a, clock.now())).has(blocked.id), 'unblocked, it is offered again');

  // On the day, at 9:10am: the 9am and 9:10am times have started, 9:20am has not.
  clock.advance(Date.parse('2026-12-03T09:10:00Z') - clock.now().getTime());
  const [started, startingNow, next] = [clinic.slots[0]!, clinic.slots[1]!, clinic.slots[2]!];
  const offered = await offeredTo(services, a, clock.now());
  for (const slot of [started, startingNow]) {
    assert.ok(!offered.has(slot.id));
    assert.deepEqual(await hold(services, a, slot), { refused: 'not_offered' });
    assert.deepEqual(await book(services, a, slot), { refused: 'not_offered' });
  }
  assert.ok(offered.has(next.id));
  assert.ok('booked' in (await book(services, a, next)));
});

test('an invitation is offered only its clinicians and its window, from midnight of the first day to midnight after the last', async (t) => {
  const clock = new TestClock();
  const { services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  // Thursday clinics on 3 and 10 December with the first clinician; an afternoon with a second.
  const clinic = await createTestClinic(services, { weeklyUntil: '2026-12-10' });
  const actor = { organisationId: clinic.organisation.id, staffId: clinic.staffId, ip: null };
  const other = await addClinician(services, actor, { name: 'Alex Jones', role: 'Healthcare assistant' });
  const afternoon = await anotherSession(services, clinic, { clinicianId: other.id, date: '2026-12-03', start: '13:00', end: '14:00' });
  const firstMidnight = await anotherSession(services, clinic, { date: '2026-12-10', start: '00:00', end: '00:10' });
  const afterLast = await anotherSession(services, clinic, { date: '2026-12-11', start: '00:00', end: '00:10' });
  const thursday3 = clinic.slots.filter((s) => s.startsAt < new Date('2026-12-04T00:00:00Z'));
  const thursday10 = clinic.slots.filter((s) => s.startsAt > new Date('2026-12-10T00:00:00Z'));
  assert.equal(thursday3.length, 18);
  assert.equal(thursday10.length, 18);

  const withOther = await invite(services, clinic, { clinicianIds: [other.id] });
  const offered = await offeredSlots(services, withOther.invitation, clock.now());
  assert.deepEqual(offered.map((s) => s.id), afternoon.map((s) => s.id));
  assert.deepEqual(await hold(services, withOther, thursday3[0]!), { refused: 'not_offered' });
  assert.deepEqual(await book(services, withOther, thursday3[0]!), { refused: 'not_offered' });
  assert.ok('booked' in (await book(services, withOther, afternoon[0]!)));

  const onThe10th = await invite(services, clinic, { earliest: '2026-12-10', latest: '2026-12-10' });
  const inWindow = await offeredSlots(services, onThe10th.invitation, clock.now());
  assert.deepEqual(inWindow.map((s) => s.id), [firstMidnight[0]!.id, ...thursday10.map((s) => s.id)], 'the 10th, midnight included; not the 3rd nor the 11th');
  for (const outside of [thursday3[0]!, afterLast[0]!]) {
    assert.deepEqual(await hold(services, onThe10th, outside), { refused: 'not_offered' });
    assert.deepEqual(await book(services, onThe10th, outside), { refused: 'not_offered' });
  }
  assert.ok('booked' in (await book(services, onThe10th, firstMidnight[0]!)));
});

test('after the booking period nothing new can be booked, but a booking made in time can still be changed', async (t) => {
  const clock = new TestClock();
  const { services, close } = await createTestApp({ now: clock.now, config: { BOOKING_LINK_TTL_DAYS: '7' } });
  t.after(close);
  const clinic = await createTestClinic(services, { weeklyUntil: '2026-12-10' });
  const later = clinic.slots.filter((s) => s.startsAt > new Date('2026-12-10T00:00:00Z'));
  const [booker, lateComer, justInTime] = [await invite(services, clinic), await invite(services, clinic), await invite(services, clinic)];
  assert.equal(booker.invitation.payload.bookForDays, 7);
  await bookedId(services, booker, later[0]!);

  clock.advance(7 * DAY - 1);
  assert.ok('booked' in (await book(services, justInTime, later[5]!)), 'a millisecond before the period ends');
  clock.advance(1);
  assert.deepEqual(await book(services, lateComer, later[1]!), { refused: 'closed' });
  const changed = await book(services, booker, later[2]!);
  assert.ok('booked' in changed && changed.changedFrom?.slotId === later[0]!.id, 'the booking made in time is changed');
  assert.ok('cancelled' in (await cancelByPatient(services, { invitation: booker.invitation, ...link(booker) })));
  assert.deepEqual(await book(services, booker, later[2]!), { refused: 'closed' }, 'once cancelled, it cannot be booked again after the period');
});

test('changing or cancelling is refused from the type’s cut-off before the appointment', async (t) => {
  const clock = new TestClock();
  const { services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const clinic = await createTestClinic(services, { cancelCutoffMinutes: 120 });
  const [a, b] = [await invite(services, clinic), await invite(services, clinic)];
  const [nine, ten, eleven] = [clinic.slots[0]!, clinic.slots[6]!, clinic.slots[12]!];
  await bookedId(services, a, nine);
  await bookedId(services, b, ten);

  // 7am on the day: two hours before nine, so the 9am booking is past its cut-off; 10am is not.
  clock.advance(Date.parse('2026-12-03T07:00:00Z') - clock.now().getTime());
  assert.deepEqual(await book(services, a, eleven), { refused: 'too_late_to_change' });
  assert.deepEqual(await cancelByPatient(services, { invitation: a.invitation, ...link(a) }), { refused: 'too_late' });
  assert.deepEqual(await book(services, a, nine).then((r) => 'alreadyBooked' in r), true, 'the booking stands');
  const changed = await book(services, b, eleven);
  assert.ok('booked' in changed && changed.changedFrom?.slotId === ten.id);
  // At 9am the 11am booking reaches its own cut-off.
  clock.advance(2 * 60 * MINUTE);
  assert.deepEqual(await cancelByPatient(services, { invitation: b.invitation, ...link(b) }), { refused: 'too_late' });
  clock.advance(-1);
  assert.ok('cancelled' in (await cancelByPatient(services, { invitation: b.invitation, ...link(b) })), 'a millisecond before the cut-off');
});
