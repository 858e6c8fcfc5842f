// npm run bench:dashboard: the dashboard's speed figures, in headless Chromium against a server process.
//   1. A session of 10,000 events (prompts, tool calls with their results, answers): from navigation to
//      the first screen of events drawn, and to the first page (500 events) rendered.
//   2. A 2 MB tool output and a 2 MB Write: the longest main-thread task (PerformanceObserver 'longtask')
//      while the session opens, and while the output is opened in the viewer and scrolled to its end.
//   3. A list of 10,000 sessions (all loaded with "Load older sessions"): typing a name filter, choosing a
//      status, ordering by activity — each timed from the input to the next frame after the list is drawn.
// ONLY=session, ONLY=viewer or ONLY=list runs one of them.
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
    // 2 MB of numbered lines, as a long build log is: a Bash output and a Write's content.
    const big = bigText(2_000_000);
    // Two sessions: both in one would not fit one page of events (4 MiB), and paging is not measured here.
    await client.query(`insert into sessions (session_id, session_name) values ('large-output', 'A 2 MB output'), ('large-write', 'A 2 MB Write')`);
    await client.query(
      `insert into events (session_id, event_type, tool_name, tool_use_id, tool_input, tool_output, duration_ms) values
        ('large-output', 'pre_tool', 'Bash', 'toolu_big', '{"command": "make all"}', null, null),
        ('large-output', 'post_tool', 'Bash', 'toolu_big', null, json_build_object('stdout', $1::text, 'stderr', ''), 9000),
        ('large-write', 'pre_tool', 'Write', 'toolu_write', json_build_object('file_path', '/srv/site/build.log', 'content', $1::text), null, null),
        ('large-write', 'post_tool', 'Write', 'toolu_write', null, '{"type": "create", "filePath": "/srv/site/build.log"}', 12)`,
      [big],
    );
    await client.query('analyze');
    await client.end();

    server = await startServer(database.url);
    browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu'] });
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(`${server.baseUrl}/`);
    await page.locator('#connection[data-connection="connected"]').waitFor();

    if (!process.env.ONLY || process.env.ONLY === 'viewer') await benchViewer(page, server.baseUrl, big);
    if (!process.env.ONLY || process.env.ONLY === 'session') {
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
    if (process.env.ONLY && process.env.ONLY !== 'list') return;
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

function bigText(bytes) {
  const lines = [];
  let size = 0;
  for (let i = 1; size < bytes; i += 1) {
    const line = `${String(i).padStart(6, '0')} compiling module ${i % 97} of the build: ok ${'·'.repeat(i % 40)}`;
    lines.push(line);
    size += line.length + 1;
  }
  return `${lines.join('\n')}\n`;
}

/** Starts recording the page's long tasks; the function returned waits a frame and gives the longest (0: none over 50 ms). */
async function watchLongTasks(page) {
  await page.evaluate(() => {
    window.__longTasks = [];
    window.__longTaskObserver?.disconnect();
    window.__longTaskObserver = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) window.__longTasks.push(entry.duration);
    });
    window.__longTaskObserver.observe({ type: 'longtask' });
  });
  return async () => {
    await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 50))));
    return Math.max(0, ...(await page.evaluate(() => window.__longTasks)));
  };
}

/** The 2 MB output and Write: the longest task while the session opens, and while each opens in the viewer and scrolls to its end. */
async function benchViewer(page, baseUrl, big) {
  const last = big.trimEnd().split('\n').pop();
  const loading = { output: [], write: [] };
  const opening = { output: [], write: [] };
  for (let i = 0; i < RUNS; i += 1) {
    for (const [name, selector] of [
      ['output', 'details.tool-output'],
      ['write', 'details.tool-write'],
    ]) {
      await page.goto(`${baseUrl}/#/`);
      await page.locator('#connection[data-connection="connected"]').waitFor();
      let longest = await watchLongTasks(page);
      await page.evaluate((id) => {
        window.location.hash = `#/sessions/${id}`;
      }, `large-${name}`);
      const call = page.locator('.timeline .event-tool-call').first();
      await call.locator('.tool-status.tool-ok').waitFor();
      loading[name].push(await longest());
      longest = await watchLongTasks(page);
      await call.locator(`${selector} > summary`).click();
      const viewer = call.locator('.text-viewer');
      await viewer.waitFor();
      await viewer.evaluate((el) => {
        el.scrollTop = el.scrollHeight;
      });
      await call.locator('.text-viewer-text').filter({ hasText: last }).waitFor();
      opening[name].push(await longest());
    }
  }
  console.log(`A 2 MB tool output and a 2 MB Write (${big.length.toLocaleString('en')} characters), longest main-thread task (0: none over 50 ms):`);
  for (const name of ['output', 'write']) {
    console.log(`  ${name === 'output' ? 'the output' : 'the Write '}: loading its session p50 ${round(stats(loading[name]).p50)} ms   max ${round(stats(loading[name]).max)} ms`);
    console.log(`               opening it, to its end p50 ${round(stats(opening[name]).p50)} ms   max ${round(stats(opening[name]).max)} ms`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
