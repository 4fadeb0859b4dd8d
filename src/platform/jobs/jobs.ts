// Background jobs on pg-boss, in the same database as everything else. Jobs are enqueued inside the
// transaction of the change that caused them: a rolled-back change enqueues nothing. Each feature makes
// its own queues with its own retry policy (e.g. features/sms/sms-queues.ts); this knows none of them.
import { sql } from 'drizzle-orm';
import { PgBoss, fromDrizzle, fromPglite } from 'pg-boss';
import type { Database, Queryable } from '../db/client.ts';

export interface Jobs {
  boss: PgBoss;
  /** Enqueue on the given transaction (or database), so the job exists only if the change commits. */
  send(queue: string, data: object, on: Queryable, options?: { startAfter?: number }): Promise<void>;
  stop(options?: { graceful?: boolean; timeout?: number }): Promise<void>;
}

export interface StartJobsOptions {
  supervise?: boolean;
  /**
   * How often the supervisor looks for expired jobs, e.g. those a crashed process held (pg-boss default
   * 60 s). A job held at a crash is retried once it is expireInSeconds old and a supervisor pass has
   * seen it. The fault tests shorten this; production keeps the default.
   */
  superviseIntervalSeconds?: number;
  /**
   * Whether pg-boss may create its schema (default true). False when the app connects as a role that
   * may not create schemas: `npm run db:migrate` has made it (src/platform/db/app-role.ts).
   */
  createSchema?: boolean;
}

export async function startJobs(database: Database, opts: StartJobsOptions = {}): Promise<Jobs> {
  const supervise = opts.supervise ?? true;
  const createSchema = opts.createSchema ?? true;
  const intervals = opts.superviseIntervalSeconds
    ? { superviseIntervalSeconds: opts.superviseIntervalSeconds, monitorIntervalSeconds: opts.superviseIntervalSeconds }
    : {};
  const boss =
    database.kind === 'pglite'
      ? new PgBoss({ db: fromPglite(database.pglite!), backend: 'pglite', supervise, schedule: false, createSchema, ...intervals })
      : new PgBoss({ connectionString: database.url!, max: 4, supervise, schedule: false, createSchema, ...intervals });
  boss.on('error', () => {
    // Surfaced through /ready and the worker's own logging; an unhandled 'error' would crash the process.
  });
  await boss.start();
  return {
    boss,
    async send(queue, data, on, options) {
      await boss.send(queue, data, { ...options, db: fromDrizzle(on as never, sql as never) });
    },
        // On PostgreSQL pg-boss owns its pool and must close it; PGlite belongs to the app.
    stop: (o) =>
      boss.stop({ graceful: o?.graceful ?? true, timeout: o?.timeout ?? 10_000, close: database.kind === 'postgres' }),
  };
}
