import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { apiClient } from './support/http';
import { startInstance, type TestInstance } from './support/instance';
import { TcpProxy } from './support/tcpProxy';
import { useTestDatabase } from './support/testDatabase';
import { WsClient, type WsMessage } from './support/wsClient';

const database = useTestDatabase();

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const eventsOf = (client: WsClient, sessionId: string) => client.live.filter((m) => m.type === 'event' && m.data.session_id === sessionId);
const consecutive = (messages: WsMessage[]) => messages.every((m, i) => i === 0 || m.seq === messages[i - 1]!.seq + 1);

/** Writes events to a session through the given instances in turn until stopped; returns the stored ids and every status seen. */
function startWriter(instances: TestInstance[], sessionId: string) {
  const stored: number[] = [];
  const statuses = new Map<number, number>();
  let running = true;
  let n = 0;
  const done = (async () => {
    while (running) {
      const target = instances[n % instances.length]!;
      const reply = await apiClient(target.baseUrl)
        .post(`/sessions/${sessionId}/events`, { event_type: 'message', reason: `write ${n}` })
        .catch(() => ({ status: 0, body: undefined }));
      n += 1;
      statuses.set(reply.status, (statuses.get(reply.status) ?? 0) + 1);
      if (reply.status === 201) stored.push(reply.body.event.id);
      else await sleep(20);
    }
  })();
  return {
    stored,
    statuses,
    stop: async () => {
      running = false;
      await done;
    },
  };
}

async function terminateListeners(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rowCount } = await client.query(
      "select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'agent-session-manager:listen' and datname = current_database()",
    );
    return rowCount ?? 0;
  } finally {
    await client.end();
  }
}

describe('faults', () => {
  it('when the LISTEN connections are killed again and again during writes, every client still receives every change', async () => {
    const instances = await Promise.all([startInstance(database.url), startInstance(database.url)]);
    const clients = await Promise.all(instances.flatMap((instance) => [WsClient.connect(instance.wsUrl), WsClient.connect(instance.wsUrl)]));
    await apiClient(instances[0]!.baseUrl).post('/sessions', { session_id: 'killed-listener', session_name: 'x' });
    const writer = startWriter(instances, 'killed-listener');
    let killed = 0;
    for (let round = 0; round < 5; round++) {
      await sleep(150);
      killed += await terminateListeners(database.url);
    }
    await sleep(150);
    await writer.stop();
    const written = writer.stored.length;
    for (const client of clients) await client.waitFor(() => eventsOf(client, 'killed-listener').length >= written, 20_000);
    await sleep(100);
    for (const client of clients) {
      expect(eventsOf(client, 'killed-listener').map((m) => m.data.id)).toEqual(writer.stored);
      expect(consecutive(client.live)).toBe(true);
    }
    expect(killed).toBeGreaterThanOrEqual(8);
    process.stdout.write(
      `listener killed ${killed} times: ${written} events written, delivered per client ${clients.map((c) => eventsOf(c, 'killed-listener').length).join('/')}\n`,
    );
    clients.forEach((client) => client.close());
  });

  it('three instances with clients on each and concurrent writers on each deliver the identical sequence', async () => {
    const instances = await Promise.all([startInstance(database.url), startInstance(database.url), startInstance(database.url)]);
    const clients = await Promise.all(instances.flatMap((instance) => [WsClient.connect(instance.wsUrl), WsClient.connect(instance.wsUrl)]));
    const ids = ['tri-a', 'tri-b', 'tri-c'];
    await Promise.all(ids.map((id, i) => apiClient(instances[i]!.baseUrl).post('/sessions', { session_id: id, session_name: id })));
    await Promise.all(
      ids.map(async (id, i) => {
        const api = apiClient(instances[i]!.baseUrl);
        for (let n = 0; n < 60; n++) {
          const writes = [api.post(`/sessions/${id}/events`, { event_type: 'message', reason: String(n) })];
          if (n % 20 === 0) writes.push(api.patch(`/sessions/${id}`, { agent_name: `agent ${n}` }));
          for (const reply of await Promise.all(writes)) expect(reply.status).toBeLessThan(300);
        }
      }),
    );
    const expected = 3 * (1 + 60 + 3);
    for (const client of clients) await client.waitFor(() => client.live.length >= expected, 20_000);
    for (const client of clients) {
      expect(client.live).toEqual(clients[0]!.live);
      expect(consecutive(client.live)).toBe(true);
    }
    clients.forEach((client) => client.close());
  });

  it('a client that does not read is closed with 1013 while the others keep receiving', async () => {
    const instance = await startInstance(database.url, { wsMaxBacklogBytes: 512 * 1024 });
    const reader = await WsClient.connect(instance.wsUrl);
    const stalled = await WsClient.connect(instance.wsUrl);
    (stalled.socket as unknown as { _socket: net.Socket })._socket.pause();
    const api = apiClient(instance.baseUrl);
    await api.post('/sessions', { session_id: 'slow-reader', session_name: 'x' });
    const big = 'y'.repeat(256 * 1024);
    for (let i = 0; i < 60; i++) expect((await api.post('/sessions/slow-reader/events', { event_type: 'post_tool', tool_output: big })).status).toBe(201);
    const deadline = Date.now() + 20_000;
    while (instance.service.hub.size > 1 && Date.now() < deadline) await sleep(20);
    expect(instance.service.hub.size).toBe(1);
    // Reading again at once, it gets what was sent before the cut, then the close frame.
    (stalled.socket as unknown as { _socket: net.Socket })._socket.resume();
    await reader.waitFor(() => eventsOf(reader, 'slow-reader').length === 60, 20_000);
    expect(eventsOf(reader, 'slow-reader').every((m) => m.data.tool_output === big)).toBe(true);
    expect(await stalled.waitForClose()).toBe(1013);
    // It can resume from what it got: the rest follows.
    const resumed = await WsClient.connect(`${instance.wsUrl}?since=${stalled.messages[stalled.messages.length - 1]!.seq}`);
    await resumed.waitFor(() => eventsOf(stalled, 'slow-reader').length + resumed.messages.filter((m) => m.type === 'event').length >= 60);
    reader.close();
    resumed.close();
  });

  it('a client that stops answering pings is dropped', async () => {
    const instance = await startInstance(database.url, { wsPingIntervalMs: 100 });
    const answering = await WsClient.connect(instance.wsUrl);
    const silent = await WsClient.connect(instance.wsUrl);
    // A paused socket reads nothing, so it never sees a ping and never answers one.
    (silent.socket as unknown as { _socket: net.Socket })._socket.pause();
    const deadline = Date.now() + 5_000;
    while (instance.service.hub.size > 1 && Date.now() < deadline) await sleep(20);
    expect(instance.service.hub.size).toBe(1);
    await sleep(300);
    expect(answering.closeCode).toBeUndefined();
    answering.close();
  });

  it('a half-open LISTEN link is found by the heartbeat; after it heals, the missed changes arrive', async () => {
    const { proxy, url } = await TcpProxy.forUrl(database.url);
    const behindProxy = await startInstance(url, { listenHeartbeatMs: 300 });
    const direct = await startInstance(database.url);
    const client = await WsClient.connect(behindProxy.wsUrl);
    const api = apiClient(direct.baseUrl);
    expect((await apiClient(behindProxy.baseUrl).get('/ready')).status).toBe(200);

    proxy.freeze();
    await api.post('/sessions', { session_id: 'half-open', session_name: 'x' });
    for (let i = 0; i < 5; i++) await api.post('/sessions/half-open/events', { event_type: 'message' });
    const deadline = Date.now() + 10_000;
    while (behindProxy.service.listener.listening && Date.now() < deadline) await sleep(50);
    expect(behindProxy.service.listener.listening).toBe(false);
    const notReady = await apiClient(behindProxy.baseUrl).get('/ready');
    expect(notReady.status).toBe(503);
    expect((await apiClient(behindProxy.baseUrl).get('/health')).status).toBe(200);

    proxy.thaw();
    await client.waitFor(() => client.live.length >= 6, 20_000);
    expect(client.live.map((m) => m.type)).toEqual(['session_created', 'event', 'event', 'event', 'event', 'event']);
    expect((await apiClient(behindProxy.baseUrl).get('/ready')).status).toBe(200);
    client.close();
    await behindProxy.close();
    await proxy.cut();
  }, 60_000);
});

describe('PostgreSQL stopped and started again during writes', () => {
  let dataDir: string;
  let cluster: ChildProcess | undefined;

  function startCluster(port: number): Promise<string> {
    const child = spawn(process.execPath, [path.join(__dirname, 'support', 'embeddedCluster.js'), dataDir, String(port)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    cluster = child;
    let output = '';
    return new Promise((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        output += chunk;
        const match = /ready (\S+)/.exec(output);
        if (match) resolve(match[1]!);
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.on('exit', (code) => reject(new Error(`embedded cluster exited with ${code}: ${output}`)));
    });
  }

  function stopCluster(): Promise<void> {
    const child = cluster;
    cluster = undefined;
    if (!child || child.exitCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  }

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'asm-outage-'));
    // As root, the server runs as the postgres user, which must be able to enter the directory.
    await chmod(dataDir, 0o755);
  });
  afterAll(async () => {
    await stopCluster();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('every write that got a 2xx is stored and delivered; writes during the outage get 503, never 500', async () => {
    const port = await freePort();
    const url = await startCluster(port);
    const instances = await Promise.all([startInstance(url), startInstance(url)]);
    const clients = await Promise.all(instances.map((instance) => WsClient.connect(instance.wsUrl)));
    expect((await apiClient(instances[0]!.baseUrl).post('/sessions', { session_id: 'outage', session_name: 'x' })).status).toBe(201);

    const writer = startWriter(instances, 'outage');
    await sleep(400);
    await stopCluster();
    await sleep(1_000);
    await startCluster(port);
    await sleep(1_500);
    await writer.stop();

    const statuses = Object.fromEntries(writer.statuses);
    expect(Object.keys(statuses).sort()).toEqual(['201', '503']);
    const written = writer.stored.length;
    const stored = (await apiClient(instances[0]!.baseUrl).get('/sessions/outage/events')).body.events.map((e: { id: number }) => e.id);
    expect(stored).toEqual(expect.arrayContaining(writer.stored));
    for (const client of clients) await client.waitFor(() => eventsOf(client, 'outage').length >= stored.length, 20_000);
    for (const client of clients) {
      expect(eventsOf(client, 'outage').map((m) => m.data.id)).toEqual(stored);
      expect(consecutive(client.live)).toBe(true);
    }
    process.stdout.write(
      `postgres restarted under load: statuses ${JSON.stringify(statuses)}, ${written} writes acknowledged, ${stored.length} stored, delivered per client ${clients.map((c) => eventsOf(c, 'outage').length).join('/')}\n`,
    );
    clients.forEach((client) => client.close());
    await Promise.all(instances.map((instance) => instance.close()));
  }, 60_000);
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}
