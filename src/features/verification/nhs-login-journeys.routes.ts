// Where NHS login leads: registers the relying party's routes (GET /nhs-login/start, the callback) with
// the two journeys that use them — a link's "Continue with NHS login" (returnTo /<token>/nhs-login) and
// the patient portal (returnTo /portal). Any other returnTo is refused at the start and at the callback.
// HTTP only: the identity is checked by verifyLinkWithNhsLogin / signInToPortal.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { nhsLoginRoutes } from '../nhs-login/nhs-login.routes.ts';
import { NhsLoginError, type NhsLoginIdentity } from '../nhs-login/nhs-login.client.ts';
import { destinationOf, PORTAL_RETURN_TO } from './nhs-login-destinations.ts';
import { lookUpLink } from './patient-access.service.ts';
import type { LandingPaths } from './patient-access.ts';
import { signInToPortal } from './portal-access.service.ts';
import { verifyLinkWithNhsLogin } from './verification.service.ts';
import { triesLeftWords } from './verification.routes.ts';
import {
  deviceCookieOf,
  linkRefusedPage,
  organisationOf,
  portalCookieOf,
  sessionCookieOf,
  setDeviceCookie,
  setPortalCookie,
  setSessionCookie,
  wordsOf,
} from './patient-pages.ts';

/**
 * What a result page from a link shows besides its own words: who sent the link and how to contact
 * them, and the way back to the date of birth. The person holding the link has already seen the
 * organisation's name (in the text message and on the date-of-birth page), so this reveals nothing new.
 */
async function linkHelp(request: FastifyRequest, token: string) {
  const services = request.server.services;
  const lookup = await lookUpLink(services, token, request.ip);
  if (lookup.kind !== 'found') return { dateOfBirthHref: `/${token}` };
  return { dateOfBirthHref: `/${token}`, organisation: organisationOf(lookup.context), words: wordsOf(services, lookup.context) };
}

async function finishLinkWithNhsLogin(
  request: FastifyRequest,
  reply: FastifyReply,
  token: string,
  identity: NhsLoginIdentity,
  landing: LandingPaths,
): Promise<FastifyReply> {
  const services = request.server.services;
  const result = await verifyLinkWithNhsLogin(services, {
    token,
    ip: request.ip,
    identity,
    deviceToken: deviceCookieOf(request),
    sessionToken: sessionCookieOf(request),
  });
  switch (result.kind) {
    case 'rate_limited':
    case 'unknown':
    case 'gone':
    case 'locked':
      return linkRefusedPage(reply, services, result);
    case 'not_strong':
      return reply.page(
        'nhs-login/views/not-strong.njk',
        {
          pageTitle: 'NHS login could not confirm your identity',
          dateOfBirthHref: `/${token}`,
          organisation: organisationOf(result.context),
          words: wordsOf(services, result.context),
        },
        { status: 403 },
      );
    case 'mismatch': {
      // Nothing about what was sent or who it was sent to: only who sent it, which the link already showed.
      const words = wordsOf(services, result.context);
      return reply.page(
        'verification/views/nhs-login-mismatch.njk',
        {
          pageTitle: `This NHS login is not for the person this ${words.thing} was sent to`,
          dateOfBirthHref: `/${token}`,
          organisation: organisationOf(result.context),
          words,
          triesLeft: triesLeftWords(result.checksLeft),
        },
        { status: 403 },
      );
    }
    case 'verified':
      setSessionCookie(reply, result.sessionToken);
      setDeviceCookie(reply, result.deviceToken);
      return reply.redirect(landing.link(token), 303);
  }
}

/** The end of "Continue with NHS login" from the home page: P9 opens the portal (a new session token). */
async function finishPortalSignIn(request: FastifyRequest, reply: FastifyReply, identity: NhsLoginIdentity): Promise<FastifyReply> {
  const result = await signInToPortal(request.server.services, { identity, ip: request.ip, sessionToken: portalCookieOf(request) });
  if (result.kind === 'not_strong') {
    return reply.page('nhs-login/views/not-strong.njk', { pageTitle: 'NHS login could not confirm your identity' }, { status: 403 });
  }
  setPortalCookie(reply, result.sessionToken);
  return reply.redirect(PORTAL_RETURN_TO, 303);
}

export async function nhsLoginJourneyRoutes(app: FastifyInstance, options: { landing: LandingPaths }) {
  await app.register(nhsLoginRoutes, {
    isAllowedReturnTo: (returnTo) => destinationOf(returnTo) !== undefined,
    onIdentity: (request, reply, identity, finished) => {
      const destination = destinationOf(finished.returnTo);
      if (destination?.kind === 'link') return finishLinkWithNhsLogin(request, reply, destination.token, identity, options.landing);
      if (destination?.kind === 'portal') return finishPortalSignIn(request, reply, identity);
      const error = new NhsLoginError('unknown_transaction', 'the sign-in returns nowhere this service knows');
      return reply.page(
        'nhs-login/views/nhs-login-problem.njk',
        { pageTitle: 'There is a problem with NHS login', message: error.publicMessage, startAgainHref: '/' },
        { status: 400 },
      );
    },
    onFailure: async (request, reply, error) => {
      const destination = destinationOf(error.returnTo);
      const help = destination?.kind === 'link' ? await linkHelp(request, destination.token) : {};
      return reply.page(
        'nhs-login/views/nhs-login-problem.njk',
        {
          pageTitle: error.reason === 'cancelled' ? 'You did not finish logging in' : 'There is a problem with NHS login',
          message: error.publicMessage,
          startAgainHref: destination?.kind === 'link' ? `/${destination.token}` : '/',
          ...help,
        },
        { status: error.status },
      );
    },
  });
}
