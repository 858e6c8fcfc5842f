// The dashboard as a Claude Code user reaches for it: status at a glance (failed, idle, stale), reconnects,
// tool calls as one row. Sessions are made from recorded hook inputs of the real CLI where one fits.
import path from 'node:path';
import type { Browser, Locator, Page } from 'playwright-core';
import { closedAfterEach, connected, type DashboardPage, launchBrowser, openPage } from './support/browser';
import { recordedHooks } from './support/claudeCodeFixtures';
import { apiClient, sessionPath, type ApiClient } from './support/http';
import { startInstance, type TestInstance } from './support/instance';
import { useTestDatabase } from './support/testDatabase';
import { apiRequest, logsRequest } from './otlpRequests';

// Run in the page (a function, not a string: the dashboard's policy forbids evaluating strings).
const rowBefore = ([first, second]: string[]) => {
  const ids = [...(globalThis as any).document.querySelectorAll('.session-row')].map((el: any) => el.dataset.sessionId);
  return ids.indexOf(first!) < ids.indexOf(second!);
};

const database = useTestDatabase();
let browser: Browser;
let instance: TestInstance;
let api: ApiClient;
const keep = closedAfterEach();

beforeAll(async () => {
  [browser, instance] = await Promise.all([launchBrowser(), startInstance(database.url)]);
  api = apiClient(instance.baseUrl);
});
afterAll(() => browser?.close());

async function open(hash = '', { on = instance, query = '', ...options }: { on?: TestInstance; query?: string } & Parameters<typeof openPage>[2] = {}): Promise<DashboardPage> {
  const dashboard = await openPage(browser, `${on.baseUrl}/${query}${hash}`, options);
  keep(dashboard);
  await connected(dashboard.page);
  return dashboard;
}

const row = (page: Page, id: string) => page.locator(`.session-row[data-session-id=${JSON.stringify(id)}]`);
const hashFor = (id: string) => `#/sessions/${encodeURIComponent(id)}`;

async function hasText(locator: Locator, text: string): Promise<void> {
  await locator.filter({ hasText: new RegExp(`^\\s*${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*$`) }).waitFor();
}

async function createSession(id: string, name: string, extra: Record<string, unknown> = {}): Promise<void> {
  expect((await api.post('/sessions', { session_id: id, session_name: name, ...extra })).status).toBe(201);
}

async function postEvent(id: string, event: Record<string, unknown>): Promise<any> {
  const reply = await api.post(sessionPath(id, '/events'), event);
  expect(reply.status).toBe(201);
  return reply.body.event;
}

/** Replays a recorded Claude Code run into a session of this id, hook by hook. */
export async function replay(run: string, sessionId: string, { upTo }: { upTo?: number } = {}): Promise<Record<string, any>[]> {
  const hooks = recordedHooks(run, sessionId).slice(0, upTo);
  for (const hook of hooks) expect((await api.post('/hooks/claude-code', hook)).status).toBe(200);
  return hooks;
}

const DOCS_DIR = path.join(__dirname, '..', 'docs');

/** UPDATE_SCREENSHOTS=1 writes the README's screenshots. */
async function saveScreenshot(page: Page, name: string): Promise<void> {
  if (!process.env.UPDATE_SCREENSHOTS) return;
  await page.screenshot({ path: path.join(DOCS_DIR, name) });
}

/** For a look (not committed): SCREENSHOT_PREVIEW_DIR=/some/dir. */
async function preview(page: Page, name: string): Promise<void> {
  const dir = process.env.SCREENSHOT_PREVIEW_DIR;
  if (dir) await page.screenshot({ path: `${dir}/${name}.png` });
}

const say = (role: string, text: string) => ({ event_type: 'message', role, content: [{ type: 'text', text }] });

// First in the file, so the list in the screenshots shows only its own sessions.
describe('the screenshots in the README', () => {
  it('Claude Code sessions replayed from recorded runs, with usage, a failed session, turns, a subagent and the time axis', async () => {
    const { page } = await open('', { query: '?stale_minutes=600' });
    // Recorded runs of the real CLI, each in a session of its own.
    const subagent = '7d3c2a51-9b0e-4f61-8a2d-5e4f3c2b1a01';
    const hooks = await replay('subagent', subagent);
    await replay('tool-call', '2ecc83dd-4fe5-4c71-b7ed-ee3f4481d95a');
    const failedTool = '31c7501c-3f95-4232-ba13-664e8f942151';
    await replay('tool-failure', failedTool, { upTo: 4 }); // …the turn ended: idle
    // Usage as Claude Code's OpenTelemetry logs report it.
    const usage = (input: number, output: number, cacheRead: number, micros: number) => ({
      input_tokens: String(input),
      output_tokens: String(output),
      cache_read_tokens: String(cacheRead),
      cache_creation_tokens: '0',
      cost_usd_micros: String(micros),
    });
    expect(
      (
        await api.post(
          '/v1/logs',
          logsRequest([
            apiRequest(subagent, hooks[0]!.prompt_id, usage(3120, 412, 18_400, 21_900)),
            apiRequest(subagent, hooks[0]!.prompt_id, usage(1850, 96, 21_200, 9_800)),
            apiRequest(subagent, hooks[10]!.prompt_id, usage(2210, 58, 22_900, 8_100)),
          ]),
        )
      ).status,
    ).toBe(200);
    // A session of the original API whose stop failed.
    await createSession('ci-deploy-4471', 'Deploy payments-api to staging', { agent_name: 'release-bot', project_dir: '/home/bob/payments-api' });
    await postEvent('ci-deploy-4471', say('user', 'Deploy the **v2.4.1** tag to staging and run the smoke tests.'));
    await postEvent('ci-deploy-4471', { event_type: 'pre_tool', tool_name: 'Bash', tool_use_id: 'toolu_deploy', tool_input: { command: './deploy.sh staging v2.4.1' } });
    await postEvent('ci-deploy-4471', {
      event_type: 'post_tool',
      tool_name: 'Bash',
      tool_use_id: 'toolu_deploy',
      duration_ms: 48_210,
      tool_output: {
        stdout: 'Building image payments-api:v2.4.1… done\nPushing… done\nMigrating database… done\nSmoke tests: 11 passed, 1 failed\n  ✕ POST /refunds returns 201 (got 500)',
        stderr: 'error: smoke tests failed',
      },
      exit_code: 1,
    });
    await postEvent('ci-deploy-4471', say('assistant', 'The deploy went out, but the smoke test for `POST /refunds` fails with a 500. I rolled back to **v2.4.0**.'));
    await postEvent('ci-deploy-4471', { event_type: 'session_stop', exit_code: 1, reason: 'smoke tests failed' });

    await hasText(row(page, 'ci-deploy-4471').locator('.status'), 'Failed');
    await hasText(row(page, failedTool).locator('.status'), 'Idle');
    await row(page, subagent).locator('.row-usage').filter({ hasText: '$0.040' }).waitFor();
    await row(page, subagent).locator('.row-link').click();
    await page.locator('.timeline > .event-session-stop').waitFor();
    await page.locator('details.time-axis > summary').click();
    await page.locator('.waterfall-row').first().waitFor();
    await page.evaluate('document.activeElement.blur()');
    await saveScreenshot(page, 'dashboard-claude-session.png');

    await row(page, 'ci-deploy-4471').locator('.row-link').click();
    await page.locator('.result.result-failed').waitFor();
    await page.evaluate('document.activeElement.blur()');
    await saveScreenshot(page, 'dashboard-failed-session.png');
  });
});

describe('status at a glance', () => {
  it('when a session stops with a non-zero exit code, then list and view say Failed, the result is marked failed, and the exit code shows once', async () => {
    await createSession('glance-failed', 'Failing deploy');
    await createSession('glance-ok', 'Good deploy');
    const { page } = await open(hashFor('glance-failed'));
    await postEvent('glance-failed', say('assistant', 'The deploy script failed on step 3.'));
    await postEvent('glance-failed', { event_type: 'session_stop', exit_code: 1, error: 'deploy.sh exited with 1' });
    await postEvent('glance-ok', say('assistant', 'Deployed.'));
    await postEvent('glance-ok', { event_type: 'session_stop', exit_code: 0 });

    await hasText(row(page, 'glance-failed').locator('.status'), 'Failed');
    await hasText(row(page, 'glance-ok').locator('.status'), 'Finished');
    await hasText(page.locator('.session-header .status'), 'Failed');
    await page.locator('.result.result-failed').filter({ hasText: 'The deploy script failed on step 3.' }).waitFor();
    await hasText(page.locator('.result h3'), 'Result · failed');
    const stop = page.locator('.timeline > .event-session-stop');
    await stop.filter({ hasText: 'deploy.sh exited with 1' }).waitFor();
    expect((await stop.innerText()).match(/exit code 1/g)).toHaveLength(1);
    expect(await row(page, 'glance-failed').getAttribute('data-state')).toBe('failed');
    await preview(page, 'failed');

    // The status filter: Failed shows only the failed one; Finished both.
    await page.getByLabel('Filter by status').selectOption('failed');
    await row(page, 'glance-ok').waitFor({ state: 'detached' });
    await row(page, 'glance-failed').waitFor();
    await page.getByLabel('Filter by status').selectOption('finished');
    await row(page, 'glance-ok').waitFor();
    await row(page, 'glance-failed').waitFor();
  });

  it('when a Claude Code turn ends, then the session shows Idle without a pulse; a prompt makes it Live again', async () => {
    const id = 'a1d1e000-0000-4000-8000-000000000001';
    const hooks = recordedHooks('tool-call', id);
    const { page } = await open();
    for (const hook of hooks.slice(0, 4)) expect((await api.post('/hooks/claude-code', hook)).status).toBe(200); // … Stop
    await hasText(row(page, id).locator('.status'), 'Idle');
    expect(await row(page, id).locator('.pulse').count()).toBe(0);
    await page.getByLabel('Filter by status').selectOption('idle');
    await row(page, id).waitFor();
    await page.getByLabel('Filter by status').selectOption('');
    expect((await api.post('/hooks/claude-code', { ...hooks[0], prompt_id: 'second-prompt', prompt: 'Again' })).status).toBe(200);
    await hasText(row(page, id).locator('.status'), 'Live');
    expect(await row(page, id).locator('.pulse').count()).toBe(1);
  });

  it('when a running session has sent nothing for the configured time, then it shows Stale until its next event', async () => {
    await createSession('glance-stale', 'Quiet agent');
    await postEvent('glance-stale', say('user', 'start'));
    // 0.02 minutes: stale after 1.2 s without an event.
    const { page } = await open(hashFor('glance-stale'), { query: '?stale_minutes=0.02' });
    await hasText(row(page, 'glance-stale').locator('.status'), 'Stale');
    await hasText(page.locator('.session-header .status'), 'Stale');
    await page.getByLabel('Filter by status').selectOption('stale');
    await row(page, 'glance-stale').waitFor();
    await page.getByLabel('Filter by status').selectOption('');
    await postEvent('glance-stale', say('assistant', 'still here'));
    await hasText(page.locator('.session-header .status'), 'Live');
  });

  it('when the live feed is down, then nothing pulses', async () => {
    const own = await startInstance(database.url);
    await createSession('glance-pulse', 'Pulsing');
    const { page } = await open('', { on: own });
    const pulse = row(page, 'glance-pulse').locator('.pulse');
    await pulse.waitFor();
    const animation = () => pulse.evaluate((el) => el.ownerDocument.defaultView!.getComputedStyle(el, '::after').animationName);
    expect(await animation()).toBe('pulse');
    await own.close();
    await page.locator('#connection[data-connection="reconnecting"], #connection[data-connection="offline"]').waitFor();
    expect(await animation()).toBe('none');
  });
});

describe('reconnecting', () => {
  it('when the server stays down, then the next retry is never more than 4 s away; when the tab regains focus, it retries at once', async () => {
    const own = await startInstance(database.url);
    const port = Number(new URL(own.baseUrl).port);
    const dashboard = await openPage(browser, `${own.baseUrl}/`);
    keep(dashboard);
    const { page, sockets } = dashboard;
    await connected(page);
    // Counts the WebSockets the page makes, synchronously.
    await page.evaluate(`{
      const Native = window.WebSocket;
      window.__sockets = 0;
      window.WebSocket = class extends Native {
        constructor(url, protocols) {
          super(url, protocols);
          window.__sockets += 1;
        }
      };
    }`);
    await own.close();
    // Six failed attempts: past every step of the backoff.
    await page.waitForFunction(() => (globalThis as any).__sockets >= 6, undefined, { timeout: 30_000 });
    await page.locator('#connection[data-connection="offline"]').waitFor();
    const text = await page.locator('#connection .connection-text').innerText();
    const seconds = Number(/retry in (\d+) s/.exec(text)?.[1]);
    expect(seconds).toBeLessThanOrEqual(4);

    await startInstance(database.url, { port });
    const made = await page.evaluate(`{
      const before = window.__sockets;
      window.dispatchEvent(new Event('focus'));
      window.__sockets - before;
    }`);
    expect(made).toBe(1);
    await connected(page);
    expect(sockets.length).toBeGreaterThanOrEqual(7);
  });
});

describe('tool calls as one row', () => {
  const calls = (page: Page) => page.locator('.timeline > .event-tool-call');

  it('when a recorded Claude Code run calls Bash, then call and result are one row with the command, ok, its duration and its output as text', async () => {
    const id = 'b0b0e000-0000-4000-8000-000000000001';
    await replay('tool-call', id);
    const { page } = await open(hashFor(id));
    const call = calls(page).first();
    await hasText(call.locator('.tool-name'), 'Bash');
    await hasText(call.locator('.tool-summary'), 'echo hi');
    await hasText(call.locator('.tool-status'), 'ok');
    await hasText(call.locator('.tool-duration'), '17 ms');
    await hasText(call.locator('.tool-preview'), 'hi');
    expect(await calls(page).count()).toBe(1);
    // Five hooks: the prompt, the call with its result in one row, the turn's answer, the end.
    await page.locator('.timeline > .event-session-stop').waitFor();
    expect(await page.locator('.timeline > .event').count()).toBe(4);
  });

  it('when a recorded Bash call fails, then its row says failed and shows the error, opened', async () => {
    const id = 'b0b0e000-0000-4000-8000-000000000002';
    await replay('tool-failure', id);
    const { page } = await open(hashFor(id));
    const call = calls(page).first();
    await hasText(call.locator('.tool-status'), 'failed');
    await call.locator('.error-text').filter({ hasText: "ls: cannot access '/nonexistent-dir'" }).waitFor();
    expect(await call.getAttribute('class')).toContain('is-error');
    await hasText(call.locator('.tool-summary'), 'ls /nonexistent-dir');
  });

  it('when calls carry no tool_use_id, then results pair with calls in order; a long stdout counts its lines, previews three, and shows as text', async () => {
    await createSession('tools-order', 'Tools by order');
    const stdout = Array.from({ length: 400 }, (_, i) => `row ${i + 1}`).join('\n') + '\n';
    const { page } = await open(hashFor('tools-order'));
    await postEvent('tools-order', { event_type: 'pre_tool', tool_name: 'Bash', tool_input: { command: 'seq 400' } });
    await postEvent('tools-order', { event_type: 'pre_tool', tool_name: 'Grep', tool_input: { pattern: 'TODO', path: 'src' } });
    await hasText(calls(page).nth(0).locator('.tool-status'), 'running…');
    await postEvent('tools-order', { event_type: 'post_tool', tool_name: 'Bash', tool_output: { stdout, stderr: 'warning: slow disk', interrupted: false } });
    await postEvent('tools-order', { event_type: 'post_tool', tool_name: 'Grep', tool_output: 'src/a.ts:3: // TODO', error: 'partial: 1 file unreadable' });

    const bash = calls(page).nth(0);
    const grep = calls(page).nth(1);
    await hasText(bash.locator('.tool-status'), 'ok');
    await hasText(grep.locator('.tool-status'), 'failed');
    await hasText(grep.locator('.tool-summary'), 'TODO in src');
    expect(await calls(page).count()).toBe(2);
    await hasText(bash.locator('.tool-output .summary-size'), '400 lines');
    expect(await bash.locator('.tool-preview').innerText()).toBe('row 1\nrow 2\nrow 3\n… 397 more lines');
    // Stderr is text of its own, shown opened.
    await hasText(bash.locator('.tool-stderr pre.code'), 'warning: slow disk');
    await bash.locator('details.tool-output > summary').click();
    await bash.locator('details.tool-output .show-all').click();
    expect(await bash.locator('details.tool-output pre.code').textContent()).toBe(stdout);
    expect(await bash.locator('.tool-preview').isHidden()).toBe(true);
    await preview(page, 'tools');
  });

  it('shows Edit and MultiEdit as diffs', async () => {
    await createSession('tools-diff', 'Edits');
    await postEvent('tools-diff', {
      event_type: 'pre_tool',
      tool_name: 'Edit',
      tool_use_id: 'toolu_edit',
      tool_input: {
        file_path: '/src/login.test.ts',
        old_string: "it('logs in', async () => {\n  await page.waitForTimeout(500);\n});",
        new_string: "it('logs in', async () => {\n  await page.waitForURL('**/dashboard');\n});",
      },
    });
    await postEvent('tools-diff', { event_type: 'post_tool', tool_name: 'Edit', tool_use_id: 'toolu_edit', tool_output: { filePath: '/src/login.test.ts' }, duration_ms: 4 });
    await postEvent('tools-diff', {
      event_type: 'pre_tool',
      tool_name: 'MultiEdit',
      tool_input: {
        file_path: '/src/a.ts',
        edits: [
          { old_string: 'let a = 1;', new_string: 'const a = 1;' },
          { old_string: 'var b', new_string: 'let b\nlet c' },
        ],
      },
    });
    const { page } = await open(hashFor('tools-diff'));
    const edit = calls(page).nth(0);
    await hasText(edit.locator('.tool-summary'), '/src/login.test.ts');
    await hasText(edit.locator('.diff-del'), '-   await page.waitForTimeout(500);');
    await hasText(edit.locator('.diff-add'), "+   await page.waitForURL('**/dashboard');");
    expect(await edit.locator('.diff-ctx').count()).toBe(2);
    await hasText(edit.locator('.tool-diff .summary-size'), '+1 −1');
    const multi = calls(page).nth(1);
    await hasText(multi.locator('.tool-diff .summary-size'), '+3 −2');
    await hasText(multi.locator('.tool-status'), 'running…');
    await preview(page, 'diff');
  });
});

describe('turns and usage', () => {
  it('groups a recorded run by prompt, with the prompt as heading, the task notification as a notification, and tokens and cost per turn and session, live', async () => {
    const id = 'c0c0e000-0000-4000-8000-000000000001';
    const hooks = await replay('subagent', id);
    const firstPrompt = hooks[0]!.prompt_id as string;
    const { page } = await open(hashFor(id));
    const turns = page.locator('.timeline > .turn-start');
    await page.locator('.timeline > .event-session-stop').waitFor();
    expect(await turns.count()).toBe(2);
    await hasText(turns.nth(0).locator('.message-body'), 'Use a subagent');
    await turns.nth(0).locator('.turn-stats').filter({ hasText: '3 tool calls' }).waitFor();
    // The synthetic prompt opens the second turn as a notification, not as something a person typed.
    const notification = turns.nth(1);
    expect(await notification.getAttribute('class')).toContain('event-notification');
    await hasText(notification.locator('.badge'), 'completed');
    await notification.filter({ hasText: 'Agent "Echo sub" finished' }).waitFor();
    expect(await page.locator('.role-user').count()).toBe(1);
    expect(await page.locator('.session-usage').isHidden()).toBe(true);
    expect(await row(page, id).locator('.row-usage').textContent()).toBe('');

    // Usage arrives from the OpenTelemetry logs, after the hooks: the session and the turn show it at once.
    const reply = await api.post(
      '/v1/logs',
      logsRequest([
        apiRequest(id, firstPrompt, { input_tokens: '1200', output_tokens: '340', cache_read_tokens: '0', cache_creation_tokens: '0', cost_usd_micros: '12300' }),
        apiRequest(id, firstPrompt, { input_tokens: '800', output_tokens: '60', cache_read_tokens: '0', cache_creation_tokens: '0', cost_usd_micros: '2700' }),
      ]),
    );
    expect(reply.status).toBe(200);
    await hasText(page.locator('.session-usage'), '2K in · 400 out · $0.015');
    await hasText(row(page, id).locator('.row-usage'), '2K in · 400 out · $0.015');
    await turns.nth(0).locator('.turn-stats').filter({ hasText: '3 tool calls · 2K in · 400 out · $0.015' }).waitFor();
    await preview(page, 'turns');
  });
});

describe('usage per agent and project', () => {
  it('totals tokens and cost per agent and per project beside the list, and follows new usage and deleted sessions live', async () => {
    const tokens = (input: number, output: number, cacheRead: number, micros: number) => ({
      input_tokens: String(input),
      output_tokens: String(output),
      cache_read_tokens: String(cacheRead),
      cache_creation_tokens: '0',
      cost_usd_micros: String(micros),
    });
    await createSession('totals-1', 'Totals one', { agent_name: 'totals-agent-a', project_dir: '/srv/totals-x' });
    await createSession('totals-2', 'Totals two', { agent_name: 'totals-agent-a', project_dir: '/srv/totals-y' });
    await createSession('totals-3', 'Totals three', { agent_name: 'totals-agent-b', project_dir: '/srv/totals-y' });
    expect(
      (await api.post('/v1/logs', logsRequest([apiRequest('totals-1', 'tp-1', tokens(1000, 100, 5000, 20_000)), apiRequest('totals-3', 'tp-3', tokens(300, 30, 0, 5_000))])))
        .status,
    ).toBe(200);

    const { page } = await open();
    await page.evaluate('window.__notReloaded = true');
    const byAgent = page.getByRole('table', { name: 'Usage by agent' });
    const byProject = page.getByRole('table', { name: 'Usage by project' });
    const cells = (table: Locator, name: string) => table.locator(`tr[data-name=${JSON.stringify(name)}] > *`).allInnerTexts();
    // Name, cost, input, output, cache, sessions.
    await hasText(byAgent.locator('tr[data-name="totals-agent-a"] .usage-cost'), '$0.020');
    expect(await cells(byAgent, 'totals-agent-a')).toEqual(['totals-agent-a', '$0.020', '1K', '100', '5K', '1']);
    expect(await cells(byAgent, 'totals-agent-b')).toEqual(['totals-agent-b', '$0.0050', '300', '30', '0', '1']);
    expect(await cells(byProject, '/srv/totals-y')).toEqual(['/srv/totals-y', '$0.0050', '300', '30', '0', '1']);

    // Live: a second session of agent a reports, in project y.
    expect((await api.post('/v1/logs', logsRequest([apiRequest('totals-2', 'tp-2', tokens(2000, 200, 0, 40_000))]))).status).toBe(200);
    await hasText(byAgent.locator('tr[data-name="totals-agent-a"] .usage-cost'), '$0.060');
    expect(await cells(byAgent, 'totals-agent-a')).toEqual(['totals-agent-a', '$0.060', '3K', '300', '5K', '2']);
    await hasText(byProject.locator('tr[data-name="/srv/totals-y"] .usage-cost'), '$0.045');
    expect(await cells(byProject, '/srv/totals-y')).toEqual(['/srv/totals-y', '$0.045', '2.3K', '230', '0', '2']);
    // The costliest first.
    const agents = await byAgent.locator('tbody tr').evaluateAll((rows) => rows.map((el: any) => el.dataset.name));
    expect(agents.indexOf('totals-agent-a')).toBeLessThan(agents.indexOf('totals-agent-b'));

    // A deleted session takes its usage out of the totals.
    expect((await api.delete(sessionPath('totals-3'))).status).toBe(200);
    await byAgent.locator('tr[data-name="totals-agent-b"]').waitFor({ state: 'detached' });
    await hasText(byProject.locator('tr[data-name="/srv/totals-y"] .usage-cost'), '$0.040');
    const expected = (await api.get('/usage')).body.total.usage;
    await hasText(page.locator('.usage-card').filter({ hasText: 'Input' }).locator('dd'), expected.input_tokens.toLocaleString('en-US'));
    expect(await page.evaluate('window.__notReloaded')).toBe(true);

    // On a phone the totals have a route of their own, in place of the list.
    await page.setViewportSize({ width: 390, height: 844 });
    expect(await page.locator('.usage-view').isHidden()).toBe(true);
    await page.getByRole('link', { name: 'Usage' }).click();
    await page.waitForURL(/#\/usage$/);
    await byAgent.locator('tr[data-name="totals-agent-a"]').waitFor();
    expect(await page.locator('.list-pane').isHidden()).toBe(true);
    await page.getByRole('link', { name: 'All sessions' }).click();
    await row(page, 'totals-1').waitFor();
  });
});

describe('a deep link', () => {
  it('when the page reads 404 for a session that is created before the answer arrives, then it shows the session once the feed has it', async () => {
    const id = 'd0d0e000-0000-4000-8000-0000000000f1';
    const hooks = recordedHooks('tool-call', id);
    const { page } = await open();
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    // The page's first read of the session is answered by the server at once (404: it does not exist yet), but
    // reaches the page only after the session has been created and the feed has announced it.
    await page.route(
      `${instance.baseUrl}/sessions/${id}`,
      async (route) => {
        const response = await route.fetch();
        await released;
        await route.fulfill({ response });
      },
      { times: 1 },
    );
    await page.goto(`${instance.baseUrl}/${hashFor(id)}`);
    expect((await api.post('/hooks/claude-code', hooks[0])).status).toBe(200);
    await row(page, id).waitFor();
    release();
    await page.locator('.timeline > .event').first().waitFor();
    expect(await page.locator('.session-title').textContent()).not.toBe('Session not found');
  });
});

describe('subagents', () => {
  it('when a recorded run starts a subagent, then its events are nested under the Agent call that started it, with its type, count and duration', async () => {
    const id = 'd0d0e000-0000-4000-8000-000000000001';
    const hooks = await replay('subagent', id);
    const agentId = hooks.find((hook) => hook.agent_id)!.agent_id as string;
    const { page } = await open(hashFor(id));
    await page.locator('.timeline > .event-session-stop').waitFor();
    const agentCall = page.locator('.timeline > .event-tool-call').filter({ has: page.locator('.tool-name', { hasText: 'Agent' }) });
    const group = agentCall.locator(`.subagent[data-agent-id="${agentId}"]`);
    await hasText(group.locator('.subagent-type'), 'Subagent · general-purpose');
    await group
      .locator('.subagent-stats')
      .filter({ hasText: /^6 events · \d+ ms$/ })
      .waitFor();
    const nested = group.locator('.subagent-events > .event-tool-call');
    expect(await nested.locator('.tool-summary').allInnerTexts()).toEqual(['echo sub', 'echo sub']);
    await hasText(nested.nth(1).locator('.tool-status'), 'ok');
    // Nothing of the subagent stands in the main timeline: the prompt, the Agent call, the answer, the notification, the second answer, the end.
    expect(await page.locator('.timeline > .event').count()).toBe(6);
    expect(await page.locator('.timeline > .event-subagent').count()).toBe(0);
  });

  it('when the subagent reports before the Agent call has its result, then its group stands alone and moves into the call when the result comes', async () => {
    const id = 'd0d0e000-0000-4000-8000-000000000002';
    const hooks = recordedHooks('subagent', id);
    const { page } = await open();
    await page.goto(`${instance.baseUrl}/${hashFor(id)}`).catch(() => undefined);
    for (const hook of hooks.slice(0, 3)) expect((await api.post('/hooks/claude-code', hook)).status).toBe(200); // prompt, Agent pre, SubagentStart
    await page.locator('.timeline > .event-subagent .subagent').waitFor();
    expect((await api.post('/hooks/claude-code', hooks[3])).status).toBe(200); // the Agent call's result
    await page.locator('.timeline > .event-tool-call .subagent').waitFor();
    expect(await page.locator('.timeline > .event-subagent').count()).toBe(0);
  });
});

describe('find', () => {
  it('searches inside events on the server, filters to failed ones, and a result opens its session at the event', async () => {
    await createSession('find-ui-1', 'Payments retry bug', { project_dir: '/home/bob/payments-api' });
    await createSession('find-ui-2', 'Docs pass', { project_dir: '/home/bob/docs' });
    await postEvent('find-ui-1', say('user', 'The capybara retry loop never ends'));
    await postEvent('find-ui-1', { event_type: 'pre_tool', tool_name: 'Bash', tool_input: { command: 'grep -rn capybara src/' } });
    const failed = await postEvent('find-ui-1', { event_type: 'post_tool', tool_name: 'Bash', tool_output: { stdout: 'src/retry.ts:12: capybara()' }, exit_code: 1 });
    await postEvent('find-ui-2', say('assistant', 'No capybara in the docs.'));
    const { page } = await open();
    const find = page.getByLabel('Search inside events');
    await find.fill('capybara');
    await find.press('Enter');
    const hits = page.locator('.find-hit');
    await hasText(page.locator('.find-summary'), '4 events hold “capybara”');
    expect(await page.locator('.session-list').isHidden()).toBe(true);
    expect(await hits.locator('.find-session').allInnerTexts()).toEqual(['Docs pass', 'Payments retry bug', 'Payments retry bug', 'Payments retry bug']);
    await page.getByLabel('Kind of event').selectOption('failed');
    await page.getByRole('button', { name: 'Find' }).click();
    await hasText(page.locator('.find-summary'), '1 event holds “capybara”');
    await hits.locator('.find-snippet').filter({ hasText: 'src/retry.ts:12: capybara()' }).waitFor();
    await hits.locator('.find-link').click();
    await page.waitForURL(`**/#/sessions/find-ui-1/events/${failed.id}`);
    const target = page.locator('.event.is-target');
    await target.waitFor();
    expect(await target.getAttribute('data-result-id')).toBe(String(failed.id));
    await preview(page, 'find');
    // The project filter narrows the search too.
    await page.getByLabel('Kind of event').selectOption('');
    await page.getByLabel('Filter by project').selectOption('/home/bob/docs');
    await page.getByRole('button', { name: 'Find' }).click();
    await hasText(page.locator('.find-summary'), '1 event holds “capybara”');
    await hasText(hits.locator('.find-session'), 'Docs pass');
    await page.getByRole('button', { name: 'Back to sessions' }).click();
    await page.locator('.session-list').waitFor();
  });

  it('orders the list by last activity when asked, and filters it by project', async () => {
    await createSession('order-old', 'Old but active');
    await createSession('order-new', 'New and quiet');
    const { page } = await open();
    await row(page, 'order-new').waitFor();
    await postEvent('order-old', say('user', 'back again'));
    const order = () => page.locator('.session-row').evaluateAll((rows) => rows.map((el: any) => el.dataset.sessionId));
    await page.getByLabel('Order').selectOption('activity');
    await page.waitForFunction(rowBefore, ['order-old', 'order-new']);
    await page.getByLabel('Order').selectOption('created');
    await page.waitForFunction(rowBefore, ['order-new', 'order-old']);
    expect((await order()).indexOf('order-new')).toBeLessThan((await order()).indexOf('order-old'));
  });
});

describe('read and share', () => {
  it('renders Markdown in messages without running any HTML, and links only to http(s)', async () => {
    await createSession('md-1', 'Markdown');
    await postEvent(
      'md-1',
      say(
        'assistant',
        '## Done\n\nFixed **two** bugs in `retry.ts`:\n\n- the *loop*\n- the [docs](https://example.com/docs)\n\n```ts\nconst a = 1;\n```\n\n<img src=x onerror="alert(1)"> [bad](javascript:alert(2))',
      ),
    );
    const { page } = await open(hashFor('md-1'));
    const body = page.locator('.timeline .markdown');
    await hasText(body.locator('strong'), 'two');
    await hasText(body.locator('p code'), 'retry.ts');
    expect(await body.locator('li').allInnerTexts()).toEqual(['the loop', 'the docs']);
    await hasText(body.locator('em'), 'loop');
    expect(await body.locator('a').evaluateAll((links) => links.map((a: any) => a.getAttribute('href')))).toEqual(['https://example.com/docs']);
    await hasText(body.locator('pre code'), 'const a = 1;');
    await hasText(body.locator('.md-heading'), 'Done');
    expect(await page.locator('.timeline img').count()).toBe(0);
    await body.filter({ hasText: '<img src=x onerror="alert(1)"> bad' }).waitFor();
    let dialogs = 0;
    page.on('dialog', (dialog) => {
      dialogs += 1;
      void dialog.dismiss();
    });
    await body.locator('p').last().click();
    expect(dialogs).toBe(0);
  });

  it('copies an output, links to one event past the first page, and exports the session as JSON and NDJSON through the API', async () => {
    await createSession('share-1', 'Sharing');
    const events = Array.from({ length: 620 }, (_, i) => say('assistant', `Message ${i + 1}`));
    for (let i = 0; i < events.length; i += 200) expect((await api.post(sessionPath('share-1', '/events/batch'), { events: events.slice(i, i + 200) })).status).toBe(201);
    await postEvent('share-1', { event_type: 'pre_tool', tool_name: 'Bash', tool_use_id: 'toolu_share', tool_input: { command: 'cat notes.txt' } });
    await postEvent('share-1', { event_type: 'post_tool', tool_name: 'Bash', tool_use_id: 'toolu_share', tool_output: { stdout: 'first line\nsecond line', stderr: '' } });
    const listed = (await api.get(sessionPath('share-1', '/events?limit=1000'))).body.events;
    const deep = listed[599];
    const { page } = await open(`#/sessions/share-1/events/${deep.id}`, { permissions: ['clipboard-read', 'clipboard-write'] });
    const target = page.locator('.event.is-target');
    await target.waitFor();
    expect(await target.getAttribute('data-event-id')).toBe(String(deep.id));
    await target.filter({ hasText: 'Message 600' }).waitFor();
    expect(await target.locator('.event-link').getAttribute('href')).toBe(`#/sessions/share-1/events/${deep.id}`);

    const call = page.locator('.event-tool-call');
    await call.locator('.tool-output summary .copy-button').click();
    await page.waitForFunction(() => (globalThis as any).navigator.clipboard.readText().then((text: string) => text === 'first line\nsecond line'));

    const exported = page.waitForEvent('download');
    await page.getByRole('link', { name: 'Export JSON' }).click();
    const download = await exported;
    expect(download.url()).toBe(`${instance.baseUrl}/sessions/share-1/export?format=json`);
    const file = JSON.parse(await streamText(await download.createReadStream()));
    expect(file.session.session_id).toBe('share-1');
    expect(file.events).toHaveLength(622);
    expect(await page.getByRole('link', { name: 'Events as NDJSON' }).getAttribute('href')).toBe('/sessions/share-1/export?format=ndjson');
  });
});

async function streamText(stream: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  for await (const chunk of stream) text += String(chunk);
  return text;
}

describe('the time axis', () => {
  it('shows turns, tool calls and subagents of a recorded run as bars over time, a failed call marked', async () => {
    const id = 'f0f0e000-0000-4000-8000-000000000001';
    await replay('subagent', id);
    const failing = 'f0f0e000-0000-4000-8000-000000000002';
    await replay('tool-failure', failing);
    const { page } = await open(hashFor(id));
    await page.locator('.timeline > .event-session-stop').waitFor();
    await page.locator('details.time-axis > summary').click();
    const rows = page.locator('.waterfall-row');
    await rows.first().waitFor();
    expect(await page.locator('.waterfall-turn').count()).toBe(2);
    expect(await page.locator('.waterfall-call').count()).toBe(3);
    expect(await page.locator('.waterfall-subagent').count()).toBe(1);
    await hasText(page.locator('.waterfall-turn .waterfall-label').first(), 'Use a subagent');
    const widths = await page.locator('.waterfall-bar').evaluateAll((bars) => bars.map((bar: any) => bar.getBoundingClientRect().width));
    expect(widths.every((width) => width >= 1)).toBe(true);
    await preview(page, 'waterfall');

    await page.goto(`${instance.baseUrl}/${hashFor(failing)}`);
    await page.locator('.timeline > .event-session-stop').waitFor();
    await page.locator('details.time-axis > summary').click();
    await page.locator('.waterfall-failed .waterfall-label').filter({ hasText: 'Bash ls /nonexistent-dir' }).waitFor();
  });
});
