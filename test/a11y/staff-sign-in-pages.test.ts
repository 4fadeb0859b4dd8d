// The pages of sign-in after the password, in a real browser at 320 px and with 200 % text: the code
// page (empty, wrong code, waiting), the recovery-code page, setting up an authenticator (the QR code,
// a wrong code), the recovery codes shown once, "Your account", and choosing a new password (each error).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { eq, sql } from 'drizzle-orm';
import type { Page } from 'playwright-core';
import { TestClock } from '../helpers/app.ts';
import { createTestOrganisation, createTestStaff } from '../helpers/factories.ts';
import { enrolTestTotp } from '../helpers/staff.ts';
import { checkPage, clickAndWait, open, startRig, type A11yRig } from './a11y-support.ts';
import { staffUsers } from '../../src/platform/db/schema.ts';
import { totpCode, totpStep } from '../../src/features/staff/staff-totp.ts';

let rig: A11yRig;
const clock = new TestClock();
before(async () => {
  rig = await startRig({ clock, config: { STAFF_SECOND_FACTOR: 'required' } });
});
after(async () => {
  await rig?.close();
});

const codeNow = (secret: string, offset = 0) => totpCode(secret, totpStep(clock.now()) + offset);

async function newStaff(name: string, role: 'admin' | 'clinician' = 'admin') {
  const { services } = rig.server;
  const organisation = await createTestOrganisation(services, { name: `${name} Surgery` });
  return createTestStaff(services, organisation.id, { name, role });
}

async function password(page: Page, email: string, pw: string): Promise<void> {
  await open(rig, page, '/staff/sign-in');
  await page.getByLabel('Email address').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(pw);
  await clickAndWait(page, page.getByRole('button', { name: 'Sign in' }));
}

async function submit(page: Page, label: string, value: string, button = 'Continue'): Promise<void> {
  await page.getByLabel(label, { exact: true }).fill(value);
  await clickAndWait(page, page.getByRole('button', { name: button }));
}

test('setting up an authenticator: the QR code and key, a wrong code, the recovery codes, your account', async () => {
  // A clinician: the admin's longer menu collapses into "More" only once the header's script has run
  // after a resize, which the 320 px check can beat (seen once on a page loaded from a POST).
  const staff = await newStaff('Enrol', 'clinician');
  const page = await rig.newPage();
  await password(page, staff.email, staff.password);
  assert.match(page.url(), /\/staff\/second-factor\/set-up$/);
  assert.equal(await page.getByRole('img', { name: 'QR code to add Dovecote to your authenticator app' }).count(), 1);
  await checkPage(page, 'set up an authenticator', { title: 'Set up an authenticator app', reflow: true });
  const secret = (await page.locator('#secret-key').innerText()).replace(/\s/g, '');
  await clickAndWait(page, page.getByRole('button', { name: 'Continue' }));
  await checkPage(page, 'set up, no code', { errors: true, firstErrorHref: '#code', reflow: true });
  await submit(page, 'Code', codeNow(secret, 4));
  await checkPage(page, 'set up, wrong code', { errors: true, firstErrorHref: '#code', reflow: true });
  await submit(page, 'Code', codeNow(secret));
  assert.equal(await page.locator('main code').count(), 10);
  await checkPage(page, 'recovery codes shown', { title: 'Save your recovery codes', reflow: true });
  await clickAndWait(page, page.getByRole('button', { name: 'I have saved these codes' }));
  await open(rig, page, '/staff/account', 200);
  await checkPage(page, 'your account', { title: 'Your account', reflow: true });
  await clickAndWait(page, page.getByRole('button', { name: 'Make new recovery codes' }));
  await checkPage(page, 'your account, no code', { errors: true, firstErrorHref: '#code', reflow: true });
});

test('the code page: empty, a wrong code, waiting after wrong codes; the recovery-code page and its errors', async () => {
  const staff = await newStaff('Coded');
  const secret = await enrolTestTotp(rig.server.services, staff.id);
  clock.advance(30_000);
  const page = await rig.newPage();
  await password(page, staff.email, staff.password);
  assert.match(page.url(), /\/staff\/sign-in\/code$/);
  await checkPage(page, 'code page', { title: 'Enter the code from your authenticator app', reflow: true });
  await clickAndWait(page, page.getByRole('button', { name: 'Continue' }));
  await checkPage(page, 'code page, nothing entered', { errors: true, firstErrorHref: '#code', reflow: true });
  await submit(page, 'Code', codeNow(secret, 5));
  await checkPage(page, 'code page, wrong code', { errors: true, firstErrorHref: '#code', reflow: true });
  // The run of wrong codes is kept per authenticator (staff-second-factor:<id>:<enrolled at>).
  const run = `staff-second-factor:${staff.id}:%`;
  await rig.exec(sql`UPDATE rate_limit_hits SET hits = 11 WHERE key LIKE ${run}`);
  await submit(page, 'Code', codeNow(secret, 5));
  assert.match(await page.locator('main').innerText(), /Wait \d+ seconds before trying again/);
  await checkPage(page, 'code page, waiting', { errors: true, firstErrorHref: '#code', reflow: true });
  // Twenty wrong in a row: the code step locks; the page points to a recovery code or a reset.
  await rig.exec(sql`UPDATE rate_limit_hits SET hits = 20 WHERE key LIKE ${run}`);
  clock.advance(61_000);
  await submit(page, 'Code', codeNow(secret));
  assert.match(await page.locator('main').innerText(), /Too many wrong codes\. Use a recovery code/);
  await checkPage(page, 'code page, locked after wrong codes', { errors: true, firstErrorHref: '#code', reflow: true });
  await rig.exec(sql`DELETE FROM rate_limit_hits WHERE key LIKE 'staff-second-factor:%'`);

  await clickAndWait(page, page.getByRole('link', { name: /use a recovery code/ }));
  await checkPage(page, 'recovery-code page', { title: 'Use a recovery code', reflow: true });
  await submit(page, 'Recovery code', 'nonsense!');
  await checkPage(page, 'recovery-code page, not a code', { errors: true, firstErrorHref: '#code', reflow: true });
  await submit(page, 'Recovery code', 'ABCDE-FGH23');
  await checkPage(page, 'recovery-code page, wrong code', { errors: true, firstErrorHref: '#code', reflow: true });
});

test('choosing a new password in place of a temporary one: empty, too short, not matching, the same', async () => {
  const staff = await newStaff('Temporary');
  await rig.server.services.db.update(staffUsers).set({ mustChangePassword: true }).where(eq(staffUsers.id, staff.id));
  const page = await rig.newPage();
  await password(page, staff.email, staff.password);
  assert.match(page.url(), /\/staff\/change-password$/);
  await checkPage(page, 'change password', { title: 'Choose a new password', reflow: true });
  await clickAndWait(page, page.getByRole('button', { name: 'Continue' }));
  await checkPage(page, 'change password, empty', { errors: true, firstErrorHref: '#newPassword', reflow: true });
  const fill = async (a: string, b: string) => {
    await page.getByLabel('New password', { exact: true }).fill(a);
    await page.getByLabel('Enter the new password again', { exact: true }).fill(b);
    await clickAndWait(page, page.getByRole('button', { name: 'Continue' }));
  };
  await fill('short', 'short');
  await checkPage(page, 'change password, too short', { errors: true, firstErrorHref: '#newPassword', reflow: true });
  await fill('a long new password', 'a long new passwort');
  await checkPage(page, 'change password, not matching', { errors: true, firstErrorHref: '#confirmPassword', reflow: true });
  await fill(staff.password, staff.password);
  await checkPage(page, 'change password, the same as the temporary one', { errors: true, firstErrorHref: '#newPassword', reflow: true });
  await fill('a brand new long password', 'a brand new long password');
  assert.match(page.url(), /\/staff\/second-factor\/set-up$/, await page.locator('main').innerText());
});
