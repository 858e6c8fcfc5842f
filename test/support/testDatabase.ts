import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { databaseUrl } from './databaseUrl';
import { closeAllInstances } from './instance';

function adminSettings(): { adminUrl: string; template: string } {
  const adminUrl = process.env.ASM_TEST_ADMIN_URL;
  const template = process.env.ASM_TEST_TEMPLATE;
  if (!adminUrl || !template) throw new Error('the test database server is not set up: run the tests with jest (globalSetup)');
  return { adminUrl, template };
}

async function asAdmin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminSettings().adminUrl });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** A fresh database, migrated (copied from the template) unless `empty`; returns its connection string. */
export async function createDatabase({ empty = false } = {}): Promise<{ url: string; drop: () => Promise<void> }> {
  const { adminUrl, template } = adminSettings();
  const name = `asm_test_${randomBytes(6).toString('hex')}`;
  await asAdmin((client) => client.query(empty ? `create database ${name}` : `create database ${name} template ${template}`));
  return {
    url: databaseUrl(adminUrl, name),
    drop: () => asAdmin((client) => client.query(`drop database if exists ${name} with (force)`)).then(() => undefined),
  };
}

/**
 * Gives the calling test file its own migrated database for all its tests; after them, every server
 * instance the file started is closed and the database dropped.
 */
export function useTestDatabase(): { readonly url: string; pool(): pg.Pool } {
  let database: Awaited<ReturnType<typeof createDatabase>> | undefined;
  const pools: pg.Pool[] = [];
  beforeAll(async () => {
    database = await createDatabase();
  });
  afterAll(async () => {
    await closeAllInstances();
    await Promise.all(pools.map((pool) => pool.end()));
    await database?.drop();
  });
  return {
    get url() {
      if (!database) throw new Error('the test database is created in beforeAll');
      return database.url;
    },
    /** A pool on the test database, ended before the database is dropped. */
    pool() {
      const pool = new pg.Pool({ connectionString: this.url, max: 4 });
      // The database is dropped with (force) after the file: a connection still closing then is told so.
      pool.on('error', () => undefined);
      pools.push(pool);
      return pool;
    },
  };
}
