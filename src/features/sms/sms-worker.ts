// The SMS worker: takes send-sms jobs from pg-boss and hands each outbox row to the transport.
//
// Sending twice is prevented by the row, not the job: a job first claims its row (one UPDATE with the
// guard in the WHERE clause); a row already sent, finished or held by a live attempt is left alone, so
// a job run twice sends once. The outbox id is the provider `reference`, so receipts find the row.
// What remains is the usual at-least-once edge: a crash after the provider accepted a text but before
// the row says so sends it again when the job is retried.
//
// Throughput: each fetch takes a batch of jobs (about a second's worth at the configured rate) and the
// texts in it go out concurrently, at most `concurrency` in flight in this process and each only once
// it holds a slot of the deployment-wide send budget (send-budget.ts: SMS_RATE_PER_MINUTE is shared by
// every process, through the database). Each job is settled on its own (pg-boss perJobResults), so one text's
// failure never retries its neighbours.
//
// Failures: a permanent one (the number cannot receive texts) marks the row permanent_failure and
// ends the job. A provider problem (the key refused, the template unknown: our set-up, not the
// patient's number) keeps the row 'queued' with provider_problem set, logs an error once for the row,
// and hands the text to a new job that starts after a back-off (1 minute doubling to 15). A new job
// rather than a pg-boss retry, so it never runs out of retries: the text goes once operators fix the
// key or template, however long that takes. A retryable one (5xx, timeout, network, 429) puts the row
// back to 'queued' and fails the job, so pg-boss retries it with exponential backoff; a 429 with
// Retry-After is rescheduled for that time instead. Any 429 also pauses the send budget for the whole deployment (for the Retry-After,
// or for the first retry delay when the provider gives none), so the other texts, in this process and
// the others, hold back too instead of running into the limit one after another. The last retry marks the row technical_failure. Anything else that kills a job (a bug, a
// database outage on every attempt) ends in the dead-letter queue, whose worker marks technical_failure
// too, so staff never see a text "queued" for ever.
//
// Logs carry the outbox id, kind, attempt and a short reason: never the number, code, link or text.
import { z } from 'zod';
import pLimit, { type LimitFunction } from 'p-limit';
import type { JobResult, JobWithMetadata, PgBoss } from 'pg-boss';
import type { Services } from '../../services.ts';
import { createSmsQueues, SMS_QUEUES as QUEUES, SMS_RETRY_DEFAULTS } from './sms-queues.ts';
import {
  claimOutboundSms,
  findOutboundSmsStatuses,
  markOutboundSmsFailed,
  reasonHeldTextIsStale,
  markOutboundSmsForRetry,
  markOutboundSmsHeld,
  markOutboundSmsSent,
} from './outbox.repository.ts';
import type { OutboundSms } from './outbox.service.ts';
import type { ProviderCallOutcome } from '../../platform/metrics/metrics.ts';
import { createSmsTransport } from './transports/create-transport.ts';
import { PermanentSmsError, ProviderConfigurationSmsError, RetryableSmsError, type SmsTransport } from './transports/sms-transport.ts';
import { CODE_TTL_MINUTES } from '../verification/security-codes.service.ts';
import { SendBudget, type SendPermits } from './send-budget.ts';

export interface WorkerLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

const silentLog: WorkerLog = { info() {}, warn() {}, error() {} };

export interface SmsWorkerOptions {
  /** Texts on their way to the provider at once from this process (default config.sms.concurrency). */
  concurrency?: number;
  /** Jobs a fetch takes (default: a second's worth at ratePerMinute, between 1 and 100). */
  batchSize?: number;
  /** Sends a minute across the whole deployment (default config.sms.ratePerMinute; see send-budget.ts). */
  ratePerMinute?: number;
  /** Tests may hand in the permits to wait on; otherwise the shared budget in the database at ratePerMinute. */
  sendBudget?: SendPermits;
  /** How often an idle worker looks for jobs, in seconds (pg-boss minimum 0.5). */
  pollingIntervalSeconds?: number;
  /** Retries after the first attempt before technical_failure. */
  retryLimit?: number;
  /** First retry delay in seconds; doubles each retry (with jitter) up to retryDelayMaxSeconds. */
  retryDelaySeconds?: number;
  retryDelayMaxSeconds?: number;
  /** First delay before a text held by a provider problem is tried again, in seconds; doubles up to heldRetryDelayMaxSeconds. */
  heldRetryDelaySeconds?: number;
  heldRetryDelayMaxSeconds?: number;
  /** Longest a 429 may pause the other sends of the deployment, in ms (the job itself waits the full Retry-After). */
  maxPauseMs?: number;
  /** A 'sending' row older than this belongs to an attempt that died and may be taken again. */
  staleAfterMs?: number;
  notifyTimeoutMs?: number;
  /** Tests may hand in a transport; otherwise the configured one. */
  transport?: SmsTransport;
  logger?: WorkerLog;
}


/** About one second of sending per fetch: big enough to keep the pipe full, small enough that no claimed job waits long. */
export function defaultBatchSize(ratePerMinute: number): number {
  return Math.min(SMS_RETRY_DEFAULTS.maxBatchSize, Math.max(1, Math.floor(ratePerMinute / 60)));
}

const jobDataSchema = z.object({
  outboundSmsId: z.uuid(),
  /** How many times in a row this text has been held by a provider problem: the back-off's exponent. */
  held: z.number().int().min(0).max(1000).optional(),
});

/** Seconds before a text held `held` times already is tried again: first, doubling, capped. */
export function heldRetryDelay(held: number, firstSeconds: number, maxSeconds: number): number {
  return Math.min(maxSeconds, firstSeconds * 2 ** Math.min(held, 30));
}

export interface DeliveryContext {
  services: Services;
  transport: SmsTransport;
  /** The deployment's send budget (send-budget.ts); the name is from when it was a per-process token bucket. */
  bucket: SendPermits;
  boss: PgBoss;
  log: WorkerLog;
  staleAfterMs: number;
  maxPauseMs: number;
  /** How long a 429 without Retry-After pauses the send budget, in ms. */
  rateLimitPauseMs: number;
  heldRetryDelaySeconds: number;
  heldRetryDelayMaxSeconds: number;
}

export type DeliveryOutcome = 'sent' | 'skipped' | 'permanent_failure' | 'technical_failure' | 'rescheduled' | 'held' | 'invalid';

type SendSmsJob = Pick<JobWithMetadata<unknown>, 'id' | 'retryCount' | 'retryLimit' | 'data'>;

/** One job on its own: claim, send, record. Throws only to ask pg-boss for a retry. */
export async function deliverOutboundSms(ctx: DeliveryContext, job: SendSmsJob): Promise<DeliveryOutcome> {
  const id = outboundSmsIdOf(ctx, job);
  if (!id) return 'invalid';
  const now = ctx.services.now();
  const [row] = await claimOutboundSms(ctx.services.db, [id], now, new Date(now.getTime() - ctx.staleAfterMs));
  if (!row) return notClaimed(ctx, job, id, (await findOutboundSmsStatuses(ctx.services.db, [id])).get(id));
  return sendClaimedSms(ctx, job, row);
}

/**
 * One fetched batch: the rows claimed in one statement, then every text sent concurrently (within
 * `inFlight` and the send budget), and each job settled on its own.
 */
export async function deliverBatch(ctx: DeliveryContext, inFlight: LimitFunction, jobs: SendSmsJob[]): Promise<JobResult[]> {
  const { db } = ctx.services;
  const idOfJob = new Map(jobs.map((job) => [job.id, outboundSmsIdOf(ctx, job)]));
  const ids = [...new Set([...idOfJob.values()].filter((id): id is string => Boolean(id)))];
  const now = ctx.services.now();
  const claimed = new Map((await claimOutboundSms(db, ids, now, new Date(now.getTime() - ctx.staleAfterMs))).map((row) => [row.id, row]));
  const statuses = await findOutboundSmsStatuses(db, ids.filter((id) => !claimed.has(id)));

  const settle = async (job: SendSmsJob): Promise<JobResult> => {
    try {
      const id = idOfJob.get(job.id);
      if (!id) return { id: job.id, status: 'completed' };
      const row = claimed.get(id);
      // Two jobs for one text in the same batch: only the first may send it; the other finds it
      // 'sending' and looks again later (by then it is sent, so that job just ends).
      claimed.delete(id);
      if (!row) {
        await notClaimed(ctx, job, id, statuses.get(id) ?? 'sending');
      } else {
        await inFlight(() => sendClaimedSms(ctx, job, row));
      }
      // 'rescheduled' jobs were already failed and moved by hand; completing them is fenced to the
      // attempt pg-boss handed us, which is no longer active, so it changes nothing.
      return { id: job.id, status: 'completed' };
    } catch (error) {
      return { id: job.id, status: 'failed', output: { message: (error as Error)?.message ?? 'failed' } };
    }
  };
  return Promise.all(jobs.map(settle));
}

function outboundSmsIdOf(ctx: DeliveryContext, job: SendSmsJob): string | undefined {
  const parsed = jobDataSchema.safeParse(job.data);
  if (!parsed.success) ctx.log.error({ jobId: job.id }, 'send-sms job without a valid outboundSmsId; dropped');
  return parsed.data?.outboundSmsId;
}

async function notClaimed(ctx: DeliveryContext, job: SendSmsJob, id: string, status: OutboundSms['status'] | undefined): Promise<DeliveryOutcome> {
  if (status === 'sending') {
    // Another attempt holds it (or died holding it: then it goes stale). Look again later rather
    // than finish this job, so the text cannot be left 'sending' with no job to move it on.
    ctx.log.info({ outboundSmsId: id, jobId: job.id }, 'text is held by another attempt; trying again later');
    throw new Error('outbound text is held by another attempt');
  }
  ctx.log.info({ outboundSmsId: id, jobId: job.id, status: status ?? 'missing' }, 'text already sent or finished; nothing to do');
  return 'skipped';
}

/** A claimed row: wait for a send slot, hand it to the provider, record what it said. */
async function sendClaimedSms(ctx: DeliveryContext, job: SendSmsJob, row: OutboundSms): Promise<DeliveryOutcome> {
  const { db } = ctx.services;
  const id = row.id;
  const logFields = { outboundSmsId: id, kind: row.kind, attempt: row.attempts, transport: ctx.transport.name };
  if (row.providerProblem) {
    const stale = await reasonHeldTextIsStale(db, row, ctx.services.now(), CODE_TTL_MINUTES * 60_000);
    if (stale) {
      // Given up as we would a text we could not send (staff read "There was a problem with the text
      // message service. You can re-send the link."), and its secrets wiped like any finished text.
      await markOutboundSmsFailed(db, id, 'technical_failure', stale, ctx.services.now());
      ctx.log.info({ ...logFields, providerProblem: row.providerProblem, reason: stale }, 'held text no longer sent');
      return 'technical_failure';
    }
  }
  try {
    await ctx.bucket.take();
  } catch (error) {
    // The send budget lives in the database: when it cannot be reached the row, already claimed, goes
    // back to the queue at once, or its retries would find it 'sending' and wait out the staleness limit.
    await markOutboundSmsForRetry(db, id, 'Waiting for a send slot failed', ctx.services.now()).catch(() => undefined);
    throw error;
  }

  const { metrics } = ctx.services;
  let providerId: string;
  const started = performance.now();
  try {
    ({ providerId } = await ctx.transport.send({
      kind: row.kind,
      phoneE164: row.phoneE164,
      personalisation: row.personalisation,
      reference: row.id,
    }));
    metrics.providerCall({ transport: ctx.transport.name, outcome: 'accepted' }, (performance.now() - started) / 1000);
  } catch (caught) {
    const known = caught instanceof PermanentSmsError || caught instanceof RetryableSmsError || caught instanceof ProviderConfigurationSmsError;
    const error = known ? caught : new RetryableSmsError(`Unexpected error while sending (${(caught as Error)?.name ?? 'unknown'})`);
    metrics.providerCall({ transport: ctx.transport.name, outcome: providerCallOutcome(known ? error : undefined) }, (performance.now() - started) / 1000);
    if (!known) {
      ctx.log.error({ ...logFields, errName: (caught as Error)?.name }, 'unexpected error while sending a text');
    }

    if (error instanceof ProviderConfigurationSmsError) {
      metrics.providerConfigurationError(error.problem);
      metrics.smsFailed(`provider_${error.problem}`);
      return holdForProviderProblem(ctx, job, row, error, logFields);
    }

    if (error instanceof PermanentSmsError) {
      await markOutboundSmsFailed(db, id, 'permanent_failure', error.reason, ctx.services.now());
      metrics.smsFailed('permanent');
      ctx.log.warn({ ...logFields, reason: error.reason }, 'text refused by the provider; not retried');
      return 'permanent_failure';
    }

    if (error.rateLimited) {
      const pauseMs = error.retryAfterSeconds !== undefined ? error.retryAfterSeconds * 1000 : ctx.rateLimitPauseMs;
      await ctx.bucket.pause(Math.min(pauseMs, ctx.maxPauseMs));
    }
    if (job.retryCount >= job.retryLimit) {
      await markOutboundSmsFailed(db, id, 'technical_failure', `Gave up after ${row.attempts} attempts. ${error.reason}`.slice(0, 240), ctx.services.now());
      metrics.smsFailed('technical');
      ctx.log.warn({ ...logFields, reason: error.reason }, 'text not sent after the last retry; marked technical_failure');
      return 'technical_failure';
    }
    await markOutboundSmsForRetry(db, id, error.reason, ctx.services.now());
    metrics.smsFailed(error.rateLimited ? 'rate_limited' : 'retryable');
    if (error.retryAfterSeconds !== undefined) {
      // pg-boss's backoff cannot be told "not before"; fail this attempt ourselves (it moves to
      // 'retry' with the usual backoff) and move its start to the provider's Retry-After. pg-boss's
      // own completion after we return is fenced to this attempt and leaves it alone.
      await ctx.boss.fail(QUEUES.sendSms, { id: job.id, retryCount: job.retryCount }, { reason: error.reason });
      await ctx.boss.update(QUEUES.sendSms, undefined, { id: job.id, startAfter: Math.max(1, error.retryAfterSeconds) });
      ctx.log.warn({ ...logFields, reason: error.reason, retryAfterSeconds: error.retryAfterSeconds }, 'provider asked us to wait; retrying later');
      return 'rescheduled';
    }
    ctx.log.warn({ ...logFields, reason: error.reason }, 'text not sent; will retry');
    throw error;
  }
  // Outside the try: if this write fails the text has still gone, so the row must not go back to
  // 'queued'. The job fails and is retried; the row stays 'sending' and is only taken again once stale.
  await markOutboundSmsSent(db, id, providerId, ctx.services.now());
  metrics.smsSent(row.kind);
  if (row.providerProblem) ctx.log.info({ ...logFields, providerProblem: row.providerProblem }, 'text sent: the provider takes our texts again');
  ctx.log.info(logFields, 'text sent');
  return 'sent';
}

/**
 * Our set-up was refused: the row goes back to 'queued' with the problem noted, and a new job for it
 * starts after the back-off, in the same transaction (a crash in between leaves this job to be retried,
 * and the claim stops a text being sent twice by two jobs). This job then ends.
 */
async function holdForProviderProblem(
  ctx: DeliveryContext,
  job: SendSmsJob,
  row: OutboundSms,
  error: ProviderConfigurationSmsError,
  logFields: Record<string, unknown>,
): Promise<DeliveryOutcome> {
  const held = jobDataSchema.safeParse(job.data).data?.held ?? 0;
  const delaySeconds = heldRetryDelay(held, ctx.heldRetryDelaySeconds, ctx.heldRetryDelayMaxSeconds);
  await ctx.services.db.transaction(async (tx) => {
    await markOutboundSmsHeld(tx, row.id, error.problem, error.reason, ctx.services.now());
    await ctx.services.jobs.send(QUEUES.sendSms, { outboundSmsId: row.id, held: held + 1 }, tx, { startAfter: delaySeconds });
  });
  const fields = { ...logFields, providerProblem: error.problem, reason: error.reason, retryInSeconds: delaySeconds };
  // Once per text (and again only if the problem changes), not on every try: one wrong key would
  // otherwise fill the error log with a line per text every few minutes.
  if (row.providerProblem !== error.problem) {
    ctx.log.error(fields, `the text provider refused our ${error.problem === 'authentication' ? 'API key' : 'set-up'}; text held and tried again until it is fixed`);
  } else {
    ctx.log.info(fields, 'text still held by a provider problem; will try again');
  }
  return 'held';
}

/** How a call to the provider ended, for its latency histogram; undefined: something we did not expect. */
function providerCallOutcome(error: PermanentSmsError | RetryableSmsError | ProviderConfigurationSmsError | undefined): ProviderCallOutcome {
  if (!error) return 'error';
  if (error instanceof PermanentSmsError) return 'permanent';
  if (error instanceof ProviderConfigurationSmsError) return 'provider_problem';
  return error.rateLimited ? 'rate_limited' : 'retryable';
}

/** Jobs pg-boss gave up on (retries used up by errors we did not catch, or expired): mark them failed. */
export async function handleDeadSmsJob(ctx: Pick<DeliveryContext, 'services' | 'log'>, data: unknown): Promise<void> {
  const parsed = jobDataSchema.safeParse(data);
  if (!parsed.success) return;
  const marked = await markOutboundSmsFailed(
    ctx.services.db,
    parsed.data.outboundSmsId,
    'technical_failure',
    'Sending failed repeatedly',
    ctx.services.now(),
  );
  if (marked) {
    ctx.services.metrics.smsFailed('technical');
    ctx.log.warn({ outboundSmsId: parsed.data.outboundSmsId }, 'send-sms job dead-lettered; marked technical_failure');
  }
}

/** Starts the worker on this process. Returns how to stop it (waits for texts in flight). */
export async function startSmsWorker(services: Services, options: SmsWorkerOptions = {}): Promise<() => Promise<void>> {
  const boss = services.jobs.boss;
  const log = options.logger ?? silentLog;
  const retryLimit = options.retryLimit ?? SMS_RETRY_DEFAULTS.retryLimit;
  const pollingIntervalSeconds = options.pollingIntervalSeconds ?? SMS_RETRY_DEFAULTS.pollingIntervalSeconds;

  // The queue's retry policy lives with this feature; the worker's options (tests shorten the delays)
  // are applied on every start and reach jobs enqueued from then on (pg-boss copies the policy onto
  // each job when it is sent).
  await createSmsQueues(services.jobs);
  await boss.updateQueue(QUEUES.sendSms, {
    retryLimit,
    retryDelay: options.retryDelaySeconds ?? SMS_RETRY_DEFAULTS.retryDelaySeconds,
    retryBackoff: true,
    retryDelayMax: options.retryDelayMaxSeconds ?? SMS_RETRY_DEFAULTS.retryDelayMaxSeconds,
    deadLetter: QUEUES.sendSmsFailed,
  });

  const ratePerMinute = options.ratePerMinute ?? services.config.sms.ratePerMinute;
  const concurrency = options.concurrency ?? services.config.sms.concurrency;
  const batchSize = options.batchSize ?? defaultBatchSize(ratePerMinute);
  const ctx: DeliveryContext = {
    services,
    transport: options.transport ?? createSmsTransport(services, { notifyTimeoutMs: options.notifyTimeoutMs }),
    bucket: options.sendBudget ?? new SendBudget({ db: services.db, limit: ratePerMinute }),
    boss,
    log,
    staleAfterMs: options.staleAfterMs ?? SMS_RETRY_DEFAULTS.staleAfterMs,
    maxPauseMs: options.maxPauseMs ?? SMS_RETRY_DEFAULTS.maxPauseMs,
    rateLimitPauseMs: (options.retryDelaySeconds ?? SMS_RETRY_DEFAULTS.retryDelaySeconds) * 1000,
    heldRetryDelaySeconds: options.heldRetryDelaySeconds ?? SMS_RETRY_DEFAULTS.heldRetryDelaySeconds,
    heldRetryDelayMaxSeconds: options.heldRetryDelayMaxSeconds ?? SMS_RETRY_DEFAULTS.heldRetryDelayMaxSeconds,
  };
  // Shared by every fetch loop, so `concurrency` bounds the texts in flight in this process: that is
  // also the bound on texts sent twice if the process dies (see docs/reliability.md).
  const inFlight = pLimit(concurrency);

  const sendWorker = await boss.work(
    QUEUES.sendSms,
    {
      includeMetadata: true,
      perJobResults: true,
      batchSize,
      // Two fetch loops: one fetches and claims while the other's batch finishes its last sends.
      localConcurrency: 2,
      // A full batch means more are waiting: fetch again at once rather than after the polling interval.
      burstWhenBatchFull: true,
      pollingIntervalSeconds,
    },
    (jobs) => deliverBatch(ctx, inFlight, jobs),
  );
  const deadWorker = await boss.work(QUEUES.sendSmsFailed, { pollingIntervalSeconds: Math.max(pollingIntervalSeconds, 5) }, async (jobs) => {
    for (const job of jobs) await handleDeadSmsJob(ctx, job.data);
  });
  log.info({ transport: ctx.transport.name, concurrency, batchSize, ratePerMinute }, 'SMS worker started');

  return async () => {
    await boss.offWork(QUEUES.sendSms, { id: sendWorker, wait: true });
    await boss.offWork(QUEUES.sendSmsFailed, { id: deadWorker, wait: true });
  };
}
