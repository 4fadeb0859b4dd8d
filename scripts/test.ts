// `npm test`: every suite on the embedded database, then (when TEST_DATABASE_URL is set) the database
// suites again on PostgreSQL. Browser journeys (test/browser/ and the accessibility suite in test/a11y/)
// run once, against the embedded database, and need Chromium at /usr/bin/chromium (or CHROMIUM_PATH);
// the end-to-end journeys whose data differs by database (questionnaires) run on PostgreSQL as well.
import { spawnSync } from 'node:child_process';
import { existsSync, globSync } from 'node:fs';

const chromium = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const all = [...globSync('test/**/*.test.ts'), ...globSync('src/**/*.test.ts')].sort();
const browser = all.filter((f) => f.startsWith('test/browser/') || f.startsWith('test/a11y/'));
const database = all.filter((f) => !browser.includes(f));
const browserOnBothDatabases = ['test/browser/questionnaires.test.ts', 'test/browser/booking.test.ts', 'test/browser/files.test.ts'].filter((f) => all.includes(f));
const pgUrl = process.env.TEST_DATABASE_URL;

function run(label: string, files: string[], env: NodeJS.ProcessEnv): boolean {
  if (files.length === 0) return true;
  process.stdout.write(`\n=== ${label}: ${files.length} files ===\n`);
  const result = spawnSync(process.execPath, ['--test', '--test-concurrency=2', ...files], { stdio: 'inherit', env });
  return result.status === 0;
}

const embeddedEnv = { ...process.env };
delete embeddedEnv.TEST_DATABASE_URL;
let ok = run('embedded database (PGlite)', database, embeddedEnv);
if (existsSync(chromium)) {
  ok = run('browser journeys (Chromium, embedded database)', browser, embeddedEnv) && ok;
} else if (browser.length > 0) {
  process.stdout.write(`\nBrowser journeys not run: no Chromium at ${chromium} (apt-get install -y chromium)\n`);
  if (process.env.CI) ok = false;
}
if (pgUrl) {
  ok = run(`PostgreSQL (${new URL(pgUrl).host})`, database, { ...process.env, TEST_DATABASE_URL: pgUrl }) && ok;
  if (existsSync(chromium)) {
    ok = run(`browser journeys on PostgreSQL (${new URL(pgUrl).host})`, browserOnBothDatabases, { ...process.env, TEST_DATABASE_URL: pgUrl }) && ok;
  }
} else {
  process.stdout.write('\nPostgreSQL suites not run: set TEST_DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/postgres)\n');
}
process.exit(ok ? 0 : 1);
