// The booking invitation behind the secure link, through HTTP: choose a day, a time, check, confirm,
// the calendar file, change, cancel; a time lost to someone else; no times left; past the cut-off;
// bad input; and another patient's link.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { and, eq } from 'drizzle-orm';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { createTestApp, TestClock } from '../../../test/helpers/app.ts';
import { createTestClinic, createTestInvitation, testNhsNumber } from '../../../test/helpers/booking.ts';
import { csrfFrom, type CookieJar, type TestConversation } from '../../../test/helpers/factories.ts';
import { firstDevice, get, postForm, submitDob, textOf } from '../../../test/helpers/patient.ts';
import { auditEvents, bookings } from '../../platform/db/schema.ts';
import type { Services } from '../../services.ts';

const DAY = '2026-12-03';
const base = (c: TestConversation) => `/${c.token}/conversation`;
const times = (c: TestConversation, date = DAY) => `${base(c)}/appointment/times?date=${date}`;

function ok(res: LightMyRequestResponse, status = 200): string {
  assert.equal(res.statusCode, status, textOf(res.body).slice(0, 500));
  return textOf(res.body);
}

function slotValues(html: string): string[] {
  return [...html.matchAll(/name="slotId" type="radio" value="([^"]+)"|type="radio" name="slotId" value="([^"]+)"|name="slotId"[^>]*value="([^"]+)"/g)].map((m) => m[1] ?? m[2] ?? m[3]!);
}

async function chooseTime(app: FastifyInstance, c: TestConversation, jar: CookieJar, slotId: string, date = DAY) {
  return postForm(app, `${base(c)}/appointment/times`, jar, { date, slotId }, { csrfPage: times(c, date) });
}

async function confirm(app: FastifyInstance, c: TestConversation, jar: CookieJar) {
  const check = await get(app, `${base(c)}/appointment/check`, jar);
  ok(check);
  const slotId = /name="slotId" value="([^"]+)"/.exec(check.body)![1]!;
  return postForm(app, `${base(c)}/appointment/confirm`, jar, { slotId, date: DAY }, { csrf: csrfFrom(check.body) });
}

async function liveBookings(services: Services, conversationId: string) {
  return (await services.db.select().from(bookings).where(eq(bookings.conversationId, conversationId))).filter((b) => b.cancelledAt === null);
}

test('the whole journey: choose a day and a time, check, confirm, the calendar file, change, cancel with a reason; bad input is told, never a 500', async (t) => {
  const clock = new TestClock();
  const { app, services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const clinic = await createTestClinic(services);
  const c = await createTestInvitation(services, clinic);
  const jar = await firstDevice(app, c.token);

  // Choose a day: the London days with free times, each with how many.
  const home = await get(app, base(c), jar);
  let text = ok(home);
  assert.match(text, /Choose a day/);
  assert.match(text, /Thursday 3 December/);
  assert.match(text, /18 times available/);
  assert.match(home.body, new RegExp(`<form method="get" action="${base(c)}/appointment/times"`));
  assert.match(home.body, /name="date"[^>]*value="2026-12-03"|value="2026-12-03"[^>]*name="date"/);

  // Choose a time: that day's times with who and where.
  const timesPage = await get(app, times(c), jar);
  text = ok(timesPage);
  assert.match(text, /Choose a time/);
  assert.match(text, /9am/);
  assert.match(text, /9:10am/);
  assert.match(text, /Sam Patel, Practice nurse, at Riverside Surgery/);
  assert.equal(slotValues(timesPage.body).length, 18);
  assert.match(timesPage.body, new RegExp(`class="nhsuk-back-link"[^>]*href="${base(c)}"|href="${base(c)}"[^>]*class="nhsuk-back-link`));

  // Bad input gets the page's own words, not an error page.
  for (const url of [`${base(c)}/appointment/times`, times(c, '2026-02-30'), times(c, 'soon')]) {
    const res = await get(app, url, jar);
    assert.equal(res.statusCode, 303, url);
    assert.equal(res.headers.location, `${base(c)}?error=date`);
  }
  const noDay = await get(app, `${base(c)}?error=date`, jar);
  assert.match(ok(noDay, 400), /There is a problem Select a day/);
  assert.match(ok(await chooseTime(app, c, jar, 'not-a-slot'), 400), /There is a problem Select a time/);
  assert.match(ok(await postForm(app, `${base(c)}/appointment/times`, jar, { date: DAY }, { csrfPage: times(c) }), 400), /Select a time/);
  const badConfirm = await postForm(app, `${base(c)}/appointment/confirm`, jar, { slotId: '00000000-0000-0000-0000-000000000000', date: DAY }, { csrfPage: times(c) });
  assert.match(ok(badConfirm, 400), /That time is no longer available/);
  assert.equal((await get(app, `${base(c)}/appointment/check`, jar)).headers.location, base(c), 'nothing held: back to the start');
  assert.equal((await get(app, `${base(c)}/appointment/cancel`, jar)).headers.location, base(c), 'nothing booked to cancel');
  assert.equal((await get(app, `${base(c)}/appointment/calendar.ics`, jar)).statusCode, 404, 'no booking, no calendar file');

  // Hold the first time, check it, confirm it.
  const chose = await chooseTime(app, c, jar, clinic.slots[0]!.id);
  assert.equal(chose.statusCode, 303);
  assert.equal(chose.headers.location, `${base(c)}/appointment/check`);
  const check = await get(app, `${base(c)}/appointment/check`, jar);
  text = ok(check);
  assert.match(text, /Check your appointment/);
  assert.match(text, /Thursday 3 December 2026/);
  assert.match(text, /Face to face/);
  assert.match(text, /Riverside Surgery 1 River Street, Leeds LS1 1AA/);
  assert.match(text, /Wear a top with short sleeves\./);
  assert.match(text, /We will keep this time for you until 10:10am/, 'the test clock is 10am; holds last 10 minutes');
  assert.match(text, /Confirm appointment/);
  const booked = await confirm(app, c, jar);
  assert.equal(booked.statusCode, 303);
  assert.equal(booked.headers.location, `${base(c)}?booked=1`);
  assert.equal((await liveBookings(services, c.conversationId))[0]!.slotId, clinic.slots[0]!.id);

  const confirmation = await get(app, `${base(c)}?booked=1`, jar);
  text = ok(confirmation);
  assert.match(text, /Appointment booked 9am on Thursday 3 December 2026/);
  assert.match(text, /We have sent you a text message to confirm/);
  assert.match(text, /Sam Patel, Practice nurse/);
  assert.match(confirmation.body, new RegExp(`href="${base(c)}/appointment/calendar.ics"`));
  assert.match(confirmation.body, new RegExp(`href="${base(c)}\\?change=1"[^>]*>Change time`));
  assert.match(confirmation.body, new RegExp(`href="${base(c)}/appointment/cancel"[^>]*>Cancel appointment`));
  text = ok(await get(app, base(c), jar));
  assert.match(text, /Your appointment/);
  assert.doesNotMatch(text, /Appointment booked/);

  const ics = await get(app, `${base(c)}/appointment/calendar.ics`, jar);
  assert.equal(ics.statusCode, 200);
  assert.equal(ics.headers['content-type'], 'text/calendar; charset=utf-8');
  assert.equal(ics.headers['content-disposition'], 'attachment; filename="appointment.ics"');
  assert.equal(ics.headers['cache-control'], 'no-store');
  assert.match(ics.body, /BEGIN:VCALENDAR/);
  assert.doesNotMatch(ics.body, /METHOD:CANCEL/);
  const downloads = await services.db
    .select()
    .from(auditEvents)
    .where(and(eq(auditEvents.conversationId, c.conversationId), eq(auditEvents.type, 'booking.calendar_downloaded')));
  assert.equal(downloads.length, 1);
  assert.equal(downloads[0]!.actorType, 'patient_link');
  assert.equal(downloads[0]!.actorId, c.linkId);

  // Change to another time: the current one is not offered again, and stays booked until confirmed.
  text = ok(await get(app, `${base(c)}?change=1`, jar));
  assert.match(text, /Choose a new day/);
  assert.match(text, /17 times available/);
  assert.match(text, /Your current appointment is at 9am on Thursday 3 December 2026/);
  const changeTimes = await get(app, times(c), jar);
  assert.ok(!slotValues(changeTimes.body).includes(clinic.slots[0]!.id));
  assert.match(changeTimes.body, new RegExp(`href="${base(c)}\\?change=1"`), 'back to choosing a new day');
  assert.equal((await chooseTime(app, c, jar, clinic.slots[1]!.id)).statusCode, 303);
  assert.match(ok(await get(app, `${base(c)}/appointment/check`, jar)), /This will replace your appointment at 9am on Thursday 3 December 2026/);
  assert.equal((await confirm(app, c, jar)).headers.location, `${base(c)}?booked=1`);
  const live = await liveBookings(services, c.conversationId);
  assert.equal(live.length, 1);
  assert.equal(live[0]!.slotId, clinic.slots[1]!.id);
  assert.match(ok(await get(app, base(c), jar)), /9:10am/);

  // Cancel with a reason (a reason too long is told beside the box).
  const cancelPage = await get(app, `${base(c)}/appointment/cancel`, jar);
  text = ok(cancelPage);
  assert.match(text, /Cancel your appointment/);
  assert.match(text, /Why are you cancelling\? \(optional\)/);
  const tooLong = await postForm(app, `${base(c)}/appointment/cancel`, jar, { reason: 'x'.repeat(501) }, { csrf: csrfFrom(cancelPage.body) });
  assert.match(ok(tooLong, 400), /There is a problem Reason must be 500 characters or fewer/);
  const cancelled = await postForm(app, `${base(c)}/appointment/cancel`, jar, { reason: 'Feeling better' }, { csrf: csrfFrom(tooLong.body) });
  assert.equal(cancelled.statusCode, 303);
  assert.equal(cancelled.headers.location, `${base(c)}?cancelled=1`);
  assert.equal((await liveBookings(services, c.conversationId)).length, 0);
  const [row] = await services.db.select().from(bookings).where(and(eq(bookings.conversationId, c.conversationId), eq(bookings.cancelledBy, 'patient')));
  assert.equal(row!.cancelReason, 'Feeling better');

  const after = await get(app, `${base(c)}?cancelled=1`, jar);
  text = ok(after);
  assert.match(text, /Your appointment has been cancelled 9:10am on Thursday 3 December 2026/);
  assert.match(text, /Choose a day/, 'still time to book again');
  assert.match(text, /18 times available/);
  const cancelIcs = await get(app, `${base(c)}/appointment/calendar.ics`, jar);
  assert.equal(cancelIcs.statusCode, 200);
  assert.match(cancelIcs.body, /METHOD:CANCEL/);

  // Booked again, late on the day: the week to book runs out, but the booking keeps the link working
  // and can still be cancelled before its cut-off; after that, booking online has ended.
  clock.advance(60_000);
  assert.equal((await chooseTime(app, c, jar, clinic.slots[17]!.id)).statusCode, 303);
  assert.equal((await confirm(app, c, jar)).headers.location, `${base(c)}?booked=1`);
  clock.advance(Date.parse('2026-12-03T10:30:00Z') - clock.now().getTime());
  assert.equal((await submitDob(app, c.token, jar)).headers.location, base(c));
  assert.match(ok(await get(app, base(c), jar)), /Your appointment .*11:50am.*Change time/);
  const lateCancelPage = await get(app, `${base(c)}/appointment/cancel`, jar);
  ok(lateCancelPage);
  assert.equal((await postForm(app, `${base(c)}/appointment/cancel`, jar, {}, { csrf: csrfFrom(lateCancelPage.body) })).headers.location, `${base(c)}?cancelled=1`);
  text = ok(await get(app, `${base(c)}?cancelled=1`, jar));
  assert.match(text, /Your appointment has been cancelled 11:50am/);
  assert.match(text, new RegExp(`To book another appointment, call ${clinic.organisation.name} on ${clinic.organisation.contactPhone}`));
  assert.doesNotMatch(text, /Choose a day/);
  text = ok(await get(app, base(c), jar));
  assert.match(text, /The time to book online has ended/);
  assert.equal((await get(app, times(c), jar)).headers.location, base(c));
  const closed = await postForm(app, `${base(c)}/appointment/confirm`, jar, { slotId: clinic.slots[16]!.id, date: DAY }, { csrf: csrfFrom(lateCancelPage.body) });
  assert.match(ok(closed, 409), /The time to book online has ended/);
});

test('a time booked by someone else meanwhile, no times left, past the cut-off, and another patient’s link', async (t) => {
  const clock = new TestClock();
  const { app, services, close } = await createTestApp({ now: clock.now, config: { BOOKING_HOLDS_PER_INVITATION: '2' } });
  t.after(close);
  const clinic = await createTestClinic(services);
  const a = await createTestInvitation(services, clinic, { patient: { nhsNumber: testNhsNumber(1) } });
  const b = await createTestInvitation(services, clinic, { patient: { nhsNumber: testNhsNumber(2) } });
  const jarA = await firstDevice(app, a.token);
  const jarB = await firstDevice(app, b.token);
  const first = clinic.slots[0]!.id;

  // A holds the first time and is slow to confirm; the hold runs out and B books it.
  assert.equal((await chooseTime(app, a, jarA, first)).statusCode, 303);
  const checkA = await get(app, `${base(a)}/appointment/check`, jarA);
  ok(checkA);
  assert.equal(slotValues((await get(app, times(b), jarB)).body).length, 17, 'a held time is not offered to others');
  clock.advance(11 * 60_000);
  assert.equal((await chooseTime(app, b, jarB, first)).statusCode, 303);
  assert.equal((await confirm(app, b, jarB)).headers.location, `${base(b)}?booked=1`);

  const lost = await postForm(app, `${base(a)}/appointment/confirm`, jarA, { slotId: first, date: DAY }, { csrf: csrfFrom(checkA.body) });
  let text = ok(lost, 409);
  assert.match(text, /That time has just been booked by someone else/);
  assert.match(text, /Choose another time/);
  const still = slotValues(lost.body);
  assert.equal(still.length, 17);
  assert.ok(!still.includes(first));
  const again = await chooseTime(app, a, jarA, first);
  text = ok(again, 409);
  assert.match(text, /There is a problem That time has just been booked by someone else\. Choose another time\./);
  assert.equal(slotValues(again.body).length, 17);
  assert.equal((await liveBookings(services, a.conversationId)).length, 0);
  // Choosing time after time without confirming is limited (two here, the first counted): then call.
  assert.equal((await chooseTime(app, a, jarA, clinic.slots[1]!.id)).statusCode, 303);
  assert.match(ok(await chooseTime(app, a, jarA, clinic.slots[2]!.id), 429), new RegExp(`You cannot choose another time online .*Call ${clinic.organisation.name} on ${clinic.organisation.contactPhone}`));

  // Each link shows its own invitation only: A has nothing booked; B's browser cannot open A's link.
  text = ok(await get(app, base(a), jarA));
  assert.match(text, /Choose a day/);
  assert.doesNotMatch(text, /Your appointment/);
  assert.equal((await get(app, `${base(a)}/appointment/calendar.ics`, jarA)).statusCode, 404);
  const crossed = await get(app, base(a), jarB);
  assert.notEqual(crossed.statusCode, 200);
  assert.doesNotMatch(crossed.body, /Sam Patel/);
  const crossedIcs = await get(app, `${base(a)}/appointment/calendar.ics`, jarB);
  assert.notEqual(crossedIcs.statusCode, 200);
  assert.match(ok(await get(app, base(b), jarB)), /Your appointment .*9am/);

  // An invitation whose days have no free times: say so, and whom to call.
  const empty = await createTestInvitation(services, clinic, { patient: { nhsNumber: testNhsNumber(3) }, earliest: '2026-12-10', latest: '2026-12-11' });
  const jarEmpty = await firstDevice(app, empty.token);
  text = ok(await get(app, base(empty), jarEmpty));
  assert.match(text, /There are no times left to book/);
  assert.match(text, new RegExp(`Call ${clinic.organisation.name} on ${clinic.organisation.contactPhone}`));
  // A day with no times left: a message and another day.
  text = ok(await get(app, times(empty, '2026-12-10'), jarEmpty));
  assert.match(text, /There are no times left on this day/);
  assert.match(text, /Choose another day/);

  // Past the cut-off (an hour before): no changing or cancelling online; call the place instead. A
  // cancel form drawn just before it and sent just after is told the same.
  clock.advance(Date.parse('2026-12-03T07:55:00Z') - clock.now().getTime());
  const back = await submitDob(app, b.token, jarB);
  assert.equal(back.headers.location, base(b), 'the booking keeps the link working until the appointment');
  const drawn = await get(app, `${base(b)}/appointment/cancel`, jarB);
  ok(drawn);
  clock.advance(10 * 60_000);
  const lateCancel = await postForm(app, `${base(b)}/appointment/cancel`, jarB, {}, { csrf: csrfFrom(drawn.body) });
  assert.match(ok(lateCancel, 409), /Call 01632 960 001 to change it/);
  const late = await get(app, base(b), jarB);
  text = ok(late);
  assert.match(text, /It is too late to change or cancel this appointment online\. Call 01632 960 001 to change it\./);
  assert.doesNotMatch(late.body, /Cancel appointment|Change time/);
  assert.match(late.body, /appointment\/calendar\.ics/, 'the calendar file is still there');
  assert.match(ok(await get(app, `${base(b)}/appointment/cancel`, jarB)), /It is too late to change or cancel this appointment online/);
  assert.equal((await get(app, times(b), jarB)).headers.location, base(b), 'no choosing a new time either');
  assert.equal((await liveBookings(services, b.conversationId)).length, 1);
});
