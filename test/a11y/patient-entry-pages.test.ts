// Every patient-facing page on the way in, in every state, in a real browser: the date of birth (empty
// and each error), locked, expired, revoked and unknown links, too many look-ups, the security code page
// (empty, each error, code stopped working, new code sent) and the code limits. For each: no axe
// violation (WCAG 2.2 AA tags), NHS page titles ("Error: " first when there are errors), focus on the
// error summary, every error link pointing at its field, and reflow (no sideways scrolling at 320 px,
// nor at 640 px with 200 % text, primary buttons still usable). States are made with factories and
// direct database updates where that is faster than clicking. The message pages are in
// patient-message-pages.test.ts (two files, so the browser group runs them side by side).
import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'drizzle-orm';
import { TEST_PATIENT } from '../helpers/factories.ts';
import { checkPage, clickAndWait, codeFromPhone, codeSentJustNow, enterDateOfBirth, isoParts, newLink, open, startRig, trustAnotherDevice, type A11yRig } from './a11y-support.ts';

let rig: A11yRig;
before(async () => {
  rig = await startRig();
});
after(async () => {
  await rig?.close();
});
// Every request comes from one address; forget link look-ups so the limit (60 a minute) is not hit.
beforeEach(async () => {
  await rig.forgetLookups();
});

const iso = (d: Date) => d.toISOString();
const now = () => rig.server.services.now();
const minutes = (n: number) => new Date(now().getTime() + n * 60_000);

test('date of birth: empty, session expired, and each error state', async () => {
  const { token } = await newLink(rig);
  const page = await rig.newPage();
  await open(rig, page, `/${token}`, 200);
  await checkPage(page, 'date of birth', { title: 'What is your date of birth?', reflow: true });
  await open(rig, page, `/${token}?session=expired`, 200);
  await checkPage(page, 'date of birth after the session expired', { reflow: true });

  await enterDateOfBirth(page, { day: '', month: '', year: '' });
  await checkPage(page, 'date of birth, nothing entered', { errors: true, firstErrorHref: '#dob-day', reflow: true });
  await enterDateOfBirth(page, { day: '12', month: '3', year: '' });
  await checkPage(page, 'date of birth, year missing', { errors: true, firstErrorHref: '#dob-year', reflow: true });
  await enterDateOfBirth(page, { day: '12', month: '', year: '1984' });
  await checkPage(page, 'date of birth, month missing', { errors: true, firstErrorHref: '#dob-month', reflow: true });
  await enterDateOfBirth(page, { day: '31', month: '2', year: '1990' });
  await checkPage(page, 'date of birth, not a real date', { errors: true, firstErrorHref: '#dob-day', reflow: true });
  await enterDateOfBirth(page, { day: '1', month: '1', year: '2100' });
  await checkPage(page, 'date of birth in the future', { errors: true, firstErrorHref: '#dob-day', reflow: true });
  await enterDateOfBirth(page, { day: '1', month: '1', year: '1990' });
  await checkPage(page, 'wrong date of birth', { errors: true, firstErrorHref: '#dob-day', reflow: true });
  assert.match(await page.locator('.nhsuk-error-summary').innerText(), /does not match our records/);
});

test('locked for 30 minutes, then locked permanently', async () => {
  const { token, linkId } = await newLink(rig);
  const page = await rig.newPage();
  await rig.exec(sql`UPDATE links SET dob_failures_in_a_row = 5, dob_failures_total = 5, locked_until = ${iso(minutes(30))} WHERE id = ${linkId}`);
  await open(rig, page, `/${token}`, 423);
  assert.match(await page.locator('main').innerText(), /locked for 30 minutes/);
  await checkPage(page, 'link locked for 30 minutes', { title: 'This link is locked', reflow: true });
  await rig.exec(sql`UPDATE links SET dob_failures_total = 10, locked_permanently_at = ${iso(now())} WHERE id = ${linkId}`);
  await open(rig, page, `/${token}`, 423);
  assert.match(await page.locator('main').innerText(), /cannot use this link any more/);
  await checkPage(page, 'link locked permanently', { title: 'This link is locked', reflow: true });

  // Locked after three security codes' worth of wrong tries (issue 10, item 7).
  const codes = await newLink(rig);
  await rig.exec(sql`UPDATE links SET code_failures_in_a_row = 15, locked_permanently_at = ${iso(now())} WHERE id = ${codes.linkId}`);
  await open(rig, page, `/${codes.token}`, 423);
  assert.match(await page.locator('main').innerText(), /security code sent to your phone was entered wrongly too many times/);
  await checkPage(page, 'link locked after wrong security codes', { title: 'This link is locked', reflow: true });
});

test('expired, revoked and unknown links, and too many look-ups', async () => {
  const page = await rig.newPage();
  const expired = await newLink(rig);
  await rig.exec(sql`UPDATE links SET expires_at = ${iso(minutes(-1))} WHERE id = ${expired.linkId}`);
  await open(rig, page, `/${expired.token}`, 410);
  await checkPage(page, 'expired link', { title: 'This link has expired', reflow: true });

  const revoked = await newLink(rig);
  await rig.exec(sql`UPDATE links SET revoked_at = ${iso(now())} WHERE id = ${revoked.linkId}`);
  await open(rig, page, `/${revoked.token}`, 410);
  await checkPage(page, 'revoked link', { title: 'This link no longer works', reflow: true });

  await open(rig, page, '/AAAAAAAAAAAAAAAAAAAAAA', 404);
  await checkPage(page, 'unknown link', { title: 'We cannot find this link', reflow: true });

  // The limit answers only for links that do not exist (a real one always opens: issue 10, item 6).
  await rig.exec(sql`UPDATE rate_limit_hits SET hits = 1000 WHERE key LIKE 'link-lookup:%'`);
  await open(rig, page, '/AAAAAAAAAAAAAAAAAAAAAB', 429);
  await checkPage(page, 'too many look-ups', { title: 'You have tried to open links too many times', reflow: true });
});

test('check your phone: empty, each error, code stopped working, wait page, new code sent', async () => {
  const { token, linkId } = await newLink(rig);
  await trustAnotherDevice(rig, linkId);
  const page = await rig.newPage();
  await open(rig, page, `/${token}`);
  await enterDateOfBirth(page, isoParts(TEST_PATIENT.dateOfBirth));
  assert.match(page.url(), /\/code$/);
  await checkPage(page, 'check your phone', { title: 'Check your phone', reflow: true });

  const codeField = page.getByLabel('Security code');
  const submitCode = async (code: string) => {
    await codeField.fill(code);
    await clickAndWait(page, page.getByRole('button', { name: 'Continue' }));
  };
  await submitCode('');
  await checkPage(page, 'security code, nothing entered', { errors: true, firstErrorHref: '#code', reflow: true });
  await submitCode('12ab');
  await checkPage(page, 'security code, not 6 numbers', { errors: true, firstErrorHref: '#code', reflow: true });
  const real = await codeFromPhone(rig, linkId);
  await submitCode(real === '000000' ? '111111' : '000000');
  await checkPage(page, 'wrong security code', { errors: true, firstErrorHref: '#code', reflow: true });
  assert.match(await page.locator('.nhsuk-error-summary').innerText(), /more tries/);
  await rig.exec(sql`UPDATE security_codes SET burned_at = ${iso(now())} WHERE link_id = ${linkId}`);
  await submitCode(real);
  await checkPage(page, 'security code that stopped working', { errors: true, firstErrorHref: '#code', reflow: true });
  assert.match(await page.locator('.nhsuk-error-summary').innerText(), /Request a new code/);

  // Less than a minute after the last code: the wait page.
  await codeSentJustNow(rig, linkId);
  await clickAndWait(page, page.getByRole('button', { name: 'Request a new code' }));
  assert.match(await page.locator('h1').innerText(), /wait/);
  await checkPage(page, 'wait before a new security code', { reflow: true });

  rig.advance(61_000);
  await open(rig, page, `/${token}/code`);
  await clickAndWait(page, page.getByRole('button', { name: 'Request a new code' }));
  assert.match(page.url(), /\/code\?sent=1$/);
  assert.match(await page.locator('main').innerText(), /We have sent you a new security code/);
  await checkPage(page, 'check your phone, new code sent', { title: 'Check your phone', reflow: true });
});

test('too many security codes for the link in an hour', async () => {
  const { token, linkId } = await newLink(rig);
  await trustAnotherDevice(rig, linkId);
  const page = await rig.newPage();
  await open(rig, page, `/${token}`);
  await enterDateOfBirth(page, isoParts(TEST_PATIENT.dateOfBirth));
  // Four more codes sent in the last hour (the first is real), spaced past the 60-second wait.
  for (let i = 2; i <= 5; i++) {
    await rig.exec(sql`
      INSERT INTO security_codes (link_id, code_hmac, key_id, created_at, expires_at, burned_at)
      VALUES (${linkId}, ${`x${i}`}, 'test1', ${iso(minutes(-10 * i))}, ${iso(minutes(-10 * i + 10))}, ${iso(minutes(-10 * i + 1))})`);
  }
  rig.advance(61_000);
  await open(rig, page, `/${token}/code`);
  await clickAndWait(page, page.getByRole('button', { name: 'Request a new code' }));
  assert.match(await page.locator('main').innerText(), /5 security codes for a link in 1 hour/);
  await checkPage(page, 'too many security codes', { title: 'You have asked for too many security codes', reflow: true });
});
