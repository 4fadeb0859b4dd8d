// Every staff-facing page in every state, in a real browser: no axe violation (WCAG 2.2 AA tags), NHS
// page titles ("Error: " first when there are errors), focus on the error summary and every error link
// pointing at its field, and no sideways scrolling of the page at 320 px. Also the development phone and
// the API docs (swagger-ui).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'drizzle-orm';
import type { Page } from 'playwright-core';
import { axeViolations, describeViolations } from '../helpers/browser.ts';
import { TestClock } from '../helpers/app.ts';
import { createTestConversation, createTestOrganisation, createTestStaff, TEST_PATIENT } from '../helpers/factories.ts';
import { firstDevice, sendReply } from '../helpers/patient.ts';
import { checkPage, clickAndWait, startRig, type A11yRig } from './a11y-support.ts';
import type { Organisation } from '../../src/features/organisations/organisations.service.ts';
import { signInAccountKey } from '../../src/features/staff/staff-auth.service.ts';

let rig: A11yRig;
let busy: Organisation;
let busyStaff: { email: string; password: string };
const conversations: Record<string, string> = {};

const iso = (d: Date) => d.toISOString();
const now = () => rig.server.services.now();
const minutes = (n: number) => new Date(now().getTime() + n * 60_000);

before(async () => {
  // A clock of the test's own: the per-address sign-in limit counts in 15-minute windows, and on the
  // real clock a window could end between filling it and the attempt that should find it full.
  rig = await startRig({ clock: new TestClock() });
  const { services, app } = rig.server;
  busy = await createTestOrganisation(services, { name: 'Busy Surgery' });
  busyStaff = await createTestStaff(services, busy.id);
  // Conversations in every state the staff pages show.
  const replied = await createTestConversation(services, { organisation: busy, replyMode: 'conversation' });
  await sendReply(app, replied.token, await firstDevice(app, replied.token), 'Thank you. <b>Is Tuesday OK?</b>');
  conversations.replied = replied.conversationId;
  const locked = await createTestConversation(services, { organisation: busy, replyMode: 'none' });
  await rig.exec(sql`UPDATE links SET dob_failures_in_a_row = 5, locked_until = ${iso(minutes(30))} WHERE id = ${locked.linkId}`);
  conversations.locked = locked.conversationId;
  const lockedForGood = await createTestConversation(services, { organisation: busy });
  await rig.exec(sql`UPDATE links SET dob_failures_total = 10, locked_permanently_at = ${iso(now())} WHERE id = ${lockedForGood.linkId}`);
  conversations.lockedForGood = lockedForGood.conversationId;
  const expired = await createTestConversation(services, { organisation: busy });
  await rig.exec(sql`UPDATE links SET expires_at = ${iso(minutes(-5))} WHERE id = ${expired.linkId}`);
  conversations.expired = expired.conversationId;
  const revoked = await createTestConversation(services, { organisation: busy });
  await rig.exec(sql`UPDATE links SET revoked_at = ${iso(now())} WHERE id = ${revoked.linkId}`);
  conversations.revoked = revoked.conversationId;
  const failed = await createTestConversation(services, { organisation: busy });
  await rig.exec(sql`UPDATE outbound_sms SET status = 'permanent_failure', last_error = 'Not a mobile number' WHERE conversation_id = ${failed.conversationId}`);
  conversations.failed = failed.conversationId;
});
after(async () => {
  await rig?.close();
});

async function open(page: Page, path: string, status?: number): Promise<void> {
  const response = await page.goto(`${rig.baseUrl}${path}`);
  if (status !== undefined) assert.equal(response?.status(), status, `GET ${path}`);
}

async function signIn(page: Page, email: string, password: string): Promise<void> {
  await open(page, '/staff/sign-in');
  await page.getByLabel('Email address').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await clickAndWait(page, page.getByRole('button', { name: 'Sign in' }));
}

test('sign in: empty, each error, waiting after wrong passwords, paused for the address', async () => {
  const { services } = rig.server;
  const organisation = await createTestOrganisation(services);
  const staff = await createTestStaff(services, organisation.id);
  const page = await rig.newPage();
  await open(page, '/staff/sign-in', 200);
  await checkPage(page, 'staff sign-in', { title: 'Sign in', narrow: true });
  await clickAndWait(page, page.getByRole('button', { name: 'Sign in' }));
  await checkPage(page, 'staff sign-in, nothing entered', { errors: true, firstErrorHref: '#email', narrow: true });
  await page.getByLabel('Email address').fill(staff.email);
  await clickAndWait(page, page.getByRole('button', { name: 'Sign in' }));
  await checkPage(page, 'staff sign-in, no password', { errors: true, firstErrorHref: '#password', narrow: true });
  await signIn(page, staff.email, 'not the password');
  await checkPage(page, 'staff sign-in, wrong password', { errors: true, firstErrorHref: '#email', narrow: true });
  // The wrong password above started the account's run of failures; make it the 11th in a row.
  await rig.exec(sql`UPDATE rate_limit_hits SET hits = 11 WHERE key = ${signInAccountKey(staff.email)}`);
  await signIn(page, staff.email, staff.password);
  assert.match(await page.locator('main').innerText(), /Wait \d+ seconds before trying again/);
  assert.match(await page.locator('main').innerText(), /sign in slows down/);
  await checkPage(page, 'staff sign-in, waiting', { errors: true, firstErrorHref: '#email', narrow: true });
  await rig.exec(sql`UPDATE rate_limit_hits SET hits = 100 WHERE key LIKE 'staff-sign-in:ip:%'`);
  await signIn(page, staff.email, staff.password);
  assert.match(await page.locator('main').innerText(), /sign in is paused/);
  await checkPage(page, 'staff sign-in, paused', { errors: true, firstErrorHref: '#email', narrow: true });
  // Every later test signs in from this address.
  await rig.exec(sql`DELETE FROM rate_limit_hits WHERE key LIKE 'staff-sign-in:%'`);
});

test('empty inbox, sign out, signed out', async () => {
  const { services } = rig.server;
  const organisation = await createTestOrganisation(services, { name: 'Quiet Surgery' });
  const staff = await createTestStaff(services, organisation.id);
  const page = await rig.newPage();
  await signIn(page, staff.email, staff.password);
  assert.match(page.url(), /\/staff$/);
  assert.match(await page.locator('main').innerText(), /No messages have been sent yet/);
  await checkPage(page, 'empty inbox', { title: 'Conversations', narrow: true });
  await open(page, '/staff/sign-out', 200);
  await checkPage(page, 'sign out', { title: 'Sign out', narrow: true });
  await clickAndWait(page, page.locator('main').getByRole('button', { name: 'Sign out' }));
  await checkPage(page, 'signed out', { title: 'You have signed out', narrow: true });
});

test('inbox, find a patient, write a message, conversations in every state', async () => {
  const page = await rig.newPage();
  await signIn(page, busyStaff.email, busyStaff.password);
  assert.match(await page.locator('main').innerText(), /Reply waiting/);
  await checkPage(page, 'inbox with conversations', { title: 'Conversations', narrow: true });

  await open(page, '/staff/messages/new', 200);
  await checkPage(page, 'find a patient', { title: 'Find a patient', narrow: true });
  const byNhsNumber = page.getByRole('button', { name: 'Search by NHS number' });
  const byName = page.getByRole('button', { name: 'Search by name and date of birth' });
  await clickAndWait(page, byNhsNumber);
  await checkPage(page, 'find a patient, no NHS number', { errors: true, firstErrorHref: '#nhsNumber', narrow: true });
  await page.getByLabel('NHS number').fill('123');
  await clickAndWait(page, byNhsNumber);
  await checkPage(page, 'find a patient, NHS number not valid', { errors: true, firstErrorHref: '#nhsNumber', narrow: true });
  await clickAndWait(page, byName);
  await checkPage(page, 'find a patient, no name or date of birth', { errors: true, firstErrorHref: '#familyName', narrow: true });
  await page.getByLabel('Family name').fill('Shah');
  await page.getByLabel('Day').fill('12');
  await clickAndWait(page, byName);
  await checkPage(page, 'find a patient, date of birth incomplete', { errors: true, firstErrorHref: '#dob-month', narrow: true });
  await page.getByLabel('Family name').fill('Nobody');
  await page.getByLabel('Day').fill('1');
  await page.getByLabel('Month').fill('1');
  await page.getByLabel('Year').fill('1990');
  await clickAndWait(page, byName);
  assert.match(await page.locator('main').innerText(), /No patients found/);
  await checkPage(page, 'find a patient, no results', { narrow: true });
  await page.getByLabel('Family name').fill(TEST_PATIENT.familyName);
  const [year, month, day] = TEST_PATIENT.dateOfBirth.split('-') as [string, string, string];
  await page.getByLabel('Day').fill(String(Number(day)));
  await page.getByLabel('Month').fill(String(Number(month)));
  await page.getByLabel('Year').fill(year);
  await clickAndWait(page, byName);
  assert.match(await page.locator('main').innerText(), /1 patient found/);
  await checkPage(page, 'find a patient, results', { narrow: true });
  // An exact NHS number goes straight to the patient's page.
  await open(page, '/staff/messages/new', 200);
  await page.getByLabel('NHS number').fill(TEST_PATIENT.nhsNumber);
  await clickAndWait(page, byNhsNumber);
  assert.match(page.url(), /\/staff\/patients\/[0-9a-f-]{36}$/);
  await checkPage(page, 'patient page', { title: `${TEST_PATIENT.givenName} ${TEST_PATIENT.familyName}`, narrow: true });

  await clickAndWait(page, page.getByRole('link', { name: 'A message' }));
  await checkPage(page, 'write a message', { title: 'Write a message', narrow: true });
  await clickAndWait(page, page.getByRole('button', { name: 'Send message' }));
  await checkPage(page, 'write a message, nothing entered', { errors: true, firstErrorHref: '#body', narrow: true });
  assert.equal(await page.locator('.nhsuk-error-summary a').count(), 2, 'message and reply errors');
  await page.getByLabel('Message', { exact: true }).fill('Please call us to book your review.');
  await page.getByLabel('One reply').check();
  await clickAndWait(page, page.getByRole('button', { name: 'Send message' }));
  assert.match(page.url(), /\/staff\/conversations\/[0-9a-f-]+\?done=sent$/);
  await checkPage(page, 'conversation just sent', { title: /^Conversation with /, narrow: true });

  for (const [state, id] of Object.entries(conversations)) {
    await open(page, `/staff/conversations/${id}`, 200);
    await checkPage(page, `conversation (${state})`, { title: /^Conversation with /, narrow: true });
  }
  await clickAndWait(page, page.getByRole('button', { name: 'Re-send link' }));
  assert.match(await page.locator('main').innerText(), /Link sent again/);
  await checkPage(page, 'conversation, link sent again', { narrow: true });
  await clickAndWait(page, page.getByRole('button', { name: 'Revoke link' }));
  await checkPage(page, 'revoke, are you sure', { narrow: true });
  await clickAndWait(page, page.getByRole('button', { name: 'Revoke link' }));
  assert.match(await page.locator('main').innerText(), /Link revoked/);
  await checkPage(page, 'conversation, link revoked', { narrow: true });
  await open(page, '/staff/conversations/00000000-0000-4000-8000-000000000000', 404);
  await checkPage(page, 'conversation not found', { narrow: true });
});

test('development phone: all numbers and one number', async () => {
  const page = await rig.newPage();
  let shown = false;
  for (let i = 0; i < 40 && !shown; i++) {
    await open(page, '/dev/phone', 200);
    shown = (await page.locator('main h2 a').count()) > 0;
    if (!shown) await page.waitForTimeout(250);
  }
  assert.ok(shown, 'a text reached the development phone');
  await checkPage(page, 'development phone', { title: 'Development phone', narrow: true });
  await clickAndWait(page, page.locator('main h2 a').first());
  await checkPage(page, 'development phone, one number', { title: /^Texts to /, narrow: true });
});

// /api/docs is swagger-ui (third party, from @fastify/swagger-ui), not an NHS page: the title pattern
// and the single-h1 rule do not apply. Its colours and the unlabelled "Servers" list are fixed by the
// theme in src/features/api/docs-theme/, so axe runs with no exceptions: as it loads, and again with
// every operation and schema expanded (parameters, examples, constraints).
test('API docs (swagger-ui): no violations, as loaded and fully expanded', async () => {
  const page = await rig.newPage();
  await open(page, '/api/docs/', 200);
  await page.locator('.swagger-ui .info').waitFor({ timeout: 15_000 });
  await page.locator('#servers[aria-labelledby]').waitFor({ timeout: 5000 });
  let violations = await axeViolations(page);
  assert.equal(violations.length, 0, `API docs have accessibility problems:\n${describeViolations(violations)}`);

  const operations = page.locator('.opblock-summary-control');
  const count = await operations.count();
  assert.ok(count > 0, 'the API docs list operations');
  for (let i = 0; i < count; i++) await operations.nth(i).click();
  await page.locator('.opblock-body').nth(count - 1).waitFor();
  for (const expand of await page.locator('.json-schema-2020-12-expand-deep-button').all()) await expand.click();
  violations = await axeViolations(page);
  assert.equal(violations.length, 0, `API docs, expanded, have accessibility problems:\n${describeViolations(violations)}`);
});
