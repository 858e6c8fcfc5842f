import type { Config } from '../config';
import { startEmbeddedPostgres } from './embedded';
import type { Logger } from '../logger';

export interface Database {
  readonly url: string;
  /** Stops the embedded server, if this process started one. */
  release(): Promise<void>;
}

/** The database of DATABASE_URL, or, without one, an embedded PostgreSQL keeping its data under DATA_DIR. */
export async function openDatabase(config: Config, logger: Logger): Promise<Database> {
  if (config.databaseUrl) return { url: config.databaseUrl, release: async () => undefined };
  const embedded = await startEmbeddedPostgres({ dataDir: config.dataDir, logger });
  return { url: embedded.url, release: () => embedded.stop() };
}
