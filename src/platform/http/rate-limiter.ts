// Fixed-window counters in the database, so every app instance shares them (DESIGN.md §4: nothing an
// instance needs may live only in its memory). One upsert counts and reads in a single statement, so
// concurrent requests cannot all see the same old count.
import { sql, type SQL } from 'drizzle-orm';
import { queryRows, type Queryable } from '../db/client.ts';

export interface RateLimitResult {
  allowed: boolean;
  hits: number;
  /** Seconds until the current window ends. */
  retryAfterSeconds: number;
}

export interface RateLimiter {
  hit(key: string, max: number, windowSeconds: number): Promise<RateLimitResult>;
  /**
   * The current window's count without adding to it, read inside a query the caller makes anyway
   * (saving a round trip on a hot path): select CURRENT_HITS, run the query with `params`, and read
   * the column with `result`.
   */
  peekInQuery(key: string, max: number, windowSeconds: number): { params: CurrentHitsParams; result(hits: number | null | undefined): RateLimitResult };
  /**
   * Gives back one hit of the current window (never below zero): for limits that should count only
   * failures but must count every attempt first, so parallel attempts cannot all slip under the limit.
   */
  refund(key: string, windowSeconds: number): Promise<void>;
}

export interface CurrentHitsParams {
  limitKey: string;
  limitWindowStart: string;
}

/**
 * A scalar subquery: the current window's count for a key, or null. Placeholders rather than values,
 * so a prepared statement can include it (see peekInQuery).
 */
export const CURRENT_HITS: SQL<number | null> = sql<number | null>`(SELECT hits FROM rate_limit_hits WHERE key = ${sql.placeholder('limitKey')} AND window_start = ${sql.placeholder('limitWindowStart')}::timestamptz)`;

export function createRateLimiter(db: Queryable, now: () => Date = () => new Date()): RateLimiter {
  const windowOf = (windowSeconds: number) => {
    const windowMs = windowSeconds * 1000;
    const t = now().getTime();
    const windowStart = new Date(t - (t % windowMs));
    const expiresAt = new Date(windowStart.getTime() + windowMs);
    return { t, windowStart, expiresAt };
  };
  return {
    peekInQuery(key, max, windowSeconds) {
      const { t, windowStart, expiresAt } = windowOf(windowSeconds);
      return {
        params: { limitKey: key, limitWindowStart: windowStart.toISOString() },
        result(value) {
          const hits = Number(value ?? 0);
          return { allowed: hits < max, hits, retryAfterSeconds: Math.max(1, Math.ceil((expiresAt.getTime() - t) / 1000)) };
        },
      };
    },
    async refund(key, windowSeconds) {
      const { windowStart } = windowOf(windowSeconds);
      await queryRows(db, sql`
        UPDATE rate_limit_hits SET hits = hits - 1
        WHERE key = ${key} AND window_start = ${windowStart.toISOString()} AND hits > 0
        RETURNING hits`);
    },
    async hit(key, max, windowSeconds) {
      const { t, windowStart, expiresAt } = windowOf(windowSeconds);
      const [row] = await queryRows<{ hits: number }>(db, sql`
        INSERT INTO rate_limit_hits (key, window_start, hits, expires_at)
        VALUES (${key}, ${windowStart.toISOString()}, 1, ${expiresAt.toISOString()})
        ON CONFLICT (key, window_start) DO UPDATE SET hits = rate_limit_hits.hits + 1
        RETURNING hits`);
      const hits = Number(row!.hits);
      return {
        allowed: hits <= max,
        hits,
        retryAfterSeconds: Math.max(1, Math.ceil((expiresAt.getTime() - t) / 1000)),
      };
    },
  };
}

/** Old windows are useless; the maintenance job calls this. Returns how many it deleted. */
export async function deleteExpiredRateLimitWindows(db: Queryable, now: Date): Promise<number> {
  const rows = await queryRows<{ key: string }>(db, sql`DELETE FROM rate_limit_hits WHERE expires_at < ${now.toISOString()} RETURNING key`);
  return rows.length;
}
