// "Continue with NHS login" in a real browser against the local stand-in (issue 3): a link opened on a
// new browser opens with NHS login and no security code; the portal lists conversations from two
// organisations. The failure pages are checked with axe (WCAG 2.2 AA) too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { axeViolations, describeViolations, launchBrowser } from '../helpers/browser.ts';
import { freePort, startTestServer } from '../helpers/server.ts';
import { startTestNhsLogin } from '../helpers/nhs-login.ts';
import { createTestConversation, createTestOrganisation } from '../helpers/factories.ts';

async function assertAccessible(page: Page, what: string) {
  const violations = await axeViolations(page);
  assert.equal(violations.length, 0, `${what} (${page.url()}) has accessibility problems:\n${describeViolations(violations)}`);
}

/** On the stand-in's page: choose the test identity and continue. */
async function chooseIdentity(page: Page, label: RegExp) {
  await page.waitForURL(/\/interaction\//);
  await page.getByLabel(label).check();
  await page.getByRole('button', { name: 'Continue' }).click();
}

test('NHS login opens a link on a new browser with no code, and the portal lists conversations from two organisations', async (t) => {
  // Closed in reverse: the browser, then the app, then the stand-in.
  const cleanup: Array<() => Promise<void>> = [];
  t.after(async () => {
    for (const close of cleanup.reverse()) await close();
  });
  // The stand-in first: it must know the app's redirect URI, so the app's port is chosen up front.
  const port = await freePort();
  const baseUrl = `http://localhost:${port}`;
  const nhsLogin = await startTestNhsLogin({ publicBaseUrl: baseUrl });
  cleanup.push(() => nhsLogin.close());
  const server = await startTestServer({ port, config: { ...nhsLogin.env, PUBLIC_BASE_URL: baseUrl } });
  cleanup.push(() => server.close());
  const { services } = server;

  const surgery = await createTestOrganisation(services, { name: 'Demo Surgery', contactPhone: '01234 567890' });
  const hospital = await createTestOrganisation(services, { name: 'City Hospital', contactPhone: '01234 000111' });
  const fromSurgery = await createTestConversation(services, { organisation: surgery, body: 'Your blood test results are normal.', replyMode: 'once' });
  await createTestConversation(services, { organisation: hospital, body: 'Your appointment is on Monday at 10am.', replyMode: 'none' });

  const browser = await launchBrowser();
  cleanup.push(() => browser.close());
  const newPage = async () => (await browser.newContext({ bypassCSP: true })).newPage();

  // A link opened on a new browser: Continue with NHS login, pick the test identity, read the message.
  const device = await newPage();
  await device.goto(`${baseUrl}/${fromSurgery.token}`);
  await assertAccessible(device, 'date of birth with NHS login');
  await device.getByRole('link', { name: 'Continue with NHS login' }).click();
  await assertAccessible(device, 'stand-in sign-in page');
  await chooseIdentity(device, /^Priya Shah — P9/);
  await device.waitForURL(`${baseUrl}/${fromSurgery.token}/conversation`);
  assert.match(await device.locator('main').innerText(), /Your blood test results are normal\./);
  assert.doesNotMatch(await device.locator('main').innerText(), /Check your phone/);

  // Someone else's NHS login on the same link: a page that reveals nothing.
  const other = await newPage();
  await other.goto(`${baseUrl}/${fromSurgery.token}`);
  await other.getByRole('link', { name: 'Continue with NHS login' }).click();
  await chooseIdentity(other, /^Sam Taylor/);
  await other.waitForURL(/\/nhs-login\/callback/);
  const mismatch = await other.locator('main').innerText();
  assert.match(mismatch, /This NHS login is not for the person this message was sent to/);
  // Who sent it (the link already showed that), never what was sent or to whom.
  assert.match(mismatch, /Message from /);
  assert.doesNotMatch(mismatch, /blood test|Priya/);
  await assertAccessible(other, 'NHS login mismatch');

  // Cancelling at NHS login.
  await other.goto(`${baseUrl}/${fromSurgery.token}`);
  await other.getByRole('link', { name: 'Continue with NHS login' }).click();
  await other.waitForURL(/\/interaction\//);
  await other.getByRole('button', { name: 'Cancel' }).click();
  await other.waitForURL(/\/nhs-login\/callback/);
  assert.match(await other.locator('main').innerText(), /You did not finish logging in/);
  await assertAccessible(other, 'NHS login cancelled');

  // The portal: home page → NHS login → every conversation for the NHS number.
  const portal = await newPage();
  await portal.goto(`${baseUrl}/`);
  await assertAccessible(portal, 'home page');
  await portal.getByRole('link', { name: 'Continue with NHS login' }).click();
  await chooseIdentity(portal, /^Priya Shah — P9/);
  await portal.waitForURL(`${baseUrl}/portal`);
  const list = await portal.locator('main').innerText();
  assert.match(list, /City Hospital/);
  assert.match(list, /Demo Surgery/);
  assert.match(list, /Reply needed/);
  await assertAccessible(portal, 'portal list');
  await portal.getByRole('link', { name: /City Hospital/ }).click();
  assert.match(await portal.locator('main').innerText(), /Your appointment is on Monday at 10am\./);
  await assertAccessible(portal, 'portal message');
  await portal.getByRole('link', { name: 'Back to your messages' }).click();
  await portal.getByRole('button', { name: 'Sign out' }).click();
  await portal.waitForURL(`${baseUrl}/portal/signed-out`);
  assert.match(await portal.locator('main').innerText(), /You have signed out/);
  await assertAccessible(portal, 'signed out');

  // P5 at the home page: the page that says NHS login could not confirm the identity strongly enough.
  await portal.goto(`${baseUrl}/`);
  await portal.getByRole('link', { name: 'Continue with NHS login' }).click();
  await chooseIdentity(portal, /— P5/);
  await portal.waitForURL(/\/nhs-login\/callback/);
  assert.match(await portal.locator('main').innerText(), /could not confirm your identity strongly enough/);
  await assertAccessible(portal, 'NHS login not strong enough');
});
