// The dashboard's tool output viewer and what surrounds it: a 2 MB output opens without a long task,
// Claude Code's own cut of an output is said, Write shows its content and Edit its diff only, Markdown
// tables render (and raw HTML stays text), search says what it covered, the time axis compresses idle
// stretches, a running call counts its time, labels are words, and a phone shows tool summaries whole.
import type { Browser, Locator, Page } from 'playwright-core';
import { closedAfterEach, connected, type DashboardPage, launchBrowser, openPage } from './support/browser';
import { recordedHooks } from './support/claudeCodeFixtures';
import { apiClient, sessionPath, type ApiClient } from './support/http';
import { startInstance, type TestInstance } from './support/instance';
import { useTestDatabase } from './support/testDatabase';

const database = useTestDatabase();
let browser: Browser;
let instance: TestInstance;
let api: ApiClient;
const keep = closedAfterEach();

/**
 * The longest main-thread task allowed while a 2 MB output opens. The goal (and what `npm run
 * bench:dashboard` reports) is 200 ms; the test allows 400 ms because it runs beside other work on a shared
 * machine, where a task that takes 120 ms alone can take twice that. Before the viewer, "Show all" on a
 * 2 MB text was one task of several seconds.
 */
const LONG_TASK_LIMIT_MS = 400;

beforeAll(async () => {
  [browser, instance] = await Promise.all([launchBrowser(), startInstance(database.url)]);
  api = apiClient(instance.baseUrl);
});
afterAll(() => browser?.close());

async function open(hash = '', options: Parameters<typeof openPage>[2] = {}): Promise<DashboardPage> {
  const dashboard = await openPage(browser, `${instance.baseUrl}/${hash}`, options);
  keep(dashboard);
  await connected(dashboard.page);
  return dashboard;
}

const hashFor = (id: string) => `#/sessions/${encodeURIComponent(id)}`;
const calls = (page: Page) => page.locator('.timeline .event-tool-call');

async function hasText(locator: Locator, text: string): Promise<void> {
  await locator.filter({ hasText: new RegExp(`^\\s*${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*$`) }).waitFor();
}

async function createSession(id: string, name: string): Promise<void> {
  expect((await api.post('/sessions', { session_id: id, session_name: name })).status).toBe(201);
}

async function postEvent(id: string, event: Record<string, unknown>): Promise<any> {
  const reply = await api.post(sessionPath(id, '/events'), event);
  expect(reply.status).toBe(201);
  return reply.body.event;
}

async function hook(body: Record<string, unknown>): Promise<void> {
  expect((await api.post('/hooks/claude-code', body)).status).toBe(200);
}

const say = (role: string, text: string) => ({ event_type: 'message', role, content: [{ type: 'text', text }] });

/** 2 MB of numbered lines, as a long build log is. */
const bigText = (bytes = 2_000_000) => {
  const lines: string[] = [];
  let size = 0;
  for (let i = 1; size < bytes; i += 1) {
    const line = `${String(i).padStart(6, '0')} compiling module ${i % 97} of the build: ok ${'·'.repeat(i % 40)}`;
    lines.push(line);
    size += line.length + 1;
  }
  return `${lines.join('\n')}\n`;
};

/** Records the page's long tasks (over 50 ms, as the browser reports them) from now on. */
async function watchLongTasks(page: Page): Promise<() => Promise<number[]>> {
  await page.evaluate(() => {
    const w = globalThis as any;
    w.__longTasks = [];
    w.__longTaskObserver?.disconnect();
    w.__longTaskObserver = new w.PerformanceObserver((list: any) => {
      for (const entry of list.getEntries()) w.__longTasks.push(entry.duration);
    });
    w.__longTaskObserver.observe({ type: 'longtask' });
  });
  return async () => {
    // A frame or two later, so the last task is reported.
    await page.evaluate(() => new Promise((resolve) => (globalThis as any).requestAnimationFrame(() => setTimeout(resolve, 50))));
    return page.evaluate(() => (globalThis as any).__longTasks as number[]);
  };
}

describe('large outputs', () => {
  it('the long-task observer the tests rely on sees a 150 ms task', async () => {
    await createSession('busy', 'Busy');
    const { page } = await open(hashFor('busy'));
    const longTasks = await watchLongTasks(page);
    // A task of the page's own (a script run through the test's connection is not one).
    await page.evaluate(
      () =>
        new Promise<void>((resolve) =>
          setTimeout(() => {
            const until = performance.now() + 150;
            while (performance.now() < until);
            resolve();
          }, 10),
        ),
    );
    expect(Math.max(0, ...(await longTasks()))).toBeGreaterThanOrEqual(140);
  });

  it('a 2 MB output opens in the viewer with no long main-thread task, scrolls to its end, and copies whole', async () => {
    const text = bigText();
    const lines = text.split('\n').length - 1;
    await createSession('big-output', 'Two megabytes');
    await postEvent('big-output', { event_type: 'pre_tool', tool_name: 'Bash', tool_use_id: 'toolu_big', tool_input: { command: 'make all' } });
    await postEvent('big-output', { event_type: 'post_tool', tool_name: 'Bash', tool_use_id: 'toolu_big', tool_output: { stdout: text, stderr: '' }, duration_ms: 9000 });
    const { page } = await open(hashFor('big-output'), { permissions: ['clipboard-read', 'clipboard-write'] });
    const call = calls(page).first();
    await hasText(call.locator('.tool-status'), 'ok');
    await hasText(call.locator('.tool-output .summary-size'), `${lines.toLocaleString('en-US')} lines`);

    const longTasks = await watchLongTasks(page);
    await call.locator('details.tool-output > summary').click();
    const viewer = call.locator('.text-viewer');
    await viewer.waitFor();
    await call.locator('.text-viewer-text').filter({ hasText: '000001 compiling' }).waitFor();
    // Only what is on screen is in the page.
    expect((await call.locator('.text-viewer-text').textContent())!.length).toBeLessThan(50_000);
    await viewer.evaluate((el: any) => {
      el.scrollTop = el.scrollHeight;
    });
    const last = text.trimEnd().split('\n').pop()!;
    await call.locator('.text-viewer-text').filter({ hasText: last }).waitFor();
    expect((await call.locator('.text-viewer-gutter').textContent())!.split('\n').pop()).toBe(String(lines));
    // Back to the middle: the rows there are drawn.
    await viewer.evaluate((el: any) => {
      el.scrollTop = el.scrollHeight / 2;
    });
    const middle = String(Math.round(lines / 2)).padStart(6, '0');
    await call
      .locator('.text-viewer-text')
      .filter({ hasText: `${middle} compiling` })
      .waitFor();
    const tasks = await longTasks();
    const longest = Math.max(0, ...tasks);
    console.log(`longest main-thread task while a 2 MB output opened and scrolled: ${Math.round(longest)} ms (${tasks.length} over 50 ms)`);
    expect(longest).toBeLessThan(LONG_TASK_LIMIT_MS);

    await call.locator('.tool-output summary .copy-button').click();
    const copied = await page.evaluate(() => (globalThis as any).navigator.clipboard.readText());
    expect(copied.length).toBe(text.length);
    expect(copied === text).toBe(true);
  });

  it('a 2 MB Write shows its content as text under its path, without a long task; its result is not repeated', async () => {
    const content = bigText();
    await createSession('big-write', 'Big Write');
    // As Claude Code's hooks report a Write (the PostToolUse's response trimmed: with the content twice more,
    // the call and its result would not fit one page of events, which is another matter).
    await hook({
      session_id: 'big-write',
      hook_event_name: 'PreToolUse',
      cwd: '/home/ada/site',
      tool_name: 'Write',
      tool_use_id: 'toolu_write',
      tool_input: { file_path: '/home/ada/site/build.log', content },
    });
    await hook({
      session_id: 'big-write',
      hook_event_name: 'PostToolUse',
      cwd: '/home/ada/site',
      tool_name: 'Write',
      tool_use_id: 'toolu_write',
      tool_input: { file_path: '/home/ada/site/build.log', content: '' },
      tool_response: { type: 'create', filePath: '/home/ada/site/build.log', content: '', structuredPatch: [] },
      duration_ms: 30,
    });
    const { page } = await open(hashFor('big-write'));
    const call = calls(page).first();
    await hasText(call.locator('.tool-status'), 'ok');
    const write = call.locator('details.tool-write');
    await hasText(write.locator('.summary-label'), '/home/ada/site/build.log');
    expect(await call.locator('details.tool-input').count()).toBe(0);
    expect(await call.locator('details.tool-output').count()).toBe(0);
    await hasText(call.locator('.tool-done'), 'File written: /home/ada/site/build.log');
    // The preview is the file's first lines as text, not a JSON string with \n escapes.
    expect(await call.locator('.tool-preview').innerText()).toMatch(/^000001 compiling module 1 of the build: ok ·\n000002 compiling/);
    const longTasks = await watchLongTasks(page);
    await write.locator('summary').click();
    await call.locator('.text-viewer-text').filter({ hasText: '000003 compiling' }).waitFor();
    expect(Math.max(0, ...(await longTasks()))).toBeLessThan(LONG_TASK_LIMIT_MS);
  });

  it('says where Claude Code cut a large output and where it kept the whole, in words', async () => {
    const [prompt, pre] = recordedHooks('tool-call', 'cut-output');
    await createSession('cut-output', 'Cut output');
    await hook(prompt!);
    await hook({ ...pre!, tool_input: { command: 'cat big.log' } });
    const shown = bigText(30_000).slice(0, 30_000);
    await hook({
      ...pre!,
      hook_event_name: 'PostToolUse',
      tool_input: { command: 'cat big.log' },
      tool_response: {
        stdout: shown,
        stderr: '',
        interrupted: false,
        isImage: false,
        persistedOutputPath: '/home/ada/.claude/projects/site/tool-results/toolu_1.txt',
        persistedOutputSize: 1_988_895,
      },
      duration_ms: 420,
    });
    const { page } = await open(hashFor('cut-output'));
    const call = calls(page).first();
    await hasText(call.locator('.tool-status'), 'ok');
    await hasText(call.locator('.tool-cut > span'), 'First 30,000 characters shown by Claude Code; 1.99 MB saved at');
    await hasText(call.locator('.tool-cut-path'), '/home/ada/.claude/projects/site/tool-results/toolu_1.txt');
    await call.locator('.tool-output .summary-size').filter({ hasText: 'cut by Claude Code, 1.99 MB in all' }).waitFor();
  });

  it('shows an Edit as its diff only and a MultiEdit as its diffs, with no raw input under them', async () => {
    await createSession('edits', 'Edits');
    await postEvent('edits', {
      event_type: 'pre_tool',
      tool_name: 'Edit',
      tool_use_id: 'toolu_e1',
      tool_input: { file_path: '/src/a.ts', old_string: 'const a = 1;', new_string: 'const a = 2;' },
    });
    await postEvent('edits', {
      event_type: 'post_tool',
      tool_name: 'Edit',
      tool_use_id: 'toolu_e1',
      tool_output: { filePath: '/src/a.ts', oldString: 'const a = 1;', newString: 'const a = 2;', originalFile: 'const a = 1;\n', structuredPatch: [] },
    });
    await postEvent('edits', {
      event_type: 'pre_tool',
      tool_name: 'MultiEdit',
      tool_use_id: 'toolu_e2',
      tool_input: {
        file_path: '/src/b.ts',
        edits: [
          { old_string: 'x', new_string: 'y' },
          { old_string: 'p\nq', new_string: 'r' },
        ],
      },
    });
    await postEvent('edits', { event_type: 'post_tool', tool_name: 'MultiEdit', tool_use_id: 'toolu_e2', tool_output: { filePath: '/src/b.ts' } });
    const { page } = await open(hashFor('edits'));
    const edit = calls(page).nth(0);
    await hasText(edit.locator('.tool-diff .summary-size'), '+1 −1');
    expect(await edit.locator('.diff-del').innerText()).toBe('- const a = 1;\n');
    expect(await edit.locator('.diff-add').innerText()).toBe('+ const a = 2;\n');
    const multi = calls(page).nth(1);
    await hasText(multi.locator('.tool-diff .summary-size'), '+2 −3');
    for (const call of [edit, multi]) {
      expect(await call.locator('details.tool-input').count()).toBe(0);
      expect(await call.locator('details.tool-output').count()).toBe(0);
    }
    await hasText(edit.locator('.tool-done'), 'File edited: /src/a.ts');
  });
});

describe('markdown', () => {
  it('renders GitHub tables, task lists, code blocks and links; raw HTML stays text and nothing runs', async () => {
    await createSession('md', 'Markdown');
    const text = [
      '## Results',
      '',
      '| Test | Time | Status |',
      '|:-----|-----:|:------:|',
      '| login | 1.2 s | **ok** |',
      '| `checkout` | 14 s | failed |',
      '',
      '- [x] write the test',
      '- [ ] fix checkout',
      '',
      '```ts',
      'const ok = a < b && c > d;',
      '```',
      '',
      'See <img src=x onerror="globalThis.pwned = 1"> and <b>bold</b>, [docs](https://example.com/docs) and [bad](javascript:alert(1)).',
    ].join('\n');
    await postEvent('md', say('assistant', text));
    const { page } = await open(hashFor('md'));
    const body = page.locator('.timeline .message-body .markdown');
    await body.locator('table.md-table').waitFor();
    expect(await body.locator('table th').allInnerTexts()).toEqual(['Test', 'Time', 'Status']);
    expect(await body.locator('table tbody tr').count()).toBe(2);
    expect(await body.locator('table tbody tr').first().locator('td').allInnerTexts()).toEqual(['login', '1.2 s', 'ok']);
    expect(await body.locator('table tbody strong').innerText()).toBe('ok');
    expect(await body.locator('table tbody code').innerText()).toBe('checkout');
    expect(await body.locator('table tbody td').nth(1).getAttribute('class')).toBe('md-align-right');
    const boxes = body.locator('li.task-list-item input[type=checkbox]');
    expect(await boxes.count()).toBe(2);
    expect(await boxes.nth(0).isChecked()).toBe(true);
    expect(await boxes.nth(1).isChecked()).toBe(false);
    expect(await body.locator('li.task-list-item').nth(1).innerText()).toBe('fix checkout');
    expect(await body.locator('pre.md-code').getAttribute('data-lang')).toBe('ts');
    expect(await body.locator('pre.md-code code').innerText()).toBe('const ok = a < b && c > d;');
    expect(await body.locator('h4.md-heading').innerText()).toBe('Results');
    // Raw HTML is text: no element made from it, nothing run.
    expect(await body.locator('img, b').count()).toBe(0);
    await body.locator('p').filter({ hasText: '<img src=x onerror="globalThis.pwned = 1">' }).waitFor();
    await body.locator('p').filter({ hasText: '<b>bold</b>' }).waitFor();
    expect(await page.evaluate(() => (globalThis as any).pwned)).toBeUndefined();
    expect(await body.locator('a').count()).toBe(1);
    expect(await body.locator('a').getAttribute('href')).toBe('https://example.com/docs');
    expect(await body.locator('a').getAttribute('rel')).toBe('noopener noreferrer nofollow');
  });

  it('loads the Markdown parser when a session is opened, not with the list', async () => {
    await createSession('md-lazy', 'Lazy');
    await postEvent('md-lazy', say('assistant', '| a | b |\n|---|---|\n| 1 | 2 |'));
    const { page, requests } = await open();
    await page.locator('.session-list').waitFor();
    const parserLoaded = () => requests.some((url) => url.endsWith('/assets/markdown-it.js'));
    expect(parserLoaded()).toBe(false);
    await page.goto(`${instance.baseUrl}/${hashFor('md-lazy')}`);
    await page.locator('.timeline .message-body .markdown table.md-table').waitFor();
    expect(parserLoaded()).toBe(true);
  });

  it('serves the Markdown library from node_modules under the dashboard policy', async () => {
    const reply = await fetch(`${instance.baseUrl}/assets/markdown-it.js`);
    expect(reply.status).toBe(200);
    expect(reply.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(reply.headers.get('content-security-policy')).toContain("script-src 'self'");
    const source = await reply.text();
    expect(source).toContain('markdown-it');
    expect(source).not.toContain('sourceMappingURL');
  });
});

describe('point 9', () => {
  it('labels event types and reasons in words', async () => {
    await createSession('labels', 'Labels');
    await postEvent('labels', { event_type: 'subagent_start' });
    await postEvent('labels', { event_type: 'stop_failure', error: 'API Error: 529 overloaded' });
    await postEvent('labels', { event_type: 'notification', reason: 'idle_prompt', content: [{ type: 'text', text: 'Claude is waiting for your input' }] });
    await postEvent('labels', { event_type: 'some_new_thing' });
    const { page } = await open(hashFor('labels'));
    const labels = page.locator('.timeline .event-type');
    await labels.nth(3).waitFor();
    expect(await labels.allInnerTexts()).toEqual(['Subagent started', 'Stopped with an error', 'Waiting for your input', 'Some new thing']);
    expect(await labels.nth(1).getAttribute('title')).toBe('stop_failure');
  });

  it('a running tool call counts its time, every second', async () => {
    await createSession('running', 'Running');
    await postEvent('running', { event_type: 'pre_tool', tool_name: 'Bash', tool_use_id: 'toolu_run', tool_input: { command: 'sleep 60' } });
    const { page } = await open(hashFor('running'));
    const call = calls(page).first();
    await hasText(call.locator('.tool-status'), 'running…');
    const duration = call.locator('.tool-duration');
    await duration.filter({ hasText: /^\d+ s$/ }).waitFor();
    const first = await duration.innerText();
    await page.waitForFunction(([el, before]) => el.textContent !== before, [await duration.elementHandle(), first] as const);
    await postEvent('running', { event_type: 'post_tool', tool_name: 'Bash', tool_use_id: 'toolu_run', tool_output: 'done', duration_ms: 2500 });
    await hasText(call.locator('.tool-status'), 'ok');
    await hasText(duration, '2.5 s');
    await page.waitForTimeout(1200);
    expect(await duration.innerText()).toBe('2.5 s');
  });

  it('the time axis compresses an idle hour to a marked break and has round ticks', async () => {
    await createSession('axis', 'Axis');
    const at = (ms: number) => new Date(Date.parse('2026-12-01T10:00:00Z') + ms).toISOString();
    // Two turns of about 40 s each, an hour apart.
    for (const [start, id] of [
      [0, 'a'],
      [3_600_000, 'b'],
    ] as const) {
      await postEvent('axis', { ...say('user', `Turn ${id}`), timestamp: at(start) });
      await postEvent('axis', { event_type: 'pre_tool', tool_name: 'Bash', tool_use_id: `toolu_${id}`, tool_input: { command: `build ${id}` }, timestamp: at(start + 1000) });
      await postEvent('axis', { event_type: 'post_tool', tool_name: 'Bash', tool_use_id: `toolu_${id}`, tool_output: 'ok', duration_ms: 30_000, timestamp: at(start + 31_000) });
      await postEvent('axis', { ...say('assistant', `Done ${id}`), timestamp: at(start + 40_000) });
    }
    const { page } = await open(hashFor('axis'));
    await page.locator('.timeline .event-tool-call').nth(1).waitFor();
    await page.locator('details.time-axis > summary').click();
    await page.locator('.waterfall-row').first().waitFor();
    const tickTexts = await page.locator('.waterfall-tick').allInnerTexts();
    expect(tickTexts[0]).toBe('0');
    expect(tickTexts.length).toBeGreaterThanOrEqual(3);
    expect(tickTexts.slice(0, 3)).toEqual(['0', '15 s', '30 s']);
    // Past the break, the first tick says how far in it is, the next count from it.
    expect(tickTexts.filter((tick) => /^1 h/.test(tick))).toHaveLength(1);
    expect(tickTexts).toContain('+15 s');
    expect(await page.locator('.waterfall-break-axis').count()).toBe(1);
    expect(await page.locator('.waterfall-break-axis').getAttribute('title')).toMatch(/^Idle 5\d min \d+ s, compressed$/);
    // The second tool call's bar starts past the middle, not at the far right end as on a linear axis.
    const [track, bar] = await Promise.all([
      page.locator('.waterfall-call .waterfall-track').nth(1).boundingBox(),
      page.locator('.waterfall-call .waterfall-bar').nth(1).boundingBox(),
    ]);
    const left = (bar!.x - track!.x) / track!.width;
    expect(left).toBeGreaterThan(0.45);
    expect(left).toBeLessThan(0.7);
    expect(bar!.width / track!.width).toBeGreaterThan(0.2);
  });

  it('on a phone, a tool summary takes its own line and the time axis fits', async () => {
    await createSession('phone', 'Phone');
    const command = 'npx jest test/dashboardViewer.test.ts --runInBand --testNamePattern "large outputs"';
    await postEvent('phone', { event_type: 'pre_tool', tool_name: 'Bash', tool_use_id: 'toolu_p', tool_input: { command } });
    await postEvent('phone', { event_type: 'post_tool', tool_name: 'Bash', tool_use_id: 'toolu_p', tool_output: 'ok', duration_ms: 1200 });
    const { page } = await open(hashFor('phone'), { viewport: { width: 375, height: 740 }, isMobile: true, hasTouch: true });
    const summary = calls(page).first().locator('.tool-summary');
    await summary.waitFor();
    const box = (await summary.boundingBox())!;
    expect(box.width).toBeGreaterThan(250);
    expect(await summary.innerText()).toBe(command);
    const overflow = await page.evaluate(() => {
      const doc = (globalThis as any).document;
      return doc.documentElement.scrollWidth - doc.documentElement.clientWidth;
    });
    expect(overflow).toBeLessThanOrEqual(0);
  });
});

describe('search', () => {
  it.each([
    ['a laptop', { width: 1280, height: 800 }],
    ['a phone', { width: 375, height: 740 }],
  ])('opening a result on %s scrolls the session to it and keeps the top bar in place', async (_, viewport) => {
    const id = `scroll-${viewport.width}`;
    await createSession(id, `Scroll ${viewport.width}`);
    for (let i = 1; i <= 120; i += 1) await postEvent(id, say(i % 2 ? 'user' : 'assistant', i === 90 ? `Here is the walrus-${viewport.width}` : `Message ${i}`));
    const { page } = await open('', { viewport });
    await page.locator('.find-input').fill(`walrus-${viewport.width}`);
    await page.locator('.find-input').press('Enter');
    await page.locator('.find-link').first().click();
    const target = page.locator('.event.is-target');
    await target.waitFor();
    await page.waitForFunction(() => {
      const el = (globalThis as any).document.querySelector('.event.is-target');
      const box = el.getBoundingClientRect();
      return box.top >= 0 && box.bottom <= (globalThis as any).innerHeight;
    });
    const top = await page.evaluate(() => {
      const doc = (globalThis as any).document;
      return { bar: doc.querySelector('.topbar').getBoundingClientRect().top, page: doc.scrollingElement.scrollTop, body: doc.body.scrollTop };
    });
    expect(top).toEqual({ bar: 0, page: 0, body: 0 });
  });

  it('says the whole texts were searched, outputs included, and finds a word at the end of a large output', async () => {
    await createSession('search-big', 'Search big');
    const text = `${bigText(300_000)}needle-at-the-end\n`;
    await postEvent('search-big', { event_type: 'post_tool', tool_name: 'Bash', tool_use_id: 'toolu_s', tool_output: { stdout: text, stderr: '' } });
    const { page } = await open('');
    await page.locator('.find-input').fill('needle-at-the-end');
    await page.locator('.find-input').press('Enter');
    await hasText(page.locator('.find-summary'), '1 event holds “needle-at-the-end”');
    await hasText(page.locator('.find-coverage'), 'Whole texts searched, outputs included.');
  });
});
