// A token bucket for one process's concurrent sends: at most `ratePerMinute` sends in any 60 seconds,
// in bursts of at most a second's worth. Providers count per rolling minute, and a full bucket's burst
// comes on top of what refills in that minute, so the refill rate is lowered by the burst:
// ratePerMinute - capacity + 1 a minute (2,951 a minute for 3,000) keeps a burst plus a minute of
// refill inside the limit.
//
// The SMS worker no longer uses it: the provider's limit is for the whole deployment, however many
// processes send, so the worker waits on the shared budget in the database (send-budget.ts) instead.
// It stays as a cheap in-process SendPermits for tests that drive deliveries directly.

export interface TokenBucketClock {
  nowMs(): number;
  sleep(ms: number): Promise<void>;
}

const realClock: TokenBucketClock = {
  nowMs: () => performance.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

export class TokenBucket {
  private readonly perMs: number;
  private readonly capacity: number;
  private tokens: number;
  private last: number;
  private pausedUntil = 0;
  private readonly clock: TokenBucketClock;
  /** Waiters are served in arrival order, so no handler starves. */
  private queue: Promise<void> = Promise.resolve();

  constructor(ratePerMinute: number, clock: TokenBucketClock = realClock) {
    if (!(ratePerMinute > 0)) throw new Error('ratePerMinute must be positive');
    this.clock = clock;
    this.capacity = Math.max(1, Math.floor(ratePerMinute / 60));
    this.perMs = (ratePerMinute - this.capacity + 1) / 60_000;
    this.tokens = this.capacity;
    this.last = clock.nowMs();
  }

  private refill(): void {
    const now = this.clock.nowMs();
    if (now <= this.last) return;
    this.tokens = Math.min(this.capacity, this.tokens + (now - this.last) * this.perMs);
    this.last = now;
  }

  /** Resolves when a send may go ahead. */
  take(): Promise<void> {
    const turn = this.queue.then(async () => {
      for (;;) {
        const now = this.clock.nowMs();
        if (now < this.pausedUntil) {
          await this.clock.sleep(this.pausedUntil - now);
          continue;
        }
        this.refill();
        if (this.tokens >= 1) {
          this.tokens -= 1;
          return;
        }
        await this.clock.sleep(Math.ceil((1 - this.tokens) / this.perMs));
      }
    });
    this.queue = turn.catch(() => {});
    return turn;
  }

  /** The provider asked us to slow down: nobody in this process sends for `ms`. */
  pause(ms: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, this.clock.nowMs() + ms);
    // Empty, and refilling only from the end of the pause.
    this.tokens = 0;
    this.last = Math.max(this.last, this.pausedUntil);
  }
}
