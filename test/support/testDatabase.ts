import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { databaseUrl } from './databaseUrl';
import { closeAllInstances } from './instance';
import { postgresConnection, stillOpen } from './openResources';

function adminSettings(): { adminUrl: string; template: string } {
  const adminUrl = process.env.ASM_TEST_ADMIN_URL;
  const template = process.env.ASM_TEST_TEMPLATE;
  if (!adminUrl || !template) throw new Error('the test database server is not set up: run the tests with jest (globalSetup)');
  return { adminUrl, template };
}

async function asAdmin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  return withClient(adminSettings().adminUrl, work);
}

async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** The one way a test reaches a database of its own, besides through the server. */
export interface TestDatabase {
  readonly url: string;
  /** One statement on a connection of its own. */
  query<R extends pg.QueryResultRow = any>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
  /** `work` on one connection (a transaction, a LISTEN), closed after. */
  withClient<T>(work: (client: pg.Client) => Promise<T>): Promise<T>;
  /** A pool on the database, for many concurrent statements; ended before the database is dropped. */
  pool(options?: { max?: number }): pg.Pool;
}

class Database implements TestDatabase {
  private readonly pools: pg.Pool[] = [];

  constructor(readonly url: string) {}

  query<R extends pg.QueryResultRow = any>(text: string, values: unknown[] = []): Promise<pg.QueryResult<R>> {
    return this.withClient((client) => client.query<R>(text, values));
  }

  withClient<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
    return withClient(this.url, work);
  }

  pool({ max = 4 } = {}): pg.Pool {
    const pool = new pg.Pool({ connectionString: this.url, max });
    // The database is dropped with (force) after the file: a connection still closing then is told so.
    pool.on('error', () => undefined);
    this.pools.push(pool);
    return pool;
  }

  async endPools(): Promise<void> {
    await Promise.all(this.pools.splice(0).map((pool) => pool.end()));
  }
}

/** A fresh database, migrated (copied from the template) unless `empty`; `drop()` ends its pools and drops it. */
export async function createDatabase({ empty = false } = {}): Promise<TestDatabase & { drop(): Promise<void>; endPools(): Promise<void> }> {
  const { adminUrl, template } = adminSettings();
  const name = `asm_test_${randomBytes(6).toString('hex')}`;
  await asAdmin((client) => client.query(empty ? `create database ${name}` : `create database ${name} template ${template}`));
  const database = new Database(databaseUrl(adminUrl, name));
  return Object.assign(database, {
    drop: async () => {
      await database.endPools();
      await asAdmin((client) => client.query(`drop database if exists ${name} with (force)`));
    },
  });
}

/**
 * Gives the calling test file its own migrated database for all its tests; after them, every server
 * instance still running on it is closed, its pools ended and the database dropped.
 */
export function useTestDatabase(): TestDatabase {
  let database: Awaited<ReturnType<typeof createDatabase>> | undefined;
  beforeAll(async () => {
    database = await createDatabase();
  });
  afterAll(async () => {
    await closeAllInstances();
    if (!database) return;
    await database.endPools();
    // Dropping the database would end a forgotten connection to it and hide the leak: look first.
    const name = new URL(database.url).pathname.slice(1);
    const leaked = await stillOpen((what) => what.startsWith(postgresConnection(name)));
    await database.drop();
    if (leaked.length > 0) throw new Error(`left open after the file's tests: ${leaked.join('; ')}`);
  });
  const created = () => {
    if (!database) throw new Error('the test database is created in beforeAll');
    return database;
  };
  return {
    get url() {
      return created().url;
    },
    query: (text, values) => created().query(text, values),
    withClient: (work) => created().withClient(work),
    pool: (options) => created().pool(options),
  };
}
