// Replies are limited per conversation and per patient (issue 10, item 9: a script stored 5,698
// replies in four minutes from one portal session in "conversation" mode). Both ways in share the
// message's reply route: a link and the NHS login portal. A limited reply is never lost silently: the
// page says it was not sent, keeps what was typed, and it can be sent once the wait is over.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { and, eq } from 'drizzle-orm';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { createTestApp, TestClock } from '../helpers/app.ts';
import { CookieJar, createTestConversation, createTestOrganisation, csrfFrom } from '../helpers/factories.ts';
import { firstDevice, get, postForm } from '../helpers/patient.ts';
import { errorSummaryItems } from '../helpers/staff.ts';
import { nhsLoginThroughApp, startTestNhsLogin, type TestNhsLogin } from '../helpers/nhs-login.ts';
import { REPLY_LIMITS } from '../../src/features/messages/message-replies.service.ts';
import { conversationItems } from '../../src/platform/db/schema.ts';
import type { Services } from '../../src/services.ts';

const [CONVERSATION_PER_MINUTE, CONVERSATION_PER_DAY] = REPLY_LIMITS.perConversation.map((l) => l.max) as [number, number];
const [PATIENT_PER_MINUTE] = REPLY_LIMITS.perPatient.map((l) => l.max) as [number];

let nhsLogin: TestNhsLogin;
before(async () => {
  nhsLogin = await startTestNhsLogin();
});
after(() => nhsLogin.close());

async function storedReplies(services: Services, conversationId: string): Promise<string[]> {
  const rows = await services.db
    .select({ body: conversationItems.body })
    .from(conversationItems)
    .where(and(eq(conversationItems.conversationId, conversationId), eq(conversationItems.kind, 'patient_reply')))
    .orderBy(conversationItems.seq);
  return rows.map((r) => r.body);
}

/** Loads the conversation page (a fresh form: CSRF token and one-time reply key) and sends a reply from it. */
async function reply(app: FastifyInstance, basePath: string, jar: CookieJar, body: string): Promise<LightMyRequestResponse> {
  const page = await get(app, basePath, jar);
  assert.equal(page.statusCode, 200, `${basePath}: ${page.statusCode}`);
  const replyKey = /name="replyKey" value="([A-Za-z0-9_-]+)"/.exec(page.body)![1]!;
  return postForm(app, `${basePath}/reply`, jar, { reply: body, replyKey }, { csrf: csrfFrom(page.body) });
}

function assertLimitedPage(res: LightMyRequestResponse, typed: string, words: RegExp) {
  assert.equal(res.statusCode, 429);
  assert.ok(Number(res.headers['retry-after']) > 0, 'Retry-After says when');
  assert.deepEqual(errorSummaryItems(res.body).length, 1);
  assert.match(errorSummaryItems(res.body)[0]!, words);
  assert.match(errorSummaryItems(res.body)[0]!, /^#reply /, 'the summary links to the reply box');
  assert.ok(res.body.includes(`${typed}</textarea>`), 'what was typed is still in the box');
}

test('link: 5 replies a minute and 50 a day per conversation; a limited reply is kept on the page and sent later', async (t) => {
  const clock = new TestClock(Date.parse('2026-11-26T10:00:00Z'));
  const { app, services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const c = await createTestConversation(services, { replyMode: 'conversation' });
  const jar = await firstDevice(app, c.token);
  const base = `/${c.token}/conversation`;

  for (let i = 1; i <= CONVERSATION_PER_MINUTE; i++) assert.equal((await reply(app, base, jar, `Reply ${i}`)).statusCode, 303);
  const limited = await reply(app, base, jar, 'One reply too many');
  assertLimitedPage(limited, 'One reply too many', /You have sent a lot of replies\. Your reply has not been sent\. Wait 1 minute and send it again/);
  assert.equal((await storedReplies(services, c.conversationId)).length, CONVERSATION_PER_MINUTE);

  // A minute later the page as it was shown (its key and CSRF token) sends the kept reply: once.
  clock.advance(61_000);
  const replyKey = /name="replyKey" value="([A-Za-z0-9_-]+)"/.exec(limited.body)![1]!;
  const later = await postForm(app, `${base}/reply`, jar, { reply: 'One reply too many', replyKey }, { csrf: csrfFrom(limited.body) });
  assert.equal(later.statusCode, 303);
  assert.equal((await storedReplies(services, c.conversationId)).at(-1), 'One reply too many');

  // The day's limit: 5 a minute until 50 are stored.
  while ((await storedReplies(services, c.conversationId)).length < CONVERSATION_PER_DAY) {
    clock.advance(61_000);
    for (let i = 0; i < CONVERSATION_PER_MINUTE && (await storedReplies(services, c.conversationId)).length < CONVERSATION_PER_DAY; i++) {
      assert.equal((await reply(app, base, jar, 'More')).statusCode, 303);
    }
  }
  clock.advance(61_000);
  const today = await reply(app, base, jar, 'Still more');
  assertLimitedPage(today, 'Still more', /You have sent a lot of replies today\. Your reply has not been sent\. You can send it after 10:00am on 27 November, or contact .* on 01234 567890/);
  assert.equal((await storedReplies(services, c.conversationId)).length, CONVERSATION_PER_DAY);
});

test(`link: 20 replies posted at once store exactly ${CONVERSATION_PER_MINUTE}, and none fails`, async (t) => {
  const clock = new TestClock();
  const { app, services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const c = await createTestConversation(services, { replyMode: 'conversation' });
  const jar = await firstDevice(app, c.token);
  const page = await get(app, `/${c.token}/conversation`, jar);
  const csrf = csrfFrom(page.body);
  const responses = await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      app.inject({
        method: 'POST',
        url: `/${c.token}/conversation/reply`,
        headers: { cookie: jar.header(), 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams({ _csrf: csrf, reply: `Flood ${i}`, replyKey: `flood-key-${String(i).padStart(8, '0')}` }).toString(),
      }),
    ),
  );
  const statuses = responses.map((r) => r.statusCode).sort();
  assert.deepEqual(statuses, [...Array(CONVERSATION_PER_MINUTE).fill(303), ...Array(20 - CONVERSATION_PER_MINUTE).fill(429)]);
  assert.equal((await storedReplies(services, c.conversationId)).length, CONVERSATION_PER_MINUTE);
});

test('portal: the same limits per conversation, and per patient across all their conversations', async (t) => {
  const clock = new TestClock();
  const { app, services, close } = await createTestApp({ now: clock.now, config: nhsLogin.env });
  t.after(close);
  const surgery = await createTestOrganisation(services, { name: 'Riverside Surgery' });
  const conversations = [];
  for (let i = 0; i < 3; i++) conversations.push(await createTestConversation(services, { organisation: surgery, replyMode: 'conversation' }));
  const jar = new CookieJar();
  const signedIn = await nhsLoginThroughApp(app, jar, '/portal', { identity: nhsLogin.identity(/^Priya Shah — P9/) });
  assert.equal(signedIn.res.statusCode, 303);
  const [first, second, third] = conversations.map((c) => `/portal/conversations/${c.conversationId}`) as [string, string, string];

  for (let i = 0; i < CONVERSATION_PER_MINUTE; i++) assert.equal((await reply(app, first, jar, `First ${i}`)).statusCode, 303);
  const perConversation = await reply(app, first, jar, 'Too many here');
  assertLimitedPage(perConversation, 'Too many here', /You have sent a lot of replies\. Your reply has not been sent\. Wait 1 minute/);

  // Another conversation still takes replies, until the patient's own limit for the minute.
  for (let i = 0; i < PATIENT_PER_MINUTE - CONVERSATION_PER_MINUTE; i++) assert.equal((await reply(app, second, jar, `Second ${i}`)).statusCode, 303);
  const perPatient = await reply(app, third, jar, 'Too many from me');
  assertLimitedPage(perPatient, 'Too many from me', /You have sent a lot of replies\. Your reply has not been sent\. Wait \d+ seconds? and send it again|Wait 1 minute and send it again/);
  assert.deepEqual(await storedReplies(services, conversations[2]!.conversationId), []);

  clock.advance(61_000);
  assert.equal((await reply(app, third, jar, 'Now it can go')).statusCode, 303);
  assert.deepEqual(await storedReplies(services, conversations[2]!.conversationId), ['Now it can go']);
});
