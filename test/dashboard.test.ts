import { mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { Locator, Page } from 'playwright-core';
import type { Config } from '../src/config';
import { DASHBOARD_POLICY, DOCS_POLICY } from '../src/http/securityHeaders';
import { closedAfterEach, connected, type DashboardPage, openPage, useBrowser } from './support/browser';
import { sessionPath, type ApiClient } from './support/http';
import { startInstance, useInstance, type TestInstance } from './support/instance';
import { useTestDatabase } from './support/testDatabase';

const database = useTestDatabase();
const { instance, api } = useInstance(database);
const chromium = useBrowser();
const keep = closedAfterEach();

const DASHBOARD_DIR = path.join(__dirname, '..', 'dashboard');
const DOCS_DIR = path.join(__dirname, '..', 'docs');

/** Opens a page of the server (not waiting for the live feed) and records what its security policy refused. */
async function openWatchingPolicy(pathAndHash: string): Promise<DashboardPage & { violations: string[] }> {
  const dashboard = await openPage(chromium.browser, 'about:blank');
  keep(dashboard);
  const violations: string[] = [];
  dashboard.page.on('console', (message) => /Content Security Policy/i.test(message.text()) && violations.push(message.text()));
  await dashboard.page.goto(`${instance.baseUrl}/${pathAndHash}`);
  return { ...dashboard, violations };
}

/** Opens the dashboard (at `hash`) and waits until its live feed is connected. */
async function open(hash = '', { on = instance, ...options }: { on?: TestInstance } & Parameters<typeof openPage>[2] = {}): Promise<DashboardPage> {
  const dashboard = await openPage(chromium.browser, `${on.baseUrl}/${hash}`, options);
  keep(dashboard);
  await connected(dashboard.page);
  return dashboard;
}

const row = (page: Page, id: string) => page.locator(`.session-row[data-session-id=${JSON.stringify(id)}]`);
const items = (page: Page) => page.locator('.timeline > .event');
const item = (page: Page, text: string) => items(page).filter({ hasText: text });
const hashFor = (id: string) => `#/sessions/${encodeURIComponent(id)}`;

/** Waits until the locator's text is exactly `text` (after trimming). */
async function hasText(locator: Locator, text: string): Promise<void> {
  await locator.filter({ hasText: new RegExp(`^\\s*${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*$`) }).waitFor();
}

async function createSession(id: string, name: string, extra: Record<string, unknown> = {}): Promise<void> {
  const reply = await api.post('/sessions', { session_id: id, session_name: name, ...extra });
  expect(reply.status).toBe(201);
}

async function postEvent(id: string, event: Record<string, unknown>, client: ApiClient = api): Promise<any> {
  const reply = await client.post(sessionPath(id, '/events'), event);
  expect(reply.status).toBe(201);
  return reply.body.event;
}

const say = (role: string, text: string) => ({ event_type: 'message', role, content: [{ type: 'text', text }] });

async function saveScreenshot(page: Page, name: string): Promise<void> {
  if (!process.env.UPDATE_SCREENSHOTS) return;
  mkdirSync(DOCS_DIR, { recursive: true });
  await page.screenshot({ path: path.join(DOCS_DIR, name) });
}

// First in the file, so the list in the screenshot shows only its own sessions.
describe('the screenshots in the README', () => {
  it('a list of live and finished sessions, and a finished session with messages, tool calls and its result', async () => {
    const { page } = await open();
    const minutesAgo = (minutes: number) => new Date(Date.now() - minutes * 60_000).toISOString();
    const sessions = [
      { session_id: 'sess-7f3a91c2', session_name: 'Nightly dependency upgrade', agent_name: 'maintainer', project_dir: '/srv/repos/billing-api' },
      { session_id: 'sess-1c9e04bb', session_name: 'Summarise incident INC-2291', agent_name: 'researcher', project_dir: '/home/ana/notes' },
      { session_id: 'sess-52d7e8a0', session_name: 'Review PR #482: rate limiter', agent_name: 'reviewer', project_dir: '/srv/repos/gateway' },
      { session_id: 'sess-a4b1f9d3', session_name: 'Fix flaky login test', agent_name: 'claude-code', project_dir: '/home/ana/src/webapp' },
      { session_id: 'sess-e81f2c65', session_name: 'Migrate CI to Node 20', agent_name: 'claude-code', project_dir: '/home/ana/src/webapp' },
      { session_id: 'sess-3d0c7a1e', session_name: 'Draft release notes v2.4', agent_name: 'writer', project_dir: '/home/ana/src/webapp/docs' },
    ];
    for (const session of sessions) {
      expect((await api.post('/sessions', session)).status).toBe(201);
    }
    const at = (minutes: number, event: Record<string, unknown>) => ({ ...event, timestamp: minutesAgo(minutes) });

    // The one the second screenshot shows.
    const fix = 'sess-a4b1f9d3';
    const events = [
      at(9, { event_type: 'session_start' }),
      at(9, say('user', 'The login test fails about one run in ten on CI. Find out why and fix it.')),
      at(8.6, say('assistant', 'I will run the test a few times to reproduce the failure, then look at how it waits for the session cookie.')),
      at(8.5, {
        event_type: 'pre_tool',
        tool_name: 'Bash',
        tool_input: { command: 'npx jest test/login.test.ts --runInBand --testNamePattern "logs in"', description: 'Run the login test' },
      }),
      at(8.1, {
        event_type: 'post_tool',
        tool_name: 'Bash',
        tool_output: {
          exit_code: 1,
          stdout:
            'FAIL test/login.test.ts\n  ✕ logs in with a valid password (5012 ms)\n\n  ● logs in with a valid password\n    thrown: "Exceeded timeout of 5000 ms for a test."',
        },
        error: 'Command exited with code 1',
      }),
      at(7.9, { event_type: 'pre_tool', tool_name: 'Read', tool_input: { file_path: '/home/ana/src/webapp/test/login.test.ts', offset: 1, limit: 60 } }),
      at(7.8, {
        event_type: 'post_tool',
        tool_name: 'Read',
        tool_output:
          "import { login } from './helpers';\n\nit('logs in with a valid password', async () => {\n  const page = await login('ana', 'correct horse');\n  await page.waitForTimeout(500);\n  expect(await page.cookie('session')).toBeDefined();\n});",
      }),
      at(7.2, say('assistant', 'The test sleeps for a fixed 500 ms instead of waiting for the cookie, so a slow CI runner loses the race. I will wait for the redirect instead.')),
      at(7, {
        event_type: 'pre_tool',
        tool_name: 'Edit',
        tool_input: { file_path: '/home/ana/src/webapp/test/login.test.ts', old_string: 'await page.waitForTimeout(500);', new_string: "await page.waitForURL('**/dashboard');" },
      }),
      at(6.9, { event_type: 'post_tool', tool_name: 'Edit', tool_output: 'The file /home/ana/src/webapp/test/login.test.ts has been updated.' }),
      at(6.5, {
        event_type: 'pre_tool',
        tool_name: 'Bash',
        tool_input: { command: 'for i in $(seq 20); do npx jest test/login.test.ts -t "logs in" --silent || exit 1; done', description: 'Run it 20 times' },
      }),
      at(4.2, { event_type: 'post_tool', tool_name: 'Bash', tool_output: { exit_code: 0, stdout: 'Tests: 1 passed, 1 total\n… (20 runs, all passed)' } }),
      at(4, say('assistant', 'Fixed: the login test now waits for the redirect to /dashboard instead of sleeping 500 ms. It passed 20 runs in a row.')),
      at(3.9, { event_type: 'session_stop', exit_code: 0, reason: 'completed' }),
    ];
    for (const event of events) await postEvent(fix, event);
    await postEvent('sess-3d0c7a1e', say('user', 'Draft the notes for 2.4 from the merged PRs.'));
    await postEvent('sess-3d0c7a1e', say('assistant', 'Done: docs/release-notes/2.4.md.'));
    await postEvent('sess-3d0c7a1e', { event_type: 'session_stop', exit_code: 0, reason: 'completed' });
    await postEvent('sess-e81f2c65', { event_type: 'session_stop', exit_code: 1, reason: 'tests failed', error: 'npm test exited with 1' });
    for (let i = 0; i < 6; i += 1) await postEvent('sess-7f3a91c2', { event_type: 'pre_tool', tool_name: 'Bash', tool_input: { command: `npm outdated --json # ${i}` } });
    for (let i = 0; i < 3; i += 1) await postEvent('sess-1c9e04bb', say(i % 2 ? 'assistant' : 'user', `Step ${i}`));
    await postEvent('sess-52d7e8a0', say('user', 'Review the rate limiter change.'));

    await hasText(row(page, fix).locator('.row-count'), '14');
    await hasText(row(page, 'sess-3d0c7a1e').locator('.status'), 'Finished');
    await hasText(row(page, 'sess-7f3a91c2').locator('.row-count'), '6');
    await saveScreenshot(page, 'dashboard-list.png');

    await row(page, fix).locator('.row-link').click();
    await page.locator('.result .result-text').filter({ hasText: 'It passed 20 runs in a row.' }).waitFor();
    await items(page).nth(9).waitFor(); // 14 events: each tool call and its result are one row
    // Open the first tool call's input and the failing run's output, as a reader would.
    await item(page, 'npx jest test/login.test.ts').first().locator('details.tool-input > summary').click();
    await page.evaluate('document.querySelector(".detail-scroll").scrollTop = 0');
    expect(
      await items(page)
        .filter({ has: page.locator('.tool-failed') })
        .count(),
    ).toBe(1);
    await saveScreenshot(page, 'dashboard-session.png');

    // For a look at dark mode and a phone (not committed): SCREENSHOT_PREVIEW_DIR=/some/dir.
    const preview = process.env.SCREENSHOT_PREVIEW_DIR;
    if (preview) {
      mkdirSync(preview, { recursive: true });
      await page.emulateMedia({ colorScheme: 'dark' });
      await page.screenshot({ path: path.join(preview, 'dark-session.png') });
      await page.goto(`${instance.baseUrl}/#/`);
      await connected(page);
      await row(page, fix).waitFor();
      await page.screenshot({ path: path.join(preview, 'dark-list.png') });
      await page.emulateMedia({ colorScheme: 'light' });
      await page.setViewportSize({ width: 390, height: 844 });
      await page.screenshot({ path: path.join(preview, 'phone-list.png') });
      await row(page, fix).locator('.row-link').click();
      await page.locator('.result').waitFor();
      await page.screenshot({ path: path.join(preview, 'phone-session.png') });
      await page.emulateMedia({ colorScheme: 'dark' });
      await page.screenshot({ path: path.join(preview, 'phone-session-dark.png') });
    }
  });
});

describe('the dashboard', () => {
  it('is served at / with its assets, gzip-compressed, under 300 KB in all', async () => {
    const names = ['/', ...readdirSync(path.join(DASHBOARD_DIR, 'assets')).map((name) => `/assets/${name}`)];
    let total = 0;
    for (const name of names) {
      const reply = await fetch(instance.baseUrl + name, { headers: { 'accept-encoding': 'gzip' } });
      expect(reply.status).toBe(200);
      expect(reply.headers.get('content-encoding')).toBe('gzip');
      total += Number(reply.headers.get('content-length'));
      await reply.arrayBuffer();
    }
    expect(total).toBeGreaterThan(0);
    expect(total).toBeLessThan(300 * 1024);
  });

  it('loads nothing from anywhere but its own server', async () => {
    const { page, requests, sockets } = await open();
    await page
      .locator('.list-summary')
      .filter({ hasText: /session/ })
      .waitFor();
    const origin = new URL(instance.baseUrl);
    for (const url of [...requests, ...sockets]) expect(new URL(url).host).toBe(origin.host);
    expect(sockets).toHaveLength(1);
  });

  it('is served under a strict policy (this origin only, never framed, no referrer), and works under it', async () => {
    for (const name of ['/', '/assets/app.js', '/assets/style.css']) {
      const reply = await fetch(instance.baseUrl + name);
      await reply.arrayBuffer();
      expect(reply.headers.get('content-security-policy')).toBe(DASHBOARD_POLICY);
      expect(reply.headers.get('x-content-type-options')).toBe('nosniff');
      expect(reply.headers.get('referrer-policy')).toBe('no-referrer');
    }
    expect(DASHBOARD_POLICY).toContain("frame-ancestors 'none'");
    expect(DASHBOARD_POLICY.split('; ').filter((directive) => /https?:|\*|unsafe|data:/.test(directive))).toEqual([]);
    const { page, violations } = await openWatchingPolicy('');
    await connected(page);
    await createSession('csp-1', 'Under the policy');
    await postEvent('csp-1', say('assistant', 'still rendered'));
    await row(page, 'csp-1').locator('.row-link').click();
    await item(page, 'still rendered').waitFor();
    expect(violations).toEqual([]);
  });
});

describe('the API page at /docs', () => {
  it('renders the OpenAPI document from files of this server, under its own policy, with what each parameter means', async () => {
    for (const name of ['/docs', '/docs/swagger-ui-bundle.js', '/docs/swagger-ui.css', '/docs/init.js']) {
      const reply = await fetch(instance.baseUrl + name);
      await reply.arrayBuffer();
      expect(reply.status).toBe(200);
      expect(reply.headers.get('content-security-policy')).toBe(DOCS_POLICY);
      expect(reply.headers.get('x-content-type-options')).toBe('nosniff');
      expect(reply.headers.get('referrer-policy')).toBe('no-referrer');
    }
    expect((await fetch(`${instance.baseUrl}/docs/package.json`)).status).toBe(404);
    // Nothing from another origin, and no inline script.
    expect(DOCS_POLICY.split('; ').filter((directive) => /https?:|\*/.test(directive))).toEqual([]);
    expect(DOCS_POLICY).toContain("script-src 'self';");

    const { page, requests, violations } = await openWatchingPolicy('docs');
    const listSessions = page.locator('#operations-default-get_sessions');
    await listSessions.locator('.opblock-summary').click();
    await listSessions.locator('.parameters').filter({ hasText: 'in any case' }).waitFor();
    await listSessions.locator('.parameters').filter({ hasText: 'exact match: no prefix or partial match' }).waitFor();
    const createOne = page.locator('#operations-default-post_sessions');
    await createOne.locator('.opblock-summary').click();
    await createOne.locator('.body-param__example, .microlight').filter({ hasText: 'Fix the login test' }).first().waitFor();
    expect(violations).toEqual([]);
    const origin = new URL(instance.baseUrl);
    for (const url of requests) if (!url.startsWith('data:')) expect(new URL(url).host).toBe(origin.host);
  });
});

describe('the session list', () => {
  it('when sessions and events are created, changed and deleted through the API, then the list follows live, newest first, without a reload', async () => {
    const { page } = await open();
    await page.evaluate('window.__notReloaded = true');
    await createSession('list-a', 'Alpha list session', { agent_name: 'builder', project_dir: '/srv/alpha' });
    const a = row(page, 'list-a');
    await hasText(a.locator('.row-link'), 'Alpha list session');
    await hasText(a.locator('.status'), 'Live');
    expect(await a.locator('.status .pulse').count()).toBe(1);
    await hasText(a.locator('.row-agent'), 'builder');
    await hasText(a.locator('.row-project'), '/srv/alpha');
    await hasText(a.locator('.row-id code'), 'list-a');
    await hasText(a.locator('.row-count'), '0');
    expect(await a.locator('time').count()).toBe(1); // created; no activity yet
    await hasText(a.locator('.row-times > span').nth(1), 'Active –');

    await postEvent('list-a', say('user', 'one'));
    await postEvent('list-a', say('assistant', 'two'));
    await hasText(a.locator('.row-count'), '2');
    await hasText(a.locator('.row-times > span').nth(1).locator('time'), 'just now');

    await createSession('list-b', 'Bravo list session');
    await row(page, 'list-b').waitFor();
    const order = await page.locator('.session-row').evaluateAll((rows) => rows.map((el: any) => el.dataset.sessionId));
    expect(order.indexOf('list-b')).toBeLessThan(order.indexOf('list-a'));

    await api.patch(sessionPath('list-a'), { session_name: 'Alpha renamed' });
    await hasText(a.locator('.row-link'), 'Alpha renamed');
    await postEvent('list-a', { event_type: 'session_stop', exit_code: 0 });
    await hasText(a.locator('.status'), 'Finished');
    await hasText(a.locator('.row-count'), '3');

    await api.delete(sessionPath('list-b'));
    await row(page, 'list-b').waitFor({ state: 'detached' });
    expect(await page.evaluate('window.__notReloaded')).toBe(true);
  });

  it('searches by name and filters by status and agent', async () => {
    await createSession('filter-1', 'Filter Kiwi one', { agent_name: 'fruit-agent' });
    await createSession('filter-2', 'filter kiwi two', { agent_name: 'other-agent' });
    await createSession('filter-3', 'Filter Mango', { agent_name: 'fruit-agent' });
    await postEvent('filter-2', { event_type: 'session_stop', exit_code: 0 });
    const { page } = await open();
    await row(page, 'filter-3').waitFor();
    const visible = async () =>
      (await page.locator('.session-row').evaluateAll((rows) => rows.map((el: any) => el.dataset.sessionId))).filter((id: string) => id.startsWith('filter-')).sort();

    await page.getByRole('searchbox', { name: 'Search sessions by name' }).fill('KIWI');
    await row(page, 'filter-3').waitFor({ state: 'detached' });
    expect(await visible()).toEqual(['filter-1', 'filter-2']);

    await page.getByRole('combobox', { name: 'Filter by status' }).selectOption('running');
    await row(page, 'filter-2').waitFor({ state: 'detached' });
    expect(await visible()).toEqual(['filter-1']);

    await page.getByRole('searchbox', { name: 'Search sessions by name' }).fill('');
    await page.getByRole('combobox', { name: 'Filter by status' }).selectOption('');
    await page.getByRole('combobox', { name: 'Filter by agent' }).selectOption('fruit-agent');
    await row(page, 'filter-3').waitFor();
    await row(page, 'filter-2').waitFor({ state: 'detached' });
    expect(await visible()).toEqual(['filter-1', 'filter-3']);

    // A session created meanwhile is filtered like the rest.
    await createSession('filter-4', 'Filter Papaya', { agent_name: 'other-agent' });
    await createSession('filter-5', 'Filter Lime', { agent_name: 'fruit-agent' });
    await row(page, 'filter-5').waitFor();
    expect(await visible()).toEqual(['filter-1', 'filter-3', 'filter-5']);
  });

  it('copies a session id with the copy button', async () => {
    await createSession('copy-me/ü 1', 'Copy me');
    const { page } = await open('', { permissions: ['clipboard-read', 'clipboard-write'] });
    await row(page, 'copy-me/ü 1').getByRole('button', { name: 'Copy session id' }).click();
    await page.locator('#announcer').filter({ hasText: 'Copied' }).waitFor();
    expect(await page.evaluate('navigator.clipboard.readText()')).toBe('copy-me/ü 1');
  });

  it('is keyboard navigable: Tab reaches a session and Enter opens it', async () => {
    await createSession('keys-1', 'Keyboard session');
    const { page } = await open();
    await page.getByRole('searchbox', { name: 'Search sessions by name' }).fill('Keyboard session');
    await row(page, 'keys-1').waitFor();
    await page.keyboard.press('Tab'); // status
    await page.keyboard.press('Tab'); // agent
    // project, order, then the search inside events: its box, kind, tool and button
    for (let i = 0; i < 6; i += 1) await page.keyboard.press('Tab');
    await page.keyboard.press('Tab'); // the session
    expect(await page.evaluate('document.activeElement.textContent')).toBe('Keyboard session');
    await page.keyboard.press('Enter');
    await page.waitForURL(/#\/sessions\/keys-1$/);
    await hasText(page.locator('.session-title'), 'Keyboard session');
    expect(await page.evaluate('document.activeElement.classList.contains("session-title")')).toBe(true);
  });

  it('shows names and contents as text, never as markup', async () => {
    const name = '<img src=x onerror="window.__pwned = 1">';
    await createSession('xss-1', name);
    await postEvent('xss-1', say('assistant', '<script>window.__pwned = 2</script><b>bold?</b>'));
    await postEvent('xss-1', { event_type: 'pre_tool', tool_name: '<i>tool</i>', tool_input: { command: '<img src=y onerror="window.__pwned = 3">' } });
    const { page } = await open(hashFor('xss-1'));
    await hasText(row(page, 'xss-1').locator('.row-link'), name);
    await hasText(page.locator('.session-title'), name);
    await item(page, '<b>bold?</b>').waitFor();
    await hasText(page.locator('.tool-name'), '<i>tool</i>');
    expect(await page.locator('main img, main script, main b, main i').count()).toBe(0);
    expect(await page.evaluate('window.__pwned')).toBeUndefined();
  });
});

describe('the session view', () => {
  it('when events arrive, then they appear in arrival order, live, and the counts follow', async () => {
    await createSession('view-1', 'Live view', { agent_name: 'coder', project_dir: '/srv/view' });
    await postEvent('view-1', say('user', 'Please list the files'));
    const { page } = await open();
    await row(page, 'view-1').locator('.row-link').click();
    await item(page, 'Please list the files').waitFor();
    await hasText(page.locator('.session-header .event-count'), '1');
    await hasText(page.locator('.session-header .meta div').filter({ hasText: 'Agent' }).locator('dd'), 'coder');

    await postEvent('view-1', say('assistant', 'Here they are.'));
    await postEvent('view-1', {
      event_type: 'message',
      role: 'assistant',
      content: [
        { type: 'tool_use', name: 'Glob', input: { pattern: '*' } },
        { type: 'text', text: 'And more.' },
      ],
    });
    await postEvent('view-1', { event_type: 'custom_thing', reason: 'something else' });
    // An event type the page does not know, in words (its name in the tooltip).
    await item(page, 'Custom thing').waitFor();
    expect(await item(page, 'Custom thing').locator('.event-type').getAttribute('title')).toBe('custom_thing');
    expect(await items(page).allInnerTexts()).toEqual([
      expect.stringContaining('Please list the files'),
      expect.stringContaining('Here they are.'),
      expect.stringMatching(/tool_use[\s\S]*Glob[\s\S]*And more\./),
      expect.stringContaining('Custom thing'),
    ]);
    await hasText(items(page).nth(0).locator('.role'), 'User');
    await hasText(items(page).nth(1).locator('.role'), 'Assistant');
    await hasText(page.locator('.session-header .event-count'), '4');
    await hasText(row(page, 'view-1').locator('.row-count'), '4');
  });

  it('shows a tool call with its name and collapsible input and output; a long output is cut until "Show all"; errors stand out', async () => {
    await createSession('tool-1', 'Tools');
    const longOutput = Array.from({ length: 300 }, (_, i) => `line ${i + 1}`).join('\n');
    await postEvent('tool-1', { event_type: 'pre_tool', tool_name: 'Bash', tool_input: { command: 'seq 300', timeout: 10 } });
    await postEvent('tool-1', { event_type: 'post_tool', tool_name: 'Bash', tool_output: longOutput });
    await postEvent('tool-1', { event_type: 'post_tool', tool_name: 'Write', tool_output: { ok: false }, error: 'Permission denied' });
    await postEvent('tool-1', { event_type: 'post_tool', tool_name: 'Bash', tool_output: '', exit_code: 2 });
    const { page } = await open(hashFor('tool-1'));

    const call = items(page).nth(0);
    await hasText(call.locator('.tool-name'), 'Bash');
    await hasText(call.locator('.preview'), 'seq 300');
    const input = call.locator('details.tool-input');
    expect(await input.getAttribute('open')).toBeNull();
    expect(await input.locator('pre').count()).toBe(0);
    await input.locator('summary').click();
    expect(await input.locator('pre').textContent()).toBe(JSON.stringify({ command: 'seq 300', timeout: 10 }, null, 2));
    await input.locator('summary').click();
    expect(await input.getAttribute('open')).toBeNull();

    // The result is in the call's row.
    const output = items(page).nth(0).locator('details.tool-output');
    await output.locator('summary').click();
    const shown = await output.locator('pre').textContent();
    expect(shown).toContain('line 1\n');
    expect(shown).not.toContain('line 300');
    await output.getByRole('button', { name: /Show all/ }).click();
    expect(await output.locator('pre').textContent()).toBe(longOutput);

    const failed = items(page).nth(1);
    expect(await failed.getAttribute('class')).toContain('is-error');
    await hasText(failed.locator('.error-text'), 'Permission denied');
    expect(await failed.locator('details.tool-output').getAttribute('open')).not.toBeNull();
    expect(await items(page).nth(2).getAttribute('class')).toContain('is-error');
    expect(await items(page).nth(0).getAttribute('class')).not.toContain('is-error');
  });

  it('when a session stops, then the stop shows its exit code and reason, and the result appears at the top', async () => {
    await createSession('stop-1', 'Stopping');
    const { page } = await open(hashFor('stop-1'));
    await page.locator('.timeline-footer').filter({ hasText: 'No events yet' }).waitFor();
    expect(await page.locator('.result').isHidden()).toBe(true);
    await postEvent('stop-1', say('assistant', 'Working on it'));
    await postEvent('stop-1', say('assistant', 'Final answer: 42'));
    await postEvent('stop-1', { event_type: 'session_stop', exit_code: 0, reason: 'completed' });

    const stop = item(page, 'Session stopped');
    await hasText(stop.locator('.badge'), 'exit code 0');
    await stop.filter({ hasText: 'completed' }).waitFor();
    expect(await stop.getAttribute('class')).not.toContain('is-error');
    await hasText(page.locator('.result .result-text'), 'Final answer: 42');
    await hasText(page.locator('.session-header .status'), 'Finished');
    // The result sits above the timeline.
    const [resultBox, timelineBox] = await Promise.all([page.locator('.result').boundingBox(), page.locator('.timeline').boundingBox()]);
    expect(resultBox!.y).toBeLessThan(timelineBox!.y);

    // A failed stop is an error, and a session without an assistant message has no result.
    await createSession('stop-2', 'Failing');
    await page.goto(`${instance.baseUrl}/${hashFor('stop-2')}`);
    await page.locator('.timeline-footer').filter({ hasText: 'No events yet' }).waitFor();
    const resultAsked = page.waitForResponse((response) => response.url().endsWith('/stop-2/result'));
    await postEvent('stop-2', { event_type: 'session_stop', exit_code: 3, reason: 'crashed' });
    await hasText(item(page, 'Session stopped').locator('.badge'), 'exit code 3');
    expect(await item(page, 'Session stopped').getAttribute('class')).toContain('is-error');
    await hasText(page.locator('.session-header .status'), 'Failed');
    expect((await resultAsked).status()).toBe(404);
    expect(await page.locator('.result').isHidden()).toBe(true);
  });

  it('scrolls to new events while the reader is at the bottom; after scrolling up, offers "jump to latest" instead', async () => {
    await createSession('scroll-1', 'Scrolling');
    for (let i = 0; i < 40; i += 1) await postEvent('scroll-1', say('assistant', `Filler message ${i}\nwith a second line`));
    const { page } = await open(hashFor('scroll-1'));
    await items(page).nth(39).waitFor();
    await Promise.all([1, 2, 3].map((n) => postEvent('scroll-1', say('assistant', `Burst ${n}`))));
    await postEvent('scroll-1', say('assistant', 'Newest at the bottom'));
    await item(page, 'Newest at the bottom').waitFor();
    await page.waitForFunction('(() => { const el = document.querySelector(".detail-scroll"); return el.scrollHeight - el.scrollTop - el.clientHeight < 48; })()');

    await page.evaluate('document.querySelector(".detail-scroll").scrollTop = 0');
    await page.waitForFunction('document.querySelector(".detail-scroll").scrollTop === 0');
    await postEvent('scroll-1', say('assistant', 'Arrived while reading'));
    const jump = page.getByRole('button', { name: /Jump to latest/ });
    await jump.waitFor();
    await hasText(jump, '1 new event · Jump to latest');
    expect(await page.evaluate('document.querySelector(".detail-scroll").scrollTop')).toBe(0);
    await jump.click();
    await jump.waitFor({ state: 'hidden' });
    await page.waitForFunction('(() => { const el = document.querySelector(".detail-scroll"); return el.scrollHeight - el.scrollTop - el.clientHeight < 48; })()');
  });

  it('pages through a long session instead of loading every event at once', async () => {
    await createSession('long-1', 'Long session');
    await database.query(
      `insert into events (session_id, event_type, role, content)
       select 'long-1', 'message', 'assistant', json_build_array(json_build_object('type', 'text', 'text', 'Message ' || n))
       from generate_series(1, 1200) n`,
    );
    const { page, requests } = await open(hashFor('long-1'));
    await items(page).nth(499).waitFor();
    const more = page.getByRole('button', { name: 'Load more events' });
    await more.waitFor();
    expect(await items(page).count()).toBe(500);
    await page.locator('.timeline-footer').filter({ hasText: '500 shown, 700 more' }).waitFor();
    // Live events past the loaded pages wait for their page.
    await postEvent('long-1', say('assistant', 'Live at the end'));
    await page.locator('.timeline-footer').filter({ hasText: '500 shown, 701 more' }).waitFor();
    expect(await item(page, 'Live at the end').count()).toBe(0);

    await more.click();
    await items(page).nth(999).waitFor();
    await more.click();
    await item(page, 'Live at the end').waitFor();
    await more.waitFor({ state: 'detached' });
    expect(await items(page).count()).toBe(1201);
    expect(await items(page).nth(1199).locator('.text').textContent()).toBe('Message 1200');
    const pagesRead = requests.filter((url) => url.includes('/events?'));
    expect(pagesRead).toHaveLength(3);
    for (const url of pagesRead) expect(new URL(url).searchParams.get('limit')).toBe('500');
  });

  it('a deep link opens its session on load and again after a reload, whatever characters the id has', async () => {
    const id = 'deep/link ?#%&🙂';
    await createSession(id, 'Deep link session');
    await postEvent(id, say('user', 'Deep hello'));
    const { page } = await open(hashFor(id));
    expect(page.url()).toContain('#/sessions/deep%2Flink%20%3F%23%25%26%F0%9F%99%82');
    await hasText(page.locator('.session-title'), 'Deep link session');
    await hasText(page.locator('.session-id'), id);
    await item(page, 'Deep hello').waitFor();
    expect(await row(page, id).getAttribute('aria-current')).toBe('true');

    await page.reload();
    await connected(page);
    await hasText(page.locator('.session-title'), 'Deep link session');
    await item(page, 'Deep hello').waitFor();

    await page.goto(`${instance.baseUrl}/${hashFor('no-such-session')}`);
    await hasText(page.locator('.session-title'), 'Session not found');
  });

  it('deletes a session only after confirmation', async () => {
    await createSession('delete-1', 'Delete me');
    await postEvent('delete-1', say('user', 'bye'));
    const { page } = await open(hashFor('delete-1'));
    await item(page, 'bye').waitFor();
    const dialog = page.locator('#confirm-dialog');

    await page.getByRole('button', { name: 'Delete' }).click();
    await dialog.waitFor();
    await hasText(dialog.locator('[data-confirm-name]'), 'Delete me');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'hidden' });
    expect((await api.get(sessionPath('delete-1'))).status).toBe(200);

    await page.getByRole('button', { name: 'Delete' }).click();
    await dialog.getByRole('button', { name: 'Delete' }).click();
    await page.waitForURL(/#\/$/);
    await row(page, 'delete-1').waitFor({ state: 'detached' });
    expect((await api.get(sessionPath('delete-1'))).status).toBe(404);
  });

  it('when another client deletes the open session, then the view says so', async () => {
    await createSession('gone-1', 'Going away');
    const { page } = await open(hashFor('gone-1'));
    await hasText(page.locator('.session-title'), 'Going away');
    await api.delete(sessionPath('gone-1'));
    await page.locator('.notice').filter({ hasText: 'This session has been deleted.' }).waitFor();
    expect(await page.getByRole('button', { name: 'Delete' }).isDisabled()).toBe(true);
  });
});

describe('the connection', () => {
  /** Records, from now on, each state the connection indicator enters and the text it shows then. */
  async function recordConnectionStates(page: Page): Promise<() => Promise<string[]>> {
    await page.evaluate(() => {
      const indicator = (globalThis as any).document.getElementById('connection');
      const entered: string[] = ((globalThis as any).__connectionStates = []);
      let last = indicator.dataset.connection;
      // Called after onState has set both the attribute and the text.
      new (globalThis as any).MutationObserver(() => {
        const state = indicator.dataset.connection;
        if (state !== last) entered.push(`${state}: ${indicator.textContent.trim()}`);
        last = state;
      }).observe(indicator, { attributes: true, attributeFilter: ['data-connection'] });
    });
    return () => page.evaluate(() => [...(globalThis as any).__connectionStates]);
  }

  it('when the server goes away, then the dashboard says so, resumes with since and shows each event of the gap exactly once', async () => {
    // The page talks to its own instance, which is stopped and started again on the same port; writes
    // during the gap go through the other instance, as they would through another replica.
    const second = await startInstance(database.url);
    const port = Number(new URL(second.baseUrl).port);
    await createSession('gap-1', 'Gap session');
    await postEvent('gap-1', say('user', 'before 1'));
    await postEvent('gap-1', say('assistant', 'before 2'));
    const { page, sockets } = await open(hashFor('gap-1'), { on: second });
    await item(page, 'before 2').waitFor();

    const states = await recordConnectionStates(page);
    await second.close();
    // "Reconnecting…" lasts the first few refused attempts (under 2 s), then "Offline": a loaded machine may
    // look only after it has passed, so the page's own record says what it showed first.
    await page.waitForFunction(() => (globalThis as any).__connectionStates.length > 0);
    expect((await states())[0]).toBe('reconnecting: Reconnecting…');
    for (let i = 1; i <= 3; i += 1) await postEvent('gap-1', say('assistant', `gap ${i}`));
    await createSession('gap-2', 'Created during the gap');

    const fill = page.waitForResponse((response) => /\/events\?after=[1-9]/.test(response.url()));
    await startInstance(database.url, { port });
    await connected(page);
    await fill;
    await postEvent('gap-1', say('assistant', 'after'));
    await item(page, 'after').waitFor();
    await row(page, 'gap-2').waitFor();
    expect((await states()).map((entry) => entry.split(':')[0]).join(' → ')).toMatch(/^reconnecting → (offline → )?connected$/);

    expect((await items(page).allInnerTexts()).map((text) => text.split('\n').pop())).toEqual(['before 1', 'before 2', 'gap 1', 'gap 2', 'gap 3', 'after']);
    await hasText(row(page, 'gap-1').locator('.row-count'), '6');
    await hasText(page.locator('.session-header .event-count'), '6');
    expect(sockets.length).toBeGreaterThanOrEqual(2);
    expect(new URL(sockets[0]!).searchParams.get('since')).toBeNull();
    expect(new URL(sockets[sockets.length - 1]!).searchParams.get('since')).toMatch(/^\d+$/);
  });

  it('shows offline after repeated failures, with a way to retry now', async () => {
    const third = await startInstance(database.url);
    const port = Number(new URL(third.baseUrl).port);
    // The page's clock is stopped once it is connected: its retries wait until the test moves time on, so
    // the page cannot reconnect by itself before "Retry now" is pressed, however long the restart takes.
    const dashboard = await openPage(chromium.browser, 'about:blank');
    keep(dashboard);
    const { page } = dashboard;
    await page.clock.install();
    await page.goto(`${third.baseUrl}/`);
    await connected(page);
    await page.clock.pauseAt(await page.evaluate(() => Date.now() + 1000));
    await third.close();
    const offline = page.locator('#connection[data-connection="offline"]');
    // Each turn lets the retry that is due fail for real; the fourth failure in a row says offline.
    while (!(await offline.isVisible())) await page.clock.runFor(4000);
    await page
      .locator('#connection')
      .filter({ hasText: /Offline · retry in \d+ s/ })
      .waitFor();
    await startInstance(database.url, { port });
    expect(await offline.isVisible()).toBe(true);
    await page.getByRole('button', { name: 'Retry now' }).click();
    await connected(page);
    expect(await page.getByRole('button', { name: 'Retry now' }).isHidden()).toBe(true);
  });
});

describe('with API keys', () => {
  const withKeys: Partial<Config> = { apiKeys: ['secret'] };

  it('asks for a key once, keeps it for the tab and sends it on REST and the WebSocket; a dismissed prompt can be reopened', async () => {
    const secured = await startInstance(database.url, withKeys);
    const authorised = secured.api;
    const bearer = { authorization: 'Bearer secret' };
    expect((await authorised.get('/sessions')).status).toBe(401);
    const dashboard = await openPage(chromium.browser, `${secured.baseUrl}/`);
    keep(dashboard);
    const { page, sockets } = dashboard;
    const authorisations: (string | undefined)[] = [];
    page.on('request', (request) => {
      if (new URL(request.url()).pathname.startsWith('/sessions')) authorisations.push(request.headers().authorization);
    });

    const dialog = page.locator('#key-dialog');
    await dialog.waitFor();
    // Dismissed, the dialog stays away (no nagging) until asked for; the connection says why nothing works.
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    await hasText(page.locator('#connection[data-connection="unauthorized"]'), 'Not authenticated');
    await page.getByRole('button', { name: 'Enter API key' }).click();
    await dialog.waitFor();
    await page.getByRole('textbox', { name: 'Key' }).fill('wrong');
    await dialog.getByRole('button', { name: 'Connect' }).click();
    await dialog.filter({ hasText: 'That key was not accepted' }).waitFor();
    await page.getByRole('textbox', { name: 'Key' }).fill('secret');
    await dialog.getByRole('button', { name: 'Connect' }).click();
    await connected(page);
    authorisations.splice(0); // from here on, every request carries the key
    expect(await dialog.isVisible()).toBe(false);
    expect(await page.getByRole('button', { name: 'Enter API key' }).isHidden()).toBe(true);
    expect(await page.evaluate('sessionStorage.getItem("asm.apiKey")')).toBe('secret');
    expect(new URL(sockets[sockets.length - 1]!).searchParams.get('api_key')).toBe('secret');

    expect((await authorised.post('/sessions', { session_id: 'auth-1', session_name: 'Behind a key' }, bearer)).status).toBe(201);
    await row(page, 'auth-1').locator('.row-link').click();
    expect((await authorised.post(sessionPath('auth-1', '/events'), say('user', 'secured hello'), bearer)).status).toBe(201);
    await item(page, 'secured hello').waitFor();
    expect(authorisations.length).toBeGreaterThan(0);
    expect(authorisations.every((value) => value === 'Bearer secret')).toBe(true);

    // Kept for the tab: a reload asks no more.
    await page.reload();
    await connected(page);
    await item(page, 'secured hello').waitFor();
    expect(await dialog.isVisible()).toBe(false);
  });
});

describe('layout', () => {
  it('on a phone, shows the list and a session one at a time, with a way back', async () => {
    await createSession('phone-1', 'Phone session');
    await postEvent('phone-1', say('user', 'Small screen'));
    const { page } = await open('', { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    await row(page, 'phone-1').locator('.row-link').tap();
    await item(page, 'Small screen').waitFor();
    expect(await page.locator('.list-pane').isHidden()).toBe(true);
    const width = await page.evaluate('document.documentElement.scrollWidth');
    expect(width).toBeLessThanOrEqual(390);
    await page.getByRole('link', { name: 'All sessions' }).tap();
    await row(page, 'phone-1').waitFor();
    expect(await page.locator('.detail-pane').isHidden()).toBe(true);
  });

  it('follows the system colour scheme', async () => {
    const { page } = await open('', { colorScheme: 'light' });
    const background = () => page.evaluate('getComputedStyle(document.body).backgroundColor');
    const light = await background();
    await page.emulateMedia({ colorScheme: 'dark' });
    const dark = await background();
    expect(light).toBe('rgb(244, 245, 247)');
    expect(dark).toBe('rgb(14, 17, 22)');
  });
});

// Near the end of the file: its many sessions would make the lists of later tests long.
describe('activity sparklines', () => {
  const sparkline = (page: Page, id: string) => row(page, id).locator('.row-spark');
  const counts = (...at: number[]) => {
    const slices = new Array(24).fill(0);
    for (const slice of at) slices[slice] += 1;
    return slices.join(',');
  };

  it("when the list shows a session, then its row draws the session's events over its time, and redraws as events come", async () => {
    await createSession('spark-1', 'Sparkline session');
    const start = Date.parse('2025-05-01T09:00:00Z');
    const at = (seconds: number, text: string) => ({ ...say('assistant', text), timestamp: new Date(start + seconds * 1000).toISOString() });
    for (const event of [at(0, 'first'), at(1, 'second'), at(10, 'third')]) await postEvent('spark-1', event);
    const { page } = await open();
    // 24 slices of 10 s / 24: 0 s in the first, 1 s in the third, the latest in the last.
    await sparkline(page, 'spark-1')
      .and(page.locator(`[data-counts="${counts(0, 2, 23)}"]`))
      .waitFor();
    expect(await sparkline(page, 'spark-1').getAttribute('aria-label')).toMatch(/^Activity: 3 events from .+ to .+, at most 1 in one of 24 slices$/);
    expect(await sparkline(page, 'spark-1').locator('svg rect').count()).toBe(3);

    await postEvent('spark-1', at(20, 'fourth'));
    await sparkline(page, 'spark-1')
      .and(page.locator(`[data-counts="${counts(0, 1, 12, 23)}"]`))
      .waitFor();
    // A session without events has nothing to draw.
    await createSession('spark-empty', 'No events yet');
    await row(page, 'spark-empty').waitFor();
    expect(await sparkline(page, 'spark-empty').locator('svg').count()).toBe(0);
  });

  it('asks the server only about the rows on or near the screen, several in one request', async () => {
    await database.query(
      `insert into sessions (session_id, session_name, created_at)
       select 'spark-bulk-' || lpad(n::text, 3, '0'), 'Bulk sparkline ' || n, now() - n * interval '1 second'
       from generate_series(1, 150) n`,
    );
    await database.query(
      `insert into events (session_id, event_type, timestamp)
       select 'spark-bulk-' || lpad(n::text, 3, '0'), 'message', now() - k * interval '1 minute'
       from generate_series(1, 150) n, generate_series(0, 1) k`,
    );
    const { page, requests } = await open();
    await page.getByRole('searchbox', { name: 'Search sessions by name' }).fill('Bulk sparkline');
    await sparkline(page, 'spark-bulk-001').locator('svg').waitFor();
    const asked = () => requests.filter((url) => new URL(url).pathname === '/activity').flatMap((url) => new URL(url).searchParams.getAll('session_id'));
    expect(asked()).toContain('spark-bulk-002');
    expect(asked().length).toBeLessThan(60);
    expect(asked()).not.toContain('spark-bulk-150');
    expect(requests.filter((url) => new URL(url).pathname === '/activity').length).toBeLessThan(asked().length);

    // Scrolled to the end, the rows there ask, and draw.
    await row(page, 'spark-bulk-150').scrollIntoViewIfNeeded();
    await sparkline(page, 'spark-bulk-150').locator('svg').waitFor();
  });
});

// Last in the file: the sessions it adds would make every later list long.
describe('many sessions', () => {
  it('lists the newest 1,000 at once and pages in older ones on request', async () => {
    await database.query(
      `insert into sessions (session_id, session_name, created_at)
       select 'bulk-' || lpad(n::text, 4, '0'), 'Bulk ' || n, now() - interval '1 day' - n * interval '1 second'
       from generate_series(1, 1100) n`,
    );
    const total = Number((await database.query('select count(*) as n from sessions')).rows[0].n);
    const { page } = await open();
    // Laying out 1,000 rows and then 2,000 takes seconds of a loaded machine's CPU: each step waits for
    // its condition as long as the test may run, not for the 10 s meant for a small page.
    page.setDefaultTimeout(100_000);
    await hasText(page.locator('.list-summary'), '1,000 sessions');
    const older = page.getByRole('button', { name: 'Load older sessions' });
    await older.scrollIntoViewIfNeeded();
    await older.click();
    await hasText(page.locator('.list-summary'), `${total.toLocaleString('en-US')} sessions`);
    await older.waitFor({ state: 'hidden' });
    // A list this long is windowed: a few hundred rows are in the page, and scrolling brings the others.
    expect(await page.locator('.session-row').count()).toBeLessThan(total);
    await page.locator('#list-pane').evaluate((pane) => pane.scrollTo({ top: pane.scrollHeight }));
    await row(page, 'bulk-1100').waitFor();
    expect(await page.locator('.session-row').last().getAttribute('data-session-id')).toBe('bulk-1100');
    const newest = (await database.query('select session_id from sessions order by created_at desc, session_id limit 1')).rows[0].session_id;
    await page.locator('#list-pane').evaluate((pane) => pane.scrollTo({ top: 0 }));
    await row(page, newest).waitFor();
    expect(await page.locator('.session-row').first().getAttribute('data-session-id')).toBe(newest);
  }, 120_000);
});
