// The booking service on the clock: holds, booking, changing and cancelling, and the rules each keeps.
import test from 'node:test';
import assert from 'node:assert/strict';
import { createTestApp, TestClock } from '../../../test/helpers/app.ts';
import { createTestClinic, createTestInvitation, testNhsNumber, asThePatient, invitationOf } from '../../../test/helpers/booking.ts';
import { eq } from 'drizzle-orm';
import { bookTime, cancelByPatient, holdTime, offeredDays, offeredSlots } from './booking.service.ts';
import { addSession } from './clinic-setup.service.ts';
import { resendLink } from '../conversations/conversations.service.ts';
import { links } from '../../platform/db/schema.ts';


const actorFor = asThePatient;

test('a held time is not offered to another invitation, and is offered again once the hold runs out', async (t) => {
  const clock = new TestClock();
  const { services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const clinic = await createTestClinic(services);
  const a = await createTestInvitation(services, clinic, { patient: { nhsNumber: testNhsNumber(1) } });
  const b = await createTestInvitation(services, clinic, { patient: { nhsNumber: testNhsNumber(2) } });
  const invA = await invitationOf(services, a);
  const invB = await invitationOf(services, b);
  const first = clinic.slots[0]!;
  assert.equal((await offeredSlots(services, invB, clock.now())).length, 18);
  const held = await holdTime(services, invA, first.id);
  assert.ok('held' in held);
  assert.ok(!(await offeredSlots(services, invB, clock.now())).some((s) => s.id === first.id));
  assert.deepEqual(await holdTime(services, invB, first.id), { refused: 'taken' });
  clock.advance(10 * 60_000 + 1);
  assert.ok((await offeredSlots(services, invB, clock.now())).some((s) => s.id === first.id));
  const booked = await bookTime(services, { invitation: invB, slotId: first.id, ...actorFor(b) });
  assert.ok('booked' in booked);
  const lost = await bookTime(services, { invitation: invA, slotId: first.id, ...actorFor(a) });
  assert.deepEqual(lost, { refused: 'taken' });
  const cancelled = await cancelByPatient(services, { invitation: invB, reason: 'Feeling better', ...actorFor(b) });
  assert.ok('cancelled' in cancelled);
  assert.ok('booked' in (await bookTime(services, { invitation: invA, slotId: first.id, ...actorFor(a) })));
});

test('a re-sent link still reaches the booked appointment; every day of a large clinic is offered', async (t) => {
  const clock = new TestClock();
  const { services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  // 5-minute slots every day for 8 weeks: 3,300 slots, more than one page of rows.
  const clinic = await createTestClinic(services, { date: '2026-11-27', start: '08:00', end: '12:35', lengthMinutes: 5, weeklyUntil: '2027-01-22' });
  const extra = await addSession(services, { organisationId: clinic.organisation.id, staffId: clinic.staffId, ip: null }, {
    clinicianId: clinic.clinician.id,
    locationId: clinic.location.id,
    appointmentTypeId: clinic.type.id,
    firstDate: '2026-11-28',
    lastDate: '2027-01-02',
    weekly: true,
    startTime: '08:00',
    endTime: '20:00',
  });
  assert.ok(extra.slots > 700);
  const a = await createTestInvitation(services, clinic, { patient: { nhsNumber: testNhsNumber(3) } });
  const inv = await invitationOf(services, a);
  const days = await offeredDays(services, inv, clock.now());
  // The window is 6 weeks from 26 November: Fridays and Saturdays up to 6 January.
  assert.equal(days.at(-1)!.date, '2027-01-02');
  assert.equal(days.find((d) => d.date === '2027-01-02')!.count, 144);
  const last = (await offeredSlots(services, inv, clock.now(), '2027-01-02')).at(-1)!;
  assert.ok('held' in (await holdTime(services, inv, last.id)), 'the last time of the window can be held');
  assert.ok('booked' in (await bookTime(services, { invitation: inv, slotId: last.id, ...actorFor(a) })));

  const resent = await resendLink(services, { organisationId: clinic.organisation.id, staffId: clinic.staffId, conversationId: a.conversationId, ip: '127.0.0.1' });
  const [link] = await services.db.select().from(links).where(eq(links.id, resent.linkId));
  assert.equal(link!.expiresAt.toISOString(), last.endsAt.toISOString(), 'the new link works until the appointment ends, not just 7 days');
});
