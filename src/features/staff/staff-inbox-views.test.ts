// The inbox a practice runs on, with two staff sessions: views and their counts, assigning, urgent,
// done and reopened by the patient, unread per person, "Also viewing", search, filters and pages; and
// the refusals (another organisation's staff, no CSRF token, signed out).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { and, eq } from 'drizzle-orm';
import { createTestApp, TestClock } from '../../../test/helpers/app.ts';
import { CookieJar, createTestConversation, createTestOrganisation, createTestPatient, createTestStaff } from '../../../test/helpers/factories.ts';
import { pageText, signInAsStaff, staffGet, staffPost } from '../../../test/helpers/staff.ts';
import { apiKeys, auditEvents, conversationReads, conversations, conversationViewers, outboundSms, staffUsers } from '../../platform/db/schema.ts';
import { insertItem, ITEM_KINDS_THAT_REOPEN } from '../conversations/conversations.repository.ts';
import { sendMessage } from '../messages/messages.service.ts';
import { runMaintenance } from '../maintenance/maintenance.service.ts';
import type { Services } from '../../services.ts';
import { INBOX_PAGE_SIZE } from './staff-inbox.service.ts';

async function twoStaff(services: Services, organisationId: string) {
  const jo = await createTestStaff(services, organisationId, { name: 'Jo Bloggs', role: 'receptionist' });
  const sam = await createTestStaff(services, organisationId, { name: 'Sam Carter', role: 'clinician' });
  return { jo, sam };
}

function patientReply(services: Services, conversationId: string, body: string, now: Date) {
  return insertItem(services.db, { conversationId, kind: 'patient_reply', body, createdAt: now });
}

const viewCounts = (html: string) => /Open \((\d+)\) Assigned to me \((\d+)\) Unassigned \((\d+)\) Done \((\d+)\)/.exec(pageText(html))?.slice(1).map(Number);

test('views and counts, assigning, urgent first, done then reopened by the patient, unread per staff member', async (t) => {
  const clock = new TestClock();
  const { app, services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const older = await createTestConversation(services, { replyMode: 'conversation' });
  const organisation = older.organisation;
  clock.advance(60_000);
  const newer = await createTestConversation(services, {
    organisation,
    replyMode: 'conversation',
    patient: { nhsNumber: '9990000026', givenName: 'Tom', familyName: 'Evans', mobileNumber: '+447700900002' },
  });
  const { jo, sam } = await twoStaff(services, organisation.id);
  const joJar = await signInAsStaff(app, jo.email, jo.password);
  const samJar = await signInAsStaff(app, sam.email, sam.password);

  // The default view is "open": everything not done; counts in the navigation.
  const first = await staffGet(app, joJar, '/staff');
  assert.equal(first.statusCode, 200);
  assert.match(first.body, /<title>Conversations –/);
  assert.deepEqual(viewCounts(first.body), [2, 0, 2, 0]);
  assert.match(first.body, /aria-current="page"[\s\S]*?Open \(2\)/);
  assert.match(first.body, /href="\/staff\?view=mine"/);
  const text = pageText(first.body);
  assert.ok(text.indexOf('Tom Evans') < text.indexOf('Priya Shah'), 'newest first');

  // Assign to me, then to a colleague.
  const toMe = await staffPost(app, joJar, `/staff/conversations/${older.conversationId}/assign`, { staffId: jo.id });
  assert.equal(toMe.statusCode, 303);
  assert.equal(toMe.headers.location, `/staff/conversations/${older.conversationId}?done=assigned`);
  const banner = pageText((await staffGet(app, joJar, toMe.headers.location!)).body);
  assert.match(banner, /Assigned to Jo Bloggs/);
  assert.match(banner, /Assigned to Jo Bloggs \(you\)\./);
  assert.deepEqual(viewCounts((await staffGet(app, joJar, '/staff')).body), [2, 1, 1, 0]);
  assert.match(pageText((await staffGet(app, joJar, '/staff?view=mine')).body), /Priya Shah/);
  assert.doesNotMatch(pageText((await staffGet(app, joJar, '/staff?view=mine')).body), /Tom Evans/);
  assert.deepEqual(viewCounts((await staffGet(app, samJar, '/staff')).body), [2, 0, 1, 0], "Sam's 'mine' is his own");

  assert.equal((await staffPost(app, joJar, `/staff/conversations/${newer.conversationId}/assign`, { staffId: sam.id })).statusCode, 303);
  assert.match(pageText((await staffGet(app, samJar, '/staff?view=mine')).body), /Tom Evans .* Assigned to Sam Carter/);
  assert.match(pageText((await staffGet(app, samJar, '/staff?view=unassigned')).body), /Every open conversation is assigned to someone/);

  // Refused: another organisation's staff id, a deactivated colleague, a made-up id; nothing changes.
  const elsewhere = await createTestOrganisation(services);
  const outsider = await createTestStaff(services, elsewhere.id, { name: 'Olly Outsider' });
  const gone = await createTestStaff(services, organisation.id, { name: 'Gwen Gone' });
  await services.db.update(staffUsers).set({ deactivatedAt: clock.now() }).where(eq(staffUsers.id, gone.id));
  for (const staffId of [outsider.id, gone.id, 'not-an-id']) {
    const refused = await staffPost(app, joJar, `/staff/conversations/${newer.conversationId}/assign`, { staffId });
    assert.equal(refused.statusCode, 400, staffId);
    assert.match(pageText(refused.body), /There is a problem Select someone who works at your organisation/);
  }
  const page = pageText((await staffGet(app, joJar, `/staff/conversations/${newer.conversationId}`)).body);
  assert.doesNotMatch(page, /Olly Outsider|Gwen Gone/, 'only active colleagues are offered');
  const [afterRefusals] = await services.db.select().from(conversations).where(eq(conversations.id, newer.conversationId));
  assert.equal(afterRefusals!.assignedStaffId, sam.id);

  // Unassign.
  assert.equal((await staffPost(app, joJar, `/staff/conversations/${newer.conversationId}/assign`, { staffId: '' })).statusCode, 303);
  assert.deepEqual(viewCounts((await staffGet(app, samJar, '/staff')).body), [2, 0, 1, 0]);
  const assigned = await services.db.select().from(auditEvents).where(eq(auditEvents.type, 'conversation.assigned'));
  assert.deepEqual(
    assigned.map((e) => e.details.to),
    [jo.id, sam.id, null],
  );
  assert.ok(assigned.every((e) => e.organisationId === organisation.id && e.conversationId !== null));

  // Urgent comes first; clearing it puts it back in date order.
  const urgent = await staffPost(app, samJar, `/staff/conversations/${older.conversationId}/urgent`, { urgent: 'yes' });
  assert.equal(urgent.headers.location, `/staff/conversations/${older.conversationId}?done=urgent`);
  assert.match(pageText((await staffGet(app, samJar, urgent.headers.location!)).body), /Marked as urgent/);
  let list = pageText((await staffGet(app, samJar, '/staff')).body);
  assert.ok(list.indexOf('Priya Shah') < list.indexOf('Tom Evans'), 'urgent first');
  assert.match(list, /Priya Shah Urgent/);
  await staffPost(app, samJar, `/staff/conversations/${older.conversationId}/urgent`, { urgent: 'no' });
  list = pageText((await staffGet(app, samJar, '/staff')).body);
  assert.ok(list.indexOf('Tom Evans') < list.indexOf('Priya Shah'));
  const badUrgent = await staffPost(app, samJar, `/staff/conversations/${older.conversationId}/urgent`, { urgent: 'maybe' });
  assert.equal(badUrgent.statusCode, 400);
  assert.match(pageText(badUrgent.body), /There is a problem The page was out of date\. Choose Mark as urgent again/, 'the page again with an error summary');
  const badDone = await staffPost(app, samJar, `/staff/conversations/${older.conversationId}/done`, {});
  assert.equal(badDone.statusCode, 400);
  assert.match(pageText(badDone.body), /There is a problem The page was out of date\. Choose Mark as done again/);
  const noAssignee = await staffPost(app, samJar, `/staff/conversations/${older.conversationId}/assign`, {});
  assert.equal(noAssignee.statusCode, 400);
  assert.match(pageText(noAssignee.body), /There is a problem Select who to assign it to/);
  assert.deepEqual(
    (await services.db.select().from(auditEvents).where(eq(auditEvents.conversationId, older.conversationId))).map((e) => e.type).filter((x) => x.startsWith('conversation.urgent')),
    ['conversation.urgent_set', 'conversation.urgent_cleared'],
  );

  // Done, then the patient replies: it is open again, and unread.
  const done = await staffPost(app, samJar, `/staff/conversations/${newer.conversationId}/done`, { done: 'yes' });
  assert.equal(done.headers.location, `/staff/conversations/${newer.conversationId}?done=marked-done`);
  assert.match(pageText((await staffGet(app, samJar, done.headers.location!)).body), /Marked as done .* Open again/);
  assert.deepEqual(viewCounts((await staffGet(app, samJar, '/staff')).body), [1, 0, 0, 1]);
  assert.match(pageText((await staffGet(app, samJar, '/staff?view=done')).body), /Tom Evans Done/);
  assert.doesNotMatch(pageText((await staffGet(app, samJar, '/staff')).body), /Tom Evans/);
  clock.advance(60_000);
  await patientReply(services, newer.conversationId, 'One more question', clock.now());
  assert.deepEqual(viewCounts((await staffGet(app, samJar, '/staff')).body), [2, 0, 1, 0], 'a patient item reopens it');
  // A document being opened is not something the patient sent: it reopens nothing.
  assert.ok(!ITEM_KINDS_THAT_REOPEN.has('document_opened'));
  for (const kind of services.itemKinds.all()) for (const item of kind.patientItemKinds) assert.ok(ITEM_KINDS_THAT_REOPEN.has(item) || item === 'document_opened', item);
  await staffPost(app, samJar, `/staff/conversations/${newer.conversationId}/done`, { done: 'yes' });
  await staffPost(app, samJar, `/staff/conversations/${newer.conversationId}/done`, { done: 'no' });
  assert.deepEqual(
    (await services.db.select().from(auditEvents).where(eq(auditEvents.conversationId, newer.conversationId))).map((e) => e.type).filter((x) => x === 'conversation.done' || x === 'conversation.reopened'),
    ['conversation.done', 'conversation.done', 'conversation.reopened'],
  );

  // Unread differs per staff member: Sam opens it after the reply, Jo does not.
  assert.equal((await staffGet(app, samJar, `/staff/conversations/${newer.conversationId}`)).statusCode, 200);
  assert.match(pageText((await staffGet(app, joJar, '/staff')).body), /Tom Evans Unread/);
  assert.doesNotMatch(pageText((await staffGet(app, samJar, '/staff')).body), /Tom Evans Unread/);
  const reads = await services.db.select().from(conversationReads).where(eq(conversationReads.conversationId, newer.conversationId));
  assert.deepEqual(reads.map((r) => r.staffUserId).sort(), [jo.id, sam.id].sort());
  // An older tab cannot move the read mark back.
  const samRead = reads.find((r) => r.staffUserId === sam.id)!;
  const { markConversationRead } = await import('../conversations/conversations.repository.ts');
  await markConversationRead(services.db, newer.conversationId, sam.id, 0, clock.now());
  const [still] = await services.db
    .select()
    .from(conversationReads)
    .where(and(eq(conversationReads.conversationId, newer.conversationId), eq(conversationReads.staffUserId, sam.id)));
  assert.equal(still!.lastReadSeq, samRead.lastReadSeq);
});

test('also viewing names the other staff member, not yourself, and goes after 2 minutes', async (t) => {
  const clock = new TestClock();
  const { app, services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const a = await createTestConversation(services);
  const { jo, sam } = await twoStaff(services, a.organisation.id);
  const joJar = await signInAsStaff(app, jo.email, jo.password);
  const samJar = await signInAsStaff(app, sam.email, sam.password);
  const url = `/staff/conversations/${a.conversationId}`;

  assert.doesNotMatch(pageText((await staffGet(app, joJar, url)).body), /Also viewing/);
  clock.advance(30_000);
  const samPage = await staffGet(app, samJar, url);
  assert.match(pageText(samPage.body), /Also viewing: Jo Bloggs/);
  assert.match(samPage.body, /id="also-viewing" aria-live="polite"/);
  assert.match(samPage.body, /<script type="module" src="\/assets\/app\/conversation-viewers.js"><\/script>/);
  assert.match(pageText(samPage.body), /Also viewing: Jo Bloggs NHS number/, 'not yourself');

  const poll = await staffGet(app, joJar, `${url}/viewers`);
  assert.equal(poll.statusCode, 200);
  assert.equal(poll.headers['cache-control'], 'no-store');
  assert.deepEqual(poll.json(), { viewers: ['Sam Carter'] });

  // The poll refreshed Jo's own row: 100 s on, Sam still sees Jo, and Jo no longer sees Sam after 2 minutes.
  clock.advance(100_000);
  assert.deepEqual((await staffGet(app, samJar, `${url}/viewers`)).json(), { viewers: ['Jo Bloggs'] });
  clock.advance(121_000);
  assert.deepEqual((await staffGet(app, joJar, `${url}/viewers`)).json(), { viewers: [] });
  assert.doesNotMatch(pageText((await staffGet(app, joJar, url)).body), /Also viewing/);

  // The script is served from /assets/app/ under the app's CSP (scripts from 'self' only).
  const script = await app.inject({ method: 'GET', url: '/assets/app/conversation-viewers.js' });
  assert.equal(script.statusCode, 200);
  assert.match(String(script.headers['content-type']), /javascript/);

  // Another organisation's staff get 404 and leave no row; signed out gets no names.
  const other = await createTestStaff(services, (await createTestOrganisation(services)).id);
  const otherJar = await signInAsStaff(app, other.email, other.password);
  assert.equal((await staffGet(app, otherJar, `${url}/viewers`)).statusCode, 404);
  assert.equal((await staffGet(app, otherJar, url)).statusCode, 404);
  assert.equal((await app.inject({ method: 'GET', url: `${url}/viewers` })).statusCode, 303);
  const rows = await services.db.select().from(conversationViewers);
  assert.ok(rows.every((r) => r.staffUserId !== other.id));

  // Maintenance deletes rows not refreshed for 10 minutes.
  clock.advance(10 * 60_000 + 1_000);
  const report = await runMaintenance(services);
  assert.equal(report.conversationViewers, 2);
  assert.equal((await services.db.select().from(conversationViewers)).length, 0);
});

test('search by patient, waiting filters, and pages of 50 that keep the filters', async (t) => {
  const clock = new TestClock();
  const { app, services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const organisation = await createTestOrganisation(services);
  const { jo } = await twoStaff(services, organisation.id);
  const priya = await createTestPatient(services, organisation.id);
  const tom = await createTestPatient(services, organisation.id, { nhsNumber: '9990000026', givenName: 'Tom', familyName: 'Evans', mobileNumber: '+447700900002' });
  const ids: string[] = [];
  for (let i = 1; i <= INBOX_PAGE_SIZE + 1; i++) {
    clock.advance(60_000);
    const sent = await sendMessage(services, { organisationId: organisation.id, patient: priya, body: `Message ${i}`, replyMode: 'conversation', sentBy: { staffId: jo.id } });
    ids.push(sent.conversationId);
  }
  clock.advance(60_000);
  const toTom = await sendMessage(services, { organisationId: organisation.id, patient: tom, body: 'Hello Tom', replyMode: 'conversation', sentBy: { staffId: jo.id } });
  // Tom's text was not delivered; one of Priya's has a reply waiting.
  await services.db.update(outboundSms).set({ status: 'permanent_failure' }).where(eq(outboundSms.conversationId, toTom.conversationId));
  await patientReply(services, ids[3]!, 'Thanks', clock.now());
  const jar = await signInAsStaff(app, jo.email, jo.password);

  const byName = await staffGet(app, jar, '/staff?patient=evans');
  assert.match(byName.body, /<title>Conversations: 1 result –/);
  assert.match(pageText(byName.body), /Tom Evans/);
  assert.doesNotMatch(pageText(byName.body), /Priya Shah (Unread )?NHS/);
  assert.match(pageText((await staffGet(app, jar, '/staff?patient=999+000+0026')).body), /Tom Evans/);
  assert.doesNotMatch(pageText((await staffGet(app, jar, '/staff?patient=9990000026')).body), /Priya Shah (Unread )?NHS/);
  const none = await staffGet(app, jar, '/staff?patient=Nobody%25');
  assert.match(pageText(none.body), /No open conversations with a patient matching ‘Nobody%’/);

  const reply = pageText((await staffGet(app, jar, '/staff?waiting=reply')).body);
  assert.equal((reply.match(/Priya Shah (Unread )?NHS/g) ?? []).length, 1);
  assert.doesNotMatch(reply, /Tom Evans/);
  const notDelivered = pageText((await staffGet(app, jar, '/staff?waiting=text-not-delivered')).body);
  assert.match(notDelivered, /Tom Evans .* Not delivered/);
  assert.doesNotMatch(notDelivered, /Priya Shah (Unread )?NHS/);
  assert.match(pageText((await staffGet(app, jar, '/staff?waiting=answers')).body), /No open conversations are waiting for: questionnaire answers/);
  // The old address of the "not opened" list still works.
  assert.match(pageText((await staffGet(app, jar, '/staff?show=not-opened')).body), /Every document sent more than \d+ days ago has been opened/);

  // 52 open conversations: page 1 has 50 and a link to page 2 that keeps the search.
  const page1 = await staffGet(app, jar, '/staff?patient=Priya');
  assert.equal((page1.body.match(/href="\/staff\/conversations\//g) ?? []).length, INBOX_PAGE_SIZE);
  assert.match(page1.body, /href="\/staff\?patient=Priya&amp;page=2"/);
  const page2 = await staffGet(app, jar, '/staff?patient=Priya&page=2');
  assert.equal((page2.body.match(/href="\/staff\/conversations\//g) ?? []).length, 1);
  assert.match(page2.body, /href="\/staff\?patient=Priya&amp;page=1"/);
  // The views keep the search too.
  assert.match(page1.body, /href="\/staff\?view=done&amp;patient=Priya"/);

  const audit = await services.db.select().from(auditEvents).where(eq(auditEvents.type, 'inbox.viewed'));
  assert.ok(audit.every((e) => !JSON.stringify(e.details).includes('evans')), 'the search terms are not audited');
});

test('refusals, the revoke confirmation, link activity and API keys named', async (t) => {
  const clock = new TestClock();
  const { app, services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const a = await createTestConversation(services);
  const { jo } = await twoStaff(services, a.organisation.id);
  const joJar = await signInAsStaff(app, jo.email, jo.password);
  const other = await createTestStaff(services, (await createTestOrganisation(services)).id);
  const otherJar = await signInAsStaff(app, other.email, other.password);
  const base = `/staff/conversations/${a.conversationId}`;

  // Another organisation's staff: 404 and nothing changes.
  for (const [path, form] of [
    ['/assign', { staffId: other.id }],
    ['/urgent', { urgent: 'yes' }],
    ['/done', { done: 'yes' }],
  ] as const) {
    assert.equal((await staffPost(app, otherJar, `${base}${path}`, form)).statusCode, 404, path);
  }
  assert.equal((await staffGet(app, otherJar, `${base}/revoke`)).statusCode, 404);
  // No CSRF token, and signed out: refused.
  assert.equal((await staffPost(app, joJar, `${base}/done`, { done: 'yes', _csrf: null })).statusCode, 403);
  const signedOut = await staffPost(app, new CookieJar(), `${base}/done`, { done: 'yes' });
  assert.ok([303, 403].includes(signedOut.statusCode), String(signedOut.statusCode));
  const [row] = await services.db.select().from(conversations).where(eq(conversations.id, a.conversationId));
  assert.deepEqual([row!.assignedStaffId, row!.urgentSince, row!.doneAt], [null, null, null]);

  // Revoking asks first; the conversation page links to the question.
  const page = await staffGet(app, joJar, base);
  assert.match(page.body, new RegExp(`href="${base}/revoke"`));
  assert.doesNotMatch(page.body, new RegExp(`action="${base}/revoke"`));
  const confirm = await staffGet(app, joJar, `${base}/revoke`);
  assert.equal(confirm.statusCode, 200);
  assert.match(pageText(confirm.body), /Are you sure you want to revoke the link\? .* stops working now .* they will be told to contact/);
  assert.match(confirm.body, new RegExp(`action="${base}/revoke"`));
  assert.equal((await staffPost(app, joJar, `${base}/revoke`)).statusCode, 303);
  assert.match(pageText((await staffGet(app, joJar, base)).body), /Link revoked/);
  assert.match(pageText((await staffGet(app, joJar, '/staff')).body), /Priya Shah .* Link Link revoked/);
  assert.match(pageText((await staffGet(app, joJar, `${base}/revoke`)).body), /There is no link to revoke/);

  // Repeated reads are grouped in the link activity.
  for (let i = 0; i < 4; i++) {
    clock.advance(60_000);
    await services.db.insert(auditEvents).values({ type: 'message.read', actorType: 'patient_link', conversationId: a.conversationId, organisationId: a.organisation.id, occurredAt: clock.now() });
  }
  await services.db.insert(auditEvents).values({ type: 'nhs_login.verified', actorType: 'patient_link', conversationId: a.conversationId, organisationId: a.organisation.id, occurredAt: clock.now() });
  const activity = pageText((await staffGet(app, joJar, base)).body);
  assert.match(activity, /Message read 4 times, last at 10:04am/);
  assert.match(activity, /Patient confirmed who they are with NHS login/);

  // A message sent through the API names its key.
  const [key] = await services.db
    .insert(apiKeys)
    .values({ organisationId: a.organisation.id, name: 'GP system', prefix: `test${process.pid}`, secretHash: 'x' })
    .returning();
  const viaApi = await sendMessage(services, { organisationId: a.organisation.id, patient: a.patient, body: 'From the GP system', replyMode: 'none', sentBy: { apiKeyId: key!.id } });
  assert.match(pageText((await staffGet(app, joJar, `/staff/conversations/${viaApi.conversationId}`)).body), /API key ‘GP system’/);
});

test('two staff with the page open: the second to assign is told, not silently overwritten; done from a page older than the patient’s reply is refused', async (t) => {
  const clock = new TestClock();
  const { app, services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const c = await createTestConversation(services, { replyMode: 'conversation' });
  const { jo, sam } = await twoStaff(services, c.organisation.id);
  const joJar = await signInAsStaff(app, jo.email, jo.password);
  const samJar = await signInAsStaff(app, sam.email, sam.password);
  const url = `/staff/conversations/${c.conversationId}`;
  const hidden = (html: string, name: string) => new RegExp(`name="${name}" value="([^"]*)"`).exec(html)?.[1];

  // Both open the page while it is unassigned.
  const joPage = (await staffGet(app, joJar, url)).body;
  const samPage = (await staffGet(app, samJar, url)).body;
  assert.equal(hidden(joPage, 'assignedOnPage'), '');
  assert.equal((await staffPost(app, joJar, `${url}/assign`, { staffId: jo.id, assignedOnPage: hidden(joPage, 'assignedOnPage')! })).statusCode, 303);
  const late = await staffPost(app, samJar, `${url}/assign`, { staffId: sam.id, assignedOnPage: hidden(samPage, 'assignedOnPage')! });
  assert.equal(late.statusCode, 400);
  assert.match(pageText(late.body), /There is a problem Someone else changed who this is assigned to since you opened the page/);
  assert.match(pageText(late.body), /Assigned to Jo Bloggs|Jo Bloggs/);
  let [row] = await services.db.select().from(conversations).where(eq(conversations.id, c.conversationId));
  assert.equal(row!.assignedStaffId, jo.id, 'Jo keeps it');
  const assigned = await services.db.select().from(auditEvents).where(eq(auditEvents.type, 'conversation.assigned'));
  assert.deepEqual(assigned.map((e) => e.details), [{ to: jo.id, from: null }]);

  // Sam reads it; the patient replies; Sam's older page says done: refused, and the reply stays open.
  const before = (await staffGet(app, samJar, url)).body;
  clock.advance(60_000);
  await patientReply(services, c.conversationId, 'One more thing', clock.now());
  const refused = await staffPost(app, samJar, `${url}/done`, { done: 'yes', seenSeq: hidden(before, 'seenSeq')! });
  assert.equal(refused.statusCode, 400);
  assert.match(pageText(refused.body), /There is a problem Not marked as done: the patient has sent something new since you opened this page/);
  [row] = await services.db.select().from(conversations).where(eq(conversations.id, c.conversationId));
  assert.equal(row!.doneAt, null);
  // From the page that shows the reply, done works.
  const after = (await staffGet(app, samJar, url)).body;
  assert.equal((await staffPost(app, samJar, `${url}/done`, { done: 'yes', seenSeq: hidden(after, 'seenSeq')! })).statusCode, 303);
  [row] = await services.db.select().from(conversations).where(eq(conversations.id, c.conversationId));
  assert.ok(row!.doneAt);
});
