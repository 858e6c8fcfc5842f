import WebSocket from 'ws';
import { pruneChanges, readChanges } from '../src/store/changes';
import { sessionPath } from './support/http';
import { useInstance, type TestInstance } from './support/instance';
import { useTestDatabase } from './support/testDatabase';
import { waitUntil } from './support/waitUntil';
import { WsClient, type WsMessage } from './support/wsClient';

const database = useTestDatabase();
const [first, second] = useInstance(database, {}, { count: 2 }).instances as [TestInstance, TestInstance];
const api = first.api;

const seqs = (messages: WsMessage[]) => messages.map((message) => message.seq as number);
const consecutive = (numbers: number[]) => numbers.every((n, i) => i === 0 || n === numbers[i - 1]! + 1);

describe('resuming with ?since', () => {
  it('after a disconnect with writes in between, the client gets exactly what it missed, then live changes', async () => {
    const control = await WsClient.connect(first.wsUrl);
    const client = await WsClient.connect(second.wsUrl);
    await api.post('/sessions', { session_id: 'resume-1', session_name: 'x' });
    await api.post('/sessions/resume-1/events', { event_type: 'message', reason: 'before' });
    await client.waitForLive(2);
    const seen = client.live;
    client.close();
    await client.waitForClose();

    for (let i = 0; i < 10; i++) await (i % 2 ? first : second).api.post('/sessions/resume-1/events', { event_type: 'message', reason: `gap ${i}` });
    await api.patch('/sessions/resume-1', { agent_name: 'during the gap' });

    const resumed = await WsClient.connect(`${second.wsUrl}?since=${seen[seen.length - 1]!.seq}`);
    await resumed.waitFor((messages) => messages.length >= 11);
    await api.post('/sessions/resume-1/events', { event_type: 'session_stop' });
    await control.waitForLive(15);
    await resumed.waitFor((messages) => messages.length >= 13);
    expect(resumed.messages[0]!.type).not.toBe('init');
    const all = [...seen, ...resumed.messages];
    expect(all).toEqual(control.live);
    expect(consecutive(seqs(all))).toBe(true);
    control.close();
    resumed.close();
  });

  it('reconnecting again and again while writes go on loses nothing and doubles nothing', async () => {
    await api.post('/sessions', { session_id: 'churn-1', session_name: 'x' });
    const control = await WsClient.connect(first.wsUrl);
    let writing = true;
    let written = 0;
    const writer = (async () => {
      while (writing) {
        const target = written % 2 ? first : second;
        const reply = await target.api.post('/sessions/churn-1/events', { event_type: 'message', reason: String(written) });
        expect(reply.status).toBe(201);
        written += 1;
      }
    })();
    const received: WsMessage[] = [];
    let since = control.init.seq as number;
    for (let round = 0; round < 8; round++) {
      const client = await WsClient.connect(`${(round % 2 ? first : second).wsUrl}?since=${since}`);
      // Each connection takes part: it has caught up on some changes, and more are being written, when it drops.
      await client.waitFor((messages) => messages.length >= 3 + round);
      client.close();
      await client.waitForClose();
      received.push(...client.messages);
      if (client.messages.length > 0) since = client.messages[client.messages.length - 1]!.seq;
    }
    writing = false;
    await writer;
    const last = await WsClient.connect(`${first.wsUrl}?since=${since}`);
    await control.waitForLive(written);
    await last
      .waitFor(() => received.length + last.messages.length >= written)
      .catch((err) => {
        const got = [...received, ...last.messages].map((m) => m.seq);
        const want = control.live.map((m) => m.seq);
        throw new Error(
          `${err.message}; missing ${want.filter((s) => !got.includes(s)).join(',')}; got ${got.length} want ${want.length}; dupes ${got.length - new Set(got).size}`,
        );
      });
    received.push(...last.messages);
    last.close();
    control.close();
    expect(received).toEqual(control.live);
    process.stdout.write(`resume churn: ${written} events written, ${received.length} received over 9 connections, control ${control.live.length}\n`);
  });

  it('when since is older than the log keeps, the client gets resync_required and a fresh init', async () => {
    await api.post('/sessions', { session_id: 'pruned-1', session_name: 'x' });
    await database.withClient(async (db) => {
      await db.query("update change_batches set committed_at = now() - interval '30 days'");
      expect(await pruneChanges(db, 24)).toBeGreaterThan(0);
    });
    const client = await WsClient.connect(`${first.wsUrl}?since=0`);
    await client.waitFor((messages) => messages.length >= 2);
    expect(client.messages[0]).toEqual({ type: 'resync_required' });
    expect(client.messages[1]).toMatchObject({ type: 'init', seq: expect.any(Number) });
    expect(client.messages[1]!.sessions.map((s: { session_id: string }) => s.session_id)).toContain('pruned-1');
    client.close();
  });

  it('when since is beyond the latest change (another database), the client is told to resync', async () => {
    const client = await WsClient.connect(`${first.wsUrl}?since=999999999`);
    await client.waitFor((messages) => messages.length >= 2);
    expect(client.messages.map((message) => message.type)).toEqual(['resync_required', 'init']);
    client.close();
  });

  it.each([['since=abc'], ['since=-1'], ['session_id='], ['init_limit=0'], ['init_limit=1001']])('refuses /ws?%s with 422 naming the parameter', async (query) => {
    const socket = new WebSocket(`${first.wsUrl}?${query}`);
    socket.on('error', () => undefined);
    const [status, body] = await new Promise<[number, string]>((resolve) =>
      socket.on('unexpected-response', (_request, response) => {
        let text = '';
        response.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
        response.on('end', () => resolve([response.statusCode ?? 0, text]));
      }),
    );
    expect(status).toBe(422);
    expect(JSON.parse(body).detail[0].loc[0]).toBe('query');
  });
});

describe('subscribing with ?session_id', () => {
  it('init lists only those sessions and only their changes arrive; resuming keeps the filter', async () => {
    for (const id of ['sub-a', 'sub-b', 'sub-c']) await api.post('/sessions', { session_id: id, session_name: id });
    const client = await WsClient.connect(`${second.wsUrl}?session_id=sub-a&session_id=${encodeURIComponent('sub-c')}`);
    expect(client.init.sessions.map((s: { session_id: string }) => s.session_id).sort()).toEqual(['sub-a', 'sub-c']);
    for (const id of ['sub-a', 'sub-b', 'sub-c', 'sub-b']) await api.post(sessionPath(id, '/events'), { event_type: 'message' });
    // Deleted only once its event was relayed: read after the deletion, it would rightly come as event_gone.
    await client.waitFor((messages) => messages.some((m) => m.type === 'event' && m.data.session_id === 'sub-c'));
    await api.delete('/sessions/sub-b');
    await api.delete('/sessions/sub-c');
    // Written last, in a followed session: once it is here, anything else would have arrived before it.
    await api.post('/sessions/sub-a/events', { event_type: 'message', reason: 'sentinel' });
    const isSentinel = (messages: WsMessage[]) => messages.some((m) => m.data?.reason === 'sentinel');
    await client.waitFor(isSentinel);
    expect(client.live.map((m) => [m.type, m.data?.session_id ?? m.session_id])).toEqual([
      ['event', 'sub-a'],
      ['event', 'sub-c'],
      ['session_deleted', 'sub-c'],
      ['event', 'sub-a'],
    ]);
    const resumed = await WsClient.connect(`${first.wsUrl}?session_id=sub-a&since=${client.init.seq}`);
    await resumed.waitFor(isSentinel);
    expect(resumed.messages).toEqual(client.live.filter((m) => m.data?.session_id === 'sub-a'));
    client.close();
    resumed.close();
  });
});

describe('resuming a subscription far behind', () => {
  it("finds its session's changes past more transactions of other sessions than one replay page holds", async () => {
    await api.post('/sessions', { session_id: 'sparse-mine', session_name: 'x' });
    await api.post('/sessions', { session_id: 'sparse-other', session_name: 'x' });
    const watcher = await WsClient.connect(first.wsUrl);
    const since = watcher.init.seq as number;
    watcher.close();
    // 1,500 committed transactions that are not about the followed session, then one that is.
    await database.query("do $$ begin for i in 1..1500 loop insert into events (session_id, event_type) values ('sparse-other', 'noise'); commit; end loop; end $$");
    await api.post('/sessions/sparse-mine/events', { event_type: 'message', reason: 'mine' });
    const client = await WsClient.connect(`${second.wsUrl}?session_id=sparse-mine&since=${since}`);
    await client.waitFor((messages) => messages.length >= 1, 60_000);
    expect(client.messages.map((m) => [m.type, m.data?.reason])).toEqual([['event', 'mine']]);
    client.close();
    // 1,500 commits one by one take 15 s of an idle machine.
  }, 180_000);
});

describe('change numbers', () => {
  it('follow commit order: a reader polling during slow, overlapping transactions never skips a number', async () => {
    await api.post('/sessions', { session_id: 'order-1', session_name: 'x' });
    const reader = database.pool({ max: 1 });
    const writers = database.pool({ max: 20 });
    const start = (await readChanges(reader, { after: 0, limit: 1_000_000, maxBytes: 1 << 30 })).lastSeq;
    let seen = start;
    const gaps: string[] = [];
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const page = await readChanges(reader, { after: seen, limit: 10_000, maxBytes: 1 << 30 });
        for (const change of page.changes) {
          if (change.seq !== seen + 1) gaps.push(`${seen} -> ${change.seq}`);
          seen = change.seq;
        }
      }
    })();
    // Each transaction takes its row early and commits after a random pause, so they finish out of start order.
    await Promise.all(
      Array.from({ length: 60 }, async (_, i) => {
        const client = await writers.connect();
        try {
          await client.query('begin');
          await client.query("insert into events (session_id, event_type, reason) values ('order-1', 'message', $1)", [String(i)]);
          await client.query('select pg_sleep($1)', [Math.random() * 0.15]);
          await client.query('commit');
        } finally {
          client.release();
        }
      }),
    );
    await waitUntil(() => seen - start >= 60 || gaps.length > 0, 'the reader has seen every change');
    polling = false;
    await poller;
    expect(gaps).toEqual([]);
    expect(seen - start).toBe(60);
  });
});
