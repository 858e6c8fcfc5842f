import { readdirSync } from 'node:fs';
import path from 'node:path';
import { migrate } from '../src/db/migrate';
import { createLogger } from '../src/logger';
import { createDatabase } from './support/testDatabase';

const silent = createLogger('silent');
const MIGRATIONS = readdirSync(path.join(__dirname, '..', 'migrations'))
  .filter((name) => name.endsWith('.js'))
  .map((name) => name.replace(/\.js$/, ''))
  .sort();

describe('migrate', () => {
  it('when several instances migrate an empty database at once, then all succeed and each migration runs once', async () => {
    const database = await createDatabase({ empty: true });
    try {
      await Promise.all(Array.from({ length: 4 }, () => migrate(database.url, silent)));
      const applied = (await database.query('select name from pgmigrations order by id')).rows;
      expect(applied.map((row) => row.name)).toEqual(MIGRATIONS);
      const tables = (await database.query("select tablename from pg_tables where schemaname = 'public' order by tablename")).rows;
      expect(tables.map((row) => row.tablename)).toEqual([
        'alerts',
        'api_keys',
        'approvals',
        'asm_settings',
        'audit_log',
        'change_batches',
        'change_counter',
        'changes',
        'event_search_chunks',
        'event_search_cut',
        'events',
        'pgmigrations',
        'search_index_state',
        'sessions',
        'tool_results',
        'transcript_cost_states',
        'transcript_requests',
        'usage_requests',
        'usage_turns',
      ]);
      // Running it again is a no-op.
      await migrate(database.url, silent);
      expect((await database.query('select count(*)::int as n from pgmigrations')).rows).toEqual([{ n: MIGRATIONS.length }]);
    } finally {
      await database.drop();
    }
  });

  it('creates the index that serves the events of one session in arrival order', async () => {
    const database = await createDatabase();
    try {
      const { rows: plan } = await database.query("explain (format json) select * from events where session_id = 'x' order by id limit 100");
      expect(JSON.stringify(plan)).toContain('events_by_session');
    } finally {
      await database.drop();
    }
  });
});
