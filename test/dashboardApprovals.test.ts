// The Needs-you queue in Chromium: Claude Code's PermissionRequest hooks, held by the server, appear live on
// the page and are answered from it; the held hook then answers Claude Code. Approvals are made as Claude Code
// makes them: a PreToolUse hook, then a PermissionRequest posted in the background (it is held until decided).
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { closedAfterEach, connected, launchBrowser, openPage } from './support/browser';
import { apiClient, type ApiClient, type Reply } from './support/http';
import { startInstance, type TestInstance } from './support/instance';
import { useTestDatabase } from './support/testDatabase';

const database = useTestDatabase();
let browser: Browser;
let instance: TestInstance;
let api: ApiClient;
const keep = closedAfterEach();
/** Hooks still held when a test ends are answered by the server's shutdown. */
const held: Promise<Reply>[] = [];

beforeAll(async () => {
  [browser, instance] = await Promise.all([launchBrowser(), startInstance(database.url)]);
  api = apiClient(instance.baseUrl);
});
afterAll(async () => {
  await instance?.close();
  await Promise.allSettled(held);
  await browser?.close();
});

async function open(hash = '', options: Parameters<typeof openPage>[2] = {}): Promise<Page> {
  const dashboard = await openPage(browser, `${instance.baseUrl}/${hash}`, options);
  keep(dashboard);
  await connected(dashboard.page);
  return dashboard.page;
}

const cwd = '/home/ann/billing';
const hook = (sessionId: string, name: string, extra: Record<string, unknown>) => ({
  session_id: sessionId,
  transcript_path: `/home/ann/.claude/projects/-home-ann-billing/${sessionId}.jsonl`,
  cwd,
  permission_mode: 'default',
  hook_event_name: name,
  ...extra,
});

let made = 0;

/**
 * A tool call that needs permission, as Claude Code sends it: PreToolUse (with its tool_use_id), then
 * PermissionRequest, held by the server. Resolves once the approval exists; `answer` is the held hook's reply.
 */
async function askPermission(
  sessionId: string,
  toolName: string,
  toolInput: Record<string, unknown>,
  { prompt, dir = cwd }: { prompt?: string; dir?: string } = {},
): Promise<{ approval: any; answer: Promise<Reply> }> {
  made += 1;
  if (prompt) expect((await api.post('/hooks/claude-code', hook(sessionId, 'UserPromptSubmit', { prompt, cwd: dir }))).status).toBe(200);
  expect((await api.post('/hooks/claude-code', hook(sessionId, 'PreToolUse', { tool_name: toolName, tool_input: toolInput, tool_use_id: `toolu_${made}`, cwd: dir }))).status).toBe(
    200,
  );
  const suggestions = [
    {
      type: 'addRules',
      rules: [{ toolName, ruleContent: `${typeof toolInput.command === 'string' ? toolInput.command.split(' ')[0] : 'any'}:*` }],
      behavior: 'allow',
      destination: 'session',
    },
  ];
  const answer = api.post(
    '/hooks/claude-code',
    hook(sessionId, 'PermissionRequest', { tool_name: toolName, tool_input: toolInput, permission_suggestions: suggestions, cwd: dir }),
  );
  held.push(answer);
  const approval = await waitFor(async () => {
    const reply = await api.get(`/sessions/${encodeURIComponent(sessionId)}/approvals`);
    return (reply.body?.approvals ?? []).find(
      (a: any) => a.tool_use_id === `toolu_${made}` || (a.state === 'pending' && JSON.stringify(a.tool_input) === JSON.stringify(toolInput)),
    );
  });
  return { approval, answer };
}

async function waitFor<T>(probe: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== null) return value;
    if (Date.now() > until) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const entry = (page: Page, approval: { id: number | string }) => page.locator(`#needs-you .approval[data-approval-id="${approval.id}"]`);
const row = (page: Page, id: string) => page.locator(`.session-row[data-session-id=${JSON.stringify(id)}]`);
const approvalNow = async (approval: { id: number | string }) => (await api.get(`/approvals/${approval.id}`)).body.approval;
const stateOf = async (approval: { id: number | string }) => (await approvalNow(approval)).state;
const nameOf = async (sessionId: string) => (await api.get(`/sessions/${encodeURIComponent(sessionId)}`)).body.session.session_name as string;

const DOCS_DIR = path.join(__dirname, '..', 'docs');
/** UPDATE_SCREENSHOTS=1 writes the README's screenshots. */
async function saveScreenshot(page: Page, name: string): Promise<void> {
  if (process.env.UPDATE_SCREENSHOTS) await page.screenshot({ path: path.join(DOCS_DIR, name) });
}

// First in the file, so the list in the screenshots shows only its own sessions.
describe('the screenshots in the README', () => {
  it('approvals waiting in three sessions, a session waiting for input, and a session whose tool call waits', async () => {
    const page = await open('?stale_minutes=600');
    const ids = ['5f0c1d2e-8a41-4c77-9e0b-2b7d3c4a5e61', '9b2e4f60-1c3d-4e5f-8a7b-6c5d4e3f2a10', 'c3d4e5f6-7a8b-4c9d-8e0f-1a2b3c4d5e6f', 'e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b'];
    const migrate = await askPermission(
      ids[0]!,
      'Bash',
      { command: 'npm run migrate -- --env staging && psql "$STAGING_URL" -c "select count(*) from refunds"', description: 'Run the migrations on staging and count the refunds' },
      { prompt: 'Run the new migrations on staging and check the refunds table', dir: '/home/ann/payments-api' },
    );
    const edit = await askPermission(
      ids[1]!,
      'Edit',
      {
        file_path: '/home/bob/web-app/src/invoice/total.ts',
        old_string: 'export function total(lines: Line[]): number {\n  return lines.reduce((sum, line) => sum + line.price * line.qty, 0);\n}',
        new_string:
          'export function total(lines: Line[]): number {\n  const cents = lines.reduce((sum, line) => sum + Math.round(line.price * 100) * line.qty, 0);\n  return cents / 100;\n}',
      },
      { prompt: 'Fix the rounding in the invoice totals', dir: '/home/bob/web-app' },
    );
    const fetchDocs = await askPermission(
      ids[2]!,
      'WebFetch',
      { url: 'https://docs.stripe.com/api/refunds/create', prompt: 'Which parameters does creating a refund take?' },
      { prompt: 'Add partial refunds to the checkout', dir: '/home/ann/checkout' },
    );
    // Waiting for an answer in its terminal.
    expect((await api.post('/hooks/claude-code', hook(ids[3]!, 'UserPromptSubmit', { prompt: 'Update the README for v3', cwd: '/home/carl/docs-site' }))).status).toBe(200);
    expect(
      (
        await api.post(
          '/hooks/claude-code',
          hook(ids[3]!, 'Notification', { message: 'Claude is waiting for your input', notification_type: 'idle_prompt', cwd: '/home/carl/docs-site' }),
        )
      ).status,
    ).toBe(200);
    // And one at work, for contrast.
    const live = 'a7b8c9d0-e1f2-4a3b-9c4d-5e6f7a8b9c0d';
    for (const [name, extra] of [
      ['UserPromptSubmit', { prompt: 'Profile the slow search endpoint' }],
      ['PreToolUse', { tool_name: 'Bash', tool_input: { command: 'npm run bench -- search' }, tool_use_id: 'toolu_bench' }],
    ] as const) {
      expect((await api.post('/hooks/claude-code', hook(live, name, { ...extra, cwd: '/home/carl/search-service' }))).status).toBe(200);
    }
    await page.waitForFunction(() => (globalThis as any).document.title.startsWith('(3) '));
    await row(page, ids[3]!).locator('.status').filter({ hasText: 'Needs you' }).waitFor();
    await entry(page, edit.approval).locator('.diff-add').first().waitFor();

    // The queue beside a session whose tool call waits.
    await page.setViewportSize({ width: 1280, height: 900 });
    await row(page, ids[0]!).locator('.row-link').click();
    await page.locator('.event-tool-call .tool-waiting').waitFor();
    await page.locator('.session-needs-you .approval').waitFor();
    await page.evaluate(() => {
      const document = (globalThis as any).document;
      document.activeElement?.blur();
      document.getElementById('list-pane').scrollTop = 0;
      document.getElementById('detail').scrollTop = 0;
    });
    await page.waitForTimeout(100);
    await saveScreenshot(page, 'dashboard-needs-you.png');

    // On a phone: the queue above the list.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${instance.baseUrl}/?stale_minutes=600#/`);
    await entry(page, edit.approval).locator('.diff-add').first().waitFor();
    await page.evaluate(() => {
      const document = (globalThis as any).document;
      document.activeElement?.blur();
      document.getElementById('list-pane').scrollTop = 0;
    });
    await page.waitForTimeout(100);
    await saveScreenshot(page, 'dashboard-needs-you-phone.png');

    for (const { approval, answer } of [migrate, edit, fetchDocs]) {
      expect((await api.post(`/approvals/${approval.id}/decision`, { decision: 'deny' })).status).toBe(200);
      await answer;
    }
    await page.waitForFunction(() => !(globalThis as any).document.title.startsWith('('));
  });
});

describe('the Needs-you queue', () => {
  it('when a tool call needs permission, then it appears live with its command and the count in the title, and Allow from the page lets Claude Code run it', async () => {
    const page = await open();
    const { approval, answer } = await askPermission('needs-allow', 'Bash', { command: 'npm run migrate -- --env staging', description: 'Run the migrations' });
    const card = entry(page, approval);
    await card.filter({ hasText: 'npm run migrate -- --env staging' }).waitFor();
    await card.locator('.tool-name').filter({ hasText: 'Bash' }).waitFor();
    await card
      .locator('.approval-session')
      .filter({ hasText: await nameOf('needs-allow') })
      .waitFor();
    await page.waitForFunction(() => (globalThis as any).document.title.startsWith('(1) '));
    expect(await page.getAttribute('link[rel="icon"]', 'href')).toBe('/assets/favicon-1.svg');
    // The session is waiting: Needs you, not Idle.
    await row(page, 'needs-allow').locator('.status').filter({ hasText: 'Needs you' }).waitFor();
    await page.getByLabel('Filter by status').selectOption('waiting');
    await row(page, 'needs-allow').waitFor();
    await page.getByLabel('Filter by status').selectOption('idle');
    await row(page, 'needs-allow').waitFor({ state: 'detached' });
    await page.getByLabel('Filter by status').selectOption('');

    await card.getByRole('button', { name: 'Allow', exact: true }).click();
    const reply = await answer;
    expect(reply.status).toBe(200);
    expect(reply.body.hookSpecificOutput.decision.behavior).toBe('allow');
    expect(await stateOf(approval)).toBe('allowed');
    await card.waitFor({ state: 'detached' });
    await page.locator('#needs-you').waitFor({ state: 'hidden' });
    await page.waitForFunction(() => !(globalThis as any).document.title.startsWith('('));
    expect(await page.getAttribute('link[rel="icon"]', 'href')).toBe('/assets/favicon.svg');
  });

  it('when Deny is clicked with a reason, then the hook denies with that reason as the message, and the server has the approval denied', async () => {
    const page = await open();
    const { approval, answer } = await askPermission('needs-deny', 'Bash', { command: 'rm -rf build/' });
    const card = entry(page, approval);
    await card.waitFor();
    await card.getByRole('textbox', { name: /Reason for denying/ }).fill('Not on the shared machine, please');
    await card.getByRole('button', { name: 'Deny' }).click();
    const reply = await answer;
    expect(reply.body.hookSpecificOutput.decision).toMatchObject({ behavior: 'deny', message: 'Not on the shared machine, please' });
    const decided = await approvalNow(approval);
    expect(decided).toMatchObject({ state: 'denied', reason: 'Not on the shared machine, please' });
    await card.waitFor({ state: 'detached' });
  });

  it('when three wait, then they are listed oldest first with (3) in the title, the keys answer the focused one (s: for this session, d: deny), and one decided elsewhere leaves the page', async () => {
    const page = await open();
    const first = await askPermission('needs-keys', 'Bash', { command: 'npm ci' });
    const second = await askPermission('needs-keys', 'Write', { file_path: `${cwd}/NOTES.md`, content: '# Notes\n\nshipped on Monday\n' });
    const third = await askPermission('needs-keys-2', 'WebFetch', { url: 'https://example.com/changelog', prompt: 'What changed?' });
    await page.waitForFunction(() => (globalThis as any).document.title.startsWith('(3) '));
    const ids = await page.locator('#needs-you .approval').evaluateAll((els) => els.map((el) => (el as any).dataset.approvalId));
    expect(ids).toEqual([String(first.approval.id), String(second.approval.id), String(third.approval.id)]);
    await entry(page, second.approval)
      .filter({ hasText: `${cwd}/NOTES.md` })
      .filter({ hasText: 'shipped on Monday' })
      .waitFor();
    await entry(page, third.approval).filter({ hasText: 'https://example.com/changelog' }).waitFor();

    // "n" goes to the first, "s" allows it for the session; the focus moves on to the next, "d" denies it.
    await page.locator('body').click({ position: { x: 5, y: 300 } });
    await page.keyboard.press('n');
    await page.keyboard.press('s');
    expect((await first.answer).body.hookSpecificOutput.decision).toMatchObject({ behavior: 'allow', updatedPermissions: expect.any(Array) });
    expect(await approvalNow(first.approval)).toMatchObject({ state: 'allowed', scope: 'session' });
    await entry(page, first.approval).waitFor({ state: 'detached' });
    await page.waitForFunction(() => (globalThis as any).document.activeElement?.classList.contains('approval'));
    await page.keyboard.press('d');
    expect((await second.answer).body.hookSpecificOutput.decision.behavior).toBe('deny');
    expect(await stateOf(second.approval)).toBe('denied');

    // Decided through the API (another person, another instance): it leaves this page too.
    expect((await api.post(`/approvals/${third.approval.id}/decision`, { decision: 'allow' })).status).toBe(200);
    await entry(page, third.approval).waitFor({ state: 'detached' });
    expect((await third.answer).body.hookSpecificOutput.decision.behavior).toBe('allow');
    await page.waitForFunction(() => (globalThis as any).document.title === 'Agent Sessions');
  });

  it('when another instance decides, then the entry leaves this page and the hook held here answers', async () => {
    const page = await open();
    const other = await startInstance(database.url);
    const { approval, answer } = await askPermission('needs-elsewhere', 'Bash', { command: 'kubectl rollout restart deploy/api' });
    await entry(page, approval).waitFor();
    expect((await apiClient(other.baseUrl).post(`/approvals/${approval.id}/decision`, { decision: 'deny', reason: 'Not during the sale' })).status).toBe(200);
    await entry(page, approval).waitFor({ state: 'detached' });
    expect((await answer).body.hookSpecificOutput.decision).toMatchObject({ behavior: 'deny', message: 'Not during the sale' });
  });

  it('when the person answers in the terminal first (the tool result arrives), then the entry leaves the queue and the row says so', async () => {
    const page = await open('#/sessions/needs-terminal');
    const input = { command: 'npm publish --dry-run' };
    const { approval, answer } = await askPermission('needs-terminal', 'Bash', input);
    await entry(page, approval).waitFor();
    const result = { tool_name: 'Bash', tool_input: input, tool_use_id: approval.tool_use_id ?? 'toolu_x', tool_response: { stdout: 'dry run ok', stderr: '' } };
    expect((await api.post('/hooks/claude-code', hook('needs-terminal', 'PostToolUse', result))).status).toBe(200);
    await entry(page, approval).waitFor({ state: 'detached' });
    expect(await stateOf(approval)).toBe('answered_in_terminal');
    const call = page.locator('.event-tool-call').filter({ hasText: 'npm publish --dry-run' });
    await call.locator('.tool-status').filter({ hasText: 'ok' }).waitFor();
    await call.locator('.approval-line').filter({ hasText: 'answered in the terminal' }).waitFor();
    await answer;
  });

  it('when the screen is 390 px wide, then the queue fits without scrolling sideways and its buttons are reachable', async () => {
    const page = await open('', { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    const long = `find . -name '*.log' -mtime +30 -print0 | xargs -0 rm -f && ${'echo cleaned-up-the-old-logs-of-every-service; '.repeat(4)}`;
    const { approval, answer } = await askPermission('needs-phone-with-a-rather-long-session-name-that-goes-on', 'Bash', { command: long });
    const bash = await askPermission('needs-phone-with-a-rather-long-session-name-that-goes-on', 'Edit', {
      file_path: `${cwd}/src/a/deeply/nested/folder/with/a/long/path/to/the/invoice-calculation.ts`,
      old_string: 'const total = a + b;',
      new_string: 'const total = roundToCents(addAmounts(a, b, { currency: invoice.currency }));',
    });
    const card = entry(page, approval);
    await card.waitFor();
    await entry(page, bash.approval).locator('.diff-add').waitFor();
    expect(await page.evaluate(() => (globalThis as any).document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    for (const name of ['Allow', 'Allow for this session', 'Deny']) {
      const box = (await card.getByRole('button', { name, exact: true }).boundingBox())!;
      expect(box.x).toBeGreaterThanOrEqual(0);
      expect(box.x + box.width).toBeLessThanOrEqual(390);
    }
    await card.getByRole('button', { name: 'Allow', exact: true }).tap();
    expect((await answer).body.hookSpecificOutput.decision.behavior).toBe('allow');
    // The session's own view (the list is not shown on a phone) answers the other one, and fits too.
    await entry(page, bash.approval).locator('.approval-session').tap();
    const inView = page.locator('.session-needs-you .approval');
    await inView.locator('.diff-add').waitFor();
    await page.locator('.event-tool-call .tool-waiting').waitFor();
    expect(await page.evaluate(() => (globalThis as any).document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await inView.getByRole('button', { name: 'Deny' }).tap();
    expect((await bash.answer).body.hookSpecificOutput.decision.behavior).toBe('deny');
    await page.locator('.event-tool-call .tool-status').filter({ hasText: 'denied' }).waitFor();
  });
});

describe('a session waiting for approval', () => {
  it('when its tool call waits, then its row says "waiting for approval · N s" (ticking), the view can answer it, and the row then shows who decided and the time waited apart', async () => {
    const sessionId = 'needs-view';
    const page = await open(`#/sessions/${sessionId}`);
    const { approval, answer } = await askPermission(
      sessionId,
      'Bash',
      { command: 'terraform apply -auto-approve', description: 'Apply the plan' },
      { prompt: 'Apply the Terraform plan' },
    );
    const call = page.locator('.event-tool-call[data-tool-use-id]').filter({ hasText: 'terraform apply -auto-approve' });
    const status = call.locator('.tool-status');
    await status.filter({ hasText: /^waiting for approval · \d+ s$/ }).waitFor();
    const first = await status.textContent();
    await page.waitForFunction((before) => {
      const text = (globalThis as any).document.querySelector('.event-tool-call[data-approval="pending"] .tool-status')?.textContent;
      return typeof text === 'string' && text !== before && /^waiting for approval · \d+ s$/.test(text);
    }, first);
    await page.locator('.session-header .status').filter({ hasText: 'Needs you' }).waitFor();
    await page.locator('.timeline-footer').filter({ hasText: 'Needs you' }).waitFor();

    // Answered in the session's own card.
    await page.locator('.session-needs-you .approval').getByRole('button', { name: 'Allow', exact: true }).click();
    expect((await answer).body.hookSpecificOutput.decision.behavior).toBe('allow');
    await call.locator('.approval-line').filter({ hasText: 'allowed' }).waitFor();
    await status.filter({ hasText: 'running…' }).waitFor();
    await page.locator('.session-needs-you').waitFor({ state: 'hidden' });
    expect(
      (
        await api.post(
          '/hooks/claude-code',
          hook(sessionId, 'PostToolUse', {
            tool_name: 'Bash',
            tool_input: { command: 'terraform apply -auto-approve', description: 'Apply the plan' },
            tool_use_id: approval.tool_use_id ?? 'toolu_missing',
            tool_response: { stdout: 'Apply complete! Resources: 3 added.', stderr: '' },
            duration_ms: 2400,
          }),
        )
      ).status,
    ).toBe(200);
    await status.filter({ hasText: 'ok' }).waitFor();
    // Ran 2.4 s; the wait for the decision is counted apart.
    await call
      .locator('.tool-duration')
      .filter({ hasText: /^2\.4 s · waited \d+ s$/ })
      .waitFor();
    await page.locator('.session-header .status').filter({ hasText: 'Needs you' }).waitFor({ state: 'detached' });
  });

  it('when nobody answers within the hold, then the entry leaves the queue and the row says the question went back to the terminal', async () => {
    const short = await startInstance(database.url, { approvalHoldSeconds: 1 });
    const dashboard = await openPage(browser, `${short.baseUrl}/#/sessions/needs-expired`);
    keep(dashboard);
    const { page } = dashboard;
    await page.locator('#connection[data-connection="connected"]').waitFor();
    const client = apiClient(short.baseUrl);
    const input = { command: 'make clean' };
    expect((await client.post('/hooks/claude-code', hook('needs-expired', 'PreToolUse', { tool_name: 'Bash', tool_input: input, tool_use_id: 'toolu_expired' }))).status).toBe(200);
    const reply = await client.post('/hooks/claude-code', hook('needs-expired', 'PermissionRequest', { tool_name: 'Bash', tool_input: input }));
    // Undecided: {} (Claude Code asks in its terminal), never an allow.
    expect(reply.body).toEqual({});
    const call = page.locator('.event-tool-call').filter({ hasText: 'make clean' });
    await call.locator('.tool-status').filter({ hasText: 'not answered in time · asked in the terminal' }).waitFor();
    await call.locator('.approval-line').filter({ hasText: 'expired' }).waitFor();
    expect(await page.locator('#needs-you .approval').count()).toBe(0);
  });

  it('when a call was denied, then its row says denied and the timeline shows the request and the decision with the reason, once the page is opened again', async () => {
    const sessionId = 'needs-denied-later';
    const { approval, answer } = await askPermission(sessionId, 'Bash', { command: 'git push --force' });
    expect((await api.post(`/approvals/${approval.id}/decision`, { decision: 'deny', reason: 'Never force-push main' })).status).toBe(200);
    await answer;
    const page = await open(`#/sessions/${sessionId}`);
    const call = page.locator('.event-tool-call').filter({ hasText: 'git push --force' });
    await call.locator('.tool-status').filter({ hasText: 'denied' }).waitFor();
    await call.locator('.approval-line').filter({ hasText: 'denied: “Never force-push main”' }).waitFor();
    // The request is an event of the timeline too, with its decision: who and when.
    const asked = page.locator('.timeline > .event-permission-request').filter({ hasText: 'git push --force' });
    await asked
      .locator('.permission-decision')
      .filter({ hasText: /^Denied: “Never force-push main” at / })
      .waitFor();
  });
});

describe('a session budget', () => {
  it('when a budget is set in the session header, then the server has it and the header shows it; removed, it is none again', async () => {
    const sessionId = 'budget-from-page';
    expect((await api.post('/hooks/claude-code', hook(sessionId, 'UserPromptSubmit', { prompt: 'Refactor the importer' }))).status).toBe(200);
    const page = await open(`#/sessions/${sessionId}`);
    const budget = page.locator('.session-budget');
    await budget.filter({ hasText: 'None' }).waitFor();
    await budget.getByRole('button', { name: 'Set a budget' }).click();
    await budget.getByRole('spinbutton', { name: /Budget in USD/ }).fill('2.5');
    await budget.getByRole('button', { name: 'Save' }).click();
    await budget.filter({ hasText: '$2.50 · 0 % spent' }).waitFor();
    expect((await api.get(`/sessions/${sessionId}`)).body.session.budget_usd).toBe(2.5);
    await budget.getByRole('button', { name: 'Change' }).click();
    await budget.getByRole('spinbutton', { name: /Budget in USD/ }).fill('');
    await budget.getByRole('button', { name: 'Save' }).click();
    await budget.filter({ hasText: 'None' }).waitFor();
    expect((await api.get(`/sessions/${sessionId}`)).body.session.budget_usd).toBeNull();
  });
});

describe('browser notifications', () => {
  // A stand-in for the browser's Notification (headless Chromium shows none): records what the page asks for.
  const stubNotifications = () => {
    const g = globalThis as any;
    g.__asked = 0;
    g.__shown = [];
    class StubNotification {
      static permission = 'default';
      static async requestPermission() {
        g.__asked += 1;
        StubNotification.permission = 'granted';
        return 'granted';
      }
      constructor(title: string, options: { body?: string }) {
        g.__shown.push({ title, body: options?.body ?? '' });
      }
      addEventListener() {}
      close() {}
    }
    g.Notification = StubNotification;
    // The person is elsewhere: notifications are for a page in the background.
    g.document.hasFocus = () => false;
  };

  it('when turned on (the permission asked only on that click), then an approval waiting, a failed session and a session waiting for input are notified', async () => {
    const dashboard = await openPage(browser, 'about:blank');
    keep(dashboard);
    const { page } = dashboard;
    await page.addInitScript(stubNotifications);
    await page.goto(`${instance.baseUrl}/`);
    await page.locator('#connection[data-connection="connected"]').waitFor();
    const toggle = page.locator('#notify-toggle');
    expect(await toggle.getAttribute('aria-pressed')).toBe('false');
    expect(await page.evaluate(() => (globalThis as any).__asked)).toBe(0);
    await toggle.click();
    await page.locator('#notify-toggle[aria-pressed="true"]').waitFor();
    expect(await page.evaluate(() => (globalThis as any).__asked)).toBe(1);

    const { approval, answer } = await askPermission('notify-approval', 'Bash', { command: 'docker system prune -af' });
    await page.waitForFunction(() => (globalThis as any).__shown.some((n: any) => n.title === 'Bash waits for approval' && n.body.includes('docker system prune -af')));
    expect((await api.post(`/approvals/${approval.id}/decision`, { decision: 'deny' })).status).toBe(200);
    await answer;

    expect((await api.post('/sessions', { session_id: 'notify-failed', session_name: 'Nightly import' })).status).toBe(201);
    expect((await api.post('/sessions/notify-failed/events', { event_type: 'session_stop', exit_code: 2, reason: 'import failed' })).status).toBe(201);
    await page.waitForFunction(() => (globalThis as any).__shown.some((n: any) => n.title === 'A session failed' && n.body === 'Nightly import'));

    const notification = hook('notify-input', 'Notification', { message: 'Claude is waiting for your input', notification_type: 'idle_prompt' });
    expect((await api.post('/hooks/claude-code', hook('notify-input', 'UserPromptSubmit', { prompt: 'Tidy the README' }))).status).toBe(200);
    expect((await api.post('/hooks/claude-code', notification)).status).toBe(200);
    await page.waitForFunction(() => (globalThis as any).__shown.some((n: any) => n.title === 'A session waits for you'));
    const waiting = row(page, 'notify-input').locator('.status');
    await waiting.filter({ hasText: 'Needs you' }).waitFor();
    expect(await waiting.getAttribute('title')).toBe('Needs you: the agent waits for an answer');

    // Clicked again, it is off.
    await toggle.click();
    await page.locator('#notify-toggle[aria-pressed="false"]').waitFor();
  });
});

// Last in the file: once a key exists, the server requires one.
describe('with API keys', () => {
  it('when the page has a key with the decide scope, then Allow is sent with it (decided_by names it); with a read key, the page shows what waits without the buttons, and says why', async () => {
    const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
    const admin = (await api.post('/keys', { name: 'admin', scopes: ['admin'] })).body.secret as string;
    const approver = (await api.post('/keys', { name: 'approver', scopes: ['read', 'decide'] }, bearer(admin))).body.secret as string;
    const viewer = (await api.post('/keys', { name: 'viewer', scopes: ['read'] }, bearer(admin))).body.secret as string;
    const ingest = (await api.post('/keys', { name: 'hooks', scopes: ['ingest', 'read'] }, bearer(admin))).body.secret as string;
    const withKey = async (key: string) => {
      const dashboard = await openPage(browser, `${instance.baseUrl}/`);
      keep(dashboard);
      const { page } = dashboard;
      await page.locator('#key-dialog').waitFor();
      await page.getByRole('textbox', { name: 'Key' }).fill(key);
      await page.locator('#key-dialog').getByRole('button', { name: 'Connect' }).click();
      await page.locator('#connection[data-connection="connected"]').waitFor();
      return page;
    };
    const keyed = apiClient(instance.baseUrl);
    const post = (path: string, body: unknown) => keyed.post(path, body, bearer(ingest));
    expect(
      (await post('/hooks/claude-code', hook('needs-keyed', 'PreToolUse', { tool_name: 'Bash', tool_input: { command: 'make deploy' }, tool_use_id: 'toolu_keyed' }))).status,
    ).toBe(200);
    const answer = post('/hooks/claude-code', hook('needs-keyed', 'PermissionRequest', { tool_name: 'Bash', tool_input: { command: 'make deploy' } }));
    held.push(answer);

    const viewing = await withKey(viewer);
    const card = viewing.locator('#needs-you .approval').filter({ hasText: 'make deploy' });
    // /me says this key may not decide: no buttons, and why.
    await card.locator('.approval-readonly').filter({ hasText: 'answering needs a key with the decide scope' }).waitFor();
    expect(await card.getByRole('button', { name: 'Allow', exact: true }).isVisible()).toBe(false);
    // Were the decision sent anyway, the server refuses it.
    const refused = await viewing.evaluate(
      async (id) => {
        const { sessionStorage, fetch } = globalThis as any;
        const response = await fetch(`/approvals/${id}/decision`, {
          method: 'POST',
          headers: { authorization: `Bearer ${sessionStorage.getItem('asm.apiKey')}`, 'content-type': 'application/json' },
          body: JSON.stringify({ decision: 'allow' }),
        });
        return response.status;
      },
      await card.getAttribute('data-approval-id'),
    );
    expect(refused).toBe(403);

    const approving = await withKey(approver);
    await approving.locator('#needs-you .approval').filter({ hasText: 'make deploy' }).getByRole('button', { name: 'Allow', exact: true }).click();
    expect((await answer).body.hookSpecificOutput.decision.behavior).toBe('allow');
    const decided = (await keyed.get('/approvals?state=allowed', bearer(approver))).body.approvals.find((a: any) => a.session_id === 'needs-keyed');
    expect(decided).toMatchObject({ state: 'allowed', decided_by: 'approver' });
    // The viewer's page sees it go too.
    await card.waitFor({ state: 'detached' });
  });
});
