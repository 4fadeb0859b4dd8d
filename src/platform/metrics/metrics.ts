// Prometheus metrics for one app instance (docs/operations.md lists them and the alerts worth setting).
//
// Each app has its own registry, never prom-client's global one: tests build many apps in one process,
// and a worker or a benchmark builds services with no HTTP server at all. Labels come from fixed sets
// (the route's pattern, a status code, an outcome from the unions below): never a URL, a link token, a
// patient identifier or anything a caller chose, so a label cannot leak a secret or grow without end.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** What happened at each step of a patient proving who they are (DESIGN.md §1). */
export interface VerificationOutcomes {
  date_of_birth: 'right' | 'wrong' | 'locked';
  security_code: 'sent' | 'right' | 'wrong' | 'burned' | 'locked';
  /** From a link (verified, mismatch, not_strong, locked) and at the portal (portal_signed_in, not_strong). */
  nhs_login: 'verified' | 'mismatch' | 'not_strong' | 'locked' | 'portal_signed_in';
}
export type VerificationCheck = keyof VerificationOutcomes;

/**
 * Why an attempt to hand a text to the provider did not end in 'sent'. permanent and technical are
 * final (the row is failed); the provider_* ones hold the text until operators fix the set-up; the
 * others are retried.
 */
export type SmsFailureReason = 'permanent' | 'technical' | 'provider_authentication' | 'provider_configuration' | 'rate_limited' | 'retryable';

/** How one call to the provider ended, for its latency. */
export type ProviderCallOutcome = 'accepted' | 'permanent' | 'provider_problem' | 'rate_limited' | 'retryable' | 'error';

/** What the scrape reads from the database: cheap queries, run only when /metrics is asked for. */
export interface OutboxReading {
  queued: number;
  /** Seconds since the oldest queued text was made; 0 when none is queued. */
  oldestQueuedSeconds: number;
  /** Queued texts the provider refused because of our own set-up (provider_problem set). */
  heldByProviderProblem: number;
}

export interface JobQueueReading {
  name: string;
  /** Created or retrying, not yet started: ready now, deferred (start after) or waiting on a parent. */
  queued: number;
  ready: number;
  deferred: number;
  active: number;
  /** How long the oldest ready job had waited when pg-boss last counted (its monitor pass); null before one. */
  oldestReadySeconds: number | null;
}

export interface DbPoolReading {
  total: number;
  idle: number;
  /** Requests waiting for a connection. */
  waiting: number;
  max: number;
}

export interface ScrapeSources {
  outbox?: () => Promise<OutboxReading>;
  jobQueues?: () => Promise<JobQueueReading[]>;
  /** Undefined on PGlite: one embedded connection, no pool. */
  dbPool?: () => DbPoolReading | undefined;
  /** Told when a source fails, so a broken query shows in the log as well as in the scrape-errors counter. */
  onSourceError?: (source: string, error: unknown) => void;
}

export interface Metrics {
  readonly registry: Registry;
  /** The Prometheus text of every metric; starts the process metrics on first use (see below). */
  scrape(): Promise<string>;
  readonly contentType: string;
  httpRequest(labels: { method: string; route: string; statusCode: number }, seconds: number): void;
  verification<C extends VerificationCheck>(check: C, outcome: VerificationOutcomes[C]): void;
  nhsLoginFailure(reason: string): void;
  smsSent(kind: string): void;
  smsFailed(reason: SmsFailureReason): void;
  providerCall(labels: { transport: string; outcome: ProviderCallOutcome }, seconds: number): void;
  providerConfigurationError(problem: 'authentication' | 'configuration'): void;
  /** This instance's provider configuration errors since it started (for /health). */
  providerConfigurationErrorsSoFar(): Promise<number>;
  /** The outbox's backlog, as the scrape reads it (for /health); undefined when it cannot be read. */
  readOutbox(): Promise<OutboxReading | undefined>;
}

const HTTP_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** 5 ms to 5 s: a page answered from the database in a few ms, up to a slow upload or scan. */
export const HTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
/** Notify answers in tens of ms; its client gives up at 30 s. */
const PROVIDER_BUCKETS = [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** NHS login's failure reasons (NhsLoginFailure); anything else is counted as 'other', to keep the set fixed. */
const NHS_LOGIN_FAILURES = new Set([
  'cancelled',
  'provider_error',
  'state_mismatch',
  'unknown_transaction',
  'replayed',
  'expired',
  'nonce_mismatch',
  'token_error',
  'userinfo_error',
  'subject_mismatch',
  'invalid_identity',
  'unavailable',
  'rate_limited',
]);

/** In-flight sharing: the gauges of one scrape ask one source together, so each query runs once a scrape. */
function shared<T>(read: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | undefined;
  return () => {
    pending ??= read().finally(() => {
      pending = undefined;
    });
    return pending;
  };
}

export function createMetrics(sources: ScrapeSources = {}): Metrics {
  const registry = new Registry();
  const registers = [registry];
  const scrapeErrors = new Counter({
    name: 'dovecote_metrics_source_errors_total',
    help: 'Reads of a metrics source (outbox, job_queues) that failed; its gauges are NaN or absent in that scrape.',
    labelNames: ['source'],
    registers,
    // The gauges of a scrape are read concurrently: wait for this scrape's reads, so a failure shows in
    // the same scrape as the NaN it caused.
    async collect() {
      await Promise.all(readers.map((read) => read()));
    },
  });
  const readers: Array<() => Promise<unknown>> = [];
  /**
   * Runs a source; on failure, counts it and tells the log rather than failing the whole scrape. Its
   * gauges say NaN (unknown) for that scrape, never a 0 that would read as "all clear".
   */
  const guarded = <T>(source: string, read: () => Promise<T>) => {
    const reader = shared(async (): Promise<T | undefined> => {
      try {
        return await read();
      } catch (error) {
        scrapeErrors.inc({ source });
        sources.onSourceError?.(source, error);
        return undefined;
      }
    });
    readers.push(reader);
    return reader;
  };

  const httpRequests = new Counter({
    name: 'dovecote_http_requests_total',
    help: 'HTTP requests answered, by method, route pattern (never the URL) and status code.',
    labelNames: ['method', 'route', 'status_code'],
    registers,
  });
  const httpDuration = new Histogram({
    name: 'dovecote_http_request_duration_seconds',
    help: 'Time to answer an HTTP request, by method, route pattern and status code.',
    labelNames: ['method', 'route', 'status_code'],
    buckets: HTTP_BUCKETS,
    registers,
  });
  const verifications = new Counter({
    name: 'dovecote_verification_outcomes_total',
    help: 'Patients proving who they are: each date of birth, security code and NHS login decided, by check and outcome.',
    labelNames: ['check', 'outcome'],
    registers,
  });
  const nhsLoginFailures = new Counter({
    name: 'dovecote_nhs_login_failures_total',
    help: 'NHS login round trips that did not finish, by reason (cancelled, provider_error, token_error, ...).',
    labelNames: ['reason'],
    registers,
  });
  const smsSent = new Counter({
    name: 'dovecote_sms_texts_sent_total',
    help: 'Texts the provider accepted, by kind of text.',
    labelNames: ['kind'],
    registers,
  });
  const smsFailed = new Counter({
    name: 'dovecote_sms_texts_failed_total',
    help: 'Attempts to send a text that did not end in sent, by reason: permanent and technical are final, provider_* hold the text, the rest are retried.',
    labelNames: ['reason'],
    registers,
  });
  const providerDuration = new Histogram({
    name: 'dovecote_sms_provider_request_duration_seconds',
    help: 'Time the text provider took to answer one send, by transport and outcome.',
    labelNames: ['transport', 'outcome'],
    buckets: PROVIDER_BUCKETS,
    registers,
  });
  const providerConfigurationErrors = new Counter({
    name: 'dovecote_sms_provider_configuration_errors_total',
    help: 'Sends the provider refused because of our own set-up (API key, template): texts are held until it is fixed.',
    labelNames: ['problem'],
    registers,
  });
  for (const problem of ['authentication', 'configuration']) providerConfigurationErrors.inc({ problem }, 0);

  const outbox = sources.outbox ? guarded('outbox', sources.outbox) : async () => undefined;
  if (sources.outbox) {
    new Gauge({
      name: 'dovecote_sms_outbox_queued_texts',
      help: 'Texts queued to send (outbox depth), held ones included.',
      registers,
      async collect() {
        const reading = await outbox();
        if (reading) this.set(reading.queued);
        else this.set(Number.NaN);
      },
    });
    new Gauge({
      name: 'dovecote_sms_outbox_oldest_queued_age_seconds',
      help: 'Age of the oldest queued text, in seconds (0 when none is queued).',
      registers,
      async collect() {
        const reading = await outbox();
        if (reading) this.set(reading.oldestQueuedSeconds);
        else this.set(Number.NaN);
      },
    });
    new Gauge({
      name: 'dovecote_sms_outbox_held_by_provider_texts',
      help: 'Queued texts held because the provider refused our set-up (provider_problem).',
      registers,
      async collect() {
        const reading = await outbox();
        if (reading) this.set(reading.heldByProviderProblem);
        else this.set(Number.NaN);
      },
    });
  }

  if (sources.jobQueues) {
    const queues = guarded('job_queues', sources.jobQueues);
    new Gauge({
      name: 'dovecote_job_queue_jobs',
      help: 'Background jobs by queue and state (queued = ready + deferred + blocked), as pg-boss last counted them.',
      labelNames: ['queue', 'state'],
      registers,
      async collect() {
        this.reset();
        for (const q of (await queues()) ?? []) {
          this.set({ queue: q.name, state: 'queued' }, q.queued);
          this.set({ queue: q.name, state: 'ready' }, q.ready);
          this.set({ queue: q.name, state: 'deferred' }, q.deferred);
          this.set({ queue: q.name, state: 'active' }, q.active);
        }
      },
    });
    new Gauge({
      name: 'dovecote_job_queue_oldest_ready_seconds',
      help: 'How long the oldest job ready to run had waited, by queue (job queue lag), as of pg-boss\'s last monitor pass.',
      labelNames: ['queue'],
      registers,
      async collect() {
        this.reset();
        for (const q of (await queues()) ?? []) if (q.oldestReadySeconds !== null) this.set({ queue: q.name }, q.oldestReadySeconds);
      },
    });
  }

  if (sources.dbPool) {
    const pool = sources.dbPool;
    new Gauge({
      name: 'dovecote_db_pool_connections',
      help: 'PostgreSQL pool connections by state (in_use, idle) and the pool\'s maximum (max).',
      labelNames: ['state'],
      registers,
      collect() {
        this.reset();
        const reading = pool();
        if (!reading) return;
        this.set({ state: 'in_use' }, reading.total - reading.idle);
        this.set({ state: 'idle' }, reading.idle);
        this.set({ state: 'max' }, reading.max);
      },
    });
    new Gauge({
      name: 'dovecote_db_pool_waiting_requests',
      help: 'Queries waiting for a PostgreSQL pool connection.',
      registers,
      collect() {
        const reading = pool();
        if (reading) this.set(reading.waiting);
        else this.set(Number.NaN);
      },
    });
  }

  // The process metrics (CPU, memory, GC, event-loop lag) start at the first scrape: each start
  // enables an event-loop delay monitor and a GC observer that cannot be stopped again, and most
  // instances of Services (tests, the benchmark, a worker process) are never scraped.
  let defaultsStarted = false;
  const startDefaults = () => {
    if (defaultsStarted) return;
    defaultsStarted = true;
    collectDefaultMetrics({ register: registry });
  };

  return {
    registry,
    contentType: registry.contentType,
    scrape() {
      startDefaults();
      return registry.metrics();
    },
    httpRequest({ method, route, statusCode }, seconds) {
      const labels = { method: HTTP_METHODS.has(method) ? method : 'OTHER', route, status_code: String(statusCode) };
      httpRequests.inc(labels);
      httpDuration.observe(labels, seconds);
    },
    verification(check, outcome) {
      verifications.inc({ check, outcome });
    },
    nhsLoginFailure(reason) {
      nhsLoginFailures.inc({ reason: NHS_LOGIN_FAILURES.has(reason) ? reason : 'other' });
    },
    smsSent(kind) {
      smsSent.inc({ kind });
    },
    smsFailed(reason) {
      smsFailed.inc({ reason });
    },
    providerCall({ transport, outcome }, seconds) {
      providerDuration.observe({ transport, outcome }, seconds);
    },
    providerConfigurationError(problem) {
      providerConfigurationErrors.inc({ problem });
    },
    async providerConfigurationErrorsSoFar() {
      const { values } = await providerConfigurationErrors.get();
      return values.reduce((sum, v) => sum + v.value, 0);
    },
    readOutbox: outbox,
  };
}
