// GET /nhs-login/start?returnTo=/… and GET <NHS_LOGIN_REDIRECT_PATH> (default /nhs-login/callback).
// HTTP only: the browser keeps the state in a short-lived __Host- cookie; the service keeps the rest.
// What a verified identity opens (a link's conversation, the portal) is decided by the caller through
// onIdentity, so this plugin knows nothing about links or sessions. Registered by nhs-login-journeys.routes.ts.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { AppError } from '../../platform/http/errors.ts';
import { NhsLoginError, type NhsLoginIdentity } from './nhs-login.client.ts';
import { beginNhsLogin, finishNhsLogin, limitNhsLoginStarts, NHS_LOGIN_TRANSACTION_TTL_MS, type FinishedNhsLogin } from './nhs-login.service.ts';

export const NHS_LOGIN_STATE_COOKIE = '__Host-dovecote-nhs-login';
// Lax: the callback is a top-level GET navigation from NHS login, which Lax cookies accompany.
const stateCookie = { path: '/', httpOnly: true, secure: true, sameSite: 'lax' } as const;

export interface NhsLoginRoutesOptions {
  /** Must send the reply: e.g. check the identity against the link, start a session, redirect to returnTo. */
  onIdentity(request: FastifyRequest, reply: FastifyReply, identity: NhsLoginIdentity, finished: FinishedNhsLogin): unknown;
  /** Must send the reply; default: a plain page that says what happened and offers to try again. */
  onFailure?(request: FastifyRequest, reply: FastifyReply, error: NhsLoginError): unknown;
  /** Where a sign-in may return to (beyond being a local path); others are refused before leaving. */
  isAllowedReturnTo?(returnTo: string): boolean;
}

const startQuery = z.object({
  returnTo: z.preprocess((v) => (typeof v === 'string' ? v : undefined), z.string().default('/')),
});

function failurePage(reply: FastifyReply, error: NhsLoginError) {
  const title = error.reason === 'cancelled' ? 'You did not finish logging in' : 'There is a problem with NHS login';
  return reply.page(
    'nhs-login/views/nhs-login-problem.njk',
    { pageTitle: title, message: error.publicMessage, startAgainHref: '/' },
    { status: error.status },
  );
}

export async function nhsLoginRoutes(app: FastifyInstance, opts: NhsLoginRoutesOptions) {
  const { services } = app;
  const settings = services.config.nhsLogin;
  if (!settings) return; // NHS login is off: no routes, and pages show no button.
  const callbackPath = new URL(settings.redirectUri).pathname;
  const onFailure = opts.onFailure ?? ((_request, reply, error) => failurePage(reply, error));

  app.get('/nhs-login/start', async (request, reply) => {
    const { returnTo } = startQuery.parse(request.query);
    if (opts.isAllowedReturnTo && !opts.isAllowedReturnTo(returnTo)) {
      throw new AppError(400, 'We could not start logging you in with NHS login', 'returnTo is not an allowed destination');
    }
    let begun;
    try {
      await limitNhsLoginStarts(services, request.ip);
      begun = await beginNhsLogin(services, { returnTo });
    } catch (error) {
      if (!(error instanceof NhsLoginError)) throw error;
      request.log.warn({ nhsLoginFailure: error.reason }, 'nhs login could not start');
      services.metrics.nhsLoginFailure(error.reason);
      // Allowed above, so the failure page may offer the way back to where the person came from.
      error.returnTo = returnTo;
      if (error.retryAfterSeconds !== undefined) void reply.header('retry-after', String(error.retryAfterSeconds));
      return onFailure(request, reply, error);
    }
    reply.setCookie(NHS_LOGIN_STATE_COOKIE, begun.state, { ...stateCookie, maxAge: NHS_LOGIN_TRANSACTION_TTL_MS / 1000 });
    return reply.redirect(begun.url.toString(), 302);
  });

  app.get(callbackPath, async (request, reply) => {
    const state = request.cookies[NHS_LOGIN_STATE_COOKIE] || undefined;
    const rawQuery = request.url.includes('?') ? request.url.slice(request.url.indexOf('?') + 1) : '';
    reply.clearCookie(NHS_LOGIN_STATE_COOKIE, stateCookie);
    let finished: FinishedNhsLogin;
    try {
      finished = await finishNhsLogin(services, { state, callbackQuery: rawQuery });
    } catch (error) {
      if (!(error instanceof NhsLoginError)) throw error;
      request.log.warn({ nhsLoginFailure: error.reason, providerError: error.providerError }, 'nhs login did not finish');
      services.metrics.nhsLoginFailure(error.reason);
      return onFailure(request, reply, error);
    }
    request.log.info({ identityProofingLevel: finished.identity.identityProofingLevel }, 'nhs login finished');
    return opts.onIdentity(request, reply, finished.identity, finished);
  });
}
