// Fault: the provider misbehaves over a batch of 200 texts. A recording proxy in front of the Notify
// stand-in answers, per phone number, a script of faults (500/502/503, 429 with and without
// Retry-After, a hang) before letting the request through; the stand-in refuses one number for good.
// Timings are read from the proxy's own arrival times, and asserted only as lower bounds the retry
// policy promises (never "faster than").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { eq } from 'drizzle-orm';
import { outboundSms } from '../../src/platform/db/schema.ts';
import { enqueueSms } from '../../src/features/sms/outbox.service.ts';
import { startFastWorker } from '../../src/features/sms/sms-test-support.ts';
import { createTestApp } from '../helpers/app.ts';
import { createTestConversation, createTestOrganisation, createTestStaff } from '../helpers/factories.ts';
import { notifyConfigFor, startNotifyStandIn } from '../helpers/notify-stand-in.ts';
import { pageText, signInAsStaff, staffGet } from '../helpers/staff.ts';
import { POSTGRES_ONLY, waitUntil } from './fault-support.ts';

type Fault = 500 | 502 | 503 | '429' | '429-retry-after' | 'hang';
interface Arrival {
  at: number;
  phone: string;
  answer: number | 'hang';
}

const RETRY_AFTER_SECONDS = 2;
const CONCURRENCY = 10;
const RETRY_DELAY_SECONDS = 1;
const NOTIFY_TIMEOUT_MS = 3000;
const REJECTED = '+447700900999';

/** Sits in front of the stand-in; every request is recorded with its arrival time. */
async function startFaultProxy(target: string, plans: Map<string, Fault[]>) {
  const arrivals: Arrival[] = [];
  const hanging = new Set<ServerResponse>();
  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks);
    const at = Date.now();
    let phone = '';
    try {
      phone = String((JSON.parse(raw.toString('utf8')) as { phone_number?: string }).phone_number ?? '');
    } catch {
      // forwarded as it is; the stand-in answers it
    }
    const fault = plans.get(phone)?.shift();
    if (fault === 'hang') {
      arrivals.push({ at, phone, answer: 'hang' });
      hanging.add(res);
      return;
    }
    if (fault !== undefined) {
      const status = fault === '429' || fault === '429-retry-after' ? 429 : fault;
      arrivals.push({ at, phone, answer: status });
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (fault === '429-retry-after') headers['retry-after'] = String(RETRY_AFTER_SECONDS);
      res.writeHead(status, headers);
      const error = status === 429 ? { error: 'RateLimitError', message: 'Exceeded rate limit for key type LIVE of 3000 requests per 60 seconds' } : { error: 'Exception', message: 'Internal server error' };
      res.end(JSON.stringify({ status_code: status, errors: [error] }));
      return;
    }
    const arrival: Arrival = { at, phone, answer: 0 };
    arrivals.push(arrival);
    const upstream = httpRequest(`${target}${req.url}`, { method: req.method, headers: req.headers }, (up) => {
      arrival.answer = up.statusCode ?? 0;
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    upstream.end(raw);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    arrivals,
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of hanging) res.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

test('provider failures over 200 texts: retries back off, the refused number is marked and shown to staff, nothing dropped or doubled, no 429 storm', { skip: POSTGRES_ONLY, timeout: 180_000 }, async (t) => {
  const standIn = await startNotifyStandIn();
  t.after(() => standIn.close());
  standIn.rejectNumber(REJECTED);

  // 199 texts with a number each, and a script of faults for some of them.
  const phones = Array.from({ length: 199 }, (_, i) => `+4477009${String(10_000 + i).padStart(5, '0')}`);
  const plans = new Map<string, Fault[]>();
  const groups = {
    retryAfter: phones.slice(0, 2),
    serverErrors: phones.slice(2, 22),
    rateLimited: phones.slice(22, 42),
    hangs: phones.slice(42, 52),
  };
  for (const p of groups.retryAfter) plans.set(p, ['429-retry-after']);
  groups.serverErrors.forEach((p, i) => plans.set(p, [500, i % 2 ? 502 : 503, 500]));
  for (const p of groups.rateLimited) plans.set(p, ['429', '429']);
  for (const p of groups.hangs) plans.set(p, ['hang']);
  const expectedFaults = new Map([...plans].map(([p, f]) => [p, f.length]));

  const proxy = await startFaultProxy(standIn.baseUrl, plans);
  t.after(() => proxy.close());
  const notifyConfig = { ...notifyConfigFor(standIn), NOTIFY_BASE_URL: proxy.baseUrl };
  const { app, services, close } = await createTestApp({ config: notifyConfig });
  t.after(close);

  // The worker starts first: its retry policy reaches the jobs enqueued after it.
  const stop = await startFastWorker(services, {
    concurrency: CONCURRENCY,
    ratePerMinute: 60_000,
    retryDelaySeconds: RETRY_DELAY_SECONDS,
    retryDelayMaxSeconds: 60,
    notifyTimeoutMs: NOTIFY_TIMEOUT_MS,
    maxPauseMs: 30_000,
  });
  t.after(stop);

  const organisation = await createTestOrganisation(services);
  const staff = await createTestStaff(services, organisation.id);
  const refused = await createTestConversation(services, { organisation, patient: { nhsNumber: '9990000026', mobileNumber: REJECTED } });
  await services.db.transaction(async (tx) => {
    for (const phone of phones) {
      await enqueueSms(tx, services.jobs, {
        organisationId: organisation.id,
        kind: 'message_link',
        phoneE164: phone,
        personalisation: { organisation_name: organisation.name, waiting: 'you have a new message', link: `http://localhost:3000/fault-${phone.slice(-5)}` },
      });
    }
  });

  const finished = await waitUntil(
    async () => {
      const rows = await services.db.select().from(outboundSms).where(eq(outboundSms.organisationId, organisation.id));
      return rows.every((r) => r.status === 'sent' || r.status === 'permanent_failure') ? rows : undefined;
    },
    'every text to be sent or refused',
    150_000,
    250,
  );
  assert.equal(finished.length, 200);

  // The refused number: marked, tried once, and staff see it.
  const refusedRow = finished.find((r) => r.phoneE164 === REJECTED)!;
  assert.equal(refusedRow.status, 'permanent_failure');
  assert.equal(refusedRow.attempts, 1);
  assert.equal(proxy.arrivals.filter((a) => a.phone === REJECTED).length, 1, 'a permanent failure is not retried');
  const jar = await signInAsStaff(app, staff.email, staff.password);
  const page = await staffGet(app, jar, `/staff/conversations/${refused.conversationId}`);
  assert.equal(page.statusCode, 200);
  assert.match(pageText(page.body), /Link to the message Sent to Mobile ending 999 .* Not delivered The number does not exist or cannot receive text messages/);

  // Nothing else dropped or duplicated: every other text reached the stand-in exactly once.
  const others = finished.filter((r) => r.phoneE164 !== REJECTED);
  for (const row of others) {
    assert.equal(row.status, 'sent');
    assert.equal(standIn.byReference(row.id).length, 1, `text to ${row.phoneE164.slice(-3)} reached the stand-in once`);
    assert.equal(row.attempts, (expectedFaults.get(row.phoneE164) ?? 0) + 1, 'one attempt per fault, then the send');
  }
  assert.equal(standIn.received.length, 199);

  // Back-off: retry k of a text arrives at least retryDelay * 2^(k-1) after the failed attempt (pg-boss
  // exponential backoff; its jitter only adds), so the least wait doubles with each retry.
  const gapsOf = (phone: string) => {
    const times = proxy.arrivals.filter((a) => a.phone === phone).map((a) => a.at);
    return times.slice(1).map((at, i) => at - times[i]!);
  };
  const serverErrorChains: string[] = [];
  for (const phone of [...groups.serverErrors, ...groups.rateLimited]) {
    const gaps = gapsOf(phone);
    assert.equal(gaps.length, expectedFaults.get(phone));
    gaps.forEach((gap, i) => {
      assert.ok(gap >= RETRY_DELAY_SECONDS * 1000 * 2 ** i, `retry ${i + 1} of ${phone.slice(-3)} came ${gap} ms after the failure`);
    });
    // Only the floors are asserted: a retry that is due also waits its turn behind the other texts of
    // the batch, so an early gap can be longer than a later one under load.
    if (groups.serverErrors.includes(phone)) serverErrorChains.push(gaps.join('/'));
  }
  // A hang is abandoned at the client's deadline and tried again.
  for (const phone of groups.hangs) assert.ok(gapsOf(phone)[0]! >= NOTIFY_TIMEOUT_MS);

  // No 429 storm: after a 429 with Retry-After: N, the text itself waits N seconds, and no new request
  // starts in the meantime; only requests already on their way (at most concurrency - 1) can arrive.
  let inWindowMax = 0;
  for (const phone of groups.retryAfter) {
    const [limited, next] = proxy.arrivals.filter((a) => a.phone === phone);
    assert.equal(limited!.answer, 429);
    assert.ok(next!.at - limited!.at >= RETRY_AFTER_SECONDS * 1000, `the 429'd text waited ${next!.at - limited!.at} ms`);
    const inWindow = proxy.arrivals.filter((a) => a.at > limited!.at && a.at < limited!.at + RETRY_AFTER_SECONDS * 1000);
    inWindowMax = Math.max(inWindowMax, inWindow.length);
    assert.ok(inWindow.length <= CONCURRENCY - 1, `${inWindow.length} requests arrived inside the Retry-After window`);
  }
  const answered429 = proxy.arrivals.filter((a) => a.answer === 429).length;
  assert.equal(answered429, groups.retryAfter.length + 2 * groups.rateLimited.length, 'no 429 beyond the ones the provider chose');

  t.diagnostic(
    `requests to the provider: ${proxy.arrivals.length} for 200 texts (${answered429} answered 429); ` +
      `requests inside a Retry-After window (already in flight): at most ${inWindowMax}; ` +
      `gaps between attempts (ms) for texts with three 5xx: ${serverErrorChains.slice(0, 5).join(', ')}`,
  );
});
