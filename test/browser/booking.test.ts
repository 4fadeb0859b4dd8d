// Booking an appointment end to end in Chromium, with JavaScript on and off (issue 12): an invitation is
// sent, the link opened, the date of birth given, a day and a time chosen, the appointment checked and
// confirmed, the calendar file downloaded and read back, the time changed, the appointment cancelled
// with a reason, the calendar file now a cancellation, and the day-before reminder not sent. The test
// clock is injected: 26 November 2026, the clinic on Thursday 3 December.
//
// Set BOOKING_SHOTS=<folder> to keep 320 px screenshots of each page, for a person to look at.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { and, eq } from 'drizzle-orm';
import ICAL from 'ical.js';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser } from '../helpers/browser.ts';
import { startTestServer } from '../helpers/server.ts';
import { TestClock } from '../helpers/app.ts';
import { TEST_PATIENT } from '../helpers/factories.ts';
import { createTestClinic, createTestInvitation } from '../helpers/booking.ts';
import { sendBookingReminders } from '../../src/features/booking/booking-reminders.service.ts';
import { bookings, outboundSms } from '../../src/platform/db/schema.ts';

const SHOTS = process.env.BOOKING_SHOTS;
const NARROW = { width: 320, height: 720 };

let browser: Browser;
before(async () => {
  browser = await launchBrowser();
  if (SHOTS) mkdirSync(SHOTS, { recursive: true });
});
after(() => browser?.close());

async function mainText(page: Page): Promise<string> {
  return (await page.locator('main').innerText()).replace(/\s+/g, ' ');
}

async function shot(page: Page, name: string) {
  if (SHOTS) await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

/** Clicks a radio's label (its text, without the hint) and Continue. */
async function chooseAndContinue(page: Page, label: string) {
  await page.locator('label', { hasText: new RegExp(`^\\s*${label}\\s*$`) }).click();
  await page.getByRole('button', { name: 'Continue' }).click();
}

/** The calendar file behind "Add to your calendar" (or "Remove it from your calendar"), read with ical.js. */
async function downloadCalendar(page: Page, linkName: string) {
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: linkName }).click()]);
  const text = readFileSync((await download.path())!, 'utf8');
  const calendar = new ICAL.Component(ICAL.parse(text));
  const event = new ICAL.Event(calendar.getFirstSubcomponent('vevent')!);
  return { text, method: calendar.getFirstPropertyValue('method'), event };
}

describe('booking an appointment in Chromium', { concurrency: 2 }, () => {
  for (const js of [true, false]) {
    test(`JavaScript ${js ? 'on' : 'off'}: book, add to calendar, change the time, cancel, and no reminder after`, async (t) => {
      const clock = new TestClock();
      const server = await startTestServer({ now: clock.now });
      t.after(() => server.close());
      const { baseUrl, services } = server;
      const clinic = await createTestClinic(services);
      const invitation = await createTestInvitation(services, clinic);
      const context = await browser.newContext({ javaScriptEnabled: js, viewport: NARROW, acceptDownloads: true });
      t.after(() => context.close());
      const page = await context.newPage();

      await page.goto(`${baseUrl}/${invitation.token}`);
      const [year, month, day] = TEST_PATIENT.dateOfBirth.split('-');
      await page.getByLabel('Day').fill(String(Number(day)));
      await page.getByLabel('Month').fill(String(Number(month)));
      await page.getByLabel('Year').fill(year!);
      await page.getByRole('button', { name: 'Continue' }).click();
      await page.waitForURL(/\/conversation$/);

      // Choose a day: Continue with none chosen shows the NHS error summary.
      assert.match(await mainText(page), /Flu vaccination\s*Choose a day/);
      assert.match(await mainText(page), /Thursday 3 December\s*18 times available/);
      await shot(page, `${js ? 'js' : 'nojs'}-1-choose-day`);
      await page.getByRole('button', { name: 'Continue' }).click();
      assert.match(await page.locator('.nhsuk-error-summary').innerText(), /Select a day/);
      await chooseAndContinue(page, 'Thursday 3 December');

      // Choose a time, then check and confirm.
      await page.waitForURL(/\/appointment\/times\?date=2026-12-03$/);
      assert.match(await mainText(page), /Choose a time/);
      await shot(page, `${js ? 'js' : 'nojs'}-2-choose-time`);
      await chooseAndContinue(page, '9:30am');
      await page.waitForURL(/\/appointment\/check$/);
      const check = await mainText(page);
      assert.match(check, /Check your appointment/);
      for (const shown of [/9:30am/, /Thursday 3 December 2026/, /Face to face/, /Riverside Surgery/, /Sam Patel/, /Wear a top with short sleeves/]) assert.match(check, shown);
      // Held for 10 minutes from the injected clock: 10:00 UTC is 10am in London in November.
      assert.match(check, /We will keep this time for you until 10:10am/);
      await shot(page, `${js ? 'js' : 'nojs'}-3-check`);
      await page.getByRole('button', { name: 'Confirm appointment' }).click();
      await page.waitForURL(/\/conversation\?booked=1$/);
      assert.match(await mainText(page), /Appointment booked\s*9:30am on Thursday 3 December 2026/);
      await shot(page, `${js ? 'js' : 'nojs'}-4-booked`);

      const booked = await downloadCalendar(page, 'Add to your calendar');
      assert.equal(booked.method, 'PUBLISH');
      assert.equal(booked.event.startDate.toJSDate().toISOString(), '2026-12-03T09:30:00.000Z');
      assert.equal(booked.event.endDate.toJSDate().toISOString(), '2026-12-03T09:40:00.000Z');
      assert.match(booked.text, /BEGIN:VTIMEZONE\r\nTZID:Europe\/London/);

      // Change the time: the old one stays booked until the new one is confirmed.
      await page.getByRole('link', { name: 'Change time' }).click();
      assert.match(await mainText(page), /Choose a new day/);
      await chooseAndContinue(page, 'Thursday 3 December');
      await chooseAndContinue(page, '11am');
      await page.waitForURL(/\/appointment\/check$/);
      assert.match(await mainText(page), /This will replace your appointment at 9:30am on Thursday 3 December 2026/);
      await page.getByRole('button', { name: 'Confirm appointment' }).click();
      await page.waitForURL(/\/conversation\?booked=1$/);
      assert.match(await mainText(page), /Appointment booked\s*11am on Thursday 3 December 2026/);
      const changed = await downloadCalendar(page, 'Add to your calendar');
      assert.equal(changed.event.uid, booked.event.uid, 'a change of time updates the same calendar event');
      assert.ok(changed.event.sequence > booked.event.sequence);
      assert.equal(changed.event.startDate.toJSDate().toISOString(), '2026-12-03T11:00:00.000Z');

      // Cancel, with a reason.
      await page.getByRole('link', { name: 'Cancel appointment' }).click();
      await page.getByLabel('Why are you cancelling? (optional)').fill('I have had it done at the pharmacy');
      await shot(page, `${js ? 'js' : 'nojs'}-5-cancel`);
      await page.getByRole('button', { name: 'Cancel appointment' }).click();
      await page.waitForURL(/\/conversation\?cancelled=1$/);
      assert.match(await mainText(page), /Your appointment has been cancelled\s*11am on Thursday 3 December 2026/);
      await shot(page, `${js ? 'js' : 'nojs'}-6-cancelled`);
      const cancelled = await downloadCalendar(page, 'Remove it from your calendar');
      assert.equal(cancelled.method, 'CANCEL');
      assert.equal(cancelled.event.uid, booked.event.uid);
      assert.ok(cancelled.event.sequence > changed.event.sequence);
      assert.match(cancelled.text, /STATUS:CANCELLED/);

      const [row] = await services.db.select().from(bookings).where(and(eq(bookings.conversationId, invitation.conversationId), eq(bookings.cancelledBy, 'patient')));
      assert.equal(row!.cancelReason, 'I have had it done at the pharmacy');

      // The day before at 10am: no reminder for a cancelled appointment.
      clock.advance(Date.parse('2026-12-02T10:00:00Z') - clock.now().getTime());
      assert.equal(await sendBookingReminders(services), 0);
      const texts = await services.db.select({ kind: outboundSms.kind }).from(outboundSms).where(eq(outboundSms.conversationId, invitation.conversationId));
      assert.deepEqual(texts.map((x) => x.kind).sort(), ['booking_confirmed', 'booking_confirmed', 'message_link']);
    });
  }
});
