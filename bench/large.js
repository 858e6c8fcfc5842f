// npm run bench:large: memory and latency of one server process while clients read very large data.
//   1. 80 events of 7 MB in one session and 80 sessions with a 7 MB project_dir (written with SQL, as data
//      stored before the 4 KiB limit would be): the heavier reader mix of issue 24 at once — six page
//      readers (?limit=70), five /ws?since= replays, four whole inits, two exports, two searches and a whole
//      GET /sessions — while a writer posts 7 MB events and GET /sessions/{id}/status is timed.
//   2. Sixteen concurrent 60 MB hooks (HOOKS_LARGE_MB, HOOKS_LARGE_COUNT): admitted against the hook byte
//      budget; peak RSS, answers by status, and /health timed meanwhile.
//   3. 100,000 sessions: a whole GET /sessions and a whole init, timed.
// The server's RSS is sampled from /proc every 20 ms. Needs a PostgreSQL it may create a database on
// (BENCH_DATABASE_URL or TEST_DATABASE_URL), else it starts an embedded one.
'use strict';

const http = require('node:http');
const pg = require('pg');
const { Worker } = require('node:worker_threads');
const WebSocket = require('ws');
const { migrate } = require('../dist/db/migrate.js');
const { quiet, sleep, stats, round, openDatabase, startServer, rssMegabytes } = require('./support');

const MB = 1024 * 1024;
// LARGE_MB=1 for a quicker run of the same shape.
const VALUE_MB = Number(process.env.LARGE_MB ?? 7);
// 7 MB events the writer posts while the readers read.
const WRITES = Number(process.env.LARGE_WRITES ?? 10);
const HOOK_MB = Number(process.env.HOOKS_LARGE_MB ?? 60);
const HOOK_COUNT = Number(process.env.HOOKS_LARGE_COUNT ?? 16);

/** Samples a process's RSS until stopped; returns the peak in MB. */
function sampleRss(pid) {
  let peak = rssMegabytes(pid);
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, rssMegabytes(pid));
    } catch {
      // the process ended
    }
  }, 20);
  return { stop: () => (clearInterval(timer), peak) };
}

/** Times GET `url` every 100 ms in a worker thread until stopped; resolves with the times and any 5xx. */
function pollStatus(url) {
  const worker = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads');
     const times = [];
     const errors = [];
     let reading = true;
     parentPort.on('message', () => { reading = false; });
     (async () => {
       while (reading) {
         const started = performance.now();
         const response = await fetch(workerData);
         await response.text();
         if (response.status >= 500) errors.push('status: ' + response.status);
         times.push(performance.now() - started);
         await new Promise((resolve) => setTimeout(resolve, 100));
       }
       parentPort.postMessage({ times, errors });
     })();`,
    { eval: true, workerData: url },
  );
  const result = new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  return { stop: () => (worker.postMessage('stop'), result.finally(() => worker.terminate())) };
}

/** Reads a response body, counting bytes, without keeping it. */
async function drainBody(response) {
  let bytes = 0;
  for await (const chunk of response.body) bytes += chunk.length;
  return bytes;
}

/** Opens /ws with `query` and resolves once `done(message)` says the last wanted message has arrived. */
function readSocket(wsUrl, query, done) {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`${wsUrl}${query}`, { maxPayload: 2 ** 31 - 1, skipUTF8Validation: true });
    let bytes = 0;
    let messages = 0;
    socket.on('message', (data) => {
      bytes += data.length;
      messages += 1;
      if (done(data, messages)) {
        socket.close();
        resolve({ bytes, messages });
      }
    });
    socket.on('close', (code) => reject(new Error(`closed with ${code} after ${messages} messages`)));
    socket.on('error', reject);
  });
}

async function largeValues(server, databaseUrl) {
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  const since = Number((await db.query('select asm_last_seq() as last_seq')).rows[0].last_seq);
  // md5 text repeated: 7 MB a value once decompressed.
  const big = `repeat(md5(i::text), ${(VALUE_MB * MB) / 32})`;
  await db.query("insert into sessions (session_id, session_name) values ('big', 'big')");
  await db.query(`insert into events (session_id, event_type, tool_name, tool_output)
                  select 'big', 'post_tool', 'Bash', to_json(${big}) from generate_series(1, 80) i`);
  await db.query(`insert into sessions (session_id, session_name, project_dir)
                  select 'wide-' || i, 'wide', ${big} from generate_series(1, 80) i`);
  await db.end();
  const eventCount = 80;

  const failures = [];
  const check = (response, what) => {
    if (response.status >= 500) failures.push(`${what}: ${response.status}`);
  };
  const rss = sampleRss(server.child.pid);
  // Timed from a thread of its own: this process's loop is busy parsing the pages it reads, and a poller on
  // it would time that too.
  const statusPoller = pollStatus(`${server.baseUrl}/sessions/big/status`);
  const pageReader = async () => {
    let after = 0;
    let bytes = 0;
    for (;;) {
      const response = await fetch(`${server.baseUrl}/sessions/big/events?limit=70&after=${after}`);
      check(response, 'events page');
      const page = await response.json();
      bytes += JSON.stringify(page.events).length;
      if (page.next_after === null) return bytes;
      after = page.next_after;
    }
  };
  // A writer meanwhile: 7 MB events posted one after another (each within MAX_BODY_BYTES).
  const written = { events: 0 };
  const writer = async () => {
    const body = JSON.stringify({ event_type: 'post_tool', tool_name: 'Bash', tool_output: 'w'.repeat(VALUE_MB * MB - 1024) });
    for (let i = 0; i < WRITES; i++) {
      const response = await fetch(`${server.baseUrl}/sessions/big/events`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
      check(response, 'POST event');
      await response.text();
      if (response.status < 300) written.events += 1;
    }
  };
  const download = (path, what) => fetch(`${server.baseUrl}${path}`).then(async (response) => (check(response, what), drainBody(response)));
  const started = performance.now();
  // Every change since: the big session, its 80 events, the 80 wide sessions.
  const replayLength = 1 + eventCount + 80;
  const [pages, replays, inits, list, exports, searches] = await Promise.all([
    Promise.all(Array.from({ length: 6 }, pageReader)),
    Promise.all(Array.from({ length: 5 }, () => readSocket(server.wsUrl, `?since=${since}`, (_data, n) => n === replayLength))),
    Promise.all(Array.from({ length: 4 }, () => readSocket(server.wsUrl, '', () => true))),
    download('/sessions', 'GET /sessions'),
    Promise.all(Array.from({ length: 2 }, () => download('/sessions/big/export', 'export'))),
    Promise.all(Array.from({ length: 2 }, (_, i) => download(`/search?q=${i === 0 ? 'c4ca4238' : 'nothing-like-this'}`, 'search'))),
    writer(),
  ]);
  const seconds = (performance.now() - started) / 1000;
  const { times: statusTimes, errors: statusErrors } = await statusPoller.stop();
  failures.push(...statusErrors);
  const status = stats(statusTimes);
  return {
    seconds: round(seconds),
    server_peak_rss_mb: round(rss.stop(), 0),
    status_max_ms: round(status.max),
    status_p99_ms: round(status.p99),
    errors_5xx: failures.length,
    events_written: written.events,
    read_mb: {
      pages: round(pages.reduce((a, b) => a + b, 0) / MB, 0),
      replays: round(replays.reduce((a, b) => a + b.bytes, 0) / MB, 0),
      inits: round(inits.reduce((a, b) => a + b.bytes, 0) / MB, 0),
      sessions_list: round(list / MB, 0),
      exports: round(exports.reduce((a, b) => a + b, 0) / MB, 0),
      searches: round(searches.reduce((a, b) => a + b, 0) / MB, 2),
    },
  };
}

/** HOOK_COUNT hooks of HOOK_MB each at once, as Claude Code's http hooks would post a large tool output. */
async function largeHooks(server) {
  // One buffer of the output shared by every request (written between each one's own head and tail), so
  // this process holds 60 MB rather than a copy per hook.
  const output = Buffer.alloc(HOOK_MB * MB, 'h');
  const post = (i) =>
    new Promise((resolve, reject) => {
      const head = Buffer.from(
        JSON.stringify({ session_id: 'hooks-large', hook_event_name: 'PostToolUse', tool_use_id: `toolu_large_${i}`, tool_name: 'Read' }).slice(0, -1) + ',"tool_response":"',
      );
      const tail = Buffer.from('"}');
      const request = http.request(`${server.baseUrl}/hooks/claude-code`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': head.length + output.length + tail.length },
      });
      request.on('response', (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode));
      });
      request.on('error', reject);
      request.write(head);
      request.write(output);
      request.end(tail);
    });
  const rss = sampleRss(server.child.pid);
  const health = pollStatus(`${server.baseUrl}/health`);
  const started = performance.now();
  const answers = await Promise.all(Array.from({ length: HOOK_COUNT }, (_, i) => post(i)));
  const seconds = (performance.now() - started) / 1000;
  const { times, errors } = await health.stop();
  const byStatus = {};
  for (const status of answers) byStatus[status] = (byStatus[status] ?? 0) + 1;
  const healthStats = stats(times);
  return {
    hooks: HOOK_COUNT,
    hook_mb: HOOK_MB,
    seconds: round(seconds),
    answers: byStatus,
    server_peak_rss_mb: round(rss.stop(), 0),
    health_p99_ms: round(healthStats.p99),
    health_max_ms: round(healthStats.max),
    health_5xx: errors.length,
  };
}

async function manySessions(server, databaseUrl) {
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  db.on('error', () => undefined);
  // The first step's sessions would make this list half a gigabyte of project_dir.
  await db.query("delete from sessions where session_id in ('big', 'hooks-large') or session_id like 'wide-%'");
  // A thousand a statement: creating a session takes a lock (see the usage migration), and one transaction
  // holding 100,000 of them would run out of lock slots.
  for (let from = 1; from <= 100_000; from += 1_000) {
    await db.query(
      `insert into sessions (session_id, session_name, project_dir, agent_name)
       select 'many-' || i, 'session ' || i, '/srv/projects/p' || (i % 300), 'agent-' || (i % 3)
       from generate_series($1::int, $1::int + 999) i`,
      [from],
    );
  }
  const total = Number((await db.query('select count(*) from sessions')).rows[0].count);
  await db.query('vacuum analyze sessions');
  await db.end();
  const rss = sampleRss(server.child.pid);
  let started = performance.now();
  const response = await fetch(`${server.baseUrl}/sessions`);
  const body = await response.json();
  const listSeconds = (performance.now() - started) / 1000;
  started = performance.now();
  const init = await readSocket(server.wsUrl, '', () => true);
  const initSeconds = (performance.now() - started) / 1000;
  return {
    sessions: total,
    list_status: response.status,
    list_sessions: body.sessions.length,
    list_seconds: round(listSeconds, 2),
    init_seconds: round(initSeconds, 2),
    init_mb: round(init.bytes / MB, 1),
    server_peak_rss_mb: round(rss.stop(), 0),
  };
}

async function main() {
  const database = await openDatabase();
  await migrate(database.url, quiet);
  // SERVER_NODE_OPTIONS: node flags for the measured server alone (e.g. a heap limit), not for this process.
  const server = await startServer(database.url, process.env.SERVER_NODE_OPTIONS ? { NODE_OPTIONS: process.env.SERVER_NODE_OPTIONS } : {});
  try {
    process.stderr.write('large values…\n');
    const large = await largeValues(server, database.url);
    process.stdout.write(`large values: ${JSON.stringify(large)}\n`);
    if (process.env.LARGE_ONLY === 'values') return;
    process.stderr.write('concurrent large hooks…\n');
    const hooks = await largeHooks(server);
    process.stdout.write(`large hooks: ${JSON.stringify(hooks)}\n`);
    process.stderr.write('100,000 sessions…\n');
    const many = await manySessions(server, database.url);
    process.stdout.write(`many sessions: ${JSON.stringify(many)}\n`);
  } finally {
    server.child.kill('SIGTERM');
    await sleep(500);
    await database.close();
  }
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${err.stack ?? err}\n`);
  process.exit(1);
});
