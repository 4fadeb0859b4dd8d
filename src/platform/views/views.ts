// Nunjucks with the NHS design system. Templates are found under src/views (layouts, shared partials),
// src/features (each feature's views/ folder) and nhsuk-frontend's dist folder (the macros).
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import nunjucks from 'nunjucks';

const here = path.dirname(fileURLToPath(import.meta.url));
export const srcDir = path.resolve(here, '../..');
const require = createRequire(import.meta.url);
export const nhsukDistDir = path.join(path.dirname(require.resolve('nhsuk-frontend/package.json')), 'dist');

export function createViewEnvironment(): nunjucks.Environment {
  const env = new nunjucks.Environment(
    new nunjucks.FileSystemLoader(
      [path.join(srcDir, 'views'), path.join(srcDir, 'features'), nhsukDistDir],
      { noCache: false },
    ),
    { autoescape: true, throwOnUndefined: false },
  );
  // Nunjucks' own trim is a regular expression (/^\s*|\s*$/) that backtracks on long strings, and the
  // nhsuk-frontend macros trim every nested piece of HTML: it made the date-of-birth page cost ~30 ms of
  // CPU to render. String.prototype.trim does the same job in linear time, keeping the markup's safeness.
  env.addFilter('trim', (value: unknown) => {
    const trimmed = String(value ?? '').trim();
    return value instanceof nunjucks.runtime.SafeString ? new nunjucks.runtime.SafeString(trimmed) : trimmed;
  });
  const dateTime = new Intl.DateTimeFormat('en-GB', {
    day: 'numeric',
    month: 'long',
    year: 'numeric',
    hour: 'numeric',
    minute: '2-digit',
    hour12: true,
    timeZone: 'Europe/London',
  });
  const dateOnly = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'long', year: 'numeric', timeZone: 'UTC' });
  env.addFilter('dateTime', (v: Date | string) => (v ? dateTime.format(new Date(v)) : ''));
  // The UK day of an instant (a Date): 31 July 23:30 UTC in summer is 1 August.
  const ukDay = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'long', year: 'numeric', timeZone: 'Europe/London' });
  env.addFilter('ukDate', (v: Date | string) => (v ? ukDay.format(new Date(v)) : ''));
  env.addFilter('dateOnly', (v: string) => (v ? dateOnly.format(new Date(`${v.slice(0, 10)}T00:00:00Z`)) : ''));
  env.addFilter('nhsNumber', (v: string) => (v && v.length === 10 ? `${v.slice(0, 3)} ${v.slice(3, 6)} ${v.slice(6)}` : v));
  return env;
}
