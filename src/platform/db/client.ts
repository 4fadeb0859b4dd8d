// One database handle for the whole app, on either engine: embedded PGlite (the default, so a fresh
// machine needs no server) or PostgreSQL through a node-postgres pool (DATABASE_URL).
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite, type PGliteInterface } from '@electric-sql/pglite';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { migrate as migratePg } from 'drizzle-orm/node-postgres/migrator';
import type { PgDatabase, PgQueryResultHKT, PgTransaction } from 'drizzle-orm/pg-core';
import type { ExtractTablesWithRelations, SQL } from 'drizzle-orm';
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

export async function openDatabase(opts: {
  databaseUrl?: string;
  dataDir: string;
  poolSize?: number;
}): Promise<Database> {
  if (opts.databaseUrl) {
    const pool = new pg.Pool({
      connectionString: opts.databaseUrl,
      max: opts.poolSize ?? 20,
      // A request must never wait forever for a connection, e.g. while the server restarts.
      connectionTimeoutMillis: 5_000,
      idleTimeoutMillis: 30_000,
    });
    // Idle clients that lose their connection (server restart) emit 'error'; the pool replaces them.
    pool.on('error', () => {});
    return fromPool(pool, opts.databaseUrl);
  }
  const dir = path.join(opts.dataDir, 'pglite');
  mkdirSync(dir, { recursive: true });
  return fromPglite(await PGlite.create(dir));
}

/** Raw SQL for the few statements the query builder cannot say; both drivers return `{ rows }`. */
export async function queryRows<T>(on: Queryable, query: SQL): Promise<T[]> {
  const result = (await on.execute(query)) as unknown as { rows: T[] };
  return result.rows;
}
