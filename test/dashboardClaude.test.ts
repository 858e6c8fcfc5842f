// The dashboard as a Claude Code user reaches for it: status at a glance (failed, idle, stale), reconnects,
// tool calls as one row. Sessions are made from recorded hook inputs of the real CLI where one fits.
import type { Browser, Locator, Page } from 'playwright-core';
import { launchBrowser, openPage, type DashboardPage } from './support/browser';
import { recordedHooks } from './support/claudeCodeFixtures';
import { apiClient, sessionPath, type ApiClient } from './support/http';
import { startInstance, type TestInstance } from './support/instance';
import { useTestDatabase } from './support/testDatabase';

const database = useTestDatabase();
let browser: Browser;
let instance: TestInstance;
let api: ApiClient;
const pages: DashboardPage[] = [];

beforeAll(async () => {
  [browser, instance] = await Promise.all([launchBrowser(), startInstance(database.url)]);
  api = apiClient(instance.baseUrl);
});
afterAll(() => browser?.close());
afterEach(async () => {
  const open = pages.splice(0);
  await Promise.all(open.map((dashboard) => dashboard.close()));
  expect(open.flatMap((dashboard) => dashboard.errors.map(String))).toEqual([]);
});

async function open(hash = '', { on = instance, query = '' }: { on?: TestInstance; query?: string } = {}): Promise<DashboardPage> {
  const dashboard = await openPage(browser, `${on.baseUrl}/${query}${hash}`);
  pages.push(dashboard);
  await connected(dashboard.page);
  return dashboard;
}

const connected = (page: Page) => page.locator('#connection[data-connection="connected"]').waitFor();
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

const say = (role: string, text: string) => ({ event_type: 'message', role, content: [{ type: 'text', text }] });

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
    pages.push(dashboard);
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
    await page.waitForFunction('window.__sockets >= 6', undefined, { timeout: 30_000 });
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
