// npm run bench:dashboard: the dashboard's two speed figures, in headless Chromium against a server process.
//   1. A session of 10,000 events (prompts, tool calls with their results, answers): from navigation to
//      the first screen of events drawn, and to the first page (500 events) rendered.
//   2. A list of 10,000 sessions (all loaded with "Load older sessions"): typing a name filter, choosing a
//      status, ordering by activity — each timed from the input to the next frame after the list is drawn.
// Needs /usr/bin/chromium (or CHROMIUM_PATH) and a PostgreSQL (BENCH_DATABASE_URL / TEST_DATABASE_URL) or embedded.
'use strict';

const pg = require('pg');
const { chromium } = require('playwright-core');
const { migrate } = require('../dist/db/migrate.js');
const { quiet, stats, round, openDatabase, startServer } = require('./support');

const RUNS = 10;

async function main() {
  const database = await openDatabase();
  let server;
  let browser;
  try {
    await migrate(database.url, quiet);
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    await client.query(`insert into sessions (session_id, session_name, project_dir, agent_name, created_at)
      select 'list-' || g, 'Session ' || g || ' ' || md5(g::text), '/srv/project-' || (g % 20), 'agent-' || (g % 5), now() - g * interval '1 minute'
      from generate_series(1, 9999) g`);
    await client.query(`insert into sessions (session_id, session_name) values ('big', 'Ten thousand events')`);
    await client.query(`insert into events (session_id, event_type, role, content, tool_name, tool_use_id, tool_input, tool_output, duration_ms)
      select 'big', (array['message', 'pre_tool', 'post_tool', 'message'])[g % 4 + 1],
             case g % 4 when 0 then 'user' when 3 then 'assistant' end,
             case when g % 4 in (0, 3) then json_build_array(json_build_object('type', 'text', 'text', 'Step ' || g || ': **check** the \`module\` ' || md5(g::text))) end,
             case when g % 4 in (1, 2) then 'Bash' end,
             case when g % 4 in (1, 2) then 'toolu_' || (g / 4) end,
             case when g % 4 = 1 then json_build_object('command', 'npm test -- ' || md5(g::text)) end,
             case when g % 4 = 2 then json_build_object('stdout', repeat('ok ' || md5(g::text) || E'\\n', 12), 'stderr', '') end,
             case when g % 4 = 2 then 120 end
      from generate_series(0, 9999) g`);
    await client.query('analyze');
    await client.end();

    server = await startServer(database.url);
    browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu'] });
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(`${server.baseUrl}/`);
    await page.locator('#connection[data-connection="connected"]').waitFor();

    if (process.env.ONLY !== 'list') {
      const fetchTimes = [];
      for (let i = 0; i < RUNS; i += 1) {
        const started = process.hrtime.bigint();
        const reply = await fetch(`${server.baseUrl}/sessions/big/events?after=0&limit=500`);
        await reply.arrayBuffer();
        fetchTimes.push(Number(process.hrtime.bigint() - started) / 1e6);
      }
      console.log(`GET /sessions/big/events?limit=500 alone: p50 ${round(stats(fetchTimes).p50)} ms`);
      const firstScreen = [];
      const firstPage = [];
      for (let i = 0; i < RUNS; i += 1) {
        await page.goto(`${server.baseUrl}/#/`);
        await page.locator('#detail .usage-cards').waitFor({ state: 'attached' });
        const started = await page.evaluate('performance.now()');
        await page.evaluate(`window.location.hash = '#/sessions/big'`);
        await page.locator('.timeline > .event').first().waitFor();
        firstScreen.push((await page.evaluate('performance.now()')) - started);
        await page.locator('.load-more').waitFor();
        firstPage.push((await page.evaluate('performance.now()')) - started);
      }
      const shown = await page.locator('.timeline > .event').count();
      console.log(`Session of 10,000 events (${shown} rows for the first 500 events):`);
      console.log(`  first screen drawn   p50 ${round(stats(firstScreen).p50)} ms   max ${round(stats(firstScreen).max)} ms`);
      console.log(`  first page rendered  p50 ${round(stats(firstPage).p50)} ms   max ${round(stats(firstPage).max)} ms`);
    }
    await page.goto(`${server.baseUrl}/#/`);
    await page.locator('#connection[data-connection="connected"]').waitFor();
    page.on('crash', () => console.error('the page crashed'));
    // "Load older sessions" until every session is in the list: each click adds a page of 1,000.
    const older = page.locator('.list-footer .older', { hasText: 'older sessions' });
    const summary = page.locator('.list-summary');
    while (await older.isVisible()) {
      const before = await summary.textContent();
      await older.click();
      await page.waitForFunction((text) => document.querySelector('.list-summary').textContent !== text, before, { timeout: 60_000 });
      if (process.env.DEBUG_BENCH) console.log(new Date().toISOString(), await summary.textContent());
    }
    const rows = Number((await summary.textContent()).replace(/[^0-9]/g, ''));
    const timeInput = (selector, value) =>
      page.evaluate(
        ([sel, val]) =>
          new Promise((resolve) => {
            const el = document.querySelector(sel);
            const started = performance.now();
            el.value = val;
            el.dispatchEvent(new Event('input', { bubbles: true }));
            // The list renders in the next frame; the frame after it is when the result is on screen.
            requestAnimationFrame(() => requestAnimationFrame(() => resolve(performance.now() - started)));
          }),
        [selector, value],
      );
    const filters = { name: [], status: [], order: [] };
    for (let i = 0; i < RUNS; i += 1) {
      filters.name.push(await timeInput('.search', `Session ${i}1`));
      filters.name.push(await timeInput('.search', ''));
      filters.status.push(await timeInput('[aria-label="Filter by status"]', 'finished'));
      filters.status.push(await timeInput('[aria-label="Filter by status"]', ''));
      filters.order.push(await timeInput('[aria-label="Order"]', 'activity'));
      filters.order.push(await timeInput('[aria-label="Order"]', 'created'));
    }
    console.log(`List of ${rows.toLocaleString('en')} sessions, from input to the list on screen:`);
    for (const [name, times] of Object.entries(filters)) console.log(`  ${name.padEnd(7)} p50 ${round(stats(times).p50)} ms   max ${round(stats(times).max)} ms`);
  } finally {
    await browser?.close();
    server?.child.kill('SIGTERM');
    await database.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
