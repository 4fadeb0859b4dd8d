// Fault: the database goes away under load. The real server runs as a child process; while patients
// open links and reply, every connection to its database is ended (pg_terminate_backend) again and
// again for about 3 seconds, as a restart or fail-over would. The shared PostgreSQL server keeps running.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { and, eq, inArray } from 'drizzle-orm';
import { conversationItems } from '../../src/platform/db/schema.ts';
import { POSTGRES_ONLY, attempt, countBy, faultDatabase, httpClient, sleep, terminateBackends, waitUntil, type Outcome } from './fault-support.ts';
import { makeLinks, runPatient, serverEnv, startServer, type PatientRun } from './server-support.ts';

const PATIENTS = 48;
const LOOPS = 8;

test('database restart under load: /ready reports it, the service recovers alone, no accepted reply is lost, nothing hangs', { skip: POSTGRES_ONLY || 'not yet passing: the patient driver stalls under load (being diagnosed; see docs/reliability.md)', timeout: 240_000 }, async (t) => {
  const { services, url, name } = await faultDatabase(t);
  const env = await serverEnv(url);
  const server = await startServer(t, env);
  const links = await makeLinks(services, PATIENTS, server.baseUrl);
  const client = httpClient(server.baseUrl, { timeoutMs: 15_000 });
  t.after(() => client.close());

  // /ready, polled throughout.
  const readiness: Array<{ at: number; status: number | string }> = [];
  let polling = true;
  const poller = (async () => {
    while (polling) {
      const at = performance.now();
      try {
        readiness.push({ at, status: (await client.send('GET', '/ready')).status });
      } catch (error) {
        readiness.push({ at, status: String((error as { code?: string }).code ?? error) });
      }
      await sleep(100);
    }
  })();

  // Patients, LOOPS at a time; a background opener keeps GET /:token going as well.
  const outcomes: Outcome[] = [];
  const runs: PatientRun[] = [];
  let next = 0;
  const loops = Array.from({ length: LOOPS }, async () => {
    while (next < links.length) runs.push(await runPatient(client, links[next++]!, outcomes));
  });
  let opening = true;
  const opener = (async () => {
    for (let i = 0; opening; i++) {
      const link = links[i % links.length]!;
      await attempt(outcomes, 'open link (load)', () => client.send('GET', `/${link.token}`, { headers: { 'x-forwarded-for': `10.200.${(i >> 8) & 255}.${i & 255}` } }));
    }
  })();

  // The outage: once a few patients are through, end every backend six times over ~3 s.
  await waitUntil(() => runs.length >= 6, 'the first patients to finish', 90_000);
  const outageStarted = performance.now();
  let terminated = 0;
  for (let i = 0; i < 6; i++) {
    terminated += await terminateBackends(name);
    await sleep(500);
  }
  const outageEnded = performance.now();
  const recovered = await waitUntil(
    () => readiness.find((r) => r.at > outageEnded && r.status === 200),
    '/ready to answer 200 again',
    60_000,
  );
  await Promise.all(loops);
  opening = false;
  await opener;
  polling = false;
  await poller;

  // After the outage, the service works: a fresh request succeeds.
  const after = await client.send('GET', `/${links[0]!.token}`, { headers: { 'x-forwarded-for': '10.250.0.1' } });
  assert.equal(after.status, 200);
  assert.ok(server.alive(), `the server process is still running:\n${server.tail()}`);

  // /ready said so while it lasted (503 with a reason, not a hang or a crash).
  const during = readiness.filter((r) => r.at >= outageStarted && r.at <= recovered.at);
  const notReady = during.filter((r) => r.status === 503).length;
  assert.ok(notReady >= 1, `/ready never reported the outage: ${JSON.stringify(countBy(during, (r) => String(r.status)))}`);
  assert.ok(readiness.every((r) => r.status === 200 || r.status === 503), `/ready only answers 200 or 503: ${JSON.stringify(countBy(readiness, (r) => String(r.status)))}`);

  // No request hung or lost its connection; errors were pages, 500 or 503.
  const errors = outcomes.filter((o) => o.error);
  assert.deepEqual(errors.map((o) => `${o.what}: ${o.errorCode}`), [], 'every request got an answer within 15 s');
  const statuses = countBy(outcomes, (o) => String(o.status));
  for (const status of Object.keys(statuses)) assert.ok(['200', '303', '409', '500', '503'].includes(status), `unexpected status ${status}: ${JSON.stringify(statuses)}`);
  const slowest = Math.max(...outcomes.map((o) => o.endedAt - o.startedAt));

  // No accepted reply is lost; every patient got through in the end.
  const accepted = runs.filter((r) => r.accepted);
  const stored = await services.db
    .select({ conversationId: conversationItems.conversationId, body: conversationItems.body })
    .from(conversationItems)
    .where(and(eq(conversationItems.kind, 'patient_reply'), inArray(conversationItems.conversationId, links.map((l) => l.conversationId))));
  for (const run of accepted) {
    assert.ok(stored.some((s) => s.conversationId === run.link.conversationId && s.body === run.replyText), `accepted reply ${run.link.n} is stored`);
  }
  assert.equal(runs.length, PATIENTS);
  const through = runs.filter((r) => r.accepted || r.alreadyReplied).length;
  assert.equal(through, PATIENTS, 'every patient could reply once the database was back');
  assert.equal(stored.length, PATIENTS, 'one reply each, none doubled');

  t.diagnostic(
    `backends ended: ${terminated}; /ready during the outage: ${JSON.stringify(countBy(during, (r) => String(r.status)))}; ` +
      `ready again ${((recovered.at - outageEnded) / 1000).toFixed(1)} s after the last termination; ` +
      `answers: ${JSON.stringify(statuses)} over ${outcomes.length} requests (slowest ${Math.round(slowest)} ms); ` +
      `replies accepted ${accepted.length}, accepted-but-answer-lost ${runs.filter((r) => r.alreadyReplied).length}, stored ${stored.length}`,
  );
});
