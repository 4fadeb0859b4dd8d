// HTTP helpers shared by every patient page verification answers: the cookies, and the page for each
// reason a browser may not go on (unknown link, gone, locked, too many look-ups, no session). Routes only.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Services } from '../../services.ts';
import type { LockedLinkState } from '../links/links.service.ts';
import type { AccessProblem, LinkContext } from './patient-access.service.ts';
import type { LandingPaths } from './patient-access.ts';
import type { CodeLimit } from './security-codes.service.ts';
import { rotateCsrfSecret } from '../../platform/http/security.ts';
import { describeWait } from './wait-times.ts';

export const SESSION_COOKIE = '__Host-dovecote-session';
export const DEVICE_COOKIE = '__Host-dovecote-device';
export const PORTAL_COOKIE = '__Host-dovecote-portal';
/** Browsers cap cookie lifetimes at 400 days (RFC 6265bis). */
export const DEVICE_COOKIE_MAX_AGE_SECONDS = 400 * 24 * 60 * 60;

const cookieBase = { path: '/', httpOnly: true, secure: true, sameSite: 'lax' } as const;

export function sessionCookieOf(request: FastifyRequest): string | undefined {
  return request.cookies[SESSION_COOKIE] || undefined;
}

export function deviceCookieOf(request: FastifyRequest): string | undefined {
  return request.cookies[DEVICE_COOKIE] || undefined;
}

/**
 * A session cookie (no Max-Age): the server ends the session; the browser forgets it on close. A new
 * session comes with a new CSRF secret, so no token from before verification works after it.
 */
export function setSessionCookie(reply: FastifyReply, token: string): void {
  rotateCsrfSecret(reply);
  reply.setCookie(SESSION_COOKIE, token, cookieBase);
}

export function clearSessionCookie(reply: FastifyReply): void {
  reply.clearCookie(SESSION_COOKIE, cookieBase);
}

export function setDeviceCookie(reply: FastifyReply, token: string): void {
  reply.setCookie(DEVICE_COOKIE, token, { ...cookieBase, maxAge: DEVICE_COOKIE_MAX_AGE_SECONDS });
}

export function portalCookieOf(request: FastifyRequest): string | undefined {
  return request.cookies[PORTAL_COOKIE] || undefined;
}

/**
 * A browser session cookie: the server ends the session after 30 minutes idle or 12 hours. A new
 * session comes with a new CSRF secret, as for a link session.
 */
export function setPortalCookie(reply: FastifyReply, token: string): void {
  rotateCsrfSecret(reply);
  reply.setCookie(PORTAL_COOKIE, token, cookieBase);
}

export function clearPortalCookie(reply: FastifyReply): void {
  reply.clearCookie(PORTAL_COOKIE, cookieBase);
}

export function organisationOf(context: LinkContext) {
  return { name: context.organisation.name, contactPhone: context.organisation.contactPhone };
}

/** What the link opens, in words ("Message", "message"), from the conversation's kind. */
export function wordsOf(services: Services, context: LinkContext) {
  return services.itemKinds.words(context.conversation.kind);
}

export function tooManyLookupsPage(reply: FastifyReply, services: Services, retryAt: Date): FastifyReply {
  const wait = describeWait(services.now(), retryAt);
  reply.header('Retry-After', String(wait.retryAfterSeconds));
  return reply.page('verification/views/too-many-requests.njk', { pageTitle: 'You have tried to open links too many times', wait }, { status: 429 });
}

export function unknownLinkPage(reply: FastifyReply): FastifyReply {
  return reply.page('verification/views/unknown-link.njk', { pageTitle: 'We cannot find this link' }, { status: 404 });
}

export function goneLinkPage(reply: FastifyReply, services: Services, context: LinkContext, reason: 'expired' | 'revoked'): FastifyReply {
  return reply.page(
    'verification/views/link-gone.njk',
    {
      pageTitle: reason === 'expired' ? 'This link has expired' : 'This link no longer works',
      reason,
      organisation: organisationOf(context),
      words: wordsOf(services, context),
    },
    { status: 410 },
  );
}

export function lockedLinkPage(reply: FastifyReply, services: Services, context: LinkContext, lock: LockedLinkState): FastifyReply {
  const wait = lock.state === 'locked' ? describeWait(services.now(), lock.until) : undefined;
  if (wait) reply.header('Retry-After', String(wait.retryAfterSeconds));
  return reply.page(
    'verification/views/link-locked.njk',
    {
      pageTitle: 'This link is locked',
      permanently: lock.state === 'locked-permanently',
      reason: lock.state === 'locked-permanently' ? lock.reason : 'dates_of_birth',
      wait,
      organisation: organisationOf(context),
      words: wordsOf(services, context),
    },
    { status: 423 },
  );
}

/** The reasons a link cannot be used at all, whatever the browser holds. */
export type LinkRefusal =
  | { kind: 'rate_limited'; retryAt: Date }
  | { kind: 'unknown' }
  | { kind: 'gone'; context: LinkContext; reason: 'expired' | 'revoked' }
  | { kind: 'locked'; context: LinkContext; lock: LockedLinkState };

/** The page for each LinkRefusal: one place, so every route behind a link answers them alike. */
export function linkRefusedPage(reply: FastifyReply, services: Services, refusal: LinkRefusal): FastifyReply {
  switch (refusal.kind) {
    case 'rate_limited':
      return tooManyLookupsPage(reply, services, refusal.retryAt);
    case 'unknown':
      return unknownLinkPage(reply);
    case 'gone':
      return goneLinkPage(reply, services, refusal.context, refusal.reason);
    case 'locked':
      return lockedLinkPage(reply, services, refusal.context, refusal.lock);
  }
}

export function codeLimitPage(
  reply: FastifyReply,
  services: Services,
  token: string,
  context: LinkContext,
  limit: Extract<CodeLimit, { ok: false }>,
  /**
   * codeLive: a code sent earlier still works. askedHere: this browser asked for the newest code (on
   * the date of birth it did not: another browser did). lostTrust: this browser was the trusted device.
   */
  options: { codeLive: boolean; askedHere: boolean; lostTrust: boolean },
): FastifyReply {
  const wait = describeWait(services.now(), limit.retryAt);
  reply.header('Retry-After', String(wait.retryAfterSeconds));
  const pageTitle = limit.limit === 'wait' ? 'You need to wait before you can get a new security code' : 'You have asked for too many security codes';
  return reply.page(
    'verification/views/code-limit.njk',
    {
      pageTitle,
      limit: limit.limit,
      wait,
      token,
      codeLive: options.codeLive,
      askedHere: options.askedHere,
      lostTrust: options.lostTrust,
      organisation: organisationOf(context),
      words: wordsOf(services, context),
    },
    { status: 429 },
  );
}

/** The page or redirect for each reason a browser may not go on with a link. */
export function accessProblemReply(
  reply: FastifyReply,
  services: Services,
  token: string,
  problem: AccessProblem,
  landing: LandingPaths,
): FastifyReply {
  switch (problem.kind) {
    case 'rate_limited':
    case 'unknown':
    case 'gone':
    case 'locked':
      return linkRefusedPage(reply, services, problem);
    case 'no_session':
      return reply.redirect(`/${token}`, 303);
    case 'session_expired':
      clearSessionCookie(reply);
      return reply.redirect(`/${token}?session=expired`, 303);
    case 'wrong_state':
      return reply.redirect(problem.state === 'verified' ? landing.link(token) : `/${token}/code`, 303);
  }
}
