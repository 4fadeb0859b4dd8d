// The composition root: the parts every service function may be handed. Services take what they need
// from this (never a request or reply), so a test can build one with real or fake parts.
import pino, { type BaseLogger } from 'pino';
import type { Config } from './config/config.ts';
import { loggerOptions } from './platform/logging/logger.ts';
import type { Database, Db } from './platform/db/client.ts';
import type { Jobs } from './platform/jobs/jobs.ts';
import { createRateLimiter, type RateLimiter } from './platform/http/rate-limiter.ts';
import type { ItemKindRegistry } from './features/conversations/item-kinds.ts';
import { createFileServices, type FileServices } from './platform/files/file-services.ts';
import { createMetrics, type Metrics } from './platform/metrics/metrics.ts';
import { dbPoolReading, jobQueueReadings } from './platform/metrics/sources.ts';
import { outboxBacklog } from './features/sms/outbox.repository.ts';

export interface Services {
  config: Config;
  database: Database;
  db: Db;
  jobs: Jobs;
  now: () => Date;
  rateLimiter: RateLimiter;
  /** For what operators must hear about from a service (a limit nearly reached); never patient data. */
  log: Pick<BaseLogger, 'info' | 'warn' | 'error'>;
  /** What can be behind a link: filled by app.ts (itemKindRegistry), one line a kind. */
  itemKinds: ItemKindRegistry;
  /** Where documents and attachments are kept, how they are scanned, and the keys that seal them. */
  files: FileServices;
  /** This instance's Prometheus registry (GET /metrics); counters are never labelled with patient data. */
  metrics: Metrics;
}

export function buildServices(deps: {
  config: Config;
  database: Database;
  jobs: Jobs;
  itemKinds: ItemKindRegistry;
  now?: () => Date;
  /** The app's logger; a process without one (a worker, a benchmark) logs to standard output. */
  log?: Services['log'];
  /** Made from config.files unless given (tests pass a store and scanner of their own). */
  files?: FileServices;
  /** Made here, one registry per instance, unless given. */
  metrics?: Metrics;
}): Services {
  const now = deps.now ?? (() => new Date());
  const log = deps.log ?? pino(loggerOptions(deps.config.logLevel));
  const { database, jobs } = deps;
  const metrics =
    deps.metrics ??
    createMetrics({
      outbox: () => outboxBacklog(database.db),
      jobQueues: () => jobQueueReadings(jobs.boss),
      dbPool: database.pool ? () => dbPoolReading(database.pool!) : undefined,
      onSourceError: (source, err) => log.warn({ source, err }, 'a metrics source could not be read; its gauges are left out of this scrape'),
    });
  return {
    config: deps.config,
    database: deps.database,
    db: deps.database.db,
    jobs: deps.jobs,
    now,
    rateLimiter: createRateLimiter(deps.database.db, now),
    log,
    itemKinds: deps.itemKinds,
    files: deps.files ?? createFileServices(deps.config.files),
    metrics,
  };
}
