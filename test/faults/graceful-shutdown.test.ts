// Fault: SIGTERM while patients are using the service and texts are being sent (development transport).
// Requests already being handled must finish, the process must exit 0 within its own deadline, and no
// text may be left in a state the next start will not move on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'drizzle-orm';
import { queryRows } from '../../src/platform/db/client.ts';
import { enqueueSms } from '../../src/features/sms/outbox.service.ts';
import { createTestOrganisation } from '../helpers/factories.ts';
import { POSTGRES_ONLY, attempt, countBy, faultDatabase, httpClient, waitUntil, type Outcome } from './fault-support.ts';
import { makeLinks, runPatient, serverEnv, startServer, type PatientRun } from './server-support.ts';

const PATIENTS = 40;
const LOOPS = 8;
const TEXTS = 400;

test('graceful shutdown: SIGTERM under load finishes requests in flight and texts being sent, then exits 0', { skip: POSTGRES_ONLY, timeout: 240_000 }, async (t) => {
  const { services, url } = await faultDatabase(t);
  // As behind a load balancer: /ready answers 503 for a moment before the listener closes.
  const env = await serverEnv(url, { LOG_LEVEL: 'info', SHUTDOWN_DRAIN_SECONDS: '2' });
  const server = await startServer(t, env);
  const links = await makeLinks(services, PATIENTS, server.baseUrl);
  const client = httpClient(server.baseUrl, { connections: LOOPS, timeoutMs: 15_000 });
  t.after(() => client.close());

  const outcomes: Outcome[] = [];
  const runs: PatientRun[] = [];
  let signalled = false;
  let next = 0;
  const loops = Array.from({ length: LOOPS }, async () => {
    while (!signalled && next < links.length) runs.push(await runPatient(client, links[next++]!, outcomes, { tries: 1, stop: () => signalled }));
  });
  // Patients finish in well under a second now that pages are fast, so two openers keep link opens
  // going back to back until the signal: there are requests in flight when it comes.
  const openers = Array.from({ length: 2 }, async (_, w) => {
    for (let i = 0; !signalled; i++) {
      const link = links[i % links.length]!;
      await attempt(outcomes, 'open link (load)', () => client.send('GET', `/${link.token}`, { headers: { 'x-forwarded-for': `10.201.${w}.${i & 255}` } }));
    }
  });

  await waitUntil(() => runs.length >= 8, 'the first patients to finish', 90_000);
  // Texts for the worker to be busy with at the signal.
  const organisation = await createTestOrganisation(services);
  await services.db.transaction(async (tx) => {
    for (let n = 0; n < TEXTS; n++) {
      await enqueueSms(tx, services.jobs, {
        organisationId: organisation.id,
        kind: 'message_link',
        phoneE164: `+4477009${String(40_000 + n).padStart(5, '0')}`,
        personalisation: { organisation_name: organisation.name, waiting: 'you have a new message', link: `http://localhost:3000/shutdown-${n}` },
      });
    }
  });
  await waitUntil(async () => {
    const [row] = await queryRows<{ n: number }>(services.db, sql`SELECT count(*)::int AS n FROM outbound_sms WHERE organisation_id = ${organisation.id} AND status = 'sent'`);
    return row!.n > 0;
  }, 'the worker to start on the texts', 60_000, 20);

  const signalledAt = performance.now();
  server.proc.kill('SIGTERM');
  signalled = true;
  const exit = await server.exited;
  const exitedAt = performance.now();
  await Promise.all([...loops, ...openers]);
  assert.equal(exit.code, 0, `the server exits 0 after SIGTERM:\n${server.tail()}`);

  // Requests in flight at the signal: started before it, answered after it.
  const inFlight = outcomes.filter((o) => o.startedAt < signalledAt && o.endedAt > signalledAt);
  const inFlightLost = inFlight.filter((o) => o.error);
  const afterSignal = outcomes.filter((o) => o.startedAt >= signalledAt);
  // The server's own log: every request it began, it finished.
  const logged = server.lines.flatMap((line) => {
    try {
      return [JSON.parse(line) as { msg?: string; reqId?: string }];
    } catch {
      return [];
    }
  });
  const begun = new Set(logged.filter((l) => l.msg === 'incoming request').map((l) => l.reqId));
  const completed = new Set(logged.filter((l) => l.msg === 'request completed').map((l) => l.reqId));
  const unfinished = [...begun].filter((id) => !completed.has(id));
  assert.deepEqual(unfinished, [], 'every request the server began was answered');
  assert.ok(inFlight.length >= 1, 'the signal came while requests were being handled');
  assert.deepEqual(inFlightLost.map((o) => `${o.what}: ${o.errorCode}`), [], 'no request in flight at the signal lost its connection');
  assert.ok(outcomes.every((o) => o.error !== 'timeout'), 'no request hung');

  // The texts: none left 'sending' (that would wait for the staleness rule); the next start sends the rest.
  const byStatus = Object.fromEntries(
    (await queryRows<{ status: string; n: number }>(services.db, sql`SELECT status, count(*)::int AS n FROM outbound_sms GROUP BY status`)).map((r) => [r.status, r.n]),
  );
  assert.equal(byStatus.sending ?? 0, 0, `no text is left 'sending': ${JSON.stringify(byStatus)}`);

  const again = await startServer(t, env);
  const restartedAt = performance.now();
  await waitUntil(async () => {
    const [row] = await queryRows<{ n: number }>(services.db, sql`SELECT count(*)::int AS n FROM outbound_sms WHERE status <> 'sent'`);
    return row!.n === 0;
  }, 'every text to be sent after the restart', 90_000, 200);
  const allSentAt = performance.now();
  const [dev] = await queryRows<{ n: number; texts: number }>(services.db, sql`SELECT count(*)::int AS n, count(DISTINCT outbound_sms_id)::int AS texts FROM dev_phone_texts`);
  assert.equal(dev!.n, dev!.texts, 'no text stored twice on the development phone');
  again.proc.kill('SIGTERM');
  assert.equal((await again.exited).code, 0);

  t.diagnostic(
    `requests: ${outcomes.length}; in flight at SIGTERM: ${inFlight.length} (all answered: ${JSON.stringify(countBy(inFlight, (o) => String(o.status)))}); ` +
      `started after it: ${JSON.stringify(countBy(afterSignal, (o) => String(o.status ?? o.errorCode)))}; ` +
      `server log: ${begun.size} begun, ${completed.size} completed; exit 0 after ${((exitedAt - signalledAt) / 1000).toFixed(1)} s; ` +
      `outbox at exit ${JSON.stringify(byStatus)}; rest sent ${((allSentAt - restartedAt) / 1000).toFixed(1)} s after the restart`,
  );
});
