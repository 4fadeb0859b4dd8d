// A small closed-loop load generator: `connections` workers each run a scenario step after step for
// `seconds`, recording each request's latency. One generator for every scenario and both ceilings,
// so their ratios compare like with like.
import { readFileSync } from 'node:fs';
import { Agent, request } from 'undici';

export interface StepResult {
  ok: boolean;
}

export interface LoadResult {
  requests: number;
  errors: number;
  seconds: number;
  rps: number;
  p50: number;
  p99: number;
  /** CPU the server process used per measured request (user + system), when its pid was given. */
  serverCpuMsPerRequest?: number;
}

/** User + system CPU a process has used so far, in ms (Linux /proc; clock ticks are 1/100 s). */
export function processCpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

export type Step = (client: BenchClient, worker: number, iteration: number) => Promise<void>;

export class BenchClient {
  readonly latencies: number[] = [];
  errors = 0;
  readonly base: string;
  readonly dispatcher: Agent;
  constructor(base: string, dispatcher: Agent) {
    this.base = base;
    this.dispatcher = dispatcher;
  }

  /** One timed HTTP request; a status other than `expect` counts as an error. */
  async call(
    method: 'GET' | 'POST',
    path: string,
    opts: { headers?: Record<string, string>; body?: string; expect?: number[] } = {},
  ): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
    const started = performance.now();
    const res = await request(this.base + path, {
      method,
      headers: opts.headers,
      body: opts.body,
      dispatcher: this.dispatcher,
    });
    const body = await res.body.text();
    this.latencies.push(performance.now() - started);
    if (!(opts.expect ?? [200]).includes(res.statusCode)) this.errors++;
    return { status: res.statusCode, headers: res.headers, body };
  }
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export async function runLoad(
  base: string,
  step: Step,
  opts: { connections: number; seconds: number; warmupSeconds: number; stopWhen?: () => boolean; serverPid?: number },
): Promise<LoadResult> {
  const dispatcher = new Agent({ connections: opts.connections, pipelining: 1, keepAliveTimeout: 30_000 });
  try {
    const runFor = async (seconds: number, client: BenchClient) => {
      const deadline = performance.now() + seconds * 1000;
      let iteration = 0;
      await Promise.all(
        Array.from({ length: opts.connections }, async (_, worker) => {
          while (performance.now() < deadline && !opts.stopWhen?.()) {
            try {
              await step(client, worker, iteration++);
            } catch {
              client.errors++;
            }
          }
        }),
      );
    };
    if (opts.warmupSeconds > 0) await runFor(opts.warmupSeconds, new BenchClient(base, dispatcher));
    const client = new BenchClient(base, dispatcher);
    const cpuBefore = opts.serverPid ? processCpuMs(opts.serverPid) : 0;
    const started = performance.now();
    await runFor(opts.seconds, client);
    const seconds = (performance.now() - started) / 1000;
    const cpuMs = opts.serverPid ? processCpuMs(opts.serverPid) - cpuBefore : undefined;
    const sorted = [...client.latencies].sort((a, b) => a - b);
    return {
      requests: client.latencies.length,
      errors: client.errors,
      seconds,
      rps: client.latencies.length / seconds,
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
      serverCpuMsPerRequest: cpuMs !== undefined && client.latencies.length > 0 ? cpuMs / client.latencies.length : undefined,
    };
  } finally {
    await dispatcher.close();
  }
}
