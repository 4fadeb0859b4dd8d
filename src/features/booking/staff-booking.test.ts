// Staff booking pages: setting up a clinic through the forms, the diary (day and week, free, booked,
// blocked, cancelled; block and unblock), cancelling and moving a booking (and the text each queues),
// the conversation panel, inviting a patient to book, and who may not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { and, eq } from 'drizzle-orm';
import { createTestApp, TestClock, type TestApp } from '../../../test/helpers/app.ts';
import { createTestClinic, createTestInvitation, testNhsNumber, type TestClinic, bookAsThePatient } from '../../../test/helpers/booking.ts';
import { CookieJar, createTestOrganisation, createTestPatient, createTestStaff, type TestConversation } from '../../../test/helpers/factories.ts';
import { errorSummaryItems, pageText, signInAsStaff, staffGet, staffPost } from '../../../test/helpers/staff.ts';
import { auditEvents, bookingClinicians, conversations, outboundSms } from '../../platform/db/schema.ts';
import type { Organisation } from '../organisations/organisations.service.ts';
import { bookingPayloadSchema } from './booking.kind.ts';
import { liveBooking } from './booking.repository.ts';

async function signedInStaff(t: TestApp, organisation: Organisation, name = 'Sam Carter') {
  const staff = await createTestStaff(t.services, organisation.id, { name });
  return { staff, jar: await signInAsStaff(t.app, staff.email, staff.password) };
}

/** Each row of the page's tables as the words on it. */
const tableRows = (html: string) => [...html.matchAll(/<tr class="nhsuk-table__row">([\s\S]*?)<\/tr>/g)].map((m) => pageText(m[1]!));

async function book(t: TestApp, c: TestConversation, slotId: string) {
  const result = await bookAsThePatient(t.services, c, slotId);
  assert.ok('booked' in result, JSON.stringify(result));
  return result.booked.booking;
}

const textsOf = async (t: TestApp, conversationId: string, kind: 'booking_cancelled' | 'booking_moved') =>
  t.services.db.select().from(outboundSms).where(and(eq(outboundSms.conversationId, conversationId), eq(outboundSms.kind, kind)));

test('staff set up a clinic through the pages, invite a patient to book from the patient page, and are refused without a session or CSRF token', async (t) => {
  const clock = new TestClock();
  const ta = await createTestApp({ now: clock.now });
  t.after(ta.close);
  const organisation = await createTestOrganisation(ta.services, { name: 'Oak Lane Surgery' });
  const { jar } = await signedInStaff(ta, organisation);

  const empty = await staffGet(ta.app, jar, '/staff/clinic');
  assert.equal(empty.statusCode, 200);
  for (const add of ['Add a clinician', 'Add a location', 'Add an appointment type', 'Add a session']) assert.match(pageText(empty.body), new RegExp(add));

  // Each form: once with bad input (the error summary), then good (back to the overview with a banner).
  const forms: Array<{ path: string; bad: Record<string, string>; errors: string[]; good: () => Record<string, string>; banner: RegExp }> = [
    { path: '/staff/clinic/clinicians/new', bad: { name: '', role: '' }, errors: ['#name Enter the clinician’s name', '#role Enter their role, for example Practice nurse'], good: () => ({ name: 'Sam Patel', role: 'Practice nurse' }), banner: /Clinician added/ },
    { path: '/staff/clinic/locations/new', bad: { name: 'Riverside', address: '1 River Street', phone: 'call us' }, errors: ['#phone Enter a phone number, like 01632 960 001'], good: () => ({ name: 'Riverside Surgery', address: '1 River Street, Leeds', phone: '01632 960 001' }), banner: /Location added/ },
    {
      path: '/staff/clinic/appointment-types/new',
      bad: { name: 'Flu vaccination', lengthMinutes: 'ten', mode: '', cancelCutoffMinutes: '60' },
      errors: ['#lengthMinutes Enter the length in minutes as a whole number, like 10', '#mode Select how the appointment happens'],
      good: () => ({ name: 'Flu vaccination', lengthMinutes: '10', mode: 'face_to_face', patientInfo: 'Wear short sleeves.', cancelCutoffMinutes: '60' }),
      banner: /Appointment type added/,
    },
  ];
  for (const form of forms) {
    assert.equal((await staffGet(ta.app, jar, form.path)).statusCode, 200, form.path);
    const bad = await staffPost(ta.app, jar, form.path, form.bad);
    assert.equal(bad.statusCode, 400, form.path);
    assert.deepEqual(errorSummaryItems(bad.body), form.errors);
    const good = await staffPost(ta.app, jar, form.path, form.good());
    assert.equal(good.statusCode, 303, `${form.path}: ${pageText(good.body)}`);
    assert.match(pageText((await staffGet(ta.app, jar, good.headers.location as string)).body), form.banner);
  }
  const [clinician] = await ta.services.db.select().from(bookingClinicians).where(eq(bookingClinicians.organisationId, organisation.id));
  const sessionForm = await staffGet(ta.app, jar, '/staff/clinic/sessions/new');
  const option = (label: string) => new RegExp(`<option value="([0-9a-f-]{36})"[^>]*>${label}`).exec(sessionForm.body)![1]!;
  const session = { clinicianId: clinician!.id, locationId: option('Riverside Surgery'), appointmentTypeId: option('Flu vaccination'), firstDate: '2026-12-03', startTime: '09:00', endTime: '12:00' };
  const badSession = await staffPost(ta.app, jar, '/staff/clinic/sessions/new', { ...session, endTime: '08:00', weekly: 'yes', lastDate: '' });
  assert.equal(badSession.statusCode, 400);
  assert.deepEqual(errorSummaryItems(badSession.body), ['#endTime The end time must be after the start time', '#lastDate Enter the last date the session repeats on']);
  assert.match(badSession.body, /name="weekly"[^>]*checked|checked[^>]*name="weekly"/, 'what was typed is kept');
  const added = await staffPost(ta.app, jar, '/staff/clinic/sessions/new', session);
  assert.equal(added.statusCode, 303);
  const overview = pageText((await staffGet(ta.app, jar, added.headers.location as string)).body);
  assert.match(overview, /Session added: 18 appointments/);
  assert.match(overview, /Sam Patel Location Riverside Surgery Appointment type Flu vaccination Dates Thursday 3 December 2026 Times 09:00 to 12:00 Weekly No/);
  assert.match(overview, /Flu vaccination Length 10 minutes How Face to face Cut-off 60 minutes before/);

  // Inviting a patient: the link on the patient's page, beside "A questionnaire".
  const patient = await createTestPatient(ta.services, organisation.id);
  const found = await staffPost(ta.app, jar, '/staff/messages/new', { searchBy: 'nhs-number', nhsNumber: patient.nhsNumber });
  assert.equal(found.headers.location, `/staff/patients/${patient.id}`);
  assert.ok((await staffGet(ta.app, jar, found.headers.location)).body.includes(`href="/staff/patients/${patient.id}/booking?form=`));
  const invitePath = `/staff/patients/${patient.id}/booking`;
  const invite = await staffGet(ta.app, jar, invitePath);
  assert.equal(invite.statusCode, 200);
  assert.match(pageText(invite.body), /At most 12 weeks/);
  assert.match(invite.body, /name="earliest"[^>]*value="2026-11-26"/);
  assert.match(invite.body, /name="latest"[^>]*value="2027-01-06"/);
  const noType = await staffPost(ta.app, jar, invitePath, { earliest: '2026-11-26', latest: '2027-01-06' });
  assert.equal(noType.statusCode, 400);
  assert.deepEqual(errorSummaryItems(noType.body), ['#appointmentTypeId Select an appointment type']);
  const tooLong = await staffPost(ta.app, jar, invitePath, { appointmentTypeId: session.appointmentTypeId, earliest: '2026-11-26', latest: '2027-03-01' });
  assert.equal(tooLong.statusCode, 400);
  assert.deepEqual(errorSummaryItems(tooLong.body), ['#latest The latest date must be within 12 weeks of the earliest date']);
  const sent = await staffPost(ta.app, jar, invitePath, { appointmentTypeId: session.appointmentTypeId, clinicianIds: clinician!.id, earliest: '2026-11-26', latest: '2027-01-06' });
  assert.equal(sent.statusCode, 303, pageText(sent.body));
  const conversationId = /^\/staff\/conversations\/([0-9a-f-]{36})\?done=sent$/.exec(sent.headers.location as string)![1]!;
  const [row] = await ta.services.db.select().from(conversations).where(eq(conversations.id, conversationId));
  assert.equal(row!.kind, 'booking');
  assert.equal(row!.patientId, patient.id);
  assert.deepEqual(bookingPayloadSchema.parse(row!.payload).clinicianIds, [clinician!.id]);
  const panel = pageText((await staffGet(ta.app, jar, sent.headers.location as string)).body);
  assert.match(panel, /Appointment type Flu vaccination Dates offered Thursday 26 November 2026 to Wednesday 6 January 2027 Clinicians Sam Patel/);
  assert.match(panel, /The patient has not booked yet/);

  // No session: the sign-in page. A wrong CSRF token: refused, nothing added.
  for (const path of ['/staff/clinic', '/staff/diary', '/staff/clinic/sessions/new', invitePath]) {
    const anonymous = await ta.app.inject({ method: 'GET', url: path });
    assert.equal(anonymous.statusCode, 303, path);
    assert.equal(anonymous.headers.location, '/staff/sign-in');
  }
  const forged = await staffPost(ta.app, jar, '/staff/clinic/clinicians/new', { _csrf: 'not-the-token', name: 'Mallory', role: 'Intruder' });
  assert.equal(forged.statusCode, 403);
  const noToken = await staffPost(ta.app, jar, '/staff/clinic/clinicians/new', { _csrf: null, name: 'Mallory', role: 'Intruder' });
  assert.equal(noToken.statusCode, 403);
  const noSession = await staffPost(ta.app, new CookieJar(), '/staff/clinic/clinicians/new', { name: 'Mallory', role: 'Intruder' });
  assert.equal(noSession.statusCode, 303);
  assert.equal(noSession.headers.location, '/staff/sign-in');
  assert.equal((await ta.services.db.select().from(bookingClinicians).where(eq(bookingClinicians.name, 'Mallory'))).length, 0);
});

test('the diary shows free, booked, blocked and cancelled times; staff block, unblock, cancel and move; another organisation sees none of it', async (t) => {
  const clock = new TestClock();
  const ta = await createTestApp({ now: clock.now });
  t.after(ta.close);
  const clinic: TestClinic = await createTestClinic(ta.services);
  const { jar } = await signedInStaff(ta, clinic.organisation, 'Alex Green');
  const priya = await createTestInvitation(ta.services, clinic, { patient: { nhsNumber: testNhsNumber(1) } });
  const tom = await createTestInvitation(ta.services, clinic, { patient: { nhsNumber: testNhsNumber(2), givenName: 'Tom', familyName: 'Jones' } });
  const ann = await createTestInvitation(ta.services, clinic, { patient: { nhsNumber: testNhsNumber(3), givenName: 'Ann', familyName: 'Lee' } });
  const slots = clinic.slots;
  const priyaBooking = await book(ta, priya, slots[0]!.id);
  const tomBooking = await book(ta, tom, slots[1]!.id);
  await book(ta, ann, slots[7]!.id);
  const day = '/staff/diary?view=day&date=2026-12-03';

  // Cancel Tom's: the confirm page, a reason too long, then cancelled with a reason; he is texted.
  const confirm = await staffGet(ta.app, jar, `/staff/bookings/${tomBooking.id}/cancel`);
  assert.equal(confirm.statusCode, 200);
  assert.match(pageText(confirm.body), /Cancel this appointment\? .*Tom Jones.*9:10am on Thursday 3 December 2026/);
  const tooLong = await staffPost(ta.app, jar, `/staff/bookings/${tomBooking.id}/cancel`, { reason: 'x'.repeat(600) });
  assert.equal(tooLong.statusCode, 400);
  assert.deepEqual(errorSummaryItems(tooLong.body), ['#reason Reason must be 500 characters or fewer']);
  const cancelled = await staffPost(ta.app, jar, `/staff/bookings/${tomBooking.id}/cancel`, { reason: 'Clinician unwell' });
  assert.equal(cancelled.statusCode, 303);
  assert.equal(cancelled.headers.location, `${day}&done=cancelled`);
  assert.match(pageText((await staffGet(ta.app, jar, cancelled.headers.location as string)).body), /Appointment cancelled/);
  assert.equal((await textsOf(ta, tom.conversationId, 'booking_cancelled')).length, 1);
  assert.match(pageText((await staffGet(ta.app, jar, `/staff/bookings/${tomBooking.id}/cancel`)).body), /already been cancelled/);

  // Block the 9:20am time; the redirect keeps the diary's query.
  const blocked = await staffPost(ta.app, jar, `/staff/diary/slots/${slots[2]!.id}/block?view=day&date=2026-12-03&clinicianId=${clinic.clinician.id}`);
  assert.equal(blocked.statusCode, 303);
  assert.equal(blocked.headers.location, `${day}&clinicianId=${clinic.clinician.id}&done=blocked`);

  const dayPage = await staffGet(ta.app, jar, day);
  assert.equal(dayPage.statusCode, 200);
  assert.match(dayPage.body, /class="nhsuk-table-responsive"/);
  const rows = tableRows(dayPage.body);
  assert.equal(rows.length, 18);
  assert.match(rows[0]!, /^Time 9am Clinician Sam Patel Location Riverside Surgery Type Flu vaccination Status Booked: Priya Shah Actions Cancel 9am Move 9am$/);
  assert.match(rows[1]!, /Time 9:10am .* Status Cancelled Actions Block/);
  assert.match(rows[2]!, /Time 9:20am .* Status Blocked Actions Unblock/);
  assert.match(rows[3]!, /Time 9:30am .* Status Free Actions Block/);
  assert.match(rows[7]!, /Time 10:10am .* Status Booked: Ann Lee/);
  const [viewed] = await ta.services.db.select().from(auditEvents).where(eq(auditEvents.type, 'booking.diary_viewed'));
  assert.equal(viewed!.organisationId, clinic.organisation.id);

  // The week (Monday to Sunday) of a Saturday shows the same times under Thursday.
  const week = await staffGet(ta.app, jar, '/staff/diary?view=week&date=2026-12-05');
  const weekText = pageText(week.body);
  assert.match(weekText, /Week of Monday 30 November 2026/);
  assert.match(weekText, /Monday 30 November 2026 No appointments\..*Thursday 3 December 2026 Appointments on Thursday 3 December 2026 Time Clinician .* Time 9am .*Sunday 6 December 2026 No appointments\./);
  assert.equal(tableRows(week.body).length, 18);
  assert.ok(week.body.includes('href="/staff/diary?view=week&amp;date=2026-11-23"'), 'previous week');
  assert.ok(week.body.includes('href="/staff/diary?view=week&amp;date=2026-12-07"'), 'next week');

  const unblocked = await staffPost(ta.app, jar, `/staff/diary/slots/${slots[2]!.id}/unblock?view=week&date=2026-12-05`);
  assert.equal(unblocked.headers.location, '/staff/diary?view=week&date=2026-12-05&done=unblocked');
  assert.match(tableRows((await staffGet(ta.app, jar, day)).body)[2]!, /9:20am .* Status Free/);

  // Move Priya's: the free times are offered (not hers, not Ann's); Ann's time is refused as taken.
  const movePage = await staffGet(ta.app, jar, `/staff/bookings/${priyaBooking.id}/move`);
  assert.equal(movePage.statusCode, 200);
  assert.match(pageText(movePage.body), /Thursday 3 December/);
  assert.ok(movePage.body.includes(`value="${slots[5]!.id}"`));
  assert.ok(!movePage.body.includes(`value="${slots[0]!.id}"`) && !movePage.body.includes(`value="${slots[7]!.id}"`));
  const noChoice = await staffPost(ta.app, jar, `/staff/bookings/${priyaBooking.id}/move`, {});
  assert.deepEqual(errorSummaryItems(noChoice.body), ['#slotId Select a new time']);
  const taken = await staffPost(ta.app, jar, `/staff/bookings/${priyaBooking.id}/move`, { slotId: slots[7]!.id });
  assert.equal(taken.statusCode, 409);
  assert.deepEqual(errorSummaryItems(taken.body), ['#slotId That time has just been booked by someone else']);
  const moved = await staffPost(ta.app, jar, `/staff/bookings/${priyaBooking.id}/move`, { slotId: slots[5]!.id });
  assert.equal(moved.statusCode, 303);
  assert.equal(moved.headers.location, `${day}&done=moved`);
  assert.equal((await textsOf(ta, priya.conversationId, 'booking_moved')).length, 1);
  const afterMove = tableRows((await staffGet(ta.app, jar, day)).body);
  assert.match(afterMove[0]!, /9am .* Status Cancelled/);
  assert.match(afterMove[5]!, /9:50am .* Status Booked: Priya Shah/);

  // The conversation panels: the live booking with Cancel and Move, and the history with who and why.
  const live = await liveBooking(ta.services.db, priya.conversationId);
  const priyaPanel = await staffGet(ta.app, jar, `/staff/conversations/${priya.conversationId}`);
  const priyaText = pageText(priyaPanel.body);
  assert.match(priyaText, /Booked appointment When 9:50am on Thursday 3 December 2026 Where Riverside Surgery, 1 River Street, Leeds LS1 1AA With Sam Patel \(Practice nurse\)/);
  assert.ok(priyaPanel.body.includes(`href="/staff/bookings/${live!.id}/cancel"`) && priyaPanel.body.includes(`href="/staff/bookings/${live!.id}/move"`));
  assert.match(priyaText, /Status Booked Booked by Staff \(Alex Green\)/);
  assert.match(priyaText, /Time 9am on Thursday 3 December 2026 Status Changed to another time Booked by The patient, .* Ended by Staff \(Alex Green\)/);
  const tomText = pageText((await staffGet(ta.app, jar, `/staff/conversations/${tom.conversationId}`)).body);
  assert.match(tomText, /There is no appointment booked now/);
  assert.match(tomText, /Status Cancelled by staff Booked by The patient, .* Ended by Staff \(Alex Green\), .* Reason Clinician unwell/);

  // Another organisation's staff: "Page not found" for the slot, the booking and the patient, and an
  // empty diary even when asked for the clinic's clinician.
  const elsewhere = await createTestOrganisation(ta.services, { name: 'Elm Street Practice' });
  const { jar: other } = await signedInStaff(ta, elsewhere, 'Mallory Brown');
  for (const res of [
    await staffPost(ta.app, other, `/staff/diary/slots/${slots[3]!.id}/block`),
    await staffPost(ta.app, other, `/staff/diary/slots/not-a-uuid/unblock`),
    await staffGet(ta.app, other, `/staff/bookings/${live!.id}/cancel`),
    await staffPost(ta.app, other, `/staff/bookings/${live!.id}/cancel`, { reason: '' }),
    await staffGet(ta.app, other, `/staff/bookings/${live!.id}/move`),
    await staffPost(ta.app, other, `/staff/bookings/${live!.id}/move`, { slotId: slots[4]!.id }),
    await staffGet(ta.app, other, `/staff/bookings/nonsense/move`),
    await staffGet(ta.app, other, `/staff/patients/${priya.patient.id}/booking`),
    await staffPost(ta.app, other, `/staff/patients/${priya.patient.id}/booking`, { appointmentTypeId: clinic.type.id }),
  ]) {
    assert.equal(res.statusCode, 404, res.body.slice(0, 200));
    assert.match(pageText(res.body), /Page not found/);
  }
  for (const path of [day, `${day}&clinicianId=${clinic.clinician.id}`, '/staff/diary?view=week&date=2026-12-03']) {
    const page = await staffGet(ta.app, other, path);
    assert.equal(page.statusCode, 200);
    assert.equal(tableRows(page.body).length, 0, path);
    assert.doesNotMatch(page.body, /Priya|Sam Patel|Riverside/);
  }
  assert.equal((await liveBooking(ta.services.db, priya.conversationId))!.id, live!.id, 'still booked');
  assert.match(tableRows((await staffGet(ta.app, jar, day)).body)[3]!, /9:30am .* Status Free/);
});
