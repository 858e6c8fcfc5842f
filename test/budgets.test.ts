import { apiClient, sessionPath } from './support/http';
import { startInstance, type TestInstance } from './support/instance';
import { useTestDatabase } from './support/testDatabase';
import { WsClient } from './support/wsClient';

// Small, so that a few kilobytes of data exercise what megabytes would in production.
const BUDGET = 10_000;
const database = useTestDatabase();
let instance: TestInstance;
const api = apiClient(() => instance.baseUrl);
const clients: WsClient[] = [];

beforeAll(async () => {
  instance = await startInstance(database.url, { pageMaxBytes: BUDGET });
});
afterEach(() => clients.splice(0).forEach((client) => client.close()));

async function connect(query = ''): Promise<WsClient> {
  const client = await WsClient.connect(instance.wsUrl + query);
  clients.push(client);
  return client;
}

const bytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value));

async function sessionWithEvents(id: string, outputs: number[]): Promise<number[]> {
  await api.post('/sessions', { session_id: id, session_name: id });
  const ids: number[] = [];
  // A batch takes at most 1,000 events.
  for (let start = 0; start < outputs.length; start += 1_000) {
    const stored = await api.post(sessionPath(id, '/events/batch'), {
      events: outputs.slice(start, start + 1_000).map((size, i) => ({ event_type: 'post_tool', tool_name: 'Bash', tool_output: `${start + i}:${'x'.repeat(size)}` })),
    });
    expect(stored.status).toBe(201);
    ids.push(...stored.body.events.map((event: { id: number }) => event.id));
  }
  return ids;
}

describe('a page of events', () => {
  it('when its events would pass the byte budget, then it stops early and next_after continues it, losing nothing', async () => {
    const ids = await sessionWithEvents(
      'big-events',
      Array.from({ length: 12 }, () => 3_000),
    );
    const seen: number[] = [];
    let after = 0;
    let pages = 0;
    for (;;) {
      const page = await api.get(sessionPath('big-events', `/events?after=${after}`));
      expect(page.status).toBe(200);
      pages += 1;
      const events = page.body.events as { id: number }[];
      expect(events.length).toBeGreaterThan(0);
      if (events.length > 1) expect(bytes(events)).toBeLessThanOrEqual(BUDGET);
      seen.push(...events.map((event) => event.id));
      if (page.body.next_after === null) break;
      expect(page.body.next_after).toBe(events[events.length - 1]!.id);
      after = page.body.next_after;
    }
    expect(seen).toEqual(ids);
    expect(pages).toBeGreaterThanOrEqual(4);
  });

  it('when one event alone is larger than the budget, then a page holds just it, whole', async () => {
    const ids = await sessionWithEvents('huge-event', [100, 3 * BUDGET, 100]);
    const first = await api.get(sessionPath('huge-event', `/events?after=${ids[0]}`));
    expect(first.body.events).toHaveLength(1);
    expect(first.body.events[0].tool_output).toBe(`1:${'x'.repeat(3 * BUDGET)}`);
    expect(first.body.next_after).toBe(ids[1]);
    const rest = await api.get(sessionPath('huge-event', `/events?after=${ids[1]}`));
    expect(rest.body.events.map((event: { id: number }) => event.id)).toEqual([ids[2]]);
    expect(rest.body.next_after).toBeNull();
  });

  it('when a limit is given too, then whichever comes first ends the page', async () => {
    const ids = await sessionWithEvents(
      'small-events',
      Array.from({ length: 5 }, () => 10),
    );
    const page = await api.get(sessionPath('small-events', '/events?limit=2'));
    expect(page.body.events.map((event: { id: number }) => event.id)).toEqual(ids.slice(0, 2));
    expect(page.body.next_after).toBe(ids[1]);
  });
});

describe('the deprecated GET /events/{id}', () => {
  it('without paging parameters, then returns every event, however many pages they take', async () => {
    const ids = await sessionWithEvents(
      'legacy-all',
      Array.from({ length: 1_200 }, (_, i) => (i % 100 === 0 ? 2_000 : 10)),
    );
    const all = await api.get('/events/legacy-all');
    expect(all.status).toBe(200);
    expect(all.body.events.map((event: { id: number }) => event.id)).toEqual(ids);
    expect(all.body.next_after).toBeNull();
  });

  it('with limit, then pages as before', async () => {
    const ids = await sessionWithEvents(
      'legacy-paged',
      Array.from({ length: 5 }, () => 10),
    );
    const page = await api.get('/events/legacy-paged?limit=3');
    expect(page.body.events.map((event: { id: number }) => event.id)).toEqual(ids.slice(0, 3));
    expect(page.body.next_after).toBe(ids[2]);
  });

  it('for an unknown session, then answers an empty list', async () => {
    expect((await api.get('/events/no-such-session')).body).toEqual({ events: [], next_after: null });
  });
});

describe('GET /sessions and init', () => {
  const created: string[] = [];
  beforeAll(async () => {
    // More than one page of the default limit (1,000) and many byte budgets' worth: 1,015 sessions.
    for (let i = 0; i < 1_015; i += 1) created.push(`many-${String(i).padStart(4, '0')}`);
    for (let i = 0; i < created.length; i += 50) {
      await Promise.all(created.slice(i, i + 50).map((id) => api.post('/sessions', { session_id: id, session_name: id, project_dir: '/srv/many' })));
    }
  });
  const ids = (sessions: { session_id: string }[]) => sessions.map((session) => session.session_id);

  it('without paging parameters, then GET /sessions returns every session, newest first', async () => {
    const all = await api.get('/sessions?project_dir=/srv/many');
    expect(all.status).toBe(200);
    expect(all.body.next_cursor).toBeNull();
    expect(new Set(ids(all.body.sessions))).toEqual(new Set(created));
    expect(all.body.sessions).toHaveLength(created.length);
    const times = all.body.sessions.map((session: { created_at: string }) => session.created_at);
    expect([...times].sort().reverse()).toEqual(times);
  });

  it('with a limit, then pages stop at the budget and the cursors reach every session once', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    for (;;) {
      const query: string = `/sessions?project_dir=/srv/many&limit=1000${cursor ? `&cursor=${cursor}` : ''}`;
      const page = await api.get(query);
      expect(page.status).toBe(200);
      expect(bytes(page.body.sessions)).toBeLessThanOrEqual(BUDGET);
      seen.push(...ids(page.body.sessions));
      cursor = page.body.next_cursor;
      if (cursor === null) break;
    }
    expect(seen).toHaveLength(created.length);
    expect(new Set(seen)).toEqual(new Set(created));
  });

  it('then init lists every session, as GET /sessions does', async () => {
    const client = await connect();
    expect(client.init.next_cursor).toBeNull();
    expect(ids(client.init.sessions)).toEqual(ids((await api.get('/sessions')).body.sessions));
  });

  it('with init_limit, then init holds the newest sessions and a cursor to the rest', async () => {
    const whole = ids((await api.get('/sessions')).body.sessions);
    const client = await connect('?init_limit=5');
    expect(ids(client.init.sessions)).toEqual(whole.slice(0, 5));
    const rest = await api.get(`/sessions?limit=5&cursor=${client.init.next_cursor}`);
    expect(ids(rest.body.sessions)).toEqual(whole.slice(5, 10));
  });
});

describe('a replay', () => {
  it('when its changes pass the budget many times over, then every one arrives, in order', async () => {
    const client = await connect('?session_id=replayed');
    const since = client.init.seq as number;
    client.close();
    const ids = await sessionWithEvents(
      'replayed',
      Array.from({ length: 20 }, () => 4_000),
    );
    const resumed = await connect(`?session_id=replayed&since=${since}`);
    const messages = await resumed.waitFor((all) => all.filter((message) => message.type === 'event').length === ids.length);
    expect(messages.filter((message) => message.type === 'event').map((message) => message.data.id)).toEqual(ids);
    const seqs = messages.map((message) => message.seq as number);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
  });
});

describe('a change whose event is gone before it is read', () => {
  it('then it is delivered as event_gone with its number, session and id, and no number is skipped', async () => {
    const client = await connect('?session_id=gone');
    const since = client.init.seq as number;
    client.close();
    await api.post('/sessions', { session_id: 'gone', session_name: 'gone' });
    const event = await api.post(sessionPath('gone', '/events'), { event_type: 'message', role: 'user', content: [{ type: 'text', text: 'hi' }] });
    await api.delete(sessionPath('gone'));
    // Resumed after both commits: the event's row no longer exists when its change is read.
    const resumed = await connect(`?session_id=gone&since=${since}`);
    const messages = await resumed.waitFor((all) => all.some((message) => message.type === 'session_deleted'));
    expect(messages.map(({ type, seq }) => [type, seq])).toEqual([
      ['session_created', since + 1],
      ['event_gone', since + 2],
      ['session_deleted', since + 3],
    ]);
    expect(messages[1]).toEqual({ type: 'event_gone', seq: since + 2, session_id: 'gone', id: event.body.event.id });
  });
});

describe('large reads at once', () => {
  it('when six page readers, five replays and GET /sessions run together over large events, then none fails and each gets every event whole', async () => {
    const since = (await connect()).init.seq as number;
    const SIZE = 200_000;
    const ids = await sessionWithEvents(
      'large-together',
      Array.from({ length: 20 }, () => SIZE),
    );
    const expected = ids.map((_, i) => `${i}:${'x'.repeat(SIZE)}`);

    const readPages = async () => {
      const outputs: string[] = [];
      let after = 0;
      for (;;) {
        const page = await api.get(sessionPath('large-together', `/events?limit=70&after=${after}`));
        expect(page.status).toBe(200);
        outputs.push(...page.body.events.map((event: { tool_output: string }) => event.tool_output));
        if (page.body.next_after === null) return outputs;
        after = page.body.next_after;
      }
    };
    const replay = async () => {
      const client = await connect(`?session_id=large-together&since=${since}`);
      const messages = await client.waitFor((all) => all.filter((message) => message.type === 'event').length === ids.length, 30_000);
      return messages.filter((message) => message.type === 'event').map((message) => message.data.tool_output as string);
    };
    const [pages, replays, sessions] = await Promise.all([Promise.all(Array.from({ length: 6 }, readPages)), Promise.all(Array.from({ length: 5 }, replay)), api.get('/sessions')]);
    expect(sessions.status).toBe(200);
    for (const outputs of [...pages, ...replays]) expect(outputs).toEqual(expected);
  });
});
