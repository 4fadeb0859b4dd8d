// Where an NHS login round trip may return to, and how to read it back from the transaction. Only
// these two shapes are ever accepted: a link's NHS login step (the token checked for shape) and the
// patient portal. Anything else is refused at the start and at the callback.
import { LINK_TOKEN_PATTERN } from '../../platform/crypto/tokens.ts';

export const PORTAL_RETURN_TO = '/portal';

export type NhsLoginDestination = { kind: 'link'; token: string } | { kind: 'portal' };

/** The returnTo for "Continue with NHS login" on a link's date-of-birth page. */
export function linkReturnTo(token: string): string {
  return `/${token}/nhs-login`;
}

/** The start URL for a button. */
export function nhsLoginStartHref(returnTo: string): string {
  return `/nhs-login/start?returnTo=${encodeURIComponent(returnTo)}`;
}

export function destinationOf(returnTo: string | undefined): NhsLoginDestination | undefined {
  if (returnTo === PORTAL_RETURN_TO) return { kind: 'portal' };
  const match = /^\/([^/]+)\/nhs-login$/.exec(returnTo ?? '');
  if (match && LINK_TOKEN_PATTERN.test(match[1]!)) return { kind: 'link', token: match[1]! };
  return undefined;
}
