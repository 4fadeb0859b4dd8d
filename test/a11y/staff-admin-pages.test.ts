// The staff-account pages an admin uses, and the public set-up page, in every state, in a real browser:
// no axe violation (WCAG 2.2 AA), NHS titles ("Error: " first with errors), focus on the error summary,
// and no sideways scrolling at 320 px or with 200 % text at 640 px.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'drizzle-orm';
import type { Page } from 'playwright-core';
import { TestClock } from '../helpers/app.ts';
import { createTestOrganisation, createTestStaff } from '../helpers/factories.ts';
import { checkPage, clickAndWait, open, startRig, zoomText, type A11yRig } from './a11y-support.ts';

// What the page.evaluate callbacks below touch in the browser (the project's types have no DOM).
type DomElement = object;
declare const document: { documentElement: DomElement & { scrollWidth: number; clientWidth: number } };
declare function getComputedStyle(el: DomElement): { fontSize: string };

let rig: A11yRig;
let admin: { id: string; email: string; password: string };
let organisationId: string;

before(async () => {
  rig = await startRig({ clock: new TestClock() });
  const organisation = await createTestOrganisation(rig.server.services, { name: 'Admin Surgery' });
  organisationId = organisation.id;
  admin = await createTestStaff(rig.server.services, organisation.id, { name: 'Ada Admin', role: 'admin' });
});
after(async () => {
  await rig?.close();
});

// Pages open at 320 px: an admin's header menu has seven entries, and when the checks narrow a desktop
// window the header's script moves the overflow into "More" a moment after the resize, so a check made
// at once can see the menu still one line wide (a race in the check, not something a person meets).
const NARROW = { viewport: { width: 320, height: 640 } };

async function signedInPage(): Promise<Page> {
  const page = await rig.newPage(NARROW);
  await open(rig, page, '/staff/sign-in');
  await page.getByLabel('Email address').fill(admin.email);
  await page.getByLabel('Password', { exact: true }).fill(admin.password);
  await clickAndWait(page, page.getByRole('button', { name: 'Sign in' }));
  assert.match(page.url(), /\/staff$/);
  return page;
}

/**
 * 200 % text at 640 px, as checkReflow does it, but after the header's script has had its moment to
 * settle the menu for the new width (see NARROW).
 */
async function checkLargeText(page: Page, where: string): Promise<void> {
  await page.setViewportSize({ width: 640, height: 800 });
  await page.waitForTimeout(300);
  const undo = await zoomText(page);
  try {
    await page.waitForTimeout(300);
    const { scrollWidth, clientWidth, fontSize } = await page.evaluate(() => ({
      scrollWidth: document.documentElement.scrollWidth,
      clientWidth: document.documentElement.clientWidth,
      fontSize: getComputedStyle(document.documentElement).fontSize,
    }));
    assert.equal(fontSize, '32px', `${where}: 200 % text did not apply`);
    assert.ok(scrollWidth <= clientWidth, `${where} at 200 % text, 640 px: scrolls sideways (${scrollWidth} > ${clientWidth})`);
  } finally {
    await undo();
    await page.setViewportSize(NARROW.viewport);
    await page.waitForTimeout(300);
  }
}

async function check(page: Page, what: string, options: { errors?: boolean; firstErrorHref?: string; title?: string | RegExp } = {}): Promise<void> {
  await checkPage(page, what, { narrow: true, ...options });
  await checkLargeText(page, what);
}

async function add(page: Page, name: string, email: string, access: 'A one-time set-up link' | 'A temporary password'): Promise<void> {
  await open(rig, page, '/staff/accounts/new', 200);
  await page.getByLabel('Full name').fill(name);
  await page.getByLabel('Email address').fill(email);
  await page.getByLabel('Clinician').check();
  await page.getByLabel(access).check();
  await clickAndWait(page, page.getByRole('button', { name: 'Add staff member' }));
}

test('staff accounts: the list, the add form empty and with errors, the link and the temporary password shown once', async () => {
  const page = await signedInPage();
  await createTestStaff(rig.server.services, organisationId, { name: 'Rita Receptionist', role: 'receptionist' });
  await open(rig, page, '/staff/accounts', 200);
  await check(page, 'staff accounts', { title: 'Staff accounts' });

  await open(rig, page, '/staff/accounts/new', 200);
  await check(page, 'add a staff member', { title: 'Add a staff member' });
  await clickAndWait(page, page.getByRole('button', { name: 'Add staff member' }));
  await check(page, 'add a staff member, nothing entered', { errors: true, firstErrorHref: '#name' });
  await page.getByLabel('Full name').fill('Ted Taken');
  await page.getByLabel('Email address').fill(admin.email);
  await page.getByLabel('Clinician').check();
  await clickAndWait(page, page.getByRole('button', { name: 'Add staff member' }));
  await check(page, 'add a staff member, email taken', { errors: true, firstErrorHref: '#email' });

  await add(page, 'Nia Nurse', 'nia.a11y@example.nhs.uk', 'A one-time set-up link');
  await check(page, 'set-up link shown once', { title: 'Nia Nurse has been added' });
  assert.match(await page.locator('#setup-link').innerText(), /\/staff\/set-up\//);

  await add(page, 'Tom Temporary', 'tom.a11y@example.nhs.uk', 'A temporary password');
  await check(page, 'temporary password shown once', { title: 'Tom Temporary has been added' });
  assert.ok((await page.locator('#temporary-password').innerText()).length >= 12);
});

test('an account page (with a banner and with an error), each confirmation page and the new link', async () => {
  const page = await signedInPage();
  const colleague = await createTestStaff(rig.server.services, organisationId, { name: 'Cal Clinician', role: 'clinician' });
  await open(rig, page, `/staff/accounts/${colleague.id}`, 200);
  await check(page, 'account page', { title: 'Cal Clinician' });
  await page.getByLabel('Receptionist').check();
  await clickAndWait(page, page.getByRole('button', { name: 'Save role' }));
  await check(page, 'account page, role changed', { title: 'Cal Clinician' });

  await open(rig, page, `/staff/accounts/${admin.id}`, 200);
  await page.getByLabel('Clinician').check();
  await clickAndWait(page, page.getByRole('button', { name: 'Save role' }));
  await check(page, 'own account, cannot remove own admin role', { errors: true, firstErrorHref: '#role' });

  await open(rig, page, `/staff/accounts/${colleague.id}/reset-second-factor`, 200);
  await check(page, 'reset authenticator confirmation', { title: 'Reset their authenticator app?' });
  await open(rig, page, `/staff/accounts/${colleague.id}/set-up-link`, 200);
  await check(page, 'new set-up link confirmation', { title: 'Send a new set-up link?' });
  await clickAndWait(page, page.getByRole('button', { name: 'Create set-up link' }));
  await check(page, 'new set-up link shown once', { title: 'New set-up link created' });
  await open(rig, page, `/staff/accounts/${admin.id}/deactivate`, 200);
  await check(page, 'cannot deactivate yourself', { title: 'You cannot deactivate your own account' });
  await open(rig, page, `/staff/accounts/${colleague.id}/deactivate`, 200);
  await check(page, 'deactivate confirmation', { title: "Deactivate Cal Clinician's account?" });
  await clickAndWait(page, page.getByRole('button', { name: 'Deactivate account' }));
  await check(page, 'deactivated account page', { title: 'Cal Clinician' });
});

test('the set-up page: valid, with errors, and a link that has been used', async () => {
  const adminPage = await signedInPage();
  await add(adminPage, 'Sue Setup', 'sue.a11y@example.nhs.uk', 'A one-time set-up link');
  const link = await adminPage.locator('#setup-link').innerText();
  const path = new URL(link).pathname;

  const page = await rig.newPage(NARROW);
  await open(rig, page, path, 200);
  await check(page, 'set-up page', { title: 'Choose a password' });
  await page.getByLabel('New password', { exact: true }).fill('short');
  await clickAndWait(page, page.getByRole('button', { name: 'Set password' }));
  await check(page, 'set-up page, password too short', { errors: true, firstErrorHref: '#password' });
  await page.getByLabel('New password', { exact: true }).fill('three random words here');
  await page.getByLabel('Enter the new password again').fill('three other words here');
  await clickAndWait(page, page.getByRole('button', { name: 'Set password' }));
  await check(page, 'set-up page, passwords differ', { errors: true, firstErrorHref: '#confirmPassword' });

  await rig.exec(sql`UPDATE staff_setup_tokens SET used_at = now() WHERE staff_user_id = (SELECT id FROM staff_users WHERE email = 'sue.a11y@example.nhs.uk')`);
  await open(rig, page, path, 410);
  await check(page, 'set-up link used or expired', { title: 'This set-up link cannot be used' });
});
