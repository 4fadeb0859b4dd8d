// Fault: the SMS worker's process is killed (SIGKILL) in the middle of sending 1,000 texts, then
// started again. Every text must reach the Notify stand-in (by reference = outbox id); a text may arrive
// twice only if it was in flight at the kill, so duplicates are at most the worker's concurrency (texts
// claimed in a batch but not yet handed over are sent once, after they go stale).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { queryRows } from '../../src/platform/db/client.ts';
import { SMS_QUEUES as QUEUES } from '../../src/features/sms/sms-queues.ts';
import { enqueueSms } from '../../src/features/sms/outbox.service.ts';
import { defaultBatchSize } from '../../src/features/sms/sms-worker.ts';
import { createTestOrganisation } from '../helpers/factories.ts';
import { notifyConfigFor, startNotifyStandIn } from '../helpers/notify-stand-in.ts';
import { POSTGRES_ONLY, childEnv, faultDatabase, repoRoot, spawnNode, waitUntil } from './fault-support.ts';

const TEXTS = 1000;
const CONCURRENCY = 10;
const RATE_PER_MINUTE = 60_000;
const BATCH_SIZE = defaultBatchSize(RATE_PER_MINUTE);
// Crash recovery, scaled down from production (job expiry 120 s, staleness 60 s, supervisor 60 s,
// send timeout 10 s) keeping the same order: send timeout < staleness < job expiry.
const EXPIRE_IN_SECONDS = 10;
const WORKER_ENV = {
  SMS_SEND_CONCURRENCY: String(CONCURRENCY),
  SMS_RATE_PER_MINUTE: String(RATE_PER_MINUTE),
  FAULT_SUPERVISE_INTERVAL_SECONDS: '1',
  FAULT_POLLING_INTERVAL_SECONDS: '0.5',
  FAULT_STALE_AFTER_MS: '8000',
  FAULT_NOTIFY_TIMEOUT_MS: '5000',
  FAULT_RETRY_DELAY_SECONDS: '1',
  FAULT_RETRY_DELAY_MAX_SECONDS: '2',
};

test('worker killed mid-send: every text arrives, and only texts in flight at the kill arrive twice', { skip: POSTGRES_ONLY, timeout: 240_000 }, async (t) => {
  const standIn = await startNotifyStandIn();
  t.after(() => standIn.close());
  const { services, jobs, url } = await faultDatabase(t, notifyConfigFor(standIn));

  // Jobs carry the queue's expiry from the moment they are sent: set it before enqueueing.
  await jobs.boss.updateQueue(QUEUES.sendSms, { expireInSeconds: EXPIRE_IN_SECONDS, retryDelay: 1, retryDelayMax: 2, retryBackoff: true });
  const organisation = await createTestOrganisation(services);
  const ids: string[] = [];
  for (let batch = 0; batch < 4; batch++) {
    await services.db.transaction(async (tx) => {
      for (let i = 0; i < TEXTS / 4; i++) {
        const n = batch * (TEXTS / 4) + i;
        const row = await enqueueSms(tx, services.jobs, {
          organisationId: organisation.id,
          kind: 'message_link',
          phoneE164: `+4477009${String(n).padStart(5, '0')}`,
          personalisation: { organisation_name: organisation.name, waiting: 'you have a new message', link: `http://localhost:3000/fault-${n}` },
        });
        ids.push(row.id);
      }
    });
  }
  assert.equal(ids.length, TEXTS);

  const script = path.join(repoRoot, 'test/faults/worker-process.ts');
  const env = childEnv(url, { ...notifyConfigFor(standIn), ...WORKER_ENV });
  const first = spawnNode(t, script, env);
  await first.waitForLine(/worker ready/, 30_000);
  await standIn.waitForReceived(Math.ceil(TEXTS / 3), 90_000);
  first.proc.kill('SIGKILL');
  const killedAt = performance.now();
  const exit = await first.exited;
  assert.equal(exit.signal, 'SIGKILL');
  const receivedAtKill = standIn.received.length;

  const statuses = await queryRows<{ status: string; n: number }>(services.db, sql`SELECT status, count(*)::int AS n FROM outbound_sms GROUP BY status`);
  // 'sending' means claimed by the dead process: the batches its two fetch loops held. Of those, at
  // most CONCURRENCY were on their way to the provider; the rest had not been sent at all.
  const claimed = new Set(
    (await queryRows<{ id: string }>(services.db, sql`SELECT id FROM outbound_sms WHERE status = 'sending'`)).map((r) => r.id),
  );
  t.diagnostic(`at the kill: ${receivedAtKill} texts at the stand-in; outbox ${JSON.stringify(Object.fromEntries(statuses.map((s) => [s.status, s.n])))}`);
  assert.ok(claimed.size <= 2 * BATCH_SIZE, `at most two batches (${2 * BATCH_SIZE}) can be claimed, found ${claimed.size}`);

  const second = spawnNode(t, script, env);
  await second.waitForLine(/worker ready/, 30_000);
  const restartedAt = performance.now();
  await waitUntil(
    async () => {
      const [row] = await queryRows<{ n: number }>(services.db, sql`SELECT count(*)::int AS n FROM outbound_sms WHERE status = 'sent'`);
      return row!.n === TEXTS;
    },
    `all ${TEXTS} texts to be marked sent`,
    120_000,
    250,
  );
  const allSentAt = performance.now();
  second.proc.kill('SIGTERM');
  assert.equal((await second.exited).code, 0, `the worker stops cleanly on SIGTERM:\n${second.tail()}`);

  const lost = ids.filter((id) => standIn.byReference(id).length === 0);
  assert.deepEqual(lost, [], 'no text is lost');
  const duplicated = ids.filter((id) => standIn.byReference(id).length > 1);
  const extraCopies = duplicated.reduce((acc, id) => acc + standIn.byReference(id).length - 1, 0);
  const references = new Set(ids);
  assert.equal(standIn.received.filter((r) => !references.has(r.reference ?? '')).length, 0, 'nothing unexpected was sent');
  assert.equal(standIn.received.length, TEXTS + extraCopies);
  // The bound: only a text whose row was 'sending' when the process died can go twice, only once more,
  // and no more of them than were in flight.
  for (const id of duplicated) {
    assert.ok(claimed.has(id), `text ${id} arrived twice but was not claimed at the kill`);
    assert.equal(standIn.byReference(id).length, 2);
  }
  assert.ok(extraCopies <= CONCURRENCY, `duplicates (${extraCopies}) must not exceed the concurrency (${CONCURRENCY})`);

  const [{ attempts }] = (await queryRows<{ attempts: number }>(services.db, sql`SELECT max(attempts)::int AS attempts FROM outbound_sms`)) as [{ attempts: number }];
  t.diagnostic(
    `claimed at the kill: ${claimed.size}; duplicated: ${duplicated.length} (${extraCopies} extra copies); ` +
      `all ${TEXTS} sent ${((allSentAt - restartedAt) / 1000).toFixed(1)} s after the restart, ` +
      `${((allSentAt - killedAt) / 1000).toFixed(1)} s after the kill; most attempts on one row: ${attempts}`,
  );
});
