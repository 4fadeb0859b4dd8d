// Patient sessions: 15 minutes idle, 1 hour in all, one link only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestApp, TestClock } from '../../../test/helpers/app.ts';
import { CookieJar, createTestConversation, createTestOrganisation } from '../../../test/helpers/factories.ts';
import { firstDevice, get, textOf } from '../../../test/helpers/patient.ts';
import { describeWait } from './wait-times.ts';
import { SESSION_COOKIE } from './patient-pages.ts';

test('unit: waits are described in plain words and London time', () => {
  const now = new Date('2026-11-26T10:00:00Z');
  assert.deepEqual(describeWait(now, new Date('2026-11-26T10:00:45Z')), { waitText: '45 seconds', clockTime: '10:00am', retryAfterSeconds: 45 });
  assert.equal(describeWait(now, new Date('2026-11-26T10:01:00Z')).waitText, '1 minute');
  assert.equal(describeWait(now, new Date('2026-11-26T10:30:00Z')).clockTime, '10:30am');
  assert.equal(describeWait(now, new Date('2026-11-27T09:00:00Z')).clockTime, '9:00am on 27 November');
  assert.equal(describeWait(new Date('2026-07-01T10:00:00Z'), new Date('2026-07-01T13:05:00Z')).clockTime, '2:05pm');
});

test('a session ends after 15 minutes idle: back to the date of birth with a reason', async (t) => {
  const clock = new TestClock();
  const { app, services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const c = await createTestConversation(services);
  const jar = await firstDevice(app, c.token);
  clock.advance(14 * 60_000);
  assert.equal((await get(app, `/${c.token}/conversation`, jar)).statusCode, 200, 'still live at 14 minutes, and touched');
  clock.advance(14 * 60_000);
  assert.equal((await get(app, `/${c.token}/conversation`, jar)).statusCode, 200, 'idle timer restarted');
  clock.advance(15 * 60_000);
  const res = await get(app, `/${c.token}/conversation`, jar);
  assert.equal(res.statusCode, 303);
  assert.equal(res.headers.location, `/${c.token}?session=expired`);
  assert.equal(jar.get(SESSION_COOKIE), undefined, 'the cookie is cleared');
  const page = await get(app, res.headers.location!, jar);
  assert.equal(page.statusCode, 200);
  assert.match(textOf(page.body), /For your security, you need to confirm your details again/);
  assert.match(textOf(page.body), /What is your date of birth\?/);
});

test('a session ends 1 hour after it began, however busy', async (t) => {
  const clock = new TestClock();
  const { app, services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const c = await createTestConversation(services);
  const jar = await firstDevice(app, c.token);
  for (let i = 0; i < 4; i++) {
    clock.advance(14 * 60_000);
    assert.equal((await get(app, `/${c.token}/conversation`, jar)).statusCode, 200, `at ${(i + 1) * 14} minutes`);
  }
  clock.advance(4 * 60_000);
  const res = await get(app, `/${c.token}/conversation`, jar);
  assert.equal(res.headers.location, `/${c.token}?session=expired`);
});

test("a session for one link cannot open another patient's link, in this or another organisation", async (t) => {
  const { app, services, close } = await createTestApp();
  t.after(close);
  const a = await createTestConversation(services, { body: 'Message for patient A' });
  const sameOrg = await createTestConversation(services, {
    organisation: a.organisation,
    body: 'Message for patient B',
    patient: { nhsNumber: '9990000026', mobileNumber: '+447700900002' },
  });
  const otherOrg = await createTestConversation(services, {
    organisation: await createTestOrganisation(services),
    body: 'Message for patient C',
  });
  const jar = await firstDevice(app, a.token);
  assert.match(textOf((await get(app, `/${a.token}/conversation`, jar)).body), /Message for patient A/);
  for (const other of [sameOrg, otherOrg]) {
    const res = await get(app, `/${other.token}/conversation`, jar);
    assert.equal(res.statusCode, 303);
    assert.equal(res.headers.location, `/${other.token}`, 'asked for the date of birth, not told why');
    assert.doesNotMatch(res.body, /Message for patient/);
  }
  // Swapping cookies between browsers does not help either: the session is bound to its link.
  const stolen = new CookieJar();
  stolen.store(`${SESSION_COOKIE}=${jar.get(SESSION_COOKIE)}`);
  assert.equal((await get(app, `/${sameOrg.token}/conversation`, stolen)).headers.location, `/${sameOrg.token}`);
  // A made-up session token opens nothing.
  const forged = new CookieJar();
  forged.store(`${SESSION_COOKIE}=${'A'.repeat(43)}`);
  assert.equal((await get(app, `/${a.token}/conversation`, forged)).headers.location, `/${a.token}`);
});
