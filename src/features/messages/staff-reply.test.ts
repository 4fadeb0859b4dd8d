// Staff replying in a 'conversation' message: one staff item, one 'staff_reply' text with a working
// link to the same conversation, the thread in order on both sides; and every way it is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { and, eq } from 'drizzle-orm';
import { createTestApp, TestClock, type TestApp } from '../../../test/helpers/app.ts';
import { CookieJar, createTestConversation, createTestOrganisation, createTestStaff } from '../../../test/helpers/factories.ts';
import { firstDevice, get, sendReply, textOf } from '../../../test/helpers/patient.ts';
import { csrfTokenFor, errorSummaryItems, pageText, signInAsStaff, staffGet, staffPost } from '../../../test/helpers/staff.ts';
import { auditEvents, conversationItems, conversations, links, outboundSms } from '../../platform/db/schema.ts';
import { findLinkByToken } from '../links/links.service.ts';
import type { Organisation } from '../organisations/organisations.service.ts';
import { renderSms } from '../sms/sms-texts.ts';
import type { ReplyMode } from './message.kind.ts';

async function setup(t: { after(fn: () => Promise<void>): void }, opts: { replyMode?: ReplyMode; clock?: TestClock; config?: Record<string, string> } = {}) {
  const ta = await createTestApp({ now: (opts.clock ?? new TestClock()).now, config: opts.config });
  t.after(ta.close);
  const organisation = await createTestOrganisation(ta.services, { name: 'Demo Surgery' });
  const sent = await createTestConversation(ta.services, { organisation, replyMode: opts.replyMode ?? 'conversation', body: 'Please book a blood test.' });
  const { staff, jar } = await staffOf(ta, organisation, 'Sam Carter');
  return { ta, app: ta.app, services: ta.services, organisation, sent, staff, jar, url: `/staff/conversations/${sent.conversationId}/reply` };
}

async function staffOf(ta: TestApp, organisation: Organisation, name: string) {
  const staff = await createTestStaff(ta.services, organisation.id, { name });
  return { staff, jar: await signInAsStaff(ta.app, staff.email, staff.password) };
}

async function replyTexts(ta: TestApp, conversationId: string) {
  return ta.services.db
    .select()
    .from(outboundSms)
    .where(and(eq(outboundSms.conversationId, conversationId), eq(outboundSms.kind, 'staff_reply')));
}

async function itemsOf(ta: TestApp, conversationId: string) {
  return ta.services.db.select().from(conversationItems).where(eq(conversationItems.conversationId, conversationId)).orderBy(conversationItems.seq);
}

/** Nothing was stored and nothing texted: the conversation still has only its first message. */
async function assertNothingSent(ta: TestApp, conversationId: string) {
  assert.equal((await itemsOf(ta, conversationId)).length, 1);
  assert.deepEqual(await replyTexts(ta, conversationId), []);
  assert.deepEqual(await ta.services.db.select().from(auditEvents).where(eq(auditEvents.type, 'message.staff_replied')), []);
}

test('a staff reply is one item and one text with a working link to the same conversation; both sides see the thread in order', async (t) => {
  const { ta, app, services, sent, staff, jar, url } = await setup(t);
  const patientJar = await firstDevice(app, sent.token);
  assert.equal((await sendReply(app, sent.token, patientJar, 'When can I come in?')).statusCode, 303);
  // Done before the reply: the reply does not take it out of "Done" (only the patient's items do).
  assert.equal((await staffPost(app, jar, `/staff/conversations/${sent.conversationId}/done`, { done: 'yes' })).statusCode, 303);

  const page = await staffGet(app, jar, `/staff/conversations/${sent.conversationId}`);
  assert.equal(page.statusCode, 200);
  assert.match(pageText(page.body), /Reply to Priya Shah Your reply Priya Shah gets a text message to say you have replied/);
  assert.match(page.body, new RegExp(`action="/staff/conversations/${sent.conversationId}/reply"`));
  assert.match(page.body, /name="replyBody"/);
  assert.match(page.body, /data-module="nhsuk-character-count"/);

  const res = await staffPost(app, jar, url, { replyBody: 'Any weekday morning.\r\nThe clinic opens at 8am.' });
  assert.equal(res.statusCode, 303);
  assert.equal(res.headers.location, `/staff/conversations/${sent.conversationId}?done=replied`);

  const items = await itemsOf(ta, sent.conversationId);
  assert.deepEqual(
    items.map((i) => [i.kind, i.body]),
    [
      ['staff_message', 'Please book a blood test.'],
      ['patient_reply', 'When can I come in?'],
      ['staff_message', 'Any weekday morning.\nThe clinic opens at 8am.'],
    ],
  );
  assert.equal(items[2]!.authorStaffId, staff.id);
  const [conversation] = await services.db.select().from(conversations).where(eq(conversations.id, sent.conversationId));
  assert.notEqual(conversation!.doneAt, null, 'still done');

  const texts = await replyTexts(ta, sent.conversationId);
  assert.equal(texts.length, 1);
  const text = renderSms('staff_reply', texts[0]!.personalisation);
  const match = /^Demo Surgery has replied\. Open it here: http:\/\/localhost:3000\/([A-Za-z0-9_-]+)$/.exec(text);
  assert.ok(match, text);
  assert.equal(texts[0]!.phoneE164, sent.patient.mobileE164);
  assert.doesNotMatch(text, /weekday/, 'the text never carries the reply');
  const newToken = match[1]!;
  const newLink = await findLinkByToken(services.db, newToken);
  const firstLink = await findLinkByToken(services.db, sent.token);
  assert.equal(newLink!.conversationId, sent.conversationId);
  assert.equal(newLink!.id, texts[0]!.linkId);
  assert.equal(newLink!.expiresAt.getTime(), firstLink!.expiresAt.getTime(), 'the reply does not keep the conversation open longer');
  assert.equal(firstLink!.revokedAt, null, 'the first link keeps working');

  const [audit] = await services.db.select().from(auditEvents).where(eq(auditEvents.type, 'message.staff_replied'));
  assert.equal(audit!.actorId, staff.id);
  assert.equal(audit!.conversationId, sent.conversationId);
  assert.equal(audit!.patientId, sent.patient.id);
  assert.deepEqual(audit!.details, { conversationId: sent.conversationId, itemId: items[2]!.id });
  assert.doesNotMatch(JSON.stringify(audit), /weekday|clinic/i, 'never the body');

  const after = pageText((await staffGet(app, jar, res.headers.location)).body);
  assert.match(after, /Reply sent Priya Shah will get a text message to say you have replied/);
  assert.match(after, /Message from Staff Member \d+ .* Please book a blood test\. .*Reply from Priya Shah .* When can I come in\? .*Message from Sam Carter .* Any weekday morning\. The clinic opens at 8am\./);
  assert.match(after, /Reply sent, with a new link/);
  assert.match(after, /Staff replied, with a new link/);

  // The new link opens the same conversation, the whole thread in order, and the patient can reply again.
  const newJar = await firstDevice(app, newToken);
  const patientPage = textOf((await get(app, `/${newToken}/conversation`, newJar)).body);
  assert.match(patientPage, /Please book a blood test\. .*Replies .*You replied on .* When can I come in\? .*Demo Surgery replied on .* Any weekday morning\. The clinic opens at 8am\./);
  assert.equal((await sendReply(app, newToken, newJar, 'Thursday then.')).statusCode, 303);
  assert.equal((await staffPost(app, jar, url, { replyBody: 'See you on Thursday.' })).statusCode, 303);
  assert.equal((await replyTexts(ta, sent.conversationId)).length, 2);
  // The first link, on the first device, shows the same thread.
  const thread = textOf((await get(app, `/${sent.token}/conversation`, patientJar)).body);
  assert.match(thread, /When can I come in\? .*Any weekday morning\. .*Thursday then\. .*See you on Thursday\./);
  assert.match(thread, /Reply to Demo Surgery/, 'the patient may still reply');
});

for (const replyMode of ['once', 'none'] as const) {
  test(`a message with replyMode '${replyMode}' takes no staff reply`, async (t) => {
    const { ta, app, sent, jar, url } = await setup(t, { replyMode });
    const page = await staffGet(app, jar, `/staff/conversations/${sent.conversationId}`);
    assert.doesNotMatch(page.body, /name="replyBody"/);
    assert.doesNotMatch(pageText(page.body), /Reply to Priya Shah/);
    const res = await staffPost(app, jar, url, { replyBody: 'Hello' });
    assert.equal(res.statusCode, 400);
    assert.match(pageText(res.body), /Your reply has not been sent You cannot reply because this message does not take replies as a conversation\. Send a new message instead\./);
    await assertNothingSent(ta, sent.conversationId);
  });
}

test('a revoked link takes no staff reply; the page says why', async (t) => {
  const { ta, app, sent, jar, url } = await setup(t);
  assert.equal((await staffPost(app, jar, `/staff/conversations/${sent.conversationId}/revoke`)).statusCode, 303);
  const page = pageText((await staffGet(app, jar, `/staff/conversations/${sent.conversationId}`)).body);
  assert.match(page, /Reply to Priya Shah You cannot reply because the link has been revoked\. Send a new message instead\./);
  const res = await staffPost(app, jar, url, { replyBody: 'Hello' });
  assert.equal(res.statusCode, 400);
  assert.match(pageText(res.body), /Your reply has not been sent You cannot reply because the link has been revoked\. .*What you wrote: Hello/);
  await assertNothingSent(ta, sent.conversationId);
});

test('an expired link takes no staff reply', async (t) => {
  const clock = new TestClock();
  const { ta, app, sent, url } = await setup(t, { clock });
  clock.advance(8 * 86_400_000);
  // Eight days on, the morning's staff session has long ended too.
  const { jar } = await staffOf(ta, sent.organisation, 'Robin Late');
  const page = pageText((await staffGet(app, jar, `/staff/conversations/${sent.conversationId}`)).body);
  assert.match(page, /You cannot reply because the link has expired\. Send a new message instead\./);
  const res = await staffPost(app, jar, url, { replyBody: 'Hello' });
  assert.equal(res.statusCode, 400);
  assert.match(pageText(res.body), /Your reply has not been sent You cannot reply because the link has expired/);
  await assertNothingSent(ta, sent.conversationId);
});

test('a locked link takes no staff reply (a new link must not get round the lock)', async (t) => {
  const { ta, app, services, sent, jar, url } = await setup(t);
  await services.db.update(links).set({ lockedPermanentlyAt: services.now() }).where(eq(links.id, sent.linkId));
  const page = pageText((await staffGet(app, jar, `/staff/conversations/${sent.conversationId}`)).body);
  assert.match(page, /You cannot reply because the link is locked\. Re-send the link to unlock it, then reply\./);
  assert.equal((await staffPost(app, jar, url, { replyBody: 'Hello' })).statusCode, 400);
  await assertNothingSent(ta, sent.conversationId);
});

test("another organisation's staff get 404; no session goes to sign-in; a wrong CSRF token is refused", async (t) => {
  const { ta, app, sent, url } = await setup(t);
  const other = await createTestOrganisation(ta.services, { name: 'Other Practice' });
  const { jar: otherJar } = await staffOf(ta, other, 'Alex Other');
  assert.equal((await staffPost(app, otherJar, url, { replyBody: 'Hello' })).statusCode, 404);
  assert.equal((await staffPost(app, otherJar, '/staff/conversations/not-a-uuid/reply', { replyBody: 'Hello' })).statusCode, 404);

  const anonymous = new CookieJar();
  const csrf = await csrfTokenFor(app, anonymous);
  const noSession = await staffPost(app, anonymous, url, { _csrf: csrf, replyBody: 'Hello' });
  assert.equal(noSession.statusCode, 303);
  assert.equal(noSession.headers.location, '/staff/sign-in');

  const { jar } = await staffOf(ta, sent.organisation, 'Sam Carter');
  assert.equal((await staffPost(app, jar, url, { _csrf: 'wrong', replyBody: 'Hello' })).statusCode, 403);
  assert.equal((await staffPost(app, jar, url, { _csrf: null, replyBody: 'Hello' })).statusCode, 403);
  await assertNothingSent(ta, sent.conversationId);
});

test('an empty or too long reply shows the NHS error summary and keeps what was typed', async (t) => {
  const { ta, app, sent, jar, url } = await setup(t);
  const empty = await staffPost(app, jar, url, { replyBody: '   ' });
  assert.equal(empty.statusCode, 400);
  assert.deepEqual(errorSummaryItems(empty.body), ['#replyBody Enter a message']);
  assert.match(empty.body, /id="replyBody"/);
  const missing = await staffPost(app, jar, url, {});
  assert.equal(missing.statusCode, 400);
  assert.deepEqual(errorSummaryItems(missing.body), ['#replyBody Enter a message']);
  const long = await staffPost(app, jar, url, { replyBody: `${'a'.repeat(5001)}` });
  assert.equal(long.statusCode, 400);
  assert.deepEqual(errorSummaryItems(long.body), ['#replyBody Message must be 5,000 characters or fewer']);
  assert.match(long.body, /a{5001}<\/textarea>/);
  const control = await staffPost(app, jar, url, { replyBody: 'Hello\u0007' });
  assert.equal(control.statusCode, 400);
  assert.deepEqual(errorSummaryItems(control.body), ['#replyBody Message must not contain control characters']);
  await assertNothingSent(ta, sent.conversationId);
});

test("once the organisation's daily send limit is reached, a staff reply is refused and nothing is texted", async (t) => {
  const { ta, app, sent, jar, url } = await setup(t, { config: { ORGANISATION_DAILY_SEND_LIMIT: '1' } });
  const res = await staffPost(app, jar, url, { replyBody: 'Hello again' });
  assert.equal(res.statusCode, 429);
  assert.ok(Number(res.headers['retry-after']) > 0);
  assert.match(pageText(res.body), /Your reply has not been sent Your organisation has sent 1 messages today, the most it can send in one day\./);
  assert.match(res.body, /Hello again<\/textarea>/);
  await assertNothingSent(ta, sent.conversationId);
});
