// Whose address a request is counted against (issue 10, item 3). Behind a proxy, only the
// X-Forwarded-For hop that a trusted proxy appended is believed: a client writing its own header
// (a random leftmost value each time) must not escape the per-address link look-up limit, lock out
// someone else's address, or put a made-up address in the audit trail.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import { createTestApp, TestClock } from '../helpers/app.ts';
import { createTestConversation } from '../helpers/factories.ts';
import { textOf } from '../helpers/patient.ts';
import { newLinkToken } from '../../src/platform/crypto/tokens.ts';
import { LINK_LOOKUPS_PER_MINUTE } from '../../src/features/verification/patient-access.service.ts';
import { auditEvents } from '../../src/platform/db/schema.ts';
import type { Services } from '../../src/services.ts';

/** The patient's address as the load balancer sees it and appends to X-Forwarded-For. */
const PATIENT = '198.51.100.23';
const randomAddress = () => `${randomInt(1, 224)}.${randomInt(0, 256)}.${randomInt(0, 256)}.${randomInt(1, 255)}`;

/** A request as it reaches Dovecote through the proxy: the client's own header, then the proxy's hop. */
function viaProxy(app: FastifyInstance, url: string, opts: { spoofed: string; proxy: string; hops?: string[] }) {
  const forwardedFor = [opts.spoofed, PATIENT, ...(opts.hops ?? [])].join(', ');
  return app.inject({ method: 'GET', url, headers: { 'x-forwarded-for': forwardedFor }, remoteAddress: opts.proxy });
}

async function openedFrom(services: Services, linkId: string): Promise<Array<string | null>> {
  const rows = await services.db
    .select({ ip: auditEvents.ip })
    .from(auditEvents)
    .where(and(eq(auditEvents.linkId, linkId), eq(auditEvents.type, 'link.opened')));
  return rows.map((r) => r.ip);
}

test('behind a trusted proxy, 100 unknown-link look-ups with a random spoofed X-Forwarded-For each are still limited', async (t) => {
  const clock = new TestClock();
  const { app, close } = await createTestApp({ now: clock.now, config: { TRUST_PROXY: '127.0.0.1' } });
  t.after(close);
  const statuses: number[] = [];
  for (let i = 0; i < 100; i++) {
    const res = await viaProxy(app, `/${newLinkToken()}`, { spoofed: randomAddress(), proxy: '127.0.0.1' });
    statuses.push(res.statusCode);
  }
  // Every look-up counts against the patient's one address, whatever the client wrote in front of it.
  assert.deepEqual(statuses.slice(0, LINK_LOOKUPS_PER_MINUTE), Array(LINK_LOOKUPS_PER_MINUTE).fill(404));
  assert.deepEqual(statuses.slice(LINK_LOOKUPS_PER_MINUTE), Array(100 - LINK_LOOKUPS_PER_MINUTE).fill(429));
  const limited = await viaProxy(app, `/${newLinkToken()}`, { spoofed: randomAddress(), proxy: '127.0.0.1' });
  assert.match(textOf(limited.body), /You have tried to open links too many times/);

  // Someone else behind the same proxy is not locked out by it: the limit is the patient's address's.
  const other = await app.inject({ method: 'GET', url: `/${newLinkToken()}`, headers: { 'x-forwarded-for': `${PATIENT}, 198.51.100.99` } });
  assert.equal(other.statusCode, 404);
});

test('a victim\'s address cannot be locked out by writing it into X-Forwarded-For', async (t) => {
  const { app, close } = await createTestApp({ config: { TRUST_PROXY: '127.0.0.1' } });
  t.after(close);
  const victim = '203.0.113.77';
  for (let i = 0; i < LINK_LOOKUPS_PER_MINUTE + 10; i++) {
    await viaProxy(app, `/${newLinkToken()}`, { spoofed: victim, proxy: '127.0.0.1' });
  }
  const victimsOwn = await app.inject({ method: 'GET', url: `/${newLinkToken()}`, headers: { 'x-forwarded-for': victim } });
  assert.equal(victimsOwn.statusCode, 404, 'the victim is answered, not refused');
});

test('the audit trail records the address the proxy appended, never the one the client wrote', async (t) => {
  const { app, services, close } = await createTestApp({ config: { TRUST_PROXY: '127.0.0.1' } });
  t.after(close);
  const c = await createTestConversation(services);
  const res = await viaProxy(app, `/${c.token}`, { spoofed: '6.6.6.6', proxy: '127.0.0.1' });
  assert.equal(res.statusCode, 200);
  assert.deepEqual(await openedFrom(services, c.linkId), [PATIENT]);
});

test('with a chain of trusted proxies (a CIDR range), the first hop outside it is the client', async (t) => {
  const { app, services, close } = await createTestApp({ config: { TRUST_PROXY: '10.0.0.0/8' } });
  t.after(close);
  const c = await createTestConversation(services);
  const res = await viaProxy(app, `/${c.token}`, { spoofed: '6.6.6.6', proxy: '10.0.0.2', hops: ['10.1.2.3'] });
  assert.equal(res.statusCode, 200);
  assert.deepEqual(await openedFrom(services, c.linkId), [PATIENT]);
});

test('a client that reaches Dovecote directly, not through a trusted proxy, is known by its own address', async (t) => {
  const { app, services, close } = await createTestApp({ config: { TRUST_PROXY: '10.0.0.0/8' } });
  t.after(close);
  const c = await createTestConversation(services);
  const direct = '203.0.113.50';
  const res = await viaProxy(app, `/${c.token}`, { spoofed: '6.6.6.6', proxy: direct });
  assert.equal(res.statusCode, 200);
  assert.deepEqual(await openedFrom(services, c.linkId), [direct]);
});
