// The calendar file, read back by a real calendar parser (ical.js, Mozilla's, used by Thunderbird):
// it imports at the booked instant in summer, in winter and on the nights the clocks change, its lines
// follow the format (CRLF, folded at 75 octets, TEXT escaped), and a cancellation outranks the booking.
import test from 'node:test';
import assert from 'node:assert/strict';
import ICAL from 'ical.js';
import { eq } from 'drizzle-orm';
import { createTestApp, TestClock } from '../../../test/helpers/app.ts';
import { createTestClinic, createTestInvitation, testNhsNumber, asThePatient, invitationOf } from '../../../test/helpers/booking.ts';
import { bookings } from '../../platform/db/schema.ts';
import { bookingCalendarFile, escapeText, foldLine } from './calendar-file.ts';
import { bookTime, cancelByPatient, latestBooking, type BookingDetails } from './booking.service.ts';
import { cancelBookingRow } from './booking.repository.ts';

const NOW = new Date('2026-11-26T10:00:00Z');
const CONVERSATION = '7d4f2c1e-8a3b-4c5d-9e6f-0a1b2c3d4e5f';

function detailsAt(startsAt: Date, opts: { minutes?: number; mode?: 'face_to_face' | 'telephone' | 'video'; typeName?: string; locationName?: string; address?: string; patientInfo?: string; sequence?: number; cancelledBy?: string | null } = {}): BookingDetails {
  const endsAt = new Date(startsAt.getTime() + (opts.minutes ?? 10) * 60_000);
  const ids = { organisationId: '00000000-0000-4000-8000-000000000001', clinicianId: '00000000-0000-4000-8000-000000000002', locationId: '00000000-0000-4000-8000-000000000003', appointmentTypeId: '00000000-0000-4000-8000-000000000004' };
  const cancelled = opts.cancelledBy !== undefined && opts.cancelledBy !== null;
  return {
    booking: {
      id: '00000000-0000-4000-8000-000000000010',
      organisationId: ids.organisationId,
      conversationId: CONVERSATION,
      slotId: '00000000-0000-4000-8000-000000000011',
      clinicianId: ids.clinicianId,
      startsAt,
      endsAt,
      sequence: opts.sequence ?? 0,
      bookedBy: 'patient',
      bookedByStaffId: null,
      bookedAt: NOW,
      cancelledAt: cancelled ? NOW : null,
      cancelledBy: opts.cancelledBy ?? null,
      cancelledByStaffId: null,
      cancelReason: null,
      reminderSentAt: null,
    },
    slot: {
      id: '00000000-0000-4000-8000-000000000011',
      organisationId: ids.organisationId,
      sessionId: '00000000-0000-4000-8000-000000000012',
      clinicianId: ids.clinicianId,
      locationId: ids.locationId,
      appointmentTypeId: ids.appointmentTypeId,
      startsAt,
      endsAt,
      blockedAt: null,
      blockedByStaffId: null,
      createdAt: NOW,
      clinicianName: 'Sam Patel',
      clinicianRole: 'Practice nurse',
      locationName: opts.locationName ?? 'Riverside Surgery',
    },
    type: {
      id: ids.appointmentTypeId,
      organisationId: ids.organisationId,
      name: opts.typeName ?? 'Flu vaccination',
      lengthMinutes: opts.minutes ?? 10,
      mode: opts.mode ?? 'face_to_face',
      patientInfo: opts.patientInfo ?? 'Wear a top with short sleeves.',
      cancelCutoffMinutes: 60,
      createdAt: NOW,
    } as BookingDetails['type'],
    location: {
      id: ids.locationId,
      organisationId: ids.organisationId,
      name: opts.locationName ?? 'Riverside Surgery',
      address: opts.address ?? '1 River Street, Leeds LS1 1AA',
      phone: '01632 960 001',
      createdAt: NOW,
    } as BookingDetails['location'],
    changeUntil: new Date(startsAt.getTime() - 60 * 60_000),
  };
}

/** Parses as a calendar program would: the file's own VTIMEZONE is the only zone data it has. */
function parse(ics: string) {
  const calendar = new ICAL.Component(ICAL.parse(ics));
  for (const zone of calendar.getAllSubcomponents('vtimezone')) ICAL.TimezoneService.register(new ICAL.Timezone(zone));
  const vevent = calendar.getFirstSubcomponent('vevent');
  assert.ok(vevent, 'has a VEVENT');
  const event = new ICAL.Event(vevent);
  return { calendar, vevent, event, start: event.startDate.toJSDate(), end: event.endDate.toJSDate() };
}

test('imports at the booked instant in winter, in summer and on the nights the clocks change', () => {
  const cases: Array<[string, string, string]> = [
    // [instant, DTSTART as written, why]
    ['2026-12-03T09:30:00Z', ';TZID=Europe/London:20261203T093000', 'winter: GMT'],
    ['2026-07-15T08:30:00Z', ';TZID=Europe/London:20260715T093000', 'summer: BST'],
    ['2026-03-29T00:30:00Z', ';TZID=Europe/London:20260329T003000', 'last Sunday of March, before the change'],
    ['2026-03-29T01:00:00Z', ';TZID=Europe/London:20260329T020000', 'last Sunday of March, the moment the clocks resume'],
    ['2026-03-29T08:00:00Z', ';TZID=Europe/London:20260329T090000', 'last Sunday of March, 9am BST'],
    ['2026-10-24T23:30:00Z', ';TZID=Europe/London:20261025T003000', 'last Sunday of October, 12:30am BST'],
    ['2026-10-25T00:30:00Z', ':20261025T003000Z', 'last Sunday of October, the first 1:30am (BST)'],
    ['2026-10-25T01:30:00Z', ':20261025T013000Z', 'last Sunday of October, the second 1:30am (GMT)'],
    ['2026-10-25T02:00:00Z', ';TZID=Europe/London:20261025T020000', 'last Sunday of October, 2am GMT'],
    ['2026-10-25T09:00:00Z', ';TZID=Europe/London:20261025T090000', 'last Sunday of October, 9am GMT'],
    ['2026-10-24T08:00:00Z', ';TZID=Europe/London:20261024T090000', 'the Saturday before, still BST'],
  ];
  for (const [instant, value, why] of cases) {
    const startsAt = new Date(instant);
    const ics = bookingCalendarFile(detailsAt(startsAt), { name: 'Riverside Practice' }, NOW);
    assert.ok(ics.includes(`\r\nDTSTART${value}\r\n`), why);
    const { start, end, event } = parse(ics);
    assert.equal(start.toISOString(), startsAt.toISOString(), why);
    assert.equal(end.getTime() - start.getTime(), 10 * 60_000, why);
    assert.equal(event.startDate.zone?.tzid, value.startsWith(';TZID') ? 'Europe/London' : 'UTC', why);
  }
});

test('the calendar and event say what, when, where and how to change it', () => {
  const startsAt = new Date('2026-12-03T09:30:00Z');
  const ics = bookingCalendarFile(detailsAt(startsAt, { sequence: 2 }), { name: 'Riverside Practice' }, NOW);
  const { calendar, vevent, event } = parse(ics);
  assert.equal(calendar.getFirstPropertyValue('version'), '2.0');
  assert.ok(String(calendar.getFirstPropertyValue('prodid')).length > 0);
  assert.equal(calendar.getFirstPropertyValue('calscale'), 'GREGORIAN');
  assert.equal(calendar.getFirstPropertyValue('method'), 'PUBLISH');
  assert.equal(event.uid, `booking-${CONVERSATION}@dovecote`);
  assert.equal(event.sequence, 2);
  assert.equal(event.summary, 'Flu vaccination with Riverside Practice');
  assert.equal(event.location, 'Riverside Surgery, 1 River Street, Leeds LS1 1AA');
  assert.match(event.description, /Sam Patel/);
  assert.match(event.description, /Wear a top with short sleeves\./);
  assert.match(event.description, /01632 960 001/);
  assert.equal(vevent.getFirstPropertyValue('status'), 'CONFIRMED');
  assert.equal((vevent.getFirstPropertyValue('dtstamp') as ICAL.Time).toJSDate().toISOString(), NOW.toISOString());
  assert.match(ics, /\r\nDTSTAMP:20261126T100000Z\r\n/);

  // The zone: BST from the last Sunday of March, GMT from the last Sunday of October, every year.
  const zone = calendar.getFirstSubcomponent('vtimezone')!;
  assert.equal(zone.getFirstPropertyValue('tzid'), 'Europe/London');
  const daylight = zone.getFirstSubcomponent('daylight')!;
  const standard = zone.getFirstSubcomponent('standard')!;
  assert.equal(daylight.getFirstPropertyValue('tzname'), 'BST');
  assert.equal(standard.getFirstPropertyValue('tzname'), 'GMT');
  assert.equal(String(daylight.getFirstPropertyValue('rrule')), 'FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU');
  assert.equal(String(standard.getFirstPropertyValue('rrule')), 'FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU');
});

test('telephone and video appointments say so instead of an address', () => {
  const startsAt = new Date('2026-12-03T09:30:00Z');
  assert.equal(parse(bookingCalendarFile(detailsAt(startsAt, { mode: 'telephone' }), { name: 'X' }, NOW)).event.location, 'Telephone appointment');
  assert.equal(parse(bookingCalendarFile(detailsAt(startsAt, { mode: 'video' }), { name: 'X' }, NOW)).event.location, 'Video appointment');
});

test('CRLF line endings, lines of at most 75 octets, and commas, semicolons, backslashes and newlines escaped', () => {
  const startsAt = new Date('2026-12-03T09:30:00Z');
  const details = detailsAt(startsAt, {
    typeName: 'Review; bloods, and BP',
    locationName: 'St Mary’s Health Centre, Annexe; Room 2',
    address: 'Flat 1\nWhitechapel Road, London E1 1BB — “rear entrance” \\ ring bell',
    patientInfo: `Bring your medicines, a list of questions; and your glasses.\nCafé and parking nearby. ${'Ünïcödé text 🙂 '.repeat(12)}`,
  });
  const organisation = { name: 'Dr Smith, Jones; and Partners' };
  const ics = bookingCalendarFile(details, organisation, NOW);

  assert.ok(ics.endsWith('\r\n'));
  assert.doesNotMatch(ics.replace(/\r\n/g, ''), /[\r\n]/, 'every line break is CRLF');
  for (const line of ics.split('\r\n')) assert.ok(Buffer.byteLength(line, 'utf8') <= 75, `${Buffer.byteLength(line, 'utf8')} octets: ${line}`);
  assert.ok(ics.split('\r\n').some((line) => line.startsWith(' ')), 'long lines were folded');
  assert.doesNotMatch(ics, /\uFFFD/);

  const { event } = parse(ics);
  assert.equal(event.summary, 'Review; bloods, and BP with Dr Smith, Jones; and Partners');
  assert.equal(event.location, 'St Mary’s Health Centre, Annexe; Room 2, Flat 1\nWhitechapel Road, London E1 1BB — “rear entrance” \\ ring bell');
  assert.ok(event.description.includes(details.type.patientInfo.trim()), 'unicode survives folding whole');
  assert.match(ics, /SUMMARY:Review\\; bloods\\, and BP with Dr Smith\\, Jones\\; and Partners\r\n/);
});

test('escapeText and foldLine on their own', () => {
  assert.equal(escapeText('a\\b;c,d\ne\r\nf'), 'a\\\\b\\;c\\,d\\ne\\nf');
  const folded = foldLine(`DESCRIPTION:${'é'.repeat(100)}`);
  const lines = folded.split('\r\n');
  for (const line of lines) assert.ok(Buffer.byteLength(line) <= 75);
  assert.equal(lines.map((l, i) => (i === 0 ? l : l.slice(1))).join(''), `DESCRIPTION:${'é'.repeat(100)}`);
  assert.equal(foldLine('SHORT:line'), 'SHORT:line');
  assert.equal(foldLine('X'.repeat(75)), 'X'.repeat(75));
});


test('a cancelled booking is METHOD:CANCEL of the same event with a higher SEQUENCE; a change of time updates it', async (t) => {
  const clock = new TestClock();
  const { services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const clinic = await createTestClinic(services);
  const c = await createTestInvitation(services, clinic);
  const invitation = await invitationOf(services, c);
  const who = asThePatient(c);

  const booked = await bookTime(services, { invitation, slotId: clinic.slots[3]!.id, ...who });
  assert.ok('booked' in booked);
  const first = parse(bookingCalendarFile(booked.booked, clinic.organisation, clock.now()));
  assert.equal(first.calendar.getFirstPropertyValue('method'), 'PUBLISH');
  assert.equal(first.start.toISOString(), clinic.slots[3]!.startsAt.toISOString());

  const moved = await bookTime(services, { invitation, slotId: clinic.slots[5]!.id, ...who });
  assert.ok('booked' in moved);
  const second = parse(bookingCalendarFile(moved.booked, clinic.organisation, clock.now()));
  assert.equal(second.event.uid, first.event.uid, 'the same calendar event');
  assert.ok(second.event.sequence > first.event.sequence);
  assert.equal(second.start.toISOString(), clinic.slots[5]!.startsAt.toISOString());
  // The replaced row is cancelled as 'changed': still not a cancellation of the appointment.
  const [replaced] = await services.db.select().from(bookings).where(eq(bookings.id, booked.booked.booking.id));
  assert.equal(replaced!.cancelledBy, 'changed');
  assert.equal(parse(bookingCalendarFile({ ...booked.booked, booking: replaced! }, clinic.organisation, clock.now())).calendar.getFirstPropertyValue('method'), 'PUBLISH');

  const cancelled = await cancelByPatient(services, { invitation, ...who });
  assert.ok('cancelled' in cancelled);
  const latest = await latestBooking(services, invitation);
  assert.equal(latest!.booking.id, moved.booked.booking.id);
  const third = parse(bookingCalendarFile(latest!, clinic.organisation, clock.now()));
  assert.equal(third.calendar.getFirstPropertyValue('method'), 'CANCEL');
  assert.equal(third.vevent.getFirstPropertyValue('status'), 'CANCELLED');
  assert.equal(third.event.uid, first.event.uid);
  assert.equal(third.event.sequence, second.event.sequence + 1, 'cancelBookingRow bumps the sequence');

  // And by staff the same way (cancelBookingRow directly, as cancelByStaff does).
  const d = await createTestInvitation(services, clinic, { patient: { nhsNumber: testNhsNumber(5) } });
  const invD = await invitationOf(services, d);
  const bookedD = await bookTime(services, {
    invitation: invD,
    slotId: clinic.slots[8]!.id,
    ...asThePatient(d),
  });
  assert.ok('booked' in bookedD);
  const row = await cancelBookingRow(services.db, { bookingId: bookedD.booked.booking.id, now: clock.now(), by: 'staff', staffId: clinic.staffId });
  const byStaff = parse(bookingCalendarFile({ ...bookedD.booked, booking: row! }, clinic.organisation, clock.now()));
  assert.equal(byStaff.calendar.getFirstPropertyValue('method'), 'CANCEL');
  assert.equal(byStaff.event.sequence, bookedD.booked.booking.sequence + 1);
});
