import pg from 'pg';
import WebSocket from 'ws';
import { CHANGES_CHANNEL } from '../src/store/changes';
import { apiClient, sessionPath, type ApiClient } from './support/http';
import { startInstance, type TestInstance } from './support/instance';
import { useTestDatabase } from './support/testDatabase';
import { WsClient } from './support/wsClient';

const database = useTestDatabase();
let first: TestInstance;
let second: TestInstance;
let api: ApiClient;
const clients: WsClient[] = [];

beforeAll(async () => {
  [first, second] = await Promise.all([startInstance(database.url), startInstance(database.url)]);
  api = apiClient(first.baseUrl);
});
afterEach(() => clients.splice(0).forEach((client) => client.close()));

async function connect(instance: TestInstance): Promise<WsClient> {
  const client = await WsClient.connect(instance.wsUrl);
  clients.push(client);
  return client;
}

/** The messages as the contract shows them, without the change number each carries. */
const withoutSeq = (messages: Record<string, unknown>[]) => messages.map(({ seq: _seq, ...rest }) => rest);

async function withClient<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

describe('WS /ws', () => {
  it('sends init with the sessions as GET /sessions lists them', async () => {
    await api.post('/sessions', { session_id: 'init-1', session_name: 'x' });
    const client = await connect(first);
    expect(client.init).toEqual({ type: 'init', seq: expect.any(Number), sessions: (await api.get('/sessions')).body.sessions, next_cursor: null });
  });

  it('broadcasts every change with the same payload REST answered, in commit order', async () => {
    const client = await connect(first);
    const created = await api.post('/sessions', { session_id: 'flow-1', session_name: 'flow', agent_name: 'a' });
    const event = await api.post('/sessions/flow-1/events', { event_type: 'session_stop', exit_code: 0, reason: 'done' });
    const patched = await api.patch('/sessions/flow-1', { agent_name: 'b' });
    await api.delete('/sessions/flow-1');
    const live = await client.waitForLive(5);
    // The update that the session_stop caused, as committed: with the event counted.
    const finished = { ...created.body.session, status: 'finished', outcome: 'succeeded', event_count: 1, last_event_at: expect.any(String) };
    // Numbered one by one, following the number init reflected.
    expect(live.map((message) => message.seq)).toEqual([1, 2, 3, 4, 5].map((n) => client.init.seq + n));
    expect(withoutSeq(live)).toEqual([
      { type: 'session_created', session: created.body.session },
      // As the original server did: the session is finished before the stop that finished it is told.
      { type: 'session_updated', session: finished },
      { type: 'event', data: event.body.event },
      { type: 'session_updated', session: patched.body.session },
      { type: 'session_deleted', session_id: 'flow-1' },
    ]);
  });

  it('a PATCH that changes nothing broadcasts nothing', async () => {
    const client = await connect(first);
    await api.post('/sessions', { session_id: 'same-1', session_name: 'x', agent_name: 'a' });
    await api.patch('/sessions/same-1', { agent_name: 'a' });
    await api.post('/sessions', { session_id: 'same-sentinel', session_name: 'x' });
    await client.waitForLive(2);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(client.live.map((message) => [message.type, message.session.session_id])).toEqual([
      ['session_created', 'same-1'],
      ['session_created', 'same-sentinel'],
    ]);
  });

  it('a write through one instance reaches the clients of another', async () => {
    const onFirst = await connect(first);
    const onSecond = await connect(second);
    const created = await apiClient(first.baseUrl).post('/sessions', { session_id: 'cross-1', session_name: 'x' });
    const event = await apiClient(second.baseUrl).post('/sessions/cross-1/events', { event_type: 'message', role: 'user' });
    const expected = [
      { type: 'session_created', session: created.body.session },
      { type: 'event', data: event.body.event },
    ];
    expect(withoutSeq(await onFirst.waitForLive(2))).toEqual(expected);
    expect(withoutSeq(await onSecond.waitForLive(2))).toEqual(expected);
    expect(onFirst.live).toEqual(onSecond.live);
  });

  it('a rolled-back write broadcasts nothing', async () => {
    const client = await connect(second);
    await withClient(async (db) => {
      await db.query('begin');
      await db.query("insert into sessions (session_id, session_name) values ('rolled-back', 'x')");
      await db.query("insert into events (session_id, event_type) values ('rolled-back', 'message')");
      await db.query('rollback');
    });
    await api.post('/sessions', { session_id: 'after-rollback', session_name: 'x' });
    await client.waitForLive(1);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(client.live.map((message) => message.session?.session_id)).toEqual(['after-rollback']);
  });

  it('a failed request broadcasts nothing', async () => {
    const client = await connect(first);
    await api.post('/sessions/nobody/events', { event_type: 'message' });
    await api.post('/sessions', { session_id: 'bad', session_name: '' });
    await api.post('/sessions', { session_id: 'after-failures', session_name: 'x' });
    await client.waitForLive(1);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(client.live.map((message) => message.type)).toEqual(['session_created']);
  });

  it('deleting a session with 50,000 events sends one notification and one message', async () => {
    const client = await connect(first);
    await api.post('/sessions', { session_id: 'big-delete', session_name: 'x' });
    await withClient((db) =>
      db.query("insert into events (session_id, event_type) select 'big-delete', 'message' from generate_series(1, 50000)"),
    );
    await client.waitForLive(50_001, 30_000);
    const notifications: string[] = [];
    await withClient(async (listener) => {
      listener.on('notification', (message) => message.channel === CHANGES_CHANNEL && notifications.push(message.payload ?? ''));
      await listener.query(`listen ${CHANGES_CHANNEL}`);
      const reply = await api.delete('/sessions/big-delete');
      expect(reply.body.deleted.events_count).toBe(50_000);
      // Notifications arrive in commit order: once the sentinel's is here, every earlier one is too.
      await api.post('/sessions', { session_id: 'delete-sentinel', session_name: 'x' });
      const deadline = Date.now() + 10_000;
      while (notifications.length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    });
    expect(notifications).toHaveLength(2);
    await client.waitForLive(50_003);
    expect(withoutSeq(client.live.slice(50_001))).toEqual([
      { type: 'session_deleted', session_id: 'big-delete' },
      { type: 'session_created', session: expect.objectContaining({ session_id: 'delete-sentinel' }) },
    ]);
  });

  it('an event of 5 MB is broadcast whole, exactly as stored', async () => {
    const client = await connect(second);
    await api.post('/sessions', { session_id: 'huge-1', session_name: 'x' });
    const output = 'x'.repeat(5 * 1024 * 1024 - 100) + '\u0000ü😀';
    const reply = await api.post('/sessions/huge-1/events', { event_type: 'post_tool', tool_output: output });
    expect(reply.status).toBe(201);
    const [, message] = await client.waitForLive(2);
    expect(message).toEqual({ type: 'event', seq: expect.any(Number), data: reply.body.event });
    expect(message!.data.tool_output).toBe(output);
  });

  it('many events written by one statement arrive as one message each, in order', async () => {
    const client = await connect(first);
    await api.post('/sessions', { session_id: 'multi-1', session_name: 'x' });
    await withClient((db) =>
      db.query("insert into events (session_id, event_type, reason) select 'multi-1', 'message', n::text from generate_series(1, 100) n"),
    );
    const live = (await client.waitForLive(101)).slice(1);
    expect(live.map((message) => message.data.reason)).toEqual(Array.from({ length: 100 }, (_, i) => String(i + 1)));
  });

  it('the listener reconnects after its connection is killed, and broadcasts resume', async () => {
    const client = await connect(first);
    await withClient((db) =>
      db.query("select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'agent-session-manager:listen' and datname = current_database()"),
    );
    // Writes go on until one is heard: the first ones may fall in the reconnect gap (a later issue replays them).
    let written = 0;
    const deadline = Date.now() + 15_000;
    while (client.live.length === 0 && Date.now() < deadline) {
      await api.post('/sessions', { session_id: `after-kill-${++written}`, session_name: 'x' });
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(client.live.length).toBeGreaterThan(0);
    expect(first.service.listener.listening).toBe(true);
  });

  it('answers 404 to a WebSocket upgrade on any other path', async () => {
    const socket = new WebSocket(first.wsUrl.replace(/\/ws$/, '/elsewhere'));
    socket.on('error', () => undefined);
    const status = await new Promise<number>((resolve) => socket.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)));
    socket.terminate();
    expect(status).toBe(404);
  });

  it('on shutdown, clients are closed with 1001', async () => {
    const extra = await startInstance(database.url);
    const client = await WsClient.connect(extra.wsUrl);
    await extra.close();
    expect(await client.waitForClose()).toBe(1001);
  });
});

describe('the session path in messages', () => {
  it('keeps odd session ids intact', async () => {
    const client = await connect(first);
    const id = 'slash/and space%🙂';
    await api.post('/sessions', { session_id: id, session_name: 'odd' });
    await api.post(sessionPath(id, '/events'), { event_type: 'message' });
    const live = await client.waitForLive(2);
    expect(live[0]!.session.session_id).toBe(id);
    expect(live[1]!.data.session_id).toBe(id);
  });
});
