// What every accessibility check shares: one running app with a clock the test can move, one system
// Chromium, and checkPage(), which runs axe (WCAG 2.2 AA tags), checks the page title follows the NHS
// pattern, and, when there is an error summary, that it has focus (JavaScript on) and that every link
// in it points at a form control or its fieldset. For patient pages checkPage() also checks reflow:
// no horizontal scrolling at 320 CSS px, and none at 640 px with 200 % text, with the primary buttons
// still on screen and clickable. Staff pages get the 320 px check alone (`narrow`). At 320 px anything
// that scrolls sideways inside the page (a wide table) must be a region a keyboard user can reach.
import assert from 'node:assert/strict';
import { sql } from 'drizzle-orm';
import type { Browser, BrowserContext, BrowserContextOptions, Locator, Page } from 'playwright-core';
import { axeViolations, describeViolations, launchBrowser } from '../helpers/browser.ts';
import { startTestServer, type RunningServer } from '../helpers/server.ts';
import { createTestConversation, TEST_PATIENT } from '../helpers/factories.ts';
import { queryRows } from '../../src/platform/db/client.ts';
import type { ReplyMode } from '../../src/features/messages/messages.service.ts';

// The browser globals these in-page callbacks use (the project compiles without the DOM library).
interface DomElement {
  tagName: string;
  id: string;
  className: unknown;
  textContent: string | null;
  innerText: string;
  getAttribute(name: string): string | null;
  closest(selector: string): DomElement | null;
  matches(selector: string): boolean;
  querySelector(selector: string): DomElement | null;
  getBoundingClientRect(): { left: number; right: number; top: number; width: number; height: number };
  contains(other: DomElement | null): boolean;
  scrollWidth: number;
  clientWidth: number;
}
declare const document: {
  documentElement: DomElement & { scrollWidth: number; clientWidth: number };
  activeElement: DomElement | null;
  body: { classList: { contains(name: string): boolean } };
  getElementById(id: string): DomElement | null;
  elementFromPoint(x: number, y: number): DomElement | null;
};
declare function getComputedStyle(el: DomElement): { fontSize: string; outlineStyle: string; outlineWidth: string; boxShadow: string; overflowX: string };

export const SERVICE_TITLE_SUFFIX = ' – Dovecote';
export const DESKTOP = { width: 1280, height: 800 };

export interface A11yRig {
  server: RunningServer;
  browser: Browser;
  baseUrl: string;
  /** Move the app's clock forward (e.g. past the 60 seconds between security codes). */
  advance(ms: number): void;
  /** A new browser (cookie jar); bypassCSP so axe can be injected. */
  newContext(options?: BrowserContextOptions): Promise<BrowserContext>;
  newPage(options?: BrowserContextOptions): Promise<Page>;
  /** Forget link look-ups so far: every request from the test comes from one address (60 a minute). */
  forgetLookups(): Promise<void>;
  exec(query: ReturnType<typeof sql>): Promise<void>;
  close(): Promise<void>;
}

export interface RigOptions {
  /** Listen here (chosen up front when NHS login's stand-in must know the redirect URI first). */
  port?: number;
  /** Extra environment settings, e.g. the stand-in's NHS_LOGIN_* settings. */
  config?: Record<string, string>;
  /** The app's clock, for pages that depend on the time (rate-limit windows, TOTP codes); the real clock otherwise. */
  clock?: { now: () => Date; advance: (ms: number) => void };
}

export async function startRig(options: RigOptions = {}): Promise<A11yRig> {
  let offsetMs = 0;
  const server = await startTestServer({ ...options, now: options.clock?.now ?? (() => new Date(Date.now() + offsetMs)) });
  let browser: Browser;
  try {
    browser = await launchBrowser();
  } catch (error) {
    await server.close();
    throw error;
  }
  const contexts: BrowserContext[] = [];
  const rig: A11yRig = {
    server,
    browser,
    baseUrl: server.baseUrl,
    advance(ms) {
      if (options.clock) options.clock.advance(ms);
      else offsetMs += ms;
    },
    async newContext(options = {}) {
      const context = await browser.newContext({ bypassCSP: true, viewport: DESKTOP, ...options });
      contexts.push(context);
      return context;
    },
    async newPage(options = {}) {
      return (await rig.newContext(options)).newPage();
    },
    async forgetLookups() {
      await server.services.db.execute(sql`DELETE FROM rate_limit_hits WHERE key LIKE 'link-lookup:%'`);
    },
    async exec(query) {
      await server.services.db.execute(query);
    },
    async close() {
      for (const c of contexts) await c.close().catch(() => undefined);
      await browser.close();
      await server.close();
    },
  };
  return rig;
}

export interface CheckOptions {
  /** The page must show an error summary (and the "Error: " title prefix). */
  errors?: boolean;
  /** The error summary's first link must point here, e.g. '#dob-day'. */
  firstErrorHref?: string;
  /** Patient pages: no horizontal scrolling at 320 px, and at 640 px with 200 % text. */
  reflow?: boolean;
  /** Staff pages: no horizontal scrolling of the page at 320 px (implied by `reflow`). */
  narrow?: boolean;
  /** The context runs JavaScript (axe and focus checks need it). Default true. */
  javaScript?: boolean;
  /** The exact page title, without the " – Dovecote" suffix or "Error: " prefix. */
  title?: string | RegExp;
}

/** Every check for one page, in the state it is in now. */
export async function checkPage(page: Page, what: string, options: CheckOptions = {}): Promise<void> {
  const where = `${what} (${page.url()})`;
  const javaScript = options.javaScript ?? true;
  const hasSummary = (await page.locator('.nhsuk-error-summary').count()) > 0;
  assert.equal(hasSummary, Boolean(options.errors), `${where}: error summary ${hasSummary ? 'shown' : 'missing'}`);

  // Title: "<page> – Dovecote", with "Error: " first when the page shows errors.
  const title = await page.title();
  assert.ok(title.endsWith(SERVICE_TITLE_SUFFIX), `${where}: title "${title}" does not end with "${SERVICE_TITLE_SUFFIX}"`);
  assert.equal(title.startsWith('Error: '), hasSummary, `${where}: title "${title}" ${hasSummary ? 'lacks' : 'has'} the "Error: " prefix`);
  const bare = title.replace(/^Error: /, '').slice(0, -SERVICE_TITLE_SUFFIX.length);
  assert.ok(bare.trim().length > 0, `${where}: empty page title`);
  if (typeof options.title === 'string') assert.equal(bare, options.title, `${where}: page title`);
  else if (options.title) assert.match(bare, options.title, `${where}: page title`);
  // One h1, and the title names the same thing (WCAG 2.4.2 / NHS pattern) unless told otherwise.
  assert.equal(await page.locator('h1').count(), 1, `${where}: expected exactly one h1`);

  if (hasSummary) {
    const links = await errorSummaryLinks(page);
    assert.ok(links.length > 0, `${where}: error summary has no links`);
    for (const link of links) {
      assert.ok(link.target, `${where}: error link "${link.text}" points at ${link.href}, which is not on the page`);
      assert.ok(
        // A button is the control when the error is about the action itself (an out-of-date "Mark as done").
        link.target === 'input' || link.target === 'textarea' || link.target === 'select' || link.target === 'fieldset' || link.target === 'button' || link.isUploadButton,
        `${where}: error link "${link.text}" points at a <${link.target}>, not a form control or its fieldset`,
      );
      assert.ok(link.inlineError, `${where}: the field ${link.href} has no inline error message`);
    }
    if (options.firstErrorHref) assert.equal(links[0]!.href, options.firstErrorHref, `${where}: first error link`);
    if (javaScript) {
      await page
        .waitForFunction(() => Boolean(document.activeElement?.closest('.nhsuk-error-summary')), undefined, { timeout: 5000 })
        .catch(() => assert.fail(`${where}: focus did not move to the error summary`));
    }
  }

  if (javaScript) {
    // The file upload component's known false positive is allowed in axeViolations (helpers/browser.ts).
    const violations = await axeViolations(page);
    assert.equal(violations.length, 0, `${where} has accessibility problems:\n${describeViolations(violations)}`);
  }
  if (options.reflow) await checkReflow(page, where, javaScript);
  else if (options.narrow) await checkNarrow(page, where);
}

async function errorSummaryLinks(page: Page) {
  return page.$$eval('.nhsuk-error-summary a[href^="#"]', (anchors) =>
    anchors.map((a) => {
      const href = a.getAttribute('href')!;
      const target = document.getElementById(href.slice(1));
      const group = target?.closest('.nhsuk-form-group--error');
      return {
        href,
        // The file upload component's script gives the input's id to its "Choose file" button, so an
        // error link lands on the control the patient uses.
        isUploadButton: Boolean(target?.matches('button.nhsuk-file-upload__drop-button')),
        text: a.textContent?.trim() ?? '',
        target: target ? target.tagName.toLowerCase() : null,
        inlineError: Boolean(group?.querySelector('.nhsuk-error-message')),
      };
    }),
  );
}

/** Elements wider than the viewport, for a useful failure message. */
async function overflowing(page: Page): Promise<string> {
  return page.$$eval('body *', (els) => {
    const width = document.documentElement.clientWidth;
    return els
      .filter((e) => e.getBoundingClientRect().right > width + 0.5)
      .slice(0, 8)
      .map((e) => `${e.tagName.toLowerCase()}${e.id ? '#' + e.id : ''}${e.className && typeof e.className === 'string' ? '.' + e.className.trim().split(/\s+/).join('.') : ''} (right ${Math.round(e.getBoundingClientRect().right)})`)
      .join(', ');
  });
}

async function assertNoHorizontalScroll(page: Page, where: string) {
  // The NHS header moves menu items that no longer fit under "More" on the animation frame after a
  // resize (or a text-zoom): measure after it has had two frames, as a person would see the page.
  // (With JavaScript off no frame callback may run, hence the cap.)
  const frames = page.evaluate(() => {
    const nextFrame = (globalThis as unknown as { requestAnimationFrame: (callback: () => void) => void }).requestAnimationFrame.bind(globalThis);
    return new Promise<void>((resolve) => nextFrame(() => nextFrame(() => resolve())));
  });
  await Promise.race([frames.catch(() => undefined), page.waitForTimeout(250)]);
  const { scrollWidth, clientWidth } = await page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth,
    clientWidth: document.documentElement.clientWidth,
  }));
  assert.ok(scrollWidth <= clientWidth, `${where}: scrolls sideways (${scrollWidth} > ${clientWidth}): ${await overflowing(page)}`);
}

/**
 * Content allowed to scroll sideways inside the page (a wide table in its own container) must be
 * reachable and named: keyboard users scroll it once it has focus (tabindex="0"), and a screen reader
 * says what it is (role region or group, with a label). Form controls scroll by themselves.
 */
async function assertScrollRegionsUsable(page: Page, where: string) {
  const regions = await page.$$eval('body *', (els) =>
    els
      .filter((e) => {
        const overflowX = getComputedStyle(e).overflowX;
        return (overflowX === 'auto' || overflowX === 'scroll') && e.scrollWidth > e.clientWidth;
      })
      .filter((e) => !['textarea', 'select', 'input'].includes(e.tagName.toLowerCase()))
      .map((e) => {
        const labelledBy = e.getAttribute('aria-labelledby');
        const name = e.getAttribute('aria-label') ?? (labelledBy ? document.getElementById(labelledBy)?.textContent ?? '' : '');
        return {
          what: `${e.tagName.toLowerCase()}${e.id ? '#' + e.id : ''}${typeof e.className === 'string' && e.className ? '.' + e.className.trim().split(/\s+/).join('.') : ''}`,
          focusable: e.getAttribute('tabindex') === '0',
          role: e.getAttribute('role'),
          name: name.trim(),
        };
      }),
  );
  for (const region of regions) {
    assert.ok(region.focusable, `${where}: ${region.what} scrolls sideways but cannot be reached with the keyboard (tabindex="0")`);
    assert.ok(region.role === 'region' || region.role === 'group', `${where}: ${region.what} scrolls sideways but has no role (region or group)`);
    assert.ok(region.name.length > 0, `${where}: ${region.what} scrolls sideways but has no accessible name`);
  }
}

/** No horizontal scrolling of the page at 320 × 640 CSS px (WCAG 1.4.10); inner scroll regions usable. */
export async function checkNarrow(page: Page, where: string): Promise<void> {
  const before = page.viewportSize() ?? DESKTOP;
  try {
    await page.setViewportSize({ width: 320, height: 640 });
    await assertNoHorizontalScroll(page, `${where} at 320 px`);
    await assertScrollRegionsUsable(page, `${where} at 320 px`);
  } finally {
    await page.setViewportSize(before);
  }
}

/** The page's main buttons (form submits and button links) are on screen and nothing covers them. */
async function assertPrimaryActionsUsable(page: Page, where: string) {
  const buttons = page.locator('main .nhsuk-button, main button[type="submit"]');
  const count = await buttons.count();
  for (let i = 0; i < count; i++) {
    const button = buttons.nth(i);
    await button.scrollIntoViewIfNeeded();
    const box = await button.boundingBox();
    const name = (await button.innerText()).trim();
    assert.ok(box && box.width > 0 && box.height > 0, `${where}: button "${name}" is not visible`);
    const viewport = page.viewportSize()!;
    assert.ok(box.x >= 0 && box.x + box.width <= viewport.width + 0.5, `${where}: button "${name}" runs off the screen (${Math.round(box.x)}–${Math.round(box.x + box.width)} of ${viewport.width})`);
    const onTop = await button.evaluate((el) => {
      const r = el.getBoundingClientRect();
      const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
      return Boolean(hit && (hit === el || el.contains(hit)));
    });
    assert.ok(onTop, `${where}: button "${name}" is covered by something else`);
  }
}

/** Root font size 200 % (text-only zoom), for a page whose context has bypassCSP. Returns an undo. */
export async function zoomText(page: Page): Promise<() => Promise<void>> {
  const tag = await page.addStyleTag({ content: 'html { font-size: 200% !important; }' });
  return async () => {
    await tag.evaluate((el) => el.remove());
  };
}

export async function checkReflow(page: Page, where: string, javaScript = true): Promise<void> {
  const before = page.viewportSize() ?? DESKTOP;
  try {
    await page.setViewportSize({ width: 320, height: 640 });
    await assertNoHorizontalScroll(page, `${where} at 320 px`);
    await assertScrollRegionsUsable(page, `${where} at 320 px`);
    if (javaScript) {
      // addStyleTag needs script in the page; with JavaScript off, reflow at 320 px is the check.
      await page.setViewportSize({ width: 640, height: 800 });
      const undo = await zoomText(page);
      try {
        const fontSize = await page.evaluate(() => getComputedStyle(document.documentElement).fontSize);
        assert.equal(fontSize, '32px', `${where}: 200 % text did not apply`);
        await assertNoHorizontalScroll(page, `${where} at 200 % text, 640 px`);
        await assertPrimaryActionsUsable(page, `${where} at 200 % text, 640 px`);
      } finally {
        await undo();
      }
    }
  } finally {
    await page.setViewportSize(before);
  }
}

/** Fill a date of birth and press Continue (mouse and form fill: the keyboard-only journeys use their own). */
export async function enterDateOfBirth(page: Page, parts: { day?: string; month?: string; year?: string }): Promise<void> {
  if (parts.day !== undefined) await page.getByLabel('Day').fill(parts.day);
  if (parts.month !== undefined) await page.getByLabel('Month').fill(parts.month);
  if (parts.year !== undefined) await page.getByLabel('Year').fill(parts.year);
  await clickAndWait(page, page.getByRole('button', { name: 'Continue' }));
}

/** Click something that loads a new page (a link or a form submit) and wait for that page to load. */
export async function clickAndWait(page: Page, target: Locator): Promise<void> {
  await Promise.all([page.waitForEvent('load'), target.click()]);
}

export function isoParts(iso: string): { day: string; month: string; year: string } {
  const [year, month, day] = iso.split('-');
  return { day: String(Number(day)), month: String(Number(month)), year: year! };
}

/** A message sent to a new patient of a new organisation, with its link token. */
export function newLink(rig: A11yRig, replyMode: ReplyMode = 'once') {
  return createTestConversation(rig.server.services, { replyMode });
}

/** GET a path in the page, checking the status when given. */
export async function open(rig: A11yRig, page: Page, path: string, status?: number): Promise<void> {
  const response = await page.goto(`${rig.baseUrl}${path}`);
  if (status !== undefined) assert.equal(response?.status(), status, `GET ${path}`);
}

/** A browser that has passed the date of birth as the link's first device and sees the message. */
export async function verifiedPage(rig: A11yRig, token: string): Promise<Page> {
  const page = await rig.newPage();
  await open(rig, page, `/${token}`);
  await enterDateOfBirth(page, isoParts(TEST_PATIENT.dateOfBirth));
  assert.match(page.url(), /\/conversation$/);
  return page;
}

/** Another device is trusted, so the next browser must use a security code. */
export async function trustAnotherDevice(rig: A11yRig, linkId: string): Promise<void> {
  await rig.exec(sql`UPDATE links SET trusted_device_hash = ${'another-device'}, trusted_at = ${rig.server.services.now().toISOString()} WHERE id = ${linkId}`);
}

/** The newest security code texted for a link, read from the development phone (the outbox forgets codes once sent). */
export async function codeFromPhone(rig: A11yRig, linkId: string, notThis?: string): Promise<string> {
  for (let i = 0; i < 120; i++) {
    const [row] = await queryRows<{ body: string }>(rig.server.services.db, sql`
      SELECT d.body FROM dev_phone_texts d JOIN outbound_sms o ON o.id = d.outbound_sms_id
      WHERE o.link_id = ${linkId} AND o.kind = 'security_code' ORDER BY d.created_at DESC LIMIT 1`);
    const code = row && /(\d{6})/.exec(row.body)?.[1];
    if (code && code !== notThis) return code;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error('no security code reached the development phone');
}

/**
 * Stamp the link's newest security code as sent just now, so a "Request a new code" straight after
 * meets the 60-second wait however slowly the machine ran the steps before it.
 */
export async function codeSentJustNow(rig: A11yRig, linkId: string): Promise<void> {
  await rig.exec(sql`
    UPDATE security_codes SET created_at = ${rig.server.services.now().toISOString()}
    WHERE id = (SELECT id FROM security_codes WHERE link_id = ${linkId} ORDER BY created_at DESC LIMIT 1)`);
}
