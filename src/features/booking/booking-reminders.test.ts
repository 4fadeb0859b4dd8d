// Appointment reminders from the maintenance job: one text, from 10:00 London the day before (by
// default), through the outbox; never twice, none after a cancellation, none for a booking made after
// the moment or starting within 2 hours, none when turned off.
import test from 'node:test';
import assert from 'node:assert/strict';
import { and, eq } from 'drizzle-orm';
import { createTestApp, TestClock } from '../../../test/helpers/app.ts';
import { createTestClinic, createTestInvitation, testNhsNumber, type TestClinic, asThePatient, invitationOf } from '../../../test/helpers/booking.ts';
import { auditEvents, bookings, outboundSms } from '../../platform/db/schema.ts';
import type { Services } from '../../services.ts';
import { runMaintenance } from '../maintenance/maintenance.service.ts';
import { renderSms } from '../sms/sms-texts.ts';
import { bookTime, cancelByPatient, cancelByStaff } from './booking.service.ts';
import { sendBookingReminders } from './booking-reminders.service.ts';

// The TestClock starts at 10:00 UTC on Thursday 26 November 2026; the test clinic is on Thursday
// 3 December 2026, 9:00 to 12:00 London (GMT), in 10-minute slots: slots[3] is 9:30am.

function setClock(clock: TestClock, at: string): void {
  clock.advance(Date.parse(at) - clock.now().getTime());
}



async function book(services: Services, clinic: TestClinic, slot: number, k: number) {
  const c = await createTestInvitation(services, clinic, { patient: { nhsNumber: testNhsNumber(k), mobileNumber: `+4477009000${String(10 + k).padStart(2, '0')}` } });
  const invitation = await invitationOf(services, c);
  const result = await bookTime(services, { invitation, slotId: clinic.slots[slot]!.id, ...asThePatient(c) });
  assert.ok('booked' in result, JSON.stringify(result));
  return { c, invitation, booking: result.booked.booking };
}

function reminderRows(services: Services, conversationId: string) {
  return services.db.select().from(outboundSms).where(and(eq(outboundSms.conversationId, conversationId), eq(outboundSms.kind, 'booking_reminder')));
}

async function start(config: Record<string, string> = {}) {
  const clock = new TestClock();
  const { services, close } = await createTestApp({ now: clock.now, config });
  const clinic = await createTestClinic(services);
  return { clock, services, close, clinic };
}

test('one reminder at 10:00 London the day before, through the outbox, never twice', async (t) => {
  const { clock, services, close, clinic } = await start();
  t.after(close);
  const { c, booking } = await book(services, clinic, 3, 1);
  assert.equal(booking.startsAt.toISOString(), '2026-12-03T09:30:00.000Z');

  setClock(clock, '2026-12-02T09:59:00Z');
  await runMaintenance(services);
  assert.equal((await reminderRows(services, c.conversationId)).length, 0, 'not at 9:59am the day before');

  setClock(clock, '2026-12-02T10:00:00Z');
  await runMaintenance(services);
  const rows = await reminderRows(services, c.conversationId);
  assert.equal(rows.length, 1, 'at 10:00am the day before');
  assert.equal(rows[0]!.phoneE164, c.patient.mobileE164);
  assert.equal(
    renderSms('booking_reminder', rows[0]!.personalisation),
    `Reminder: you have an appointment with ${clinic.organisation.name} at 9:30am on Thursday 3 December 2026. To change or cancel it, use the link we sent you or call 01632 960 001.`,
  );

  const [row] = await services.db.select().from(bookings).where(eq(bookings.id, booking.id));
  assert.equal(row!.reminderSentAt?.toISOString(), '2026-12-02T10:00:00.000Z');
  const audits = await services.db.select().from(auditEvents).where(and(eq(auditEvents.conversationId, c.conversationId), eq(auditEvents.type, 'booking.reminder_sent')));
  assert.equal(audits.length, 1);
  assert.equal(audits[0]!.actorType, 'system');
  assert.equal((audits[0]!.details as { bookingId: string }).bookingId, booking.id);

  assert.equal(await sendBookingReminders(services), 0, 'a second run sends nothing');
  clock.advance(3 * 3_600_000);
  assert.equal(await sendBookingReminders(services), 0, 'nor a later one');
  assert.equal((await reminderRows(services, c.conversationId)).length, 1);
});

test('none for a cancelled booking, by the patient or by staff', async (t) => {
  const { clock, services, close, clinic } = await start();
  t.after(close);
  const byPatient = await book(services, clinic, 3, 1);
  const byStaff = await book(services, clinic, 4, 2);
  const kept = await book(services, clinic, 5, 3);
  assert.ok('cancelled' in (await cancelByPatient(services, { invitation: byPatient.invitation, ...asThePatient(byPatient.c) })));
  await cancelByStaff(services, { organisationId: clinic.organisation.id, bookingId: byStaff.booking.id, staffId: clinic.staffId, ip: null });

  setClock(clock, '2026-12-02T10:00:00Z');
  assert.equal(await sendBookingReminders(services), 1, 'only the booking still live');
  assert.equal((await reminderRows(services, byPatient.c.conversationId)).length, 0);
  assert.equal((await reminderRows(services, byStaff.c.conversationId)).length, 0);
  assert.equal((await reminderRows(services, kept.c.conversationId)).length, 1);
});

test('a change of time is reminded once, for the new time', async (t) => {
  const { clock, services, close, clinic } = await start();
  t.after(close);
  const { c, invitation } = await book(services, clinic, 3, 1);
  const moved = await bookTime(services, { invitation, slotId: clinic.slots[9]!.id, ...asThePatient(c) });
  assert.ok('booked' in moved);
  setClock(clock, '2026-12-02T10:00:00Z');
  assert.equal(await sendBookingReminders(services), 1);
  const rows = await reminderRows(services, c.conversationId);
  assert.equal(rows.length, 1);
  assert.match(renderSms('booking_reminder', rows[0]!.personalisation), / at 10:30am on Thursday 3 December 2026\./);
});

test('none for a booking made after 10:00 the day before (its confirmation has just been sent); one made before is reminded', async (t) => {
  const { clock, services, close, clinic } = await start();
  t.after(close);
  setClock(clock, '2026-12-02T09:59:00Z');
  const before = await book(services, clinic, 3, 1);
  setClock(clock, '2026-12-02T10:00:00Z');
  const after = await book(services, clinic, 4, 2);
  assert.equal(await sendBookingReminders(services), 1);
  assert.equal((await reminderRows(services, before.c.conversationId)).length, 1);
  assert.equal((await reminderRows(services, after.c.conversationId)).length, 0);
  clock.advance(60 * 60_000);
  assert.equal(await sendBookingReminders(services), 0);
});

test('reminders up to 2 hours ahead: exactly 2 hours ahead is too late', async (t) => {
  const { clock, services, close, clinic } = await start();
  t.after(close);
  const early = await book(services, clinic, 0, 1); // 9:00am
  const late = await book(services, clinic, 6, 2); // 10:00am
  setClock(clock, '2026-12-03T07:00:00Z');
  assert.equal(await sendBookingReminders(services), 1, 'a job that was down still reminds the 10:00am one, 3 hours ahead');
  assert.equal((await reminderRows(services, late.c.conversationId)).length, 1);
  assert.equal((await reminderRows(services, early.c.conversationId)).length, 0, '9:00am is 2 hours ahead: too late to help');
});

test('in summer the moment is 10:00 BST, 9:00 UTC', async (t) => {
  const clock = new TestClock(Date.parse('2027-06-01T10:00:00Z'));
  const { services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const clinic = await createTestClinic(services, { date: '2027-06-10' });
  const { c, booking } = await book(services, clinic, 3, 1);
  assert.equal(booking.startsAt.toISOString(), '2027-06-10T08:30:00.000Z');
  setClock(clock, '2027-06-09T08:59:00Z');
  assert.equal(await sendBookingReminders(services), 0);
  setClock(clock, '2027-06-09T09:00:00Z');
  assert.equal(await sendBookingReminders(services), 1);
  const [row] = await reminderRows(services, c.conversationId);
  assert.match(renderSms('booking_reminder', row!.personalisation), / at 9:30am on Thursday 10 June 2027\./);
});

test('reminderDaysBefore = 0 sends none; 3 sends at 10:00 London three days before', async (t) => {
  const off = await start({ BOOKING_REMINDER_DAYS_BEFORE: '0' });
  t.after(off.close);
  const a = await book(off.services, off.clinic, 3, 1);
  for (const at of ['2026-11-30T10:00:00Z', '2026-12-02T10:00:00Z', '2026-12-03T07:00:00Z']) {
    setClock(off.clock, at);
    await runMaintenance(off.services);
    assert.equal(await sendBookingReminders(off.services), 0, at);
  }
  assert.equal((await reminderRows(off.services, a.c.conversationId)).length, 0);

  const three = await start({ BOOKING_REMINDER_DAYS_BEFORE: '3' });
  t.after(three.close);
  const b = await book(three.services, three.clinic, 3, 1);
  setClock(three.clock, '2026-11-30T09:59:00Z');
  assert.equal(await sendBookingReminders(three.services), 0);
  setClock(three.clock, '2026-11-30T10:00:00Z');
  assert.equal(await sendBookingReminders(three.services), 1);
  assert.equal((await reminderRows(three.services, b.c.conversationId)).length, 1);
});
