// The whole secure-link journey in a real browser, as issue 2 describes it: staff sign in and send;
// the patient opens the link from the phone page, gives their date of birth, reads and replies; a
// second browser (a new device) must use a security code and becomes the trusted device; the first
// browser then needs a code too. Every page visited is checked with axe (WCAG 2.2 AA).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { axeViolations, describeViolations, launchBrowser } from '../helpers/browser.ts';
import { startTestServer, type RunningServer } from '../helpers/server.ts';
import { createTestOrganisation, createTestPatient, createTestStaff, TEST_PATIENT } from '../helpers/factories.ts';

async function assertAccessible(page: Page, what: string) {
  const violations = await axeViolations(page);
  assert.equal(violations.length, 0, `${what} (${page.url()}) has accessibility problems:\n${describeViolations(violations)}`);
}

async function openLatestLinkFromPhone(page: Page, baseUrl: string): Promise<void> {
  await page.goto(`${baseUrl}/dev/phone`);
  await page.locator('a', { hasText: /^http:\/\/localhost:\d+\/[0-9A-Za-z]{22}$/ }).first().click();
}

async function readLatestCodeFromPhone(page: Page, baseUrl: string): Promise<string> {
  for (let i = 0; i < 40; i++) {
    await page.goto(`${baseUrl}/dev/phone`);
    const text = await page.locator('main').innerText();
    const match = /(\d{6}) is your security code/.exec(text);
    if (match) return match[1]!;
    await page.waitForTimeout(250);
  }
  throw new Error('no security code arrived on the development phone page');
}

async function enterDateOfBirth(page: Page, iso: string) {
  const [year, month, day] = iso.split('-');
  await page.getByLabel('Day').fill(String(Number(day)));
  await page.getByLabel('Month').fill(String(Number(month)));
  await page.getByLabel('Year').fill(year!);
  await page.getByRole('button', { name: 'Continue' }).click();
}

test('staff send, patient verifies on two devices, reads, replies, staff see the reply', async (t) => {
  // Real time plus an offset the test can move, to step past the 60-second wait between codes.
  let offsetMs = 0;
  const server: RunningServer = await startTestServer({ now: () => new Date(Date.now() + offsetMs) });
  t.after(() => server.close());
  const { baseUrl, services } = server;
  const organisation = await createTestOrganisation(services, { name: 'Demo Surgery', contactPhone: '01234 567890' });
  const staff = await createTestStaff(services, organisation.id);
  await createTestPatient(services, organisation.id);
  const browser: Browser = await launchBrowser();
  t.after(() => browser.close());
  const newContext = (): Promise<BrowserContext> => browser.newContext({ bypassCSP: true });

  // Staff sign in and send a message that allows a conversation.
  const staffPage = await (await newContext()).newPage();
  await staffPage.goto(`${baseUrl}/staff/sign-in`);
  await assertAccessible(staffPage, 'staff sign-in');
  await staffPage.getByLabel('Email address').fill(staff.email);
  await staffPage.getByLabel('Password', { exact: true }).fill(staff.password);
  await staffPage.getByRole('button', { name: 'Sign in' }).click();
  await staffPage.goto(`${baseUrl}/staff/messages/new`);
  await assertAccessible(staffPage, 'find a patient');
  await staffPage.getByLabel('NHS number').fill(TEST_PATIENT.nhsNumber);
  await staffPage.getByRole('button', { name: /Find|Search/ }).first().click();
  // An exact NHS number opens the patient's page, which lists what can be sent.
  await staffPage.waitForURL(/\/staff\/patients\/[^/]+$/);
  await assertAccessible(staffPage, "patient's page");
  await staffPage.getByRole('link', { name: 'A message', exact: true }).click();
  await assertAccessible(staffPage, 'compose');
  await staffPage.getByLabel(/Message/).first().fill('Please book a blood test. <b>not bold</b>');
  await staffPage.getByLabel(/Conversation/).check();
  await staffPage.getByRole('button', { name: /Send/ }).click();
  await staffPage.waitForURL(/\/staff\/conversations\//);
  const conversationUrl = staffPage.url();
  await assertAccessible(staffPage, 'staff conversation');

  // Device A: the first device to pass the date-of-birth check becomes the trusted device.
  const deviceA = await (await newContext()).newPage();
  let link = '';
  for (let i = 0; i < 40 && !link; i++) {
    await deviceA.goto(`${baseUrl}/dev/phone`);
    link = (await deviceA.locator('a', { hasText: /\/[0-9A-Za-z]{22}$/ }).first().textContent({ timeout: 500 }).catch(() => '')) ?? '';
    if (!link) await deviceA.waitForTimeout(250);
  }
  assert.match(link, /^http:\/\/localhost:\d+\/[0-9A-Za-z]{22}$/, 'the text message with the link reached the phone page');
  await assertAccessible(deviceA, 'development phone');
  await openLatestLinkFromPhone(deviceA, baseUrl);
  assert.match(await deviceA.locator('main').innerText(), /Demo Surgery/);
  await assertAccessible(deviceA, 'date of birth');
  await deviceA.getByRole('button', { name: 'Continue' }).click();
  await assertAccessible(deviceA, 'date of birth with errors');
  assert.match(await deviceA.title(), /^Error: /);
  await enterDateOfBirth(deviceA, TEST_PATIENT.dateOfBirth);
  await deviceA.waitForURL(/\/conversation$/);
  const messageText = await deviceA.locator('main').innerText();
  assert.match(messageText, /Please book a blood test\. <b>not bold<\/b>/, 'message shown, HTML escaped');
  await assertAccessible(deviceA, 'message');
  await deviceA.getByLabel(/reply/i).first().fill('Thank you, I will book it this week.');
  await deviceA.getByRole('button', { name: /Send/ }).click();
  assert.match(await deviceA.locator('main').innerText(), /Your reply has been sent/);
  await assertAccessible(deviceA, 'reply sent');

  // Staff see the reply.
  await staffPage.goto(conversationUrl);
  assert.match(await staffPage.locator('main').innerText(), /Thank you, I will book it this week\./);

  // Device B: a new device must enter the security code sent to the phone, then becomes trusted.
  const deviceB = await (await newContext()).newPage();
  await deviceB.goto(link);
  await enterDateOfBirth(deviceB, TEST_PATIENT.dateOfBirth);
  await deviceB.waitForURL(/\/code$/);
  assert.match(await deviceB.locator('main').innerText(), /Check your phone/);
  await assertAccessible(deviceB, 'check your phone');
  const code = await readLatestCodeFromPhone(await (await newContext()).newPage(), baseUrl);
  await deviceB.getByLabel(/Security code/i).fill(code);
  await deviceB.getByRole('button', { name: 'Continue' }).click();
  await deviceB.waitForURL(/\/conversation$/);
  assert.match(await deviceB.locator('main').innerText(), /Please book a blood test/);

  // Device A is no longer the trusted device: it now needs a code too (after the 60 s between codes).
  offsetMs += 61_000;
  await deviceA.goto(link);
  await enterDateOfBirth(deviceA, TEST_PATIENT.dateOfBirth);
  // It is told why: it was the trusted device until the link was opened on another one.
  await deviceA.waitForURL(/\/code\?moved=1$/);
  assert.match(await deviceA.locator('main').innerText(), /Check your phone/);
  assert.match(await deviceA.locator('main').innerText(), /This device was the trusted device for this link/);
});
