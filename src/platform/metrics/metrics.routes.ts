// Counts every HTTP answer, and serves GET /metrics to Prometheus.
//
// Registered with fastify-plugin before any route, so its onResponse hook sees every route, the 404
// handler's answers included. The route label is Fastify's pattern (/:token/conversation), never the
// URL: a patient's URL path is their link token.
//
// /metrics is for a scraper, not a browser: a bearer token (METRICS_TOKEN) instead of a session, so no
// CSRF; compared in constant time. In production without a token there is no route at all (404):
// nothing about the service's traffic is public by accident. Outside production the service listens
// on loopback only (config.ts), so it is open unless a token is set.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Metrics } from './metrics.ts';

export interface MetricsRoutesOptions {
  metrics: Metrics;
  token: string | undefined;
  isProduction: boolean;
}

/** Constant time whatever the lengths: both sides are hashed to 32 bytes first. */
export function bearerTokenMatches(authorization: string | undefined, expected: string): boolean {
  const match = /^Bearer ([^\s]+)$/i.exec(authorization ?? '');
  const given = createHash('sha256').update(match?.[1] ?? '').digest();
  const wanted = createHash('sha256').update(expected).digest();
  return timingSafeEqual(given, wanted) && match !== null;
}

export const metricsPlugin = fp(async function metricsRoutes(app: FastifyInstance, opts: MetricsRoutesOptions) {
  const { metrics } = opts;
  app.addHook('onResponse', async (request, reply) => {
    metrics.httpRequest(
      { method: request.method, route: request.routeOptions.url ?? 'unmatched', statusCode: reply.statusCode },
      reply.elapsedTime / 1000,
    );
  });

  if (opts.isProduction && !opts.token) return;
  const token = opts.token;
  // A scrape every 15 seconds would otherwise put two info lines in the log each time.
  app.get('/metrics', { logLevel: 'warn', config: { skipCsrf: true } }, async (request, reply) => {
    if (token && !bearerTokenMatches(request.headers.authorization, token)) {
      return reply.status(401).header('www-authenticate', 'Bearer').type('text/plain; charset=utf-8').send('Send the metrics bearer token in the Authorization header.\n');
    }
    const body = await metrics.scrape();
    return reply.type(metrics.contentType).send(body);
  });
});
