// npm run bench:search: GET /search on a large events table, and what indexing it costs.
//   1. SEARCH_EVENTS events (default 1,000,000) in 1,000 sessions of 10 projects, written with SQL: prompts,
//      tool calls and outputs with varied text; one event in 100,000 holds the word "zanzibar"; and
//      SEARCH_BIG_EVENTS (10) tool outputs of 2 MB with the word "quagga" at their very end.
//   2. A server process (node dist/main.js) indexes them all (as it does the events stored before the index
//      existed: newest first), timed; then answers GET /search, timed from this process: a rare word, a
//      word in every event, a word with failed-only and a project, a short pattern, the word at the end of
//      the 2 MB outputs, punctuation.
//   3. 100,000 more events written with SQL while no indexer runs (the write path alone), then indexed.
// Needs a PostgreSQL it may create a database on (BENCH_DATABASE_URL or TEST_DATABASE_URL), else embedded.
'use strict';

const pg = require('pg');
const { migrate } = require('../dist/db/migrate.js');
const { quiet, stats, round, openDatabase, startServer, stopProcess } = require('./support');

const EVENTS = Number(process.env.SEARCH_EVENTS ?? 1_000_000);
const BIG_EVENTS = Number(process.env.SEARCH_BIG_EVENTS ?? 10);
const BATCH = 50_000;
const RUNS = Number(process.env.SEARCH_RUNS ?? 30);

// Rows numbered from..to: a prompt, a tool call, its output, an answer, in turn; every 100,000th has the rare word.
const insertEvents = (from, to) => `
  insert into events (session_id, event_type, role, content, tool_name, tool_input, tool_output, exit_code, timestamp)
  select 'bench-' || (g % 1000),
         (array['message', 'pre_tool', 'post_tool', 'message'])[g % 4 + 1],
         case g % 4 when 0 then 'user' when 3 then 'assistant' end,
         case when g % 4 in (0, 3) then json_build_array(json_build_object('type', 'text', 'text',
           case when g % 100000 = 7 then 'please look at zanzibar ' else '' end ||
           'Fix the failing test in module ' || substr(md5(g::text), 1, 10) || ' and run the suite again, then report ' || md5((g * 31)::text))) end,
         case when g % 4 in (1, 2) then (array['Bash', 'Read', 'Edit', 'Grep'])[g % 16 / 4 + 1] end,
         case when g % 4 = 1 then json_build_object('command', 'npm test -- ' || substr(md5((g * 7)::text), 1, 12)) end,
         case when g % 4 = 2 then json_build_object('stdout', 'PASS src/' || substr(md5((g * 3)::text), 1, 8) || '.test.ts' || E'\\n' || repeat('ok ' || md5(g::text) || E'\\n', 20), 'stderr', '') end,
         case when g % 4 = 2 and g % 50 = 2 then 1 end,
         now() - (${EVENTS} - g) * interval '1 second'
  from generate_series(${from}, ${to}) g`;

async function timeSearch(baseUrl, query) {
  const times = [];
  let hits = 0;
  let stopped = 0;
  for (let i = 0; i < RUNS; i += 1) {
    const started = process.hrtime.bigint();
    const reply = await fetch(`${baseUrl}/search?${query}`);
    const body = await reply.json();
    times.push(Number(process.hrtime.bigint() - started) / 1e6);
    if (reply.status !== 200) throw new Error(`${query}: ${reply.status} ${JSON.stringify(body)}`);
    hits = body.results.length;
    if (body.scanned_to !== null && body.scanned_to !== undefined) stopped += 1;
  }
  const { p50, p99, max } = stats(times);
  console.log(
    `  ${query.padEnd(52)} ${String(hits).padStart(3)} hits   p50 ${round(p50)} ms   p99 ${round(p99)} ms   max ${round(max)} ms${stopped > 0 ? `   stopped early (scanned_to) in ${stopped}/${RUNS}` : ''}`,
  );
}

async function timeInsert(client, label, from) {
  const started = process.hrtime.bigint();
  for (let at = from; at < from + 100_000; at += 10_000) await client.query(insertEvents(at, at + 9_999));
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  console.log(`  ${label.padEnd(40)} ${round(ms)} ms for 100,000 events: ${round((ms * 1000) / 100_000)} µs per event`);
  return ms;
}

// Waits until the server's indexer has followed the log and finished the backfill; returns the seconds taken.
async function waitForIndex(client) {
  const started = Date.now();
  for (;;) {
    const { rows } = await client.query('select indexed_seq >= asm_last_seq() and backfill_below_id = 0 as done from search_index_state');
    if (rows[0].done) return (Date.now() - started) / 1000;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

// As the migration leaves a database that held events already: all of them to index, newest first.
const backfillAll = (client) => client.query('update search_index_state set indexed_seq = asm_last_seq(), backfill_below_id = (select max(id) + 1 from events)');

async function main() {
  const database = await openDatabase();
  let server;
  try {
    await migrate(database.url, quiet);
    const client = new pg.Client({ connectionString: database.url });
    // An idle client told of the cluster's stop (in the finally below) must not hide the error that led there.
    client.on('error', () => undefined);
    await client.connect();
    await client.query(
      `insert into sessions (session_id, session_name, project_dir) select 'bench-' || g, 'Bench ' || g, '/srv/project-' || (g % 10) from generate_series(0, 999) g`,
    );
    const started = Date.now();
    for (let from = 1; from <= EVENTS; from += BATCH) await client.query(insertEvents(from, Math.min(EVENTS, from + BATCH - 1)));
    for (let i = 0; i < BIG_EVENTS; i += 1) {
      await client.query(
        `insert into events (session_id, event_type, tool_name, tool_output) values ('bench-' || $1::int, 'post_tool', 'Bash', json_build_object('stdout', repeat('build step ok ' || $1::text || E'\\n', 130000) || ' quagga'))`,
        [i],
      );
    }
    await client.query('delete from changes');
    await client.query('vacuum analyze events');
    const writtenS = (Date.now() - started) / 1000;
    console.log(`${EVENTS.toLocaleString('en')} events and ${BIG_EVENTS} of 2 MB written in ${round(writtenS)} s (nothing done for search)`);

    await backfillAll(client);
    server = await startServer(database.url);
    const indexS = await waitForIndex(client);
    await client.query('vacuum analyze event_search_chunks');
    const { rows } = await client.query(
      `select pg_size_pretty(pg_relation_size('event_search_chunks_trgm')) as index, pg_size_pretty(pg_total_relation_size('event_search_chunks')) as chunks,
              pg_size_pretty(pg_total_relation_size('events')) as events, (select count(*) from event_search_chunks) as rows`,
    );
    console.log(
      `indexed by the server in ${round(indexS)} s (${round((EVENTS + BIG_EVENTS) / indexS, 0)} events/s): ${rows[0].rows} chunks, ${rows[0].chunks} with their trigram index of ${rows[0].index}; events ${rows[0].events}`,
    );

    console.log(`GET /search, ${RUNS} runs each (limit 50, newest first):`);
    for (const query of [
      'q=zanzibar',
      'q=failing%20test',
      'q=npm%20test&failed=true&tool_name=Bash',
      'q=suite&project_dir=%2Fsrv%2Fproject-3',
      'q=ok&limit=20',
      'q=zanzibar&event_type=message&limit=5',
      'q=quagga',
      'q=%22stdout%22',
      'q=a%20and%20run',
    ]) {
      await timeSearch(server.baseUrl, query);
    }
    await stopProcess(server.child);
    server = null;

    console.log('Writing without an indexer running, then indexing:');
    await timeInsert(client, 'write path alone', EVENTS + 1);
    await client.query('update search_index_state set indexed_seq = asm_last_seq()');
    await client.query('update search_index_state set backfill_below_id = (select max(id) + 1 from events)');
    await client.query('delete from event_search_chunks where last_event_id > $1', [EVENTS + BIG_EVENTS]);
    server = await startServer(database.url);
    // The backfill reads from the newest: the 100,000 just written come first; time those.
    const from = Date.now();
    for (;;) {
      const { rows: left } = await client.query('select backfill_below_id from search_index_state');
      if (Number(left[0].backfill_below_id) <= EVENTS + BIG_EVENTS + 1) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const ms = Date.now() - from;
    console.log(`  indexed by the server in ${round(ms)} ms: ${round((ms * 1000) / 100_000)} µs per event (wall)`);
    await client.end();
  } finally {
    if (server) await stopProcess(server.child);
    await database.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
