// Readings the scrape takes from the platform's own parts: pg-boss's queue counts and the pg pool.
import type pg from 'pg';
import type { PgBoss } from 'pg-boss';
import type { DbPoolReading, JobQueueReading } from './metrics.ts';

/**
 * pg-boss's own counts, kept on its queue table by its monitor pass (every minute while supervising),
 * so a scrape reads one small table rather than counting the job table itself.
 */
export async function jobQueueReadings(boss: Pick<PgBoss, 'getQueues'>): Promise<JobQueueReading[]> {
  const queues = await boss.getQueues();
  return queues.map((q) => ({
    name: q.name,
    queued: Number(q.queuedCount ?? 0),
    ready: Number(q.readyCount ?? 0),
    deferred: Number(q.deferredCount ?? 0),
    active: Number(q.activeCount ?? 0),
    oldestReadySeconds: q.readyOldestSeconds === null || q.readyOldestSeconds === undefined ? null : Number(q.readyOldestSeconds),
  }));
}

/** node-postgres keeps these counts in memory: reading them costs nothing. */
export function dbPoolReading(pool: pg.Pool): DbPoolReading {
  return { total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount, max: pool.options.max ?? 10 };
}
