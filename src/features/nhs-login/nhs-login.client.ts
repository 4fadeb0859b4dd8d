// The NHS login relying party: openid-client 6 against the issuer in the config (NHS login, or the local
// stand-in). Confidential client, private_key_jwt signed with RS512, ID tokens expected in RS512, state +
// nonce + PKCE S256, exact redirect_uri, the `vtr` parameter and response_mode=query (NHS login's
// interface specification). This file knows the protocol and nothing about storage: the service keeps
// the transaction between the redirect and the callback.
//
// Never put an NHS number or a date of birth in an error or a log line: openid-client's errors carry
// the ID token's claims in `cause`, so they are never passed on, only their code and message.
import * as oidc from 'openid-client';
import { importJWK } from 'jose';
import { z } from 'zod';
import type { NhsLoginConfig } from '../../config/config.ts';
import { AppError } from '../../platform/http/errors.ts';

/** What the browser and the server must both keep between the redirect and the callback. */
export interface NhsLoginTransaction {
  state: string;
  nonce: string;
  codeVerifier: string;
  /** A path on this service to go back to after the callback (never an absolute URL). */
  returnTo: string;
  createdAt: Date;
}

export type IdentityProofingLevel = 'P0' | 'P5' | 'P9';

/** The person NHS login vouched for, from the validated ID token and userinfo (whose `sub`s match). */
export interface NhsLoginIdentity {
  sub: string;
  nhsNumber: string | null;
  /** YYYY-MM-DD. */
  birthdate: string | null;
  familyName: string | null;
  identityProofingLevel: IdentityProofingLevel | null;
  /** The vector of trust NHS login achieved (the ID token's `vot`), e.g. "P9.Cp.Cd". */
  vot: string | null;
  /**
   * P9 with an NHS number, and an ID token whose `vot` is one of the vectors asked for (`vtr`) at P9:
   * the only identity that may stand in for a security code (DESIGN.md §3).
   */
  isStrong: boolean;
}

export type NhsLoginFailure =
  /** The person chose not to continue (error=access_denied). */
  | 'cancelled'
  /** Any other error the provider sent back on the callback. */
  | 'provider_error'
  /** The callback's state is not the one this browser started with. */
  | 'state_mismatch'
  /** No sign-in was started from this browser, or it was cleared away. */
  | 'unknown_transaction'
  /** The callback for this sign-in has already been used. */
  | 'replayed'
  /** The sign-in took too long. */
  | 'expired'
  /** The ID token's nonce is not the one this sign-in sent. */
  | 'nonce_mismatch'
  /** The token endpoint refused the code or the client, or the ID token did not validate. */
  | 'token_error'
  | 'userinfo_error'
  /** Userinfo is about someone other than the ID token's subject. */
  | 'subject_mismatch'
  /** Claims missing or malformed. */
  | 'invalid_identity'
  /** Discovery failed: the provider cannot be reached or describes itself wrongly. */
  | 'unavailable'
  /** Too many sign-ins started from this address this minute (retryAfterSeconds says when to try again). */
  | 'rate_limited';

const PUBLIC_MESSAGES: Record<NhsLoginFailure, string> = {
  cancelled: 'You did not finish logging in with NHS login',
  provider_error: 'NHS login could not log you in. Try again later',
  state_mismatch: 'We could not finish logging you in with NHS login. Start again',
  unknown_transaction: 'We could not finish logging you in with NHS login. Start again',
  replayed: 'This NHS login has already been used. Start again',
  expired: 'Logging in with NHS login took too long. Start again',
  nonce_mismatch: 'We could not finish logging you in with NHS login. Start again',
  token_error: 'We could not finish logging you in with NHS login. Try again later',
  userinfo_error: 'We could not finish logging you in with NHS login. Try again later',
  subject_mismatch: 'We could not finish logging you in with NHS login. Try again later',
  invalid_identity: 'NHS login did not tell us enough about you to continue',
  unavailable: 'NHS login is not available at the moment. Try again later',
  rate_limited: 'There have been too many tries to log in with NHS login from your internet connection. Wait a minute, then try again',
};

/** A typed failure of an NHS login round trip: `reason` says which, the message is safe to show. */
export class NhsLoginError extends AppError {
  readonly reason: NhsLoginFailure;
  /** The provider's `error` parameter, when it sent one (e.g. access_denied). */
  readonly providerError: string | undefined;
  /** Where the sign-in was meant to return (set by finishNhsLogin once the transaction is known), so the page can offer the way back. */
  returnTo: string | undefined;
  /** For rate_limited: seconds until the address may start again (the Retry-After header). */
  retryAfterSeconds: number | undefined;

  constructor(reason: NhsLoginFailure, detail: string, providerError?: string) {
    const status =
      reason === 'unavailable' ? 503 : reason === 'token_error' || reason === 'userinfo_error' ? 502 : reason === 'rate_limited' ? 429 : 400;
    super(status, PUBLIC_MESSAGES[reason], `nhs login ${reason}: ${detail}`);
    this.name = 'NhsLoginError';
    this.reason = reason;
    this.providerError = providerError;
    this.returnTo = undefined;
    this.retryAfterSeconds = undefined;
  }
}

export interface NhsLoginClient {
  readonly settings: NhsLoginConfig;
  /** New state, nonce and PKCE verifier, and the URL to send the browser to. */
  startAuthorisation(input: { returnTo: string; now: Date }): Promise<{ url: URL; transaction: NhsLoginTransaction }>;
  /**
   * Finishes the round trip from the callback's query string: checks state, exchanges the code (PKCE,
   * private_key_jwt), validates the ID token (RS512, issuer, audience, nonce), reads userinfo and checks
   * its `sub`. Throws NhsLoginError. Does not check expiry or single use: the service does.
   */
  completeAuthorisation(callbackQuery: URLSearchParams, transaction: NhsLoginTransaction): Promise<NhsLoginIdentity>;
}

export interface NhsLoginClientOptions {
  /** Seconds before a request to the provider gives up (openid-client default 30). */
  timeoutSeconds?: number;
}

/** The public half of the client's key: what NHS login (or the stand-in) is given to check our assertions. */
export function nhsLoginPublicJwk(privateJwk: NhsLoginConfig['privateJwk']): { kty: string; n: string; e: string; kid: string; alg: 'RS512'; use: 'sig' } {
  const { kty, n, e, kid } = privateJwk;
  if (kty !== 'RSA' || !n || !e) throw new Error('NHS login key is not an RSA key');
  return { kty, n, e, kid, alg: 'RS512', use: 'sig' };
}

/** Safe words from an openid-client error: its class, code and message, never its `cause`. */
function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    const body = error instanceof oidc.ResponseBodyError ? ` (${error.error})` : '';
    return `${error.name}${typeof code === 'string' ? ` ${code}` : ''}: ${error.message}${body}`;
  }
  return 'unknown error';
}

// oauth4webapi's error codes (openid-client does not re-export the constants).
const JWT_CLAIM_COMPARISON = 'OAUTH_JWT_CLAIM_COMPARISON_FAILED';
const JSON_ATTRIBUTE_COMPARISON = 'OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED';

/** openid-client wraps oauth4webapi's error, whose own cause names the claim: look a few levels down. */
function claimComparisonFailed(error: unknown, claim: string): boolean {
  if (!(error instanceof Error) || (error as { code?: unknown }).code !== JWT_CLAIM_COMPARISON) return false;
  let cause: unknown = error;
  for (let depth = 0; depth < 3 && typeof cause === 'object' && cause !== null; depth++) {
    if ((cause as { claim?: unknown }).claim === claim) return true;
    cause = (cause as { cause?: unknown }).cause;
  }
  return false;
}

const claimsSchema = z.object({
  sub: z.string().min(1),
  nhs_number: z.string().regex(/^\d{10}$/).optional(),
  birthdate: z.iso.date().optional(),
  family_name: z.string().optional(),
  identity_proofing_level: z.enum(['P0', 'P5', 'P9']).optional(),
  vot: z.string().optional(),
});

/**
 * Whether the vector of trust NHS login says it achieved is one this service asked for, at P9.
 * `identity_proofing_level` alone is not enough: `vot` is NHS login's statement of what was checked
 * (how the person proved who they are and how they authenticated), and a vector not asked for, or
 * none at all, means the sign-in was not the one the `vtr` parameter requested.
 */
export function isP9VectorAskedFor(vot: string | null | undefined, askedFor: readonly string[]): boolean {
  return typeof vot === 'string' && askedFor.includes(vot) && vot.split('.')[0] === 'P9';
}

/**
 * Identity from the ID token and userinfo: profile claims from userinfo first, trust (the proofing
 * level and `vot`) from the ID token. `askedFor` is the configured `vtr`.
 */
export function identityFromClaims(idToken: Record<string, unknown>, userinfo: Record<string, unknown>, askedFor: readonly string[]): NhsLoginIdentity {
  const fromToken = claimsSchema.safeParse(idToken);
  const fromUserinfo = claimsSchema.safeParse(userinfo);
  if (!fromToken.success || !fromUserinfo.success) {
    const issue = (fromToken.error ?? fromUserinfo.error)?.issues[0];
    // The path names the claim; the value is never included.
    throw new NhsLoginError('invalid_identity', `claim ${issue?.path.join('.') ?? '?'} is malformed`);
  }
  const t = fromToken.data;
  const u = fromUserinfo.data;
  if (t.sub !== u.sub) throw new NhsLoginError('subject_mismatch', 'userinfo sub is not the ID token sub');
  if (t.identity_proofing_level && u.identity_proofing_level && t.identity_proofing_level !== u.identity_proofing_level) {
    throw new NhsLoginError('invalid_identity', 'identity_proofing_level differs between ID token and userinfo');
  }
  const level = t.identity_proofing_level ?? u.identity_proofing_level ?? null;
  const nhsNumber = u.nhs_number ?? t.nhs_number ?? null;
  // Only the signed ID token's vot: userinfo is not where NHS login vouches for the sign-in.
  const vot = t.vot ?? null;
  return {
    sub: t.sub,
    nhsNumber,
    birthdate: u.birthdate ?? t.birthdate ?? null,
    familyName: u.family_name ?? t.family_name ?? null,
    identityProofingLevel: level,
    vot,
    isStrong: level === 'P9' && nhsNumber !== null && isP9VectorAskedFor(vot, askedFor),
  };
}

export function createNhsLoginClient(settings: NhsLoginConfig, options: NhsLoginClientOptions = {}): NhsLoginClient {
  let configuration: Promise<oidc.Configuration> | undefined;

  async function discover(): Promise<oidc.Configuration> {
    const key = await importJWK(settings.privateJwk, 'RS512');
    if (!(key instanceof CryptoKey)) throw new Error('NHS login private key did not import as a CryptoKey');
    const found = await oidc.discovery(
      new URL(settings.issuer),
      settings.clientId,
      { id_token_signed_response_alg: 'RS512', redirect_uris: [settings.redirectUri], response_types: ['code'] },
      oidc.PrivateKeyJwt({ key, kid: settings.privateJwk.kid }),
      {
        // Plain http only for the local stand-in on a loopback address; config never allows it in production.
        execute: settings.allowInsecureRequests ? [oidc.allowInsecureRequests] : [],
        timeout: options.timeoutSeconds ?? 10,
      },
    );
    found.timeout = options.timeoutSeconds ?? 10;
    return found;
  }

  /** Discovery once, shared; a failure is not cached, so the next sign-in tries again. */
  async function config(): Promise<oidc.Configuration> {
    configuration ??= discover();
    try {
      return await configuration;
    } catch (error) {
      configuration = undefined;
      throw new NhsLoginError('unavailable', describe(error));
    }
  }

  return {
    settings,

    async startAuthorisation({ returnTo, now }) {
      const c = await config();
      const transaction: NhsLoginTransaction = {
        state: oidc.randomState(),
        nonce: oidc.randomNonce(),
        codeVerifier: oidc.randomPKCECodeVerifier(),
        returnTo,
        createdAt: now,
      };
      const url = oidc.buildAuthorizationUrl(c, {
        response_type: 'code',
        response_mode: 'query',
        redirect_uri: settings.redirectUri,
        scope: settings.scopes,
        state: transaction.state,
        nonce: transaction.nonce,
        code_challenge: await oidc.calculatePKCECodeChallenge(transaction.codeVerifier),
        code_challenge_method: 'S256',
        vtr: JSON.stringify(settings.vtr),
      });
      return { url, transaction };
    },

    async completeAuthorisation(callbackQuery, transaction) {
      const c = await config();
      // Checked here first so a mismatch is named plainly (openid-client checks again).
      if (callbackQuery.get('state') !== transaction.state) {
        throw new NhsLoginError('state_mismatch', 'callback state is not the transaction state');
      }
      // The exact redirect_uri, whatever Host header or proxy the callback came through.
      const currentUrl = new URL(settings.redirectUri);
      currentUrl.search = callbackQuery.toString();

      let tokens: Awaited<ReturnType<typeof oidc.authorizationCodeGrant>>;
      try {
        tokens = await oidc.authorizationCodeGrant(c, currentUrl, {
          expectedState: transaction.state,
          expectedNonce: transaction.nonce,
          pkceCodeVerifier: transaction.codeVerifier,
          idTokenExpected: true,
        });
      } catch (error) {
        if (error instanceof oidc.AuthorizationResponseError) {
          const reason = error.error === 'access_denied' ? 'cancelled' : 'provider_error';
          throw new NhsLoginError(reason, `provider answered ${error.error}`, error.error);
        }
        if (claimComparisonFailed(error, 'nonce')) throw new NhsLoginError('nonce_mismatch', describe(error));
        throw new NhsLoginError('token_error', describe(error));
      }

      const idTokenClaims = tokens.claims();
      if (!idTokenClaims) throw new NhsLoginError('token_error', 'no ID token');
      let userinfo: oidc.UserInfoResponse;
      try {
        userinfo = await oidc.fetchUserInfo(c, tokens.access_token, idTokenClaims.sub);
      } catch (error) {
        if (error instanceof Error && (error as { code?: unknown }).code === JSON_ATTRIBUTE_COMPARISON) {
          throw new NhsLoginError('subject_mismatch', 'userinfo sub is not the ID token sub');
        }
        throw new NhsLoginError('userinfo_error', describe(error));
      }
      return identityFromClaims(idTokenClaims, userinfo, settings.vtr);
    },
  };
}
