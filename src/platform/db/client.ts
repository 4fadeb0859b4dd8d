// One database handle for the whole app, on either engine: embedded PGlite (the default, so a fresh
// machine needs no server) or PostgreSQL through a node-postgres pool (DATABASE_URL).
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite, type PGliteInterface } from '@electric-sql/pglite';
import { btree_gist } from '@electric-sql/pglite/contrib/btree_gist';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { migrate as migratePg } from 'drizzle-orm/node-postgres/migrator';
import { readMigrationFiles } from 'drizzle-orm/migrator';
import type { PgDatabase, PgQueryResultHKT, PgTransaction } from 'drizzle-orm/pg-core';
import { sql, type ExtractTablesWithRelations, type SQL } from 'drizzle-orm';
import pg from 'pg';
import * as schema from './schema.ts';

export type Schema = typeof schema;
export type Db = PgDatabase<PgQueryResultHKT, Schema>;
export type Tx = PgTransaction<PgQueryResultHKT, Schema, ExtractTablesWithRelations<Schema>>;
/** Anything a repository can run a query on: the database or an open transaction. */
export type Queryable = Db | Tx;

export const migrationsFolder = path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations');

export interface Database {
  db: Db;
  kind: 'pglite' | 'postgres';
  /** The underlying PGlite instance (embedded) or pg pool (server), for pg-boss and health checks. */
  pglite?: PGliteInterface;
  pool?: pg.Pool;
  /** Connection string of the server (postgres only). */
  url?: string;
  migrate(): Promise<void>;
  close(): Promise<void>;
}

/** The PostgreSQL extensions the migrations create; PGlite must be given them when it opens a database. */
export const pgliteExtensions = { btree_gist };

export function fromPglite(client: PGlite | PGliteInterface): Database {
  const db = drizzlePglite(client as PGlite, { schema }) as unknown as Db;
  return {
    db,
    kind: 'pglite',
    pglite: client,
    migrate: () => migratePglite(db as never, { migrationsFolder }),
    close: () => client.close(),
  };
}

export function fromPool(pool: pg.Pool, url: string): Database {
  const db = drizzlePg(pool, { schema }) as unknown as Db;
  return {
    db,
    kind: 'postgres',
    pool,
    url,
    migrate: () => migratePg(db as never, { migrationsFolder }),
    close: () => pool.end(),
  };
}

type ConnectCallback = (err: Error | undefined, client: pg.PoolClient | undefined, done: (release?: unknown) => void) => void;

/**
 * A pg pool whose checked-out connections may die (database restart, fail-over, pg_terminate_backend)
 * without taking the process or the pool down with them. Found by test/faults/database-restart.
 *
 * pg-pool listens for 'error' only on idle clients. A client that is checked out (drizzle holds one for
 * a whole transaction) and loses its connection between two queries emits 'error' with nobody
 * listening: an uncaught exception that ends the process. And drizzle's transaction() releases its
 * client only after BEGIN succeeds, so a BEGIN sent on a connection that was just ended leaks that
 * client: the pool counts it for ever, and after a few outages every request waits for a connection
 * that never comes. So each checked-out client is watched: when its connection dies it goes back to
 * the pool at once, marked broken (the pool closes it and makes a new one), and the holder's own
 * release later does nothing. The holder's next query fails on the dead client, never on a stranger's
 * connection, because a broken client is never handed out again.
 */
/** A checked-out client's watch: the error that ended it (if any) and, once known, how to hand it back. */
interface Watch {
  lost?: Error;
  giveBack?: (error: Error) => void;
  listener: (error: Error) => void;
}

class ResilientPool extends pg.Pool {
  private readonly watched = new WeakMap<pg.PoolClient, Watch>();

  constructor(config: pg.PoolConfig) {
    super(config);
    // The watch starts synchronously as the pool hands a client out ('acquire'), not when connect()'s
    // promise resolves: a new connection's last start-up message and the server's "terminating
    // connection" can arrive in one read, so the 'error' can come before any .then() has run.
    this.on('acquire', (client) => {
      const state: Watch = {
        listener: (error) => {
          state.lost ??= error;
          state.giveBack?.(error);
        },
      };
      this.watched.set(client, state);
      client.on('error', state.listener);
    });
    this.on('release', (_error, client) => {
      const state = this.watched.get(client);
      if (state) client.removeListener('error', state.listener);
      this.watched.delete(client);
    });
  }

  override connect(): Promise<pg.PoolClient>;
  override connect(callback: ConnectCallback): void;
  override connect(callback?: ConnectCallback): Promise<pg.PoolClient> | void {
    // pool.query() checks out with a callback and handles the client's errors itself.
    if (callback) return super.connect(callback);
    return super.connect().then((client) => {
      const release = client.release.bind(client);
      let released = false;
      const releaseOnce = (error?: Error | boolean) => {
        if (released) return;
        released = true;
        release(error);
      };
      client.release = releaseOnce;
      const state = this.watched.get(client);
      if (state) {
        state.giveBack = (error) => releaseOnce(error);
        // Died between being handed out and now: back to the pool at once; the holder's first query
        // fails on this client (never on someone else's), and its own release does nothing.
        if (state.lost) releaseOnce(state.lost);
      }
      return client;
    });
  }
}

export async function openDatabase(opts: {
  databaseUrl?: string;
  dataDir: string;
  poolSize?: number;
}): Promise<Database> {
  if (opts.databaseUrl) {
    const pool = new ResilientPool({
      connectionString: opts.databaseUrl,
      max: opts.poolSize ?? 20,
      // A request must never wait forever for a connection, e.g. while the server restarts.
      connectionTimeoutMillis: 5_000,
      idleTimeoutMillis: 30_000,
    });
    // Idle clients that lose their connection (server restart) emit 'error'; the pool replaces them.
    // Checked-out ones are ResilientPool's business.
    pool.on('error', () => {});
    return fromPool(pool, opts.databaseUrl);
  }
  const dir = path.join(opts.dataDir, 'pglite');
  mkdirSync(dir, { recursive: true });
  return fromPglite(await PGlite.create(dir, { extensions: pgliteExtensions }));
}

/** Raw SQL for the few statements the query builder cannot say; both drivers return `{ rows }`. */
export async function queryRows<T>(on: Queryable, query: SQL): Promise<T[]> {
  const result = (await on.execute(query)) as unknown as { rows: T[] };
  return result.rows;
}

/**
 * How many of this version's migrations the database has not had (all of them when it was never
 * migrated). For a process that does not migrate at start-up (DATABASE_MIGRATE_ON_START=false): it
 * must not serve on a schema older than its code.
 */
export async function pendingMigrations(database: Database): Promise<number> {
  const files = readMigrationFiles({ migrationsFolder });
  const [registry] = await queryRows<{ exists: boolean }>(database.db, sql`SELECT to_regclass('drizzle.__drizzle_migrations') IS NOT NULL AS exists`);
  if (!registry?.exists) return files.length;
  const [last] = await queryRows<{ created_at: string | null }>(database.db, sql`SELECT max(created_at) AS created_at FROM drizzle.__drizzle_migrations`);
  const applied = Number(last?.created_at ?? 0);
  return files.filter((file) => file.folderMillis > applied).length;
}
