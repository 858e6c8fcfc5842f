/**
 * Bench: a retention pass over a large database, and what it does to writes (issue 22).
 *
 * Fills a database with BENCH_RETENTION_EVENTS events (1,000,000 by default) in BENCH_RETENTION_SESSIONS
 * sessions, half of them finished long ago, the rest running; then:
 * 1. a server without retention takes single events at a steady rate (open loop: each latency counted from
 *    when it was due) for BENCH_SECONDS: the write latency without a pass;
 * 2. a server started with RETENTION_DAYS=30 runs its pass at start, deleting the old half; the same writes go
 *    to it meanwhile (those of its first 2 s, while V8 compiles the write path, not counted), and its resident memory is sampled every 250 ms: the write latency during a pass, and
 *    whether memory stays flat however much is deleted;
 * 3. the same writes to that server once its pass is over: the same process without a pass.
 *
 * `npm run build && node bench/retention.js` (BENCH_DATABASE_URL or TEST_DATABASE_URL, else an embedded
 * PostgreSQL).
 */
'use strict';

const pg = require('pg');
const { Pool: HttpPool } = require('undici');
const { round, openDatabase, startServer, stopProcess, stats, rssMegabytes, sleep, quiet } = require('./support');
const { migrate } = require('../dist/db/migrate.js');

const EVENTS = Number(process.env.BENCH_RETENTION_EVENTS ?? 1_000_000);
const SESSIONS = Number(process.env.BENCH_RETENTION_SESSIONS ?? 2000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const RATE = Number(process.env.BENCH_RETENTION_RATE ?? 100);

/** Sessions and events written straight into the database, in chunks (the triggers run as for any write). */
async function fill(client) {
  const perSession = Math.ceil(EVENTS / SESSIONS);
  await client.query(`insert into sessions (session_id, session_name) select 'ret-' || i, 'retention bench ' || i from generate_series(1, $1) i`, [SESSIONS]);
  const chunk = 50_000;
  const started = Date.now();
  for (let from = 0; from < EVENTS; from += chunk) {
    await client.query(
      `insert into events (session_id, event_type, tool_name, tool_input, tool_output)
       select 'ret-' || (1 + n / $3), 'post_tool', 'Bash', json_build_object('command', 'ls -la src/' || n),
              json_build_object('stdout', repeat('output line ' || n || E'\\n', 12), 'exit', 0)
       from generate_series($1::bigint, $2::bigint) n`,
      [from, Math.min(EVENTS, from + chunk) - 1, perSession],
    );
    process.stderr.write(`\rfilled ${Math.min(EVENTS, from + chunk)} / ${EVENTS} events (${Math.round((Date.now() - started) / 1000)} s)`);
  }
  process.stderr.write('\n');
  // The first half finished 60 days ago; the rest keep running.
  await client.query(
    `update sessions set status = 'finished', outcome = 'succeeded', last_event_at = now() - interval '60 days', created_at = now() - interval '61 days'
     where session_id in (select 'ret-' || i from generate_series(1, $1) i)`,
    [Math.floor(SESSIONS / 2)],
  );
  await client.query('vacuum analyze events');
  await client.query('vacuum analyze sessions');
  // The fill's dirty pages written out now, not in the middle of a measured window.
  await client.query('checkpoint').catch(() => undefined);
}

/** Single events to running sessions at RATE a second until `until()` (or `seconds`); latencies in ms. */
async function write(server, sessionIds, { seconds, until, skipMs = 0 }) {
  const http = new HttpPool(server.baseUrl, { connections: 32, pipelining: 1 });
  const latencies = [];
  let errors = 0;
  const start = performance.now();
  const inFlight = [];
  for (let i = 0; ; i++) {
    const due = start + (i * 1000) / RATE;
    if ((seconds !== undefined && due - start > seconds * 1000) || (until && until())) break;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    inFlight.push(
      http
        .request({
          method: 'POST',
          path: `/sessions/${sessionIds[i % sessionIds.length]}/events`,
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ event_type: 'post_tool', tool_name: 'Bash', tool_output: `line ${i}` }),
        })
        .then(async (reply) => {
          await reply.body.dump();
          if (reply.statusCode !== 201) errors += 1;
          else if (due - start >= skipMs) latencies.push(performance.now() - due);
        })
        .catch(() => (errors += 1)),
    );
  }
  await Promise.all(inFlight);
  await http.close();
  const s = stats(latencies);
  return { writes: s.count, p50_ms: round(s.p50, 1), p99_ms: round(s.p99, 1), max_ms: round(s.max, 1), errors };
}

async function main() {
  const database = await openDatabase();
  const client = new pg.Client({ connectionString: database.url });
  try {
    await migrate(database.url, quiet);
    await client.connect();
    const fillStarted = Date.now();
    await fill(client);
    const fillSeconds = round((Date.now() - fillStarted) / 1000, 0);
    const running = Array.from({ length: 16 }, (_, i) => `ret-${SESSIONS - i}`);
    const bytesBefore = Number((await client.query('select sum(asm_event_json_size(e))::float8 as b from events e')).rows[0].b);

    // 1. Writes without a pass.
    const plain = await startServer(database.url);
    await write(plain, running, { seconds: 2 });
    const plainRss = [rssMegabytes(plain.child.pid)];
    const without = await write(plain, running, { seconds: SECONDS });
    plainRss.push(rssMegabytes(plain.child.pid));
    await stopProcess(plain.child);

    // 2. The same writes while a server's retention pass (at its start) deletes the old half.
    const retaining = await startServer(database.url, { RETENTION_DAYS: '30' });
    const passStarted = Date.now();
    let passDone = false;
    const rss = [rssMegabytes(retaining.child.pid)];
    const watch = (async () => {
      while (!passDone) {
        await sleep(250);
        rss.push(rssMegabytes(retaining.child.pid));
        const { rows } = await client.query("select details from audit_log where action = 'retention.pass' order by id desc limit 1");
        if (rows.length > 0) passDone = { details: rows[0].details, seconds: (Date.now() - passStarted) / 1000 };
      }
    })();
    // The first 2 s are the new process warming up (V8 compiling the write path), not counted.
    const during = await write(retaining, running, { until: () => passDone !== false, skipMs: 2000 });
    await watch;
    // 3. The same writes to the same process once its pass is over.
    const after = await write(retaining, running, { seconds: SECONDS });
    rss.push(rssMegabytes(retaining.child.pid));
    await stopProcess(retaining.child);
    const left = await client.query("select count(*)::int as sessions, (select count(*)::int from events) as events from sessions where status = 'finished'");
    const result = {
      events: EVENTS,
      sessions: SESSIONS,
      fill_seconds: fillSeconds,
      event_bytes_before: bytesBefore,
      pass: { seconds: round(passDone.seconds, 1), ...passDone.details, finished_sessions_left: left.rows[0].sessions, events_left: left.rows[0].events },
      // The server running the pass: at its start, the most during the pass, and after the writes that followed it;
      // beside it, the server without retention before and after its own writes.
      server_rss_mb: { at_start: round(rss[0], 0), max_during_pass: round(Math.max(...rss.slice(0, -1)), 0), after: round(rss[rss.length - 1], 0), samples: rss.length },
      plain_server_rss_mb: { at_start: round(plainRss[0], 0), after_writes: round(plainRss[1], 0) },
      writes_at_per_s: RATE,
      writes_without_pass: without,
      writes_during_pass: during,
      writes_after_pass_same_process: after,
    };
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await client.end();
    await database.close();
  }
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${err.stack ?? err}\n`);
  process.exit(1);
});
