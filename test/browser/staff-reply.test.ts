// Staff replying inside a "Conversation" message, in Chromium with JavaScript on and off (issue 14):
// staff find the patient and send; the patient opens the link from the development phone, gives their
// date of birth and replies; staff see the reply, first press "Send reply" with nothing typed (the NHS
// error summary, with focus on it when script runs, and the error on the field), then reply. The phone
// gets "… has replied. Open it here: <link>"; the patient opens that new link, gives their date of birth
// again (a new link asks again), reads the whole thread in the order it was written and replies again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eq } from 'drizzle-orm';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser } from '../helpers/browser.ts';
import { startTestServer, type RunningServer } from '../helpers/server.ts';
import { TestClock } from '../helpers/app.ts';
import { createTestOrganisation, createTestPatient, createTestStaff, TEST_PATIENT } from '../helpers/factories.ts';
import { outboundSms } from '../../src/platform/db/schema.ts';

// The browser globals the in-page callbacks use (the project compiles without the DOM library).
interface DomElement {
  closest(selector: string): DomElement | null;
}
declare const document: { activeElement: DomElement | null };

const PATIENT_NAME = `${TEST_PATIENT.givenName} ${TEST_PATIENT.familyName}`;
const LINK = /^http:\/\/localhost:\d+\/[0-9A-Za-z]{22}$/;

async function mainText(page: Page): Promise<string> {
  return (await page.locator('main').innerText()).replace(/\s+/g, ' ');
}

/** Click something that loads a new page and wait for it (with JavaScript off too). */
async function clickAndWait(page: Page, name: string | RegExp, role: 'button' | 'link' = 'button'): Promise<void> {
  await Promise.all([page.waitForEvent('load'), page.getByRole(role, { name, exact: typeof name === 'string' }).click()]);
}

async function enterDateOfBirth(page: Page): Promise<void> {
  const [year, month, day] = TEST_PATIENT.dateOfBirth.split('-');
  await page.getByLabel('Day').fill(String(Number(day)));
  await page.getByLabel('Month').fill(String(Number(month)));
  await page.getByLabel('Year').fill(year!);
  await clickAndWait(page, 'Continue');
  assert.match(page.url(), /\/conversation$/, await mainText(page));
}

/**
 * The newest text on the development phone that matches `pattern`, with the link in it. The SMS worker
 * sends in the background, so the phone is read again until the text arrives.
 */
async function linkFromPhone(page: Page, baseUrl: string, pattern: RegExp, notThis?: string): Promise<string> {
  for (let i = 0; i < 80; i++) {
    await page.goto(`${baseUrl}/dev/phone`);
    for (const text of await page.locator('main .dc-phone-text').allInnerTexts()) {
      const match = pattern.exec(text.trim());
      if (match && match[1] !== notThis) return match[1]!;
    }
    await page.waitForTimeout(250);
  }
  throw new Error(`no text matching ${pattern} reached the development phone`);
}

for (const javaScriptEnabled of [true, false]) {
  test(`staff reply in a conversation, the patient reads the thread from the new link and replies again (JavaScript ${javaScriptEnabled ? 'on' : 'off'})`, async (t) => {
    // The test's own clock, moved on a minute between steps so each item has its own time.
    const clock = new TestClock();
    const server: RunningServer = await startTestServer({ now: clock.now });
    t.after(() => server.close());
    const { baseUrl, services } = server;
    const organisation = await createTestOrganisation(services, { name: 'Demo Surgery', contactPhone: '01234 567890' });
    const staff = await createTestStaff(services, organisation.id, { name: 'Sam Carter', role: 'clinician' });
    await createTestPatient(services, organisation.id);
    const browser: Browser = await launchBrowser();
    t.after(() => browser.close());
    const staffPage = await (await browser.newContext({ javaScriptEnabled })).newPage();
    const patientPage = await (await browser.newContext({ javaScriptEnabled })).newPage();

    // Staff sign in, find the patient by NHS number and send a message that takes replies as a conversation.
    await staffPage.goto(`${baseUrl}/staff/sign-in`);
    await staffPage.getByLabel('Email address').fill(staff.email);
    await staffPage.getByLabel('Password', { exact: true }).fill(staff.password);
    await clickAndWait(staffPage, 'Sign in');
    assert.match(staffPage.url(), /\/staff$/);
    await staffPage.goto(`${baseUrl}/staff/messages/new`);
    await staffPage.getByLabel('NHS number').fill(TEST_PATIENT.nhsNumber);
    await clickAndWait(staffPage, 'Search by NHS number');
    assert.match(staffPage.url(), /\/staff\/patients\/[0-9a-f-]{36}$/);
    await clickAndWait(staffPage, 'A message', 'link');
    await staffPage.getByLabel('Message', { exact: true }).fill('Please book a blood test.');
    await staffPage.getByLabel('Conversation').check();
    await clickAndWait(staffPage, 'Send message');
    assert.match(staffPage.url(), /\/staff\/conversations\/[0-9a-f-]{36}\?done=sent$/);
    const conversationUrl = staffPage.url().replace(/\?.*$/, '');

    // The patient opens the link from their phone, gives their date of birth and replies.
    const firstLink = await linkFromPhone(patientPage, baseUrl, /^Message from Demo Surgery: .* Open it here: (\S+)$/);
    assert.match(firstLink, LINK);
    await patientPage.goto(firstLink);
    await enterDateOfBirth(patientPage);
    assert.match(await mainText(patientPage), /Please book a blood test\./);
    clock.advance(60_000);
    await patientPage.getByLabel('Reply to Demo Surgery').fill('When can I come in?');
    await clickAndWait(patientPage, 'Send reply');
    assert.match(await mainText(patientPage), /Your reply has been sent/);

    // Staff see the reply under the message, and the reply box.
    clock.advance(60_000);
    await staffPage.goto(conversationUrl);
    let staffText = await mainText(staffPage);
    assert.match(staffText, /Please book a blood test\. .*Reply from Priya Shah .*When can I come in\?/);
    assert.equal(await staffPage.getByRole('heading', { name: `Reply to ${PATIENT_NAME}` }).count(), 1);

    // Nothing typed: the NHS error summary (focused when script runs) and the error on the field.
    await clickAndWait(staffPage, 'Send reply');
    assert.match(await staffPage.title(), /^Error: /);
    const summary = staffPage.locator('.nhsuk-error-summary');
    assert.equal(await summary.count(), 1);
    assert.equal((await summary.getByRole('link').allInnerTexts()).join('|'), 'Enter a message');
    assert.equal(await summary.getByRole('link').getAttribute('href'), '#replyBody');
    if (javaScriptEnabled) {
      await staffPage
        .waitForFunction(() => Boolean(document.activeElement?.closest('.nhsuk-error-summary')), undefined, { timeout: 5000 })
        .catch(() => assert.fail('focus did not move to the error summary'));
    }
    const field = staffPage.locator('#replyBody');
    assert.equal(await field.evaluate((el) => el.tagName.toLowerCase()), 'textarea');
    const fieldError = staffPage.locator('.nhsuk-form-group--error').filter({ has: field }).locator('.nhsuk-error-message');
    assert.match(await fieldError.innerText(), /Enter a message/);
    // The error is read out with the field: its id is in the field's aria-describedby.
    const errorId = await fieldError.getAttribute('id');
    assert.ok(errorId, 'the field error has an id');
    assert.ok(((await field.getAttribute('aria-describedby')) ?? '').split(/\s+/).includes(errorId), 'the field is described by its error');
    // Following the summary's link lands on the field.
    await summary.getByRole('link', { name: 'Enter a message' }).click();
    if (javaScriptEnabled) assert.equal(await field.evaluate((el) => el === (document.activeElement as unknown)), true);
    else assert.match(staffPage.url(), /#replyBody$/);
    assert.equal((await services.db.select().from(outboundSms).where(eq(outboundSms.kind, 'staff_reply'))).length, 0, 'nothing texted');

    // Now a reply: the success banner, and the reply in the thread.
    clock.advance(60_000);
    await field.fill('Any weekday morning. The clinic opens at 8am.');
    await clickAndWait(staffPage, 'Send reply');
    assert.match(staffPage.url(), /\?done=replied$/);
    staffText = await mainText(staffPage);
    assert.match(staffText, /Reply sent Priya Shah will get a text message to say you have replied, with a link to this conversation\./);
    assert.match(staffText, /Please book a blood test\. .*When can I come in\? .*Message from Sam Carter .*Any weekday morning\./);

    // The phone gets "Demo Surgery has replied. Open it here: <a new link>", without the reply itself.
    const replyLink = await linkFromPhone(patientPage, baseUrl, /^Demo Surgery has replied\. Open it here: (\S+)$/);
    assert.match(replyLink, LINK);
    assert.notEqual(replyLink, firstLink, 'a new link');
    const phoneText = await mainText(patientPage);
    assert.doesNotMatch(phoneText, /weekday/, 'the text never carries the reply');

    // The new link asks for the date of birth again, then shows the whole thread in the order written.
    await patientPage.goto(replyLink);
    assert.match(await mainText(patientPage), /Demo Surgery/);
    assert.equal(await patientPage.getByLabel('Day').count(), 1, 'the new link asks for the date of birth');
    await enterDateOfBirth(patientPage);
    assert.ok(patientPage.url().startsWith(`${replyLink}/`), 'on the new link');
    const thread = await mainText(patientPage);
    assert.match(thread, /Please book a blood test\. .*Replies .*You replied on .*When can I come in\? .*Demo Surgery replied on .*Any weekday morning\. The clinic opens at 8am\./);

    // And replies again, from the new link.
    clock.advance(60_000);
    await patientPage.getByLabel('Reply to Demo Surgery').fill('Thursday then.');
    await clickAndWait(patientPage, 'Send reply');
    const after = await mainText(patientPage);
    assert.match(after, /Your reply has been sent/);
    assert.match(after, /When can I come in\? .*Any weekday morning\. .*Thursday then\./);

    // Staff see it, after their own reply.
    await staffPage.goto(conversationUrl);
    assert.match(await mainText(staffPage), /When can I come in\? .*Any weekday morning\. .*Reply from Priya Shah .*Thursday then\./);
  });
}
