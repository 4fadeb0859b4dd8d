// Test support for the SMS feature's tests (imported only by *.test.ts): a fast worker and a way to
// wait for an outbox row to reach a status without sleeping blindly.
import { eq } from 'drizzle-orm';
import { outboundSms } from '../../platform/db/schema.ts';
import type { Services } from '../../services.ts';
import type { OutboundSms } from './outbox.service.ts';
import { startSmsWorker, type SmsWorkerOptions } from './sms-worker.ts';

/**
 * Polls quickly and retries after a second. The Notify timeout stays generous: the stand-in runs in
 * the test's own process, and on a busy machine a short timeout would abandon texts it had accepted
 * (a real duplicate, as with Notify itself). The hang test sets its own.
 */
export const FAST_WORKER: SmsWorkerOptions = {
  pollingIntervalSeconds: 0.5,
  retryDelaySeconds: 1,
  retryDelayMaxSeconds: 1,
  notifyTimeoutMs: 5000,
  maxPauseMs: 1000,
};

/** Polls `check` until it returns something truthy. */
export async function eventually<T>(check: () => Promise<T>, what: string, timeoutMs = 20_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export function startFastWorker(services: Services, options: SmsWorkerOptions = {}) {
  return startSmsWorker(services, { ...FAST_WORKER, ...options });
}

export async function readOutboundSms(services: Services, id: string): Promise<OutboundSms> {
  const [row] = await services.db.select().from(outboundSms).where(eq(outboundSms.id, id));
  if (!row) throw new Error(`no outbound_sms ${id}`);
  return row;
}

/** Waits until the row's status is one of `statuses`; fails with the last status seen. */
export async function waitForSmsStatus(
  services: Services,
  id: string,
  statuses: Array<OutboundSms['status']>,
  timeoutMs = 20_000,
): Promise<OutboundSms> {
  const deadline = Date.now() + timeoutMs;
  let row = await readOutboundSms(services, id);
  while (!statuses.includes(row.status)) {
    if (Date.now() > deadline) throw new Error(`outbound_sms ${id} is ${row.status}, wanted ${statuses.join(' or ')} (last error: ${row.lastError})`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    row = await readOutboundSms(services, id);
  }
  return row;
}

export type Defer = (cleanup: () => Promise<void> | void) => void;

/**
 * Cleanups that run last-in first-out when the test ends (t.after runs hooks in registration order):
 * a worker started after the app is stopped before the app and its database close.
 */
export function cleanupStack(t: { after(fn: () => Promise<void>): void }): Defer {
  const cleanups: Array<() => Promise<void> | void> = [];
  t.after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });
  return (cleanup) => void cleanups.push(cleanup);
}
