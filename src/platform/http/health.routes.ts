// Liveness and readiness for load balancers and the on-call engineer.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { sql } from 'drizzle-orm';
import { migrationsFolder, queryRows, type Database } from '../db/client.ts';

const expectedMigrations = (
  JSON.parse(readFileSync(path.join(migrationsFolder, 'meta', '_journal.json'), 'utf8')) as { entries: unknown[] }
).entries.length;

export async function checkReadiness(database: Database): Promise<{ ready: boolean; reason?: string }> {
  try {
    const [row] = await queryRows<{ n: number }>(database.db, sql`SELECT count(*)::int AS n FROM drizzle.__drizzle_migrations`);
    const applied = Number(row?.n ?? 0);
    if (applied < expectedMigrations) return { ready: false, reason: 'migrations not applied' };
    return { ready: true };
  } catch {
    return { ready: false, reason: 'database unreachable' };
  }
}

export async function healthRoutes(app: FastifyInstance, opts: { database: Database; isDraining: () => boolean }) {
  app.get('/health', async () => ({ status: 'ok' }));
  app.get('/ready', async (_request, reply) => {
    // While shutting down, tell the load balancer to stop sending new patients here first.
    const readiness = opts.isDraining() ? { ready: false, reason: 'shutting down' } : await checkReadiness(opts.database);
    return reply.status(readiness.ready ? 200 : 503).send({ status: readiness.ready ? 'ready' : 'not ready', reason: readiness.reason });
  });
}
