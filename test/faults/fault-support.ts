// Shared parts of the fault suite: child processes that are always cleaned up, an HTTP client with a
// hard deadline per request, patient "browsers" over real HTTP, and the database-side tools (services
// on a test database, ending every backend of one database).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { Agent, request, type Dispatcher } from 'undici';
import pg from 'pg';
import { loadConfig } from '../../src/config/config.ts';
import { startJobs, type Jobs } from '../../src/platform/jobs/jobs.ts';
import { buildServices, type Services } from '../../src/services.ts';
import { itemKindRegistry } from '../../src/app.ts';
import { createSmsQueues } from '../../src/features/sms/sms-queues.ts';
import { TEST_SECRETS } from '../helpers/app.ts';
import { createTestDatabase, testDatabaseUrl, type TestDatabase } from '../helpers/database.ts';
import { CookieJar, csrfFrom } from '../helpers/factories.ts';
import { dobFields } from '../helpers/patient.ts';

/** The fault suite needs a real server it can kill connections on: PostgreSQL only. */
export const POSTGRES_ONLY: string | false = testDatabaseUrl
  ? false
  : 'fault suite runs on PostgreSQL only: set TEST_DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/postgres)';

export const repoRoot = path.resolve(import.meta.dirname, '../..');

export function tempDataDir(): string {
  return mkdtempSync(path.join(tmpdir(), 'dovecote-fault-'));
}

export async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` every `everyMs` until it returns something truthy; fails after timeoutMs. */
export async function waitUntil<T>(check: () => Promise<T> | T, what: string, timeoutMs: number, everyMs = 100): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

type After = { after(fn: () => Promise<void> | void): void };

export interface Child {
  proc: ChildProcess;
  /** stdout and stderr lines, in order. */
  lines: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  alive(): boolean;
  waitForLine(pattern: RegExp, timeoutMs: number): Promise<string>;
  /** The last lines, for failure messages. */
  tail(n?: number): string;
}

/** Starts `node <script>` with the given environment; t.after kills it (SIGKILL) if it is still running. */
export function spawnNode(t: After, script: string, env: Record<string, string>, args: string[] = []): Child {
  const proc = spawn(process.execPath, [script, ...args], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.on('exit', (code, signal) => {
      exitInfo = { code, signal };
      resolve(exitInfo);
    });
  });
  for (const stream of [proc.stdout!, proc.stderr!]) {
    let buffered = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      buffered += chunk;
      const parts = buffered.split('\n');
      buffered = parts.pop()!;
      lines.push(...parts);
    });
  }
  t.after(async () => {
    if (!exitInfo) {
      proc.kill('SIGKILL');
      await exited;
    }
  });
  return {
    proc,
    lines,
    exited,
    alive: () => !exitInfo,
    async waitForLine(pattern, timeoutMs) {
      return waitUntil(
        () => {
          if (exitInfo) throw new Error(`child exited (${exitInfo.code ?? exitInfo.signal}) before printing ${pattern}:\n${lines.slice(-30).join('\n')}`);
          return lines.find((l) => pattern.test(l));
        },
        `a line matching ${pattern}`,
        timeoutMs,
        50,
      );
    },
    tail: (n = 30) => lines.slice(-n).join('\n'),
  };
}

/** Environment for a Dovecote process on the test database (secrets as the in-process tests use). */
export function childEnv(databaseUrl: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    NODE_ENV: 'test',
    DATABASE_URL: databaseUrl,
    DATA_DIR: tempDataDir(),
    LOG_LEVEL: 'warn',
    ...TEST_SECRETS,
    ...extra,
  };
}

/** Services on a test database in this process, for making data with the factories. */
export async function servicesOn(testDatabase: TestDatabase, config: Record<string, string> = {}): Promise<{ services: Services; jobs: Jobs }> {
  const jobs = await startJobs(testDatabase.database, { supervise: false });
  const services = buildServices({
    config: loadConfig({ NODE_ENV: 'test', DATA_DIR: tempDataDir(), PUBLIC_BASE_URL: 'http://localhost:3000', LOG_LEVEL: 'silent', ...TEST_SECRETS, ...config }),
    database: testDatabase.database,
    jobs,
    itemKinds: itemKindRegistry(),
  });
  await createSmsQueues(jobs);
  return { services, jobs };
}

/** A fresh test database with services on it; t.after closes and drops it. */
export async function faultDatabase(t: After, config: Record<string, string> = {}) {
  const testDatabase = await createTestDatabase();
  const { services, jobs } = await servicesOn(testDatabase, config);
  t.after(async () => {
    await jobs.stop({ graceful: false, timeout: 1000 }).catch(() => {});
    await testDatabase.database.close().catch(() => {});
    await testDatabase.drop();
  });
  return { testDatabase, services, jobs, url: testDatabase.url!, name: new URL(testDatabase.url!).pathname.slice(1) };
}

/**
 * A connection to the shared server (not the test's database) for doing to one database what a
 * restart does: end every connection to it, and refuse new ones for a while. One connection for the
 * whole outage, so ending connections many times a second costs little.
 */
export async function databaseAdmin(databaseName: string) {
  const admin = new pg.Client({ connectionString: testDatabaseUrl });
  await admin.connect();
  return {
    /** Ends every connection to the database; how many there were. */
    async terminateBackends(): Promise<number> {
      const result = await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [databaseName]);
      return result.rowCount ?? 0;
    },
    /** Refuses (or accepts again) every new connection to the database; open ones are not touched. */
    async refuseConnections(refuse: boolean): Promise<void> {
      await admin.query(`ALTER DATABASE "${databaseName}" WITH ALLOW_CONNECTIONS ${refuse ? 'false' : 'true'}`);
    },
    /** Connections to the database that have sat in a transaction for more than `seconds`. */
    async idleInTransaction(seconds: number): Promise<number> {
      const result = await admin.query(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND state LIKE 'idle in transaction%' AND state_change < now() - make_interval(secs => $2)`,
        [databaseName, seconds],
      );
      return (result.rows[0] as { n: number }).n;
    },
    close: () => admin.end(),
  };
}

/** A valid NHS number (mod 11 check digit) for the n-th test patient. */
export function nhsNumberFor(n: number): string {
  for (let k = n * 7; ; k++) {
    const stem = `998${String(k % 1_000_000).padStart(6, '0')}`;
    const sum = [...stem].reduce((acc, d, i) => acc + Number(d) * (10 - i), 0);
    const check = 11 - (sum % 11);
    if (check === 10) continue;
    return `${stem}${check === 11 ? 0 : check}`;
  }
}

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  ms: number;
}

/** Why a request got no answer: refused (never connected), reset/closed, or timed out (the hang we must never see). */
export function errorKind(error: unknown): 'refused' | 'reset' | 'timeout' | 'other' {
  const e = error as { code?: string; cause?: { code?: string } };
  const code = e?.code ?? e?.cause?.code ?? '';
  if (code === 'ECONNREFUSED') return 'refused';
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' || code === 'EPIPE' || code === 'UND_ERR_CLOSED') return 'reset';
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'ABORT_ERR' || code === 'UND_ERR_ABORTED') return 'timeout';
  return 'other';
}

/** An HTTP client where no request can wait longer than timeoutMs. */
export function httpClient(baseUrl: string, opts: { connections?: number; timeoutMs?: number } = {}) {
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const agent = new Agent({ connections: opts.connections ?? 64, headersTimeout: timeoutMs, bodyTimeout: timeoutMs, connectTimeout: timeoutMs, keepAliveTimeout: 4_000 });
  return {
    agent,
    async send(method: Dispatcher.HttpMethod, url: string, init: { headers?: Record<string, string>; body?: string } = {}): Promise<HttpResult> {
      const started = performance.now();
      const res = await request(`${baseUrl}${url}`, {
        method,
        headers: init.headers,
        body: init.body,
        dispatcher: agent,
        signal: AbortSignal.timeout(timeoutMs),
      });
      const body = await res.body.text();
      return { status: res.statusCode, headers: res.headers, body, ms: performance.now() - started };
    },
    close: () => agent.close(),
  };
}

export type HttpClient = ReturnType<typeof httpClient>;

/**
 * One patient's browser over real HTTP: its own cookies and its own client address (the server runs
 * with TRUST_PROXY=loopback so each patient counts against its own per-address limits, as on the internet).
 */
export class Browser {
  readonly jar = new CookieJar();
  private readonly client: HttpClient;
  private readonly ip: string;
  constructor(client: HttpClient, ip: string) {
    this.client = client;
    this.ip = ip;
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { cookie: this.jar.header(), 'x-forwarded-for': this.ip, ...extra };
  }

  async get(url: string): Promise<HttpResult> {
    const res = await this.client.send('GET', url, { headers: this.headers() });
    this.jar.store(res.headers['set-cookie']);
    return res;
  }

  /** POSTs a form with the CSRF token from `html` (a page this browser just loaded). */
  async post(url: string, html: string, fields: Record<string, string>): Promise<HttpResult> {
    const res = await this.client.send('POST', url, {
      headers: this.headers({ 'content-type': 'application/x-www-form-urlencoded' }),
      body: new URLSearchParams({ _csrf: csrfFrom(html), ...fields }).toString(),
    });
    this.jar.store(res.headers['set-cookie']);
    return res;
  }

  submitDob(token: string, pageHtml: string): Promise<HttpResult> {
    return this.post(`/${token}`, pageHtml, dobFields());
  }
}

/** Every result a load run saw, so a test can count outcomes. */
export interface Outcome {
  what: string;
  status?: number;
  error?: ReturnType<typeof errorKind>;
  errorCode?: string;
  startedAt: number;
  endedAt: number;
}

export async function attempt(outcomes: Outcome[], what: string, run: () => Promise<HttpResult>): Promise<HttpResult | undefined> {
  const startedAt = performance.now();
  try {
    const res = await run();
    outcomes.push({ what, status: res.status, startedAt, endedAt: performance.now() });
    return res;
  } catch (error) {
    const e = error as { code?: string; cause?: { code?: string } };
    outcomes.push({ what, error: errorKind(error), errorCode: e?.code ?? e?.cause?.code ?? String(error), startedAt, endedAt: performance.now() });
    return undefined;
  }
}

export function countBy<T>(items: T[], key: (item: T) => string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const item of items) counts[key(item)] = (counts[key(item)] ?? 0) + 1;
  return counts;
}
