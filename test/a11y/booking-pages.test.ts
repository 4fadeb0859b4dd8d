// Every booking page in every state, in a real browser (issue 12). Patient: Choose a day (empty, with
// its error, and with no times left), Choose a time (and its error), Check your appointment, "That
// time has just been booked by someone else", the booked confirmation, the appointment opened again,
// Change time (the day chooser with the current appointment as hint), too many holds, Cancel (and its
// error), cancelled, after the cut-off, and the time to book online ended; the main ones with
// JavaScript off too, and a day, a time and Confirm by keyboard alone. Staff: clinic set-up (empty and
// with a clinic), each add form empty and with errors, the diary's day and week (free, booked, blocked
// and cancelled slots), cancel and move (with its error), the invitation page (empty and with errors)
// and a booking conversation's panel. The same checkPage() as the other suites (axe WCAG 2.2 AA,
// titles, error summary, reflow at 320 px and 200 % text). The rig's clock is the real one, so the
// clinic is a week from its today and no test names a date.
import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'drizzle-orm';
import type { BrowserContextOptions, Page } from 'playwright-core';
import { createTestStaff, createTestOrganisation, createTestPatient, TEST_PATIENT, type TestConversation } from '../helpers/factories.ts';
import { createTestClinic, createTestInvitation, testNhsNumber, type TestClinic, bookAsThePatient } from '../helpers/booking.ts';
import { cancelByStaff } from '../../src/features/booking/booking.service.ts';
import { setSlotBlock } from '../../src/features/booking/clinic-setup.service.ts';
import { addDays, londonDate } from '../../src/features/booking/booking-times.ts';
import { checkPage, clickAndWait, enterDateOfBirth, isoParts, open, startRig, type A11yRig } from './a11y-support.ts';

// The browser globals the in-page callbacks use (the project compiles without the DOM library).
interface DomElement {
  tagName: string;
  id: string;
  innerText: string;
  getAttribute(name: string): string | null;
  closest(selector: string): DomElement | null;
}
declare const document: { activeElement: DomElement | null };
declare function getComputedStyle(el: DomElement): { outlineStyle: string; outlineWidth: string; boxShadow: string };

const DAY_MS = 24 * 60 * 60 * 1000;
const NO_JS = { javaScriptEnabled: false } as const;

let rig: A11yRig;
let clinic: TestClinic;
let patients = 0;

before(async () => {
  // Two holds per invitation, so "You cannot choose another time online" is reached in a few clicks.
  rig = await startRig({ config: { BOOKING_HOLDS_PER_INVITATION: '2' } });
  clinic = await newClinic();
});
after(async () => {
  await rig?.close();
});
// Every request comes from one address; forget link look-ups so the limit (60 a minute) is not hit.
beforeEach(async () => {
  await rig.forgetLookups();
});

/** A clinic a week after the rig's today (London), so the real clock never reaches it by accident. */
function newClinic(opts: { start?: string; end?: string } = {}): Promise<TestClinic> {
  const { services } = rig.server;
  return createTestClinic(services, { date: addDays(londonDate(services.now()), 7), ...opts });
}

/** An invitation to book in the clinic, for a new patient of its organisation. */
function invite(c: TestClinic = clinic): Promise<TestConversation> {
  return createTestInvitation(rig.server.services, c, { patient: { nhsNumber: testNhsNumber(++patients) } });
}

/** Book a time for an invitation through the service (as another patient would). */
async function book(c: TestConversation, slotId: string) {
  const result = await bookAsThePatient(rig.server.services, c, slotId);
  assert.ok('booked' in result, JSON.stringify(result));
  return result.booked.booking;
}

/** A browser that has passed the date of birth as the link's first device, on the booking page. */
async function verified(c: TestConversation, options: BrowserContextOptions = {}): Promise<Page> {
  const page = await rig.newPage(options);
  await open(rig, page, `/${c.token}`);
  await enterDateOfBirth(page, isoParts(TEST_PATIENT.dateOfBirth));
  assert.match(page.url(), /\/conversation$/);
  return page;
}

const base = (c: TestConversation) => `/${c.token}/conversation`;
const mainText = (page: Page) => page.locator('main').innerText();

/** Click a submit button and wait for the page it leads to; the status of the POST itself. */
async function submitAndWait(page: Page, button: string): Promise<number> {
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST' && r.request().isNavigationRequest()),
    page.waitForEvent('load'),
    page.getByRole('button', { name: button }).click(),
  ]);
  return response.status();
}

/** Click a button of a GET form (the day chooser) and wait; the status of the page it ends on (after redirects). */
async function getAndWait(page: Page, button: string): Promise<number> {
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.request().isNavigationRequest() && (r.status() < 300 || r.status() >= 400)),
    page.waitForEvent('load'),
    page.getByRole('button', { name: button }).click(),
  ]);
  return response.status();
}

const pickFirst = (page: Page, name: string) => page.locator(`input[name="${name}"]`).first().check();

/**
 * Choose a day (empty and with its error), Choose a time (empty and with its error), Check, the
 * confirmation, the appointment again, Change time, too many holds, Cancel (with its error), cancelled.
 */
async function patientJourney(javaScript: boolean): Promise<void> {
  const how = javaScript ? '' : ' without JavaScript';
  const c = await invite();
  const page = await verified(c, javaScript ? {} : NO_JS);
  const opts = { reflow: true, javaScript };

  await checkPage(page, `Choose a day${how}`, { title: 'Choose a day', ...opts });
  assert.equal(await getAndWait(page, 'Continue'), 400, 'Continue with no day chosen');
  assert.match(page.url(), /\?error=date$/);
  await checkPage(page, `Choose a day, none chosen${how}`, { errors: true, firstErrorHref: '#date', title: 'Choose a day', ...opts });

  await pickFirst(page, 'date');
  await clickAndWait(page, page.getByRole('button', { name: 'Continue' }));
  assert.match(page.url(), /\/appointment\/times\?date=/);
  await checkPage(page, `Choose a time${how}`, { title: 'Choose a time', ...opts });
  assert.equal(await submitAndWait(page, 'Continue'), 400, 'Continue with no time chosen');
  await checkPage(page, `Choose a time, none chosen${how}`, { errors: true, firstErrorHref: '#slotId', title: 'Choose a time', ...opts });

  await pickFirst(page, 'slotId');
  assert.equal(await submitAndWait(page, 'Continue'), 303);
  assert.match(page.url(), /\/appointment\/check$/);
  await checkPage(page, `Check your appointment${how}`, { title: 'Check your appointment', ...opts });

  assert.equal(await submitAndWait(page, 'Confirm appointment'), 303);
  assert.match(page.url(), /\?booked=1$/);
  assert.match(await mainText(page), /Appointment booked/);
  await checkPage(page, `appointment booked${how}`, { title: 'Appointment booked', ...opts });

  await open(rig, page, base(c), 200);
  await checkPage(page, `the appointment, opened again${how}`, { title: 'Your appointment', ...opts });

  await clickAndWait(page, page.getByRole('link', { name: 'Change time' }));
  assert.match(await mainText(page), /Your current appointment is at .+\. It stays booked until you confirm a new time\./);
  await checkPage(page, `Change time: choose a new day${how}`, { title: 'Choose a new day', ...opts });
  await pickFirst(page, 'date');
  await clickAndWait(page, page.getByRole('button', { name: 'Continue' }));
  const timesUrl = page.url();
  await checkPage(page, `Change time: choose a time${how}`, { title: 'Choose a time', ...opts });
  await pickFirst(page, 'slotId');
  assert.equal(await submitAndWait(page, 'Continue'), 303);
  assert.match(await mainText(page), /This will replace your appointment at/);
  await checkPage(page, `Change time: check your appointment${how}`, { title: 'Check your appointment', ...opts });

  // Holding more times than BOOKING_HOLDS_PER_INVITATION (2 here): the page says to phone.
  let status = 0;
  for (let i = 1; i <= 3 && status !== 429; i++) {
    await page.goto(timesUrl);
    await page.locator('input[name="slotId"]').nth(i).check();
    status = await submitAndWait(page, 'Continue');
  }
  assert.equal(status, 429, 'too many holds is reached');
  await checkPage(page, `too many holds${how}`, { title: 'You cannot choose another time online', ...opts });

  await open(rig, page, `${base(c)}/appointment/cancel`, 200);
  await checkPage(page, `Cancel your appointment${how}`, { title: 'Cancel your appointment', ...opts });
  await page.getByLabel('Why are you cancelling? (optional)').fill('x'.repeat(501));
  assert.equal(await submitAndWait(page, 'Cancel appointment'), 400, 'a reason over 500 characters');
  await checkPage(page, `Cancel your appointment, reason too long${how}`, { errors: true, firstErrorHref: '#reason', title: 'Cancel your appointment', ...opts });
  await page.getByLabel('Why are you cancelling? (optional)').fill('I feel better now.');
  assert.equal(await submitAndWait(page, 'Cancel appointment'), 303);
  assert.match(page.url(), /\?cancelled=1$/);
  assert.match(await mainText(page), /Your appointment has been cancelled/);
  // Booking is still open, so the day chooser follows the cancelled panel (its heading an h2).
  assert.equal(await page.locator('h2.nhsuk-panel__heading').innerText(), 'Your appointment has been cancelled');
  await checkPage(page, `cancelled${how}`, { title: 'Your appointment has been cancelled', ...opts });
}

test('patient: choose a day and a time (with their errors), check, booked, again, change, too many holds, cancel (JavaScript on)', async () => {
  await patientJourney(true);
});

test('patient: choose a day and a time (with their errors), check, booked, again, change, too many holds, cancel (JavaScript off)', async () => {
  await patientJourney(false);
});

test('patient: no times left to book (every time blocked), JavaScript on and off', async () => {
  const { services } = rig.server;
  const small = await newClinic({ start: '09:00', end: '09:30' });
  for (const slot of small.slots) await setSlotBlock(services, { organisationId: small.organisation.id, staffId: small.staffId, ip: '127.0.0.1' }, slot.id, true);
  for (const javaScript of [true, false]) {
    // A link's second browser would need a security code: each run has its own invitation.
    const c = await invite(small);
    const page = await verified(c, javaScript ? {} : NO_JS);
    assert.match(await page.locator('h1').innerText(), /There are no times left to book/);
    await checkPage(page, `no times left${javaScript ? '' : ' without JavaScript'}`, { title: 'There are no times left to book', reflow: true, javaScript });
    await rig.forgetLookups();
  }
});

test('patient: the time chosen is booked by someone else before Confirm', async () => {
  const c = await invite();
  const other = await invite();
  const page = await verified(c);
  await pickFirst(page, 'date');
  await clickAndWait(page, page.getByRole('button', { name: 'Continue' }));
  const slotId = await page.locator('input[name="slotId"]').first().getAttribute('value');
  await pickFirst(page, 'slotId');
  assert.equal(await submitAndWait(page, 'Continue'), 303);
  // This browser's hold runs out while it is on the check page, and another patient books the time.
  await rig.exec(sql`UPDATE booking_holds SET expires_at = ${new Date(rig.server.services.now().getTime() - 60_000).toISOString()} WHERE conversation_id = ${c.conversationId}`);
  await book(other, slotId!);
  assert.equal(await submitAndWait(page, 'Confirm appointment'), 409);
  await checkPage(page, 'time just booked by someone else', { title: 'That time has just been booked by someone else', reflow: true });
});

test('patient: after the cut-off, and the time to book online ended (the clock moved on)', async () => {
  const booked = await invite();
  const slot = clinic.slots[clinic.slots.length - 1]!;
  await book(booked, slot.id);
  // Without JavaScript: another patient, as a second browser of the first link would need a security code.
  const bookedNoJs = await invite();
  await book(bookedNoJs, clinic.slots[clinic.slots.length - 2]!.id);
  const ended = await invite();

  // Half an hour before the appointment: past the 60-minute cut-off.
  const toCutOff = slot.startsAt.getTime() - rig.server.services.now().getTime() - 30 * 60_000;
  rig.advance(toCutOff);
  try {
    await rig.forgetLookups();
    const page = await verified(booked);
    const text = await mainText(page);
    assert.match(text, /It is too late to change or cancel this appointment online/);
    await checkPage(page, 'appointment after the cut-off', { title: 'Your appointment', reflow: true });
    await open(rig, page, `${base(booked)}/appointment/cancel`, 200);
    await checkPage(page, 'cancel after the cut-off', { title: 'It is too late to change or cancel this appointment online', reflow: true });
    const noJs = await verified(bookedNoJs, NO_JS);
    await checkPage(noJs, 'appointment after the cut-off without JavaScript', { title: 'Your appointment', reflow: true, javaScript: false });
  } finally {
    rig.advance(-toCutOff);
  }

  // Past BOOKING_LINK_TTL_DAYS (7) with nothing booked: the link expires with the time to book, so
  // the link shows verification's "This link has expired" page, on its own address and the booking's.
  const page = await verified(ended);
  rig.advance(8 * DAY_MS);
  try {
    await rig.forgetLookups();
    await open(rig, page, `/${ended.token}`);
    assert.match(await mainText(page), /This link has expired/);
    await checkPage(page, 'link expired with the time to book', { title: 'This link has expired', reflow: true });
    await open(rig, page, base(ended));
    assert.match(await mainText(page), /This link has expired/);
    await checkPage(page, 'the booking page, link expired with the time to book', { title: 'This link has expired', reflow: true });

    // A link that outlives the time to book (as through the portal, where the conversation stays
    // readable): the booking page says booking online has ended. The link is kept open in the database.
    await rig.exec(sql`UPDATE links SET expires_at = ${new Date(rig.server.services.now().getTime() + DAY_MS).toISOString()} WHERE id = ${ended.linkId}`);
    await open(rig, page, `/${ended.token}`);
    if (!page.url().endsWith('/conversation')) await enterDateOfBirth(page, isoParts(TEST_PATIENT.dateOfBirth));
    assert.match(page.url(), /\/conversation$/);
    assert.match(await mainText(page), /You can no longer book this appointment online/);
    await checkPage(page, 'the time to book online has ended', { title: 'The time to book online has ended', reflow: true });
  } finally {
    rig.advance(-8 * DAY_MS);
  }
});

/** What has keyboard focus, and whether it shows (an outline or a box shadow, as the NHS focus state). */
async function focused(page: Page) {
  return page.evaluate(() => {
    const el = document.activeElement;
    const style = el ? getComputedStyle(el) : null;
    return {
      tag: el?.tagName.toLowerCase() ?? '',
      id: el?.id ?? '',
      type: el?.getAttribute('type') ?? '',
      text: (el?.innerText || el?.getAttribute('aria-label') || '').trim(),
      indicated: Boolean(style && ((style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0) || style.boxShadow !== 'none')),
    };
  });
}

/** Press Tab until focus is on the element that matches; fails after 40 presses. */
async function tabTo(page: Page, what: string, matches: (f: Awaited<ReturnType<typeof focused>>) => boolean): Promise<void> {
  const seen: string[] = [];
  for (let i = 0; i < 40; i++) {
    await page.keyboard.press('Tab');
    const f = await focused(page);
    seen.push(`${f.tag}${f.id ? '#' + f.id : ''}${f.text ? ` "${f.text.slice(0, 30)}"` : ''}`);
    if (matches(f)) {
      assert.ok(f.indicated, `${what} has no visible focus indicator`);
      return;
    }
  }
  assert.fail(`Tab never reached ${what}; focus went: ${seen.join(' → ')}`);
}

async function pressAndWait(page: Page, key: string): Promise<void> {
  await Promise.all([page.waitForEvent('load'), page.keyboard.press(key)]);
}

test('by keyboard alone: choose a day, a time and confirm', async () => {
  const c = await invite();
  const page = await verified(c);
  await tabTo(page, 'the first day', (f) => f.id === 'date' && f.type === 'radio');
  await page.keyboard.press('Space');
  await tabTo(page, 'the Continue button', (f) => f.tag === 'button' && f.text === 'Continue');
  await pressAndWait(page, 'Enter');
  assert.match(page.url(), /\/appointment\/times\?date=/);

  await tabTo(page, 'the first time', (f) => f.id === 'slotId' && f.type === 'radio');
  await page.keyboard.press('Space');
  await page.keyboard.press('ArrowDown');
  await tabTo(page, 'the Continue button', (f) => f.tag === 'button' && f.text === 'Continue');
  await pressAndWait(page, 'Enter');
  assert.match(page.url(), /\/appointment\/check$/);

  await tabTo(page, 'Confirm appointment', (f) => f.tag === 'button' && f.text === 'Confirm appointment');
  await pressAndWait(page, 'Enter');
  assert.match(page.url(), /\?booked=1$/);
  assert.match(await mainText(page), /Appointment booked/);
});

/** A signed-in staff browser. */
async function staffPage(organisationId: string): Promise<Page> {
  const staff = await createTestStaff(rig.server.services, organisationId, { email: `a11y-${Math.random().toString(36).slice(2)}@example.nhs.uk` });
  const page = await rig.newPage();
  await open(rig, page, '/staff/sign-in');
  await page.getByLabel('Email address').fill(staff.email);
  await page.getByLabel('Password', { exact: true }).fill(staff.password);
  await clickAndWait(page, page.getByRole('button', { name: 'Sign in' }));
  assert.match(page.url(), /\/staff$/);
  return page;
}

test('staff: clinic set-up and its forms, the diary, cancel and move, the invitation and the booking panel', async () => {
  const { services } = rig.server;
  const narrow = { narrow: true };

  // A new organisation: clinic set-up with nothing in it.
  const empty = await createTestOrganisation(services);
  const first = await staffPage(empty.id);
  await open(rig, first, '/staff/clinic', 200);
  await checkPage(first, 'clinic set-up, empty', { title: 'Clinic set-up', ...narrow });
  await open(rig, first, '/staff/clinic/sessions/new', 200);
  await checkPage(first, 'add a session, nothing to choose from', { title: 'Add a session', ...narrow });

  // Its own clinic: free, booked, blocked and cancelled slots on the clinic's day.
  const own = await newClinic();
  const actor = { organisationId: own.organisation.id, staffId: own.staffId, ip: '127.0.0.1' };
  const bookedInvitation = await invite(own);
  const booking = await book(bookedInvitation, own.slots[0]!.id);
  const cancelled = await book(await invite(own), own.slots[1]!.id);
  await cancelByStaff(services, { ...actor, bookingId: cancelled.id, reason: 'Clinic closed' });
  await setSlotBlock(services, actor, own.slots[2]!.id, true);
  const page = await staffPage(own.organisation.id);

  await open(rig, page, '/staff/clinic', 200);
  await checkPage(page, 'clinic set-up, with a clinic', { title: 'Clinic set-up', ...narrow });
  const forms = [
    { path: '/staff/clinic/clinicians/new', title: 'Add a clinician', button: 'Add clinician', href: '#name' },
    { path: '/staff/clinic/locations/new', title: 'Add a location', button: 'Add location', href: '#name' },
    { path: '/staff/clinic/appointment-types/new', title: 'Add an appointment type', button: 'Add appointment type', href: '#name' },
    { path: '/staff/clinic/sessions/new', title: 'Add a session', button: 'Add session', href: '#clinicianId' },
  ];
  for (const form of forms) {
    await open(rig, page, form.path, 200);
    await checkPage(page, `${form.title}, empty`, { title: form.title, ...narrow });
    assert.equal(await submitAndWait(page, form.button), 400, `${form.title} with nothing entered`);
    await checkPage(page, `${form.title}, with errors`, { errors: true, firstErrorHref: form.href, title: form.title, ...narrow });
  }

  const date = londonDate(own.slots[0]!.startsAt);
  await open(rig, page, `/staff/diary?view=day&date=${date}`, 200);
  const day = await mainText(page);
  for (const words of [/Booked/, /Blocked/, /Cancelled/, /Free/i]) assert.match(day, words, `the day shows ${words}`);
  await checkPage(page, 'diary, one day', { title: 'Diary', ...narrow });
  await open(rig, page, `/staff/diary?view=week&date=${date}`, 200);
  await checkPage(page, 'diary, the week', { title: 'Diary', ...narrow });

  await open(rig, page, `/staff/bookings/${booking.id}/cancel`, 200);
  await checkPage(page, 'cancel an appointment', { title: 'Cancel an appointment', ...narrow });
  await page.getByLabel('Reason (optional)').fill('x'.repeat(1001));
  assert.equal(await submitAndWait(page, 'Cancel appointment'), 400, 'a reason too long');
  await checkPage(page, 'cancel an appointment, reason too long', { errors: true, firstErrorHref: '#reason', title: 'Cancel an appointment', ...narrow });

  await open(rig, page, `/staff/bookings/${booking.id}/move`, 200);
  await checkPage(page, 'move an appointment', { title: 'Move an appointment', ...narrow });
  assert.equal(await submitAndWait(page, 'Move appointment'), 400);
  await checkPage(page, 'move an appointment, no time chosen', { errors: true, firstErrorHref: '#slotId', title: 'Move an appointment', ...narrow });

  const patient = await createTestPatient(services, own.organisation.id, { nhsNumber: testNhsNumber(++patients) });
  await open(rig, page, `/staff/patients/${patient.id}/booking`, 200);
  await checkPage(page, 'invite to book', { title: 'Invite to book an appointment', ...narrow });
  await page.getByLabel('Earliest date').fill('');
  assert.equal(await submitAndWait(page, 'Send invitation'), 400);
  await checkPage(page, 'invite to book, with errors', { errors: true, firstErrorHref: '#appointmentTypeId', title: 'Invite to book an appointment', ...narrow });

  await open(rig, page, `/staff/conversations/${bookedInvitation.conversationId}`, 200);
  assert.match(await mainText(page), /Booked appointment/);
  await checkPage(page, 'booking conversation with its panel', { title: /^Conversation with /, ...narrow });
});
