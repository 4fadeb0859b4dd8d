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
import type { FileServices } from './platform/files/file-services.ts';
import { registerMultipart } from './platform/http/multipart.ts';
import { healthRoutes } from './platform/http/health.routes.ts';
import { metricsPlugin } from './platform/metrics/metrics.routes.ts';
import { wellKnownRoutes } from './platform/http/well-known.routes.ts';
import { verificationRoutes } from './features/verification/verification.routes.ts';
import { decoratePatientAccess, linkAccessGuard, portalAccessGuard, type LandingPaths } from './features/verification/patient-access.ts';
import { nhsLoginJourneyRoutes } from './features/verification/nhs-login-journeys.routes.ts';
import { ItemKindRegistry, type ItemKind } from './features/conversations/item-kinds.ts';
import { conversationPaths } from './features/conversations/conversation-pages.ts';
import { conversationRoutes } from './features/conversations/conversation.routes.ts';
import { staffConversationRoutes } from './features/conversations/staff-conversations.routes.ts';
import { messageKind } from './features/messages/message.kind.ts';
import { staffRoutes } from './features/staff/staff.routes.ts';
import { staffSecondFactorRoutes } from './features/staff/staff-second-factor.routes.ts';
import { staffAdminRoutes } from './features/staff/staff-admin.routes.ts';
import { staffMessageRoutes } from './features/messages/staff-messages.routes.ts';
import { staffPatientRoutes } from './features/patients/staff-patient.routes.ts';
import { questionnaireKind } from './features/questionnaires/questionnaire.kind.ts';
import { staffQuestionnaireRoutes } from './features/questionnaires/staff-questionnaire.routes.ts';
import { staffBookingRoutes } from './features/booking/staff-booking.routes.ts';
import { bookingKind } from './features/booking/booking.kind.ts';
import { documentKind } from './features/documents/document.kind.ts';
import { staffDocumentRoutes } from './features/documents/staff-document.routes.ts';
import { staffFileRoutes } from './features/files/staff-files.routes.ts';
import { templateRoutes } from './features/templates/templates.routes.ts';
import { auditViewerRoutes } from './features/audit-viewer/audit-viewer.routes.ts';
import { staffNotFoundPages } from './features/staff/staff-not-found.ts';
import { devPhoneEnabled } from './features/sms/dev-phone.service.ts';
import { notifyCallbackRoutes } from './features/sms/notify-callbacks.routes.ts';
import { startMaintenance } from './features/maintenance/maintenance.service.ts';
import { startSmsWorker } from './features/sms/sms-worker.ts';
import { createSmsQueues } from './features/sms/sms-queues.ts';
import { apiRoutes } from './features/api/api.routes.ts';
import { portalRoutes } from './features/portal/portal.routes.ts';

/**
 * What can be behind a link: one line a kind (DESIGN.md §2). `extra` is for tests that register a
 * kind of their own.
 */
export function itemKindRegistry(extra: readonly ItemKind<never>[] = []): ItemKindRegistry {
  const registry = new ItemKindRegistry();
  registry.register(messageKind);
  registry.register(questionnaireKind);
  registry.register(bookingKind);
  registry.register(documentKind);
  for (const kind of extra) registry.register(kind);
  return registry;
}

export interface AppDeps {
  config: Config;
  database: Database;
  jobs: Jobs;
  now?: () => Date;
  /** Item kinds beyond the built-in ones (tests only). */
  itemKinds?: readonly ItemKind<never>[];
  /** The file store and scanner, when not the ones config.files names (tests). */
  files?: FileServices;
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

  const services = buildServices({ ...deps, itemKinds: itemKindRegistry(deps.itemKinds), log: app.log });
  app.decorate('services', services);
  // Each feature makes the queues it uses, with its own retry policy (idempotent).
  await createSmsQueues(deps.jobs);
  // Before any route, so every answer is counted (by route pattern, never the URL).
  await app.register(metricsPlugin, { metrics: services.metrics, token: config.metricsToken, isProduction: config.isProduction });

  await app.register(fastifyFormbody, { parser: (body) => qs.parse(body), bodyLimit: 64 * 1024 });
  await registerMultipart(app);
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
  await app.register(wellKnownRoutes);

  // Feature routes. Each feature's *.routes.ts registers its own pages and API endpoints. Verification
  // lands a browser it lets in on the conversation pages, which it guards for both ways in.
  const landing: LandingPaths = { link: conversationPaths.link, portal: conversationPaths.portal };
  decoratePatientAccess(app);
  await app.register(verificationRoutes, { landing });
  await app.register(nhsLoginJourneyRoutes, { landing });
  await app.register(conversationRoutes, { linkGuard: linkAccessGuard(landing), portalGuard: portalAccessGuard(landing) });
  await app.register(portalRoutes);
  await app.register(staffRoutes);
  await app.register(staffSecondFactorRoutes);
  await app.register(staffAdminRoutes);
  await app.register(staffMessageRoutes);
  await app.register(staffPatientRoutes);
  await app.register(staffConversationRoutes);
  await app.register(staffQuestionnaireRoutes);
  await app.register(staffBookingRoutes);
  await app.register(staffDocumentRoutes);
  await app.register(staffFileRoutes);
  await app.register(templateRoutes);
  await app.register(auditViewerRoutes);
  await app.register(staffNotFoundPages);
  // Development only: the module is not even loaded otherwise.
  if (devPhoneEnabled(config)) await app.register((await import('./features/sms/dev-phone.routes.ts')).devPhoneRoutes);
  if (config.sms.notify) await app.register(notifyCallbackRoutes, { callbackToken: config.sms.notify.callbackToken });
  await app.register(apiRoutes, { prefix: '/api' });

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
