// npm run bench: one run, on this machine, of everything the performance issue measures.
// It starts its own PostgreSQL cluster (embedded, with pg_stat_statements preloaded, so that what other
// processes do on the machine's shared server neither counts in its CPU nor in its statements; or
// BENCH_DATABASE_URL: a server it may create databases on, whose CPU it then does not measure) and two
// server instances as child processes, then drives them from this process. Load generator and servers
// share the machine, so throughput moves with whatever else runs; CPU per event, read from /proc at the
// start and end of each step (bench/meter.js), moves much less, though not nothing: at a load average of
// 11 on the 2 cores it came out about the same run after run, and several times what the issue estimates
// for a quiet machine (contended cores run code slower; group-commit batches are smaller). The results
// record the load average for that reason.
//
// BENCH_ONLY=ingest,batch runs just those steps; BENCH_SECONDS sets each step's length (10);
// BENCH_PROFILE=1 lists 15 statements a step instead of 5, those inside triggers and functions too.
'use strict';

const { writeFileSync } = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const pg = require('pg');
const WebSocket = require('ws');
const { Pool: HttpPool } = require('undici');
const { migrate } = require('../dist/db/migrate.js');
const { SECONDS, eventBody, quiet, sleep, stats, round, openDatabase, startServer, stopProcess, rssMegabytes } = require('./support');
const { Meter, NO_METER, describeUsage } = require('./meter');
const { measureScaleOut, describeScaleOut } = require('./scaleOut');

const PROFILE = process.env.BENCH_PROFILE === '1';
const WARM_UP_EVENTS = 3000;
// The bench's own cluster: pg_stat_statements loaded; connections for ten instances at once (scale-out).
const POSTGRES_FLAGS = [
  '-c',
  'shared_preload_libraries=pg_stat_statements',
  '-c',
  'max_connections=300',
  '-c',
  `pg_stat_statements.track=${PROFILE ? 'all' : 'top'}`,
  ...(PROFILE ? ['-c', 'track_io_timing=on'] : []),
];
// Each of the ten scale-out instances: its pools (writes + the listener's reads, and page reads) and its
// LISTEN connection, 11 connections; 110 in all, beside the two main instances' 17 each and the bench's own.
const SCALE_OUT_SERVER_ENV = { DATABASE_POOL_SIZE: '8', PAGE_READ_CONNECTIONS: '2' };

async function createSessions(http, prefix, count) {
  const ids = Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
  for (const id of ids) {
    await http
      .request({ method: 'POST', path: '/sessions', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ session_id: id, session_name: id }) })
      .then((r) => r.body.dump());
  }
  return ids;
}

/** Single-row inserts, each committing with a NOTIFY, from 16 connections: PostgreSQL's own ceiling. */
async function measureCeiling(databaseUrl, meter = NO_METER) {
  const setup = new pg.Client({ connectionString: databaseUrl });
  await setup.connect();
  await setup.query(`
    create table bench_ceiling (id bigserial primary key, payload text);
    create function bench_notify() returns trigger language plpgsql as $$
    begin perform pg_notify('bench_ceiling', new.id::text); return null; end $$;
    create trigger bench_notify after insert on bench_ceiling for each row execute function bench_notify();`);
  const clients = await Promise.all(
    Array.from({ length: 16 }, async () => {
      const client = new pg.Client({ connectionString: databaseUrl });
      await client.connect();
      return client;
    }),
  );
  let count = 0;
  const window = await meter.begin();
  const end = Date.now() + SECONDS * 1000;
  await Promise.all(
    clients.map(async (client) => {
      while (Date.now() < end) {
        await client.query('insert into bench_ceiling (payload) values ($1)', ['x'.repeat(300)]);
        count += 1;
      }
    }),
  );
  const usage = await window.end(count, 'insert');
  await Promise.all(clients.map((client) => client.end()));
  await setup.query('drop table bench_ceiling; drop function bench_notify();');
  await setup.end();
  return { inserts_per_s: round(count / SECONDS, 0), ...usage };
}

/** POST /sessions/{id}/events from `connections` concurrent connections spread over both instances. */
async function measureIngest(servers, meter = NO_METER, connections = 64) {
  const pools = servers.map((server) => new HttpPool(server.baseUrl, { connections: connections / servers.length, pipelining: 1 }));
  const sessions = await createSessions(pools[0], 'ingest', 64);
  let n = 0;
  // Sends for `seconds`, or until `events` have been sent.
  const drive = async (seconds, events = Infinity) => {
    const latencies = [];
    let errors = 0;
    const end = Date.now() + seconds * 1000;
    const last = n + events;
    await Promise.all(
      Array.from({ length: connections }, async (_, worker) => {
        const pool = pools[worker % pools.length];
        while (Date.now() < end && n < last) {
          const i = n++;
          const started = performance.now();
          try {
            const reply = await pool.request({
              method: 'POST',
              path: `/sessions/${sessions[i % sessions.length]}/events`,
              headers: { 'content-type': 'application/json' },
              body: eventBody(i),
            });
            await reply.body.dump();
            if (reply.statusCode !== 201) errors += 1;
            else latencies.push(performance.now() - started);
          } catch {
            errors += 1;
          }
        }
      }),
    );
    return { latencies, errors };
  };
  // 3,000 events of the same load first, not counted: the write path runs interpreted until V8 has seen it
  // often enough to compile it, a cost paid once per process that would otherwise count against this step's
  // events (by thousands of events, not seconds: on a loaded machine a second is a hundred events).
  await drive(30, WARM_UP_EVENTS);
  const window = await meter.begin();
  const { latencies, errors } = await drive(SECONDS);
  const usage = await window.end(latencies.length, 'event');
  await Promise.all(pools.map((pool) => pool.close()));
  const s = stats(latencies);
  return { events_per_s: round(s.count / SECONDS, 0), p50_ms: round(s.p50, 2), p99_ms: round(s.p99, 2), errors, ...usage };
}

/**
 * POST /sessions/{id}/events/batch with 1,000 events a request. The instances' search indexers run
 * meanwhile, and the window closes once they have indexed every event written in it, so the CPU counts
 * indexing too. With `search: false`, a connection holds the indexers' cursor row (they skip while it is
 * locked) until the window has closed: the same writes with nothing done for search (the indexers catch up
 * after). A database without the indexer (the code before issue 25) has no cursor: both are the same there.
 */
async function measureBatch(servers, meter = NO_METER, { connections = 4, search = true, databaseUrl } = {}) {
  const pools = servers.map((server) => new HttpPool(server.baseUrl, { connections: 2 }));
  const sessions = await createSessions(pools[0], search ? 'batch' : 'batch-nosearch', 8);
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  const indexed = (await db.query("select to_regclass('search_index_state') is not null as present")).rows[0].present;
  if (indexed && !search) {
    await db.query('begin');
    await db.query('select * from search_index_state for update');
  }
  const body = JSON.stringify({ events: Array.from({ length: 1000 }, (_, i) => JSON.parse(eventBody(i))) });
  let stored = 0;
  let errors = 0;
  const window = await meter.begin();
  const end = Date.now() + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: connections }, async (_, worker) => {
      const pool = pools[worker % pools.length];
      let i = worker;
      while (Date.now() < end) {
        const reply = await pool.request({
          method: 'POST',
          path: `/sessions/${sessions[i++ % sessions.length]}/events/batch`,
          headers: { 'content-type': 'application/json' },
          body,
        });
        await reply.body.dump();
        if (reply.statusCode === 201) stored += 1000;
        else errors += 1;
      }
    }),
  );
  let indexWaitS = null;
  if (indexed && search) {
    const waitStarted = performance.now();
    while ((await db.query('select indexed_seq >= asm_last_seq() as done from search_index_state')).rows[0].done === false) await sleep(20);
    indexWaitS = round((performance.now() - waitStarted) / 1000, 2);
  }
  const usage = await window.end(stored, 'event');
  if (indexed && !search) await db.query('rollback');
  await db.end();
  await Promise.all(pools.map((pool) => pool.close()));
  return { events_per_s: round(stored / SECONDS, 0), errors, search: indexed && search, index_caught_up_s: indexWaitS, ...usage };
}

/**
 * Index lag under steady ingest: single events at `rate`/s (open loop) for SECONDS, the age of the oldest
 * change the search index has not followed sampled every 50 ms (from the same table /metrics reads).
 */
async function measureSearchLag(servers, databaseUrl, { rate = 2000, meter = NO_METER } = {}) {
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  if (!(await db.query("select to_regclass('search_index_state') is not null as present")).rows[0].present) {
    await db.end();
    return { skipped: 'no search indexer in this code' };
  }
  // From an index that has caught up with the steps before.
  while ((await db.query('select indexed_seq >= asm_last_seq() as done from search_index_state')).rows[0].done === false) await sleep(50);
  const writer = new HttpPool(servers[0].baseUrl, { connections: 32 });
  const sessions = await createSessions(writer, 'searchlag', 16);
  const samples = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const { rows } = await db.query(
        `select coalesce(extract(epoch from clock_timestamp() - (select committed_at from change_batches where last_seq > s.indexed_seq order by last_seq limit 1)), 0)::float8 as lag
         from search_index_state s`,
      );
      samples.push(rows[0].lag * 1000);
      await sleep(50);
    }
  })();
  const window = await meter.begin();
  const interval = 1000 / rate;
  const started = performance.now();
  const writes = [];
  let errors = 0;
  let stored = 0;
  for (let i = 0; performance.now() - started < SECONDS * 1000; i++) {
    const due = started + i * interval;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    writes.push(
      writer.request({ method: 'POST', path: `/sessions/${sessions[i % sessions.length]}/events`, headers: { 'content-type': 'application/json' }, body: eventBody(i) }).then(
        async (reply) => {
          await reply.body.dump();
          if (reply.statusCode === 201) stored += 1;
          else errors += 1;
        },
        () => (errors += 1),
      ),
    );
  }
  await Promise.all(writes);
  const elapsed = (performance.now() - started) / 1000;
  sampling = false;
  await sampler;
  const usage = await window.end(stored, 'event');
  await writer.close();
  await db.end();
  const s = stats(samples);
  return { rate, events_per_s: round(stored / elapsed, 0), errors, lag_p50_ms: round(s.p50, 0), lag_p99_ms: round(s.p99, 0), lag_max_ms: round(s.max, 0), ...usage };
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
async function measureFanOut(servers, { clients: clientCount, clientUrls, rate, meter = NO_METER }) {
  const writer = new HttpPool(servers[0].baseUrl, { connections: 16 });
  const [session] = await createSessions(writer, `fanout-${clientCount}`, 1);
  const clients = await connectClients(clientUrls, clientCount);
  const acknowledged = new Map();
  const window = await meter.begin();
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
  window.stop();
  const latencies = [];
  for (const client of clients) {
    for (const [id, at] of client.received) {
      const ack = acknowledged.get(id);
      if (ack !== undefined) latencies.push(Math.max(0, at - ack));
    }
  }
  const s = stats(latencies);
  const rssMb = round(rssMegabytes(servers[0].child.pid), 0);
  const usage = await window.end(acknowledged.size, 'event');
  const delivered = received();
  if (usage.cpu) usage.cpu.server_ms_per_1k_deliveries = delivered > 0 ? round((usage.cpu.server_ms / delivered) * 1000, 2) : null;
  clients.forEach((client) => client.socket.terminate());
  await writer.close();
  return {
    clients: clientCount,
    events: acknowledged.size,
    expected_deliveries: expected,
    received: delivered,
    p50_ms: round(s.p50, 2),
    p99_ms: round(s.p99, 2),
    max_ms: round(s.max, 2),
    server_rss_mb: rssMb,
    ...usage,
  };
}

/** Page 1 and page 50 of a 50,000-event session, read again and again. */
async function measureReads(server, databaseUrl, meter = NO_METER) {
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
  const window = await meter.begin();
  const end = Date.now() + Math.max(4, SECONDS / 2) * 1000;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (Date.now() < end) {
        await read('', timings.page1);
        await read(`&after=${rows[0].id}`, timings.page50);
      }
    }),
  );
  const usage = await window.end(1000 * (timings.page1.length + timings.page50.length), 'row');
  await http.close();
  const page1 = stats(timings.page1);
  const page50 = stats(timings.page50);
  return {
    page1_p50_ms: round(page1.p50, 2),
    page50_p50_ms: round(page50.p50, 2),
    page1_rows_per_s: round((1000 * timings.page1.length) / (timings.page1.reduce((a, b) => a + b, 0) / 1000), 0),
    page50_rows_per_s: round((1000 * timings.page50.length) / (timings.page50.reduce((a, b) => a + b, 0) / 1000), 0),
    page50_vs_page1: round(page50.p50 / page1.p50, 2),
    ...usage,
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
  const database = await openDatabase({ ownCluster: true, postgresFlags: POSTGRES_FLAGS });
  await migrate(database.url, quiet);
  const statsDb = new pg.Client({ connectionString: database.url });
  await statsDb.connect();
  // PostgreSQL's CPU only on the bench's own cluster: on a shared server, others' work would count.
  const meterBase = await Meter.forCluster(statsDb, { measurePostgres: database.kind === 'embedded', top: PROFILE ? 15 : 5 });
  const servers = [await startServer(database.url), await startServer(database.url)];
  const serverPids = servers.map((server) => server.child.pid);
  // The main steps count both instances' CPU (an idle one adds next to nothing).
  const meter = { begin: (groups) => meterBase.begin(groups ?? { server: serverPids }) };
  const results = {
    machine: {
      cpus: os.cpus().length,
      cpu: os.cpus()[0]?.model,
      memory_gb: round(os.totalmem() / 2 ** 30, 0),
      node: process.version,
      database: database.kind,
      postgres: (await statsDb.query('show server_version')).rows[0].server_version,
    },
    seconds: SECONDS,
    started_at: new Date().toISOString(),
    // The 1-minute load average at the start and the end: the machine is shared, and its other work slows
    // every figure here (CPU per event least, though a contended core runs code slower too).
    load_average: { start: round(os.loadavg()[0], 1), end: null },
    cpu_measured: { server: true, postgres: meterBase.postmasterPid !== null, statements: meterBase.statementsAvailable },
  };
  const only = process.env.BENCH_ONLY?.split(',');
  try {
    // BENCH_ONLY=ingest,reads runs just those (for profiling); a full run writes results.json.
    const step = async (name, run) => {
      if (only && !only.includes(name)) return;
      // Each step starts from a settled database: the previous step's rows vacuumed and flushed, so its
      // autovacuum and checkpoint do not land in the middle of this one.
      await settle(database.url);
      process.stderr.write(`${name}…\n`);
      results[name] = await run();
      process.stderr.write(`${describeStep(name, results[name])}\n`);
    };
    await step('ceiling', () => measureCeiling(database.url, meter));
    await step('ingest', () => measureIngest(servers, meter));
    await step('batch', () => measureBatch(servers, meter, { databaseUrl: database.url }));
    await step('batch_no_search', () => measureBatch(servers, meter, { databaseUrl: database.url, search: false }));
    await step('search_lag', () => measureSearchLag(servers, database.url, { meter, rate: Number(process.env.BENCH_SEARCH_LAG_RATE ?? 2000) }));
    await step('fanout_200', () => measureFanOut(servers, { clients: 200, clientUrls: servers.map((s) => s.wsUrl), rate: 1000, meter }));
    await step('fanout_1000', () => measureFanOut(servers, { clients: 1000, clientUrls: [servers[0].wsUrl], rate: 100, meter }));
    await step('reads', () => measureReads(servers[0], database.url, meter));
    await step('hooks', () => require('./hooks').measureHooks(servers[0], { meter }));
    await step('hooks_32x100', () => require('./hookPeers').measureHookThroughput(servers[0], { meter }));
    await step('hooks_fanout_100', () => require('./hookPeers').measureHookFanOut(servers[0], { meter }));
    await step('otlp', () => require('./otlp').measureOtlp(servers, undefined, { meter }));
    await step('masking', () => require('./masking').measureMasking({ databaseUrl: database.url, on: servers[0] }));
    await step('hook_command', () => require('./hookCommand').measureHookCommand({ baseUrl: servers[0].baseUrl, runs: 40 }));
    await step('approvals', () => require('./approvals').measureApprovals(servers));
    await step('scaleout_10x100', () =>
      measureScaleOut({ databaseUrl: database.url, meter: meterBase, instances: 10, clients: 1000, rate: 1000, serverEnv: SCALE_OUT_SERVER_ENV, control: true }),
    );
    await step('scaleout_1x10000', () => measureScaleOut({ databaseUrl: database.url, meter: meterBase, instances: 1, clients: 10_000, rate: 10 }));
  } finally {
    await Promise.all(servers.map((server) => stopProcess(server.child)));
    await statsDb.end();
    await database.close();
  }
  results.load_average.end = round(os.loadavg()[0], 1);
  if (results.ingest && results.ceiling) results.ingest.vs_ceiling = round(results.ingest.events_per_s / results.ceiling.inserts_per_s, 2);
  if (results.batch && results.ceiling) results.batch.vs_ceiling = round(results.batch.events_per_s / results.ceiling.inserts_per_s, 2);
  // CPU per unit as a ratio to the yardstick's CPU per insert in the same run: comparable across machines and days.
  const yardstick = results.ceiling?.cpu?.postgres_ms_per_1k;
  if (yardstick) {
    for (const result of Object.values(results)) {
      for (const group of ['postgres', 'server']) {
        const value = result?.cpu?.[`${group}_ms_per_1k`];
        if (typeof value === 'number') result.cpu[`${group}_vs_yardstick`] = round(value / yardstick, 2);
      }
    }
  }
  if (results.batch?.cpu?.postgres_ms_per_1k && results.batch_no_search?.cpu?.postgres_ms_per_1k) {
    results.batch.postgres_vs_no_search = round(results.batch.cpu.postgres_ms_per_1k / results.batch_no_search.cpu.postgres_ms_per_1k, 2);
  }
  if (only) process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
  else writeFileSync(path.join(__dirname, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(`${table(results)}\n`);
}

/** What a step measured, for the terminal as soon as it ends: its CPU and statements, and the scale-out figures. */
function describeStep(name, result) {
  const parts = [];
  if (result.cpu) parts.push(describeUsage(name, result));
  for (const [key, value] of Object.entries(result)) {
    if (value && typeof value === 'object' && value.cpu) parts.push(describeUsage(`${name} ${key}`, value));
  }
  if (name.startsWith('scaleout')) parts.push(describeScaleOut(result));
  return parts.join('\n');
}

// A CPU cell: milliseconds per 1,000 of the step's unit, and that as a ratio to the yardstick's per insert.
function cpuCell(result, group) {
  if (!result?.cpu) return '—';
  const value = result.cpu[`${group}_ms_per_1k`];
  const ratio = result.cpu[`${group}_vs_yardstick`];
  return value === null || value === undefined ? 'not measured' : `${value} ms/1k ${result.cpu.unit}s${ratio === undefined ? '' : ` (${ratio}×)`}`;
}

// What the listeners' reads cost PostgreSQL: in CPU when a run without clients gave the difference, else
// in execution time from pg_stat_statements (which for the writes includes waiting for row locks).
function readCost(x) {
  const l = x.listener_reads;
  if (!l) return 'listener reads not measured';
  if (l.postgres_cpu_ms_per_1k !== undefined)
    return `listener reads ${l.postgres_cpu_ms_per_1k} ms PostgreSQL CPU/1k events (${Math.round(l.postgres_cpu_share * 100)}% of its CPU)`;
  return `listener reads ${l.reads_vs_writes}× the writes' PostgreSQL execution time`;
}

function table(r) {
  const row = (name, measure, result, target, cpu = [cpuCell(r[name], 'server'), cpuCell(r[name], 'postgres')]) => (r[name] ? [measure, result(r[name]), ...cpu, target] : null);
  const ceilingNote = (x) => (x.vs_ceiling === undefined ? '' : ` (${x.vs_ceiling}× ceiling)`);
  const delivered = (x) => `${x.delivered}/${x.expected_deliveries} delivered${x.every_client_got_every_event ? ', every client every event' : ', NOT every client every event'}`;
  const rows = [
    ['measure', 'result', 'server CPU', 'PostgreSQL CPU', 'target'],
    row('ceiling', 'ceiling: 1-row inserts + NOTIFY, 16 conns', (x) => `${x.inserts_per_s}/s`, '(the yardstick)', ['—', cpuCell(r.ceiling, 'postgres')]),
    row(
      'ingest',
      'ingest: single events, 64 conns',
      (x) => `${x.events_per_s}/s${ceilingNote(x)}, p50 ${x.p50_ms} ms, p99 ${x.p99_ms} ms, ${x.errors} errors`,
      '≥ 2× ceiling, p99 ≤ 30 ms, 0 errors; CPU ≤ 100 / 50 ms/1k',
    ),
    row(
      'batch',
      'batch ingest: 1,000 per request, indexed for search',
      (x) =>
        `${x.events_per_s}/s${ceilingNote(x)}, ${x.errors} errors${x.postgres_vs_no_search ? `; PostgreSQL ${x.postgres_vs_no_search}× no search` : ''}${x.index_caught_up_s === null ? '' : `; index caught up ${x.index_caught_up_s} s after`}`,
      '≥ 50,000/s; PostgreSQL ≤ 1.2× no search',
    ),
    row('batch_no_search', 'batch ingest, search indexers held off', (x) => `${x.events_per_s}/s, ${x.errors} errors`, '(the comparison)'),
    row(
      'search_lag',
      'search index lag: single events at a fixed rate',
      (x) => (x.skipped ? x.skipped : `${x.events_per_s}/s of ${x.rate}/s asked, lag p50 ${x.lag_p50_ms} ms, p99 ${x.lag_p99_ms} ms, max ${x.lag_max_ms} ms, ${x.errors} errors`),
      'lag p99 ≤ 1 s at 2,000/s',
    ),
    row(
      'fanout_200',
      'fan-out: 200 clients, 2 instances, 1,000/s',
      (x) => `p50 ${x.p50_ms} ms, p99 ${x.p99_ms} ms, max ${x.max_ms} ms, ${x.received}/${x.expected_deliveries} delivered`,
      'p99 ≤ 25 ms, all delivered',
    ),
    row(
      'fanout_1000',
      'fan-out: 1,000 clients, 1 instance, 100/s',
      (x) => `p99 ${x.p99_ms} ms, RSS ${x.server_rss_mb} MB, ${x.received}/${x.expected_deliveries} delivered`,
      'p99 ≤ 100 ms, RSS ≤ 200 MB',
    ),
    row(
      'reads',
      'reads: page 1 vs page 50 of 50,000 events',
      (x) => `p50 ${x.page1_p50_ms} vs ${x.page50_p50_ms} ms a page (${x.page50_vs_page1}×); ${x.page1_rows_per_s} vs ${x.page50_rows_per_s} rows/s a connection`,
      'within 20%',
    ),
    row('hooks', 'Claude Code hooks: 500/s, open loop', (x) => `p50 ${x.p50_ms} ms, p99 ${x.p99_ms} ms, ${x.achieved_per_s}/s taken, ${x.errors} errors`, 'p99 ≤ 10 ms'),
    row(
      'hooks_32x100',
      'hooks from 32 connections, 2 KB outputs, 100 sessions',
      (x) => `${x.hooks_per_s} hooks/s, p50 ${x.p50_ms} ms, p99 ${x.p99_ms} ms, ${x.errors} errors`,
      '≥ 2,300/s, p99 ≤ 40 ms, CPU ≤ 0.5 ms a hook',
    ),
    row(
      'hooks_fanout_100',
      'fan-out of hooks: 100 clients, 200 hooks/s',
      (x) => `delivery p50 ${x.p50_ms} ms, p99 ${x.p99_ms} ms, ${x.received}/${x.expected_deliveries} delivered`,
      'p99 ≤ 25 ms, CPU ≤ 2 ms an event',
    ),
    row(
      'otlp',
      'OTLP logs: 512-record batches, 8 exporters',
      (x) => `protobuf ${x.protobuf.records_per_s}/s, JSON ${x.json.records_per_s}/s, ${x.protobuf.errors + x.json.errors} errors`,
      '≥ 20,000 records/s',
      r.otlp && ['server', 'postgres'].map((group) => (r.otlp.protobuf.cpu ? `${cpuCell(r.otlp.protobuf, group).replace(/ ms.*/, '')} pb / ${cpuCell(r.otlp.json, group)}` : '—')),
    ),
    row(
      'masking',
      'masking secrets: ~3 KB events, on vs off (REDACT=off), alternating rounds',
      (x) =>
        `masker ${x.masker.realistic_output.us_per_kb_at_4mb} µs/KB realistic, ${x.masker.prose.us_per_kb_at_4mb} prose, worst ${Math.max(
          ...Object.entries(x.masker)
            .filter(([k]) => k.startsWith('worst'))
            .map(([, v]) => v.us_per_kb_at_4mb),
        )}; ingest on ${x.ingest_on.events_per_s}/s vs off ${x.ingest_off.events_per_s}/s, server CPU ${x.cpu_on_over_off}× off`,
      'on within 10 % of off',
      ['—', '—'],
    ),
    row(
      'hook_command',
      'hook command: a Claude Code hook run, spawn to exit',
      (x) =>
        `p50 ${x.idle.plugin_script.p50_ms} ms, p99 ${x.idle.plugin_script.p99_ms} ms (node alone p50 ${x.idle.node_alone.p50_ms} ms); one process a core beside it: p50 ${x.loaded.plugin_script.p50_ms} ms, p99 ${x.loaded.plugin_script.p99_ms} ms`,
      'p50 ≤ 100 ms',
      ['—', '—'],
    ),
    row(
      'scaleout_10x100',
      'scale-out: 10 instances × 100 clients, 1,000/s',
      (x) => `p50 ${x.p50_ms} ms, p99 ${x.p99_ms} ms, max ${x.max_ms} ms, ${delivered(x)}; ${readCost(x)}`,
      'p99 ≤ 50 ms, all delivered',
    ),
    row(
      'scaleout_1x10000',
      'scale-out: 1 instance × 10,000 clients, 10/s',
      (x) => `p50 ${x.p50_ms} ms, p99 ${x.p99_ms} ms, max ${x.max_ms} ms, RSS ${x.server_rss_mb} MB (peak ${x.server_peak_rss_mb}), ${delivered(x)}`,
      'p99 ≤ 200 ms, RSS ≤ 600 MB',
    ),
  ].filter(Boolean);
  const widths = rows[0].map((_, c) => Math.max(...rows.map((cells) => cells[c].length)));
  const line = (cells) => `| ${cells.map((cell, c) => cell.padEnd(widths[c])).join(' | ')} |`;
  const where = r.cpu_measured.postgres ? "the bench's own embedded" : 'an external (CPU not measured)';
  return (
    [line(rows[0]), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.slice(1).map(line)].join('\n') +
    `\n\nCPU: milliseconds per 1,000 of the step's unit, all server instances together; PostgreSQL: all its processes; (n×): that per the yardstick's PostgreSQL CPU per insert. ` +
    `${r.machine.cpus} cores (${r.machine.cpu}), ${r.machine.memory_gb} GB, Node ${r.machine.node}, ${where} PostgreSQL ${r.machine.postgres}; load generator, server instances and PostgreSQL on the same machine, ` +
    `whose load average was ${r.load_average.start} at the start and ${r.load_average.end} at the end.`
  );
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${err.stack ?? err}\n`);
  process.exit(1);
});
