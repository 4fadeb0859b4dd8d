// The end of "Continue with NHS login" from a link's date-of-birth page: the callback hands over the
// identity, this checks it against the link (verifyLinkWithNhsLogin) and answers with the message, or
// the page that says why not. HTTP only; called by features/nhs-login/nhs-login-journeys.routes.ts.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { NhsLoginIdentity } from '../nhs-login/nhs-login.client.ts';
import { verifyLinkWithNhsLogin } from './verification.service.ts';
import {
  deviceCookieOf,
  linkRefusedPage,
  sessionCookieOf,
  setDeviceCookie,
  setSessionCookie,
} from './patient-pages.ts';

export async function finishLinkWithNhsLogin(
  request: FastifyRequest,
  reply: FastifyReply,
  token: string,
  identity: NhsLoginIdentity,
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
        { pageTitle: 'NHS login could not confirm your identity', dateOfBirthHref: `/${token}` },
        { status: 403 },
      );
    case 'mismatch':
      // Nothing about the message, the patient or who sent it.
      return reply.page(
        'verification/views/nhs-login-mismatch.njk',
        { pageTitle: 'This NHS login is not for the person this message was sent to', dateOfBirthHref: `/${token}` },
        { status: 403 },
      );
    case 'verified':
      setSessionCookie(reply, result.sessionToken);
      setDeviceCookie(reply, result.deviceToken);
      return reply.redirect(`/${token}/message`, 303);
  }
}
