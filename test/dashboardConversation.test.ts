// The session view, list and Usage page of issue 20 in Chromium: a finished session whose first page of
// events ends mid-turn still reads as finished (the summary endpoint, not the page, says how calls and turns
// ended); turns end at their Stop, waiting apart; failed looks failed; the whole conversation from the
// transcript; usage that says when it is incomplete; the Usage page follows the list's filters.
import type { Browser, Locator, Page } from 'playwright-core';
import { closedAfterEach, connected, type DashboardPage, launchBrowser, openPage } from './support/browser';
import { recordedHooks } from './support/claudeCodeFixtures';
import { apiClient, sessionPath, type ApiClient } from './support/http';
import { startInstance, type TestInstance } from './support/instance';
import { useTestDatabase } from './support/testDatabase';
import { apiRequest, logsRequest } from './otlpRequests';

const database = useTestDatabase();
let browser: Browser;
let instance: TestInstance;
let api: ApiClient;
const keep = closedAfterEach();

// A small page byte budget, so that one large tool output ends the first page in the middle of a turn.
const PAGE_MAX_BYTES = 40_000;

beforeAll(async () => {
  [browser, instance] = await Promise.all([launchBrowser(), startInstance(database.url, { pageMaxBytes: PAGE_MAX_BYTES })]);
  api = apiClient(instance.baseUrl);
});
afterAll(() => browser?.close());

async function open(hash = '', options: Parameters<typeof openPage>[2] = {}): Promise<DashboardPage> {
  const dashboard = await openPage(browser, `${instance.baseUrl}/${hash}`, options);
  keep(dashboard);
  await connected(dashboard.page);
  return dashboard;
}

const row = (page: Page, id: string) => page.locator(`.session-row[data-session-id=${JSON.stringify(id)}]`);
const hashFor = (id: string) => `#/sessions/${encodeURIComponent(id)}`;
const uuid = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

/** A hook as Claude Code sends it, captured at `at` (the hook command's X-Captured-At). */
async function hook(input: Record<string, unknown>, at?: Date): Promise<void> {
  const headers: Record<string, string> = at ? { 'x-captured-at': at.toISOString() } : {};
  const reply = await api.post('/hooks/claude-code', input, headers);
  expect(reply.status).toBe(200);
}

/** Asks `read` again until `check` passes (its last failure is thrown after `timeoutMs`). */
async function eventually<T>(read: () => T | Promise<T>, check: (value: T) => void, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    try {
      check(value);
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** For a look (not committed): SCREENSHOT_PREVIEW_DIR=/some/dir. */
async function preview(page: Page, name: string): Promise<void> {
  const dir = process.env.SCREENSHOT_PREVIEW_DIR;
  if (!dir) return;
  const size = page.viewportSize();
  await page.setViewportSize({ width: 1280, height: 2200 });
  await page.screenshot({ path: `${dir}/${name}.png` });
  await page.setViewportSize({ width: 390, height: 1600 });
  await page.screenshot({ path: `${dir}/${name}-phone.png` });
  if (size) await page.setViewportSize(size);
}

async function textOf(locator: Locator): Promise<string> {
  return ((await locator.textContent()) ?? '').replace(/\s+/g, ' ').trim();
}

describe('a finished session whose first page ends in the middle of a turn', () => {
  it('shows no "running…", the turn up to its Stop with the waiting apart, the time axis and the final answer', async () => {
    const sessionId = uuid(201);
    const promptId = uuid(2011);
    const common = { session_id: sessionId, cwd: '/home/ana/reports', transcript_path: '/home/ana/.claude/projects/x.jsonl', prompt_id: promptId };
    const t0 = Date.now() - 10 * 60_000;
    const at = (ms: number) => new Date(t0 + ms);
    await hook({ ...common, hook_event_name: 'UserPromptSubmit', prompt: 'Build the monthly report' }, at(0));
    await hook({ ...common, hook_event_name: 'PreToolUse', tool_name: 'Bash', tool_use_id: 'toolu_big', tool_input: { command: 'cat build.log' } }, at(400));
    // Claude Code asks its user first: 12 s of waiting inside the turn.
    await hook({ ...common, hook_event_name: 'Notification', notification_type: 'permission_prompt', message: 'Claude needs your permission to use Bash' }, at(500));
    await hook(
      {
        ...common,
        hook_event_name: 'PostToolUse',
        tool_name: 'Bash',
        tool_use_id: 'toolu_big',
        tool_input: { command: 'cat build.log' },
        tool_response: { stdout: 'built line\n'.repeat(8000), stderr: '', interrupted: false },
      },
      at(14_000),
    );
    await hook({ ...common, hook_event_name: 'Stop', stop_hook_active: false, last_assistant_message: 'The report is built: **42 pages**.' }, at(16_400));
    // Claude Code's idle notification, 60 s after the turn ended: not part of the turn.
    await hook({ ...common, hook_event_name: 'Notification', notification_type: 'idle_prompt', message: 'Claude is waiting for your input' }, at(76_400));
    await hook({ ...common, hook_event_name: 'SessionEnd', reason: 'other' }, at(80_000));

    // The first page really does end before the Bash call's result.
    const first = await api.get(sessionPath(sessionId, '/events?limit=500'));
    expect(first.status).toBe(200);
    expect(typeof first.body.next_after).toBe('number');
    expect(first.body.events.map((event: any) => event.event_type)).not.toContain('post_tool');

    const { page } = await open(hashFor(sessionId));
    const call = page.locator('.event-tool-call[data-tool-use-id="toolu_big"]');
    await call.waitFor();
    await page.locator('.timeline-footer .load-more').waitFor();
    // Its result is on the next page, and yet the call is not running: the summary says it succeeded.
    await eventually(
      () => textOf(call.locator('.tool-status')),
      (value) => expect(value).toBe('ok'),
    );
    expect(await page.locator('.tool-pending').count()).toBe(0);
    expect(await page.locator('.session-view').textContent()).not.toContain('running…');
    // The turn: 16.4 s to its Stop (not 80 s to the session's end), of which 13.5 s waiting for the permission.
    const stats = page.locator(`[data-turn="p:${promptId}"] .turn-stats`);
    await eventually(
      () => textOf(stats),
      (value) => expect(value).toBe('2.9 s · waited 13 s for you · 1 tool call'),
    );
    // The final answer, though its event is on a later page.
    await eventually(
      () => textOf(page.locator('.result .result-text')),
      (value) => expect(value).toBe('The report is built: 42 pages.'),
    );
    expect(await page.locator('.result').isHidden()).toBe(false);
    // The time axis spans the whole turn.
    await page.locator('.time-axis > summary').click();
    const axisTurn = page.locator('.waterfall-turn').first();
    await axisTurn.waitFor();
    expect(await axisTurn.getAttribute('title')).toMatch(/16\.4 s|16 s/);
    expect(await page.locator('.waterfall-call').first().getAttribute('title')).toMatch(/^Bash cat build\.log · 1[34] s$/);
    // Its turn ended ten minutes ago and no telemetry ever came: the page says where the variables belong.
    expect(await textOf(page.locator('.hint-telemetry'))).toContain('~/.claude/settings.json');
    // Times as captured, ten minutes ago; when the server received them, in the tooltip.
    const time = call.locator('.event-time time');
    expect(await time.getAttribute('class')).toContain('time-late');
    expect(await time.getAttribute('title')).toMatch(/\(when it happened\)\nReceived by the server .*, (9|10) min \d\d s later$/);
    await preview(page, 'mid-turn');
    // Loading the rest changes none of it.
    await page.locator('.timeline-footer .load-more').click();
    await call.locator('.tool-output').first().waitFor();
    expect(await textOf(call.locator('.tool-status'))).toBe('ok');
  });
});

describe('a live session', () => {
  it('counts its running time in the header', async () => {
    const sessionId = uuid(205);
    const started = new Date(Date.now() - 75_000);
    await hook(
      { session_id: sessionId, cwd: '/home/ana/live', transcript_path: '/tmp/t.jsonl', prompt_id: uuid(2051), hook_event_name: 'UserPromptSubmit', prompt: 'Keep going' },
      started,
    );
    const { page } = await open(hashFor(sessionId));
    const duration = page.locator('.session-duration');
    await eventually(
      () => textOf(duration),
      (value) => expect(value).toMatch(/^running [1-3] min \d\d s$/),
    );
    const first = await textOf(duration);
    await eventually(
      () => textOf(duration),
      (value) => expect(value).not.toBe(first),
      3000,
    );
  });
});

describe('a session that ended in an API error', () => {
  it('is failed in the list, the header and the result card, and the Failed filter finds it; failed tool calls are counted', async () => {
    const sessionId = uuid(202);
    const promptId = uuid(2021);
    const common = { session_id: sessionId, cwd: '/home/ana/shop', transcript_path: '/home/ana/.claude/projects/y.jsonl', prompt_id: promptId };
    await hook({ ...common, hook_event_name: 'UserPromptSubmit', prompt: 'Refactor the cart' });
    await hook({ ...common, hook_event_name: 'StopFailure', error: 'rate_limit', error_details: '429 Too Many Requests', last_assistant_message: '' });
    await hook({ ...common, hook_event_name: 'SessionEnd', reason: 'other' });
    // A session with a failing command, and one that went well.
    const failing = uuid(203);
    for (const input of recordedHooks('tool-failure', failing)) await hook(input);
    const fine = uuid(204);
    for (const input of recordedHooks('tool-call', fine)) await hook(input);

    const { page } = await open();
    await row(page, sessionId).waitFor();
    await eventually(
      () => row(page, sessionId).getAttribute('data-state'),
      (value) => expect(value).toBe('failed'),
    );
    expect(await textOf(row(page, failing).locator('.row-failed-tools'))).toBe('1 failed tool call');
    expect(await row(page, fine).locator('.row-failed-tools').isHidden()).toBe(true);
    // The Failed filter finds it (and not the session that succeeded).
    await page.locator('select[aria-label="Filter by status"]').selectOption('failed');
    await eventually(
      () => row(page, fine).count(),
      (value) => expect(value).toBe(0),
    );
    expect(await row(page, sessionId).count()).toBe(1);

    await row(page, sessionId).locator('.row-link').click();
    await eventually(
      () => page.locator('.session-view').getAttribute('data-state'),
      (value) => expect(value).toBe('failed'),
    );
    expect(await textOf(page.locator('.session-header .badge-holder'))).toBe('Failed');
    const result = page.locator('.result');
    await result.waitFor();
    expect(await result.getAttribute('class')).toContain('result-failed');
    expect(await textOf(result.locator('h3'))).toBe('Result · failed');
    expect(await textOf(result.locator('.result-text'))).toContain('rate_limit');
    await preview(page, 'stop-failure');
  });
});

/** What the hook command attaches to a hook: the transcript entries it read since the last hook. */
const transcript = (entries: Record<string, unknown>[], requests: Record<string, unknown>[] = []) => ({
  asm_transcript: { entries, requests, cost_state: null },
});
const entry = (uuid: string, kind: string, fields: Record<string, unknown> = {}) => ({ uuid, index: 0, timestamp: new Date().toISOString(), kind, ...fields });
const request = (id: string, promptId: string, output: number) => ({
  id,
  timestamp: new Date().toISOString(),
  model: 'claude-sonnet-4-5',
  prompt_id: promptId,
  input_tokens: 1000,
  output_tokens: output,
  cache_read_tokens: 0,
  cache_creation_tokens: 0,
});

describe('the whole conversation, from the transcript', () => {
  it('shows assistant texts, thinking collapsed, refused calls, compaction and API errors; the last text once', async () => {
    const sessionId = uuid(221);
    const promptId = uuid(2211);
    const common = { session_id: sessionId, cwd: '/home/ana/shop', transcript_path: '/home/ana/.claude/projects/t.jsonl', prompt_id: promptId };
    const bash = (id: string, command: string) => ({ tool_name: 'Bash', tool_use_id: id, tool_input: { command } });
    await hook({ ...common, hook_event_name: 'UserPromptSubmit', prompt: 'Tidy the build folder' });
    await hook({
      ...common,
      hook_event_name: 'PreToolUse',
      ...bash('toolu_ls', 'ls build'),
      ...transcript(
        [
          entry('t-1', 'thinking', { prompt_id: promptId, text: 'The user wants the build folder tidied. I should look first.' }),
          entry('t-2', 'text', { prompt_id: promptId, text: 'Let me look at the **build folder** first.', model: 'claude-sonnet-4-5' }),
        ],
        [request('req_1', promptId, 40)],
      ),
    });
    await hook({ ...common, hook_event_name: 'PostToolUse', ...bash('toolu_ls', 'ls build'), tool_response: { stdout: 'a.o\nb.o', stderr: '', interrupted: false } });
    await hook({ ...common, hook_event_name: 'PreToolUse', ...bash('toolu_rm', 'rm -rf build') });
    // The person said no in the terminal: no PostToolUse, only the transcript knows.
    await hook({
      ...common,
      hook_event_name: 'Notification',
      notification_type: 'permission_prompt',
      message: 'Claude needs your permission to use Bash',
      ...transcript(
        [
          entry('t-3', 'tool_refused', {
            prompt_id: promptId,
            tool_use_id: 'toolu_rm',
            tool_name: 'Bash',
            tool_input: { command: 'rm -rf build' },
            text: 'The user doesn’t want to proceed with this tool use.',
          }),
          entry('t-4', 'tool_refused', {
            prompt_id: promptId,
            tool_use_id: 'toolu_never',
            tool_name: 'Write',
            tool_input: { file_path: '/etc/hosts', content: 'x' },
            text: 'Permission to write /etc/hosts was denied.',
          }),
          entry('t-5', 'api_error', { prompt_id: promptId, text: 'Overloaded', status: 529 }),
          entry('t-6', 'compaction', { prompt_id: promptId, text: 'The user asked to tidy the build folder; it holds a.o and b.o.' }),
          entry('t-7', 'text', { prompt_id: promptId, text: 'I left the build folder as it is.' }),
        ],
        [request('req_2', promptId, 30)],
      ),
    });
    await hook({
      ...common,
      hook_event_name: 'Stop',
      stop_hook_active: false,
      last_assistant_message: 'I left the build folder as it is.',
      ...transcript([entry('t-8', 'text', { prompt_id: promptId, text: 'I left the build folder as it is.' })]),
    });
    // A session reported by plain http hooks: no transcript.
    const plain = uuid(222);
    for (const input of recordedHooks('tool-call', plain)) await hook(input);

    const { page } = await open(hashFor(sessionId));
    const timeline = page.locator('.timeline');
    const said = timeline.locator('.event-message.from-transcript').filter({ hasText: 'Let me look at the build folder first.' });
    await said.waitFor();
    expect(await said.locator('strong').textContent()).toBe('build folder');
    // Thinking, collapsed.
    const thinking = timeline.locator('.event-thinking');
    expect(await thinking.locator('details').getAttribute('open')).toBeNull();
    expect(await textOf(thinking.locator('summary'))).toContain('The user wants the build folder tidied.');
    // A refused call: its own row marked refused, with the reason; one the hooks never saw, a row of its own.
    const refused = timeline.locator('.event-tool-call[data-tool-use-id="toolu_rm"]');
    expect(await textOf(refused.locator('.tool-status'))).toBe('refused');
    expect(await textOf(refused.locator('.refusal'))).toBe('Refused: The user doesn’t want to proceed with this tool use.');
    expect(await timeline.locator('.event-tool-call[data-tool-use-id="toolu_rm"]').count()).toBe(1);
    const never = timeline.locator('.event-tool-call[data-tool-use-id="toolu_never"]');
    expect(await textOf(never.locator('.tool-status'))).toBe('refused');
    expect(await textOf(never.locator('.tool-name'))).toBe('Write');
    // The API error in words, the compaction with its summary.
    const apiError = timeline.locator('.event-api-error');
    expect(await textOf(apiError)).toMatch(/The model API answered with an error.*HTTP 529.*Overloaded/);
    expect(await textOf(timeline.locator('.event-compaction .event-label'))).toBe('Conversation compacted');
    // The last text once, though both the transcript and the Stop hook carried it.
    await eventually(
      () => timeline.locator('.event-message:visible').filter({ hasText: 'I left the build folder as it is.' }).count(),
      (value) => expect(value).toBe(1),
    );
    expect(await page.locator('.hint-transcript').count()).toBe(0);
    await thinking.locator('summary').click();
    await preview(page, 'conversation');
    // The tokens of the requests the transcript shows, and that OpenTelemetry reported none of them.
    await eventually(
      () => textOf(page.locator('.session-usage')),
      (value) => expect(value).toContain('usage incomplete: 2 requests not reported'),
    );
    await eventually(
      () => textOf(row(page, sessionId).locator('.row-usage')),
      (value) => expect(value).toContain('usage incomplete: 2 requests not reported'),
    );

    // Usage per model, and the requests seen against those reported.
    await page.locator('.usage-breakdown > summary').click();
    await page.locator('table[aria-label="Usage by model"] tr[data-name="claude-sonnet-4-5"]').waitFor();
    expect(await textOf(page.locator('.usage-breakdown-body .usage-incomplete'))).toBe(
      '2 model requests in the transcript, 0 reported by OpenTelemetry · usage incomplete: 2 requests not reported',
    );
    // And in the totals.
    await page.locator('.topbar a[href="#/usage"], a[href="#/usage"]').first().click();
    await eventually(
      () => textOf(page.locator('.usage-view p.usage-incomplete')),
      (value) => expect(value).toMatch(/^Usage incomplete: 2 requests not reported: /),
    );

    // The session of plain http hooks says what it lacks and how to get it.
    await page.evaluate((hash) => {
      (globalThis as any).location.hash = hash;
    }, hashFor(plain));
    const hint = page.locator('.hint-transcript');
    await hint.waitFor();
    expect(await textOf(hint)).toContain('agent-session-manager init-claude');
    await preview(page, 'conversation-plain-hooks');
  });
});

describe('usage', () => {
  it('the Usage page counts every session, follows the list’s filters and shows cost per model', async () => {
    const withUsage = uuid(211);
    const without = uuid(212);
    const other = uuid(213);
    await api.post('/sessions', { session_id: withUsage, session_name: 'Usage one', agent_name: 'claude-code', project_dir: '/home/ana/one' });
    await api.post('/sessions', { session_id: without, session_name: 'Usage none', agent_name: 'claude-code', project_dir: '/home/ana/one' });
    await api.post('/sessions', { session_id: other, session_name: 'Usage other', agent_name: 'release-bot', project_dir: '/home/ana/two' });
    const usage = (micros: number, model: string) => ({ cost_usd_micros: String(micros), model });
    expect(
      (
        await api.post(
          '/v1/logs',
          logsRequest([apiRequest(withUsage, uuid(2111), usage(20_000, 'claude-sonnet-4-5')), apiRequest(other, uuid(2131), usage(500_000, 'claude-opus-4-1'))]),
        )
      ).status,
    ).toBe(200);

    const { page } = await open('#/usage', { viewport: { width: 1400, height: 900 } });
    const requests: string[] = [];
    page.on('request', (request) => {
      const url = new URL(request.url());
      if (url.pathname === '/usage') requests.push(url.search);
    });
    const view = page.locator('.usage-view[data-loaded="true"]');
    await view.waitFor();
    // Every session counts, with usage or not.
    const all = Number(await view.getAttribute('data-sessions'));
    expect(all).toBeGreaterThanOrEqual(3);
    expect(await textOf(page.locator('.usage-status'))).toMatch(/with usage/);
    await page.locator('table[aria-label="Usage by model"] tr[data-name="claude-opus-4-1"]').waitFor();
    await preview(page, 'usage');

    // The list's agent filter: the totals follow it (sent to GET /usage).
    await page.locator('select[aria-label="Filter by agent"]').selectOption('release-bot');
    await eventually(
      () => requests.some((search) => /agent_name=release-bot/.test(search)),
      (value) => expect(value).toBe(true),
    );
    await eventually(
      () => textOf(page.locator('.usage-filters')),
      (value) => expect(value).toContain('agent release-bot'),
    );
    await eventually(
      async () => Number(await view.getAttribute('data-sessions')),
      (value) => expect(value).toBe(1),
    );
    expect(await page.locator('table[aria-label="Usage by model"] tr[data-name="claude-sonnet-4-5"]').count()).toBe(0);
    await preview(page, 'usage-filtered');
  });
});
