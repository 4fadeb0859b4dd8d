// The staff inbox: own organisation only, newest first, paged, with status and waiting replies.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eq } from 'drizzle-orm';
import { createTestApp, TestClock } from '../../../test/helpers/app.ts';
import { createTestConversation, createTestOrganisation, createTestPatient, createTestStaff } from '../../../test/helpers/factories.ts';
import { pageText, signInAsStaff, staffGet } from '../../../test/helpers/staff.ts';
import { auditEvents, conversationItems, outboundSms } from '../../platform/db/schema.ts';
import { sendMessage } from '../messages/messages.service.ts';
import { INBOX_PAGE_SIZE } from './staff-inbox.service.ts';

test('the inbox lists the organisation’s conversations newest first with status and waiting replies', async (t) => {
  const clock = new TestClock();
  const { app, services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const first = await createTestConversation(services, { replyMode: 'none' });
  clock.advance(60_000);
  const second = await createTestConversation(services, {
    organisation: first.organisation,
    replyMode: 'conversation',
    patient: { nhsNumber: '9990000026', givenName: 'Tom', familyName: 'Evans', mobileNumber: '+447700900002' },
  });
  // Another organisation's conversation is never listed.
  const other = await createTestConversation(services, { patient: { givenName: 'Zed', familyName: 'Other' } });
  await services.db.update(outboundSms).set({ status: 'delivered' }).where(eq(outboundSms.conversationId, second.conversationId));
  await services.db.insert(conversationItems).values({ conversationId: second.conversationId, kind: 'patient_reply', body: 'Thank you' });

  const staff = await createTestStaff(services, first.organisation.id);
  const jar = await signInAsStaff(app, staff.email, staff.password);
  const inbox = await staffGet(app, jar, '/staff');
  assert.equal(inbox.statusCode, 200);
  const text = pageText(inbox.body);
  assert.match(text, /Message a patient/);
  assert.match(text, /Tom Evans Unread NHS number 999 000 0026 Sent .* What was sent Message: Conversation Text message Delivered Patient reply Reply waiting Link Link works/);
  assert.match(text, /Priya Shah NHS number 999 000 0018 Sent .* What was sent Message: No reply Text message Queued Patient reply None Link Link works Assigned to Unassigned/);
  assert.ok(text.indexOf('Tom Evans') < text.indexOf('Priya Shah'), 'newest first');
  assert.doesNotMatch(text, /Zed Other/);
  assert.doesNotMatch(inbox.body, new RegExp(other.conversationId));
  assert.match(inbox.body, new RegExp(`href="/staff/conversations/${second.conversationId}"`));

  // Once staff have opened the conversation, the reply is no longer waiting.
  assert.equal((await staffGet(app, jar, `/staff/conversations/${second.conversationId}`)).statusCode, 200);
  const after = pageText((await staffGet(app, jar, '/staff')).body);
  assert.match(after, /Tom Evans .* Patient reply 1 reply/);
  assert.doesNotMatch(after, /Reply waiting/);
  // A newer reply is waiting again.
  await services.db.insert(conversationItems).values({ conversationId: second.conversationId, kind: 'patient_reply', body: 'One more thing' });
  assert.match(pageText((await staffGet(app, jar, '/staff')).body), /Reply waiting/);
});

test('the inbox shows 50 conversations a page with links to older and newer ones', async (t) => {
  const clock = new TestClock();
  const { app, services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const organisation = await createTestOrganisation(services);
  const patient = await createTestPatient(services, organisation.id);
  const staff = await createTestStaff(services, organisation.id);
  for (let i = 1; i <= INBOX_PAGE_SIZE + 1; i++) {
    clock.advance(60_000);
    await sendMessage(services, { organisationId: organisation.id, patient, body: `Message ${i}`, replyMode: 'none', sentBy: { staffId: staff.id } });
  }
  const jar = await signInAsStaff(app, staff.email, staff.password);
  const page1 = await staffGet(app, jar, '/staff');
  assert.equal((page1.body.match(/href="\/staff\/conversations\//g) ?? []).length, INBOX_PAGE_SIZE);
  assert.match(page1.body, /href="\/staff\?page=2"/);
  assert.match(pageText(page1.body), /Older conversations/);
  assert.doesNotMatch(page1.body, /href="\/staff\?page=0"/);

  const page2 = await staffGet(app, jar, '/staff?page=2');
  assert.equal((page2.body.match(/href="\/staff\/conversations\//g) ?? []).length, 1);
  assert.match(page2.body, /href="\/staff\?page=1"/);
  assert.match(pageText(page2.body), /Newer conversations/);

  for (const bad of ['/staff?page=abc', '/staff?page=-1', '/staff?page=99999999999']) {
    const res = await staffGet(app, jar, bad);
    assert.equal(res.statusCode, 200, bad);
  }
  assert.match(pageText((await staffGet(app, jar, '/staff?page=9')).body), /There are no more conversations/);
});

test('each inbox page staff see is audited once: who, which organisation, which page and which conversations', async (t) => {
  const clock = new TestClock();
  const { app, services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const first = await createTestConversation(services);
  clock.advance(60_000);
  const second = await createTestConversation(services, { organisation: first.organisation, patient: { nhsNumber: '9990000026', familyName: 'Evans' } });
  const other = await createTestConversation(services);
  const staff = await createTestStaff(services, first.organisation.id);
  const jar = await signInAsStaff(app, staff.email, staff.password);
  const inboxEvents = () => services.db.select().from(auditEvents).where(eq(auditEvents.type, 'inbox.viewed')).orderBy(auditEvents.id);

  assert.equal((await staffGet(app, jar, '/staff')).statusCode, 200);
  let events = await inboxEvents();
  assert.equal(events.length, 1);
  const [event] = events;
  assert.equal(event!.actorType, 'staff');
  assert.equal(event!.actorId, staff.id);
  assert.equal(event!.ip, '127.0.0.1');
  assert.equal(event!.organisationId, first.organisation.id);
  assert.equal(event!.patientId, null);
  assert.equal(event!.conversationId, null, 'not a conversation opened: "reply waiting" reads that column');
  assert.deepEqual(event!.details, { page: 1, view: 'open', waiting: null, searched: false, conversationIds: [second.conversationId, first.conversationId] });
  const json = JSON.stringify(event!.details);
  for (const term of [first.patient.nhsNumber, '9990000026', 'Shah', 'Evans', 'Priya', other.conversationId]) {
    assert.equal(json.includes(term), false, `the audit details hold ${term}`);
  }

  // A page past the end shows no one, and is still a look.
  assert.equal((await staffGet(app, jar, '/staff?page=3')).statusCode, 200);
  events = await inboxEvents();
  assert.equal(events.length, 2);
  assert.deepEqual(events[1]!.details, { page: 3, view: 'open', waiting: null, searched: false, conversationIds: [] });
  // Signed out, there is no inbox and no event.
  assert.equal((await app.inject({ method: 'GET', url: '/staff' })).statusCode, 303);
  assert.equal((await inboxEvents()).length, 2);
});

test('searching the inbox by patient is recorded as a patient search: which patients it showed, never the terms', async (t) => {
  const clock = new TestClock();
  const { app, services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const priya = await createTestConversation(services);
  const tom = await createTestConversation(services, { organisation: priya.organisation, patient: { nhsNumber: '9990000026', givenName: 'Tom', familyName: 'Evans', mobileNumber: '+447700900002' } });
  const staff = await createTestStaff(services, priya.organisation.id);
  const jar = await signInAsStaff(app, staff.email, staff.password);
  const searches = () => services.db.select().from(auditEvents).where(eq(auditEvents.type, 'patient.searched')).orderBy(auditEvents.id);

  assert.equal((await staffGet(app, jar, '/staff?patient=Evans')).statusCode, 200);
  assert.equal((await staffGet(app, jar, '/staff?patient=999%20000%200018')).statusCode, 200);
  assert.equal((await staffGet(app, jar, '/staff?patient=Nobody')).statusCode, 200);
  assert.equal((await staffGet(app, jar, '/staff')).statusCode, 200, 'no search, no search event');
  const events = await searches();
  assert.deepEqual(
    events.map((e) => e.details),
    [
      { searchBy: 'inbox-name', results: 1, patientIds: [tom.patient.id] },
      { searchBy: 'inbox-nhs-number', results: 1, patientIds: [priya.patient.id] },
      { searchBy: 'inbox-name', results: 0, patientIds: [] },
    ],
  );
  for (const e of events) {
    assert.equal(e.actorId, staff.id);
    assert.equal(e.organisationId, priya.organisation.id);
    assert.doesNotMatch(JSON.stringify(e.details), /Evans|9990000018|Nobody/);
  }
});
