// Every patient journey completes without JavaScript, by keyboard alone, and at 200 % text: the
// proof for issue 4. Keyboard journeys use only page.keyboard (Tab, Enter, typing): no clicks, no fills.
import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { createTestOrganisation, createTestStaff, TEST_PATIENT } from '../helpers/factories.ts';
import { checkPage, clickAndWait, codeFromPhone, codeSentJustNow, enterDateOfBirth, isoParts, newLink, startRig, trustAnotherDevice, zoomText, type A11yRig } from './a11y-support.ts';

// The browser globals these in-page callbacks use (the project compiles without the DOM library).
interface DomElement {
  tagName: string;
  id: string;
  className: unknown;
  textContent: string | null;
  innerText: string;
  getAttribute(name: string): string | null;
  closest(selector: string): DomElement | null;
  querySelector(selector: string): DomElement | null;
  getBoundingClientRect(): { left: number; right: number; top: number; width: number; height: number };
  contains(other: DomElement | null): boolean;
}
declare const document: {
  documentElement: DomElement & { scrollWidth: number; clientWidth: number };
  activeElement: DomElement | null;
  body: { classList: { contains(name: string): boolean } };
  getElementById(id: string): DomElement | null;
  elementFromPoint(x: number, y: number): DomElement | null;
};
declare function getComputedStyle(el: DomElement): { fontSize: string; outlineStyle: string; outlineWidth: string; boxShadow: string };

let rig: A11yRig;
before(async () => {
  rig = await startRig();
});
after(async () => {
  await rig?.close();
});
beforeEach(async () => {
  await rig.forgetLookups();
});

const NO_JS = { javaScriptEnabled: false } as const;

async function mainText(page: Page): Promise<string> {
  return page.locator('main').innerText();
}

test('without JavaScript: date of birth, then the message, then a reply', async () => {
  const { token, organisation } = await newLink(rig, 'once');
  const page = await rig.newPage(NO_JS);
  await page.goto(`${rig.baseUrl}/${token}`);
  assert.equal(await page.evaluate(() => document.body.classList.contains('js-enabled')).catch(() => false), false, 'JavaScript is off');
  await enterDateOfBirth(page, {});
  await checkPage(page, 'date of birth errors without JavaScript', { errors: true, firstErrorHref: '#dob-day', javaScript: false, reflow: true });
  await enterDateOfBirth(page, isoParts(TEST_PATIENT.dateOfBirth));
  assert.match(page.url(), /\/conversation$/);
  assert.match(await mainText(page), /Your blood test results are normal/);
  await clickAndWait(page, page.getByRole('button', { name: 'Send reply' }));
  await checkPage(page, 'reply error without JavaScript', { errors: true, firstErrorHref: '#reply', javaScript: false, reflow: true });
  await page.getByLabel(`Reply to ${organisation.name}`).fill('Thank you.');
  await clickAndWait(page, page.getByRole('button', { name: 'Send reply' }));
  assert.match(await mainText(page), /Your reply has been sent/);
  await checkPage(page, 'reply sent without JavaScript', { javaScript: false, reflow: true });
});

test('without JavaScript: date of birth, then a security code, then the message', async () => {
  const { token, linkId } = await newLink(rig, );
  await trustAnotherDevice(rig, linkId);
  const page = await rig.newPage(NO_JS);
  await page.goto(`${rig.baseUrl}/${token}`);
  await enterDateOfBirth(page, isoParts(TEST_PATIENT.dateOfBirth));
  assert.match(page.url(), /\/code$/);
  await checkPage(page, 'check your phone without JavaScript', { javaScript: false, reflow: true });
  await page.getByLabel('Security code').fill(await codeFromPhone(rig, linkId));
  await clickAndWait(page, page.getByRole('button', { name: 'Continue' }));
  assert.match(page.url(), /\/conversation$/);
  assert.match(await mainText(page), /Your blood test results are normal/);
});

test('without JavaScript: request a new security code and use it', async () => {
  const { token, linkId } = await newLink(rig, );
  await trustAnotherDevice(rig, linkId);
  const page = await rig.newPage(NO_JS);
  await page.goto(`${rig.baseUrl}/${token}`);
  await enterDateOfBirth(page, isoParts(TEST_PATIENT.dateOfBirth));
  const first = await codeFromPhone(rig, linkId);
  await codeSentJustNow(rig, linkId);
  await clickAndWait(page, page.getByRole('button', { name: 'Request a new code' }));
  assert.match(await mainText(page), /less than a minute ago/);
  await checkPage(page, 'wait for a new code without JavaScript', { javaScript: false, reflow: true });
  await clickAndWait(page, page.getByRole('link', { name: 'Go back to enter a security code you already have' }));
  rig.advance(61_000);
  await clickAndWait(page, page.getByRole('button', { name: 'Request a new code' }));
  assert.match(await mainText(page), /We have sent you a new security code/);
  await page.getByLabel('Security code').fill(await codeFromPhone(rig, linkId, first));
  await clickAndWait(page, page.getByRole('button', { name: 'Continue' }));
  assert.match(page.url(), /\/conversation$/);
});

/** What has keyboard focus, described for assertions and messages. */
async function focused(page: Page) {
  return page.evaluate(() => {
    const el = document.activeElement;
    const style = el ? getComputedStyle(el) : null;
    return {
      tag: el?.tagName.toLowerCase() ?? '',
      id: el?.id ?? '',
      text: (el?.innerText || el?.getAttribute('aria-label') || '').trim(),
      // A visible focus indicator: an outline or a box shadow (the NHS focus state uses both).
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

async function pressEnterAndWait(page: Page): Promise<void> {
  await Promise.all([page.waitForEvent('load'), page.keyboard.press('Enter')]);
}

test('by keyboard alone: date of birth, then the message, then a reply', async () => {
  const { token } = await newLink(rig, 'once');
  const page = await rig.newPage();
  await page.goto(`${rig.baseUrl}/${token}`);
  await page.keyboard.press('Tab');
  assert.equal((await focused(page)).text, 'Skip to main content', 'the first Tab reaches the skip link');

  const { day, month, year } = isoParts(TEST_PATIENT.dateOfBirth);
  await tabTo(page, 'the Day field', (f) => f.id === 'dob-day');
  await page.keyboard.type(day);
  await page.keyboard.press('Tab');
  assert.equal((await focused(page)).id, 'dob-month', 'Tab goes from Day to Month');
  await page.keyboard.type(month);
  await page.keyboard.press('Tab');
  assert.equal((await focused(page)).id, 'dob-year', 'Tab goes from Month to Year');
  await page.keyboard.type(year);
  await tabTo(page, 'the Continue button', (f) => f.tag === 'button' && f.text === 'Continue');
  await pressEnterAndWait(page);
  assert.match(page.url(), /\/conversation$/);

  // An empty reply first: the error summary takes focus, and its link goes to the field.
  await tabTo(page, 'the Send reply button', (f) => f.tag === 'button' && f.text === 'Send reply');
  await pressEnterAndWait(page);
  await page.waitForFunction(() => Boolean(document.activeElement?.closest('.nhsuk-error-summary')));
  await tabTo(page, 'the error link', (f) => f.tag === 'a' && /Enter|reply/i.test(f.text));
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.activeElement?.id === 'reply');
  await page.keyboard.type('Thank you, I will book it.');
  await tabTo(page, 'the Send reply button', (f) => f.tag === 'button' && f.text === 'Send reply');
  await pressEnterAndWait(page);
  assert.match(await mainText(page), /Your reply has been sent/);
});

test('by keyboard alone: staff sign in', async () => {
  const { services } = rig.server;
  const organisation = await createTestOrganisation(services);
  const staff = await createTestStaff(services, organisation.id);
  const page = await rig.newPage();
  await page.goto(`${rig.baseUrl}/staff/sign-in`);
  await tabTo(page, 'the Email address field', (f) => f.id === 'email');
  await page.keyboard.type(staff.email);
  await page.keyboard.press('Tab');
  assert.equal((await focused(page)).id, 'password', 'Tab goes from Email address to Password');
  await page.keyboard.type(staff.password);
  await tabTo(page, 'the Sign in button', (f) => f.tag === 'button' && f.text === 'Sign in');
  await pressEnterAndWait(page);
  assert.match(page.url(), /\/staff$/);
  assert.match(await mainText(page), /Conversations/);
});

test('at 200 % text on a 640 px screen: date of birth, then the message, then a reply', async () => {
  const { token, organisation } = await newLink(rig, 'once');
  const page = await rig.newPage({ viewport: { width: 640, height: 800 } });
  const zoomAndCheck = async (what: string) => {
    await zoomText(page);
    const { scrollWidth, clientWidth } = await page.evaluate(() => ({
      scrollWidth: document.documentElement.scrollWidth,
      clientWidth: document.documentElement.clientWidth,
    }));
    assert.ok(scrollWidth <= clientWidth, `${what} scrolls sideways at 200 % text (${scrollWidth} > ${clientWidth})`);
  };
  await page.goto(`${rig.baseUrl}/${token}`);
  await zoomAndCheck('date of birth');
  await enterDateOfBirth(page, isoParts(TEST_PATIENT.dateOfBirth));
  assert.match(page.url(), /\/conversation$/);
  await zoomAndCheck('message');
  await page.getByLabel(`Reply to ${organisation.name}`).fill('Thank you.');
  const send = page.getByRole('button', { name: 'Send reply' });
  await send.scrollIntoViewIfNeeded();
  const box = await send.boundingBox();
  assert.ok(box && box.x >= 0 && box.x + box.width <= 640, 'Send reply fits on the screen');
  await clickAndWait(page, send);
  await zoomAndCheck('reply sent');
  assert.match(await mainText(page), /Your reply has been sent/);
});
