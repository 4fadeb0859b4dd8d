// Headless Chromium from the system (never a downloaded browser), driven by playwright-core, with
// axe-core checks against WCAG 2.2 AA.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium, type Browser, type Page } from 'playwright-core';

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: Array<{ target: string[] }>;
}

/** axe-core violations tagged WCAG 2.0/2.1/2.2 A and AA. The context must use bypassCSP to inject axe. */
export async function axeViolations(page: Page): Promise<AxeViolation[]> {
  await page.addScriptTag({ content: axeSource });
  // The NHS file upload component (nhsuk-frontend 10), once its script runs, names its "Choose file"
  // button by the field's label, a hidden comma and the button's own words (aria-labelledby), so the
  // label is spoken with it. axe's label-content-name-mismatch rule flags that; the visible words are in
  // the name, which is what WCAG 2.5.3 asks. Allowed for that rule on that button only.
  const uploadButtons = await page.$$eval('button.nhsuk-file-upload__drop-button', (buttons) => buttons.map((b) => `#${(b as unknown as { id: string }).id}`));
  const violations = await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run: (ctx: unknown, opts: unknown) => Promise<{ violations: AxeViolation[] }> } }).axe;
    const result = await axe.run((globalThis as unknown as { document: unknown }).document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] } });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => ({ target: n.target })) }));
  });
  return violations.filter((v) => !(v.id === 'label-content-name-mismatch' && v.nodes.every((n) => uploadButtons.includes(n.target.join(' ')))));
}

export function describeViolations(violations: AxeViolation[]): string {
  return violations.map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`).join('\n');
}
