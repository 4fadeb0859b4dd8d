// A conversation can have several live links at once (a staff reply or a reminder sends a new one and
// the earlier ones keep working). They share one count of wrong answers and one lock, so someone who
// holds several texts' links gets no more guesses than with one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eq } from 'drizzle-orm';
import { createTestApp, TestClock } from '../../../test/helpers/app.ts';
import { createTestConversation } from '../../../test/helpers/factories.ts';
import { links } from '../../platform/db/schema.ts';
import {
  CODE_FAILURES_IN_A_ROW_LIMIT,
  DOB_FAILURES_IN_A_ROW_LIMIT,
  DOB_FAILURES_TOTAL_LIMIT,
  getLink,
  issueLink,
  linkState,
  recordCodeFailure,
  recordDobFailure,
  resetCodeFailures,
} from './links.service.ts';

async function setUp(t: { after: (fn: () => Promise<void>) => void }) {
  const clock = new TestClock(Date.parse('2026-06-01T09:00:00Z'));
  const { services, close } = await createTestApp({ now: clock.now });
  t.after(close);
  const c = await createTestConversation(services, { replyMode: 'conversation' });
  const [first] = await services.db.select().from(links).where(eq(links.conversationId, c.conversationId));
  const beside = (now = clock.now()) => issueLink(services.db, { conversationId: c.conversationId, phoneE164: first!.phoneE164, expiresAt: first!.expiresAt, now, besideLiveLinks: true });
  return { services, clock, c, first: first!, beside };
}

test('wrong dates of birth spread over a conversation’s live links count together: the run locks them all, the total locks them for good', async (t) => {
  const { services, clock, first, beside } = await setUp(t);
  const { link: second } = await beside();
  for (let i = 0; i < DOB_FAILURES_IN_A_ROW_LIMIT - 1; i++) assert.ok(await recordDobFailure(services.db, i % 2 ? second.id : first.id, clock.now()));
  const last = await recordDobFailure(services.db, second.id, clock.now());
  assert.equal(linkState(last!, clock.now()).state, 'locked', 'the fifth wrong answer, on the second link, locks it');
  assert.equal(linkState((await getLink(services.db, first.id))!, clock.now()).state, 'locked', 'and the first link with it');
  assert.equal(await recordDobFailure(services.db, first.id, clock.now()), undefined, 'nothing is checked on either while locked');

  // A link sent during the lock starts locked, not with a fresh set of guesses.
  const { link: third } = await beside();
  assert.equal(linkState(third, clock.now()).state, 'locked');
  assert.equal(third.dobFailuresTotal, DOB_FAILURES_IN_A_ROW_LIMIT);

  clock.advance(31 * 60_000);
  for (let i = 0; i < DOB_FAILURES_TOTAL_LIMIT - DOB_FAILURES_IN_A_ROW_LIMIT - 1; i++) assert.ok(await recordDobFailure(services.db, third.id, clock.now()));
  const final = await recordDobFailure(services.db, first.id, clock.now());
  assert.equal(linkState(final!, clock.now()).state, 'locked-permanently');
  for (const id of [second.id, third.id]) assert.equal(linkState((await getLink(services.db, id))!, clock.now()).state, 'locked-permanently', id);
});

test('wrong security codes count across live links too; a right code on one ends the run on all; a revoked link is left alone', async (t) => {
  const { services, clock, first, beside } = await setUp(t);
  const { link: second } = await beside();
  for (let i = 0; i < CODE_FAILURES_IN_A_ROW_LIMIT - 2; i++) await recordCodeFailure(services.db, i % 2 ? first.id : second.id, clock.now());
  await resetCodeFailures(services.db, second.id, clock.now());
  for (const id of [first.id, second.id]) assert.equal((await getLink(services.db, id))!.codeFailuresInARow, 0, id);

  await services.db.update(links).set({ revokedAt: clock.now() }).where(eq(links.id, first.id));
  for (let i = 0; i < CODE_FAILURES_IN_A_ROW_LIMIT; i++) await recordCodeFailure(services.db, second.id, clock.now());
  assert.equal(linkState((await getLink(services.db, second.id))!, clock.now()).state, 'locked-permanently');
  const revoked = (await getLink(services.db, first.id))!;
  assert.equal(revoked.codeFailuresInARow, 0, 'a revoked link is not a live one');
  assert.equal(linkState(revoked, clock.now()).state, 'revoked');
});
