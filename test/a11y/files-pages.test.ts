// Every page state of files behind the secure link (issue 13), in a real browser, with the same
// checkPage() as the other suites (axe WCAG 2.2 AA, titles, error summary and its focus, no sideways
// scrolling at 320 px and at 200 % text). Staff: the send-document form (empty, with errors, with a PDF
// shown back as its draft, the draft removed), the conversation with a document not opened and
// opened, the conversation with a reply carrying a photo and a PDF, and "This file is no longer
// available" (410). Patient: the document page (available, and gone: 410), the reply form with drafts
// and with refused files, the reply sent; the reply form by keyboard alone. Files are chosen through
// the real file inputs, from files written to a temp folder.
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import type { Page } from 'playwright-core';
import { createTestOrganisation, createTestPatient, createTestStaff, latestLinkToken, TEST_PATIENT } from '../helpers/factories.ts';
import { HTML_AS_PDF, sampleJpeg, samplePdf } from '../helpers/files.ts';
import { files } from '../../src/platform/db/schema.ts';
import { deleteExpiredFiles } from '../../src/features/files/file-retention.service.ts';
import { checkPage, clickAndWait, newLink, open, startRig, verifiedPage, type A11yRig, type CheckOptions } from './a11y-support.ts';

// The browser globals the in-page callbacks use (the project compiles without the DOM library).
interface DomElement {
  tagName: string;
  id: string;
  innerText: string;
  getAttribute(name: string): string | null;
  closest(selector: string): DomElement | null;
  querySelector(selector: string): DomElement | null;
  matches(selector: string): boolean;
}
declare const document: { activeElement: DomElement | null; getElementById(id: string): DomElement | null };
declare function getComputedStyle(el: DomElement): { outlineStyle: string; outlineWidth: string; boxShadow: string };

let rig: A11yRig;
let fileFolder: string;
let pdfPath: string;
let jpegPath: string;
let htmlAsPdfPath: string;

before(async () => {
  fileFolder = mkdtempSync(path.join(tmpdir(), 'dovecote-files-a11y-'));
  pdfPath = path.join(fileFolder, 'scan.pdf');
  writeFileSync(pdfPath, samplePdf());
  jpegPath = path.join(fileFolder, 'rash.jpg');
  writeFileSync(jpegPath, await sampleJpeg(640, 480));
  htmlAsPdfPath = path.join(fileFolder, 'page.pdf');
  writeFileSync(htmlAsPdfPath, HTML_AS_PDF);
  rig = await startRig();
});
after(async () => {
  await rig?.close();
  if (fileFolder) rmSync(fileFolder, { recursive: true, force: true });
});
// Every request comes from one address; forget link look-ups so the limit (60 a minute) is not hit.
beforeEach(async () => {
  await rig.forgetLookups();
});

/** Staff pages here must reflow too: at 320 px, and at 640 px with 200 % text. */
const REFLOW = { reflow: true } as const;
const mainText = async (page: Page) => (await page.locator('main').innerText()).replace(/\s+/g, ' ');

/**
 * The NHS file upload (nhsuk-frontend 10), once its script runs, hides the native input and gives its
 * id to a "Choose file" button labelled by the field's label and by itself (as GOV.UK's does, so the
 * label and an error link reach it). Two of checkPage()'s rules do not know that button: axe's
 * label-content-name-mismatch (experimental) flags it, the name having a hidden comma between the
 * label and the button's own words; and an error link to it points at a <button>. For a page with
 * the enhanced component this runs checkPage()'s checks with exactly those two allowances; every
 * other page gets checkPage() itself. Without JavaScript the native input is there and checkPage()
 * applies unchanged.
 */
const checkFilesPage = (page: Page, what: string, options: CheckOptions & { title: string }) => checkPage(page, what, options);

/** A signed-in staff browser. */
async function staffPage(organisationId: string): Promise<Page> {
  const staff = await createTestStaff(rig.server.services, organisationId);
  const page = await rig.newPage();
  await open(rig, page, '/staff/sign-in');
  await page.getByLabel('Email address').fill(staff.email);
  await page.getByLabel('Password', { exact: true }).fill(staff.password);
  await clickAndWait(page, page.getByRole('button', { name: 'Sign in' }));
  assert.match(page.url(), /\/staff$/);
  return page;
}

/** Click a submit button and wait for the page it leads to; the status of the POST itself. */
async function submitAndWait(page: Page, button: string | RegExp): Promise<number> {
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST' && r.request().isNavigationRequest()),
    page.waitForEvent('load'),
    page.getByRole('button', { name: button, exact: typeof button === 'string' }).click(),
  ]);
  return response.status();
}

/** What has keyboard focus, and whether it shows (an outline or a box shadow, as the NHS focus state). */
async function focused(page: Page) {
  return page.evaluate(() => {
    const el = document.activeElement;
    const style = el ? getComputedStyle(el) : null;
    return {
      tag: el?.tagName.toLowerCase() ?? '',
      id: el?.id ?? '',
      type: el?.getAttribute('type') ?? '',
      name: el?.getAttribute('name') ?? '',
      text: (el?.innerText || el?.getAttribute('aria-label') || '').replace(/\s+/g, ' ').trim(),
      indicated: Boolean(style && ((style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0) || style.boxShadow !== 'none')),
    };
  });
}
type Focused = Awaited<ReturnType<typeof focused>>;
const describeFocus = (f: Focused) => `${f.tag}${f.id ? '#' + f.id : ''}${f.name ? `[${f.name}]` : ''}${f.text ? ` "${f.text.slice(0, 30)}"` : ''}`;

/**
 * Which of the reply form's controls has focus, if any. With JavaScript the NHS file upload hides the
 * native input (tabindex -1) and its "Choose file" button takes the input's id, so either is the stop.
 */
function replyFormStop(f: Focused): string | undefined {
  if (f.id === 'reply') return 'reply';
  if ((f.tag === 'input' && f.type === 'file') || f.id === 'files') return 'file input';
  if (f.tag === 'button' && f.text === 'Add file') return 'Add file';
  if (f.tag === 'button' && f.text.startsWith('Remove')) return f.text;
  if (f.tag === 'button' && f.text === 'Send reply') return 'Send reply';
  return undefined;
}

/** Press Tab until one of the reply form's controls has focus; its name. */
async function tabToNextStop(page: Page): Promise<string> {
  const seen: string[] = [];
  for (let i = 0; i < 40; i++) {
    await page.keyboard.press('Tab');
    const f = await focused(page);
    seen.push(describeFocus(f));
    const stop = replyFormStop(f);
    if (stop) {
      assert.ok(f.indicated, `${stop} has no visible focus indicator`);
      return stop;
    }
  }
  assert.fail(`Tab never reached the reply form; focus went: ${seen.join(' → ')}`);
}

/** Press Tab until the form's last stop (Send reply), naming each stop the form's controls make. */
async function tabThroughReplyForm(page: Page): Promise<string[]> {
  const stops: string[] = [];
  const seen: string[] = [];
  for (let i = 0; i < 40; i++) {
    await page.keyboard.press('Tab');
    const f = await focused(page);
    seen.push(describeFocus(f));
    const stop = replyFormStop(f);
    if (stop) {
      assert.ok(f.indicated, `${stop} has no visible focus indicator`);
      stops.push(stop);
    }
    if (stop === 'Send reply') return stops;
  }
  assert.fail(`Tab never reached Send reply; focus went: ${seen.join(' → ')}`);
}

async function pressAndWait(page: Page, key: string): Promise<void> {
  await Promise.all([page.waitForEvent('load'), page.keyboard.press(key)]);
}

/** Shift+Tab until the element that matches has focus; fails after 40 presses. */
async function shiftTabTo(page: Page, what: string, matches: (f: Focused) => boolean): Promise<void> {
  const seen: string[] = [];
  for (let i = 0; i < 40; i++) {
    await page.keyboard.press('Shift+Tab');
    const f = await focused(page);
    seen.push(describeFocus(f));
    if (matches(f)) return;
  }
  assert.fail(`Shift+Tab never reached ${what}; focus went: ${seen.join(' → ')}`);
}

// The states are independent (each its own organisation and link), so two run at once on the one rig.
describe('files pages', { concurrency: 2 }, () => {
  test('staff: the send-document form (empty, errors, a draft PDF, removed), the document not opened and opened, the patient document page, then gone', async () => {
    const { services } = rig.server;
    const organisation = await createTestOrganisation(services, { contactPhone: '01632 960000' });
    const patient = await createTestPatient(services, organisation.id);
    const page = await staffPage(organisation.id);
    const formPath = `/staff/patients/${patient.id}/document`;

    await open(rig, page, formPath, 200);
    await checkFilesPage(page, 'send a document, empty', { title: 'Send a document', ...REFLOW });

    assert.equal(await submitAndWait(page, 'Send document'), 400);
    await checkFilesPage(page, 'send a document, nothing entered', { errors: true, firstErrorHref: '#title', title: 'Send a document', ...REFLOW });

    // Not a PDF: refused, named on the file input.
    await page.locator('input[type="file"][name="file"]').setInputFiles(htmlAsPdfPath);
    assert.equal(await submitAndWait(page, 'Send document'), 400);
    assert.match(await page.locator('.nhsuk-error-summary').innerText(), /must be a PDF/);
    await checkFilesPage(page, 'send a document, not a PDF', { errors: true, firstErrorHref: '#title', title: 'Send a document', ...REFLOW });

    // A PDF taken in, with the title still missing: the PDF is shown back as the form's draft.
    await page.locator('input[type="file"][name="file"]').setInputFiles(pdfPath);
    assert.equal(await submitAndWait(page, 'Send document'), 400);
    assert.match(await mainText(page), /scan\.pdf \(PDF, \d+ (KB|bytes)\)/);
    assert.equal(await page.getByLabel('Choose a different PDF (optional)').count(), 1);
    await checkFilesPage(page, 'send a document, a draft PDF shown back, title missing', { errors: true, firstErrorHref: '#title', title: 'Send a document', ...REFLOW });

    assert.equal(await submitAndWait(page, 'Remove scan.pdf'), 200);
    assert.match(await mainText(page), /The PDF has been removed/);
    await checkFilesPage(page, 'send a document, the draft removed', { title: 'Send a document', ...REFLOW });

    await page.getByLabel('Title').fill('Blood test results');
    await page.getByLabel('Note for the patient (optional)').fill('All normal, nothing to do.');
    await page.locator('input[type="file"][name="file"]').setInputFiles(pdfPath);
    assert.equal(await submitAndWait(page, 'Send document'), 303);
    const conversationId = /\/staff\/conversations\/([0-9a-f-]+)/.exec(page.url())![1]!;
    assert.match(await mainText(page), /Not opened yet/);
    const conversationTitle = `Conversation with ${TEST_PATIENT.givenName} ${TEST_PATIENT.familyName}`;
    await checkPage(page, 'conversation, document not opened yet', { title: conversationTitle, ...REFLOW });

    // The patient's document page, available; opening it is what staff see as "Opened on".
    const token = await latestLinkToken(services, conversationId);
    const patientPage = await verifiedPage(rig, token);
    assert.match(await mainText(patientPage), /Blood test results/);
    await checkPage(patientPage, 'patient document page, available', { title: `Document from ${organisation.name}`, ...REFLOW });
    const opened = await patientPage.request.get(`${rig.baseUrl}/${token}/conversation/file`);
    assert.equal(opened.status(), 200);
    assert.equal(opened.headers()['content-type'], 'application/pdf');

    await open(rig, page, `/staff/conversations/${conversationId}`, 200);
    assert.match(await mainText(page), /Opened on /);
    await checkPage(page, 'conversation, document opened', { title: conversationTitle, ...REFLOW });

    // Its time is up: the patient is told whom to contact (410).
    const [document] = await services.db.select().from(files).where(eq(files.conversationId, conversationId));
    await services.db.update(files).set({ availableUntil: new Date(services.now().getTime() - 60_000) }).where(eq(files.id, document!.id));
    await open(rig, patientPage, `/${token}/conversation`, 410);
    assert.match(await mainText(patientPage), /This document is no longer available.*01632 960000/);
    await checkPage(patientPage, 'patient document page, gone', { title: 'This document is no longer available', ...REFLOW });

    // Maintenance deletes it: staff's conversation says so, and its download is "no longer available".
    const deleted = await deleteExpiredFiles(services);
    assert.ok(deleted.documents >= 1);
    await open(rig, page, `/staff/conversations/${conversationId}`, 200);
    assert.match(await mainText(page), /No longer available: deleted on /);
    await checkPage(page, 'conversation, document deleted', { title: conversationTitle, ...REFLOW });
    await open(rig, page, `/staff/files/${document!.id}`, 410);
    await checkPage(page, 'file no longer available', { title: 'This file is no longer available', ...REFLOW });
  });

  test('patient: the reply form with drafts and with refused files, the reply sent; staff see a photo and a PDF on the reply', async () => {
    const c = await newLink(rig, 'conversation');
    const page = await verifiedPage(rig, c.token);
    const title = `Message from ${c.organisation.name}`;
    await checkFilesPage(page, 'reply form, no files', { title, ...REFLOW });

    await page.locator('input[type="file"][name="files"]').setInputFiles([htmlAsPdfPath, jpegPath]);
    assert.equal(await submitAndWait(page, 'Add file'), 400);
    assert.match(await page.locator('.nhsuk-error-summary').innerText(), /page\.pdf must be a JPG, PNG or PDF/);
    await checkFilesPage(page, 'reply form, a file refused and one added', { errors: true, firstErrorHref: '#files', title, ...REFLOW });

    await page.locator('input[type="file"][name="files"]').setInputFiles(pdfPath);
    assert.equal(await submitAndWait(page, 'Add file'), 200);
    assert.equal(await page.locator('.dc-draft-list li').count(), 2);
    await checkFilesPage(page, 'reply form, two drafts', { title, ...REFLOW });

    // Sending words too long, with drafts: the drafts stay listed beside the error.
    await page.getByLabel(`Reply to ${c.organisation.name}`).fill('x'.repeat(1001));
    assert.equal(await submitAndWait(page, 'Send reply'), 400);
    assert.equal(await page.locator('.dc-draft-list li').count(), 2);
    await checkFilesPage(page, 'reply form, two drafts, reply too long', { errors: true, firstErrorHref: '#reply', title, ...REFLOW });

    await page.getByLabel(`Reply to ${c.organisation.name}`).fill('Here is the rash, and the letter.');
    assert.equal(await submitAndWait(page, 'Send reply'), 303);
    assert.match(await mainText(page), /You sent 2 files/);
    await checkFilesPage(page, 'reply sent with two files', { title, ...REFLOW });

    const staff = await staffPage(c.organisation.id);
    await open(rig, staff, `/staff/conversations/${c.conversationId}`, 200);
    const thumbnail = staff.locator('img.dc-file__thumbnail');
    await thumbnail.evaluate((img: unknown) => (img as { decode(): Promise<void> }).decode());
    assert.ok((await thumbnail.evaluate((img: unknown) => (img as { naturalWidth: number }).naturalWidth)) > 0, 'the thumbnail loaded');
    assert.equal(await staff.getByRole('link', { name: /^Download / }).count(), 2);
    await checkPage(staff, 'conversation, a reply with a photo and a PDF', { title: `Conversation with ${c.patient.givenName} ${c.patient.familyName}`, ...REFLOW });
  });

  test('patient: the reply form with a refused file, without JavaScript', async () => {
    const c = await newLink(rig, 'conversation');
    const page = await rig.newPage({ javaScriptEnabled: false });
    await open(rig, page, `/${c.token}`);
    const [year, month, day] = TEST_PATIENT.dateOfBirth.split('-');
    await page.getByLabel('Day').fill(String(Number(day)));
    await page.getByLabel('Month').fill(String(Number(month)));
    await page.getByLabel('Year').fill(year!);
    await clickAndWait(page, page.getByRole('button', { name: 'Continue' }));
    await page.locator('input[type="file"][name="files"]').setInputFiles([htmlAsPdfPath, jpegPath]);
    assert.equal(await submitAndWait(page, 'Add file'), 400);
    await checkFilesPage(page, 'reply form, a file refused, without JavaScript', { errors: true, firstErrorHref: '#files', javaScript: false, title: `Message from ${c.organisation.name}`, reflow: true });
  });

  test('by keyboard alone: the reply, a file, Add file, Remove and Send reply, in order', async () => {
    const c = await newLink(rig, 'conversation');
    const page = await verifiedPage(rig, c.token);
    // Listening from the start turns on Playwright's file-chooser interception before any key is pressed.
    page.on('filechooser', () => undefined);
    const stops: string[] = [];
    const tabToStop = async (name: string) => {
      const f = await tabToNextStop(page);
      stops.push(f);
      assert.equal(f, name, `stops so far: ${stops.join(' → ')}`);
    };
    // Type the reply, reach the file input, choose (the system's file chooser is outside the page, so
    // the files are given to the chooser it opens) and press Add file with Enter.
    await tabToStop('reply');
    await page.keyboard.type('Here is the rash.');
    await tabToStop('file input');
    const chooser = page.waitForEvent('filechooser');
    await page.keyboard.press('Enter');
    await (await chooser).setFiles([jpegPath, pdfPath]);
    await tabToStop('Add file');
    await pressAndWait(page, 'Enter');
    assert.equal(await page.locator('.dc-draft-list li').count(), 2);
    assert.equal(await page.getByLabel(`Reply to ${c.organisation.name}`).inputValue(), 'Here is the rash.');

    // The drafts come after the words and before adding more: each Remove, then the file input.
    assert.deepEqual(await tabThroughReplyForm(page), ['reply', 'Remove rash.jpg', 'Remove scan.pdf', 'file input', 'Add file', 'Send reply']);
    await shiftTabTo(page, 'Remove scan.pdf', (f) => f.text === 'Remove scan.pdf');
    await pressAndWait(page, 'Enter');
    assert.match(await mainText(page), /The file has been removed/);
    assert.equal(await page.locator('.dc-draft-list li').count(), 1);
    assert.deepEqual(await tabThroughReplyForm(page), ['reply', 'Remove rash.jpg', 'file input', 'Add file', 'Send reply']);
    await pressAndWait(page, 'Enter');
    assert.match(page.url(), /\?replied=1$/);
    assert.match(await mainText(page), /You sent 1 file: rash\.jpg/);
  });
});
