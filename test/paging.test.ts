import pg from 'pg';

import { useInstance } from './support/instance';
import { useTestDatabase } from './support/testDatabase';

const database = useTestDatabase();
const server = useInstance(database);
const api = server.api;
const sql = (text: string, values?: unknown[]) => database.query(text, values);

interface Statement {
  connection: unknown;
  text: string;
  values?: unknown[];
}

/** Every statement the server sends to PostgreSQL while `work` runs, as sent, with the connection that sent it. */
async function statementsSentDuring(work: () => Promise<unknown>): Promise<Statement[]> {
  const spy = jest.spyOn(pg.Client.prototype, 'query');
  try {
    await work();
    return spy.mock.calls.map((args, i) => {
      const [first, second] = args as unknown as [string | { text: string; values?: unknown[] }, unknown[] | undefined];
      const { text, values } = typeof first === 'string' ? { text: first, values: second } : first;
      return { connection: spy.mock.contexts[i], text, values: Array.isArray(values) ? values : undefined };
    });
  } finally {
    spy.mockRestore();
  }
}

describe('GET /sessions/{id}/events paging', () => {
  beforeAll(async () => {
    await api.post('/sessions', { session_id: 'long', session_name: 'long' });
    await sql("insert into events (session_id, event_type, reason) select 'long', 'message', n::text from generate_series(1, 2500) n");
    // Statistics as autovacuum would leave them: without, the planner's guess depends on when it last ran.
    await sql('analyze events');
  });

  it('the first page keeps the old shape and adds next_after', async () => {
    const { status, body } = await api.get('/sessions/long/events');
    expect(status).toBe(200);
    expect(body.events).toHaveLength(1000);
    expect(body.events[0].reason).toBe('1');
    expect(body.next_after).toBe(body.events[999].id);
  });

  it('reads every event exactly once, page by page, in order', async () => {
    const reasons: string[] = [];
    let after: number | null = 0;
    let pages = 0;
    while (after !== null) {
      const reply: { body: { events: { reason: string }[]; next_after: number | null } } = await api.get(`/sessions/long/events?after=${after}&limit=700`);
      reasons.push(...reply.body.events.map((event) => event.reason));
      after = reply.body.next_after;
      pages += 1;
    }
    expect(pages).toBe(4);
    expect(reasons).toEqual(Array.from({ length: 2500 }, (_, i) => String(i + 1)));
  });

  it('the last page says next_after null; limit has bounds', async () => {
    const all = await api.get('/sessions/long/events?limit=10000');
    expect(all.body.events).toHaveLength(2500);
    expect(all.body.next_after).toBeNull();
    for (const query of ['limit=0', 'limit=10001', 'after=-1', 'after=x']) expect((await api.get(`/sessions/long/events?${query}`)).status).toBe(422);
  });

  it('the deprecated GET /events/{id} pages the same way', async () => {
    const { body } = await api.get('/events/long?limit=2');
    expect(body.events.map((event: { reason: string }) => event.reason)).toEqual(['1', '2']);
    expect((await api.get(`/events/long?after=${body.next_after}&limit=1`)).body.events[0].reason).toBe('3');
  });

  it('reading a late page uses the index, not a scan of the session', async () => {
    const {
      rows: [late],
    } = await sql("select max(id) - 100 as after from events where session_id = 'long'");
    const sent = await statementsSentDuring(async () => expect((await api.get(`/sessions/long/events?after=${late.after}`)).status).toBe(200));
    // The request's own transaction, replayed statement by statement with its settings, each read of events explained.
    // Found by its read of the session's events: the search indexer reads events on its own connection meanwhile.
    const pageRead = sent.find((statement) => /\bfrom events where session_id = \$1\b/i.test(statement.text));
    expect(pageRead).toBeDefined();
    const transaction = sent.filter((statement) => statement.connection === pageRead!.connection && !/^\s*(begin|commit|rollback)\s*$/i.test(statement.text));
    const reads = transaction.filter((statement) => /\bfrom events\b/i.test(statement.text));
    const plans = await database.withClient(async (db) => {
      await db.query('begin');
      const explained: string[] = [];
      for (const statement of transaction) {
        if (!reads.includes(statement)) await db.query(statement.text, statement.values);
        else explained.push(JSON.stringify((await db.query(`explain (analyze, format json) ${statement.text}`, statement.values)).rows[0]['QUERY PLAN']));
      }
      await db.query('rollback');
      return explained;
    });
    for (const plan of plans) {
      expect(plan).toMatch(/"Index Name":"(events_by_session|events_pkey)"/);
      expect(plan).not.toContain('"Seq Scan"');
      expect(plan).not.toContain('"Sort"');
      // No node reads far more rows than a page: a join that walks the whole session once per row would.
      const rowsRead = [...plan.matchAll(/"(?:Actual Rows|Rows Removed by (?:Join )?Filter)": (\d+)/g)].map((match) => Number(match[1]));
      expect(Math.max(...rowsRead)).toBeLessThanOrEqual(1001);
    }
  });
});

describe('GET /sessions paging and filters', () => {
  beforeAll(async () => {
    for (let i = 0; i < 25; i++) {
      await api.post('/sessions', {
        session_id: `list-${String(i).padStart(2, '0')}`,
        session_name: i % 2 ? `Alpha build ${i}` : `beta 100%_done ${i}`,
        agent_name: i % 3 === 0 ? 'researcher' : 'coder',
        project_dir: i % 5 === 0 ? '/srv/a' : '/srv/b',
      });
    }
    // Several sessions with the same creation time: the id breaks the tie, and no page loses or repeats one.
    await sql("update sessions set created_at = '2025-01-01T00:00:00.123456Z' where session_id in ('list-03', 'list-04', 'list-05', 'list-06')");
  });

  it('walks all sessions newest first with the cursor, each exactly once', async () => {
    const all = (await api.get('/sessions?limit=1000')).body.sessions.map((s: { session_id: string }) => s.session_id);
    const walked: string[] = [];
    let cursor: string | null = null;
    do {
      const reply: { body: { sessions: { session_id: string }[]; next_cursor: string | null } } = await api.get(
        `/sessions?limit=4${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      );
      walked.push(...reply.body.sessions.map((s) => s.session_id));
      cursor = reply.body.next_cursor;
    } while (cursor);
    expect(walked).toEqual(all);
    expect(new Set(walked).size).toBe(walked.length);
  });

  it('filters by status, agent, project folder and a case-insensitive part of the name', async () => {
    const ids = async (query: string) => (await api.get(`/sessions?${query}`)).body.sessions.map((s: { session_id: string }) => s.session_id).sort();
    expect(await ids('agent_name=researcher&project_dir=%2Fsrv%2Fa')).toEqual(['list-00', 'list-15']);
    expect((await ids('q=ALPHA')).length).toBe(12);
    // % and _ are literal characters, not wildcards.
    expect((await ids(`q=${encodeURIComponent('100%_')}`)).length).toBe(13);
    expect(await ids(`q=${encodeURIComponent('0%_d')}`)).toEqual(await ids(`q=${encodeURIComponent('100%_done')}`));
    expect(await ids('q=nomatch')).toEqual([]);
  });

  it('a cursor that the server did not hand out is 422', async () => {
    const reply = await api.get('/sessions?cursor=bogus');
    expect(reply.status).toBe(422);
    expect(reply.body.detail[0].loc).toEqual(['query', 'cursor']);
  });
});
