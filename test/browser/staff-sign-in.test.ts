// Staff sign-in with the second factor in a real browser, as staff do it: set up an authenticator from
// the key shown as text (the code computed here from that key and the app's clock, as a phone would),
// save the recovery codes, sign out, sign in with a code, and again with a recovery code. Once with
// JavaScript on and once with it off: every step is a plain form.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { Secret, TOTP } from 'otpauth';
import { launchBrowser } from '../helpers/browser.ts';
import { startTestServer } from '../helpers/server.ts';
import { TestClock } from '../helpers/app.ts';
import { createTestOrganisation, createTestStaff } from '../helpers/factories.ts';

for (const javaScriptEnabled of [true, false]) {
  test(`set up an authenticator, sign in with a code and with a recovery code (JavaScript ${javaScriptEnabled ? 'on' : 'off'})`, async (t) => {
    const clock = new TestClock();
    const server = await startTestServer({ now: clock.now, config: { STAFF_SECOND_FACTOR: 'required' } });
    t.after(() => server.close());
    const { baseUrl, services } = server;
    const organisation = await createTestOrganisation(services, { name: 'Riverside Surgery' });
    const staff = await createTestStaff(services, organisation.id, { name: 'Jo Bloggs' });
    const browser = await launchBrowser();
    t.after(() => browser.close());
    const page: Page = await (await browser.newContext({ javaScriptEnabled })).newPage();

    const signInWithPassword = async () => {
      await page.goto(`${baseUrl}/staff/sign-in`);
      await page.getByLabel('Email address').fill(staff.email);
      await page.getByLabel('Password', { exact: true }).fill(staff.password);
      await Promise.all([page.waitForLoadState('load'), page.getByRole('button', { name: 'Sign in' }).click()]);
    };
    const clickContinue = () => Promise.all([page.waitForURL(/.*/), page.getByRole('button', { name: 'Continue' }).click()]);

    await signInWithPassword();
    await page.waitForURL(/\/staff\/second-factor\/set-up$/);
    assert.equal(await page.getByRole('img', { name: /QR code/ }).count(), 1);
    const keyText = await page.locator('#secret-key').innerText();
    assert.match(keyText, /^([A-Z2-7]{4} ){7}[A-Z2-7]{4}$/);
    // What an authenticator app does with the key typed in by hand.
    const app = new TOTP({ issuer: 'Dovecote', secret: Secret.fromBase32(keyText.replace(/ /g, '')), digits: 6, period: 30, algorithm: 'SHA1' });
    const codeNow = () => app.generate({ timestamp: clock.now().getTime() });

    await page.getByLabel('Code', { exact: true }).fill(codeNow());
    await clickContinue();
    await page.getByRole('heading', { name: 'Save your recovery codes' }).waitFor();
    const recoveryCodes = await page.locator('main code').allInnerTexts();
    assert.equal(recoveryCodes.length, 10);
    await Promise.all([page.waitForURL(`${baseUrl}/staff`), page.getByRole('button', { name: 'I have saved these codes' }).click()]);
    assert.match(await page.locator('header').innerText(), /Jo Bloggs/);

    // Sign out; a code from the next step signs in again.
    await page.goto(`${baseUrl}/staff/sign-out`);
    await Promise.all([page.waitForURL(/sign-out/), page.locator('main').getByRole('button', { name: 'Sign out' }).click()]);
    clock.advance(30_000);
    await signInWithPassword();
    await page.waitForURL(/\/staff\/sign-in\/code$/);
    await page.getByLabel('Code', { exact: true }).fill(codeNow());
    await clickContinue();
    await page.waitForURL(`${baseUrl}/staff`);

    // Lost phone: a recovery code instead, which then does not work a second time.
    await page.context().clearCookies();
    await signInWithPassword();
    await page.waitForURL(/\/staff\/sign-in\/code$/);
    await Promise.all([page.waitForURL(/recovery-code$/), page.getByRole('link', { name: /use a recovery code/ }).click()]);
    await page.getByLabel('Recovery code', { exact: true }).fill(recoveryCodes[0]!);
    await clickContinue();
    await page.waitForURL(/\/staff\/account\?used=recovery-code$/);
    assert.match(await page.locator('main').innerText(), /You have 9 recovery codes left/);

    await page.context().clearCookies();
    await signInWithPassword();
    await page.goto(`${baseUrl}/staff/sign-in/recovery-code`);
    await page.getByLabel('Recovery code', { exact: true }).fill(recoveryCodes[0]!);
    await clickContinue();
    assert.match(await page.locator('.nhsuk-error-summary').innerText(), /The recovery code is not right, or it has been used/);
  });
}
