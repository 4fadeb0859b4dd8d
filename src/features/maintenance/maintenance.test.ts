import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestApp, TestClock } from '../../../test/helpers/app.ts';
import { createTestConversation, createTestStaff } from '../../../test/helpers/factories.ts';
import { nhsLoginTransactions, patientSessions, rateLimitHits, staffSessions } from '../../platform/db/schema.ts';
import { createStaffSession } from '../staff/staff-sessions.service.ts';
import { createPatientSession } from '../verification/patient-sessions.service.ts';
import { runMaintenance, startMaintenance } from './maintenance.service.ts';

const HOUR = 3_600_000;

test('maintenance deletes only what has ended: limits, staff and patient sessions, NHS login sign-ins', async (t) => {
  const clock = new TestClock();
  const { services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const conversation = await createTestConversation(services);
  const staff = await createTestStaff(services, conversation.organisation.id);
  const { db } = services;

  // Made two days ago: all of these have ended.
  await services.rateLimiter.hit('link-lookup:198.51.100.7', 60, 60);
  await createStaffSession(db, staff.id, clock.now(), 'signed_in');
  await createPatientSession(db, { linkId: conversation.linkId, state: 'verified', now: clock.now() });
  await db.insert(nhsLoginTransactions).values({ stateHash: 'old', nonce: 'n', codeVerifier: 'v', returnToSealed: 'sealed', expiresAt: new Date(clock.now().getTime() + 600_000) });
  clock.advance(48 * HOUR);

  // Made now: all of these are live and must stay.
  await services.rateLimiter.hit('link-lookup:198.51.100.8', 60, 60);
  const liveStaff = await createStaffSession(db, staff.id, clock.now(), 'signed_in');
  await createPatientSession(db, { linkId: conversation.linkId, state: 'verified', now: clock.now() });
  await db.insert(nhsLoginTransactions).values({ stateHash: 'new', nonce: 'n', codeVerifier: 'v', returnToSealed: 'sealed', expiresAt: new Date(clock.now().getTime() + 600_000) });
  // A patient session that ended 2 hours ago is kept for a day, so its browser hears "confirm again".
  clock.advance(-2 * HOUR);
  await createPatientSession(db, { linkId: conversation.linkId, state: 'verified', now: clock.now() });
  clock.advance(2 * HOUR);

  assert.deepEqual(await runMaintenance(services), { rateLimitWindows: 1, staffSessions: 1, patientSessions: 1, nhsLoginTransactions: 1, questionnaireReminders: 0, bookingReminders: 0, expiredDocuments: 0, abandonedFiles: 0, conversationViewers: 0, staffSubmissions: 0, idempotencyKeys: 0 });
  assert.deepEqual((await db.select().from(rateLimitHits)).map((r) => r.key), ['link-lookup:198.51.100.8']);
  assert.equal((await db.select().from(staffSessions)).length, 1);
  assert.equal((await db.select().from(patientSessions)).length, 2);
  assert.deepEqual((await db.select().from(nhsLoginTransactions)).map((r) => r.stateHash), ['new']);
  assert.ok(liveStaff);

  // Nothing more to do on a second run.
  assert.deepEqual(await runMaintenance(services), { rateLimitWindows: 0, staffSessions: 0, patientSessions: 0, nhsLoginTransactions: 0, questionnaireReminders: 0, bookingReminders: 0, expiredDocuments: 0, abandonedFiles: 0, conversationViewers: 0, staffSubmissions: 0, idempotencyKeys: 0 });
});

test('the maintenance timer runs on its own, logs what it deleted, and a failed run is logged, not thrown', async (t) => {
  const clock = new TestClock();
  const { services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  await services.rateLimiter.hit('link-lookup:198.51.100.9', 60, 60);
  clock.advance(2 * 60_000);

  const lines: Array<{ msg: string; obj: object }> = [];
  const log = { info: (obj: object, msg: string) => lines.push({ obj, msg }), error: (obj: object, msg: string) => lines.push({ obj, msg }) };
  const stop = startMaintenance(services, { intervalMinutes: 15, log, firstRunAfterMs: 10 });
  const deadline = Date.now() + 20_000;
  while (lines.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  await stop();
  assert.equal(lines[0]?.msg, 'maintenance done');
  assert.deepEqual(lines[0]?.obj, { deleted: { rateLimitWindows: 1, staffSessions: 0, patientSessions: 0, nhsLoginTransactions: 0, questionnaireReminders: 0, bookingReminders: 0, expiredDocuments: 0, abandonedFiles: 0, conversationViewers: 0, staffSubmissions: 0, idempotencyKeys: 0 } });

  // The database is gone: the run fails, says so in the log, and nothing is thrown at the process.
  const broken = { ...services, db: { delete: () => Promise.reject(new Error('connection terminated')), execute: () => Promise.reject(new Error('connection terminated')) } } as never;
  const failures: string[] = [];
  const stopBroken = startMaintenance(broken, { intervalMinutes: 15, log: { info: () => {}, error: (_o, msg) => failures.push(msg) }, firstRunAfterMs: 10 });
  const until = Date.now() + 20_000;
  while (failures.length === 0 && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 20));
  await stopBroken();
  assert.deepEqual(failures, ['maintenance failed; will try again']);
});
