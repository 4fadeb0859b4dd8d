// `npm run bench:sender`: the SMS sender's own ceiling, in isolation. N texts are queued in the
// outbox (as the API would leave them), then the real worker process (test/faults/worker-process.ts,
// the same code `npm start` runs) sends them to the Notify stand-in with no rate limit. Prints texts a
// second from the first arrival to the last; `--rate` sets a provider limit to check the sender keeps
// to it instead, and `--cpu-prof` writes a V8 CPU profile of the worker to bench/results/.
//
//   npm run bench:sender -- --texts 10000 [--concurrency 50] [--rate 3000] [--cpu-prof]
import { parseArgs } from 'node:util';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { loadConfig } from '../src/config/config.ts';
import { openDatabase } from '../src/platform/db/client.ts';
import { startJobs } from '../src/platform/jobs/jobs.ts';
import { buildServices } from '../src/services.ts';
import { itemKindRegistry } from '../src/app.ts';
import { createSmsQueues } from '../src/features/sms/sms-queues.ts';
import { organisations } from '../src/platform/db/schema.ts';
import { enqueueSms } from '../src/features/sms/outbox.service.ts';
import { TEST_SECRETS } from '../test/helpers/app.ts';
import { notifyConfigFor, startNotifyStandIn } from '../test/helpers/notify-stand-in.ts';
import { processCpuMs } from './load.ts';

const { values: args } = parseArgs({
  options: {
    texts: { type: 'string', default: '10000' },
    concurrency: { type: 'string', default: '50' },
    rate: { type: 'string', default: '100000000' },
    'cpu-prof': { type: 'boolean', default: false },
  },
});
const texts = Number(args.texts);
const adminUrl = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const dbName = 'dovecote_bench_sender';
const url = new URL(adminUrl);
url.pathname = `/${dbName}`;

const admin = new pg.Client({ connectionString: adminUrl });
await admin.connect();
await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
await admin.query(`CREATE DATABASE ${dbName}`);
await admin.end();

const standIn = await startNotifyStandIn();
const dataDir = mkdtempSync(path.join(tmpdir(), 'dovecote-bench-sender-'));
const config = loadConfig({ NODE_ENV: 'test', DATA_DIR: dataDir, DATABASE_URL: url.toString(), LOG_LEVEL: 'silent', ...TEST_SECRETS, ...notifyConfigFor(standIn) });
const database = await openDatabase({ databaseUrl: url.toString(), dataDir, poolSize: 10 });
await database.migrate();
const jobs = await startJobs(database, { supervise: false });
const services = buildServices({ config, database, jobs, itemKinds: itemKindRegistry() });
await createSmsQueues(jobs);
const [organisation] = await services.db.insert(organisations).values({ name: 'Bench Surgery', odsCode: 'B00002', contactPhone: '01234 567890' }).returning();
const queuedStarted = performance.now();
for (let start = 0; start < texts; start += 500) {
  await services.db.transaction(async (tx) => {
    for (let n = start; n < Math.min(texts, start + 500); n++) {
      await enqueueSms(tx, services.jobs, {
        organisationId: organisation!.id,
        kind: 'message_link',
        phoneE164: `+4477009${String(n % 100_000).padStart(5, '0')}`,
        personalisation: { organisation_name: 'Bench Surgery', waiting: 'you have a new message', link: `http://localhost:3000/bench-${n}` },
      });
    }
  });
}
process.stdout.write(`Queued ${texts} texts in ${((performance.now() - queuedStarted) / 1000).toFixed(1)} s\n`);
await jobs.stop({ graceful: false, timeout: 1000 });
await database.close();

mkdirSync('bench/results', { recursive: true });
const nodeArgs = args['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir=bench/results'] : [];
const worker = spawn(process.execPath, [...nodeArgs, 'test/faults/worker-process.ts'], {
  env: {
    ...process.env,
    NODE_ENV: 'test',
    DATABASE_URL: url.toString(),
    DATA_DIR: dataDir,
    LOG_LEVEL: 'warn',
    ...TEST_SECRETS,
    ...notifyConfigFor(standIn),
    SMS_SEND_CONCURRENCY: args.concurrency!,
    SMS_RATE_PER_MINUTE: args.rate!,
  },
  stdio: ['ignore', 'inherit', 'inherit'],
});
const cpuAtStart = process.cpuUsage();
let first = 0;
const probe = setInterval(() => {
  if (!first && standIn.received.length > 0) first = performance.now();
}, 5);
await standIn.waitForReceived(texts, 600_000);
const last = performance.now();
clearInterval(probe);
const seconds = (last - first) / 1000;
const rate = (texts - 1) / seconds;
process.stdout.write(
  `Sent ${texts} texts in ${seconds.toFixed(2)} s: ${rate.toFixed(0)} texts/s (${Math.round(rate * 60)}/min); ` +
    `${standIn.requests.filter((r) => r.status === 429).length} answers of 429; concurrency ${args.concurrency}, limit ${args.rate}/min\n`,
);
// CPU seconds each side used (user + system): says which process limits the rate.
const workerCpuSeconds = processCpuMs(worker.pid!) / 1000;
const benchCpu = process.cpuUsage(cpuAtStart);
process.stdout.write(
  `CPU: worker ${workerCpuSeconds.toFixed(1)} s (${((workerCpuSeconds * 1000) / texts).toFixed(2)} ms a text, start-up included); ` +
    `Notify stand-in and this script ${((benchCpu.user + benchCpu.system) / 1e6).toFixed(1)} s\n`,
);
const exited = new Promise((resolve) => worker.once('exit', resolve));
worker.kill('SIGTERM');
await exited;
await standIn.close();
