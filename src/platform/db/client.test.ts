// The PostgreSQL pool when its connections are ended under it (a restart, a fail-over): the process
// must not crash and no connection may be kept from the pool for ever. test/faults/database-restart
// shows the same through the real server; these show the pool itself, quickly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'drizzle-orm';
import pg from 'pg';
import { createTestDatabase, testDatabaseUrl } from '../../../test/helpers/database.ts';
import { openDatabase, queryRows, type Database } from './client.ts';

const skip = testDatabaseUrl ? false : 'needs PostgreSQL (TEST_DATABASE_URL)';

async function terminateBackends(databaseName: string): Promise<number> {
  const admin = new pg.Client({ connectionString: testDatabaseUrl });
  await admin.connect();
  try {
    const result = await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [databaseName]);
    return result.rowCount ?? 0;
  } finally {
    await admin.end();
  }
}

async function poolOnFreshDatabase(t: { after(fn: () => Promise<void>): void }, poolSize: number): Promise<{ database: Database; name: string }> {
  const testDatabase = await createTestDatabase();
  await testDatabase.database.close();
  const database = await openDatabase({ databaseUrl: testDatabase.url!, dataDir: '/nonexistent', poolSize });
  t.after(async () => {
    // pool.end() waits for every client to come back: one lost for good would hold it for ever.
    await Promise.race([database.close().catch(() => {}), new Promise((resolve) => setTimeout(resolve, 5_000).unref())]);
    await testDatabase.drop();
  });
  return { database, name: new URL(testDatabase.url!).pathname.slice(1) };
}

test('a transaction whose connection is ended between two queries fails; the process and the pool carry on', { skip, timeout: 30_000 }, async (t) => {
  const { database, name } = await poolOnFreshDatabase(t, 2);
  let reached = false;
  const failed = await database.db
    .transaction(async (tx) => {
      await tx.execute(sql`SELECT 1`);
      // The connection is idle inside the transaction when it is ended: with nothing listening on a
      // checked-out client, its 'error' event used to be an uncaught exception.
      await terminateBackends(name);
      await new Promise((resolve) => setTimeout(resolve, 200));
      reached = true;
      await tx.execute(sql`SELECT 2`);
    })
    .then(
      () => false,
      () => true,
    );
  assert.ok(reached);
  assert.ok(failed, 'the transaction fails');
  const pool = database.pool!;
  assert.equal(pool.idleCount, pool.totalCount, 'nothing is left checked out');
  assert.deepEqual(await queryRows(database.db, sql`SELECT 1 AS one`), [{ one: 1 }]);
});

test('connections ended again and again under concurrent transactions: every connection comes back to the pool', { skip, timeout: 60_000 }, async (t) => {
  const { database, name } = await poolOnFreshDatabase(t, 8);
  let running = true;
  // The workers stop by themselves too, so a failure here can never leave them spinning.
  const stopBy = performance.now() + 30_000;
  let committed = 0;
  let failed = 0;
  // Short transactions back to back, so some BEGINs meet a connection as it is ended: drizzle only
  // gives a client back once BEGIN has succeeded, and such a client used to be lost to the pool.
  const workers = Array.from({ length: 16 }, async () => {
    while (running && performance.now() < stopBy) {
      try {
        await database.db.transaction(async (tx) => {
          await tx.execute(sql`SELECT 1`);
          await new Promise((resolve) => setImmediate(resolve));
          await tx.execute(sql`SELECT 2`);
        });
        committed++;
      } catch {
        failed++;
      }
    }
  });
  let ended = 0;
  for (let round = 0; round < 12; round++) {
    await new Promise((resolve) => setTimeout(resolve, 150));
    ended += await terminateBackends(name);
  }
  await new Promise((resolve) => setTimeout(resolve, 300));
  running = false;
  await Promise.all(workers);
  const pool = database.pool!;
  t.diagnostic(`${ended} connections ended; ${committed} transactions committed, ${failed} failed; pool ${pool.totalCount} total, ${pool.idleCount} idle`);
  assert.ok(failed > 0, 'the terminations hit transactions');
  assert.equal(pool.waitingCount, 0);
  assert.equal(pool.idleCount, pool.totalCount, 'every connection is back in the pool (none lost for good)');
  // All of the pool can still be used at once.
  const held = await Promise.all(Array.from({ length: 8 }, () => pool.connect()));
  for (const client of held) client.release();
});

test('a connection that dies as it is handed out, before connect() resolves, neither crashes the process nor is lost', { skip, timeout: 30_000 }, async (t) => {
  const { database } = await poolOnFreshDatabase(t, 2);
  const pool = database.pool!;
  // What a new connection sees when its last start-up message and the server's "terminating
  // connection" arrive in one read: 'error' in the same tick as the pool hands the client out.
  // The pool has taken its own idle listener off by then, and connect()'s promise has not settled.
  pool.once('acquire', (client) => {
    queueMicrotask(() => client.emit('error', Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' })));
  });
  const client = await pool.connect();
  await assert.rejects(client.query('SELECT 1'), 'the holder finds its client dead, not someone else’s');
  client.release();
  // The pool carries on at full size: both connections can be taken at once.
  const [a, b] = await Promise.all([pool.connect(), pool.connect()]);
  assert.deepEqual((await a.query('SELECT 1 AS one')).rows, [{ one: 1 }]);
  assert.deepEqual((await b.query('SELECT 1 AS one')).rows, [{ one: 1 }]);
  a.release();
  b.release();
});
