// buildApp(deps) assembles the HTTP application from its parts. Nothing runs at import time: the
// process entry (server.ts) and the tests both call this with the dependencies they choose.
import path from 'node:path';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import fastifyFormbody from '@fastify/formbody';
import fastifyStatic from '@fastify/static';
import qs from 'node:querystring';
import type { Config } from './config/config.ts';
import type { Database } from './platform/db/client.ts';
import type { Jobs } from './platform/jobs/jobs.ts';
import { loggerOptions } from './platform/logging/logger.ts';
import { securityPlugin } from './platform/http/security.ts';
import { pagesPlugin } from './platform/http/pages.ts';
import { createViewEnvironment, nhsukDistDir, srcDir } from './platform/views/views.ts';
import { buildServices, type Services } from './services.ts';
import { healthRoutes } from './platform/http/health.routes.ts';
import { verificationRoutes } from './features/verification/verification.routes.ts';
import { patientMessagesRoutes } from './features/messages/patient-messages.routes.ts';
import { staffRoutes } from './features/staff/staff.routes.ts';
import { staffMessageRoutes } from './features/messages/staff-messages.routes.ts';
import { devPhoneRoutes } from './features/sms/dev-phone.routes.ts';
import { notifyCallbackRoutes } from './features/sms/notify-callbacks.routes.ts';
import { startMaintenance } from './features/maintenance/maintenance.service.ts';
import { startSmsWorker } from './features/sms/sms-worker.ts';
import { apiRoutes } from './features/api/api.routes.ts';
import { nhsLoginJourneyRoutes } from './features/nhs-login/nhs-login-journeys.routes.ts';
import { portalRoutes } from './features/portal/portal.routes.ts';

export interface AppDeps {
  config: Config;
  database: Database;
  jobs: Jobs;
  now?: () => Date;
  /** A pino logger instance or options; tests pass a capturing stream. */
  logger?: FastifyServerOptions['loggerInstance'];
}

declare module 'fastify' {
  interface FastifyInstance {
    services: Services;
    /** Set when shutdown begins: /ready answers 503 so a load balancer stops sending new requests. */
    draining: boolean;
    /** Starts the background workers this app needs (the SMS sender); returns how to stop them. */
    startWorkers(): Promise<() => Promise<void>>;
  }
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { config } = deps;
  const app = Fastify({
    ...(deps.logger ? { loggerInstance: deps.logger } : { logger: loggerOptions(config.logLevel) }),
    trustProxy: config.trustProxy,
    bodyLimit: 64 * 1024,
    routerOptions: { ignoreTrailingSlash: true },
  });

  const services = buildServices(deps);
  app.decorate('services', services);

  await app.register(fastifyFormbody, { parser: (body) => qs.parse(body), bodyLimit: 64 * 1024 });
  await app.register(securityPlugin, { cookieSecret: config.cookieSecret, isProduction: config.isProduction });
  await app.register(pagesPlugin, { views: createViewEnvironment() });

  app.addHook('onRoute', (route) => {
    if (route.url.startsWith('/assets/')) route.config = { ...route.config, cacheable: true };
  });
  await app.register(fastifyStatic, {
    root: path.join(nhsukDistDir, 'nhsuk'),
    prefix: '/assets/nhsuk/',
    maxAge: '1d',
  });
  await app.register(fastifyStatic, {
    root: path.join(srcDir, 'public'),
    prefix: '/assets/app/',
    decorateReply: false,
    maxAge: '1h',
  });

  app.decorate('draining', false);
  await app.register(healthRoutes, { database: deps.database, isDraining: () => app.draining });

  // Feature routes. Each feature's *.routes.ts registers its own pages and API endpoints.
  await app.register(verificationRoutes);
  await app.register(patientMessagesRoutes);
  await app.register(staffRoutes);
  await app.register(staffMessageRoutes);
  await app.register(devPhoneRoutes);
  if (config.sms.notify) await app.register(notifyCallbackRoutes, { callbackToken: config.sms.notify.callbackToken });
  await app.register(apiRoutes, { prefix: '/api' });
  await app.register(nhsLoginJourneyRoutes);
  await app.register(portalRoutes);

  app.decorate('startWorkers', async () => {
    const stops: Array<() => Promise<void>> = [];
    stops.push(await startSmsWorker(services, { logger: app.log.child({ worker: 'sms' }) }));
    stops.push(startMaintenance(services, { intervalMinutes: config.maintenanceIntervalMinutes, log: app.log.child({ worker: 'maintenance' }) }));
    return async () => {
      for (const stop of stops) await stop();
    };
  });

  return app;
}
