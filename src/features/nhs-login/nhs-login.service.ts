// NHS login sign-ins: begin (store the transaction, hand back the provider URL and the state the
// browser must keep) and finish (use the transaction once, then run the protocol). What the identity
// then opens — a link's conversation, the portal — is the caller's business.
//
// The browser keeps the state (e.g. in a short-lived cookie) and the server keeps its SHA-256 with the
// nonce and PKCE verifier. The callback is only finished when the browser's state, the callback's state
// and a live, unused transaction all agree, so a callback URL alone (login CSRF) or a replay does nothing.
//
// The returnTo is kept sealed with a key derived from the state: a link's returnTo (/<token>/nhs-login)
// is the link's own secret, which with the date of birth opens the message, so the database must not
// hold it in the clear (a copy or a backup would open every link with a sign-in in flight). Without the
// browser's state the sealed value is noise; with it, the server reads it back at the callback.
import { and, eq, isNull, lt, or, isNotNull } from 'drizzle-orm';
import type { Config } from '../../config/config.ts';
import type { Queryable } from '../../platform/db/client.ts';
import { nhsLoginTransactions } from '../../platform/db/schema.ts';
import { sha256Hex } from '../../platform/crypto/tokens.ts';
import { AppError } from '../../platform/http/errors.ts';
import type { RateLimiter } from '../../platform/http/rate-limiter.ts';
import { hkdfSync, timingSafeEqual } from 'node:crypto';
import { CompactEncrypt, compactDecrypt } from 'jose';
import {
  createNhsLoginClient,
  NhsLoginError,
  type NhsLoginClient,
  type NhsLoginIdentity,
  type NhsLoginTransaction,
} from './nhs-login.client.ts';

/** How long a person may take at NHS login (sign in, security code, maybe proving who they are). */
export const NHS_LOGIN_TRANSACTION_TTL_MS = 15 * 60 * 1000;

/**
 * Sign-ins an IP address may start a minute. Each start writes a transaction row that is kept for a
 * day, so without a limit one client fills the table as fast as it can ask. Generous, because a
 * hospital's Wi-Fi or a mobile network puts many patients behind one address, and a person may press
 * the button more than once.
 */
export const NHS_LOGIN_STARTS_PER_MINUTE = 30;

/** What these functions need from Services (so tests can run them on a bare database). */
export interface NhsLoginDeps {
  config: Pick<Config, 'nhsLogin'>;
  db: Queryable;
  now: () => Date;
}

const clients = new WeakMap<object, NhsLoginClient>();

/** The client for this configuration, made once (discovery is cached inside it). */
export function nhsLoginClientFor(config: Pick<Config, 'nhsLogin'>): NhsLoginClient {
  const settings = config.nhsLogin;
  if (!settings) throw new NhsLoginError('unavailable', 'NHS login is not configured');
  let client = clients.get(settings);
  if (!client) {
    client = createNhsLoginClient(settings);
    clients.set(settings, client);
  }
  return client;
}

/** Whether pages should offer "Continue with NHS login". */
export function isNhsLoginEnabled(config: Pick<Config, 'nhsLogin'>): boolean {
  return config.nhsLogin !== undefined;
}

/** A path on this service: "/…" but not "//…" or "/\…" (which browsers treat as another host). */
export function isSafeReturnTo(returnTo: string): boolean {
  return /^\/(?![/\\])[^\s\\]*$/.test(returnTo) && returnTo.length <= 2048;
}

/**
 * Counts a sign-in about to start from `ip`; throws NhsLoginError 'rate_limited' (with
 * retryAfterSeconds) once the address has started NHS_LOGIN_STARTS_PER_MINUTE this minute. Call it
 * before beginNhsLogin: the counter is one row an address a minute, however many requests.
 */
export async function limitNhsLoginStarts(deps: { rateLimiter: RateLimiter }, ip: string): Promise<void> {
  const limit = await deps.rateLimiter.hit(`nhs-login-start:${ip}`, NHS_LOGIN_STARTS_PER_MINUTE, 60);
  if (limit.allowed) return;
  const error = new NhsLoginError('rate_limited', `more than ${NHS_LOGIN_STARTS_PER_MINUTE} sign-ins started from this address this minute`);
  error.retryAfterSeconds = limit.retryAfterSeconds;
  throw error;
}

// A key for the returnTo from the state (256 random bits, which the server keeps only as a SHA-256):
// HKDF with its own label, so it is unrelated to the hash the row is found by.
function returnToKey(state: string): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', state, '', 'dovecote nhs-login returnTo', 32));
}

/** The returnTo as a compact JWE (direct key, AES-256-GCM): unreadable and unforgeable without the state. */
async function sealReturnTo(returnTo: string, state: string): Promise<string> {
  return new CompactEncrypt(new TextEncoder().encode(returnTo)).setProtectedHeader({ alg: 'dir', enc: 'A256GCM' }).encrypt(returnToKey(state));
}

async function openReturnTo(sealed: string, state: string): Promise<string | undefined> {
  try {
    const { plaintext } = await compactDecrypt(sealed, returnToKey(state), {
      keyManagementAlgorithms: ['dir'],
      contentEncryptionAlgorithms: ['A256GCM'],
    });
    return new TextDecoder().decode(plaintext);
  } catch {
    return undefined;
  }
}

export interface BegunNhsLogin {
  /** Send the browser here (302). */
  url: URL;
  /** Keep this in the browser (HttpOnly cookie, expiring with the transaction) and pass it back to finish. */
  state: string;
  expiresAt: Date;
  transaction: NhsLoginTransaction;
}

export async function beginNhsLogin(
  deps: NhsLoginDeps,
  input: { returnTo: string },
  client: NhsLoginClient = nhsLoginClientFor(deps.config),
): Promise<BegunNhsLogin> {
  if (!isSafeReturnTo(input.returnTo)) {
    throw new AppError(400, 'We could not start logging you in with NHS login', 'returnTo is not a local path');
  }
  const now = deps.now();
  const { url, transaction } = await client.startAuthorisation({ returnTo: input.returnTo, now });
  const expiresAt = new Date(now.getTime() + NHS_LOGIN_TRANSACTION_TTL_MS);
  await deps.db.insert(nhsLoginTransactions).values({
    stateHash: sha256Hex(transaction.state),
    nonce: transaction.nonce,
    codeVerifier: transaction.codeVerifier,
    returnToSealed: await sealReturnTo(transaction.returnTo, transaction.state),
    createdAt: now,
    expiresAt,
  });
  return { url, state: transaction.state, expiresAt, transaction };
}

export interface FinishedNhsLogin {
  identity: NhsLoginIdentity;
  returnTo: string;
  transaction: NhsLoginTransaction;
}

function sameSecret(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}

/**
 * Uses the transaction for `state` exactly once (atomically: of two callbacks racing, one wins), then
 * finishes the protocol. Throws NhsLoginError with reason unknown_transaction, state_mismatch,
 * replayed, expired, cancelled, provider_error, nonce_mismatch, token_error, … (see NhsLoginFailure).
 *
 * @param input.state the state this browser kept from beginNhsLogin (not the one in the callback URL)
 * @param input.callbackQuery the callback's query string (`request.query` as URLSearchParams, or raw)
 */
export async function finishNhsLogin(
  deps: NhsLoginDeps,
  input: { state: string | undefined; callbackQuery: URLSearchParams | string },
  client: NhsLoginClient = nhsLoginClientFor(deps.config),
): Promise<FinishedNhsLogin> {
  const query = typeof input.callbackQuery === 'string' ? new URLSearchParams(input.callbackQuery) : input.callbackQuery;
  if (!input.state) throw new NhsLoginError('unknown_transaction', 'this browser has no NHS login state');
  const callbackState = query.get('state') ?? '';
  // Before touching the row: a forged callback must not use up the person's real sign-in.
  if (!sameSecret(callbackState, input.state)) {
    throw new NhsLoginError('state_mismatch', 'callback state is not the state this browser kept');
  }

  const stateHash = sha256Hex(input.state);
  const now = deps.now();
  const [row] = await deps.db
    .update(nhsLoginTransactions)
    .set({ usedAt: now })
    .where(and(eq(nhsLoginTransactions.stateHash, stateHash), isNull(nhsLoginTransactions.usedAt)))
    .returning();
  if (!row) {
    const [existing] = await deps.db
      .select({ usedAt: nhsLoginTransactions.usedAt, returnToSealed: nhsLoginTransactions.returnToSealed })
      .from(nhsLoginTransactions)
      .where(eq(nhsLoginTransactions.stateHash, stateHash));
    if (existing) {
      throw withReturnTo(new NhsLoginError('replayed', 'the transaction was already used'), await openReturnTo(existing.returnToSealed, input.state));
    }
    throw new NhsLoginError('unknown_transaction', 'no transaction for this state');
  }
  const returnTo = await openReturnTo(row.returnToSealed, input.state);
  if (returnTo === undefined) throw new NhsLoginError('unknown_transaction', 'the returnTo does not open with this state');
  if (row.expiresAt.getTime() <= now.getTime()) {
    throw withReturnTo(new NhsLoginError('expired', 'the transaction expired before the callback'), returnTo);
  }

  const transaction: NhsLoginTransaction = {
    state: input.state,
    nonce: row.nonce,
    codeVerifier: row.codeVerifier,
    returnTo,
    createdAt: row.createdAt,
  };
  let identity: NhsLoginIdentity;
  try {
    identity = await client.completeAuthorisation(query, transaction);
  } catch (error) {
    if (error instanceof NhsLoginError) throw withReturnTo(error, returnTo);
    throw error;
  }
  return { identity, returnTo, transaction };
}

function withReturnTo(error: NhsLoginError, returnTo: string | undefined): NhsLoginError {
  error.returnTo = returnTo;
  return error;
}

/** Housekeeping for a periodic job: drops expired and used transactions older than `olderThanMs`. */
export async function deleteOldNhsLoginTransactions(
  deps: Pick<NhsLoginDeps, 'db' | 'now'>,
  olderThanMs = 24 * 60 * 60 * 1000,
): Promise<number> {
  const cutoff = new Date(deps.now().getTime() - olderThanMs);
  const deleted = await deps.db
    .delete(nhsLoginTransactions)
    .where(
      or(
        lt(nhsLoginTransactions.expiresAt, cutoff),
        and(isNotNull(nhsLoginTransactions.usedAt), lt(nhsLoginTransactions.usedAt, cutoff)),
      ),
    )
    .returning({ stateHash: nhsLoginTransactions.stateHash });
  return deleted.length;
}
