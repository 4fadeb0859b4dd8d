// Security headers, cookies and CSRF for every route (DESIGN.md §3). Routes opt out of CSRF only when
// they authenticate without cookies (the API key API, provider callbacks) via config.skipCsrf.
import type { FastifyInstance, FastifyReply } from 'fastify';
import fastifyCookie from '@fastify/cookie';
import fastifyCsrf from '@fastify/csrf-protection';
import fastifyHelmet from '@fastify/helmet';
import fp from 'fastify-plugin';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route authenticates without cookies (API key, bearer token), so CSRF does not apply. */
    skipCsrf?: boolean;
    /** Static assets may be cached; everything else is no-store. */
    cacheable?: boolean;
  }
}

export const CSRF_COOKIE = '__Host-dovecote-csrf';
// The CSRF secret lives in this signed cookie (@fastify/csrf-protection's cookie mode), not in a session.
const csrfCookieOptions = { path: '/', secure: true, httpOnly: true, sameSite: 'lax', signed: true } as const;

/**
 * Replaces the browser's CSRF secret: called whenever a session starts (staff sign-in, a patient's
 * verification, NHS login, the portal), so a token handed out before sign-in (planted by an attacker
 * with a login CSRF, or read off a shared computer) is refused after it. The cookie is cleared and
 * forgotten for this request, so a page rendered in the same reply makes a new secret (its Set-Cookie
 * replaces the clearing one) and a redirect leaves the next page to make one.
 */
export function rotateCsrfSecret(reply: FastifyReply): void {
  reply.clearCookie(CSRF_COOKIE, csrfCookieOptions);
  delete reply.request.cookies[CSRF_COOKIE];
}

export interface SecurityOptions {
  cookieSecret: string;
  isProduction: boolean;
}

export const securityPlugin = fp(async function security(app: FastifyInstance, opts: SecurityOptions) {
  await app.register(fastifyCookie, { secret: opts.cookieSecret });
  await app.register(fastifyHelmet, {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        fontSrc: ["'self'"],
        connectSrc: ["'self'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
        baseUri: ["'none'"],
        objectSrc: ["'none'"],
        ...(opts.isProduction ? { upgradeInsecureRequests: [] } : {}),
      },
    },
    referrerPolicy: { policy: 'no-referrer' },
    hsts: opts.isProduction ? { maxAge: 31_536_000, includeSubDomains: true } : false,
    crossOriginEmbedderPolicy: false,
  });
  await app.register(fastifyCsrf, {
    cookieKey: CSRF_COOKIE,
    cookieOpts: { ...csrfCookieOptions },
    getToken: (req) => (req.body as Record<string, unknown> | undefined)?._csrf as string | undefined,
  });

  app.addHook('onSend', async (request, reply, payload) => {
    reply.header('X-Robots-Tag', 'noindex, nofollow');
    if (!request.routeOptions.config?.cacheable) {
      reply.header('Cache-Control', 'no-store');
    }
    return payload;
  });

  app.addHook('preHandler', (request, reply, done) => {
    const method = request.method;
    // No route matched (is404): nothing will change, and the answer must be 404, not a CSRF 403 that
    // tells an API client with a mistyped URL that it is forbidden.
    if (method === 'GET' || method === 'HEAD' || method === 'OPTIONS' || request.is404 || request.routeOptions.config?.skipCsrf) {
      done();
      return;
    }
    app.csrfProtection(request, reply, done);
  });
});
