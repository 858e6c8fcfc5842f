import net from 'node:net';
import { sessionPath } from '../support/http';
import { useInstance } from '../support/instance';
import { useTestDatabase } from '../support/testDatabase';
import { WsClient } from '../support/wsClient';

// Issue 24, cases 5 and 6 (replay): WebSocket clients that never read held the main pool's connections
// while their whole init list waited to be taken, so status reads and event writes answered 503; a replay
// from since=0 while large events were written was cut with 1013 every time.
const database = useTestDatabase();
const server = useInstance(database, { poolSize: 4, pageReadConnections: 2, wsMaxBacklogBytes: 1024 * 1024 });
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
    for (let i = 0; i < 40; i++) expect((await api.post(sessionPath('heavy', '/events'), { event_type: 'big', tool_output: big, event_id: `during-${i}` })).status).toBe(201);
    await new Promise((resolve) => setTimeout(resolve, 500));
    tcp.resume();
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
  });
});
