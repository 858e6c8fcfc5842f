import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { startInstance, type TestInstance } from './support/instance';
import { TcpProxy } from './support/tcpProxy';
import { useTestDatabase, type TestDatabase } from './support/testDatabase';
import { waitUntil } from './support/waitUntil';
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
      const reply = await target.api.post(`/sessions/${sessionId}/events`, { event_type: 'message', reason: `write ${n}` }).catch(() => ({ status: 0, body: undefined }));
      n += 1;
      statuses.set(reply.status, (statuses.get(reply.status) ?? 0) + 1);
      if (reply.status === 201) stored.push(reply.body.event.id);
      else await sleep(20);
    }
  })();
  return {
    stored,
    statuses,
    /** Resolves once `count` more writes have been answered with `status`. */
    answered: (status: number, count: number) => {
      const target = (statuses.get(status) ?? 0) + count;
      return waitUntil(() => (statuses.get(status) ?? 0) >= target, `${count} more writes were answered ${status}`);
    },
    stop: async () => {
      running = false;
      await done;
    },
  };
}

const listenBackends = "from pg_stat_activity where application_name = 'agent-session-manager:listen' and datname = current_database() and not (pid = any($1::int[]))";

/**
 * Terminates the instances' LISTEN connections once `count` new ones (not among `killed`) are there: an instance's
 * `listening` flag can still be true for a connection already terminated, before its error event has arrived.
 */
async function terminateListeners(db: TestDatabase, killed: number[], count: number): Promise<number> {
  let pids: number[] = [];
  await waitUntil(async () => {
    pids = (await db.query(`select pid ${listenBackends}`, [killed])).rows.map((row) => row.pid);
    return pids.length === count;
  }, `${count} new LISTEN connections`);
  const { rows } = await db.query('select pg_terminate_backend(pid) as terminated from unnest($1::int[]) pid', [pids]);
  killed.push(...pids);
  return rows.filter((row) => row.terminated).length;
}

/** Posts a last event to the session and waits until every client has it: whatever came before has arrived too. */
async function sentinel(instance: TestInstance, clients: WsClient[], sessionId: string): Promise<void> {
  const reply = await instance.api.post(`/sessions/${sessionId}/events`, { event_type: 'message', reason: 'sentinel' });
  expect(reply.status).toBe(201);
  for (const client of clients) await client.waitFor((messages) => messages.some((m) => m.data?.id === reply.body.event.id));
}
const beforeSentinel = (client: WsClient, sessionId: string) => eventsOf(client, sessionId).filter((m) => m.data.reason !== 'sentinel');

describe('faults', () => {
  it('when the LISTEN connections are killed again and again during writes, every client still receives every change', async () => {
    const instances = await Promise.all([startInstance(database.url), startInstance(database.url)]);
    const clients = await Promise.all(instances.flatMap((instance) => [WsClient.connect(instance.wsUrl), WsClient.connect(instance.wsUrl)]));
    await instances[0]!.api.post('/sessions', { session_id: 'killed-listener', session_name: 'x' });
    const writer = startWriter(instances, 'killed-listener');
    let killed = 0;
    const killedPids: number[] = [];
    for (let round = 0; round < 5; round++) {
      // Each round: both listeners are back, and writes are going on, when they are killed again.
      await waitUntil(() => instances.every((instance) => instance.service.listener.listening), 'both listeners are listening');
      await writer.answered(201, 3);
      killed += await terminateListeners(database, killedPids, instances.length);
    }
    await writer.answered(201, 3);
    await writer.stop();
    const written = writer.stored.length;
    await sentinel(instances[0]!, clients, 'killed-listener');
    for (const client of clients) {
      expect(beforeSentinel(client, 'killed-listener').map((m) => m.data.id)).toEqual(writer.stored);
      expect(consecutive(client.live)).toBe(true);
    }
    expect(killed).toBe(10);
    process.stdout.write(
      `listener killed ${killed} times: ${written} events written, delivered per client ${clients.map((c) => eventsOf(c, 'killed-listener').length).join('/')}\n`,
    );
    clients.forEach((client) => client.close());
  });

  it('three instances with clients on each and concurrent writers on each deliver the identical sequence', async () => {
    const instances = await Promise.all([startInstance(database.url), startInstance(database.url), startInstance(database.url)]);
    const clients = await Promise.all(instances.flatMap((instance) => [WsClient.connect(instance.wsUrl), WsClient.connect(instance.wsUrl)]));
    const ids = ['tri-a', 'tri-b', 'tri-c'];
    await Promise.all(ids.map((id, i) => instances[i]!.api.post('/sessions', { session_id: id, session_name: id })));
    await Promise.all(
      ids.map(async (id, i) => {
        const api = instances[i]!.api;
        for (let n = 0; n < 60; n++) {
          const writes = [api.post(`/sessions/${id}/events`, { event_type: 'message', reason: String(n) })];
          if (n % 20 === 0) writes.push(api.patch(`/sessions/${id}`, { agent_name: `agent ${n}` }));
          for (const reply of await Promise.all(writes)) expect(reply.status).toBeLessThan(300);
        }
      }),
    );
    const expected = 3 * (1 + 60 + 3);
    for (const client of clients) await client.waitFor(() => client.live.length >= expected);
    for (const client of clients) {
      expect(client.live).toEqual(clients[0]!.live);
      expect(consecutive(client.live)).toBe(true);
    }
    clients.forEach((client) => client.close());
  });

  it('a client that does not read is closed with 1013 while the others keep receiving', async () => {
    // The cut-off client keeps its socket until the test reads again, however long the writes take here.
    const instance = await startInstance(database.url, { wsMaxBacklogBytes: 512 * 1024 }, { hub: { closeGraceMs: 10 * 60_000 } });
    const reader = await WsClient.connect(instance.wsUrl);
    const stalled = await WsClient.connect(instance.wsUrl);
    (stalled.socket as unknown as { _socket: net.Socket })._socket.pause();
    const api = instance.api;
    await api.post('/sessions', { session_id: 'slow-reader', session_name: 'x' });
    const big = 'y'.repeat(256 * 1024);
    for (let i = 0; i < 60; i++) expect((await api.post('/sessions/slow-reader/events', { event_type: 'post_tool', tool_output: big })).status).toBe(201);
    await waitUntil(() => instance.service.hub.size === 1, 'the stalled client is cut off');
    // Reading again at once, it gets what was sent before the cut, then the close frame.
    (stalled.socket as unknown as { _socket: net.Socket })._socket.resume();
    await reader.waitFor(() => eventsOf(reader, 'slow-reader').length === 60);
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
    let pings = 0;
    answering.socket.on('ping', () => (pings += 1));
    const silent = await WsClient.connect(instance.wsUrl);
    // A paused socket reads nothing, so it never sees a ping and never answers one.
    (silent.socket as unknown as { _socket: net.Socket })._socket.pause();
    await waitUntil(() => instance.service.hub.size === 1, 'the silent client is dropped');
    // Three more rounds of pings, each answered: the answering client is kept.
    const seen = pings;
    await waitUntil(() => pings >= seen + 3, 'the answering client has been pinged three more times');
    expect(answering.closeCode).toBeUndefined();
    expect(instance.service.hub.size).toBe(1);
    // Paused, it would never read the end of its connection.
    silent.socket.terminate();
    answering.close();
  });

  it('a client whose pong came while the server was busy is kept', async () => {
    const instance = await startInstance(database.url, { wsPingIntervalMs: 200 });
    // In a process of its own, so it answers pings while this one is held.
    const child = spawn(
      process.execPath,
      [
        '-e',
        `
      const socket = new (require('ws'))(process.argv[1]);
      socket.on('ping', () => process.stdout.write('ping\\n'));
      socket.on('close', (code) => { process.stdout.write('closed ' + code + '\\n'); process.exit(0); });
    `,
        instance.wsUrl,
      ],
      { cwd: path.join(__dirname, '..'), stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let output = '';
    child.stdout.on('data', (data) => (output += data));
    try {
      await waitUntil(() => instance.service.hub.size === 1, 'the client is connected');
      // After each ping is sent, hold the event loop past the next ping time (as a long broadcast would), so
      // the overdue timer comes round before the pong has been read.
      const ping = WebSocket.prototype.ping;
      let held = 0;
      WebSocket.prototype.ping = function (this: WebSocket, ...args: Parameters<WebSocket['ping']>) {
        ping.apply(this, args);
        setImmediate(() => {
          held += 1;
          const until = Date.now() + 500;
          while (Date.now() < until);
        });
      };
      try {
        await waitUntil(() => held >= 3 || instance.service.hub.size === 0, 'the loop has been held after three pings');
      } finally {
        WebSocket.prototype.ping = ping;
      }
      expect(output).not.toContain('closed');
      expect(instance.service.hub.size).toBe(1);
    } finally {
      child.kill();
    }
  });

  it('a half-open LISTEN link is found by the heartbeat; after it heals, the missed changes arrive', async () => {
    const { proxy, url } = await TcpProxy.forUrl(database.url);
    const behindProxy = await startInstance(url, { listenHeartbeatMs: 300 });
    const direct = await startInstance(database.url);
    const client = await WsClient.connect(behindProxy.wsUrl);
    const api = direct.api;
    expect((await behindProxy.api.get('/ready')).status).toBe(200);

    proxy.freeze();
    await api.post('/sessions', { session_id: 'half-open', session_name: 'x' });
    for (let i = 0; i < 5; i++) await api.post('/sessions/half-open/events', { event_type: 'message' });
    await waitUntil(() => !behindProxy.service.listener.listening, 'the heartbeat finds the link dead');
    const notReady = await behindProxy.api.get('/ready');
    expect(notReady.status).toBe(503);
    expect((await behindProxy.api.get('/health')).status).toBe(200);

    proxy.thaw();
    await client.waitFor(() => client.live.length >= 6);
    expect(client.live.map((m) => m.type)).toEqual(['session_created', 'event', 'event', 'event', 'event', 'event']);
    expect((await behindProxy.api.get('/ready')).status).toBe(200);
    client.close();
    await behindProxy.close();
    await proxy.cut();
  }, 120_000);
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
        output += chunk.toString('utf8');
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
    expect((await instances[0]!.api.post('/sessions', { session_id: 'outage', session_name: 'x' })).status).toBe(201);

    const writer = startWriter(instances, 'outage');
    await writer.answered(201, 5);
    await stopCluster();
    await writer.answered(503, 5);
    await startCluster(port);
    await writer.answered(201, 5);
    await writer.stop();

    const statuses = Object.fromEntries(writer.statuses);
    expect(Object.keys(statuses).sort()).toEqual(['201', '503']);
    const written = writer.stored.length;
    const stored = (await instances[0]!.api.get('/sessions/outage/events')).body.events.map((e: { id: number }) => e.id);
    expect(stored).toEqual(expect.arrayContaining(writer.stored));
    await sentinel(instances[0]!, clients, 'outage');
    for (const client of clients) {
      expect(beforeSentinel(client, 'outage').map((m) => m.data.id)).toEqual(stored);
      expect(consecutive(client.live)).toBe(true);
    }
    process.stdout.write(
      `postgres restarted under load: statuses ${JSON.stringify(statuses)}, ${written} writes acknowledged, ${stored.length} stored, delivered per client ${clients.map((c) => eventsOf(c, 'outage').length).join('/')}\n`,
    );
    clients.forEach((client) => client.close());
    await Promise.all(instances.map((instance) => instance.close()));
  }, 120_000);
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
