// Reminder texts for questionnaires not sent back: day 3 and day 6, through the outbox, with a fresh
// link that closes when the questionnaire does; never twice, and none once it is submitted, revoked,
// closed or too short to remind about.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { and, asc, eq } from 'drizzle-orm';
import { createTestApp, TestClock } from '../../../test/helpers/app.ts';
import { CATALOGUE_URL, createTestQuestionnaireConversation, createTestStaff } from '../../../test/helpers/factories.ts';
import { firstDevice, get, textOf } from '../../../test/helpers/patient.ts';
import { pageText, signInAsStaff, staffGet } from '../../../test/helpers/staff.ts';
import { auditEvents, conversationReminders, devPhoneTexts, links, outboundSms } from '../../platform/db/schema.ts';
import type { Services } from '../../services.ts';
import { runMaintenance } from '../maintenance/maintenance.service.ts';
import { revokeConversation } from '../conversations/conversations.service.ts';
import { revokeConversationLinks } from '../links/links.service.ts';
import { renderSms, smsFragments } from '../sms/sms-texts.ts';
import { ensureResponse, markSubmitted } from './questionnaire-responses.repository.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
// The TestClock starts at 10:00 UTC (10:00am in the UK in November) on 26 November 2026.

async function reminderTexts(services: Services, conversationId: string) {
  const rows = await services.db
    .select()
    .from(outboundSms)
    .where(and(eq(outboundSms.conversationId, conversationId), eq(outboundSms.kind, 'reminder')))
    .orderBy(asc(outboundSms.createdAt), asc(outboundSms.id));
  return Promise.all(
    rows.map(async (row) => {
      // While queued the outbox has the link; once sent, only the phone (the development transport) does.
      const [onPhone] = await services.db.select({ body: devPhoneTexts.body }).from(devPhoneTexts).where(eq(devPhoneTexts.outboundSmsId, row.id));
      const text = onPhone?.body ?? renderSms('reminder', row.personalisation);
      const token = new URL(/https?:\/\/\S+/.exec(text)![0]).pathname.slice(1);
      return { row, text, token };
    }),
  );
}

async function reminderAudits(services: Services, conversationId: string) {
  return services.db
    .select()
    .from(auditEvents)
    .where(and(eq(auditEvents.conversationId, conversationId), eq(auditEvents.type, 'questionnaire.reminder_sent')));
}

async function recorded(services: Services, conversationId: string) {
  const rows = await services.db.select().from(conversationReminders).where(eq(conversationReminders.conversationId, conversationId));
  return rows.map((r) => ({ reminder: r.reminder, texted: r.outboundSmsId !== null })).sort((a, b) => a.reminder.localeCompare(b.reminder));
}

test('day 3 and day 6: one reminder each, through the outbox, with a new working link that closes when the questionnaire does', async (t) => {
  const clock = new TestClock();
  const { app, services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const c = await createTestQuestionnaireConversation(services, { questionnaire: 'phq-9' });
  const [firstLink] = await services.db.select().from(links).where(eq(links.id, c.linkId));

  clock.advance(2 * DAY + 23 * HOUR);
  assert.equal((await runMaintenance(services)).questionnaireReminders, 0, 'not yet day 3');
  assert.equal((await reminderTexts(services, c.conversationId)).length, 0);

  clock.advance(HOUR);
  assert.equal((await runMaintenance(services)).questionnaireReminders, 1);
  assert.equal((await runMaintenance(services)).questionnaireReminders, 0, 'never twice');
  const [day3] = await reminderTexts(services, c.conversationId);
  assert.ok(day3);
  assert.equal(day3.row.phoneE164, c.patient.mobileE164);
  assert.equal(
    day3.text,
    `Reminder from ${c.organisation.name}: please fill in your questionnaire by 10:00am on 3 December. Open it here: http://localhost:3000/${day3.token}`,
  );
  assert.doesNotMatch(day3.text, /PHQ|Depression/, 'no questionnaire title, no clinical detail');
  assert.equal(smsFragments(day3.text), 1, 'GSM-7, one part');

  // The new link is the same conversation's, and closes at the same instant as the first one.
  const [newLink] = await services.db.select().from(links).where(eq(links.id, day3.row.linkId!));
  assert.equal(newLink!.conversationId, c.conversationId);
  assert.equal(newLink!.expiresAt.getTime(), firstLink!.expiresAt.getTime());
  assert.notEqual(day3.token, c.token);
  const jar = await firstDevice(app, day3.token);
  const page = await get(app, `/${day3.token}/conversation`, jar);
  assert.equal(page.statusCode, 200);
  assert.match(textOf(page.body), /Depression questionnaire \(PHQ-9\)/);
  // The first link still works.
  await firstDevice(app, c.token);

  const [audit] = await reminderAudits(services, c.conversationId);
  assert.equal(audit?.actorType, 'system');
  assert.equal(audit?.linkId, newLink!.id);
  assert.equal(audit?.patientId, c.patient.id);
  assert.equal((audit?.details as { reminder?: string }).reminder, 'day-3');

  clock.advance(3 * DAY - HOUR);
  assert.equal((await runMaintenance(services)).questionnaireReminders, 0, 'not yet day 6');
  clock.advance(HOUR);
  assert.equal((await runMaintenance(services)).questionnaireReminders, 1);
  assert.equal((await runMaintenance(services)).questionnaireReminders, 0);
  const texts = await reminderTexts(services, c.conversationId);
  assert.equal(texts.length, 2);
  assert.match(texts[1]!.text, /by 10:00am on 3 December/, 'still the first closing time');
  assert.deepEqual(await recorded(services, c.conversationId), [
    { reminder: 'day-3', texted: true },
    { reminder: 'day-6', texted: true },
  ]);

  // Staff see the reminders in the link activity and the texts list.
  const staff = await createTestStaff(services, c.organisation.id);
  const staffJar = await signInAsStaff(app, staff.email, staff.password);
  const staffPage = pageText((await staffGet(app, staffJar, `/staff/conversations/${c.conversationId}`)).body);
  assert.match(staffPage, /Reminder sent with a new link/);
  assert.match(staffPage, /Reminder with a new link/);

  clock.advance(5 * DAY);
  assert.equal((await runMaintenance(services)).questionnaireReminders, 0, 'nothing after day 6');
});

test('no reminder once the questionnaire is submitted', async (t) => {
  const clock = new TestClock();
  const { services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const c = await createTestQuestionnaireConversation(services, { questionnaire: 'phq-9' });
  const other = await createTestQuestionnaireConversation(services, { questionnaire: 'phq-9', patient: { nhsNumber: '9990000026' } });
  clock.advance(DAY);
  const response = { conversationId: c.conversationId, organisationId: c.organisation.id, questionnaireUrl: CATALOGUE_URL('phq-9'), questionnaireVersion: '1.0.0' };
  await ensureResponse(services.db, { ...response, now: clock.now() });
  assert.ok(await markSubmitted(services.db, { conversationId: c.conversationId, revision: 0, answers: {}, now: clock.now() }));
  // Started but not submitted: still reminded.
  await ensureResponse(services.db, { ...response, conversationId: other.conversationId, organisationId: other.organisation.id, now: clock.now() });

  clock.advance(2 * DAY);
  assert.equal((await runMaintenance(services)).questionnaireReminders, 1);
  assert.equal((await reminderTexts(services, c.conversationId)).length, 0);
  assert.equal((await reminderTexts(services, other.conversationId)).length, 1);
  clock.advance(3 * DAY);
  assert.equal((await runMaintenance(services)).questionnaireReminders, 1);
  assert.equal((await reminderTexts(services, c.conversationId)).length, 0);
});

test('no reminder after staff revoke the link, and a revoke after a reminder revokes its link too', async (t) => {
  const clock = new TestClock();
  const { app, services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const revokedEarly = await createTestQuestionnaireConversation(services, { questionnaire: 'phq-9' });
  const revokedLater = await createTestQuestionnaireConversation(services, { questionnaire: 'phq-9', patient: { nhsNumber: '9990000026' } });
  clock.advance(DAY);
  await revokeConversation(services, { organisationId: revokedEarly.organisation.id, staffId: revokedEarly.staffId, conversationId: revokedEarly.conversationId, ip: '192.0.2.1' });

  clock.advance(2 * DAY);
  assert.equal((await runMaintenance(services)).questionnaireReminders, 1);
  assert.equal((await reminderTexts(services, revokedEarly.conversationId)).length, 0);
  const [day3] = await reminderTexts(services, revokedLater.conversationId);
  assert.ok(day3);

  await revokeConversation(services, { organisationId: revokedLater.organisation.id, staffId: revokedLater.staffId, conversationId: revokedLater.conversationId, ip: '192.0.2.1' });
  const opened = await app.inject({ method: 'GET', url: `/${day3.token}` });
  assert.match(textOf(opened.body), /has stopped this link, so it no longer works/);
  clock.advance(3 * DAY);
  assert.equal((await runMaintenance(services)).questionnaireReminders, 0);
});

test('no reminder once the link has expired: closing on day 5 gets day 3 only; closing in 2 days gets none', async (t) => {
  const clock = new TestClock();
  const { services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const fiveDays = await createTestQuestionnaireConversation(services, { questionnaire: 'phq-9', closesAfterDays: 5 });
  const twoDays = await createTestQuestionnaireConversation(services, { questionnaire: 'phq-9', closesAfterDays: 2, patient: { nhsNumber: '9990000026' } });
  const threeDays = await createTestQuestionnaireConversation(services, { questionnaire: 'phq-9', closesAfterDays: 3, patient: { nhsNumber: '9990000034' } });

  clock.advance(3 * DAY);
  assert.equal((await runMaintenance(services)).questionnaireReminders, 1);
  assert.equal((await reminderTexts(services, fiveDays.conversationId)).length, 1);
  assert.match((await reminderTexts(services, fiveDays.conversationId))[0]!.text, /by 10:00am on 1 December/);
  assert.equal((await reminderTexts(services, twoDays.conversationId)).length, 0);
  assert.equal((await reminderTexts(services, threeDays.conversationId)).length, 0, 'closes as day 3 begins');

  clock.advance(3 * DAY);
  assert.equal((await runMaintenance(services)).questionnaireReminders, 0, 'day 6 is after it closed');
  assert.deepEqual(await recorded(services, twoDays.conversationId), []);
});

test('a reminder that would leave less than 12 hours is not sent', async (t) => {
  const clock = new TestClock();
  const { services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const c = await createTestQuestionnaireConversation(services, { questionnaire: 'phq-9', closesAfterDays: 4 });
  // The job was down from day 2 until 13 hours before closing: day 3 still goes.
  clock.advance(3 * DAY + 11 * HOUR);
  assert.equal((await runMaintenance(services)).questionnaireReminders, 1);
  assert.equal((await reminderTexts(services, c.conversationId)).length, 1);

  const late = await createTestQuestionnaireConversation(services, { questionnaire: 'phq-9', closesAfterDays: 4, patient: { nhsNumber: '9990000026' } });
  clock.advance(3 * DAY + 13 * HOUR);
  assert.equal((await runMaintenance(services)).questionnaireReminders, 0);
  assert.equal((await reminderTexts(services, late.conversationId)).length, 0);
});

test('a job that was down past both days sends only day 6, and day 3 never goes later', async (t) => {
  const clock = new TestClock();
  const { services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const c = await createTestQuestionnaireConversation(services, { questionnaire: 'phq-9' });
  clock.advance(6 * DAY + 2 * HOUR);
  assert.equal((await runMaintenance(services)).questionnaireReminders, 1);
  assert.equal((await runMaintenance(services)).questionnaireReminders, 0);
  assert.equal((await reminderTexts(services, c.conversationId)).length, 1);
  assert.deepEqual(await recorded(services, c.conversationId), [
    { reminder: 'day-3', texted: false },
    { reminder: 'day-6', texted: true },
  ]);
  const [audit] = await reminderAudits(services, c.conversationId);
  assert.deepEqual({ ...(audit!.details as object), closes: undefined }, { reminder: 'day-6', skipped: ['day-3'], closes: undefined });
});

test('two maintenance runs at once send one reminder', async (t) => {
  const clock = new TestClock();
  const { services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const c = await createTestQuestionnaireConversation(services, { questionnaire: 'phq-9' });
  clock.advance(3 * DAY);
  const reports = await Promise.all([runMaintenance(services), runMaintenance(services), runMaintenance(services)]);
  assert.equal(reports.reduce((n, r) => n + r.questionnaireReminders, 0), 1);
  assert.equal((await reminderTexts(services, c.conversationId)).length, 1);
  assert.equal((await reminderAudits(services, c.conversationId)).length, 1);
});

test('a revoke under way when a reminder falls due wins: the reminder waits for it, then sends nothing (PostgreSQL)', async (t) => {
  const clock = new TestClock();
  const { services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  // PGlite has one connection: a transaction held open would stop the run altogether.
  if (services.database.kind !== 'postgres') return t.skip('needs concurrent connections');
  const c = await createTestQuestionnaireConversation(services, { questionnaire: 'phq-9' });
  clock.advance(3 * DAY);
  let commitRevoke!: () => void;
  let revoked!: () => void;
  const revokeDone = new Promise<void>((resolve) => (revoked = resolve));
  const revoking = services.db.transaction(async (tx) => {
    await revokeConversationLinks(tx, c.conversationId, clock.now());
    revoked();
    await new Promise<void>((resolve) => (commitRevoke = resolve));
  });
  await revokeDone;
  // The run finds the conversation (the revoke is not committed yet) and waits on its lock.
  const run = runMaintenance(services);
  await new Promise((resolve) => setTimeout(resolve, 300));
  commitRevoke();
  await revoking;
  assert.equal((await run).questionnaireReminders, 0);
  assert.equal((await reminderTexts(services, c.conversationId)).length, 0);
  assert.deepEqual(await recorded(services, c.conversationId), []);
});
