// Files behind the secure link in Chromium, with JavaScript on and off (issue 13): staff find a patient
// and send a PDF; the patient opens the link, gives their date of birth, sees the document and
// downloads it (the same bytes); staff then see when it was opened. An HTML file named .pdf is refused
// with the title kept. A patient adds a photo and a PDF to a reply, removes one and sends; staff see
// the photo's thumbnail and a download link. Files are chosen through the real file inputs
// (setInputFiles), so the browser builds the multipart bodies itself.
//
// Set FILES_SHOTS=<folder> to keep 320 px screenshots of each page, for a person to look at.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchBrowser } from '../helpers/browser.ts';
import { startTestServer, type RunningServer } from '../helpers/server.ts';
import { createTestConversation, createTestOrganisation, createTestPatient, createTestStaff, latestLinkToken, TEST_PATIENT } from '../helpers/factories.ts';
import { HTML_AS_PDF, sampleJpeg, samplePdf } from '../helpers/files.ts';

// The browser globals the in-page callbacks use (the project compiles without the DOM library).
interface DomElement {
  closest(selector: string): DomElement | null;
}
declare const document: { activeElement: DomElement | null };

const SHOTS = process.env.FILES_SHOTS;
const NARROW = { width: 320, height: 720 };

let browser: Browser;
let server: RunningServer;
/** The files the browser chooses, written to disk as a person's would be. */
let fileFolder: string;
let pdfPath: string;
let jpegPath: string;
let htmlAsPdfPath: string;
const pdf = samplePdf('Blood test results: all normal');

before(async () => {
  fileFolder = mkdtempSync(path.join(tmpdir(), 'dovecote-files-browser-'));
  pdfPath = path.join(fileFolder, 'Blood test results.pdf');
  writeFileSync(pdfPath, pdf);
  jpegPath = path.join(fileFolder, 'rash.jpg');
  writeFileSync(jpegPath, await sampleJpeg(640, 480));
  htmlAsPdfPath = path.join(fileFolder, 'results.pdf');
  writeFileSync(htmlAsPdfPath, HTML_AS_PDF);
  if (SHOTS) mkdirSync(SHOTS, { recursive: true });
  server = await startTestServer();
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.close();
  if (fileFolder) rmSync(fileFolder, { recursive: true, force: true });
});

async function mainText(page: Page): Promise<string> {
  return (await page.locator('main').innerText()).replace(/\s+/g, ' ');
}

async function shot(page: Page, name: string) {
  if (SHOTS) await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

async function newContext(t: { after: (fn: () => Promise<void>) => void }, js: boolean): Promise<BrowserContext> {
  const context = await browser.newContext({ javaScriptEnabled: js, viewport: NARROW, acceptDownloads: true });
  t.after(() => context.close());
  return context;
}

async function signIn(page: Page, staff: { email: string; password: string }) {
  await page.goto(`${server.baseUrl}/staff/sign-in`);
  await page.getByLabel('Email address').fill(staff.email);
  await page.getByLabel('Password', { exact: true }).fill(staff.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/staff$/);
}

/** Find the patient by NHS number (which opens their page) and choose "A document". */
async function openSendDocument(page: Page) {
  await page.goto(`${server.baseUrl}/staff/messages/new`);
  await page.getByLabel('NHS number').fill(TEST_PATIENT.nhsNumber);
  await page.getByRole('button', { name: 'Search by NHS number' }).click();
  await page.waitForURL(/\/staff\/patients\/[^/]+$/);
  await page.getByRole('link', { name: 'A document', exact: true }).click();
  await page.waitForURL(/\/staff\/patients\/[^/]+\/document(\?form=[A-Za-z0-9_-]+)?$/);
  assert.match(await mainText(page), /Send a document/);
}

async function enterDateOfBirth(page: Page) {
  const [year, month, day] = TEST_PATIENT.dateOfBirth.split('-');
  await page.getByLabel('Day').fill(String(Number(day)));
  await page.getByLabel('Month').fill(String(Number(month)));
  await page.getByLabel('Year').fill(year!);
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.waitForURL(/\/conversation$/);
}

async function staffOfNewOrganisation() {
  const { services } = server;
  const organisation = await createTestOrganisation(services, { contactPhone: '01632 960000' });
  const staff = await createTestStaff(services, organisation.id, { name: 'Dr Jo Bloggs' });
  await createTestPatient(services, organisation.id);
  return { organisation, staff };
}

describe('files in Chromium', { concurrency: 2 }, () => {
  for (const js of [true, false]) {
    const how = js ? 'js' : 'nojs';

    test(`JavaScript ${js ? 'on' : 'off'}: staff send a PDF, the patient opens and downloads it, staff see it opened`, async (t) => {
      const { organisation, staff } = await staffOfNewOrganisation();
      const staffPage = await (await newContext(t, js)).newPage();
      await signIn(staffPage, staff);
      await openSendDocument(staffPage);
      await shot(staffPage, `${how}-document-1-form`);
      await staffPage.getByLabel('Title').fill('Blood test results');
      await staffPage.getByLabel('Note for the patient (optional)').fill('All normal, nothing to do.');
      await staffPage.locator('input[type="file"][name="file"]').setInputFiles(pdfPath);
      await shot(staffPage, `${how}-document-2-chosen`);
      await staffPage.getByRole('button', { name: 'Send document' }).click();
      await staffPage.waitForURL(/\/staff\/conversations\/[0-9a-f-]+\?done=sent$/);
      const conversationUrl = staffPage.url().replace(/\?.*$/, '');
      const sentPage = await mainText(staffPage);
      assert.match(sentPage, /Blood test results/);
      assert.match(sentPage, /Blood test results\.pdf \(PDF, \d+ (KB|bytes)\)/);
      assert.match(sentPage, /Not opened yet/);
      await shot(staffPage, `${how}-document-3-sent`);

      // The patient: the link from the text message, then the date of birth.
      const conversationId = /\/staff\/conversations\/([0-9a-f-]+)/.exec(conversationUrl)![1]!;
      const token = await latestLinkToken(server.services, conversationId);
      const patientPage = await (await newContext(t, js)).newPage();
      await patientPage.goto(`${server.baseUrl}/${token}`);
      await enterDateOfBirth(patientPage);
      const documentPage = await mainText(patientPage);
      assert.match(documentPage, /Blood test results/);
      assert.match(documentPage, new RegExp(`From\\s*${organisation.name}`));
      assert.match(documentPage, /File\s*PDF, \d+ (KB|bytes)/);
      assert.match(documentPage, /All normal, nothing to do\./);
      await shot(patientPage, `${how}-document-4-patient`);

      const [download] = await Promise.all([
        patientPage.waitForEvent('download'),
        patientPage.getByRole('link', { name: /^Download the document/ }).click(),
      ]);
      assert.match(download.suggestedFilename(), /\.pdf$/);
      assert.deepEqual(readFileSync((await download.path())!), pdf, 'the patient downloads the bytes staff sent');

      await staffPage.goto(conversationUrl);
      assert.match(await mainText(staffPage), /Opened on /);
      assert.doesNotMatch(await mainText(staffPage), /Not opened yet/);
    });

    test(`JavaScript ${js ? 'on' : 'off'}: an HTML file named .pdf is refused, the title kept, the error summary focused`, async (t) => {
      const { staff } = await staffOfNewOrganisation();
      const page = await (await newContext(t, js)).newPage();
      await signIn(page, staff);
      await openSendDocument(page);
      await page.getByLabel('Title').fill('Letter from the hospital');
      await page.locator('input[type="file"][name="file"]').setInputFiles(htmlAsPdfPath);
      await page.getByRole('button', { name: 'Send document' }).click();
      await page.waitForLoadState('load');
      const summary = page.locator('.nhsuk-error-summary');
      assert.match(await summary.innerText(), /must be a PDF/);
      assert.equal(await page.getByLabel('Title').inputValue(), 'Letter from the hospital');
      assert.match(await page.title(), /^Error: /);
      if (js) {
        await page.waitForFunction(() => Boolean(document.activeElement?.closest('.nhsuk-error-summary')), undefined, { timeout: 5000 });
      }
      await shot(page, `${how}-document-5-not-a-pdf`);
      // Following the error's link lands on the file input.
      assert.equal(await summary.getByRole('link', { name: /must be a PDF/ }).getAttribute('href'), '#file');
    });

    test(`JavaScript ${js ? 'on' : 'off'}: a patient adds a photo and a PDF, removes one, replies; staff see the thumbnail`, async (t) => {
      const { services } = server;
      const c = await createTestConversation(services, { replyMode: 'conversation' });
      const page = await (await newContext(t, js)).newPage();
      await page.goto(`${server.baseUrl}/${c.token}`);
      await enterDateOfBirth(page);
      await shot(page, `${how}-reply-1-form`);

      await page.locator('input[type="file"][name="files"]').setInputFiles([jpegPath, pdfPath]);
      await shot(page, `${how}-reply-2-chosen`);
      await page.getByRole('button', { name: 'Add file' }).click();
      await page.waitForLoadState('load');
      const drafts = page.locator('.dc-draft-list li');
      await drafts.first().waitFor();
      assert.equal(await drafts.count(), 2);
      const listed = await drafts.allInnerTexts();
      assert.match(listed.join(' | '), /rash\.jpg \(JPEG image, \d+ KB\)/);
      assert.match(listed.join(' | '), /Blood test results\.pdf \(PDF/);
      assert.equal(await page.getByRole('button', { name: /^Remove / }).count(), 2);
      await shot(page, `${how}-reply-3-added`);

      await page.getByRole('button', { name: 'Remove Blood test results.pdf' }).click();
      await page.waitForLoadState('load');
      assert.match(await mainText(page), /The file has been removed/);
      await page.locator('.dc-draft-list li').first().waitFor();
      assert.deepEqual((await page.locator('.dc-draft-list li .dc-file-summary').allInnerTexts()).map((s) => s.replace(/ \(.*$/, '')), ['rash.jpg']);

      await page.getByLabel(`Reply to ${c.organisation.name}`).fill('Here is the rash on my arm.');
      await page.getByRole('button', { name: 'Send reply' }).click();
      await page.waitForURL(/\/conversation\?replied=1$/);
      const sent = await mainText(page);
      assert.match(sent, /Your reply has been sent/);
      assert.match(sent, /You sent 1 file: rash\.jpg \(JPEG image, \d+ KB\)/);
      await shot(page, `${how}-reply-4-sent`);

      const staff = await createTestStaff(services, c.organisation.id);
      const staffPage = await (await newContext(t, js)).newPage();
      await signIn(staffPage, staff);
      await staffPage.goto(`${server.baseUrl}/staff/conversations/${c.conversationId}`);
      const thumbnail = staffPage.locator('img.dc-file__thumbnail');
      assert.equal(await thumbnail.count(), 1);
      assert.equal(await thumbnail.getAttribute('alt'), 'Photo 1 of 1: rash.jpg');
      await thumbnail.evaluate((img: unknown) => {
        const image = img as { complete: boolean; decode(): Promise<void> };
        return image.complete ? undefined : image.decode();
      });
      const naturalWidth = await thumbnail.evaluate((img: unknown) => (img as { naturalWidth: number }).naturalWidth);
      assert.ok(naturalWidth > 0, 'the thumbnail loaded');
      const downloadLink = staffPage.getByRole('link', { name: /^Download rash\.jpg/ });
      assert.equal(await downloadLink.count(), 1);
      const [download] = await Promise.all([staffPage.waitForEvent('download'), downloadLink.click()]);
      assert.equal(download.suggestedFilename(), 'rash.jpg');
      assert.deepEqual(readFileSync((await download.path())!), readFileSync(jpegPath));
      await shot(staffPage, `${how}-reply-5-staff`);
    });
  }
});
