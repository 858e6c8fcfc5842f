// The compose smoke test: builds and runs docker-compose.yml for real and checks what only a run can show.
//   node test/compose/smoke.js        (needs a Docker daemon and `docker compose` or `docker-compose`)
// 1. single: `up --build -d` → /health, the image's own health check, a session and its events through REST,
//    a WebSocket client sees them; the image runs as non-root without dev dependencies; ports on 127.0.0.1 only.
// 2. scaled: `--profile scaled up -d` → 3 replicas by default; a write through the load balancer reaches a
//    WebSocket client inside every replica (over `docker exec`), one through the load balancer and one on `app`.
// 3. `restart postgres` while two writers post events → every acknowledged event is stored and relayed.
// 4. `down`, then `up` → the data is still there (the volume).
// Always `down -v` at the end. Its own project name and free host ports, so it never meets a running stack.
// Containers are reached only through ports published on 127.0.0.1 or `docker exec`, never bridge addresses.
'use strict';

const { spawn, spawnSync } = require('node:child_process');
const { randomBytes } = require('node:crypto');
const net = require('node:net');
const fs = require('node:fs');
const path = require('node:path');
const readline = require('node:readline');
const WebSocket = require('ws');

const ROOT = path.join(__dirname, '..', '..');
const PROJECT = `asmsmoke${process.pid}`;
const IMAGE = 'agent-session-manager:local';
const REPLICAS = 3; // deploy.replicas of the `replica` service
const started = Date.now();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`;

function log(message) {
  process.stdout.write(`[compose smoke ${seconds(Date.now() - started).padStart(7)}] ${message}\n`);
}

class Failure extends Error {}
function check(condition, message) {
  if (!condition) throw new Failure(message);
}

/** `docker compose` (v2) if the plugin answers, else `docker-compose` (v1); both read the same file. */
function composeCommand() {
  if (spawnSync('docker', ['compose', 'version'], { stdio: 'ignore' }).status === 0) return ['docker', 'compose'];
  if (spawnSync('docker-compose', ['version'], { stdio: 'ignore' }).status === 0) return ['docker-compose'];
  throw new Failure('neither `docker compose` nor `docker-compose` is installed');
}

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/** Runs a command to its end; its output is kept for the failure report, not printed. */
function run(command, args, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(output);
      else reject(new Failure(`${command} ${args.join(' ')} exited with ${code}:\n${output.slice(-4000)}`));
    });
  });
}

/** Resolves once `probe()` returns something truthy; fails with `what` after `timeoutMs`. */
async function until(what, probe, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value) return value;
    if (Date.now() > deadline) throw new Failure(`gave up waiting for ${what} after ${seconds(timeoutMs)}`);
    await sleep(500);
  }
}

/** Every message a WebSocket client received, in order, and a way to wait for the ones a check needs. */
class Feed {
  constructor(name) {
    this.name = name;
    this.messages = [];
    this.closed = undefined;
    this.waiters = new Set();
  }
  push(message) {
    this.messages.push(message);
    for (const waiter of this.waiters) waiter();
  }
  close(reason) {
    this.closed = reason;
    for (const waiter of this.waiters) waiter();
  }
  /** Resolves when `done(messages)` holds; fails after `timeoutMs`, or at once if the feed closed. */
  waitFor(what, done, timeoutMs = 30_000) {
    return new Promise((resolve, reject) => {
      const finish = (error) => {
        clearTimeout(timer);
        this.waiters.delete(probe);
        if (error) reject(error);
        else resolve(this.messages);
      };
      const probe = () => {
        if (done(this.messages)) finish();
        else if (this.closed !== undefined) finish(new Failure(`${this.name}: closed (${this.closed}) before ${what}`));
      };
      const timer = setTimeout(() => finish(new Failure(`${this.name}: no ${what} within ${seconds(timeoutMs)} (${this.messages.length} messages)`)), timeoutMs);
      this.waiters.add(probe);
      probe();
    });
  }
  /** Waits for the first message, `init`: from then on the client is sure to see every change. */
  ready() {
    return this.waitFor('init', (messages) => messages.length > 0 && messages[0].type === 'init');
  }
}

/** A frame as a message; anything that is not JSON is kept as text, so a stray line fails a check, not the run. */
function parse(text) {
  try {
    return JSON.parse(text);
  } catch {
    return { type: 'unparsed', text: String(text).slice(0, 200) };
  }
}

const eventsOf = (sessionId) => (messages) => messages.filter((m) => m.type === 'event' && m.data.session_id === sessionId);
const saw = (type, sessionId) => (messages) => messages.some((m) => m.type === type && m.session?.session_id === sessionId);

/** A WebSocket client in this process, on a port published on 127.0.0.1. */
function connectFeed(name, url, origin) {
  const feed = new Feed(name);
  // With an Origin, as a page would open it: the server takes only its own origin (and CORS_ORIGINS).
  const socket = new WebSocket(url, origin ? { origin } : {});
  socket.on('message', (data) => feed.push(parse(String(data))));
  socket.on('close', (code) => feed.close(`code ${code}`));
  socket.on('error', (err) => feed.close(err.message));
  feed.stop = () => socket.terminate();
  return feed;
}

// Runs inside an app container with its own node and `ws`: one JSON message per line on stdout; it ends
// when its stdin does, so stopping the `docker exec` ends it.
const IN_CONTAINER_CLIENT = `
const WebSocket = require('ws');
const ws = new WebSocket('ws://127.0.0.1:' + (process.env.PORT || 8765) + '/ws');
ws.on('message', (data) => process.stdout.write(String(data) + '\\n'));
ws.on('close', (code) => { process.stderr.write('closed ' + code + '\\n'); process.exit(1); });
ws.on('error', (err) => { process.stderr.write(String(err) + '\\n'); process.exit(1); });
process.stdin.on('end', () => process.exit(0)).resume();
`;

/** A WebSocket client inside a container (which publishes no port), run through `docker exec`. */
function connectFeedInside(name, containerId) {
  const feed = new Feed(name);
  const child = spawn('docker', ['exec', '-i', containerId, 'node', '-e', IN_CONTAINER_CLIENT], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  readline.createInterface({ input: child.stdout }).on('line', (line) => feed.push(parse(line)));
  child.on('close', (code) => feed.close(`docker exec exited with ${code}: ${stderr.trim()}`));
  feed.stop = () => {
    child.stdin.end();
    child.kill();
  };
  return feed;
}

async function request(base, method, pathname, body) {
  const response = await fetch(base + pathname, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  const json = (response.headers.get('content-type') ?? '').includes('json');
  return { status: response.status, body: json && text ? JSON.parse(text) : text };
}

async function expectStatus(expected, base, method, pathname, body) {
  const response = await request(base, method, pathname, body);
  check(response.status === expected, `${method} ${base}${pathname}: expected ${expected}, got ${response.status} ${JSON.stringify(response.body)}`);
  return response.body;
}

/** Every stored event of a session, page by page. */
async function storedEvents(base, sessionId) {
  const events = [];
  let after = 0;
  for (;;) {
    const page = await expectStatus(200, base, 'GET', `/sessions/${sessionId}/events?after=${after}&limit=10000`);
    events.push(...page.events);
    if (page.next_after === null) return events;
    after = page.next_after;
  }
}

const message = (text, eventId) => ({
  event_type: 'message',
  timestamp: new Date().toISOString(),
  role: 'assistant',
  content: [{ type: 'text', text }],
  ...(eventId ? { event_id: eventId } : {}),
});

async function main() {
  const compose = composeCommand();
  const env = { COMPOSE_PROJECT_NAME: PROJECT, APP_PORT: String(await freePort()), LB_PORT: String(await freePort()) };
  const app = `http://127.0.0.1:${env.APP_PORT}`;
  const lb = `http://127.0.0.1:${env.LB_PORT}`;
  const dc = (...args) => run(compose[0], [...compose.slice(1), ...args], env);
  const scaled = (...args) => dc('--profile', 'scaled', ...args);
  const idsOf = async (service) =>
    (await scaled('ps', '-q', service))
      .split('\n')
      .map((id) => id.trim())
      .filter(Boolean);
  const inspect = async (id) => JSON.parse(await run('docker', ['inspect', id]))[0];
  const healthy = async (service, count = 1) => {
    const ids = await idsOf(service);
    if (ids.length < count) return false;
    const states = await Promise.all(ids.map(async (id) => (await inspect(id)).State));
    return states.every((state) => state.Running && state.Health?.Status === 'healthy');
  };
  const feeds = [];
  const figures = {};

  const cleanUp = async () => {
    for (const feed of feeds) feed.stop();
    log('down -v');
    await scaled('down', '-v', '--remove-orphans', '--timeout', '10').catch((err) => log(`down -v failed: ${err.message}`));
  };
  const printContainers = async () => {
    const ids = (await run('docker', ['ps', '-aq', '--filter', `label=com.docker.compose.project=${PROJECT}`]).catch(() => '')).split('\n').filter(Boolean);
    for (const id of ids) {
      const info = await inspect(id).catch(() => undefined);
      if (!info) continue;
      const state = `${info.State.Status}${info.State.Health ? `, ${info.State.Health.Status}` : ''}, exit code ${info.State.ExitCode}, restarts ${info.RestartCount}`;
      const failing = !info.State.Running || (info.State.Health && info.State.Health.Status !== 'healthy') || info.RestartCount > 0;
      process.stdout.write(`\n----- ${info.Name.slice(1)} (${state})${failing ? ' FAILING' : ''}: last log lines -----\n`);
      const logs = spawnSync('docker', ['logs', '--tail', failing ? '200' : '30', id], { encoding: 'utf8' });
      process.stdout.write(`${logs.stdout}${logs.stderr}`);
    }
  };
  let ending = false;
  const fail = async (err) => {
    if (ending) return;
    ending = true;
    process.stdout.write(`\ncompose smoke FAILED: ${err instanceof Failure ? err.message : (err?.stack ?? err)}\n`);
    await printContainers();
    await cleanUp();
    process.exit(1);
  };
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.on(signal, () => {
      if (ending) return;
      ending = true;
      log(`${signal}: cleaning up`);
      void cleanUp().then(() => process.exit(130));
    });
  }
  // Whatever goes wrong outside the steps below still ends with `down -v`.
  process.on('uncaughtException', (err) => void fail(err));
  process.on('unhandledRejection', (err) => void fail(err));

  log(`${compose.join(' ')}, project ${PROJECT}, app on ${app}, load balancer on ${lb}`);
  try {
    // ---- 1. a single instance ---------------------------------------------------------------------------
    const t0 = Date.now();
    await dc('up', '--build', '-d');
    await until('postgres and app to be healthy', async () => (await healthy('postgres')) && (await healthy('app')));
    await expectStatus(200, app, 'GET', '/health');
    await until('/ready', async () => (await request(app, 'GET', '/ready')).status === 200, 30_000);
    figures.healthy = Date.now() - t0;
    log(`stack healthy ${seconds(figures.healthy)} after \`up --build\` (build included)`);

    const size = (await inspect(IMAGE)).Size;
    figures.imageMb = Math.round(size / 1e6);
    const [appId] = await idsOf('app');
    const uid = (await run('docker', ['exec', appId, 'id', '-u'])).trim();
    check(uid !== '0', `the app runs as root`);
    // Dev-only as the lockfile says: a devDependency that a production dependency also needs belongs there.
    const lock = JSON.parse(fs.readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8'));
    const devOnly = Object.entries(lock.packages)
      .filter(([where, entry]) => entry.dev && /^node_modules\/(@[^/]+\/)?[^/]+$/.test(where))
      .map(([where]) => where.slice('node_modules/'.length));
    const devInImage = (
      await run('docker', [
        'exec',
        appId,
        'node',
        '-e',
        "const fs=require('fs');console.log(process.argv.slice(1).filter(n=>fs.existsSync('node_modules/'+n)).join(' '))",
        ...devOnly,
      ])
    ).trim();
    check(devInImage === '', `dev dependencies in the image: ${devInImage}`);
    log(`image ${IMAGE}: ${figures.imageMb} MB, runs as uid ${uid}, no dev dependencies, health check healthy`);

    const single = connectFeed('ws on app', `ws://127.0.0.1:${env.APP_PORT}/ws`);
    feeds.push(single);
    await single.ready();
    const first = `smoke-${randomBytes(4).toString('hex')}`;
    await expectStatus(201, app, 'POST', '/sessions', { session_id: first, session_name: 'compose smoke', project_dir: '/srv/smoke' });
    await expectStatus(201, app, 'POST', `/sessions/${first}/events`, message('Hello from compose'));
    await expectStatus(201, app, 'POST', `/sessions/${first}/events`, { event_type: 'session_stop', exit_code: 0 });
    const { session } = await expectStatus(200, app, 'GET', `/sessions/${first}`);
    check(session.status === 'finished' && session.event_count === 2, `session after its stop: ${JSON.stringify(session)}`);
    const result = await expectStatus(200, app, 'GET', `/sessions/${first}/result`);
    check(result.result === 'Hello from compose', `result: ${JSON.stringify(result)}`);
    await single.waitFor('the session, its two events and its stop', (m) => saw('session_created', first)(m) && eventsOf(first)(m).length === 2);
    log('REST: session, event and stop stored; WebSocket on app saw all of them');

    // ---- 2. scaled: replicas behind the load balancer ----------------------------------------------------
    const t1 = Date.now();
    await scaled('up', '-d');
    await until(`${REPLICAS} healthy replicas and the load balancer`, async () => (await healthy('replica', REPLICAS)) && (await healthy('lb')));
    const replicaIds = await idsOf('replica');
    check(replicaIds.length === REPLICAS, `expected ${REPLICAS} replicas by default, found ${replicaIds.length}`);
    await expectStatus(200, lb, 'GET', '/lb-health');
    await until('the load balancer to reach a replica', async () => (await request(lb, 'GET', '/ready')).status === 200, 30_000);
    figures.scaled = Date.now() - t1;
    log(`scaled profile healthy in ${seconds(figures.scaled)}: ${REPLICAS} replicas, load balancer, app`);

    for (const container of [...(await idsOf('postgres')), appId, ...replicaIds, ...(await idsOf('lb'))]) {
      const bindings = Object.values((await inspect(container)).NetworkSettings.Ports ?? {})
        .flat()
        .filter(Boolean);
      for (const binding of bindings) check(binding.HostIp === '127.0.0.1', `${container} publishes on ${binding.HostIp}:${binding.HostPort}`);
    }

    const fanOut = [
      single,
      // As the dashboard served through the load balancer opens it: nginx must pass the Host with its port.
      connectFeed('ws through the load balancer', `ws://127.0.0.1:${env.LB_PORT}/ws`, lb),
      ...replicaIds.map((id, i) => connectFeedInside(`ws inside replica ${i + 1}`, id)),
    ];
    feeds.push(...fanOut.slice(1));
    await Promise.all(fanOut.map((feed) => feed.ready()));
    const second = `smoke-${randomBytes(4).toString('hex')}`;
    await expectStatus(201, lb, 'POST', '/sessions', { session_id: second, session_name: 'through the load balancer' });
    await expectStatus(201, lb, 'POST', `/sessions/${second}/events`, message('fan-out'));
    await Promise.all(fanOut.map((feed) => feed.waitFor('the write made through the load balancer', (m) => saw('session_created', second)(m) && eventsOf(second)(m).length === 1)));
    log(`a write through the load balancer reached all ${fanOut.length} WebSocket clients (app, load balancer, each replica)`);

    // The load balancer lets through every body the app accepts (MAX_BODY_BYTES, 8 MiB) and refuses larger
    // ones itself, in the API's own error shape.
    const limit = 8 * 1024 * 1024;
    const padded = (bytes) => {
      const body = message('');
      body.content[0].text = 'x'.repeat(bytes - Buffer.byteLength(JSON.stringify(body)));
      return body;
    };
    await expectStatus(201, lb, 'POST', `/sessions/${second}/events`, padded(limit - 1));
    const tooLarge = await expectStatus(413, lb, 'POST', `/sessions/${second}/events`, padded(limit + 1));
    check(typeof tooLarge?.detail === 'string', `413 without a JSON detail: ${JSON.stringify(tooLarge).slice(0, 200)}`);
    log('the load balancer passes a body of 8 MiB - 1 byte and answers 413 with a detail to one byte more');

    // ---- 3. PostgreSQL restarts while writes go on -------------------------------------------------------
    const third = `smoke-${randomBytes(4).toString('hex')}`;
    await expectStatus(201, app, 'POST', '/sessions', { session_id: third, session_name: 'writes across a restart' });
    const acknowledged = new Set();
    let refused = 0;
    let writing = true;
    let restarted = false;
    let acknowledgedAfterRestart = 0;
    const writer = async (name, base) => {
      for (let n = 0; writing; n++) {
        const eventId = `${name}-${n}`;
        try {
          const { status } = await request(base, 'POST', `/sessions/${third}/events`, message(eventId, eventId));
          if (status === 200 || status === 201) {
            acknowledged.add(eventId);
            if (restarted) acknowledgedAfterRestart++;
            continue;
          }
        } catch {
          // A connection cut by the restart: not acknowledged.
        }
        refused++;
        await sleep(100);
      }
    };
    const writers = [writer('app', app), writer('lb', lb)];
    await until('writes before the restart', async () => acknowledged.size >= 20, 30_000);
    log(`restart postgres while two writers post (${acknowledged.size} acknowledged so far)`);
    await dc('restart', 'postgres');
    restarted = true;
    await until('writes to be acknowledged again after the restart', async () => acknowledgedAfterRestart >= 20);
    writing = false;
    await Promise.all(writers);
    const stored = new Set((await storedEvents(app, third)).map((event) => event.event_id));
    const lost = [...acknowledged].filter((id) => !stored.has(id));
    check(lost.length === 0, `acknowledged but not stored: ${lost.join(', ')}`);
    for (const feed of fanOut) {
      await feed.waitFor('every acknowledged event of the restart', (m) => {
        const seen = new Set(eventsOf(third)(m).map((message) => message.data.event_id));
        return [...acknowledged].every((id) => seen.has(id));
      });
    }
    for (const id of [appId, ...replicaIds]) {
      const info = await inspect(id);
      check(info.State.Running && info.RestartCount === 0, `${info.Name} did not ride out the restart: ${info.State.Status}, ${info.RestartCount} restarts`);
    }
    log(
      `every one of ${acknowledged.size} acknowledged writes is stored and reached the WebSocket clients ` +
        `(${refused} refused while PostgreSQL was down; no instance restarted)`,
    );

    // ---- 4. the volume outlives the containers -----------------------------------------------------------
    for (const feed of feeds) feed.stop();
    feeds.length = 0;
    await scaled('down', '--timeout', '10');
    await dc('up', '-d');
    await until('the stack to be healthy again', async () => (await healthy('postgres')) && (await healthy('app')));
    const again = await storedEvents(app, third);
    check(again.length === stored.size, `after down and up: ${again.length} events, before: ${stored.size}`);
    const { session: firstAgain } = await expectStatus(200, app, 'GET', `/sessions/${first}`);
    check(firstAgain.status === 'finished' && firstAgain.event_count === 2, `first session after down and up: ${JSON.stringify(firstAgain)}`);
    log(`down, then up: the sessions and all ${again.length} events written across the restart are still there`);
  } catch (err) {
    await fail(err);
    return;
  }
  ending = true;
  await cleanUp();
  log(`PASSED — image ${figures.imageMb} MB; stack healthy ${seconds(figures.healthy)} after \`up --build\`; ` + `scaled profile healthy in ${seconds(figures.scaled)}`);
}

void main();
