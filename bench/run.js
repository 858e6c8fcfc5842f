// npm run bench: one run, on this machine, of everything the performance issue measures.
// It starts its own database (BENCH_DATABASE_URL or TEST_DATABASE_URL: a server it may create databases
// on; else an embedded PostgreSQL) and two server instances as child processes, then drives them from
// this process. Load generator and servers share the machine, so ratios matter more than absolutes.
'use strict';

const { writeFileSync } = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const pg = require('pg');
const WebSocket = require('ws');
const { Pool: HttpPool } = require('undici');
const { migrate } = require('../dist/db/migrate.js');
const { SECONDS, quiet, sleep, stats, round, openDatabase, startServer, rssMegabytes } = require('./support');

// About 300 bytes of JSON, like a small tool call.
const eventBody = (i) =>
  JSON.stringify({
    event_type: 'post_tool',
    tool_name: 'Bash',
    tool_input: { command: `ls -la /tmp/project/src/module-${i % 100}` },
    tool_output: { stdout: 'total 48\ndrwxr-xr-x 2 agent agent 4096 index.ts\n-rw-r--r-- 1 agent agent 1204 main.ts', exit: 0 },
    role: 'tool',
  });

async function createSessions(http, prefix, count) {
  const ids = Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
  for (const id of ids) {
    await http.request({ method: 'POST', path: '/sessions', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ session_id: id, session_name: id }) }).then((r) => r.body.dump());
  }
  return ids;
}

/** Single-row inserts, each committing with a NOTIFY, from 16 connections: PostgreSQL's own ceiling. */
async function measureCeiling(databaseUrl) {
  const setup = new pg.Client({ connectionString: databaseUrl });
  await setup.connect();
  await setup.query(`
    create table bench_ceiling (id bigserial primary key, payload text);
    create function bench_notify() returns trigger language plpgsql as $$
    begin perform pg_notify('bench_ceiling', new.id::text); return null; end $$;
    create trigger bench_notify after insert on bench_ceiling for each row execute function bench_notify();`);
  const clients = await Promise.all(Array.from({ length: 16 }, async () => {
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    return client;
  }));
  let count = 0;
  const end = Date.now() + SECONDS * 1000;
  await Promise.all(clients.map(async (client) => {
    while (Date.now() < end) {
      await client.query('insert into bench_ceiling (payload) values ($1)', ['x'.repeat(300)]);
      count += 1;
    }
  }));
  await Promise.all(clients.map((client) => client.end()));
  await setup.query('drop table bench_ceiling; drop function bench_notify();');
  await setup.end();
  return { inserts_per_s: round(count / SECONDS, 0) };
}

/** POST /sessions/{id}/events from `connections` concurrent connections spread over both instances. */
async function measureIngest(servers, connections = 64) {
  const pools = servers.map((server) => new HttpPool(server.baseUrl, { connections: connections / servers.length, pipelining: 1 }));
  const sessions = await createSessions(pools[0], 'ingest', 64);
  const latencies = [];
  let errors = 0;
  let n = 0;
  const end = Date.now() + SECONDS * 1000;
  await Promise.all(Array.from({ length: connections }, async (_, worker) => {
    const pool = pools[worker % pools.length];
    while (Date.now() < end) {
      const i = n++;
      const started = performance.now();
      try {
        const reply = await pool.request({ method: 'POST', path: `/sessions/${sessions[i % sessions.length]}/events`, headers: { 'content-type': 'application/json' }, body: eventBody(i) });
        await reply.body.dump();
        if (reply.statusCode !== 201) errors += 1;
        else latencies.push(performance.now() - started);
      } catch {
        errors += 1;
      }
    }
  }));
  await Promise.all(pools.map((pool) => pool.close()));
  const s = stats(latencies);
  return { events_per_s: round(s.count / SECONDS, 0), p50_ms: round(s.p50, 2), p99_ms: round(s.p99, 2), errors };
}

/** POST /sessions/{id}/events/batch with 1,000 events a request. */
async function measureBatch(servers, connections = 4) {
  const pools = servers.map((server) => new HttpPool(server.baseUrl, { connections: 2 }));
  const sessions = await createSessions(pools[0], 'batch', 8);
  const body = JSON.stringify({ events: Array.from({ length: 1000 }, (_, i) => JSON.parse(eventBody(i))) });
  let stored = 0;
  let errors = 0;
  const end = Date.now() + SECONDS * 1000;
  await Promise.all(Array.from({ length: connections }, async (_, worker) => {
    const pool = pools[worker % pools.length];
    let i = worker;
    while (Date.now() < end) {
      const reply = await pool.request({ method: 'POST', path: `/sessions/${sessions[i++ % sessions.length]}/events/batch`, headers: { 'content-type': 'application/json' }, body });
      await reply.body.dump();
      if (reply.statusCode === 201) stored += 1000;
      else errors += 1;
    }
  }));
  await Promise.all(pools.map((pool) => pool.close()));
  return { events_per_s: round(stored / SECONDS, 0), errors };
}

async function connectClients(urls, count) {
  const clients = [];
  for (let i = 0; i < count; i++) {
    // The server sends valid UTF-8; checking it again in JavaScript would load the machine the servers share.
    const socket = new WebSocket(urls[i % urls.length], { skipUTF8Validation: true });
    const client = { socket, received: new Map() };
    socket.on('message', (data) => {
      // The event id sits right after "data":{"id": (spaced as PostgreSQL's JSON builder writes it) — no need
      // to parse the whole message.
      const match = /"data":\{"id"\s*:\s*(\d+)/.exec(data.toString('latin1', 0, 80));
      if (match) client.received.set(Number(match[1]), performance.now());
    });
    await new Promise((resolve, reject) => {
      socket.once('message', resolve);
      socket.once('error', reject);
    });
    clients.push(client);
  }
  return clients;
}

/** Events written at a fixed rate through one instance; the latency from each write's 2xx to each client's receipt. */
async function measureFanOut(servers, { clients: clientCount, clientUrls, rate }) {
  const writer = new HttpPool(servers[0].baseUrl, { connections: 16 });
  const [session] = await createSessions(writer, `fanout-${clientCount}`, 1);
  const clients = await connectClients(clientUrls, clientCount);
  const acknowledged = new Map();
  const interval = 1000 / rate;
  const started = performance.now();
  const writes = [];
  for (let i = 0; performance.now() - started < SECONDS * 1000; i++) {
    const due = started + i * interval;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    writes.push(
      writer.request({ method: 'POST', path: `/sessions/${session}/events`, headers: { 'content-type': 'application/json' }, body: eventBody(i) }).then(async (reply) => {
        const text = await reply.body.text();
        if (reply.statusCode === 201) acknowledged.set(JSON.parse(text).event.id, performance.now());
      }),
    );
  }
  await Promise.all(writes);
  const deadline = Date.now() + 10_000;
  const expected = acknowledged.size * clients.length;
  const received = () => clients.reduce((sum, client) => sum + [...client.received.keys()].filter((id) => acknowledged.has(id)).length, 0);
  while (received() < expected && Date.now() < deadline) await sleep(100);
  const latencies = [];
  for (const client of clients) {
    for (const [id, at] of client.received) {
      const ack = acknowledged.get(id);
      if (ack !== undefined) latencies.push(Math.max(0, at - ack));
    }
  }
  const s = stats(latencies);
  const rssMb = round(rssMegabytes(servers[0].child.pid), 0);
  clients.forEach((client) => client.socket.terminate());
  await writer.close();
  return { clients: clientCount, events: acknowledged.size, expected_deliveries: expected, received: received(), p50_ms: round(s.p50, 2), p99_ms: round(s.p99, 2), max_ms: round(s.max, 2), server_rss_mb: rssMb };
}

/** Page 1 and page 50 of a 50,000-event session, read again and again. */
async function measureReads(server, databaseUrl) {
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  await db.query("insert into sessions (session_id, session_name) values ('reader', 'reader')");
  await db.query(`insert into events (session_id, event_type, tool_name, tool_input, tool_output, role)
                  select 'reader', 'post_tool', 'Bash', '{"command":"ls"}', '{"stdout":"${'x'.repeat(200)}"}', 'tool' from generate_series(1, 50000)`);
  const { rows } = await db.query("select id from events where session_id = 'reader' order by id offset 48999 limit 1");
  await db.end();
  const http = new HttpPool(server.baseUrl, { connections: 4 });
  // Page 1 and page 50 in turn from each connection, so both are read under the same conditions.
  const timings = { page1: [], page50: [] };
  const read = async (query, into) => {
    const started = performance.now();
    const reply = await http.request({ method: 'GET', path: `/sessions/reader/events?limit=1000${query}` });
    const body = await reply.body.json();
    if (body.events.length !== 1000) throw new Error(`a page held ${body.events.length} events`);
    into?.push(performance.now() - started);
  };
  const end = Date.now() + Math.max(4, SECONDS / 2) * 1000;
  await Promise.all(Array.from({ length: 4 }, async () => {
    while (Date.now() < end) {
      await read('', timings.page1);
      await read(`&after=${rows[0].id}`, timings.page50);
    }
  }));
  await http.close();
  const page1 = stats(timings.page1);
  const page50 = stats(timings.page50);
  return {
    page1_p50_ms: round(page1.p50, 2),
    page50_p50_ms: round(page50.p50, 2),
    page1_rows_per_s: round((1000 * timings.page1.length) / (timings.page1.reduce((a, b) => a + b, 0) / 1000), 0),
    page50_rows_per_s: round((1000 * timings.page50.length) / (timings.page50.reduce((a, b) => a + b, 0) / 1000), 0),
    page50_vs_page1: round(page50.p50 / page1.p50, 2),
  };
}

async function settle(databaseUrl) {
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  await db.query('vacuum (analyze) events, changes, sessions');
  await db.query('checkpoint');
  await db.end();
  await sleep(1000);
}

async function main() {
  const database = await openDatabase();
  await migrate(database.url, quiet);
  const servers = [await startServer(database.url), await startServer(database.url)];
  const results = { machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, memory_gb: round(os.totalmem() / 2 ** 30, 0), node: process.version, database: database.kind }, seconds: SECONDS, started_at: new Date().toISOString() };
  try {
    // BENCH_ONLY=ingest,reads runs just those (for profiling); a full run writes results.json.
    const only = process.env.BENCH_ONLY?.split(',');
    const step = async (name, run) => {
      if (only && !only.includes(name)) return;
      // Each step starts from a settled database: the previous step's rows vacuumed and flushed, so its
      // autovacuum and checkpoint do not land in the middle of this one.
      await settle(database.url);
      process.stderr.write(`${name}…\n`);
      results[name] = await run();
    };
    await step('ceiling', () => measureCeiling(database.url));
    await step('ingest', () => measureIngest(servers));
    await step('batch', () => measureBatch(servers));
    await step('fanout_200', () => measureFanOut(servers, { clients: 200, clientUrls: servers.map((s) => s.wsUrl), rate: 1000 }));
    await step('fanout_1000', () => measureFanOut(servers, { clients: 1000, clientUrls: [servers[0].wsUrl], rate: 100 }));
    await step('reads', () => measureReads(servers[0], database.url));
    await step('hooks', () => require('./hooks').measureHooks(servers[0]));
    await step('otlp', () => require('./otlp').measureOtlp(servers));
  } finally {
    for (const server of servers) server.child.kill('SIGTERM');
    await sleep(500);
    await database.close();
  }
  if (process.env.BENCH_ONLY) {
    process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
    return;
  }
  results.ingest.vs_ceiling = round(results.ingest.events_per_s / results.ceiling.inserts_per_s, 2);
  results.batch.vs_ceiling = round(results.batch.events_per_s / results.ceiling.inserts_per_s, 2);
  writeFileSync(path.join(__dirname, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(`${table(results)}\n`);
}

function table(r) {
  const rows = [
    ['measure', 'result', 'target'],
    ['ceiling: 1-row inserts + NOTIFY, 16 conns', `${r.ceiling.inserts_per_s}/s`, '(the yardstick)'],
    ['ingest: single events, 64 conns', `${r.ingest.events_per_s}/s (${r.ingest.vs_ceiling}× ceiling), p50 ${r.ingest.p50_ms} ms, p99 ${r.ingest.p99_ms} ms, ${r.ingest.errors} errors`, '≥ 2× ceiling, p99 ≤ 30 ms, 0 errors'],
    ['batch ingest: 1,000 per request', `${r.batch.events_per_s}/s (${r.batch.vs_ceiling}× ceiling), ${r.batch.errors} errors`, '≥ 50,000/s'],
    ['fan-out: 200 clients, 2 instances, 1,000/s', `p50 ${r.fanout_200.p50_ms} ms, p99 ${r.fanout_200.p99_ms} ms, max ${r.fanout_200.max_ms} ms, ${r.fanout_200.received}/${r.fanout_200.expected_deliveries} delivered`, 'p99 ≤ 25 ms, all delivered'],
    ['fan-out: 1,000 clients, 1 instance, 100/s', `p99 ${r.fanout_1000.p99_ms} ms, RSS ${r.fanout_1000.server_rss_mb} MB, ${r.fanout_1000.received}/${r.fanout_1000.expected_deliveries} delivered`, 'p99 ≤ 100 ms, RSS ≤ 200 MB'],
    ['reads: page 1 vs page 50 of 50,000 events', `p50 ${r.reads.page1_p50_ms} vs ${r.reads.page50_p50_ms} ms a page (${r.reads.page50_vs_page1}×); ${r.reads.page1_rows_per_s} vs ${r.reads.page50_rows_per_s} rows/s a connection`, 'within 20%'],
    ['Claude Code hooks: 500/s, open loop', `p50 ${r.hooks.p50_ms} ms, p99 ${r.hooks.p99_ms} ms, ${r.hooks.achieved_per_s}/s taken, ${r.hooks.errors} errors`, 'p99 ≤ 10 ms'],
    ['OTLP logs: 512-record batches, 8 exporters', `protobuf ${r.otlp.protobuf.records_per_s}/s, JSON ${r.otlp.json.records_per_s}/s, ${r.otlp.protobuf.errors + r.otlp.json.errors} errors`, '≥ 20,000 records/s'],
  ];
  const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
  const line = (row) => `| ${row.map((cell, c) => cell.padEnd(widths[c])).join(' | ')} |`;
  return [line(rows[0]), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.slice(1).map(line)].join('\n') +
    `\n\n${r.machine.cpus} cores (${r.machine.cpu}), ${r.machine.memory_gb} GB, Node ${r.machine.node}, ${r.machine.database} PostgreSQL; load generator, two server instances and PostgreSQL on the same machine.`;
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${err.stack ?? err}\n`);
  process.exit(1);
});
