import { sessionPath } from './support/http';
import { useInstance } from './support/instance';
import { useTestDatabase } from './support/testDatabase';
import { WsClient } from './support/wsClient';

const database = useTestDatabase();
const server = useInstance(database);
const api = server.api;
let counter = 0;

async function newSession(): Promise<string> {
  const id = `ingest-${++counter}`;
  await api.post('/sessions', { session_id: id, session_name: 'ingest' });
  return id;
}

const message = (reason: string, extra: Record<string, unknown> = {}) => ({ event_type: 'message', role: 'user', reason, ...extra });

describe('idempotent ingest', () => {
  it('a retried event is answered with the stored one and broadcasts nothing', async () => {
    const id = await newSession();
    const client = await WsClient.connect(server.instance.wsUrl);
    const first = await api.post(sessionPath(id, '/events'), message('once', { event_id: 'e-1' }));
    const retry = await api.post(sessionPath(id, '/events'), message('twice', { event_id: 'e-1' }));
    await api.post(sessionPath(id, '/events'), message('sentinel'));
    expect(first.status).toBe(201);
    expect(retry).toMatchObject({ status: 200, body: { event: first.body.event } });
    // Changes arrive in commit order: anything the retry had broadcast would come before the sentinel.
    await client.waitFor(() => client.live.some((m) => m.data?.reason === 'sentinel'));
    expect(client.live.map((m) => m.data.reason)).toEqual(['once', 'sentinel']);
    client.close();
  });

  it('the same event_id in another session is another event', async () => {
    const [a, b] = [await newSession(), await newSession()];
    expect((await api.post(sessionPath(a, '/events'), message('a', { event_id: 'shared' }))).status).toBe(201);
    expect((await api.post(sessionPath(b, '/events'), message('b', { event_id: 'shared' }))).status).toBe(201);
  });
});

describe('POST /sessions/{id}/events/batch', () => {
  it('stores every event in the order given and broadcasts each', async () => {
    const id = await newSession();
    const client = await WsClient.connect(server.instance.wsUrl);
    const events = Array.from({ length: 300 }, (_, i) => message(String(i), i % 7 === 0 ? { event_id: `b-${i}` } : {}));
    const reply = await api.post(sessionPath(id, '/events/batch'), { events });
    expect(reply.status).toBe(201);
    expect(reply.body.events.map((e: { reason: string }) => e.reason)).toEqual(events.map((e) => e.reason));
    const ids = reply.body.events.map((e: { id: number }) => e.id);
    expect([...ids].sort((x, y) => x - y)).toEqual(ids);
    expect((await api.get(sessionPath(id, '/events'))).body.events).toEqual(reply.body.events);
    const live = await client.waitForLive(300);
    expect(live.map((m) => m.data)).toEqual(reply.body.events);
    expect((await api.get(sessionPath(id))).body.session.event_count).toBe(300);
    client.close();
  });

  it('when any event is invalid, stores none and names each bad one by index', async () => {
    const id = await newSession();
    const reply = await api.post(sessionPath(id, '/events/batch'), {
      events: [message('ok'), { role: 'user' }, message('ok'), message('bad time', { timestamp: 'soon' }), message('x', { session_id: 'other' })],
    });
    expect(reply.status).toBe(422);
    expect(reply.body.detail.map((failure: { loc: (string | number)[] }) => failure.loc)).toEqual([
      ['body', 'events', 1, 'event_type'],
      ['body', 'events', 3, 'timestamp'],
    ]);
    expect((await api.get(sessionPath(id, '/events'))).body.events).toEqual([]);
    const mismatch = await api.post(sessionPath(id, '/events/batch'), { events: [message('ok'), message('x', { session_id: 'other' })] });
    expect(mismatch.status).toBe(422);
    expect(mismatch.body.detail).toEqual([{ loc: ['body', 'events', 1, 'session_id'], msg: 'Event session_id must match URL session_id', type: 'session_mismatch' }]);
    expect((await api.get(sessionPath(id, '/events'))).body.events).toEqual([]);
  });

  it('a session_stop inside the batch finishes the session, and a later session_start wins over it', async () => {
    const stopped = await newSession();
    await api.post(sessionPath(stopped, '/events/batch'), { events: [message('a'), { event_type: 'session_stop' }] });
    expect((await api.get(sessionPath(stopped, '/status'))).body.status).toBe('finished');
    const restarted = await newSession();
    await api.post(sessionPath(restarted, '/events/batch'), { events: [{ event_type: 'session_stop' }, { event_type: 'session_start' }] });
    expect((await api.get(sessionPath(restarted, '/status'))).body.status).toBe('running');
  });

  it('events already stored (by event_id) come back as stored; repeats inside the batch are stored once', async () => {
    const id = await newSession();
    const earlier = await api.post(sessionPath(id, '/events'), message('earlier', { event_id: 'x-1' }));
    const reply = await api.post(sessionPath(id, '/events/batch'), {
      events: [message('new', { event_id: 'x-2' }), message('retry', { event_id: 'x-1' }), message('again', { event_id: 'x-2' }), message('plain')],
    });
    expect(reply.status).toBe(201);
    const [fresh, old, repeat, plain] = reply.body.events;
    expect(old).toEqual(earlier.body.event);
    expect(repeat).toEqual(fresh);
    expect(fresh.reason).toBe('new');
    expect(plain.reason).toBe('plain');
    expect((await api.get(sessionPath(id, '/events'))).body.events.map((e: { reason: string }) => e.reason)).toEqual(['earlier', 'new', 'plain']);
    const allRetries = await api.post(sessionPath(id, '/events/batch'), { events: [message('r', { event_id: 'x-1' })] });
    expect(allRetries.status).toBe(200);
  });

  it('refuses an empty batch, more than 1000 events, and an unknown session', async () => {
    const id = await newSession();
    expect((await api.post(sessionPath(id, '/events/batch'), { events: [] })).status).toBe(422);
    const tooMany = await api.post(sessionPath(id, '/events/batch'), { events: Array.from({ length: 1001 }, () => message('x')) });
    expect(tooMany.status).toBe(422);
    expect(tooMany.body.detail[0].loc).toEqual(['body', 'events']);
    expect(await api.post('/sessions/ghost/events/batch', { events: [message('x')] })).toMatchObject({ status: 404, body: { detail: 'Session not found' } });
  });
});
