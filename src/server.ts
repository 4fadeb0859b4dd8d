// Process entry: load config, open and migrate the database, start jobs and the app, print where to
// go, and shut down gracefully on SIGTERM/SIGINT.
import pino from 'pino';
import { loadConfig, ConfigError, developmentModeNotice } from './config/config.ts';
import { openDatabase, pendingMigrations } from './platform/db/client.ts';
import { startJobs } from './platform/jobs/jobs.ts';
import { loggerOptions } from './platform/logging/logger.ts';
import { buildApp } from './app.ts';

async function main() {
  const startedAt = performance.now();
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`Dovecote cannot start: ${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
  const logger = pino(loggerOptions(config.logLevel));
  // loadConfig has already refused any HOST but a loopback one outside production.
  const developmentNotice = developmentModeNotice(config);
  if (developmentNotice.length > 0) logger.warn({ env: config.env, host: config.host }, developmentNotice.join(' '));

  const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, poolSize: config.databasePoolSize });
  try {
    if (config.databaseMigrateOnStart) {
      await database.migrate();
    } else {
      // The app's role may not migrate (it owns no table): `npm run db:migrate` must have run first.
      const pending = await pendingMigrations(database);
      if (pending > 0) {
        logger.fatal({ pending }, 'the database is older than this version: run `npm run db:migrate` as the owner role first');
        process.exit(1);
      }
    }
  } catch (error) {
    logger.fatal({ err: error }, 'database migration (or the check that it was done) failed');
    process.exit(1);
  }
  const jobs = await startJobs(database, { createSchema: config.databaseMigrateOnStart });
  // Development-only modules (demo data with its published password, the NHS login stand-in) are
  // loaded only when used, so a production process never has them in memory at all.
  const demo = config.demoData ? await import('./dev/demo-data.ts') : undefined;
  const seeded = demo ? await demo.seedDemoData(database.db, { isProduction: config.isProduction }) : false;
  if (demo) await demo.seedDemoClinic(database.db, new Date());

  // Development: the local NHS login stand-in (its own port), started before the app that uses it.
  let standIn: { issuer: string; close(): Promise<void> } | undefined;
  if (!config.isProduction && config.nhsLogin?.standIn) {
    try {
      standIn = await (await import('./features/nhs-login/dev/stand-in-from-config.ts')).startNhsLoginStandInIfConfigured(config);
    } catch (error) {
      logger.fatal({ err: error }, 'the NHS login stand-in could not start (set NHS_LOGIN_STAND_IN_PORT to a free port)');
      process.exit(1);
    }
  }

  const app = await buildApp({ config, database, jobs, logger });
  const stopWorkers = await app.startWorkers();
  await app.listen({ port: config.port, host: config.host });

  const base = config.publicBaseUrl;
  const lines = [
    '',
    `Dovecote is running on ${database.kind === 'pglite' ? `the embedded database (${config.dataDir})` : 'PostgreSQL'} — started in ${Math.round(performance.now() - startedAt)} ms`,
    ...developmentNotice.map((line) => `  ${line}`),
    `  Patients:        ${base}/`,
    `  Staff sign-in:   ${base}/staff/sign-in`,
    ...(config.sms.provider === 'development' ? [`  Phone (texts):   ${base}/dev/phone`] : []),
    ...(standIn ? [`  NHS login (stand-in): ${standIn.issuer}`] : []),
    `  API docs:        ${base}/api/docs`,
    `  Health:          ${base}/health  ${base}/ready`,
    ...(demo
      ? [
          `  Demo staff:      ${demo.DEMO_STAFF.email} / ${demo.DEMO_STAFF.password} (admin)${seeded ? ' (demo data created)' : ''}`,
          `                   ${demo.DEMO_CLINICIAN.email} / ${demo.DEMO_CLINICIAN.password} (clinician)`,
          `                   ${demo.DEMO_RECEPTIONIST.email} / ${demo.DEMO_RECEPTIONIST.password} (receptionist)`,
          config.staff.secondFactor === 'required'
            ? '                   Each asks you to set up an authenticator app at first sign-in (STAFF_SECOND_FACTOR=off skips it outside production)'
            : '                   Second factor off (STAFF_SECOND_FACTOR=off): staff sign in with a password alone',
        ]
      : []),
    '',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);

  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    logger.info({ signal }, 'shutting down');
    let step = 'start';
    const force = setTimeout(() => {
      logger.error({ step }, 'shutdown took too long; exiting');
      process.exit(1);
    }, 25_000 + config.shutdownDrainSeconds * 1000);
    force.unref();
    // Each step is timed and logged, so an on-call engineer can see which one held a shutdown up.
    const timed = async (name: string, fn: () => Promise<unknown>) => {
      step = name;
      const started = performance.now();
      await fn();
      logger.info({ step: name, ms: Math.round(performance.now() - started) }, 'shutdown step done');
    };
    try {
      await timed('drain', async () => {
        app.draining = true;
        await new Promise((resolve) => setTimeout(resolve, config.shutdownDrainSeconds * 1000));
      });
      await timed('http', async () => {
        // close() stops accepting and waits for requests in flight. Fastify closes idle keep-alive
        // connections once, at the start; a connection busy then goes idle when its answer is sent and
        // would otherwise stay open for the keep-alive timeout (72 s), holding the shutdown up.
        const sweep = setInterval(() => app.server.closeIdleConnections(), 200);
        try {
          await app.close();
        } finally {
          clearInterval(sweep);
        }
      });
      await timed('workers', () => stopWorkers());
      await timed('nhs-login-stand-in', async () => standIn?.close());
      await timed('jobs', () => jobs.stop({ graceful: true, timeout: 10_000 }));
      await timed('database', () => database.close());
      process.exit(0);
    } catch (error) {
      logger.error({ err: error }, 'shutdown failed');
      process.exit(1);
    }
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

await main();
