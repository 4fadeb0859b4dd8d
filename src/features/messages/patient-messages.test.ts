// The message behind a link, and replies: once, none, conversation; limits; escaping; who may not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { and, eq } from 'drizzle-orm';
import { createTestApp, TestClock } from '../../../test/helpers/app.ts';
import { CookieJar, createTestConversation, csrfFrom } from '../../../test/helpers/factories.ts';
import { firstDevice, get, postForm, sendReply, textOf } from '../../../test/helpers/patient.ts';
import { auditEvents, conversationItems } from '../../platform/db/schema.ts';
import type { Services } from '../../services.ts';

async function replies(services: Services, conversationId: string) {
  return services.db
    .select()
    .from(conversationItems)
    .where(and(eq(conversationItems.conversationId, conversationId), eq(conversationItems.kind, 'patient_reply')));
}

async function audits(services: Services, linkId: string, type: string) {
  return services.db.select().from(auditEvents).where(and(eq(auditEvents.linkId, linkId), eq(auditEvents.type, type)));
}

test('the message page shows the organisation, the date, the message escaped with its line breaks, and is audited', async (t) => {
  // A fixed clock, and an instant that is 31 July in UTC but 1 August in London (BST): the page shows
  // the UK date, whatever the machine's time zone.
  const clock = new TestClock(Date.parse('2026-07-31T23:30:00Z'));
  const { app, services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const c = await createTestConversation(services, { body: 'Line one\nLine <script>alert(1)</script> & two', replyMode: 'conversation' });
  const jar = await firstDevice(app, c.token);
  const res = await get(app, `/${c.token}/conversation`, jar);
  assert.equal(res.statusCode, 200);
  const text = textOf(res.body);
  assert.match(text, new RegExp(`Message from ${c.organisation.name}`));
  assert.match(text, /Sent on 1 August 2026/);
  assert.match(res.body, /<p class="dc-message-body">Line one\nLine &lt;script&gt;alert\(1\)&lt;\/script&gt; &amp; two<\/p>/);
  assert.doesNotMatch(res.body, /<script>alert/);
  assert.match(text, /contact .* on 01234 567890/);
  assert.match(res.body, /href="\/help"/);
  assert.equal(res.headers['cache-control'], 'no-store');
  assert.equal(res.headers['referrer-policy'], 'no-referrer');
  assert.match(res.body, /name="reply"/);
  assert.match(res.body, /maxlength="1000"|data-maxlength="1000"/);
  assert.match(text, /You can enter up to 1000 characters/, 'the limit is shown without JavaScript');
  await get(app, `/${c.token}/conversation`, jar);
  const read = await audits(services, c.linkId, 'message.read');
  assert.equal(read.length, 2);
  assert.equal(read[0]!.actorType, 'patient_link');
  assert.equal(read[0]!.actorId, c.linkId);
});

test("'once': one reply, then the sent reply instead of the box, and a second reply is refused", async (t) => {
  const { app, services, close } = await createTestApp();
  t.after(close);
  const c = await createTestConversation(services, { replyMode: 'once' });
  const jar = await firstDevice(app, c.token);
  const csrf = csrfFrom((await get(app, `/${c.token}/conversation`, jar)).body);
  const res = await sendReply(app, c.token, jar, 'Thank you, <b>see you</b> soon\r\nBye');
  assert.equal(res.statusCode, 303);
  assert.equal(res.headers.location, `/${c.token}/conversation?replied=1`);
  const page = await get(app, res.headers.location!, jar);
  const text = textOf(page.body);
  assert.match(text, /Your reply has been sent/);
  assert.match(text, /You have replied/);
  assert.match(page.body, /Thank you, &lt;b&gt;see you&lt;\/b&gt; soon\nBye/);
  assert.doesNotMatch(page.body, /name="reply"/, 'no reply box any more');
  const stored = await replies(services, c.conversationId);
  assert.equal(stored.length, 1);
  assert.equal(stored[0]!.body, 'Thank you, <b>see you</b> soon\nBye');
  assert.equal((await audits(services, c.linkId, 'reply.sent')).length, 1);
  // Posted directly with a valid CSRF token: refused, nothing stored.
  const second = await postForm(app, `/${c.token}/conversation/reply`, jar, { reply: 'Another one' }, { csrf });
  assert.equal(second.statusCode, 409);
  assert.match(textOf(second.body), /You cannot send another reply to this message/);
  assert.equal((await replies(services, c.conversationId)).length, 1);
  // The banner is not shown when there is no reply to confirm.
  const other = await createTestConversation(services, { organisation: c.organisation, replyMode: 'once', patient: { nhsNumber: '9990000026' } });
  const jar2 = await firstDevice(app, other.token);
  assert.doesNotMatch(textOf((await get(app, `/${other.token}/conversation?replied=1`, jar2)).body), /Your reply has been sent/);
});

test("'none': no reply box, the page says so, and a posted reply is refused", async (t) => {
  const { app, services, close } = await createTestApp();
  t.after(close);
  const c = await createTestConversation(services, { replyMode: 'none' });
  const jar = await firstDevice(app, c.token);
  const page = await get(app, `/${c.token}/conversation`, jar);
  assert.equal(page.statusCode, 200);
  assert.doesNotMatch(page.body, /name="reply"/);
  assert.match(textOf(page.body), /You cannot reply to this message/);
  const res = await postForm(app, `/${c.token}/conversation/reply`, jar, { reply: 'Hello' }, { csrf: csrfFrom((await get(app, `/${c.token}`, jar)).body) });
  assert.equal(res.statusCode, 409);
  assert.equal((await replies(services, c.conversationId)).length, 0);
});

test("'conversation': replies until the link expires; each is listed", async (t) => {
  const { app, services, close } = await createTestApp();
  t.after(close);
  const c = await createTestConversation(services, { replyMode: 'conversation' });
  const jar = await firstDevice(app, c.token);
  for (const body of ['First reply', 'Second reply']) assert.equal((await sendReply(app, c.token, jar, body)).statusCode, 303);
  const page = await get(app, `/${c.token}/conversation`, jar);
  const text = textOf(page.body);
  assert.match(text, /Your replies/);
  assert.match(text, /First reply.*Second reply/);
  assert.match(page.body, /name="reply"/);
  assert.equal((await replies(services, c.conversationId)).length, 2);
});

test('a reply must be 1 to 1,000 characters; a refused reply stores nothing', async (t) => {
  const { app, services, close } = await createTestApp();
  t.after(close);
  const c = await createTestConversation(services, { replyMode: 'conversation' });
  const jar = await firstDevice(app, c.token);
  const tooLong = await sendReply(app, c.token, jar, 'x'.repeat(1001));
  assert.equal(tooLong.statusCode, 400);
  let text = textOf(tooLong.body);
  assert.match(text, /There is a problem/);
  assert.match(text, /Your reply must be 1,000 characters or fewer/);
  assert.match(tooLong.body, /href="#reply"/);
  assert.match(tooLong.body, /x{1001}<\/textarea>/, 'what was typed is kept');
  const empty = await sendReply(app, c.token, jar, '   \r\n  ');
  assert.equal(empty.statusCode, 400);
  text = textOf(empty.body);
  assert.match(text, /Enter your reply/);
  assert.equal((await replies(services, c.conversationId)).length, 0);
  assert.equal((await audits(services, c.linkId, 'reply.sent')).length, 0);
  // Exactly 1,000 characters, with new lines sent as CRLF counted once each, is fine.
  const exact = `${'y'.repeat(498)}\r\n${'z'.repeat(501)}`;
  assert.equal((await sendReply(app, c.token, jar, exact)).statusCode, 303);
  assert.equal((await replies(services, c.conversationId))[0]!.body.length, 1000);
});

test('message and reply: who may not (no session, awaiting a code, another link, missing or wrong CSRF)', async (t) => {
  const { app, services, close } = await createTestApp();
  t.after(close);
  const c = await createTestConversation(services, { replyMode: 'conversation', body: 'Private words for A' });
  const b = await createTestConversation(services, { replyMode: 'conversation', body: 'Private words for B' });
  const none = new CookieJar();
  const noSession = await get(app, `/${c.token}/conversation`, none);
  assert.equal(noSession.statusCode, 303);
  assert.equal(noSession.headers.location, `/${c.token}`);
  assert.doesNotMatch(noSession.body, /Private words/);
  const csrfNone = csrfFrom((await get(app, `/${c.token}`, none)).body);
  const post = await postForm(app, `/${c.token}/conversation/reply`, none, { reply: 'Hello' }, { csrf: csrfNone });
  assert.equal(post.headers.location, `/${c.token}`);

  const jarA = await firstDevice(app, c.token);
  const csrfA = csrfFrom((await get(app, `/${c.token}/conversation`, jarA)).body);
  // A's session cannot reply on B's link.
  const cross = await postForm(app, `/${b.token}/conversation/reply`, jarA, { reply: 'Hello B' }, { csrf: csrfA });
  assert.equal(cross.statusCode, 303);
  assert.equal(cross.headers.location, `/${b.token}`);
  // CSRF missing or wrong.
  assert.equal((await postForm(app, `/${c.token}/conversation/reply`, jarA, { reply: 'Hello' }, { csrf: null })).statusCode, 403);
  assert.equal((await postForm(app, `/${c.token}/conversation/reply`, jarA, { reply: 'Hello' }, { csrf: 'wrong' })).statusCode, 403);
  // A browser still waiting for a code is sent to the code page.
  const waiting = new CookieJar();
  const dob = await postForm(app, `/${c.token}`, waiting, { 'dob[day]': '12', 'dob[month]': '3', 'dob[year]': '1984' }, { csrfPage: `/${c.token}` });
  assert.equal(dob.headers.location, `/${c.token}/code`);
  assert.equal((await get(app, `/${c.token}/conversation`, waiting)).headers.location, `/${c.token}/code`);
  assert.equal((await replies(services, c.conversationId)).length, 0);
  assert.equal((await replies(services, b.conversationId)).length, 0);
});

test('the same reply form sent twice (a double click, or Back and send again) is stored once, and says it was sent', async (t) => {
  const { app, services, close } = await createTestApp();
  t.after(close);
  for (const replyMode of ['conversation', 'once'] as const) {
    const c = await createTestConversation(services, { replyMode });
    const jar = await firstDevice(app, c.token);
    const page = await get(app, `/${c.token}/conversation`, jar);
    const replyKey = /name="replyKey" value="([A-Za-z0-9_-]+)"/.exec(page.body)?.[1];
    assert.ok(replyKey, 'the form carries a one-time key');
    const csrf = csrfFrom(page.body);
    const first = await postForm(app, `/${c.token}/conversation/reply`, jar, { reply: 'See you Tuesday', replyKey }, { csrf });
    const again = await postForm(app, `/${c.token}/conversation/reply`, jar, { reply: 'See you Tuesday', replyKey }, { csrf });
    assert.equal(first.statusCode, 303, replyMode);
    assert.equal(again.statusCode, 303, `${replyMode}: the second press is the same reply, not a refusal`);
    assert.equal(again.headers.location, `/${c.token}/conversation?replied=1`);
    assert.equal((await replies(services, c.conversationId)).length, 1, replyMode);
    assert.match(textOf((await get(app, again.headers.location!, jar)).body), /Your reply has been sent/);
    // A new rendering of the form is a new reply ('conversation' takes more than one).
    if (replyMode === 'conversation') {
      const next = await get(app, `/${c.token}/conversation`, jar);
      const nextKey = /name="replyKey" value="([A-Za-z0-9_-]+)"/.exec(next.body)?.[1];
      assert.notEqual(nextKey, replyKey);
      await postForm(app, `/${c.token}/conversation/reply`, jar, { reply: 'See you Tuesday', replyKey: nextKey! }, { csrf: csrfFrom(next.body) });
      assert.equal((await replies(services, c.conversationId)).length, 2);
    }
  }
});
