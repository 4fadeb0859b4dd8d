// The inbox's views, filters and search, and the conversation page's states (assigned, urgent, done,
// "Also viewing") and the revoke confirmation, in a real browser: no axe violation, NHS titles, no
// sideways scrolling at 320 px or with 200 % text.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { TestClock } from '../helpers/app.ts';
import { createTestConversation, createTestOrganisation, createTestStaff } from '../helpers/factories.ts';
import { checkPage, clickAndWait, startRig, type A11yRig } from './a11y-support.ts';
import { insertItem } from '../../src/features/conversations/conversations.repository.ts';

let rig: A11yRig;
let jo: { id: string; email: string; password: string };
let sam: { id: string; email: string; password: string };
let conversationId: string;

before(async () => {
  rig = await startRig({ clock: new TestClock() });
  const { services } = rig.server;
  const organisation = await createTestOrganisation(services, { name: 'Inbox Surgery' });
  jo = await createTestStaff(services, organisation.id, { name: 'Jo Bloggs' });
  sam = await createTestStaff(services, organisation.id, { name: 'Sam Carter' });
  const replied = await createTestConversation(services, { organisation, replyMode: 'conversation' });
  await insertItem(services.db, { conversationId: replied.conversationId, kind: 'patient_reply', body: 'Is Tuesday OK?', createdAt: services.now() });
  conversationId = replied.conversationId;
  await createTestConversation(services, { organisation, patient: { nhsNumber: '9990000026', givenName: 'Tom', familyName: 'Evans', mobileNumber: '+447700900002' } });
});
after(async () => {
  await rig?.close();
});

async function signIn(page: Page, staff: { email: string; password: string }): Promise<void> {
  await page.goto(`${rig.baseUrl}/staff/sign-in`);
  await page.getByLabel('Email address').fill(staff.email);
  await page.getByLabel('Password', { exact: true }).fill(staff.password);
  await clickAndWait(page, page.getByRole('button', { name: 'Sign in' }));
}

async function visit(page: Page, path: string, what: string, title?: string | RegExp): Promise<void> {
  const response = await page.goto(`${rig.baseUrl}${path}`);
  assert.equal(response?.status(), 200, path);
  await checkPage(page, what, { reflow: true, ...(title !== undefined && { title }) });
}

test('inbox views with rows and empty, filters, search with no results', async () => {
  const page = await rig.newPage();
  await signIn(page, jo);
  await visit(page, '/staff', 'inbox, open view with rows', 'Conversations');
  await visit(page, '/staff?view=mine', 'inbox, mine, empty', 'Assigned to me: conversations');
  await visit(page, '/staff?view=unassigned', 'inbox, unassigned with rows');
  await visit(page, '/staff?view=done', 'inbox, done, empty');
  await visit(page, '/staff?waiting=reply', 'inbox, waiting for a reply', 'Conversations: 1 result');
  await visit(page, '/staff?waiting=text-not-delivered', 'inbox, filter with no rows');
  await visit(page, '/staff?patient=Nobody', 'inbox, search with no results', 'Conversations: 0 results');
  assert.match(await page.locator('main').innerText(), /No open conversations with a patient matching/);
});

test('conversation page: assigned, urgent, done, also viewing; the revoke confirmation', async () => {
  const samPage = await rig.newPage();
  await signIn(samPage, sam);
  await samPage.goto(`${rig.baseUrl}/staff/conversations/${conversationId}`);
  const page = await rig.newPage();
  await signIn(page, jo);
  await visit(page, `/staff/conversations/${conversationId}`, 'conversation, also viewing', /^Conversation with /);
  assert.match(await page.locator('#also-viewing').innerText(), /Also viewing: Sam Carter/);
  await clickAndWait(page, page.getByRole('button', { name: 'Assign to me' }));
  await checkPage(page, 'conversation, assigned to me', { reflow: true });
  await clickAndWait(page, page.getByRole('button', { name: 'Mark as urgent' }));
  await checkPage(page, 'conversation, urgent', { reflow: true });
  await clickAndWait(page, page.getByRole('button', { name: 'Mark as done' }));
  await checkPage(page, 'conversation, done', { reflow: true });
  await visit(page, '/staff?view=done', 'inbox, done with rows');
  await visit(page, `/staff/conversations/${conversationId}/revoke`, 'revoke confirmation', /^Are you sure you want to revoke the link/);
  await clickAndWait(page, page.getByRole('button', { name: 'Revoke link' }));
  assert.match(await page.locator('main').innerText(), /Link revoked/);
  await checkPage(page, 'conversation, link revoked', { reflow: true });
  await visit(page, `/staff/conversations/${conversationId}/revoke`, 'revoke confirmation, nothing to revoke');
});
