import { readdirSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { migrate } from '../src/db/migrate';
import { createLogger } from '../src/logger';
import { createDatabase } from './support/testDatabase';

const silent = createLogger('silent');
const MIGRATIONS = readdirSync(path.join(__dirname, '..', 'migrations'))
  .filter((name) => name.endsWith('.js'))
  .map((name) => name.replace(/\.js$/, ''))
  .sort();

async function query<T extends pg.QueryResultRow = any>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

describe('migrate', () => {
  it('when several instances migrate an empty database at once, then all succeed and each migration runs once', async () => {
    const database = await createDatabase({ empty: true });
    try {
      await Promise.all(Array.from({ length: 4 }, () => migrate(database.url, silent)));
      const applied = await query(database.url, 'select name from pgmigrations order by id');
      expect(applied.map((row) => row.name)).toEqual(MIGRATIONS);
      const tables = await query(database.url, "select tablename from pg_tables where schemaname = 'public' order by tablename");
      expect(tables.map((row) => row.tablename)).toEqual(['change_batches', 'change_counter', 'changes', 'events', 'pgmigrations', 'sessions', 'tool_results', 'usage_requests', 'usage_turns']);
      // Running it again is a no-op.
      await migrate(database.url, silent);
      expect(await query(database.url, 'select count(*)::int as n from pgmigrations')).toEqual([{ n: MIGRATIONS.length }]);
    } finally {
      await database.drop();
    }
  });

  it('creates the index that serves the events of one session in arrival order', async () => {
    const database = await createDatabase();
    try {
      const plan = await query(
        database.url,
        "explain (format json) select * from events where session_id = 'x' order by id limit 100",
      );
      expect(JSON.stringify(plan)).toContain('events_by_session');
    } finally {
      await database.drop();
    }
  });
});
