// The application's own PostgreSQL role, apart from the role that owns the tables. The audit trail's
// triggers refuse UPDATE, DELETE and TRUNCATE, but a table's owner may drop a trigger or the table:
// so the app connects as a role that owns nothing, and is granted here (by the owner, after each
// migration) only what its work needs. It may add audit events and read them, never change them.
import { sql } from 'drizzle-orm';
import { queryRows, type Database } from './client.ts';

/** The schema pg-boss keeps its queues in (its default). The app role installs and migrates pg-boss there. */
export const JOBS_SCHEMA = 'pgboss';

export class AppRoleError extends Error {
  override name = 'AppRoleError';
}

/**
 * Grants `role` what Dovecote needs on the tables that exist now (run again after every migration:
 * `npm run db:migrate` does). Idempotent. Refuses a role that could undo the rule: the tables' owner
 * or a superuser.
 */
export async function grantAppRole(database: Database, role: string): Promise<void> {
  const db = database.db;
  const [found] = await queryRows<{ super: boolean; owner: boolean }>(
    db,
    sql`SELECT r.rolsuper AS super, EXISTS (SELECT 1 FROM pg_tables t WHERE t.schemaname = 'public' AND t.tableowner = r.rolname) AS owner
        FROM pg_roles r WHERE r.rolname = ${role}`,
  );
  if (!found) throw new AppRoleError(`DATABASE_APP_ROLE ${role} does not exist: create it first (CREATE ROLE ${role} LOGIN PASSWORD '…')`);
  if (found.super) throw new AppRoleError(`DATABASE_APP_ROLE ${role} is a superuser, which may change the audit trail: use a plain role`);
  if (found.owner) throw new AppRoleError(`DATABASE_APP_ROLE ${role} owns Dovecote's tables: migrate as another role (the owner), and connect the app as ${role}`);
  const app = sql.identifier(role);
  const jobs = sql.identifier(JOBS_SCHEMA);
  const statements = [
    sql`GRANT USAGE ON SCHEMA public TO ${app}`,
    sql`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${app}`,
    sql`GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO ${app}`,
    // The append-only rule, held by privileges as well as by the triggers.
    sql`REVOKE UPDATE, DELETE, TRUNCATE ON audit_events FROM ${app}`,
    // A process that does not migrate checks that the schema is this version's.
    sql`GRANT USAGE ON SCHEMA drizzle TO ${app}`,
    sql`GRANT SELECT ON drizzle.__drizzle_migrations TO ${app}`,
    // pg-boss creates and migrates its own tables at start-up (and a table per queue), as the app role.
    sql`GRANT USAGE, CREATE ON SCHEMA ${jobs} TO ${app}`,
  ];
  await db.transaction(async (tx) => {
    for (const statement of statements) await tx.execute(statement);
  });
}

/**
 * `npm run db:migrate`, connected as the tables' owner: applies the migrations, makes pg-boss's schema
 * (a role that may not create schemas cannot), and grants the app role its share when one is named.
 */
export async function migrateAsOwner(database: Database, opts: { appRole?: string } = {}): Promise<void> {
  await database.migrate();
  await database.db.execute(sql`CREATE SCHEMA IF NOT EXISTS ${sql.identifier(JOBS_SCHEMA)}`);
  if (opts.appRole) await grantAppRole(database, opts.appRole);
}
