// Liveness and readiness for load balancers and the on-call engineer.
//
// /ready also says whether the file store and the scanner answer. They never make an instance "not
// ready": with several instances both are shared (S3, clamd), so failing readiness on them would take
// every instance out of the load balancer (messages, bookings and all) for a fault that uploads
// already handle by refusing files (fail closed). Their details (a bucket name, a clamd address) go to the log, not to
// an unauthenticated page.
//
// /health also says how many texts are held because the provider refused our own set-up (a wrong API
// key, an unknown template) and how many such refusals this instance has had since it started: counts
// only, never which texts. A liveness probe must not wait on the database, so the count is given up
// after a second (null) and shared between polls for a few seconds.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { sql } from 'drizzle-orm';
import { migrationsFolder, queryRows, type Database } from '../db/client.ts';
import type { FileStore } from '../files/file-store.ts';
import type { Scanner } from '../files/scanner.ts';

const expectedMigrations = (
  JSON.parse(readFileSync(path.join(migrationsFolder, 'meta', '_journal.json'), 'utf8')) as { entries: unknown[] }
).entries.length;

export async function checkReadiness(database: Database): Promise<{ ready: boolean; reason?: string }> {
  try {
    const [row] = await queryRows<{ n: number }>(database.db, sql`SELECT count(*)::int AS n FROM drizzle.__drizzle_migrations`);
    const applied = Number(row?.n ?? 0);
    if (applied < expectedMigrations) return { ready: false, reason: 'migrations not applied' };
    return { ready: true };
  } catch {
    return { ready: false, reason: 'database unreachable' };
  }
}

export interface FilesHealth {
  store: 'ok' | 'failing';
  /** 'none': FILE_SCANNER=none, files are taken unscanned (development only). */
  scanner: 'ok' | 'failing' | 'none';
}

interface FileChecks {
  health: FilesHealth;
  /** What the checks said when failing, for the log. */
  problems: Record<string, string>;
}

// A load balancer gives up on /ready after a few seconds; a store or scanner that hangs (clamd's own
// time-out is 30 s) must not make the instance look dead, so a slow check counts as failing.
const FILE_CHECK_WAIT_MS = 2000;

type CheckAnswer = { ok: boolean; detail?: string };

function answerWithin(check: () => Promise<CheckAnswer>, waitMs: number): Promise<CheckAnswer> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<CheckAnswer>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, detail: `no answer within ${waitMs} ms` }), waitMs);
  });
  const answer = Promise.resolve()
    .then(check)
    .catch((error: unknown) => ({ ok: false, detail: error instanceof Error ? error.message : String(error) }));
  return Promise.race([answer, late]).finally(() => clearTimeout(timer));
}

/** Never throws: a check that throws, or does not answer within waitMs, counts as failing. */
export async function checkFiles(files: { store: FileStore; scanner: Scanner }, waitMs = FILE_CHECK_WAIT_MS): Promise<FileChecks> {
  const [store, scanner] = await Promise.all([answerWithin(() => files.store.check(), waitMs), answerWithin(() => files.scanner.check(), waitMs)]);
  const problems: Record<string, string> = {};
  if (!store.ok) problems.store = store.detail ?? 'check failed';
  if (!scanner.ok) problems.scanner = scanner.detail ?? 'check failed';
  return {
    health: { store: store.ok ? 'ok' : 'failing', scanner: files.scanner.name === 'none' ? 'none' : scanner.ok ? 'ok' : 'failing' },
    problems,
  };
}

// /ready is unauthenticated and polled; each file check writes a probe file, pings clamd or asks S3
// about the bucket, so answers are shared for a few seconds rather than made for every request.
const FILE_CHECK_REUSE_MS = 5000;
// Well inside a liveness probe's own timeout (Kubernetes: 1 s): a slow database must not make every
// instance miss its probe and be restarted together; the count is then null (unknown) or the last one.
const HELD_COUNT_WAIT_MS = 200;
const HELD_COUNT_REUSE_MS = 5000;

export async function healthRoutes(app: FastifyInstance, opts: { database: Database; isDraining: () => boolean }) {
  const files = app.services.files;
  let lastFileCheck: { at: number; settled: () => boolean; checks: Promise<FileChecks> } | undefined;
  const fileChecks = () => {
    const now = Date.now();
    // A check still under way is shared however long it takes; a finished one for FILE_CHECK_REUSE_MS.
    if (!lastFileCheck || (lastFileCheck.settled() && now - lastFileCheck.at >= FILE_CHECK_REUSE_MS)) {
      let settled = false;
      const checks = checkFiles(files).then((result) => {
        settled = true;
        // Once a check, not once a poll.
        if (Object.keys(result.problems).length > 0) app.log.warn({ files: result.problems }, 'file store or scanner check failing: uploads are refused until it answers');
        return result;
      });
      lastFileCheck = { at: now, settled: () => settled, checks };
    }
    return lastFileCheck.checks;
  };

  const { metrics } = app.services;
  let lastHeldCount: { at: number; count: Promise<number | null> } | undefined;
  const heldCount = () => {
    const now = Date.now();
    if (!lastHeldCount || now - lastHeldCount.at >= HELD_COUNT_REUSE_MS) {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<null>((resolve) => {
        timer = setTimeout(() => resolve(null), HELD_COUNT_WAIT_MS);
      });
      // readOutbox never throws: a failed read is undefined (and counted in the metrics).
      const read = metrics.readOutbox().then((outbox) => outbox?.heldByProviderProblem ?? null);
      lastHeldCount = { at: now, count: Promise.race([read, late]).finally(() => clearTimeout(timer)) };
    }
    return lastHeldCount.count;
  };

  app.get('/health', async () => {
    const [heldByProviderProblem, providerConfigurationErrors] = await Promise.all([heldCount(), metrics.providerConfigurationErrorsSoFar()]);
    return { status: 'ok', sms: { heldByProviderProblem, providerConfigurationErrors } };
  });
  app.get('/ready', async (_request, reply) => {
    // While shutting down, tell the load balancer to stop sending new patients here first.
    const [readiness, checks] = await Promise.all([
      opts.isDraining() ? { ready: false, reason: 'shutting down' } : checkReadiness(opts.database),
      fileChecks(),
    ]);
    return reply
      .status(readiness.ready ? 200 : 503)
      .send({ status: readiness.ready ? 'ready' : 'not ready', reason: readiness.reason, files: checks.health });
  });
}
