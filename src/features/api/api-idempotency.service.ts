// The Idempotency-Key header on the API's creating POSTs (draft-ietf-httpapi-idempotency-key-header): a
// client that is not sure its request arrived (a time-out, a dropped connection) sends it again with the
// same key, and gets the first response instead of a second text to the patient.
//
// - Scoped per API key: the key is the client's own string, and two organisations may well pick the same.
// - The same key with another request (method, route or body) is refused with 422, never replayed: the
//   client has a bug, and answering with another request's result would hide it.
// - While the first request is being handled, a second gets 409 with Retry-After: 1.
// - Kept 24 hours from the first request; after that the key is new again (and maintenance deletes it).
//
// Why a separate claim and not the send transaction itself: the claim is taken before the handler runs
// and the response is stored after it, in statements of their own. A process that dies between the
// send's commit and storing the response leaves the claim in progress; after IDEMPOTENCY_LOCK_MS another
// request with the same key takes it over and sends again. That window (a crash in a few milliseconds
// after a commit) is accepted: storing the response inside the send transaction would need every send
// path (messages, questionnaires, invitations, documents) to build its HTTP response inside
// conversations.service.ts's transaction, which is the service layer answering in HTTP terms. Without
// the take-over, a key whose request died would be stuck for 24 hours. 60 seconds is far longer than a
// send takes (the texts themselves go later, from the outbox), so a live request is never taken over.
import { createHash } from 'node:crypto';
import type { Services } from '../../services.ts';
import { DomainError } from '../../platform/errors.ts';
import { ApiFieldInvalid } from './api.service.ts';
import { deleteClaim, findClaim, insertClaim, storeResponse, takeOverClaim, type KeyId } from './api-idempotency.repository.ts';

export const IDEMPOTENCY_KEY_HEADER = 'Idempotency-Key';
/** How long a key's first response is kept and replayed. */
export const IDEMPOTENCY_KEPT_MS = 24 * 60 * 60_000;
/** How long a request may hold its key before another with the same key may take it over. */
export const IDEMPOTENCY_LOCK_MS = 60_000;
export const IDEMPOTENCY_RETRY_AFTER_SECONDS = 1;
/** Headers a replay repeats; anything else (rate-limit counters, dates) belongs to the new response. */
export const REPLAYED_HEADERS = ['location', 'content-type'] as const;

const KEY_FORMAT = /^[\x20-\x7E]{1,255}$/;
export const KEY_FORMAT_MESSAGE = 'The Idempotency-Key header must be 1 to 255 printable ASCII characters (letters, digits, punctuation or spaces), such as a UUID you make for each new request.';

/** Same key, another request: 422. */
export class IdempotencyKeyReused extends DomainError {
  constructor() {
    super('Idempotency-Key was used with a different request. Use a new key for each new request; send the same key only with the same request again.');
  }
}

/** The first request with this key is still being handled: 409, try again shortly. */
export class IdempotencyKeyInProgress extends DomainError {
  readonly retryAfterSeconds = IDEMPOTENCY_RETRY_AFTER_SECONDS;
  constructor() {
    super(`A request with this Idempotency-Key is still being handled. Send it again in ${IDEMPOTENCY_RETRY_AFTER_SECONDS} second to get its response.`);
  }
}

/** The header's value (exactly as sent), null without one; ApiFieldInvalid (400) when it is not a key. */
export function idempotencyKeyFrom(value: string | string[] | undefined): string | null {
  if (value === undefined) return null;
  if (typeof value !== 'string' || !KEY_FORMAT.test(value)) throw new ApiFieldInvalid(IDEMPOTENCY_KEY_HEADER, KEY_FORMAT_MESSAGE);
  return value;
}

/** JSON with every object's keys sorted: the same body sent with its fields in another order is the same. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value ?? null, (_key, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
    return Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  });
}

/** What makes two requests "the same": method, route pattern and canonical body. */
export function requestFingerprint(method: string, route: string, body: unknown): string {
  return createHash('sha256').update(`${method.toUpperCase()} ${route}\n${canonicalJson(body)}`).digest('hex');
}

export interface StoredResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** A key this request holds: the lock it set is how it knows the claim is still its own. */
export interface IdempotencyClaim extends KeyId {
  lockedUntil: Date;
}

export type ClaimResult = { claim: IdempotencyClaim } | { replay: StoredResponse };

type Deps = Pick<Services, 'db' | 'now'>;

/**
 * Claims the key for this request, or returns the first response to replay. Throws IdempotencyKeyReused
 * (another request had the key) or IdempotencyKeyInProgress (the first is still being handled).
 */
export async function claimIdempotencyKey(deps: Deps, id: KeyId, fingerprint: string): Promise<ClaimResult> {
  // A few rounds at most: each lost race means the row changed (deleted, taken over, finished) just now.
  for (let round = 0; round < 3; round++) {
    const now = deps.now();
    const lockedUntil = new Date(now.getTime() + IDEMPOTENCY_LOCK_MS);
    const claim = { ...id, lockedUntil };
    if (await insertClaim(deps.db, id, { fingerprint, now, lockedUntil })) return { claim };
    const row = await findClaim(deps.db, id);
    if (!row) continue; // given up (a failed request) between our INSERT and SELECT: try again
    const expiredBefore = new Date(now.getTime() - IDEMPOTENCY_KEPT_MS);
    if (row.createdAt <= expiredBefore) {
      if (await takeOverClaim(deps.db, id, { fingerprint, now, lockedUntil, expiredBefore })) return { claim };
      continue;
    }
    if (row.requestFingerprint !== fingerprint) throw new IdempotencyKeyReused();
    if (row.status === 'done') {
      return { replay: { status: row.responseStatus!, headers: row.responseHeaders ?? {}, body: row.responseBody ?? '' } };
    }
    if (row.lockedUntil > now) throw new IdempotencyKeyInProgress();
    // The first request's process died holding the key: this one does the work instead.
    if (await takeOverClaim(deps.db, id, { fingerprint, now, lockedUntil, expiredBefore })) return { claim };
  }
  throw new IdempotencyKeyInProgress();
}

/**
 * Whether a response is the key's answer for good. Success and the client's own mistakes are (the same
 * request would get the same again); 409 and 429 are "not now", and 5xx the service failing: the key is
 * given up so the client may send the request again.
 */
export function keepsResponse(status: number): boolean {
  return status >= 200 && status < 500 && status !== 409 && status !== 429;
}

/** After the handler: the response is stored for replays, or the key given up (see keepsResponse). */
export async function finishIdempotencyKey(deps: Deps, claim: IdempotencyClaim, response: StoredResponse | null): Promise<void> {
  if (response && keepsResponse(response.status)) {
    await storeResponse(deps.db, claim, claim.lockedUntil, response);
  } else {
    await deleteClaim(deps.db, claim, claim.lockedUntil);
  }
}
