// The seam (DESIGN.md §2): a kind registered in this test only — a "note" the patient acknowledges —
// opens through a link and through the portal with no change to verification, gets its own routes
// under each base path, its words on verification's pages and in its text, its own link lifetime, and
// the same access rules (another link, no session, revoked, expired in the portal).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { and, desc, eq } from 'drizzle-orm';
import { z } from 'zod';
import { createTestApp, TestClock } from '../../../test/helpers/app.ts';
import { CookieJar, createTestConversation, createTestOrganisation, createTestPatient, createTestStaff, latestLinkToken} from '../../../test/helpers/factories.ts';
import { get, postForm, submitDob, textOf } from '../../../test/helpers/patient.ts';
import { nhsLoginThroughApp, startTestNhsLogin, type TestNhsLogin } from '../../../test/helpers/nhs-login.ts';
import { links, outboundSms } from '../../platform/db/schema.ts';
import type { ItemKind } from './item-kinds.ts';
import { startConversation } from './conversations.service.ts';
import { conversationPageContext } from './conversation-pages.ts';
import { insertItem } from './conversations.repository.ts';
import type { Services } from '../../services.ts';

const noteKind: ItemKind<{ acknowledgeBy: string }> = {
  name: 'test-note',
  words: { caption: 'Note', thing: 'note', textWaiting: 'you have a note to read' },
  sentAuditType: 'test-note.sent',
  patientItemKinds: ['note_acknowledged'],
  payloadSchema: z.object({ acknowledgeBy: z.string() }),
  linkTtlDays: () => 2,
  page: async (_request, reply, context) => {
    const acknowledged = context.items.some((i) => i.kind === 'note_acknowledged');
    // A plain page is enough for a test kind: what matters is who reaches it and with what.
    return reply.type('text/plain').send(
      [
        `note: ${context.items[0]?.body}`,
        `via: ${context.access.via}`,
        `base: ${context.access.basePath}`,
        `may answer: ${context.access.mayAnswer}`,
        `acknowledged: ${acknowledged}`,
        `words: ${conversationPageContext(context).words.thing}`,
      ].join('\n'),
    );
  },
  routes: [
    {
      method: 'POST',
      path: '/acknowledge',
      handler: async (_request, reply, context) => {
        if (!context.access.mayAnswer) return reply.status(409).send('ended');
        await insertItem(context.services.db, { conversationId: context.conversation.id, kind: 'note_acknowledged', body: '', createdAt: context.services.now() });
        return reply.redirect(context.access.basePath, 303);
      },
    },
  ],
  waitingForPatient: ({ items }) => (items.some((i) => i.kind === 'note_acknowledged') ? { waiting: false } : { waiting: true, tag: 'Read the note' }),
  describeForStaff: (p) => ({ what: 'Note', settingsLabel: 'Acknowledge by', settings: p.acknowledgeBy }),
  describeItemForStaff: (item) => ({ fromPatient: item.kind === 'note_acknowledged', heading: item.kind === 'note_acknowledged' ? 'Acknowledged' : 'Note' }),
};

let nhsLogin: TestNhsLogin;
before(async () => {
  nhsLogin = await startTestNhsLogin();
});
after(() => nhsLogin.close());

async function sendNote(services: Services, organisationId?: string) {
  const organisation = organisationId ? { id: organisationId } : await createTestOrganisation(services);
  const staff = await createTestStaff(services, organisation.id);
  const patient = await createTestPatient(services, organisation.id);
  const started = await startConversation(services, {
    organisationId: organisation.id,
    patient,
    kind: noteKind,
    payload: { acknowledgeBy: 'Friday' },
    items: [{ kind: 'note', body: 'Please read before your appointment.' }],
    sentBy: { staffId: staff.id },
  });
  return { ...started, organisationId: organisation.id, token: await latestLinkToken(services, started.conversationId) };
}

test('a kind registered only here opens through a link, with its words, its lifetime, its text and its routes', async (t) => {
  const clock = new TestClock();
  const { app, services, close } = await createTestApp({ now: clock.now, itemKinds: [noteKind as unknown as ItemKind<never>] });
  t.after(close);
  const note = await sendNote(services);

  const [text] = await services.db.select().from(outboundSms).where(eq(outboundSms.conversationId, note.conversationId));
  assert.equal(text!.personalisation.waiting, 'you have a note to read');
  const [link] = await services.db.select().from(links).where(eq(links.id, note.linkId));
  assert.equal(link!.expiresAt.getTime() - clock.now().getTime(), 2 * 86_400_000, "the kind's own link lifetime");

  const jar = new CookieJar();
  const dobPage = await get(app, `/${note.token}`, jar);
  assert.match(textOf(dobPage.body), /Note from Test Surgery/);
  assert.match(textOf(dobPage.body), /check the note is for you/);
  const verified = await submitDob(app, note.token, jar);
  assert.equal(verified.headers.location, `/${note.token}/conversation`, 'verification lands on the address it was given');

  const page = await get(app, `/${note.token}/conversation`, jar);
  assert.equal(page.statusCode, 200);
  assert.match(page.body, /note: Please read before your appointment\./);
  assert.match(page.body, /via: link\nbase: \/[A-Za-z0-9]{22}\/conversation\nmay answer: true\nacknowledged: false\nwords: note/);
  const ack = await postForm(app, `/${note.token}/conversation/acknowledge`, jar, {}, { csrfPage: `/${note.token}` });
  assert.equal(ack.statusCode, 303);
  assert.match((await get(app, `/${note.token}/conversation`, jar)).body, /acknowledged: true/);

  // A message's route on a note is not there; nor is the note's route on a message.
  assert.equal((await postForm(app, `/${note.token}/conversation/reply`, jar, { reply: 'Hi' }, { csrfPage: `/${note.token}` })).statusCode, 404);
  const message = await createTestConversation(services, { replyMode: 'conversation' });
  const messageJar = new CookieJar();
  await submitDob(app, message.token, messageJar);
  assert.equal((await postForm(app, `/${message.token}/conversation/acknowledge`, messageJar, {}, { csrfPage: `/${message.token}` })).statusCode, 404);

  // Who may not: no session, another link's session.
  assert.equal((await get(app, `/${note.token}/conversation`, new CookieJar())).headers.location, `/${note.token}`);
  assert.equal((await get(app, `/${note.token}/conversation`, messageJar)).headers.location, `/${note.token}`);
  assert.equal((await postForm(app, `/${note.token}/conversation/acknowledge`, messageJar, {}, { csrfPage: `/${note.token}` })).headers.location, `/${note.token}`);

  // One text, worded by the kind.
  const texts = await services.db.select().from(outboundSms).where(and(eq(outboundSms.conversationId, note.conversationId))).orderBy(desc(outboundSms.createdAt));
  assert.equal(texts.length, 1);
});

test('the same kind opens through the portal, is listed with its words, and follows the portal rules (revoked gone, expired read only)', async (t) => {
  const clock = new TestClock();
  const { app, services, close } = await createTestApp({ config: nhsLogin.env, now: clock.now, itemKinds: [noteKind as unknown as ItemKind<never>] });
  t.after(close);
  const note = await sendNote(services);
  const jar = new CookieJar();
  const { res } = await nhsLoginThroughApp(app, jar, '/portal', { identity: nhsLogin.identity(/^Priya Shah — P9/) });
  assert.equal(res.headers.location, '/portal');

  const list = textOf((await get(app, '/portal', jar)).body);
  assert.match(list, /Note/);
  assert.match(list, /Read the note/);

  const base = `/portal/conversations/${note.conversationId}`;
  const page = await get(app, base, jar);
  assert.equal(page.statusCode, 200);
  assert.match(page.body, new RegExp(`via: portal\\nbase: ${base}\\nmay answer: true`));
  assert.equal((await postForm(app, `${base}/acknowledge`, jar, {}, { csrfPage: '/portal' })).statusCode, 303);
  assert.match(textOf((await get(app, '/portal', jar)).body), /Note .* None/);

  // Expired: still readable, takes no answer, nothing waits.
  const second = await sendNote(services, note.organisationId);
  clock.advance(3 * 86_400_000);
  await nhsLoginThroughApp(app, jar, '/portal', { identity: nhsLogin.identity(/^Priya Shah — P9/) });
  const expired = await get(app, `/portal/conversations/${second.conversationId}`, jar);
  assert.equal(expired.statusCode, 200);
  assert.match(expired.body, /may answer: false/);
  assert.equal((await postForm(app, `/portal/conversations/${second.conversationId}/acknowledge`, jar, {}, { csrfPage: '/portal' })).statusCode, 409);
  assert.doesNotMatch(textOf((await get(app, '/portal', jar)).body), /Read the note/);

  // Revoked: gone from the list and from its address.
  await services.db.update(links).set({ revokedAt: clock.now() }).where(eq(links.conversationId, second.conversationId));
  assert.equal((await get(app, `/portal/conversations/${second.conversationId}`, jar)).statusCode, 404);
  assert.doesNotMatch((await get(app, '/portal', jar)).body, new RegExp(second.conversationId));
});
