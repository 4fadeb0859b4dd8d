// `npm run db:migrate`: applies the migrations as the tables' owner and, with DATABASE_APP_ROLE, grants
// the role the app connects as only what it needs (docs/deployment.md, "Database roles"). Run it before
// starting a new version whose instances have DATABASE_MIGRATE_ON_START=false.
//
// Exit codes: 0 done; 1 could not be done (settings, connection, a migration or a grant failed).
import { ConfigError, loadMigrationConfig } from '../config/config.ts';
import { openDatabase } from '../platform/db/client.ts';
import { AppRoleError, migrateAsOwner } from '../platform/db/app-role.ts';

async function main(): Promise<number> {
  let config;
  try {
    config = loadMigrationConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`Dovecote cannot migrate: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
  const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, poolSize: 1 });
  try {
    await migrateAsOwner(database, { appRole: config.appRole });
    process.stdout.write(
      `Database migrated${config.appRole ? `; ${config.appRole} may read and write it, and add to the audit trail but never change it` : ''}.\n`,
    );
    return 0;
  } catch (error) {
    const message = error instanceof AppRoleError ? error.message : `migration failed: ${(error as Error).message}`;
    process.stderr.write(`Dovecote cannot migrate: ${message}\n`);
    return 1;
  } finally {
    await database.close();
  }
}

process.exitCode = await main();
