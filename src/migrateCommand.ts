import { loadConfig } from './config';
import { openDatabase } from './db/openDatabase';
import { migrate } from './db/migrate';
import { createLogger } from './logger';

/** `npm run migrate`: brings the schema of DATABASE_URL (or of the embedded database) up to date, then exits. */
async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  const database = await openDatabase(config, logger);
  try {
    await migrate(database.url, logger);
    logger.info('schema is up to date');
  } finally {
    await database.release();
  }
}

main().catch((err) => {
  process.stderr.write(`migration failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
