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
   * Gives back one hit of the current window (never below zero): for limits that should count only
   * failures but must count every attempt first, so parallel attempts cannot all slip under the limit.
   */
  refund(key: string, windowSeconds: number): Promise<void>;
  /**
   * Stepped delays, for a check an attacker may repeat against one thing (a password on one account):
   * counts this attempt as a failure in the key's run, unless the wait after the run's last counted
   * attempt has not ended, in which case nothing is counted and the caller must not check. One
   * statement, so parallel attempts cannot all pass. On success the caller ends the run (endRun).
   */
  claimAttempt(key: string, schedule: SteppedDelaySchedule): Promise<SteppedDelayResult>;
  endRun(key: string): Promise<void>;
}

export interface SteppedDelaySchedule {
  /** Seconds to wait after the 1st, 2nd, … failure in a row; the last applies to every later one. */
  delaysSeconds: readonly number[];
  /** A run with no attempt for this long is forgotten. */
  forgetAfterSeconds: number;
}

export type SteppedDelayResult = { allowed: true; failuresInARow: number } | { allowed: false; waitSeconds: number };

// A run of failures is a rate_limit_hits row outside any window (window_start is the epoch, which no
// fixed window of a current time starts at): hits is the failures in a row, and expires_at is when the
// run is forgotten, forgetAfterSeconds after its last counted attempt. So that attempt was at
// expires_at − forgetAfterSeconds, and the next may come delaysSeconds[hits] later. Keeping it in this
// table lets the maintenance job delete forgotten runs with the windows.
const RUN_WINDOW_START = new Date(0).toISOString();

export function createRateLimiter(db: Queryable, now: () => Date = () => new Date()): RateLimiter {
  const windowOf = (windowSeconds: number) => {
    const windowMs = windowSeconds * 1000;
    const t = now().getTime();
    const windowStart = new Date(t - (t % windowMs));
    const expiresAt = new Date(windowStart.getTime() + windowMs);
    return { t, windowStart, expiresAt };
  };
  const delayAfter = (failures: SQL, schedule: SteppedDelaySchedule) => {
    const steps = schedule.delaysSeconds.map((seconds) => Math.max(0, Math.ceil(seconds)));
    if (steps.length === 0) throw new Error('a stepped delay needs at least one step');
    return sql`make_interval(secs => (ARRAY[${sql.raw(steps.join(','))}]::int[])[LEAST(${failures}, ${steps.length})])`;
  };
  return {
    async claimAttempt(key, schedule) {
      const t = now().toISOString();
      const forget = sql`make_interval(secs => ${schedule.forgetAfterSeconds})`;
      const lastAttempt = sql`(rate_limit_hits.expires_at - ${forget})`;
      const [claimed] = await queryRows<{ hits: number }>(db, sql`
        INSERT INTO rate_limit_hits (key, window_start, hits, expires_at)
        VALUES (${key}, ${RUN_WINDOW_START}, 1, ${t}::timestamptz + ${forget})
        ON CONFLICT (key, window_start) DO UPDATE
        SET hits = CASE WHEN rate_limit_hits.expires_at <= ${t}::timestamptz THEN 1 ELSE rate_limit_hits.hits + 1 END,
            expires_at = ${t}::timestamptz + ${forget}
        WHERE rate_limit_hits.expires_at <= ${t}::timestamptz
           OR ${lastAttempt} + ${delayAfter(sql`rate_limit_hits.hits`, schedule)} <= ${t}::timestamptz
        RETURNING hits`);
      if (claimed) return { allowed: true, failuresInARow: Number(claimed.hits) };
      // Still waiting (the update's WHERE refused): say how long, from the row as it now stands.
      const [waiting] = await queryRows<{ wait_seconds: number | null }>(db, sql`
        SELECT ceil(extract(epoch FROM ${lastAttempt} + ${delayAfter(sql`rate_limit_hits.hits`, schedule)} - ${t}::timestamptz))::int AS wait_seconds
        FROM rate_limit_hits WHERE key = ${key} AND window_start = ${RUN_WINDOW_START}`);
      return { allowed: false, waitSeconds: Math.max(1, Number(waiting?.wait_seconds ?? 1)) };
    },
    async endRun(key) {
      await queryRows(db, sql`DELETE FROM rate_limit_hits WHERE key = ${key} AND window_start = ${RUN_WINDOW_START} RETURNING key`);
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
