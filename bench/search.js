// npm run bench:search: GET /search on a large events table, and what its index adds to an insert.
//   1. SEARCH_EVENTS events (default 1,000,000) in 1,000 sessions of 10 projects, written with SQL: prompts,
//      tool calls and outputs with varied text; one event in 100,000 holds the word "zanzibar".
//   2. A server process (node dist/main.js) answers GET /search, timed from this process: a rare word, a
//      word in every event, a word with failed-only and a project, a two-letter pattern (no trigram).
//   3. The same 100,000-event insert with the search column and its index, then without them.
// Needs a PostgreSQL it may create a database on (BENCH_DATABASE_URL or TEST_DATABASE_URL), else embedded.
'use strict';

const pg = require('pg');
const { migrate } = require('../dist/db/migrate.js');
const { quiet, stats, round, openDatabase, startServer } = require('./support');

const EVENTS = Number(process.env.SEARCH_EVENTS ?? 1_000_000);
const BATCH = 50_000;
const RUNS = 30;

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
  for (let i = 0; i < RUNS; i += 1) {
    const started = process.hrtime.bigint();
    const reply = await fetch(`${baseUrl}/search?${query}`);
    const body = await reply.json();
    times.push(Number(process.hrtime.bigint() - started) / 1e6);
    if (reply.status !== 200) throw new Error(`${query}: ${reply.status} ${JSON.stringify(body)}`);
    hits = body.results.length;
  }
  const { p50, p99, max } = stats(times);
  console.log(`  ${query.padEnd(52)} ${String(hits).padStart(3)} hits   p50 ${round(p50)} ms   p99 ${round(p99)} ms   max ${round(max)} ms`);
}

async function timeInsert(client, label, from) {
  const started = process.hrtime.bigint();
  for (let at = from; at < from + 100_000; at += 10_000) await client.query(insertEvents(at, at + 9_999));
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  console.log(`  ${label.padEnd(40)} ${round(ms)} ms for 100,000 events: ${round((ms * 1000) / 100_000)} µs per event`);
  return ms;
}

async function main() {
  const database = await openDatabase();
  let server;
  try {
    await migrate(database.url, quiet);
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    await client.query(
      `insert into sessions (session_id, session_name, project_dir) select 'bench-' || g, 'Bench ' || g, '/srv/project-' || (g % 10) from generate_series(0, 999) g`,
    );
    const started = Date.now();
    for (let from = 1; from <= EVENTS; from += BATCH) await client.query(insertEvents(from, Math.min(EVENTS, from + BATCH - 1)));
    await client.query('delete from changes');
    await client.query('vacuum analyze events');
    const { rows } = await client.query(`select pg_size_pretty(pg_relation_size('events_search_trgm')) as index, pg_size_pretty(pg_total_relation_size('events')) as total`);
    console.log(`${EVENTS.toLocaleString('en')} events written in ${round((Date.now() - started) / 1000)} s; trigram index ${rows[0].index}, events in all ${rows[0].total}`);

    server = await startServer(database.url);
    console.log(`GET /search, ${RUNS} runs each (limit 50, newest first):`);
    for (const query of [
      'q=zanzibar',
      'q=failing%20test',
      'q=npm%20test&failed=true&tool_name=Bash',
      'q=suite&project_dir=%2Fsrv%2Fproject-3',
      'q=ok&limit=20',
      'q=zanzibar&event_type=message&limit=5',
    ]) {
      await timeSearch(server.baseUrl, query);
    }
    server.child.kill('SIGTERM');
    server = null;

    console.log('Insert cost of the search column and its index:');
    const withIndex = await timeInsert(client, 'with search_text and its trigram index', EVENTS + 1);
    await client.query('drop index events_search_trgm');
    await client.query('alter table events drop column search_text');
    const without = await timeInsert(client, 'without them', EVENTS + 200_001);
    console.log(`  added: ${round(((withIndex - without) * 1000) / 100_000)} µs per event`);
    await client.end();
  } finally {
    server?.child.kill('SIGTERM');
    await database.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
