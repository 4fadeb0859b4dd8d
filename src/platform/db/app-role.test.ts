// The audit trail stays append-only against the application's own database role (issue 10, item 13):
// migrated by an owner role, the app connects as a role that owns nothing. That role does the app's
// normal work (sending a message, a patient opening it: audit events added) and cannot change,
// remove or truncate an audit event, nor drop or disable the triggers, nor alter or drop the table.
// PostgreSQL only: the embedded database has a single user.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eq, sql } from 'drizzle-orm';
import type pg from 'pg';
import pino from 'pino';
import { testDatabaseUrl, withAdmin } from '../../../test/helpers/database.ts';
import { testConfig } from '../../../test/helpers/app.ts';
import { createTestConversation } from '../../../test/helpers/factories.ts';
import { firstDevice } from '../../../test/helpers/patient.ts';
import { buildApp } from '../../app.ts';
import { startJobs } from '../jobs/jobs.ts';
import { auditEvents } from './schema.ts';
import { openDatabase, pendingMigrations, queryRows } from './client.ts';
import { AppRoleError, grantAppRole, migrateAsOwner } from './app-role.ts';

const skip = testDatabaseUrl ? false : 'needs PostgreSQL (TEST_DATABASE_URL)';

function urlAs(role: string, database: string): string {
  const url = new URL(testDatabaseUrl!);
  url.username = role;
  url.password = 'app-role-test-password';
  url.pathname = `/${database}`;
  return url.toString();
}


/** The PostgreSQL error code a statement fails with (42501: insufficient privilege), or 'ok'. */
async function outcome(client: pg.PoolClient, statement: string): Promise<string> {
  await client.query('SAVEPOINT attempt');
  try {
    await client.query(statement);
    await client.query('RELEASE SAVEPOINT attempt');
    return 'ok';
  } catch (error) {
    await client.query('ROLLBACK TO SAVEPOINT attempt');
    return (error as { code?: string }).code ?? String(error);
  }
}

const TAMPERING = [
  "UPDATE audit_events SET type = 'link.nothing_happened'",
  'DELETE FROM audit_events',
  'TRUNCATE audit_events',
  'DROP TRIGGER audit_events_no_update_or_delete ON audit_events',
  'DROP TRIGGER audit_events_no_truncate ON audit_events',
  'ALTER TABLE audit_events DISABLE TRIGGER ALL',
  'ALTER TABLE audit_events DROP COLUMN ip',
  'DROP TABLE audit_events CASCADE',
  'CREATE OR REPLACE FUNCTION audit_events_forbid_change() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN OLD; END $$',
  'ALTER TABLE audit_events OWNER TO CURRENT_USER',
];

test('as its own non-owner role, the app does its work but cannot change the audit trail', { skip, timeout: 120_000 }, async (t) => {
  const suffix = `${process.pid}_${Date.now().toString(36)}`;
  const ownerRole = `dovecote_owner_${suffix}`;
  const appRole = `dovecote_app_${suffix}`;
  const databaseName = `dovecote_roles_${suffix}`;
  await withAdmin(async (client) => {
    await client.query(`CREATE ROLE ${ownerRole} LOGIN PASSWORD 'app-role-test-password'`);
    await client.query(`CREATE ROLE ${appRole} LOGIN PASSWORD 'app-role-test-password'`);
    await client.query(`CREATE DATABASE ${databaseName} OWNER ${ownerRole}`);
  });
  t.after(async () => {
    await withAdmin(async (client) => {
      await client.query(`DROP DATABASE IF EXISTS ${databaseName} WITH (FORCE)`);
      await client.query(`DROP ROLE IF EXISTS ${appRole}`);
      await client.query(`DROP ROLE IF EXISTS ${ownerRole}`);
    });
  });

  // `npm run db:migrate`, as the owner.
  const owner = await openDatabase({ databaseUrl: urlAs(ownerRole, databaseName), dataDir: '/nonexistent', poolSize: 2 });
  try {
    await migrateAsOwner(owner, { appRole });
    await assert.rejects(grantAppRole(owner, ownerRole), (error: Error) => error instanceof AppRoleError && /owns Dovecote's tables/.test(error.message));
  } finally {
    await owner.close();
  }

  // The app, as its own role, not migrating (DATABASE_MIGRATE_ON_START=false).
  const database = await openDatabase({ databaseUrl: urlAs(appRole, databaseName), dataDir: '/nonexistent', poolSize: 4 });
  const jobs = await startJobs(database, { supervise: false, createSchema: false });
  const app = await buildApp({ config: testConfig(), database, jobs, logger: pino({ level: 'silent' }) });
  await app.ready();
  t.after(async () => {
    await app.close();
    await jobs.stop({ graceful: false, timeout: 1000 });
    await database.close();
  });
  assert.equal(await pendingMigrations(database), 0, 'it can tell the schema is this version\'s');
  assert.deepEqual(await queryRows(database.db, sql`SELECT current_user AS role`), [{ role: appRole }]);

  // Normal work: a message sent (outbox, pg-boss job, audit event) and a patient opening it.
  const c = await createTestConversation(app.services);
  await firstDevice(app, c.token);
  const before = await database.db.select().from(auditEvents).where(eq(auditEvents.linkId, c.linkId));
  assert.ok(before.some((e) => e.type === 'link.opened'), 'audit events were added');

  const client = await database.pool!.connect();
  try {
    await client.query('BEGIN');
    const results: Record<string, string> = {};
    for (const statement of TAMPERING) results[statement] = await outcome(client, statement);
    await client.query('ROLLBACK');
    assert.deepEqual(results, Object.fromEntries(TAMPERING.map((s) => [s, '42501'])), 'every attempt is refused for lack of privilege');
  } finally {
    client.release();
  }
  const after = await database.db.select().from(auditEvents).where(eq(auditEvents.linkId, c.linkId));
  assert.deepEqual(after, before);
});
