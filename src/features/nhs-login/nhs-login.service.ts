// NHS login sign-ins: begin (store the transaction, hand back the provider URL and the state the
// browser must keep) and finish (use the transaction once, then run the protocol). What the identity
// then opens — a link's conversation, the portal — is the caller's business.
//
// The browser keeps the state (e.g. in a short-lived cookie) and the server keeps its SHA-256 with the
// nonce and PKCE verifier. The callback is only finished when the browser's state, the callback's state
// and a live, unused transaction all agree, so a callback URL alone (login CSRF) or a replay does nothing.
import { and, eq, isNull, lt, or, isNotNull } from 'drizzle-orm';
import type { Config } from '../../config/config.ts';
import type { Queryable } from '../../platform/db/client.ts';
import { nhsLoginTransactions } from '../../platform/db/schema.ts';
import { sha256Hex } from '../../platform/crypto/tokens.ts';
import { AppError } from '../../platform/http/errors.ts';
import { timingSafeEqual } from 'node:crypto';
import {
  createNhsLoginClient,
  NhsLoginError,
  type NhsLoginClient,
  type NhsLoginIdentity,
  type NhsLoginTransaction,
} from './nhs-login.client.ts';

/** How long a person may take at NHS login (sign in, security code, maybe proving who they are). */
export const NHS_LOGIN_TRANSACTION_TTL_MS = 15 * 60 * 1000;

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
    returnTo: transaction.returnTo,
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
      .select({ usedAt: nhsLoginTransactions.usedAt, returnTo: nhsLoginTransactions.returnTo })
      .from(nhsLoginTransactions)
      .where(eq(nhsLoginTransactions.stateHash, stateHash));
    if (existing) throw withReturnTo(new NhsLoginError('replayed', 'the transaction was already used'), existing.returnTo);
    throw new NhsLoginError('unknown_transaction', 'no transaction for this state');
  }
  if (row.expiresAt.getTime() <= now.getTime()) {
    throw withReturnTo(new NhsLoginError('expired', 'the transaction expired before the callback'), row.returnTo);
  }

  const transaction: NhsLoginTransaction = {
    state: input.state,
    nonce: row.nonce,
    codeVerifier: row.codeVerifier,
    returnTo: row.returnTo,
    createdAt: row.createdAt,
  };
  let identity: NhsLoginIdentity;
  try {
    identity = await client.completeAuthorisation(query, transaction);
  } catch (error) {
    if (error instanceof NhsLoginError) throw withReturnTo(error, row.returnTo);
    throw error;
  }
  return { identity, returnTo: row.returnTo, transaction };
}

function withReturnTo(error: NhsLoginError, returnTo: string): NhsLoginError {
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
