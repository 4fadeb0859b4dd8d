// The staff workspace's newer states (issue 14), in a real browser at 320 px and with 200 % text, with
// axe (WCAG 2.2 AA tags), NHS titles and the error-summary checks of checkPage(): the conversation page
// with the reply box, an empty reply, "Reply sent", a reply refused after the page was opened, a reply
// not possible (link revoked), an assign with someone who is not a colleague; a text held by a problem
// with the text service, on the conversation page and in the inbox's "Text message not delivered"
// filter; the patient's message page with a thread of two staff messages and a reply; and the sign-in
// code page with its "Sign out" link. Second factor required, as in production.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { Page } from 'playwright-core';
import { TestClock } from '../helpers/app.ts';
import { createTestConversation, createTestOrganisation, createTestStaff, type TestConversation } from '../helpers/factories.ts';
import { enrolTestTotp } from '../helpers/staff.ts';
import { checkPage, clickAndWait, open, startRig, verifiedPage, type A11yRig } from './a11y-support.ts';
import { insertItem } from '../../src/features/conversations/conversations.repository.ts';
import { staffReply } from '../../src/features/messages/staff-reply.service.ts';
import { totpCode, totpStep } from '../../src/features/staff/staff-totp.ts';
import type { Organisation } from '../../src/features/organisations/organisations.service.ts';
import { queryRows } from '../../src/platform/db/client.ts';

// The browser globals the in-page callbacks use (the project compiles without the DOM library).
interface DomOption {
  value: string;
  textContent: string | null;
}
interface DomSelect {
  value: string;
  appendChild(option: DomOption): void;
}
declare const document: { createElement(tag: 'option'): DomOption };

const TOM = { nhsNumber: '9990000026', givenName: 'Tom', familyName: 'Evans', mobileNumber: '+447700900002' };
const CONVERSATION_TITLE = /^Conversation with /;

let rig: A11yRig;
const clock = new TestClock();
let organisation: Organisation;
/** A clinician: the admin's longer menu folds into "More" only once the header's script has run after a resize. */
let jo: { id: string; email: string; password: string; secret: string };

before(async () => {
  rig = await startRig({ clock, config: { STAFF_SECOND_FACTOR: 'required' } });
  organisation = await createTestOrganisation(rig.server.services, { name: 'Workspace Surgery' });
  jo = await newStaff('Jo Bloggs');
});
after(async () => {
  await rig?.close();
});

async function newStaff(name: string) {
  const staff = await createTestStaff(rig.server.services, organisation.id, { name, role: 'clinician' });
  return { ...staff, secret: await enrolTestTotp(rig.server.services, staff.id) };
}

async function password(page: Page, staff: { email: string; password: string }): Promise<void> {
  await open(rig, page, '/staff/sign-in', 200);
  await page.getByLabel('Email address').fill(staff.email);
  await page.getByLabel('Password', { exact: true }).fill(staff.password);
  await clickAndWait(page, page.getByRole('button', { name: 'Sign in' }));
}

/** Password, then the code an authenticator shows now (a step is used once: the clock moves on first). */
async function signIn(page: Page, staff: { email: string; password: string; secret: string }): Promise<void> {
  clock.advance(30_000);
  await password(page, staff);
  assert.match(page.url(), /\/staff\/sign-in\/code$/);
  await page.getByLabel('Code', { exact: true }).fill(totpCode(staff.secret, totpStep(clock.now())));
  await clickAndWait(page, page.getByRole('button', { name: 'Continue' }));
  assert.match(page.url(), /\/staff$/, await page.locator('main').innerText());
}

function conversationWith(opts: { patient?: typeof TOM } = {}): Promise<TestConversation> {
  return createTestConversation(rig.server.services, { organisation, replyMode: 'conversation', body: 'Please book a blood test.', ...opts });
}

/** Click a form's button and return the status of the page it loads. */
async function submitForStatus(page: Page, button: ReturnType<Page['getByRole']>): Promise<number> {
  const [response] = await Promise.all([page.waitForResponse((r) => r.request().method() === 'POST' && r.request().isNavigationRequest()), clickAndWait(page, button)]);
  return response.status();
}

/** The outbox rows of a conversation once the worker has handed them on (nothing left to send). */
async function textsSent(conversationId: string): Promise<void> {
  for (let i = 0; i < 120; i++) {
    const rows = await queryRows<{ status: string }>(rig.server.services.db, sql`SELECT status FROM outbound_sms WHERE conversation_id = ${conversationId}`);
    if (rows.length > 0 && rows.every((r) => r.status !== 'queued' && r.status !== 'sending')) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error('the texts of the conversation were not sent');
}

test('the sign-in code page and its "Sign out" link; signing out from there', async () => {
  const staff = await newStaff('Coded Staff');
  clock.advance(30_000);
  const page = await rig.newPage();
  await password(page, staff);
  assert.match(page.url(), /\/staff\/sign-in\/code$/);
  const signOut = page.locator('main').getByRole('link', { name: 'Sign out', exact: true });
  assert.equal(await signOut.count(), 1, 'the code page offers "Sign out"');
  await checkPage(page, 'sign-in code page', { title: 'Enter the code from your authenticator app', reflow: true });
  await clickAndWait(page, signOut);
  await checkPage(page, 'sign out, from the code page', { title: 'Sign out', reflow: true });
  await clickAndWait(page, page.locator('main').getByRole('button', { name: 'Sign out' }));
  await checkPage(page, 'signed out, from the code page', { title: 'You have signed out', reflow: true });
  // Signed out: the code page now sends the browser back to sign in.
  await open(rig, page, '/staff/sign-in/code');
  assert.match(page.url(), /\/staff\/sign-in$/);
});

test('conversation page: the reply box, an empty reply, reply sent, an assign refused, a reply refused', async () => {
  const { services } = rig.server;
  const sent = await conversationWith();
  await insertItem(services.db, { conversationId: sent.conversationId, kind: 'patient_reply', body: 'When can I come in?', createdAt: services.now() });
  const page = await rig.newPage();
  await signIn(page, jo);
  const url = `/staff/conversations/${sent.conversationId}`;

  await open(rig, page, url, 200);
  assert.equal(await page.getByRole('heading', { name: 'Reply to Priya Shah' }).count(), 1);
  assert.equal(await page.getByLabel('Your reply').count(), 1);
  await checkPage(page, 'conversation with the reply box', { title: CONVERSATION_TITLE, reflow: true });

  const sendReply = page.getByRole('button', { name: 'Send reply' });
  assert.equal(await submitForStatus(page, sendReply), 400);
  await checkPage(page, 'conversation, empty reply', { errors: true, firstErrorHref: '#replyBody', title: CONVERSATION_TITLE, reflow: true });

  clock.advance(60_000);
  await page.getByLabel('Your reply').fill('Any weekday morning. The clinic opens at 8am.');
  await clickAndWait(page, sendReply);
  assert.match(page.url(), /\?done=replied$/);
  assert.match(await page.locator('main').innerText(), /Reply sent/);
  await checkPage(page, 'conversation, reply sent', { title: CONVERSATION_TITLE, reflow: true });

  // An assign the page did not offer (a made-up colleague): the page again, with the error on the list.
  await open(rig, page, url, 200);
  await page.locator('select#assignTo').evaluate((select, id) => {
    const option = document.createElement('option');
    option.value = id;
    option.textContent = 'Someone else';
    (select as unknown as DomSelect).appendChild(option);
    (select as unknown as DomSelect).value = id;
  }, randomUUID());
  assert.equal(await submitForStatus(page, page.getByRole('button', { name: 'Assign', exact: true })), 400);
  assert.match(await page.locator('.nhsuk-error-summary').innerText(), /Select someone who works at your organisation/);
  await checkPage(page, 'conversation, assign refused', { errors: true, firstErrorHref: '#assignTo', title: CONVERSATION_TITLE, reflow: true });

  // An out-of-date "Mark as urgent" (its hidden value altered): the page again, the error beside the button.
  await open(rig, page, url, 200);
  await page.locator('input[name="urgent"]').evaluate((input) => ((input as unknown as { value: string }).value = 'maybe'));
  assert.equal(await submitForStatus(page, page.getByRole('button', { name: 'Mark as urgent' })), 400);
  await checkPage(page, 'conversation, out-of-date urgent', { errors: true, firstErrorHref: '#urgent', title: CONVERSATION_TITLE, reflow: true });

  // The link revoked after the page was opened: the reply is refused, and what was typed is shown.
  await open(rig, page, url, 200);
  await page.getByLabel('Your reply').fill('See you on Thursday.');
  await rig.exec(sql`UPDATE links SET revoked_at = ${services.now().toISOString()} WHERE conversation_id = ${sent.conversationId}`);
  assert.equal(await submitForStatus(page, sendReply), 400);
  assert.match(await page.locator('main').innerText(), /Your reply has not been sent/);
  assert.match(await page.locator('main').innerText(), /What you wrote:\s+See you on Thursday\./);
  await checkPage(page, 'conversation, reply refused', { title: CONVERSATION_TITLE, reflow: true });
});

test('reply not possible: the link has been revoked', async () => {
  const sent = await conversationWith();
  await rig.exec(sql`UPDATE links SET revoked_at = ${rig.server.services.now().toISOString()} WHERE conversation_id = ${sent.conversationId}`);
  const page = await rig.newPage();
  await signIn(page, jo);
  await open(rig, page, `/staff/conversations/${sent.conversationId}`, 200);
  assert.match(await page.locator('main').innerText(), /Reply to Priya Shah\s+You cannot reply because the link has been revoked\. Send a new message instead\./);
  assert.equal(await page.getByRole('button', { name: 'Send reply' }).count(), 0);
  await checkPage(page, 'conversation, reply not possible (revoked)', { title: CONVERSATION_TITLE, reflow: true });
});

test('a text held by a problem with the text service: "Not sent yet" on the conversation and in the inbox filter', async () => {
  const held = await conversationWith({ patient: TOM });
  // Sent first, so the worker is done with the row; then as the worker leaves a text Notify refused
  // because of our own set-up.
  await textsSent(held.conversationId);
  await rig.exec(sql`UPDATE outbound_sms SET status = 'queued', provider_problem = 'authentication', last_error = 'Notify 403 AuthError' WHERE conversation_id = ${held.conversationId}`);
  const page = await rig.newPage();
  await signIn(page, jo);
  await open(rig, page, `/staff/conversations/${held.conversationId}`, 200);
  assert.match(await page.locator('main').innerText(), /Not sent yet/);
  await checkPage(page, 'conversation, text held by a provider problem', { title: CONVERSATION_TITLE, reflow: true });

  await open(rig, page, '/staff?waiting=text-not-delivered', 200);
  const rows = await page.locator('main').innerText();
  assert.match(rows, /Text message not delivered/);
  assert.match(rows, /Tom Evans[\s\S]*Not sent yet/);
  assert.doesNotMatch(rows, /Priya Shah/, 'only the held text');
  await checkPage(page, 'inbox, text message not delivered', { title: 'Conversations: 1 result', reflow: true });
});

test("the patient's message page with a thread: two staff messages and a reply", async () => {
  const { services } = rig.server;
  const sent = await conversationWith();
  const patientPage = await verifiedPage(rig, sent.token);
  await patientPage.getByLabel(`Reply to ${organisation.name}`).fill('When can I come in?');
  await clickAndWait(patientPage, patientPage.getByRole('button', { name: 'Send reply' }));
  clock.advance(60_000);
  const replied = await staffReply(services, { organisationId: organisation.id, staffId: jo.id, conversationId: sent.conversationId, body: 'Any weekday morning.', ip: '127.0.0.1' });
  assert.equal(replied.kind, 'sent');
  await open(rig, patientPage, `/${sent.token}/conversation`, 200);
  assert.match(
    (await patientPage.locator('main').innerText()).replace(/\s+/g, ' '),
    /Please book a blood test\. .*Replies .*You replied on .*When can I come in\? .*Workspace Surgery replied on .*Any weekday morning\./,
  );
  await checkPage(patientPage, 'patient message with a thread', { title: `Message from ${organisation.name}`, reflow: true });
});
