// The SMS feature's job queues and their retry policy: pg-boss queues live in the shared database, but
// what they are for and how they retry is this feature's business, so it makes them (app start-up and
// worker start both call createSmsQueues; pg-boss leaves an existing queue as it is).
import type { Jobs } from '../../platform/jobs/jobs.ts';

export const SMS_QUEUES = {
  sendSms: 'send-sms',
  /** Dead letters of send-sms: jobs pg-boss gave up on; the SMS worker marks their texts failed. */
  sendSmsFailed: 'send-sms-failed',
} as const;

export const SMS_RETRY_DEFAULTS = {
  retryLimit: 8,
  retryDelaySeconds: 5,
  retryDelayMaxSeconds: 600,
  pollingIntervalSeconds: 2,
  // Longer than a send can take (10 s timeout), shorter than the job's expireInSeconds (120 s), so a
  // job that pg-boss expires and retries after a crash finds its row stale and can take it.
  staleAfterMs: 60_000,
  maxPauseMs: 30_000,
  maxBatchSize: 100,
  // A text held by a provider problem (wrong key, unknown template) is tried again after a minute,
  // doubling to every 15 minutes, for as long as it takes: fixing the set-up sends it.
  heldRetryDelaySeconds: 60,
  heldRetryDelayMaxSeconds: 900,
} as const;

/** A send-sms job held longer than this belongs to a process that died: pg-boss offers it again. */
export const SMS_JOB_EXPIRE_SECONDS = 120;

export async function createSmsQueues(jobs: Jobs): Promise<void> {
  await jobs.boss.createQueue(SMS_QUEUES.sendSmsFailed, { retentionSeconds: 14 * 86_400 });
  await jobs.boss.createQueue(SMS_QUEUES.sendSms, {
    retryLimit: SMS_RETRY_DEFAULTS.retryLimit,
    retryDelay: SMS_RETRY_DEFAULTS.retryDelaySeconds,
    retryBackoff: true,
    retryDelayMax: SMS_RETRY_DEFAULTS.retryDelayMaxSeconds,
    expireInSeconds: SMS_JOB_EXPIRE_SECONDS,
    deadLetter: SMS_QUEUES.sendSmsFailed,
  });
}
