// Every patient-facing page behind the link, in every state, in a real browser: the message (one reply,
// no reply, a conversation), reply errors (empty, too long), reply sent, a second reply refused, and the
// help, not found, form could not be sent and service error pages. Same checks as
// patient-entry-pages.test.ts.
import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'drizzle-orm';
import { TEST_PATIENT } from '../helpers/factories.ts';
import { checkPage, clickAndWait, enterDateOfBirth, isoParts, newLink, open, startRig, verifiedPage, type A11yRig } from './a11y-support.ts';

let rig: A11yRig;
before(async () => {
  rig = await startRig();
});
after(async () => {
  await rig?.close();
});
// Every request comes from one address; forget link look-ups so the limit (60 a minute) is not hit.
beforeEach(async () => {
  await rig.forgetLookups();
});


test('message with one reply: errors, reply sent, second reply refused', async () => {
  const { token, organisation } = await newLink(rig, 'once');
  const page = await verifiedPage(rig, token);
  await checkPage(page, 'message, one reply allowed', { title: `Message from ${organisation.name}`, reflow: true });
  // A second tab, opened before the reply is sent, to try a second reply.
  const secondTab = await page.context().newPage();
  await open(rig, secondTab, `/${token}/conversation`, 200);

  const replyField = page.getByLabel(`Reply to ${organisation.name}`);
  const sendReply = async (text: string) => {
    await replyField.fill(text);
    await clickAndWait(page, page.getByRole('button', { name: 'Send reply' }));
  };
  await sendReply('');
  await checkPage(page, 'reply, nothing entered', { errors: true, firstErrorHref: '#reply', reflow: true });
  await sendReply('x'.repeat(1001));
  await checkPage(page, 'reply too long', { errors: true, firstErrorHref: '#reply', reflow: true });
  await sendReply('Thank you, I will book it.');
  assert.match(page.url(), /\/conversation\?replied=1$/);
  await checkPage(page, 'one reply sent', { reflow: true });
  assert.equal(await page.getByRole('button', { name: 'Send reply' }).count(), 0);

  await secondTab.getByLabel(`Reply to ${organisation.name}`).fill('And another thing.');
  await clickAndWait(secondTab, secondTab.getByRole('button', { name: 'Send reply' }));
  assert.match(await secondTab.locator('main').innerText(), /Your reply was not sent/);
  await checkPage(secondTab, 'second reply refused', { reflow: true });
});

test('message with no reply, and a conversation with replies', async () => {
  const none = await newLink(rig, 'none');
  const page = await verifiedPage(rig, none.token);
  assert.match(await page.locator('main').innerText(), /You cannot reply to this message/);
  await checkPage(page, 'message, no reply allowed', { reflow: true });

  const conversation = await newLink(rig, 'conversation');
  const page2 = await verifiedPage(rig, conversation.token);
  await page2.getByLabel(`Reply to ${conversation.organisation.name}`).fill('A first reply.');
  await clickAndWait(page2, page2.getByRole('button', { name: 'Send reply' }));
  assert.match(await page2.locator('main').innerText(), /Your replies/);
  await checkPage(page2, 'conversation with a reply, can reply again', { reflow: true });
});

test('a conversation that has had its replies for now: the reply is kept, and the page says when to send it', async () => {
  const { token, organisation, conversationId } = await newLink(rig, 'conversation');
  const page = await verifiedPage(rig, token);
  // The minute's replies, already sent (issue 10, item 9).
  const at = rig.server.services.now().toISOString();
  for (let i = 0; i < 5; i++) {
    await rig.exec(sql`INSERT INTO conversation_items (conversation_id, kind, body, created_at) VALUES (${conversationId}, 'patient_reply', ${`Reply ${i}`}, ${at})`);
  }
  await page.getByLabel(`Reply to ${organisation.name}`).fill('One more thing.');
  await clickAndWait(page, page.getByRole('button', { name: 'Send reply' }));
  assert.match(await page.locator('.nhsuk-error-summary').innerText(), /You have sent a lot of replies\. Your reply has not been sent/);
  assert.equal(await page.getByLabel(`Reply to ${organisation.name}`).inputValue(), 'One more thing.');
  await checkPage(page, 'too many replies for now', { errors: true, firstErrorHref: '#reply', reflow: true });
});

test('help, page not found, form could not be sent, and the service error page', async () => {
  const page = await rig.newPage();
  await open(rig, page, '/help', 200);
  await checkPage(page, 'help', { title: 'How secure links work', reflow: true });
  await open(rig, page, '/no/such/page', 404);
  await checkPage(page, 'page not found', { title: 'Page not found', reflow: true });

  const { token } = await newLink(rig);
  await open(rig, page, `/${token}`);
  await page.locator('input[name="_csrf"]').evaluate((el) => {
    (el as unknown as { value: string }).value = 'not-the-token';
  });
  await enterDateOfBirth(page, isoParts(TEST_PATIENT.dateOfBirth));
  await checkPage(page, 'form could not be sent (CSRF)', { title: 'Your form could not be sent', reflow: true });

  // A real server error: the rate-limit table disappears for one request (an unknown link's look-up
  // counts a miss in it; a real link's never touches it).
  await rig.exec(sql`ALTER TABLE rate_limit_hits RENAME TO rate_limit_hits_away`);
  try {
    await open(rig, page, '/AAAAAAAAAAAAAAAAAAAAAC', 500);
  } finally {
    await rig.exec(sql`ALTER TABLE rate_limit_hits_away RENAME TO rate_limit_hits`);
  }
  await checkPage(page, 'service error', { title: 'Sorry, there is a problem with the service', reflow: true });
});
