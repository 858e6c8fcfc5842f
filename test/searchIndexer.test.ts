import pg from 'pg';

import { pruneChanges } from '../src/store/changes';
import { createLogger } from '../src/logger';
import type { SearchIndexer } from '../src/store/searchIndexer';
import type { EventSearch, SearchBounds } from '../src/store/search';
import { sessionPath } from './support/http';
import { startInstance, useInstance } from './support/instance';
import { useTestDatabase } from './support/testDatabase';

// Search off the write path (issue 25): an indexer follows the change log after commit; a search covers the
// index and scans the rest exactly. This instance runs no indexer of its own: each test runs one when it wants.
const database = useTestDatabase();
const server = useInstance(database, {}, { searchIndexer: false });
const api = server.api;
const logger = createLogger('silent');

const indexer = (options: Parameters<typeof server.instance.service.store.search.indexer>[0] = { logger }): SearchIndexer => server.instance.service.store.search.indexer(options);

/** Runs an indexer until it has caught up with the log and the backfill. */
async function indexAll(options?: Parameters<typeof indexer>[0]): Promise<void> {
  const run = indexer(options);
  for (;;) {
    const result = await run.runOnce();
    if (!result.locked) throw new Error('the cursor is locked');
    if (!result.more) break;
  }
  expect(await server.instance.service.store.search.lag()).toMatchObject({ changes: 0, backfillPending: false });
}

async function create(id: string): Promise<void> {
  expect((await api.post('/sessions', { session_id: id, session_name: `Session ${id}` })).status).toBe(201);
}

async function post(id: string, event: Record<string, unknown>): Promise<number> {
  const reply = await api.post(sessionPath(id, '/events'), event);
  expect(reply.status).toBe(201);
  return reply.body.event.id;
}

const search = async (query: string) => {
  const reply = await api.get(`/search?${query}`);
  expect(reply.status).toBe(200);
  return reply.body as { results: any[]; next_cursor: string | null; partial: boolean; scanned_to: number | null };
};
const found = async (q: string, extra: Record<string, string> = {}) => {
  const reply = await api.get(`/search?${new URLSearchParams({ q, ...extra }).toString()}`);
  expect(reply.status).toBe(200);
  return (reply.body.results as { id: number }[]).map((hit) => hit.id);
};

const chunksOf = async (eventId: number) => Number((await database.query('select count(*) from event_search_chunks where $1 = any(event_ids)', [eventId])).rows[0].count);
const cursor = async () => Number((await database.query('select indexed_seq from search_index_state')).rows[0].indexed_seq);
const lastSeq = async () => Number((await database.query('select asm_last_seq() as seq')).rows[0].seq);

describe('the search indexer', () => {
  it('leaves the write path alone: a just-written event is found by the exact scan of the tail, then through the index', async () => {
    await indexAll();
    await create('ix-tail');
    const id = await post('ix-tail', { event_type: 'post_tool', tool_name: 'Bash', tool_output: { stdout: 'the Wombat escaped' } });
    expect(await chunksOf(id)).toBe(0);
    expect(await found('wombat')).toEqual([id]);
    const hit = (await search('q=wombat')).results[0];
    expect(hit.snippet).toContain('Wombat escaped');

    await indexAll();
    expect(await chunksOf(id)).toBeGreaterThan(0);
    expect(await cursor()).toBe(await lastSeq());
    expect(await found('wombat')).toEqual([id]);
    expect((await search('q=wombat')).results[0].snippet).toContain('the Wombat escaped');
  });

  it('resumes where it stopped: a new indexer (a restart) goes on from the cursor, indexing each event once', async () => {
    await indexAll();
    await create('ix-resume');
    const ids: number[] = [];
    for (let i = 0; i < 12; i++) ids.push(await post('ix-resume', { event_type: 'message', role: 'user', content: [{ type: 'text', text: `resume-marker number ${i}` }] }));
    const start = await cursor();

    const first = indexer({ logger, batchChanges: 5 });
    expect(await first.runOnce()).toMatchObject({ locked: true, changes: 5, more: true });
    expect(await cursor()).toBe(start + 5);
    const indexedSoFar = Number((await database.query('select count(distinct eid) from event_search_chunks, unnest(event_ids) eid where eid = any($1)', [ids])).rows[0].count);
    // The first change was the session's creation.
    expect(indexedSoFar).toBe(4);
    // Searching meanwhile finds every event: four from the index, the others from the tail.
    expect((await found('resume-marker', { limit: '50' })).sort((a, b) => a - b)).toEqual(ids);

    // "Restarted": another indexer, on the same cursor.
    await indexAll({ logger, batchChanges: 4 });
    const perEvent = (await database.query('select eid, count(*)::int as n from event_search_chunks, unnest(event_ids) eid where eid = any($1) group by eid', [ids])).rows;
    expect(perEvent).toHaveLength(12);
    expect(perEvent.every((row) => row.n === 1)).toBe(true);
    expect((await found('resume-marker', { limit: '50' })).sort((a, b) => a - b)).toEqual(ids);
  });

  it('runs one instance at a time: while another holds the cursor, a run does nothing', async () => {
    await database.withClient(async (client) => {
      await client.query('begin');
      await client.query('select * from search_index_state for update');
      expect(await indexer().runOnce()).toEqual({ locked: false, changes: 0, events: 0, more: false });
      await client.query('rollback');
    });
    expect((await indexer().runOnce()).locked).toBe(true);
  });

  it('follows deletes: the chunks of a deleted session go, and its events are never found again', async () => {
    await create('ix-gone');
    const id = await post('ix-gone', { event_type: 'message', role: 'user', content: [{ type: 'text', text: 'platypus in the doomed session' }] });
    await indexAll();
    expect(await chunksOf(id)).toBeGreaterThan(0);
    expect((await api.delete(sessionPath('ix-gone'))).status).toBe(200);
    // Not found at once (searches join the events), and the index follows.
    expect(await found('platypus')).toEqual([]);
    await indexAll();
    expect(await chunksOf(id)).toBe(0);
    expect(await found('platypus')).toEqual([]);
  });

  it('follows an edit logged as an event change: the event is indexed again as it stands', async () => {
    await create('ix-edit');
    const id = await post('ix-edit', { event_type: 'message', role: 'user', content: [{ type: 'text', text: 'before-the-edit' }] });
    await indexAll();
    // An edit as a masking or retention job would write it: the row changes, and a change names the event.
    await database.withClient(async (client) => {
      await client.query('begin');
      await client.query(`update events set content = '[{"type":"text","text":"after-the-edit"}]' where id = $1`, [id]);
      await client.query(`insert into changes (kind, session_id, event_id, position) values ('event', 'ix-edit', $1, asm_count_changes(1) + 1)`, [id]);
      await client.query('commit');
    });
    await indexAll();
    expect(await found('before-the-edit')).toEqual([]);
    expect(await found('after-the-edit')).toEqual([id]);
  });

  it('finds a word at the end of a 2 MB output, through the tail and through the index, and says when text was cut', async () => {
    await create('ix-big');
    const big = `${'lorem ipsum '.repeat(180_000)} capybara-at-the-end`;
    expect(big.length).toBeGreaterThan(2_000_000);
    const id = await post('ix-big', { event_type: 'post_tool', tool_name: 'Bash', tool_output: { stdout: big, stderr: '' } });
    expect(await found('capybara-at-the-end')).toEqual([id]);
    await indexAll();
    expect(await chunksOf(id)).toBeGreaterThan(1000);
    const reply = await search('q=capybara-at-the-end');
    expect(reply.results.map((hit) => hit.id)).toEqual([id]);
    expect(reply.results[0].snippet).toContain('capybara-at-the-end');
    expect(reply.partial).toBe(false);

    // An indexer that keeps less: the event's end is left out of the index, and every search says so.
    await create('ix-cut');
    const cutId = await post('ix-cut', { event_type: 'post_tool', tool_name: 'Bash', tool_output: `${'y'.repeat(5000)} okapi-past-the-cut` });
    await indexAll({ logger, maxIndexedChars: 4096 });
    expect((await database.query('select text_chars > indexed_chars as cut from event_search_cut where event_id = $1', [cutId])).rows).toEqual([{ cut: true }]);
    const cut = await search('q=okapi-past-the-cut');
    expect(cut.results).toEqual([]);
    expect(cut.partial).toBe(true);
    expect((await search('q=okapi-past-the-cut&session_id=ix-big')).partial).toBe(false);
    await database.query('delete from event_search_cut where event_id = $1', [cutId]);
  });

  it('finds every character as itself (comma, quote, braces, brackets, backslash, tab, newline, what regular expressions use), never across two strings', async () => {
    await create('ix-chars');
    const texts = ['comma a,b,c', 'say "hi" now', 'const o = {};', 'list = []', 'C:\\Users\\me', 'col1\tcol2', 'first line\nsecond line', 'costs $5 (about). x|y c+d? ^z* é'];
    const ids: number[] = [];
    for (const text of texts) ids.push(await post('ix-chars', { event_type: 'post_tool', tool_name: 'Bash', tool_output: { stdout: text } }));
    const queries: [string, number][] = [
      ['a,b', ids[0]!],
      ['"hi"', ids[1]!],
      ['{}', ids[2]!],
      ['[]', ids[3]!],
      ['C:\\Users', ids[4]!],
      ['col1\tcol2', ids[5]!],
      ['line\nsecond', ids[6]!],
      ['$5 (about). x|y c+d? ^z* é', ids[7]!],
    ];
    const check = async () => {
      for (const [q, id] of queries) expect([q, await found(q, { session_id: 'ix-chars' })]).toEqual([q, [id]]);
      // Absent text is not found, the separator between a key and its value included.
      expect(await found('a,c', { session_id: 'ix-chars' })).toEqual([]);
      expect(await found('stdout', { session_id: 'ix-chars' })).toHaveLength(texts.length);
      expect(await found('stdoutcomma', { session_id: 'ix-chars' })).toEqual([]);
      // As text, never as a pattern.
      for (const q of ['c.sts', 'x|q', 'd+', '.*', 'ab(o)ut', '[a-z]', '\\w']) expect([q, await found(q, { session_id: 'ix-chars' })]).toEqual([q, []]);
    };
    await check(); // the tail: no index yet
    await indexAll();
    expect(await chunksOf(ids[0]!)).toBeGreaterThan(0);
    await check(); // the index
  });

  it('indexes a run of small events of a session in one row, each event matched on its own text', async () => {
    await create('ix-run');
    const ids: number[] = [];
    for (const word of ['alpha-one', 'beta-two', 'gamma-three']) ids.push(await post('ix-run', { event_type: 'post_tool', tool_name: 'Bash', tool_output: word }));
    await indexAll();
    expect((await database.query("select event_ids::text[] from event_search_chunks where 'ix-run' = any(session_ids)")).rows).toEqual([{ event_ids: ids.map(String) }]);
    expect(await found('beta-two')).toEqual([ids[1]]);
    expect((await search('q=beta-two')).results[0].snippet).toBe('Bash beta-two');
    expect((await found('Bash', { session_id: 'ix-run' })).sort((a, b) => a - b)).toEqual(ids);
    // Never across two events of the row.
    expect(await found('one\u001dBash')).toEqual([]);
    expect(await found('alpha-one Bash beta')).toEqual([]);
  });

  it('pages a word found in hundreds of index rows newest first, each event once, whatever part is indexed', async () => {
    await create('ix-many');
    const long = (i: number) => ({ event_type: 'post_tool', tool_name: 'Bash', tool_output: { stdout: `${'x'.repeat(2100)} wildebeest ${i}` } });
    const reply = await api.post(sessionPath('ix-many', '/events/batch'), { events: Array.from({ length: 230 }, (_, i) => long(i)) });
    expect(reply.status).toBe(201);
    const ids: number[] = reply.body.events.map((event: { id: number }) => event.id);
    // Half indexed, half in the tail.
    await indexer({ logger, batchChanges: 115 }).runOnce();
    const all: number[] = [];
    for (let cursor: string | null = null, pages = 0; pages === 0 || cursor !== null; pages++) {
      const page = await search(`q=wildebeest&limit=100${cursor ? `&cursor=${cursor}` : ''}`);
      all.push(...page.results.map((hit) => hit.id));
      cursor = page.next_cursor;
    }
    expect(all).toEqual([...ids].sort((a, b) => b - a));
    await indexAll();
    const again = await search('q=wildebeest&limit=200');
    expect(again.results.map((hit) => hit.id)).toEqual([...ids].sort((a, b) => b - a).slice(0, 200));
    expect(again.results[0].snippet).toContain('wildebeest 229');
  });

  it('misses no committed event under concurrent writes while it indexes, and ends at the last change', async () => {
    await create('ix-w1');
    await create('ix-w2');
    await create('ix-w3');
    const running = indexer({ logger, batchChanges: 7, idleMs: 5 });
    running.start();
    try {
      const written: number[] = [];
      await Promise.all(
        ['ix-w1', 'ix-w2', 'ix-w3'].map(async (session, w) => {
          for (let i = 0; i < 15; i++) {
            const token = `concurrent-${w}-${i}-token`;
            const id = await post(session, { event_type: 'message', role: 'user', content: [{ type: 'text', text: `writing ${token}` }] });
            written.push(id);
            // Found as soon as its write is acknowledged, wherever the indexer stands.
            expect([token, await found(token)]).toEqual([token, [id]]);
          }
        }),
      );
      const all = await found('-token', { limit: '200' });
      expect(all.sort((a, b) => a - b)).toEqual(written.sort((a, b) => a - b));
      for (let waited = 0; (await cursor()) < (await lastSeq()); waited += 20) {
        if (waited > 10_000) throw new Error('the indexer did not catch up');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    } finally {
      await running.stop();
    }
    const indexed = Number(
      (await database.query("select count(distinct eid) from event_search_chunks, unnest(event_ids) eid join events e on e.id = eid where e.session_id like 'ix-w%'")).rows[0]
        .count,
    );
    expect(indexed).toBe(45);
    expect((await found('-token', { limit: '200' })).length).toBe(45);
  });

  it('keeps the changes it has not followed when the log is pruned', async () => {
    await indexAll();
    await create('ix-prune');
    await post('ix-prune', { event_type: 'message', role: 'user', content: [{ type: 'text', text: 'narwhal' }] });
    await database.query("update change_batches set committed_at = now() - interval '30 days'");
    const kept = await cursor();
    await database.withClient((client) => pruneChanges(client, 24));
    const left = Number((await database.query('select count(*) from change_batches where last_seq > $1', [kept])).rows[0].count);
    expect(left).toBeGreaterThan(0);
    await indexAll();
    expect((await found('narwhal')).length).toBe(1);
  });

  it('indexes the events stored before the index existed, newest first, finding them all meanwhile', async () => {
    await create('ix-old');
    const ids: number[] = [];
    for (let i = 0; i < 6; i++) ids.push(await post('ix-old', { event_type: 'message', role: 'user', content: [{ type: 'text', text: `ancient-${i}` }] }));
    await indexAll();
    // As the migration leaves an existing database: nothing indexed, every event below backfill_below_id.
    await database.query("delete from event_search_chunks where 'ix-old' = any(session_ids)");
    await database.query('update search_index_state set backfill_below_id = $1', [Math.max(...ids) + 1]);
    expect((await found('ancient-', { session_id: 'ix-old' })).sort((a, b) => a - b)).toEqual(ids);
    await indexer({ logger, batchChanges: 4 }).runOnce();
    expect(Number((await database.query('select backfill_below_id from search_index_state')).rows[0].backfill_below_id)).toBe(ids[2]);
    expect((await found('ancient-', { session_id: 'ix-old' })).sort((a, b) => a - b)).toEqual(ids);
    await indexAll();
    expect(
      Number(
        (await database.query("select count(distinct eid) from event_search_chunks, unnest(event_ids) eid join events e on e.id = eid where e.session_id = 'ix-old'")).rows[0]
          .count,
      ),
    ).toBe(6);
    expect((await found('ancient-', { session_id: 'ix-old' })).sort((a, b) => a - b)).toEqual(ids);
  });

  // Every page of a search, following next_cursor, with the work of a page bounded as given.
  // (Until the cursor is at or below `until`: the older events of the other tests hold no match.)
  async function allPages(search: Omit<EventSearch, 'before'>, bounds: Partial<SearchBounds>, until = 0) {
    const ids: number[] = [];
    const stops: (number | null)[] = [];
    for (let before: number | undefined, pages = 0; pages === 0 || before !== undefined; pages++) {
      if (pages > 200) throw new Error('the search does not end');
      const page = await server.instance.service.store.search.events({ ...search, before }, bounds);
      ids.push(...page.results.map((hit) => hit.id));
      stops.push(page.scannedTo);
      if (page.scannedTo !== null) expect(page.nextCursor).toBe(String(page.scannedTo));
      if (page.nextCursor !== null) expect(Number(page.nextCursor)).toBeLessThan(before ?? Infinity);
      before = page.nextCursor === null || Number(page.nextCursor) <= until ? undefined : Number(page.nextCursor);
    }
    return { ids, stops };
  }

  it('bounds the rows a page reads: it stops early with scanned_to and a cursor, and the cursor reaches every match', async () => {
    await create('ix-bound');
    // Large events, each in chunks of its own; the word in a few of them, in their first and last chunk.
    const word = (i: number) => (i % 4 === 0 ? 'pangolin' : 'other');
    const big = (i: number) => ({ event_type: 'post_tool', tool_name: 'Bash', tool_output: { stdout: `${word(i)} ${'y'.repeat(2100)} ${word(i)} ${i}` } });
    const reply = await api.post(sessionPath('ix-bound', '/events/batch'), { events: Array.from({ length: 14 }, (_, i) => big(i)) });
    expect(reply.status).toBe(201);
    const ids: number[] = reply.body.events.map((event: { id: number }) => event.id);
    await indexAll();
    // And one in the tail, not indexed yet.
    const tailId = await post('ix-bound', { event_type: 'message', role: 'user', content: [{ type: 'text', text: 'a pangolin in the tail' }] });
    const expected = [tailId, ...ids.filter((_, i) => i % 4 === 0).reverse()];

    const tight = { walkSlice: 2, rowSlice: 2, rowSlices: 1, rowsAtOnce: 1, trigramBatches: 1 };
    const { ids: paged, stops } = await allPages({ q: 'pangolin', sessionId: 'ix-bound', limit: 10 }, tight, ids[0]);
    expect(paged).toEqual(expected);
    // It stopped early at least once, each time lower.
    const early = stops.filter((stop): stop is number => stop !== null);
    expect(early.length).toBeGreaterThan(0);
    expect(early).toEqual([...early].sort((a, b) => b - a));
    // A bound smaller than one event's chunks: each page still gets past its cursor.
    expect(
      (await allPages({ q: 'pangolin', sessionId: 'ix-bound', limit: 10 }, { walkSlice: 1, rowSlice: 1, rowSlices: 1, rowsAtOnce: 1, trigramBatches: 1 }, ids[0])).ids,
    ).toEqual(expected);
    // A common word: every event, in pages, each once, whatever the bound.
    const every = await allPages({ q: 'y'.repeat(50), sessionId: 'ix-bound', limit: 3 }, tight, ids[0]);
    expect(every.ids).toEqual([...ids].reverse());
    // Unbounded enough, one page holds them all and says nothing stopped.
    const whole = await server.instance.service.store.search.events({ q: 'pangolin', sessionId: 'ix-bound', limit: 10 });
    expect(whole.results.map((hit) => hit.id)).toEqual(expected);
    expect([whole.nextCursor, whole.scannedTo]).toEqual([null, null]);
    // Over HTTP.
    expect((await search('q=pangolin&session_id=ix-bound')).scanned_to).toBeNull();
  });

  it('searches failed events only by walking them, a bounded slice at a time, and reaches every match through the cursor', async () => {
    await create('ix-failed');
    const ids: number[] = [];
    for (let i = 0; i < 7; i++) {
      ids.push(await post('ix-failed', { event_type: 'post_tool', tool_name: 'Bash', tool_output: { stdout: i % 3 === 0 ? `walrus ${i}` : `seal ${i}` }, exit_code: 1 }));
      await post('ix-failed', { event_type: 'post_tool', tool_name: 'Bash', tool_output: { stdout: `walrus ok ${i}` }, exit_code: 0 });
    }
    await indexAll();
    const failedWalrus = ids.filter((_, i) => i % 3 === 0).reverse();

    const tight = { walkSlice: 2, failedWalkSlices: 1 };
    const { ids: paged, stops } = await allPages({ q: 'walrus', failedOnly: true, sessionId: 'ix-failed', limit: 10 }, tight, ids[0]);
    expect(paged).toEqual(failedWalrus);
    expect(stops[0]).toBe(ids[5]);
    // A word in no failed event: a bounded page says where it stopped, and the cursor goes on to the end.
    const none = await server.instance.service.store.search.events({ q: 'walrus ok', failedOnly: true, limit: 10 }, tight);
    expect(none.results).toEqual([]);
    expect(none.scannedTo).not.toBeNull();
    expect(none.nextCursor).toBe(String(none.scannedTo));
    expect((await allPages({ q: 'walrus ok', failedOnly: true, sessionId: 'ix-failed', limit: 10 }, tight, ids[0])).ids).toEqual([]);
    // With the default bounds, one page and no cursor.
    const reply = await search('q=walrus&failed=true&session_id=ix-failed');
    expect(reply.results.map((hit) => hit.id)).toEqual(failedWalrus);
    expect([reply.next_cursor, reply.scanned_to]).toEqual([null, null]);
    // The walk can read the failed events through their own index (this table is too small for the planner to
    // choose it unless told not to read the whole table).
    const plan = await database.withClient(async (client) => {
      await client.query('set enable_seqscan = off');
      return client.query<{ 'QUERY PLAN': string }>(
        'explain select id from events e where e.id < 1000000 and asm_event_failed(e.error, e.exit_code) order by e.id desc limit 2000',
      );
    });
    expect(plan.rows.map((row) => row['QUERY PLAN']).join('\n')).toContain('events_failed_id');
  });

  it('falls back to walking the rows when a read through the trigram index takes longer than its budget', async () => {
    await create('ix-budget');
    // Rows whose words hold every trigram of "pangolin" but not the word: the trigram index passes them all and the
    // exact check refuses each, so that read costs far more than a budget of 1 ms. The word itself is in the oldest.
    const { rows } = await database.query(
      `insert into events (session_id, event_type, tool_name, tool_output)
       select 'ix-budget', 'post_tool', 'Bash', json_build_object('stdout', case when g <= 3 then 'pangolin ' else 'pangol golin ' end || repeat('z', 2100) || ' ' || g)
       from generate_series(1, 800) g returning id`,
    );
    const ids = rows.map((row) => Number(row.id)).sort((a, b) => a - b);
    await indexAll();
    const spy = jest.spyOn(pg.Client.prototype, 'query');
    try {
      const bounds = { walkSlice: 10, rowSlice: 50, rowSlices: 2, trigramBudgetMs: 1 };
      const { ids: paged } = await allPages({ q: 'pangolin', sessionId: 'ix-budget', limit: 10 }, bounds, ids[0]! - 1);
      expect(paged).toEqual(ids.slice(0, 3).reverse());
      const sent = spy.mock.calls.map(([statement]) => (typeof statement === 'string' ? statement : ''));
      expect(sent).toContain('rollback to savepoint asm_search');
    } finally {
      spy.mockRestore();
    }
  });

  it('reports its lag on /metrics', async () => {
    const other = await startInstance(database.url);
    const reply = await fetch(`${other.baseUrl}/metrics`);
    const text = await reply.text();
    expect(text).toMatch(/^asm_search_index_lag_changes \d+/m);
    expect(text).toMatch(/^asm_search_index_lag_seconds [\d.e-]+/m);
  });
});
