// Addresses browsers, crawlers and phones ask for on their own (favicon.ico, robots.txt, Apple's touch
// icons, /.well-known/…). Answered here, so they never reach the link routes at the root (/:token),
// where a shared address's automatic requests would look like guesses at links.
import type { FastifyInstance } from 'fastify';

/**
 * Every URL of this service is a capability (a link's token) or a page no search engine needs: ask
 * crawlers to stay out altogether (W3C TAG "Good practices for capability URLs"). X-Robots-Tag:
 * noindex on every response is the rule for those that do not ask.
 */
export const ROBOTS_TXT = 'User-agent: *\nDisallow: /\n';

const ONE_DAY_SECONDS = 86_400;

export async function wellKnownRoutes(app: FastifyInstance) {
  const cacheable = { config: { cacheable: true } };

  app.get('/robots.txt', cacheable, async (_request, reply) => {
    return reply.header('Cache-Control', `public, max-age=${ONE_DAY_SECONDS}`).type('text/plain; charset=utf-8').send(ROBOTS_TXT);
  });

  // The NHS favicon the pages name in their <link rel="icon">, for browsers that ask the root anyway.
  app.get('/favicon.ico', cacheable, async (_request, reply) => {
    return reply.sendFile('assets/images/favicon.ico', { maxAge: ONE_DAY_SECONDS * 1000 });
  });

  // iOS asks for apple-touch-icon.png, -precomposed.png and sized variants; there is no such icon.
  app.get('/apple-touch-icon*', async (_request, reply) => reply.callNotFound());

  // Nothing is published under /.well-known/ (RFC 8615).
  app.get('/.well-known/*', async (_request, reply) => reply.callNotFound());
}
