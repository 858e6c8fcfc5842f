import path from 'node:path';
import pg from 'pg';
import { runner } from 'node-pg-migrate';
import type { Logger } from '../logger';

const MIGRATIONS_DIR = path.join(__dirname, '..', '..', 'migrations');

// Any fixed 64-bit number that nothing else in the database uses as an advisory lock key.
const MIGRATION_LOCK_KEY = 7_305_447_210_915_021;

/**
 * Brings the schema up to date. Instances starting at the same moment queue on a session advisory lock
 * (blocking, unlike node-pg-migrate's own try-lock, which would make the second instance fail to start);
 * the first migrates, the others then find nothing to do.
 */
export async function migrate(connectionString: string, logger: Logger): Promise<void> {
  const client = new pg.Client({ connectionString, application_name: 'agent-session-manager:migrate' });
  await client.connect();
  try {
    await client.query('select pg_advisory_lock($1::bigint)', [MIGRATION_LOCK_KEY]);
    const applied = await runner({
      dbClient: client,
      dir: MIGRATIONS_DIR,
      direction: 'up',
      migrationsTable: 'pgmigrations',
      count: Infinity,
      noLock: true,
      singleTransaction: true,
      checkOrder: true,
      log: (message: string) => logger.debug(message, { component: 'migrate' }),
    });
    if (applied.length > 0) logger.info('migrated the schema', { applied: applied.map((m) => m.name) });
  } finally {
    await client.query('select pg_advisory_unlock($1::bigint)', [MIGRATION_LOCK_KEY]).catch(() => undefined);
    await client.end();
  }
}
