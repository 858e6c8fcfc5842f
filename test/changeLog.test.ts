import path from 'node:path';
import pg from 'pg';
import { readdirSync } from 'node:fs';
import { runner } from 'node-pg-migrate';
import { pruneChanges } from '../src/store/changes';
import { createDatabase, useTestDatabase, type TestDatabase } from './support/testDatabase';

// What the triggers guarantee to any writer, the server or plain SQL: the change log numbers each
// transaction's changes once, gap-free, at commit; an event needs its session; a session takes its events.
const database = useTestDatabase();

const batchOf = (client: pg.Client) =>
  client.query<{ first_seq: string; last_seq: string; logged: number }>(
    `select b.first_seq, b.last_seq, (select count(*)::int from changes c where c.tx = b.tx) as logged
     from change_batches b order by b.first_seq desc limit 1`,
  );

describe('the change log', () => {
  it('numbers what a transaction committed, leaving out what a savepoint rolled back, even its first change', async () => {
    await database.withClient(async (client) => {
      await client.query('begin');
      await client.query('savepoint first');
      await client.query("insert into sessions (session_id, session_name) values ('log-undone', 'x')");
      await client.query('rollback to savepoint first');
      await client.query("insert into sessions (session_id, session_name) values ('log-kept', 'x')");
      await client.query('savepoint second');
      await client.query("insert into events (session_id, event_type) values ('log-kept', 'undone'), ('log-kept', 'undone')");
      await client.query('rollback to savepoint second');
      await client.query("insert into events (session_id, event_type) values ('log-kept', 'a'), ('log-kept', 'b')");
      await client.query('commit');

      const { rows } = await batchOf(client);
      // The session's creation and its two events; nothing of what was rolled back.
      expect(Number(rows[0]!.last_seq) - Number(rows[0]!.first_seq) + 1).toBe(rows[0]!.logged);
      const kinds = await client.query(`select kind from changes where tx = (select tx from change_batches order by first_seq desc limit 1) order by id`);
      expect(kinds.rows.map((row) => row.kind)).toEqual(['session_created', 'event', 'event']);
      expect((await client.query("select count(*)::int as n from events where session_id = 'log-kept'")).rows[0].n).toBe(2);
    });
  });

  it('counts changes over every statement of a transaction, and numbers consecutive transactions without a gap', async () => {
    await database.query("insert into sessions (session_id, session_name) values ('log-many', 'x')");
    const before = Number((await database.query('select asm_last_seq() as last_seq')).rows[0].last_seq);
    await database.withClient(async (client) => {
      await client.query('begin');
      for (let i = 0; i < 3; i++) await client.query("insert into events (session_id, event_type) select 'log-many', 'e' from generate_series(1, 4)");
      await client.query('commit');
      expect((await batchOf(client)).rows[0]).toEqual({ first_seq: String(before + 1), last_seq: String(before + 12), logged: 12 });
      await client.query("insert into events (session_id, event_type) values ('log-many', 'one')");
      expect((await batchOf(client)).rows[0]).toEqual({ first_seq: String(before + 13), last_seq: String(before + 13), logged: 1 });
    });
  });

  it('refuses an event whose session does not exist (23503), storing nothing of its statement', async () => {
    await database.query("insert into sessions (session_id, session_name) values ('log-real', 'x')");
    const refused = database.query("insert into events (session_id, event_type) values ('log-real', 'ok'), ('log-nowhere', 'orphan')");
    await expect(refused).rejects.toMatchObject({ code: '23503' });
    const { rows } = await database.query("select count(*)::int as n from events where session_id in ('log-real', 'log-nowhere')");
    expect(rows[0].n).toBe(0);
  });

  it('refuses an event for a session deleted while the insert waited for it', async () => {
    await database.query("insert into sessions (session_id, session_name) values ('log-racing', 'x')");
    await database.withClient(async (deleter) => {
      await deleter.query('begin');
      await deleter.query("delete from sessions where session_id = 'log-racing'");
      const insert = database.query("insert into events (session_id, event_type) values ('log-racing', 'late')");
      // The insert waits on the deleted row's lock; once the delete commits, the row is gone.
      await waitUntil(
        async () => (await database.query("select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'")).rows[0].n > 0,
      );
      await deleter.query('commit');
      await expect(insert).rejects.toMatchObject({ code: '23503' });
    });
    expect((await database.query("select count(*)::int as n from events where session_id = 'log-racing'")).rows[0].n).toBe(0);
  });

  it('deletes the events of deleted sessions, and no others', async () => {
    await database.query("insert into sessions (session_id, session_name) values ('log-gone-1', 'x'), ('log-gone-2', 'x'), ('log-stays', 'x')");
    await database.query("insert into events (session_id, event_type) select s, 'e' from unnest(array['log-gone-1', 'log-gone-2', 'log-stays']) s, generate_series(1, 3)");
    await database.query("delete from sessions where session_id in ('log-gone-1', 'log-gone-2')");
    const { rows } = await database.query("select session_id, count(*)::int as n from events where session_id like 'log-gone-%' or session_id = 'log-stays' group by session_id");
    expect(rows).toEqual([{ session_id: 'log-stays', n: 3 }]);
  });

  it('sets status and outcome from the last start or stop of a statement, per session', async () => {
    await database.query("insert into sessions (session_id, session_name) values ('log-st-1', 'x'), ('log-st-2', 'x'), ('log-st-3', 'x')");
    await database.query(`insert into events (session_id, event_type, exit_code) values
      ('log-st-1', 'session_stop', 1), ('log-st-2', 'session_stop', 0), ('log-st-2', 'session_start', null),
      ('log-st-3', 'session_stop', 2), ('log-st-3', 'message', null), ('log-st-3', 'session_stop', 0)`);
    const { rows } = await database.query("select session_id, status, outcome, event_count::int from sessions where session_id like 'log-st-%' order by 1");
    expect(rows).toEqual([
      { session_id: 'log-st-1', status: 'finished', outcome: 'failed', event_count: 1 },
      { session_id: 'log-st-2', status: 'running', outcome: null, event_count: 2 },
      { session_id: 'log-st-3', status: 'finished', outcome: 'succeeded', event_count: 3 },
    ]);
  });
});

describe('migration 1764054000008 (cheaper event writes)', () => {
  it('goes down to the foreign key and the regular-expression search text, and up again, keeping what is stored', () =>
    withScratchDatabase(async (scratch) => {
      await scratch.query("insert into sessions (session_id, session_name) values ('m-1', 'x')");
      await scratch.query(`insert into events (session_id, event_type, tool_output) values ('m-1', 'post_tool', '{"stdout":"line one\\nZANZIBAR"}')`);
      const searchText = async () => (await scratch.query("select search_text from events where session_id = 'm-1'")).rows[0].search_text.replace(/\s+/g, ' ').trim();
      // The column is gone since 1764054000080 (search off the write path); its down brings it back.
      await scratch.withClient((client) => migrateFrom(client, '1764054000080', 'down'));
      expect(await searchText()).toBe('stdout : line one ZANZIBAR');

      await scratch.withClient((client) => migrateFrom(client, '1764054000008', 'down', '1764054000080'));
      const constraints = await scratch.query("select conname from pg_constraint where conname = 'events_session_id_fkey'");
      expect(constraints.rowCount).toBe(1);
      expect(await searchText()).toBe('stdout : line one ZANZIBAR');

      await scratch.withClient((client) => migrateFrom(client, '1764054000008', 'up'));
      expect((await scratch.query("select conname from pg_constraint where conname = 'events_session_id_fkey'")).rowCount).toBe(0);
      expect((await scratch.query("select 1 from information_schema.columns where table_name = 'events' and column_name = 'search_text'")).rowCount).toBe(0);
      await scratch.query("insert into events (session_id, event_type) values ('m-1', 'after')");
      expect((await scratch.query("select event_count::int from sessions where session_id = 'm-1'")).rows[0].event_count).toBe(2);
    }));
});

describe('numbering at commit (migration 1764054000010)', () => {
  const batches = async (db: TestDatabase) =>
    (await db.query<{ first_seq: string; last_seq: string }>('select first_seq, last_seq from change_batches order by first_seq')).rows.map((row) => [
      Number(row.first_seq),
      Number(row.last_seq),
    ]);
  const lastSeq = async (db: TestDatabase) => Number((await db.query('select asm_last_seq() as last_seq')).rows[0].last_seq);

  it('gives concurrent committers consecutive numbers, none twice and none skipped', () =>
    withScratchDatabase(async (scratch) => {
      await scratch.query("insert into sessions (session_id, session_name) select 'n-' || g, 'x' from generate_series(1, 8) g");
      const before = await lastSeq(scratch);
      await Promise.all(
        Array.from({ length: 8 }, (_, writer) =>
          scratch.withClient(async (client) => {
            for (let i = 0; i < 40; i++) {
              const rows = 1 + ((writer + i) % 3);
              await client.query(`insert into events (session_id, event_type) select 'n-${writer + 1}', 'e' from generate_series(1, ${rows})`);
            }
          }),
        ),
      );
      const numbered = (await batches(scratch)).filter(([first]) => first > before);
      expect(numbered).toHaveLength(320);
      numbered.forEach(([first, last], i) => {
        expect(first).toBe(i === 0 ? before + 1 : numbered[i - 1]![1] + 1);
        expect(last).toBeGreaterThanOrEqual(first);
      });
      const events = Number((await scratch.query("select count(*) from events where session_id like 'n-%'")).rows[0].count);
      expect(numbered[numbered.length - 1]![1] - before).toBe(events);
    }));

  it('goes on from the newest batch after pruning, and from change_counter when the log holds nothing newer', () =>
    withScratchDatabase(async (scratch) => {
      await scratch.query("insert into sessions (session_id, session_name) values ('p-1', 'x')");
      await scratch.query("insert into events (session_id, event_type) values ('p-1', 'a'), ('p-1', 'b')");
      const newest = await lastSeq(scratch);
      await scratch.query("update change_batches set committed_at = now() - interval '30 days'");
      // As if the search indexer had followed them all: it keeps those it has not (test/searchIndexer.test.ts).
      await scratch.query('update search_index_state set indexed_seq = asm_last_seq()');
      await scratch.withClient((client) => pruneChanges(client, 24));
      expect(await batches(scratch)).toEqual([[newest - 1, newest]]);
      await scratch.query("insert into events (session_id, event_type) values ('p-1', 'c')");
      expect(await lastSeq(scratch)).toBe(newest + 1);

      // A log pruned to nothing before this migration: its count is in change_counter.
      await scratch.query('delete from change_batches');
      await scratch.query('update change_counter set last_seq = 1000');
      await scratch.query("insert into events (session_id, event_type) values ('p-1', 'd')");
      expect(await batches(scratch)).toEqual([[1001, 1001]]);
    }));

  it('refuses a writer whose snapshot cannot see the newest batch, rather than number its changes twice', () =>
    withScratchDatabase(async (scratch) => {
      await scratch.query("insert into sessions (session_id, session_name) values ('rr-1', 'x'), ('rr-2', 'x')");
      await scratch.withClient(async (late) => {
        await late.query('begin isolation level repeatable read');
        await late.query('select 1 from sessions limit 1');
        await scratch.query("insert into events (session_id, event_type) values ('rr-1', 'committed first')");
        // Another session, so that nothing but the numbering meets the committed write.
        await late.query("insert into events (session_id, event_type) values ('rr-2', 'stale snapshot')");
        const refused = late.query('commit');
        await expect(refused).rejects.toMatchObject({ code: expect.stringMatching(/^(23505|40001)$/) });
      });
      const kept = await scratch.query("select event_type from events where session_id like 'rr-%'");
      expect(kept.rows.map((row) => row.event_type)).toEqual(['committed first']);
      const numbered = await batches(scratch);
      for (let i = 1; i < numbered.length; i++) expect(numbered[i]![0]).toBe(numbered[i - 1]![1] + 1);
    }));

  it('goes down to the counter row and up again without reusing a number', () =>
    withScratchDatabase(async (scratch) => {
      await scratch.query("insert into sessions (session_id, session_name) values ('d-1', 'x')");
      const before = await lastSeq(scratch);
      await scratch.withClient((client) => migrateFrom(client, '1764054000010', 'down'));
      expect(Number((await scratch.query('select last_seq from change_counter')).rows[0].last_seq)).toBe(before);
      await scratch.query("insert into events (session_id, event_type) values ('d-1', 'while down')");
      await scratch.withClient((client) => migrateFrom(client, '1764054000010', 'up'));
      await scratch.query("insert into events (session_id, event_type) values ('d-1', 'up again')");
      expect((await batches(scratch)).slice(-2)).toEqual([
        [before + 1, before + 1],
        [before + 2, before + 2],
      ]);
    }));
});

const MIGRATIONS_DIR = path.join(__dirname, '..', 'migrations');

async function withScratchDatabase(run: (scratch: TestDatabase) => Promise<void>): Promise<void> {
  const scratch = await createDatabase();
  try {
    await run(scratch);
  } finally {
    await scratch.drop();
  }
}

// Down to before a migration (and back up): that one and any that came after it (before `until`, when given).
function migrateFrom(client: pg.Client, first: string, direction: 'up' | 'down', until = '~') {
  return runner({
    dbClient: client,
    dir: MIGRATIONS_DIR,
    direction,
    count: readdirSync(MIGRATIONS_DIR).filter((name) => name.endsWith('.js') && name >= first && name < until).length,
    migrationsTable: 'pgmigrations',
    singleTransaction: true,
    log: () => undefined,
  });
}

async function waitUntil(condition: () => Promise<boolean>): Promise<void> {
  while (!(await condition())) await new Promise((resolve) => setTimeout(resolve, 20));
}
