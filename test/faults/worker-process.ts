// The real SMS worker in a process of its own, for the "worker killed" fault test: configuration from
// the environment (DATABASE_URL, SMS_PROVIDER=notify, NOTIFY_BASE_URL, ...), the database, pg-boss
// with its supervisor, and startSmsWorker. It prints "worker ready" and stays up until killed.
// FAULT_* variables shorten the crash-recovery timings so a test can wait for them (production keeps
// the defaults: send timeout 10 s, staleness 60 s, supervisor every 60 s).
import pino from 'pino';
import { loadConfig } from '../../src/config/config.ts';
import { openDatabase } from '../../src/platform/db/client.ts';
import { startJobs } from '../../src/platform/jobs/jobs.ts';
import { loggerOptions } from '../../src/platform/logging/logger.ts';
import { buildServices } from '../../src/services.ts';
import { itemKindRegistry } from '../../src/app.ts';
import { startSmsWorker } from '../../src/features/sms/sms-worker.ts';

const numberFromEnv = (name: string): number | undefined => (process.env[name] ? Number(process.env[name]) : undefined);

const config = loadConfig();
const logger = pino(loggerOptions(config.logLevel));
const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, poolSize: config.databasePoolSize });
const jobs = await startJobs(database, { superviseIntervalSeconds: numberFromEnv('FAULT_SUPERVISE_INTERVAL_SECONDS') });
const services = buildServices({ config, database, jobs, itemKinds: itemKindRegistry() });
const stop = await startSmsWorker(services, {
  logger: logger.child({ worker: 'sms' }),
  pollingIntervalSeconds: numberFromEnv('FAULT_POLLING_INTERVAL_SECONDS'),
  staleAfterMs: numberFromEnv('FAULT_STALE_AFTER_MS'),
  notifyTimeoutMs: numberFromEnv('FAULT_NOTIFY_TIMEOUT_MS'),
  retryDelaySeconds: numberFromEnv('FAULT_RETRY_DELAY_SECONDS'),
  retryDelayMaxSeconds: numberFromEnv('FAULT_RETRY_DELAY_MAX_SECONDS'),
});
process.stdout.write(`worker ready pid=${process.pid}\n`);

process.on('SIGTERM', () => {
  void (async () => {
    await stop();
    await jobs.stop({ graceful: true, timeout: 5_000 });
    await database.close();
    process.exit(0);
  })();
});
