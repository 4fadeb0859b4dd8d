// SQL for the API's Idempotency-Key claims (the rules are in api-idempotency.service.ts). Every statement
// names the API key, so one organisation's key can never read or change another's row.
import { and, eq, lt, lte, or } from 'drizzle-orm';
import type { Queryable } from '../../platform/db/client.ts';
import { apiIdempotencyKeys } from '../../platform/db/schema.ts';

export type IdempotencyRow = typeof apiIdempotencyKeys.$inferSelect;

export interface KeyId {
  apiKeyId: string;
  idempotencyKey: string;
}

const byKey = (id: KeyId) => and(eq(apiIdempotencyKeys.apiKeyId, id.apiKeyId), eq(apiIdempotencyKeys.idempotencyKey, id.idempotencyKey));

/** A new claim, or nothing when the key is already there (whoever holds it). */
export async function insertClaim(db: Queryable, id: KeyId, claim: { fingerprint: string; now: Date; lockedUntil: Date }): Promise<boolean> {
  const inserted = await db
    .insert(apiIdempotencyKeys)
    .values({ ...id, requestFingerprint: claim.fingerprint, status: 'in_progress', createdAt: claim.now, lockedUntil: claim.lockedUntil })
    .onConflictDoNothing()
    .returning({ key: apiIdempotencyKeys.idempotencyKey });
  return inserted.length > 0;
}

export async function findClaim(db: Queryable, id: KeyId): Promise<IdempotencyRow | undefined> {
  const [row] = await db.select().from(apiIdempotencyKeys).where(byKey(id));
  return row;
}

/**
 * Takes the row over as a fresh claim, but only if it is still what made it free: expired (created
 * before `expiredBefore`), or in progress with its lock run out and the same request. One statement, so
 * of two requests taking over at once only one gets the row (the other's WHERE no longer matches).
 */
export async function takeOverClaim(
  db: Queryable,
  id: KeyId,
  claim: { fingerprint: string; now: Date; lockedUntil: Date; expiredBefore: Date },
): Promise<boolean> {
  const taken = await db
    .update(apiIdempotencyKeys)
    .set({ requestFingerprint: claim.fingerprint, status: 'in_progress', responseStatus: null, responseHeaders: null, responseBody: null, createdAt: claim.now, lockedUntil: claim.lockedUntil })
    .where(
      and(
        byKey(id),
        or(
          lte(apiIdempotencyKeys.createdAt, claim.expiredBefore),
          and(eq(apiIdempotencyKeys.status, 'in_progress'), lte(apiIdempotencyKeys.lockedUntil, claim.now), eq(apiIdempotencyKeys.requestFingerprint, claim.fingerprint)),
        ),
      ),
    )
    .returning({ key: apiIdempotencyKeys.idempotencyKey });
  return taken.length > 0;
}

/** Our claim is still ours: in progress with the lock we set (not taken over since by another request). */
const stillOurs = (id: KeyId, lockedUntil: Date) =>
  and(byKey(id), eq(apiIdempotencyKeys.status, 'in_progress'), eq(apiIdempotencyKeys.lockedUntil, lockedUntil));

/** The first response, kept for replays. False when the claim was no longer ours. */
export async function storeResponse(
  db: Queryable,
  id: KeyId,
  lockedUntil: Date,
  response: { status: number; headers: Record<string, string>; body: string },
): Promise<boolean> {
  const done = await db
    .update(apiIdempotencyKeys)
    .set({ status: 'done', responseStatus: response.status, responseHeaders: response.headers, responseBody: response.body })
    .where(stillOurs(id, lockedUntil))
    .returning({ key: apiIdempotencyKeys.idempotencyKey });
  return done.length > 0;
}

/** Gives the key up (the request failed), so the client may send it again. */
export async function deleteClaim(db: Queryable, id: KeyId, lockedUntil: Date): Promise<void> {
  await db.delete(apiIdempotencyKeys).where(stillOurs(id, lockedUntil));
}

/** Keys created before `before`: past their 24 hours, so only clutter. */
export async function deleteIdempotencyKeysCreatedBefore(db: Queryable, before: Date): Promise<number> {
  const deleted = await db.delete(apiIdempotencyKeys).where(lt(apiIdempotencyKeys.createdAt, before)).returning({ key: apiIdempotencyKeys.idempotencyKey });
  return deleted.length;
}
