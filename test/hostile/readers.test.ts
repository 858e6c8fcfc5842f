import net from 'node:net';
import { sessionPath } from '../support/http';
import { useInstance } from '../support/instance';
import { useTestDatabase } from '../support/testDatabase';
import { WsClient } from '../support/wsClient';

// Issue 24, cases 5 and 6 (replay): WebSocket clients that never read held the main pool's connections
// while their whole init list waited to be taken, so status reads and event writes answered 503; a replay
// from since=0 while large events were written was cut with 1013 every time.
const database = useTestDatabase();
// A client that stops reading is let go after stallMs: longer here than the pause below lasts on a loaded machine.
const server = useInstance(database, { poolSize: 4, pageReadConnections: 2, wsMaxBacklogBytes: 1024 * 1024 }, { hub: { stallMs: 60_000 } });
const api = server.api;

const sockets: net.Socket[] = [];
afterEach(() => {
  for (const socket of sockets.splice(0)) socket.destroy();
});

/** Opens /ws (no init_limit: the whole list) and never reads a byte of the answer. */
function nonReader(wsUrl: string): Promise<net.Socket> {
  const url = new URL(wsUrl);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(url.port), url.hostname, () => {
      socket.write(
        `GET ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
      socket.pause();
      resolve(socket);
    });
    socket.on('error', () => undefined);
    socket.once('error', reject);
    sockets.push(socket);
  });
}

describe('hostile: readers that do not read', () => {
  beforeAll(async () => {
    // About 20 MB of sessions: far more than socket buffers hold.
    await database.query(
      `insert into sessions (session_id, session_name, project_dir)
       select 'bulk-' || g, 'bulk ' || g, repeat('d', 4000) from generate_series(1, 5000) g`,
    );
    expect((await api.post('/sessions', { session_id: 'probe', session_name: 'probe' })).status).toBe(201);
  });

  it('six clients that never read their init do not stop status reads and event writes (main pool of 4)', async () => {
    for (let i = 0; i < 6; i++) await nonReader(server.instance.wsUrl);
    // Let every one of them start its init.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    for (let i = 0; i < 5; i++) {
      expect((await api.get(sessionPath('probe'))).status).toBe(200);
      expect((await api.post(sessionPath('probe', '/events'), { event_type: 'tick', event_id: `tick-${i}` })).status).toBe(201);
    }
    expect((await api.get('/health')).status).toBe(200);
    // A client that reads gets its whole init meanwhile: the non-readers hold no page-read connection either
    // (there are two), since each page of an init is read when its client has taken the one before.
    const reader = await WsClient.connect(server.instance.wsUrl);
    expect(reader.init.type).toBe('init');
    expect((reader.init as any).sessions).toHaveLength(5001);
    reader.close();
    // And a whole GET /sessions, read through the same connections.
    expect((await api.get('/sessions')).body.sessions).toHaveLength(5001);
  });
});

describe('hostile: replay under heavy writes', () => {
  it('a replay from since=0 while large events are written completes, paced to the reader, and goes live', async () => {
    expect((await api.post('/sessions', { session_id: 'heavy', session_name: 'heavy' })).status).toBe(201);
    const big = 'z'.repeat(200_000);
    for (let i = 0; i < 40; i++) expect((await api.post(sessionPath('heavy', '/events'), { event_type: 'big', tool_output: big, event_id: `before-${i}` })).status).toBe(201);

    const client = await WsClient.connect(`${server.instance.wsUrl}?since=0&session_id=heavy`);
    // The client stops reading for a while, its replay half taken; meanwhile far more than the 1 MiB it may
    // leave unread is written.
    const tcp = (client.socket as unknown as { _socket: net.Socket })._socket;
    tcp.pause();
    const during = (i: number) => api.post(sessionPath('heavy', '/events'), { event_type: 'big', tool_output: big, event_id: `during-${i}` });
    for (let i = 0; i < 10; i++) expect((await during(i)).status).toBe(201);
    tcp.resume();
    for (let i = 10; i < 40; i++) expect((await during(i)).status).toBe(201);
    const ids = (messages: any[]) => messages.filter((m) => m.type === 'event').map((m) => m.data.event_id);
    await client.waitFor((messages) => ids(messages).length >= 80 || client.closeCode !== undefined, 60_000);
    expect(client.closeCode).toBeUndefined();
    const seen = ids(client.messages);
    expect(seen).toEqual([...Array.from({ length: 40 }, (_, i) => `before-${i}`), ...Array.from({ length: 40 }, (_, i) => `during-${i}`)]);
    // Live after: the next write arrives as it happens.
    expect((await api.post(sessionPath('heavy', '/events'), { event_type: 'small', event_id: 'after' })).status).toBe(201);
    await client.waitFor((messages) => ids(messages).includes('after'));
    const seqs = client.messages.filter((m: any) => typeof m.seq === 'number').map((m: any) => m.seq);
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
    expect(new Set(seqs).size).toBe(seqs.length);
    client.close();

    // Its export (16 MB of events, read a page of about PAGE_MAX_BYTES at a time) holds every event, in order.
    const exported = await fetch(`${server.instance.baseUrl}${sessionPath('heavy', '/export?format=ndjson')}`);
    expect(exported.status).toBe(200);
    const lines = (await exported.text())
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(lines.map((event) => event.event_id)).toEqual([...seen, 'after']);
    expect(lines.every((event, i) => i === 0 || event.id > lines[i - 1].id)).toBe(true);
  });
});

describe('hostile: init read page by page while sessions change', () => {
  it('every session ends as the server has it, and no change is sent twice or before the init that shows it', async () => {
    await database.query(
      `insert into sessions (session_id, session_name)
       select 'paged-' || g, 'paged ' || g from generate_series(1, 2500) g`,
    );
    const ids = Array.from({ length: 2500 }, (_, i) => `paged-${i + 1}`).filter((_, i) => i % 97 === 0);
    let writing = true;
    const writer = (async () => {
      for (let round = 0; writing && round < 50; round++) {
        for (const id of ids) expect((await api.patch(sessionPath(id), { agent_name: `round-${round}` })).status).toBe(200);
      }
    })();
    const client = await WsClient.connect(server.instance.wsUrl);
    writing = false;
    await writer;
    // A last write, to know when the client has everything.
    expect((await api.patch(sessionPath(ids[0]!), { agent_name: 'last' })).status).toBe(200);
    await client.waitFor((messages) => messages.some((m: any) => m.type === 'session_updated' && m.session.agent_name === 'last'));
    const init = client.init as any;
    const state = new Map<string, any>(init.sessions.map((session: any) => [session.session_id, session]));
    const seqs: number[] = [];
    for (const message of client.live as any[]) {
      seqs.push(message.seq);
      if (message.type === 'session_updated' || message.type === 'session_created') state.set(message.session.session_id, message.session);
    }
    expect(seqs.every((seq, i) => seq > init.seq && (i === 0 || seq > seqs[i - 1]!))).toBe(true);
    for (const id of ids) {
      const { session } = (await api.get(sessionPath(id))).body;
      expect(state.get(id)).toEqual(session);
    }
    client.close();
  });
});
