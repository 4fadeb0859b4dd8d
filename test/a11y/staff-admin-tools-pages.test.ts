// The staff admin tools in a real browser: message templates (list, empty, add with errors, change,
// delete), the compose page's template select, the audit trail (filters, errors, empty) and one
// patient's trail, and the staff "page not found" signed in and out. Axe, titles, error summaries,
// 320 px and 200 % text.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { createTestOrganisation, createTestPatient, createTestStaff } from '../helpers/factories.ts';
import { checkPage, clickAndWait, DESKTOP, startRig, zoomText, type A11yRig, type CheckOptions } from './a11y-support.ts';
import { auditEvents } from '../../src/platform/db/schema.ts';
import type { Organisation } from '../../src/features/organisations/organisations.service.ts';
import type { Patient } from '../../src/features/patients/patients.service.ts';

let rig: A11yRig;
let organisation: Organisation;
let admin: { id: string; email: string; password: string };
let patient: Patient;

before(async () => {
  rig = await startRig();
  const { services } = rig.server;
  organisation = await createTestOrganisation(services, { name: 'Admin Tools Surgery' });
  admin = await createTestStaff(services, organisation.id, { role: 'admin', name: 'Ada Admin' });
  patient = await createTestPatient(services, organisation.id);
  await services.db.insert(auditEvents).values([
    { type: 'patient.viewed', actorType: 'staff', actorId: admin.id, organisationId: organisation.id, patientId: patient.id, ip: '192.0.2.1' },
    { type: 'patient.searched', actorType: 'staff', actorId: admin.id, organisationId: organisation.id, ip: '192.0.2.2', details: { searchBy: 'nhs-number', results: 1, patientIds: [patient.id] } },
    { type: 'link.opened', actorType: 'patient_link', organisationId: organisation.id, patientId: patient.id, ip: '2001:db8:85a3:0000:0000:8a2e:0370:7334' },
    { type: 'questionnaire.reminder_sent', actorType: 'system', organisationId: organisation.id, patientId: patient.id },
  ]);
});
after(async () => {
  await rig?.close();
});

async function open(page: Page, path: string, status?: number): Promise<void> {
  const response = await page.goto(`${rig.baseUrl}${path}`);
  if (status !== undefined) assert.equal(response?.status(), status, `GET ${path}`);
}

// The browser globals the in-page callbacks use (the project compiles without the DOM library).
declare const document: {
  documentElement: { scrollWidth: number; clientWidth: number };
  querySelectorAll(selector: string): Iterable<{ tagName: string; getBoundingClientRect(): { right: number } }>;
};
const fitsWidth = () => document.documentElement.scrollWidth <= document.documentElement.clientWidth;
/** What in the page's main content runs past the right edge (the header is the shared layout's). */
const mainOverflow = () =>
  [...document.querySelectorAll('main *')]
    .filter((e) => e.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5)
    .map((e) => e.tagName.toLowerCase());

/** Up to 3 seconds for the layout to fit the width (polled from here: nothing else keeps the test alive). */
async function settle(page: Page): Promise<void> {
  for (let i = 0; i < 30 && !(await page.evaluate(fitsWidth)); i++) await new Promise((resolve) => setTimeout(resolve, 100));
}

/**
 * 320 px with checkPage's strict check, after the staff header has had a moment to move menu items under
 * "More" (it does so in script on resize). Then 200 % text at 640 px: the page's content must not run
 * sideways. The header is left out there: its script lays the menu out on resize, and resizing with the
 * text enlarged by a style sheet makes it loop (the shared layout's, not these pages').
 */
async function checkStaffPage(page: Page, what: string, options: CheckOptions): Promise<void> {
  await page.setViewportSize({ width: 320, height: 640 });
  await settle(page);
  await checkPage(page, what, { ...options, narrow: true });
  await page.setViewportSize({ width: 640, height: 800 });
  await settle(page);
  const undo = await zoomText(page);
  try {
    assert.deepEqual(await page.evaluate(mainOverflow), [], `${what}: content runs sideways at 200 % text, 640 px`);
  } finally {
    await undo();
    await page.setViewportSize(DESKTOP);
  }
}

async function signedInPage(email: string, password: string): Promise<Page> {
  const page = await rig.newPage();
  await open(page, '/staff/sign-in');
  await page.getByLabel('Email address').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await clickAndWait(page, page.getByRole('button', { name: 'Sign in' }));
  return page;
}

test('templates: empty list, add with errors, list, change, delete confirmation, and the compose select', async () => {
  const page = await signedInPage(admin.email, admin.password);
  await open(page, '/staff/templates', 200);
  await checkStaffPage(page, 'templates, none yet', { title: 'Message templates' });
  await clickAndWait(page, page.getByRole('button', { name: 'Add a template' }));
  await checkStaffPage(page, 'add a template', { title: 'Add a template' });
  await clickAndWait(page, page.getByRole('button', { name: 'Save template' }));
  await checkStaffPage(page, 'add a template, nothing entered', { title: 'Add a template', errors: true, firstErrorHref: '#name' });
  await page.getByLabel('Name').fill('Results normal');
  await page.getByLabel('Message').fill('Dear ((patient_first_name)), from ((surgery)).');
  await clickAndWait(page, page.getByRole('button', { name: 'Save template' }));
  await checkStaffPage(page, 'add a template, unknown placeholder', { title: 'Add a template', errors: true, firstErrorHref: '#body' });
  await page.getByLabel('Message').fill('Dear ((patient_first_name)), your results are normal. Call ((organisation_phone)) if you have questions.');
  await clickAndWait(page, page.getByRole('button', { name: 'Save template' }));
  await checkStaffPage(page, 'templates, one added', { title: 'Message templates' });
  await clickAndWait(page, page.getByRole('link', { name: 'Change Results normal' }));
  await checkStaffPage(page, 'change a template', { title: 'Change a template' });
  await open(page, '/staff/templates', 200);
  await clickAndWait(page, page.getByRole('link', { name: 'Delete Results normal' }));
  await checkStaffPage(page, 'delete a template', { title: 'Delete the template Results normal' });

  await open(page, `/staff/patients/${patient.id}/message`, 200);
  await checkStaffPage(page, 'compose with the template select', { title: 'Write a message' });
  await page.getByLabel('Use a template').selectOption({ label: 'Results normal' });
  await clickAndWait(page, page.getByRole('button', { name: 'Use template' }));
  assert.match(await page.getByLabel('Message').inputValue(), /^Dear Priya, your results are normal\. Call 01234 567890/);
  await checkStaffPage(page, 'compose filled from a template', { title: 'Write a message' });
});

test('audit trail: events, filters with errors, nothing found, one patient’s trail', async () => {
  const page = await signedInPage(admin.email, admin.password);
  await open(page, '/staff/audit', 200);
  await checkStaffPage(page, 'audit trail', { title: 'Audit trail' });
  await page.getByLabel('From (UK date)').fill('31/02/2026');
  await page.getByLabel("Patient's NHS number").fill('123');
  await clickAndWait(page, page.getByRole('button', { name: 'Show events' }));
  await checkStaffPage(page, 'audit trail, bad filters', { title: 'Audit trail', errors: true, firstErrorHref: '#nhsNumber' });
  await open(page, '/staff/audit?type=nothing.here', 200);
  await checkStaffPage(page, 'audit trail, nothing matches', { title: 'Audit trail' });
  await open(page, `/staff/audit/patients/${patient.id}`, 200);
  await checkStaffPage(page, 'one patient’s trail', { title: 'Audit trail for Priya Shah' });
});

test('staff page not found, signed in and signed out', async () => {
  const signedOut = await rig.newPage();
  await open(signedOut, '/staff/nope', 404);
  await checkStaffPage(signedOut, 'staff 404, signed out', { title: 'Page not found' });
  const signedIn = await signedInPage(admin.email, admin.password);
  await open(signedIn, '/staff/conversations/x/y', 404);
  await checkStaffPage(signedIn, 'staff 404, signed in', { title: 'Page not found' });
  const other = await createTestOrganisation(rig.server.services);
  const stranger = await createTestStaff(rig.server.services, other.id);
  const strangerPage = await signedInPage(stranger.email, stranger.password);
  await open(strangerPage, `/staff/audit/patients/${patient.id}`, 404);
  await checkStaffPage(strangerPage, 'staff 404 for another organisation’s patient', { title: 'Page not found' });
});
