// Builds the real app on a fresh test database. Tests drive it with app.inject and assert the status
// and the words the user sees.
import diagnostics from 'node:diagnostics_channel';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance, RouteOptions } from 'fastify';
import pino from 'pino';
import { loadConfig, type Config } from '../../src/config/config.ts';
import { loggerOptions } from '../../src/platform/logging/logger.ts';
import { startJobs, type Jobs } from '../../src/platform/jobs/jobs.ts';
import { buildApp } from '../../src/app.ts';
import type { Services } from '../../src/services.ts';
import type { ItemKind } from '../../src/features/conversations/item-kinds.ts';
import { createTestDatabase, type TestDatabase } from './database.ts';
import { createFileServices, type FileServices } from '../../src/platform/files/file-services.ts';

export const TEST_SECRETS = {
  CODE_HMAC_KEYS: 'test1:dGVzdC1obWFjLWtleS10aGF0LWlzLWF0LWxlYXN0LTMyLWJ5dGVz',
  COOKIE_SECRET: 'test-cookie-secret-that-is-long-enough-0123456789',
};

export function testConfig(overrides: Record<string, string> = {}): Config {
  return loadConfig({
    NODE_ENV: 'test',
    DATA_DIR: mkdtempSync(path.join(tmpdir(), 'dovecote-test-')),
    PUBLIC_BASE_URL: 'http://localhost:3000',
    LOG_LEVEL: 'silent',
    // Most suites test something other than sign-in, and a frozen test clock would make a second sign-in
    // of one account in the same 30-second step a replay. The sign-in, route-matrix and browser suites
    // set STAFF_SECOND_FACTOR=required, as production has it.
    STAFF_SECOND_FACTOR: 'off',
    ...TEST_SECRETS,
    ...overrides,
  });
}

/** A clock the test can move. */
export class TestClock {
  private t: number;
  constructor(start = Date.parse('2026-11-26T10:00:00Z')) {
    this.t = start;
  }
  now = (): Date => new Date(this.t);
  advance(ms: number): void {
    this.t += ms;
  }
}

export interface TestApp {
  app: FastifyInstance;
  services: Services;
  jobs: Jobs;
  testDatabase: TestDatabase;
  close(): Promise<void>;
}

export interface TestAppOptions {
  config?: Record<string, string>;
  now?: () => Date;
  /** Lines the app logs, for tests that check what reaches the logs. */
  logLines?: string[];
  /** The level for logLines (default 'info'); 'debug' catches more. */
  logLevel?: string;
  /** Item kinds of the test's own, registered beside the built-in ones. */
  itemKinds?: readonly ItemKind<never>[];
  /** Called for every route as it is registered (the route matrix uses it to list them all). */
  onRoute?: (route: RouteOptions) => void;
  /** A file store or scanner of the test's own (a real clamd, an S3 server); config.files' otherwise. */
  files?: (defaults: FileServices) => FileServices;
}

/**
 * Runs `build` with an onRoute hook on the Fastify instance it creates, added before any route is
 * registered: Fastify announces each new instance on the 'fastify.initialization' diagnostics channel.
 */
async function withRouteCollector<T>(onRoute: ((route: RouteOptions) => void) | undefined, build: () => Promise<T>): Promise<T> {
  if (!onRoute) return build();
  const channel = diagnostics.channel('fastify.initialization');
  let attached = false;
  const subscriber = (message: unknown) => {
    if (attached) return;
    attached = true;
    (message as { fastify: FastifyInstance }).fastify.addHook('onRoute', onRoute);
  };
  channel.subscribe(subscriber);
  try {
    return await build();
  } finally {
    channel.unsubscribe(subscriber);
  }
}

export async function createTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const testDatabase = await createTestDatabase();
  const config = testConfig(options.config);
  const jobs = await startJobs(testDatabase.database, { supervise: false });
  const logger = options.logLines
    ? // The app's own logger options (serializers, redaction), so log tests check what production logs.
      pino(loggerOptions(options.logLevel ?? 'info'), { write: (line: string) => void options.logLines!.push(line) })
    : pino({ level: 'silent' });
  const app = await withRouteCollector(options.onRoute, () =>
    buildApp({
      config,
      database: testDatabase.database,
      jobs,
      now: options.now,
      logger,
      itemKinds: options.itemKinds,
      files: options.files?.(createFileServices(config.files)),
    }),
  );
  await app.ready();
  return {
    app,
    services: app.services,
    jobs,
    testDatabase,
    async close() {
      await app.close();
      await jobs.stop({ graceful: false, timeout: 1000 });
      await testDatabase.database.close();
      await testDatabase.drop();
    },
  };
}
