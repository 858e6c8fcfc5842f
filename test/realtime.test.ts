import WebSocket from 'ws';
import { CHANGES_CHANNEL } from '../src/store/changes';
import { sessionPath } from './support/http';
import { startInstance, useInstance, type TestInstance } from './support/instance';
import { useTestDatabase } from './support/testDatabase';
import { waitUntil } from './support/waitUntil';
import { WsClient, type WsMessage } from './support/wsClient';

const database = useTestDatabase();
const [first, second] = useInstance(database, {}, { count: 2 }).instances as [TestInstance, TestInstance];
const api = first.api;
const clients: WsClient[] = [];

afterEach(() => clients.splice(0).forEach((client) => client.close()));

async function connect(instance: TestInstance): Promise<WsClient> {
  const client = await WsClient.connect(instance.wsUrl);
  clients.push(client);
  return client;
}

/** The messages as the contract shows them, without the change number each carries. */
const withoutSeq = (messages: Record<string, unknown>[]) => messages.map(({ seq: _seq, ...rest }) => rest);

/** Whether `message` announces the creation of session `id`: a sentinel written last, so that everything before it has arrived. */
const created = (id: string) => (messages: WsMessage[]) => messages.some((m) => m.type === 'session_created' && m.session.session_id === id);

describe('WS /ws', () => {
  it('sends init with the sessions as GET /sessions lists them', async () => {
    await api.post('/sessions', { session_id: 'init-1', session_name: 'x' });
    const client = await connect(first);
    expect(client.init).toEqual({ type: 'init', seq: expect.any(Number), sessions: (await api.get('/sessions')).body.sessions, next_cursor: null, approvals: [] });
  });

  it('broadcasts every change with the same payload REST answered, in commit order', async () => {
    const client = await connect(first);
    const created = await api.post('/sessions', { session_id: 'flow-1', session_name: 'flow', agent_name: 'a' });
    const event = await api.post('/sessions/flow-1/events', { event_type: 'session_stop', exit_code: 0, reason: 'done' });
    const patched = await api.patch('/sessions/flow-1', { agent_name: 'b' });
    // Deleted only once the event has been relayed: deleted before this instance reads its change, the event
    // would rightly come as event_gone (see the budgets tests).
    await client.waitFor((messages) => messages.some((m) => m.type === 'session_updated' && m.session.agent_name === 'b'));
    await api.delete('/sessions/flow-1');
    // The deletion is the last change: once it is here, every earlier one has had its turn.
    const live = (await client.waitFor((messages) => messages.some((m) => m.type === 'session_deleted' && m.session_id === 'flow-1'))).slice(1);
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
    // Changes arrive in commit order: anything the PATCH broadcast would be here before the sentinel.
    await client.waitFor(created('same-sentinel'));
    expect(client.live.map((message) => [message.type, message.session.session_id])).toEqual([
      ['session_created', 'same-1'],
      ['session_created', 'same-sentinel'],
    ]);
  });

  it('a write through one instance reaches the clients of another', async () => {
    const onFirst = await connect(first);
    const onSecond = await connect(second);
    const session = await first.api.post('/sessions', { session_id: 'cross-1', session_name: 'x' });
    const event = await second.api.post('/sessions/cross-1/events', { event_type: 'message', role: 'user' });
    const expected = [
      { type: 'session_created', session: session.body.session },
      { type: 'event', data: event.body.event },
    ];
    expect(withoutSeq(await onFirst.waitForLive(2))).toEqual(expected);
    expect(withoutSeq(await onSecond.waitForLive(2))).toEqual(expected);
    expect(onFirst.live).toEqual(onSecond.live);
  });

  it('a rolled-back write broadcasts nothing', async () => {
    const client = await connect(second);
    await database.withClient(async (db) => {
      await db.query('begin');
      await db.query("insert into sessions (session_id, session_name) values ('rolled-back', 'x')");
      await db.query("insert into events (session_id, event_type) values ('rolled-back', 'message')");
      await db.query('rollback');
    });
    await api.post('/sessions', { session_id: 'after-rollback', session_name: 'x' });
    await client.waitFor(created('after-rollback'));
    expect(client.live.map((message) => message.session?.session_id)).toEqual(['after-rollback']);
  });

  it('a failed request broadcasts nothing', async () => {
    const client = await connect(first);
    await api.post('/sessions/nobody/events', { event_type: 'message' });
    await api.post('/sessions', { session_id: 'bad', session_name: '' });
    await api.post('/sessions', { session_id: 'after-failures', session_name: 'x' });
    await client.waitFor(created('after-failures'));
    expect(client.live.map((message) => message.type)).toEqual(['session_created']);
  });

  it('deleting a session with 50,000 events sends one notification and one message', async () => {
    const client = await connect(first);
    await api.post('/sessions', { session_id: 'big-delete', session_name: 'x' });
    await database.query("insert into events (session_id, event_type) select 'big-delete', 'message' from generate_series(1, 50000)");
    await client.waitForLive(50_001, 60_000);
    const notifications: string[] = [];
    await database.withClient(async (listener) => {
      listener.on('notification', (message) => message.channel === CHANGES_CHANNEL && notifications.push(message.payload ?? ''));
      await listener.query(`listen ${CHANGES_CHANNEL}`);
      const reply = await api.delete('/sessions/big-delete');
      expect(reply.body.deleted.events_count).toBe(50_000);
      await api.post('/sessions', { session_id: 'delete-sentinel', session_name: 'x' });
      // Notifications arrive in commit order: once the sentinel's is here, every earlier one is too.
      const sentinelSeq = (await client.waitFor(created('delete-sentinel'))).at(-1)!.seq as number;
      await waitUntil(() => notifications.includes(String(sentinelSeq)), "the sentinel's notification has arrived");
      expect(notifications).toEqual([String(sentinelSeq - 1), String(sentinelSeq)]);
    });
    await client.waitForLive(50_003);
    expect(withoutSeq(client.live.slice(50_001))).toEqual([
      { type: 'session_deleted', session_id: 'big-delete' },
      { type: 'session_created', session: expect.objectContaining({ session_id: 'delete-sentinel' }) },
    ]);
    // 50,000 events through the feed take 15 s of an idle machine.
  }, 180_000);

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
    await database.query("insert into events (session_id, event_type, reason) select 'multi-1', 'message', n::text from generate_series(1, 100) n");
    const live = (await client.waitForLive(101)).slice(1);
    expect(live.map((message) => message.data.reason)).toEqual(Array.from({ length: 100 }, (_, i) => String(i + 1)));
  });

  it('the listener reconnects after its connection is killed, and every write made meanwhile is broadcast', async () => {
    const client = await connect(first);
    const { rowCount } = await database.query(
      "select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'agent-session-manager:listen' and datname = current_database()",
    );
    expect(rowCount).toBe(2);
    // Written while the listeners reconnect: what commits in the gap is read from the change log after it.
    const ids = Array.from({ length: 10 }, (_, i) => `after-kill-${i}`);
    for (const id of ids) expect((await api.post('/sessions', { session_id: id, session_name: 'x' })).status).toBe(201);
    const live = (await client.waitFor(created(ids.at(-1)!))).slice(1);
    expect(live.map((message) => [message.type, message.session.session_id])).toEqual(ids.map((id) => ['session_created', id]));
    expect(live.map((message) => message.seq)).toEqual(ids.map((_, i) => client.init.seq + i + 1));
    await waitUntil(() => first.service.listener.listening, 'the listener is listening again');
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
