// Each test gets its own database: a clone of a migrated PGlite template (embedded), or a fresh
// PostgreSQL database created from a migrated template database (TEST_DATABASE_URL). Templates are
// made once per test process, or once per migration set on PostgreSQL.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { fromPglite, fromPool, migrationsFolder, pgliteExtensions, type Database } from '../../src/platform/db/client.ts';
import { startJobs } from '../../src/platform/jobs/jobs.ts';

export const testDatabaseUrl = process.env.TEST_DATABASE_URL;
export const databaseKind: 'pglite' | 'postgres' = testDatabaseUrl ? 'postgres' : 'pglite';

function migrationsFingerprint(): string {
  const h = createHash('sha256');
  for (const f of readdirSync(migrationsFolder).filter((f) => f.endsWith('.sql')).sort()) {
    h.update(f).update(readFileSync(path.join(migrationsFolder, f)));
  }
  return h.digest('hex').slice(0, 12);
}

let pgliteTemplate: Promise<PGlite> | undefined;

async function makePgliteTemplate(): Promise<PGlite> {
  const template = await PGlite.create({ extensions: pgliteExtensions });
  const database = fromPglite(template);
  await database.migrate();
  // pg-boss creates its own schema on first start; do it once here so clones start quickly.
  const jobs = await startJobs(database, { supervise: false });
  await jobs.stop({ graceful: false });
  return template;
}

function serverUrl(database: string): string {
  const url = new URL(testDatabaseUrl!);
  url.pathname = `/${database}`;
  return url.toString();
}

export async function withAdmin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: testDatabaseUrl });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function ensurePostgresTemplate(): Promise<string> {
  const name = `dovecote_tpl_${migrationsFingerprint()}`;
  await withAdmin(async (admin) => {
    // Test files run in parallel processes: one makes the template, the others wait on the lock.
    await admin.query('SELECT pg_advisory_lock(7411001)');
    try {
      const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
      if (exists.rowCount === 0) {
        await admin.query(`CREATE DATABASE "${name}_build"`);
        const pool = new pg.Pool({ connectionString: serverUrl(`${name}_build`), max: 2 });
        const database = fromPool(pool, serverUrl(`${name}_build`));
        await database.migrate();
        const jobs = await startJobs(database, { supervise: false });
        await jobs.stop({ graceful: false });
        await pool.end();
        await admin.query(`ALTER DATABASE "${name}_build" RENAME TO "${name}"`);
      }
    } finally {
      await admin.query('SELECT pg_advisory_unlock(7411001)');
    }
  });
  return name;
}

let postgresTemplate: Promise<string> | undefined;
let counter = 0;

export interface TestDatabase {
  database: Database;
  /** For tests that need a second connection to the same database (e.g. a separate process). */
  url?: string;
  drop(): Promise<void>;
}

export async function createTestDatabase(): Promise<TestDatabase> {
  if (!testDatabaseUrl) {
    pgliteTemplate ??= makePgliteTemplate();
    const template = await pgliteTemplate;
    const clone = await template.clone();
    const database = fromPglite(clone);
    return { database, drop: async () => {} };
  }
  postgresTemplate ??= ensurePostgresTemplate();
  const template = await postgresTemplate;
  const name = `dovecote_test_${process.pid}_${Date.now().toString(36)}_${counter++}`;
  await withAdmin((admin) => admin.query(`CREATE DATABASE "${name}" TEMPLATE "${template}"`));
  const url = serverUrl(name);
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  pool.on('error', () => {});
  const database = fromPool(pool, url);
  return {
    database,
    url,
    drop: async () => {
      await withAdmin((admin) => admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
    },
  };
}
