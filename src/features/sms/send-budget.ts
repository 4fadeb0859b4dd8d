// The provider's rate limit for the whole deployment (GOV.UK Notify: 3,000 texts in any 60 seconds per
// API key, however many of our processes send with that key), kept in the database so every sender
// shares it (DESIGN.md §4: nothing an instance needs may live only in its memory).
//
// Why slots: the budget is one row, sms_send_budget, holding next_slot_at. A permit to send is a
// moment, a slot; slots are handed out one interval apart by one atomic upsert … RETURNING on that row
// (next_slot_at moves on by one interval a slot; when it is in the past, because nobody sent for a
// while, slots start from now; the first claim makes the row). A sender sleeps until its slot, then
// sends. Slots never come closer together than the interval, whoever claimed them, so no count per
// window is kept: the sends in any 60 seconds come from slots within 60 s plus the slack, and with the
// interval at (60 s + slack) / limit there are at most `limit` of those. A fixed-window counter (as in
// platform/http/rate-limiter.ts) would not do: it allows a full window's sends just before a window
// boundary and another just after, twice the limit in the 60 seconds the provider counts.
//
// Slack: a send may start a little after its slot (timers fire late, a busy event loop), and texts take
// varying times to reach the provider. The interval is (window + slack) / limit, so for 3,000 a minute
// and 1 second of slack a slot every 20.33 ms (2,950 a minute). A send starts at most half the slack
// after its slot, or gives the slot up and claims another (a slot used late could sit next to the
// following one); the other half covers differing trips to the provider, and sends starting up to 1 ms
// early: a timer cannot sleep less than a millisecond, and sleeping one for each of many slots a few
// microseconds apart (an unthrottled benchmark) would cap sending at a thousand a second.
//
// Why batches: one round trip per text would put the database on every send. A process claims up to
// 10 slots at once (at most about a second's worth, and no more than it has texts waiting for), so the
// row sees a tenth of the sends. Its waiters take them in turn, in arrival order.
//
// On a crash: a dying process loses only the slots it had claimed and not used, at most one batch (a
// fraction of a second), which simply go unused. Nothing is held for it: the others keep claiming from
// the same row, so they take over its share at once, with no lease or heartbeat to expire.
//
// 429: the provider's Retry-After (or our first retry delay) pushes next_slot_at forward for everyone,
// so the whole deployment pauses, not just this process; this process also drops the slots it holds.
// Other processes still use the slots they had claimed before the pause (at most a batch each): those
// texts may be refused too, and are retried like any other 429.
//
// Clock: slots are times on the database's clock (clock_timestamp()), the one clock every process
// shares; machines' clocks may differ. The claim returns how far ahead of the database's now each slot
// is, and the process sleeps that long on its own monotonic clock, counting from when the answer
// arrived (so never early) and judging lateness from when the claim was sent (so never optimistic).
// Tests inject a clock: its time is then passed to the database instead.
//
// The table is UNLOGGED (its migration says why): a claim's commit waits for no disk flush. When the
// database cannot be reached, take() fails and the text's job is retried like any other failure.
import { sql, type SQL } from 'drizzle-orm';
import { queryRows, type Queryable } from '../../platform/db/client.ts';

/** What the SMS worker waits on before each send (the shared budget; tests may hand in another). */
export interface SendPermits {
  /** Resolves when a send may start. */
  take(): Promise<void>;
  /** The provider asked us to slow down: no sends for `ms`. */
  pause(ms: number): void | Promise<void>;
}

export interface SendBudgetClock {
  /** Monotonic milliseconds, for sleeping. */
  nowMs(): number;
  sleep(ms: number): Promise<void>;
  /** The time the database counts slots on; without it, the database's own clock. */
  databaseNow?(): Date;
}

const realClock: SendBudgetClock = {
  nowMs: () => performance.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

export interface SendBudgetOptions {
  db: Queryable;
  /** Sends allowed in any window, across the deployment. */
  limit: number;
  /** The provider's window, in ms (default 60 000: Notify counts per 60 seconds). */
  windowMs?: number;
  /** Room for sends starting late and for differing trips to the provider, in ms (default 1000). */
  slackMs?: number;
  /** Most slots claimed in one round trip (default 10, and at most a second's worth). */
  maxBatch?: number;
  /** One row a provider limit; the worker uses 'sms'. */
  key?: string;
  clock?: SendBudgetClock;
}

interface HeldSlot {
  /** Local time the send may start (never before the slot). */
  at: number;
  /** Local time after which it is too late to use. */
  latest: number;
}

export class SendBudget implements SendPermits {
  private readonly db: Queryable;
  private readonly key: string;
  private readonly clock: SendBudgetClock;
  /** The interval between slots, in whole microseconds (the database's resolution), rounded up. */
  readonly intervalMicros: number;
  private readonly graceMs: number;
  private readonly earlyMs: number;
  private readonly maxBatch: number;
  private held: HeldSlot[] = [];
  private waiting = 0;
  private pausedUntil = -Infinity;
  /** Waiters are served in arrival order, so no handler starves. */
  private queue: Promise<void> = Promise.resolve();

  constructor(options: SendBudgetOptions) {
    const windowMs = options.windowMs ?? 60_000;
    const slackMs = options.slackMs ?? 1000;
    if (!(options.limit >= 1)) throw new Error('a send budget needs a limit of at least 1');
    this.db = options.db;
    this.key = options.key ?? 'sms';
    this.clock = options.clock ?? realClock;
    this.intervalMicros = Math.ceil(((windowMs + slackMs) * 1000) / options.limit);
    this.graceMs = slackMs / 2;
    this.earlyMs = Math.min(1, slackMs / 4);
    const perSecond = Math.floor((options.limit * 1000) / windowMs);
    this.maxBatch = Math.max(1, Math.min(options.maxBatch ?? 10, perSecond));
  }

  take(): Promise<void> {
    this.waiting += 1;
    const turn = this.queue.then(async () => {
      try {
        await this.nextSlot();
      } finally {
        this.waiting -= 1;
      }
    });
    this.queue = turn.catch(() => {});
    return turn;
  }

  private async nextSlot(): Promise<void> {
    for (;;) {
      const now = this.clock.nowMs();
      if (now < this.pausedUntil) {
        await this.clock.sleep(this.pausedUntil - now);
        continue;
      }
      const slot = this.held.shift() ?? (await this.claim());
      if (!slot) continue;
      const wait = slot.at - this.clock.nowMs();
      if (wait >= this.earlyMs) await this.clock.sleep(wait);
      // Too late (or a pause came while we slept): the slot goes unused and we claim another.
      const startAt = this.clock.nowMs();
      if (startAt > slot.latest || startAt < this.pausedUntil) continue;
      return;
    }
  }

  /** One round trip: slots for the waiters (up to a batch); returns the first and holds the rest. */
  private async claim(): Promise<HeldSlot | undefined> {
    const count = Math.max(1, Math.min(this.maxBatch, this.waiting));
    const sentAt = this.clock.nowMs();
    const [row] = await queryRows<{ ahead_us: number | string }>(this.db, sql`
      WITH clock AS (SELECT ${this.databaseNow()} AS t)
      INSERT INTO sms_send_budget (key, next_slot_at, updated_at)
      SELECT ${this.key}, t + ${count * this.intervalMicros} * interval '1 microsecond', t FROM clock
      ON CONFLICT (key) DO UPDATE
      SET next_slot_at = GREATEST(sms_send_budget.next_slot_at, EXCLUDED.updated_at) + ${count * this.intervalMicros} * interval '1 microsecond',
          updated_at = EXCLUDED.updated_at
      RETURNING (extract(epoch FROM next_slot_at - updated_at) * 1000000)::float8 AS ahead_us`);
    const receivedAt = this.clock.nowMs();
    // The slots are the `count` intervals before the new next_slot_at.
    const firstAheadMs = (Number(row!.ahead_us) - count * this.intervalMicros) / 1000;
    const slots: HeldSlot[] = [];
    for (let n = 0; n < count; n++) {
      const ahead = firstAheadMs + (n * this.intervalMicros) / 1000;
      slots.push({ at: receivedAt + ahead, latest: sentAt + ahead + this.graceMs });
    }
    // A pause may have come while the claim was on its way: those slots fall inside it.
    if (receivedAt < this.pausedUntil) return undefined;
    this.held = slots.slice(1);
    return slots[0];
  }

  async pause(ms: number): Promise<void> {
    if (!(ms > 0)) return;
    this.pausedUntil = Math.max(this.pausedUntil, this.clock.nowMs() + ms);
    this.held = [];
    try {
      await queryRows(this.db, sql`
        WITH clock AS (SELECT ${this.databaseNow()} AS t)
        INSERT INTO sms_send_budget (key, next_slot_at, updated_at)
        SELECT ${this.key}, t + ${Math.ceil(ms * 1000)} * interval '1 microsecond', t FROM clock
        ON CONFLICT (key) DO UPDATE
        SET next_slot_at = GREATEST(sms_send_budget.next_slot_at, EXCLUDED.next_slot_at), updated_at = EXCLUDED.updated_at
        RETURNING key`);
    } catch {
      // The database is unreachable: this process still pauses, and nobody can claim slots anyway.
    }
  }

  private databaseNow(): SQL {
    const now = this.clock.databaseNow?.();
    return now ? sql`${now.toISOString()}::timestamptz` : sql`clock_timestamp()`;
  }
}
