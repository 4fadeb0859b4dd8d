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
}): Services {
  const now = deps.now ?? (() => new Date());
  return {
    config: deps.config,
    database: deps.database,
    db: deps.database.db,
    jobs: deps.jobs,
    now,
    rateLimiter: createRateLimiter(deps.database.db, now),
    log: deps.log ?? pino(loggerOptions(deps.config.logLevel)),
    itemKinds: deps.itemKinds,
    files: deps.files ?? createFileServices(deps.config.files),
  };
}
