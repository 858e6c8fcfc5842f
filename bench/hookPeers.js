/**
 * Bench steps set beside a peer's figures (issue 25: a single-process hook server that does not fsync):
 * - measureHookThroughput: Claude Code hooks from 32 connections as fast as they are answered (closed loop),
 *   2 KB Bash outputs over 100 sessions, every hook durable before its answer: hooks/s, latency, CPU per hook.
 * - measureHookFanOut: 100 WebSocket clients watching while hooks arrive at 200 a second (open loop): the time
 *   from each hook's answer to its event reaching a client, and CPU per event (server and PostgreSQL).
 *
 * Alone: `npm run build && node bench/hookPeers.js` (BENCH_DATABASE_URL or TEST_DATABASE_URL, else an embedded
 * PostgreSQL). bench/run.js calls both as steps (hooks_32x100, hooks_fanout_100).
 */
'use strict';

const WebSocket = require('ws');
const { Pool: HttpPool } = require('undici');
const { sleep, stats, round, openDatabase, startServer, stopProcess } = require('./support');
const { NO_METER } = require('./meter');
const { hookSource } = require('./hooks');

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const HOOKS_PATH = '/hooks/claude-code';

/** What identifies a hook's event on the feed: its type, role and tool call or turn (hookSource makes them unique). */
function hookKey(body) {
  const hook = JSON.parse(body);
  const type = { UserPromptSubmit: 'message:user', Stop: 'message:assistant', PreToolUse: 'pre_tool', PostToolUse: 'post_tool' }[hook.hook_event_name];
  return `${type}:${hook.tool_use_id ?? hook.prompt_id}`;
}

function eventKey(text) {
  const field = (name) => new RegExp(`"${name}"\\s*:\\s*"([^"]*)"`).exec(text)?.[1];
  const type = field('event_type');
  const role = field('role');
  return `${type === 'message' ? `message:${role}` : type}:${field('tool_use_id') ?? field('prompt_id')}`;
}

/** Hooks from `connections` senders, each sending its next hook when the last is answered, for `seconds`. */
async function measureHookThroughput(server, { connections = 32, sessions = 100, seconds = SECONDS, meter = NO_METER } = {}) {
  const http = new HttpPool(server.baseUrl, { connections, pipelining: 1 });
  const next = hookSource(sessions);
  const run = async (ms, into) => {
    const until = performance.now() + ms;
    let errors = 0;
    await Promise.all(
      Array.from({ length: connections }, async () => {
        while (performance.now() < until) {
          const started = performance.now();
          try {
            const reply = await http.request({ method: 'POST', path: HOOKS_PATH, headers: { 'content-type': 'application/json' }, body: next() });
            await reply.body.dump();
            if (reply.statusCode === 200) into?.push(performance.now() - started);
            else errors += 1;
          } catch {
            errors += 1;
          }
        }
      }),
    );
    return errors;
  };
  // Warm-up, not counted: the hook path compiled, the sessions created.
  await run(2000);
  const latencies = [];
  const window = await meter.begin();
  const started = performance.now();
  const errors = await run(seconds * 1000, latencies);
  const elapsed = (performance.now() - started) / 1000;
  const usage = await window.end(latencies.length, 'hook');
  await http.close();
  const s = stats(latencies);
  return {
    connections,
    sessions,
    hooks: latencies.length,
    hooks_per_s: round(latencies.length / elapsed, 0),
    p50_ms: round(s.p50, 2),
    p99_ms: round(s.p99, 2),
    max_ms: round(s.max, 1),
    errors,
    ...usage,
  };
}

/** `clients` WebSocket clients; `sampled` of them read each event's key (the rest count what they get). */
async function connectWatchers(url, clients, sampled) {
  const watchers = [];
  for (let i = 0; i < clients; i++) {
    const socket = new WebSocket(url, { skipUTF8Validation: true });
    const watcher = { socket, received: new Map(), count: 0 };
    socket.on('message', (data) => {
      // Events only (a hook that changes its session's status also sends a session message).
      if (!data.toString('latin1', 0, 16).startsWith('{"type":"event"')) return;
      watcher.count += 1;
      if (i < sampled) watcher.received.set(eventKey(data.toString()), performance.now());
    });
    await new Promise((resolve, reject) => {
      socket.once('message', resolve);
      socket.once('error', reject);
    });
    watcher.count = 0;
    watchers.push(watcher);
  }
  return watchers;
}

/** Hooks at `rate` a second while `clients` WebSocket clients watch: delivery latency from each hook's answer. */
async function measureHookFanOut(server, { clients = 100, rate = 200, sessions = 100, seconds = SECONDS, sampled = 10, meter = NO_METER } = {}) {
  const http = new HttpPool(server.baseUrl, { connections: 64, pipelining: 1 });
  const next = hookSource(sessions);
  // The sessions exist before the clients connect, so what is measured is events, not new sessions' rows.
  for (let i = 0; i < sessions; i++) {
    const reply = await http.request({ method: 'POST', path: HOOKS_PATH, headers: { 'content-type': 'application/json' }, body: next() });
    await reply.body.dump();
  }
  const watchers = await connectWatchers(server.wsUrl, clients, sampled);
  const answered = new Map();
  let errors = 0;
  const window = await meter.begin();
  const started = performance.now() + 50;
  const total = rate * seconds;
  const inFlight = [];
  for (let i = 0; i < total; i++) {
    const wait = started + (i * 1000) / rate - performance.now();
    if (wait > 1) await sleep(wait);
    const body = next();
    const key = hookKey(body);
    inFlight.push(
      http
        .request({ method: 'POST', path: HOOKS_PATH, headers: { 'content-type': 'application/json' }, body })
        .then(async (reply) => {
          await reply.body.dump();
          if (reply.statusCode === 200) answered.set(key, performance.now());
          else errors += 1;
        })
        .catch(() => {
          errors += 1;
        }),
    );
  }
  await Promise.all(inFlight);
  const expected = answered.size * clients;
  const deadline = Date.now() + 10_000;
  const delivered = () => watchers.reduce((sum, watcher) => sum + watcher.count, 0);
  while (delivered() < expected && Date.now() < deadline) await sleep(100);
  window.stop();
  const latencies = [];
  for (const watcher of watchers.slice(0, sampled)) {
    for (const [key, at] of watcher.received) {
      const answeredAt = answered.get(key);
      if (answeredAt !== undefined) latencies.push(Math.max(0, at - answeredAt));
    }
  }
  const usage = await window.end(answered.size, 'event');
  watchers.forEach((watcher) => watcher.socket.terminate());
  await http.close();
  const s = stats(latencies);
  return {
    clients,
    rate_per_s: rate,
    events: answered.size,
    expected_deliveries: expected,
    received: delivered(),
    p50_ms: round(s.p50, 2),
    p99_ms: round(s.p99, 2),
    max_ms: round(s.max, 1),
    errors,
    ...usage,
  };
}

module.exports = { measureHookThroughput, measureHookFanOut };

async function main() {
  const database = await openDatabase();
  const server = await startServer(database.url);
  try {
    const throughput = await measureHookThroughput(server);
    process.stdout.write(`hooks from 32 connections: ${throughput.hooks_per_s}/s, p50 ${throughput.p50_ms} ms, p99 ${throughput.p99_ms} ms, ${throughput.errors} errors\n`);
    const fanOut = await measureHookFanOut(server);
    process.stdout.write(`100 clients, hooks at 200/s: delivery p50 ${fanOut.p50_ms} ms, p99 ${fanOut.p99_ms} ms; ${fanOut.received}/${fanOut.expected_deliveries} delivered\n`);
  } finally {
    await stopProcess(server.child);
    await database.close();
  }
}

if (require.main === module) {
  main().catch((err) => {
    process.stderr.write(`bench failed: ${err.stack ?? err}\n`);
    process.exit(1);
  });
}
