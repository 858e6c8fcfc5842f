import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sessionPath } from './support/http';
import { useInstance } from './support/instance';
import { agentThenText, bashThenText, startMessagesStandIn, type MessagesStandIn } from './support/messagesStandIn';
import { launchBrowser, openPage } from './support/browser';
import { compileCli } from './support/compileCli';
import { startHookRecorder } from './support/hookRecorder';
import { useTestDatabase } from './support/testDatabase';
import { describeWithClaude, RUN_HOOK_EVENTS, runClaude } from './support/claudeCli';
import { WsClient } from './support/wsClient';

const describeReal = describeWithClaude('the real-client tests');

const API_KEY = 'real-client-key';
const database = useTestDatabase();
const server = useInstance(database, { apiKeys: [API_KEY] });
const auth = { authorization: `Bearer ${API_KEY}` };
const api = server.api;

/**
 * Where the project's http hooks go: the test instance, or with RECORD_CLAUDE_FIXTURES=<dir> a recorder in
 * front of it that saves every hook input under <dir>/<run> (see test/fixtures/claude-code/README.md).
 */
async function hooksUrl(run: string, cleanups: (() => Promise<void>)[]): Promise<string> {
  const target = `${server.instance.baseUrl}/hooks/claude-code`;
  const recordTo = process.env.RECORD_CLAUDE_FIXTURES;
  if (!recordTo) return target;
  const recorder = await startHookRecorder(path.join(recordTo, run), target);
  cleanups.push(recorder.close);
  return `${recorder.url}/hooks/claude-code`;
}

/** A project folder whose .claude/settings.json sends every hook to `url` over HTTP, with the key from the environment. */
function projectWithHttpHooks(url: string, name?: string): string {
  const dir = name ? path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'asm-claude-')), name) : fs.mkdtempSync(path.join(os.tmpdir(), 'asm-claude-project-'));
  fs.mkdirSync(dir, { recursive: true });
  const hook = { type: 'http', url, headers: { Authorization: 'Bearer $ASM_API_KEY' }, allowedEnvVars: ['ASM_API_KEY'], timeout: 5 };
  fs.mkdirSync(path.join(dir, '.claude'));
  fs.writeFileSync(
    path.join(dir, '.claude', 'settings.json'),
    JSON.stringify({ hooks: Object.fromEntries(RUN_HOOK_EVENTS.map((event) => [event, [{ matcher: '', hooks: [hook] }]])) }, null, 2),
  );
  return dir;
}

/** Runs `claude -p` (asynchronously: the server under test lives in this process) and parses its JSON result. */
// The hooks send the instance's key; Bash for the tool call, Agent for the subagent.
const runWithHooks = (prompt: string, options: { cwd: string; standIn: MessagesStandIn; home: string; env?: NodeJS.ProcessEnv }) =>
  runClaude(prompt, { ...options, tools: ['Bash', 'Agent'], env: { ASM_API_KEY: API_KEY, ...options.env } });

describeReal('the real Claude Code CLI, reporting through http hooks', () => {
  const folders: string[] = [];
  const standIns: MessagesStandIn[] = [];
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const standIn of standIns) await standIn.close();
    for (const cleanup of cleanups) await cleanup();
    for (const dir of folders) fs.rmSync(dir, { recursive: true, force: true });
  });
  const folder = (prefix: string) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    folders.push(dir);
    return dir;
  };

  it('when claude -p runs one Bash call, then its session, events, paired tool call, result and statuses are here, live too', async () => {
    const standIn = await startMessagesStandIn(bashThenText({ command: 'echo hi', finalText: 'The command printed hi.' }));
    standIns.push(standIn);
    const project = projectWithHttpHooks(await hooksUrl('tool-call', cleanups));
    folders.push(project);
    const home = folder('asm-claude-home-');
    const ws = await WsClient.connect(`${server.instance.wsUrl}?api_key=${API_KEY}`);
    try {
      const run = await runWithHooks('Say hi using Bash', { cwd: project, standIn, home });
      expect(run.code).toBe(0);
      expect(run.result).toMatchObject({ is_error: false, result: 'The command printed hi.' });
      const id: string = run.result.session_id;

      // SessionEnd is the last hook; the feed says when it has been stored.
      const mine = (m: any) => (m.session?.session_id ?? m.data?.session_id ?? m.session_id) === id;
      await ws.waitFor((messages) => messages.some((m) => mine(m) && m.type === 'event' && m.data.event_type === 'session_stop'), 30_000);

      const { session } = (await api.get(sessionPath(id), auth)).body;
      expect(session).toMatchObject({
        session_id: id,
        source: 'claude-code',
        agent_name: 'claude-code',
        project_dir: fs.realpathSync(project),
        session_name: `${path.basename(project)} · ${id.slice(0, 8)}`,
        status: 'finished',
      });

      const events = (await api.get(sessionPath(id, '/events'), auth)).body.events as any[];
      expect(events.map((e) => `${e.event_type}${e.role ? `:${e.role}` : ''}`)).toEqual(['message:user', 'pre_tool', 'post_tool', 'message:assistant', 'session_stop']);
      const [prompt, pre, post, answer, stop] = events;
      expect(prompt.content).toEqual([{ type: 'text', text: 'Say hi using Bash' }]);
      expect(pre).toMatchObject({ tool_name: 'Bash', tool_input: { command: 'echo hi' }, tool_use_id: 'toolu_standin_1' });
      expect(post).toMatchObject({ tool_name: 'Bash', tool_use_id: 'toolu_standin_1', tool_output: { stdout: 'hi', stderr: '' } });
      expect(post.duration_ms).toEqual(expect.any(Number));
      expect(answer.content).toEqual([{ type: 'text', text: 'The command printed hi.' }]);
      expect(stop.reason).toEqual(expect.any(String));
      expect(new Set(events.map((e) => e.prompt_id)).size).toBe(1);
      expect(post.hook_input).not.toHaveProperty('tool_response');
      expect((await api.get(sessionPath(id, '/result'), auth)).body).toEqual({ result: 'The command printed hi.' });

      // What a dashboard saw live: the session appear, go idle then finished, each event once, in order.
      const seen = ws.live.filter(mine);
      expect(seen.filter((m) => m.type !== 'event').map((m) => `${m.type}:${m.session.status}`)).toEqual([
        'session_created:running',
        'session_updated:idle',
        'session_updated:finished',
      ]);
      expect(seen.filter((m) => m.type === 'event').map((m) => m.data.id)).toEqual(events.map((e) => e.id));
      const seqs = seen.map((m) => m.seq);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      process.stdout.write(
        `real run: ${events.map((e) => e.event_type + (e.role ? `:${e.role}` : '') + (e.duration_ms !== null ? `(${e.duration_ms} ms)` : '')).join(', ')}; ` +
          `statuses ${seen
            .filter((m) => m.type !== 'event')
            .map((m) => m.session.status)
            .join(' → ')}\n`,
      );
    } finally {
      ws.close();
    }
  }, 120_000);

  it('when claude -p hands work to a subagent, then what the subagent did carries its agent_id, and the session ends finished', async () => {
    const standIn = await startMessagesStandIn(
      agentThenText({
        command: 'ls -A',
        subagentText: 'The folder holds the settings only.',
        launchedText: 'A subagent is looking at the folder.',
        finalText: 'The subagent reports: the folder holds the settings only.',
      }),
    );
    standIns.push(standIn);
    const project = projectWithHttpHooks(await hooksUrl('subagent', cleanups), 'webapp');
    folders.push(path.dirname(project));
    const ws = await WsClient.connect(`${server.instance.wsUrl}?api_key=${API_KEY}`);
    try {
      const run = await runWithHooks('Have a subagent look at this folder', { cwd: project, standIn, home: folder('asm-claude-home-') });
      expect(run.code).toBe(0);
      const id: string = run.result.session_id;
      const mine = (m: any) => (m.session?.session_id ?? m.data?.session_id ?? m.session_id) === id;
      await ws.waitFor((messages) => messages.some((m) => mine(m) && m.type === 'event' && m.data.event_type === 'session_stop'), 30_000);

      const events = (await api.get(sessionPath(id, '/events'), auth)).body.events as any[];
      const launch = events.find((e) => e.event_type === 'post_tool' && e.tool_name === 'Agent');
      expect(launch.tool_output).toMatchObject({ status: 'async_launched', agentId: expect.any(String) });
      const agentId: string = launch.tool_output.agentId;
      const bySubagent = (await api.get(sessionPath(id, `/events?agent_id=${agentId}`), auth)).body.events as any[];
      expect(bySubagent[0].event_type).toBe('subagent_start');
      expect(bySubagent.at(-1).event_type).toBe('subagent_stop');
      expect(bySubagent.filter((e) => e.event_type === 'post_tool').map((e) => e.tool_output.stdout)).toContain('.claude');
      expect(events.filter((e) => e.event_type === 'notification')[0].content[0].text).toMatch(/^<task-notification>/);
      expect(events.filter((e) => e.event_type === 'message' && e.role === 'user')).toHaveLength(1);
      expect((await api.get(sessionPath(id), auth)).body.session.status).toBe('finished');
      expect((await api.get(sessionPath(id, '/result'), auth)).body).toEqual({ result: 'The subagent reports: the folder holds the settings only.' });
      const statuses = ws.live.filter((m) => mine(m) && m.type !== 'event').map((m) => m.session.status);
      expect(statuses[0]).toBe('running');
      expect(statuses).toContain('idle');
      expect(statuses.at(-1)).toBe('finished');
      process.stdout.write(`real subagent run: ${events.map((e) => e.event_type + (e.tool_name ? `:${e.tool_name}` : '')).join(', ')}; statuses ${statuses.join(' → ')}\n`);

      if (process.env.UPDATE_SCREENSHOTS) await screenshot(id, 'The subagent reports');
    } finally {
      ws.close();
    }
  }, 120_000);
});

describeReal('the real Claude Code CLI, reporting through the hook command that init-claude set up', () => {
  const folders: string[] = [];
  afterAll(() => {
    for (const dir of folders) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('when init-claude wrote the settings, then claude -p reports every hook through the command, SessionStart included', async () => {
    const temp = fs.mkdtempSync(path.join(os.tmpdir(), 'asm-claude-command-'));
    folders.push(temp);
    const cliPath = compileCli(path.join(temp, 'bin'));
    const project = path.join(temp, 'shop');
    fs.mkdirSync(project);
    const spoolDir = path.join(temp, 'spool');
    const init = await new Promise<number | null>((resolve) =>
      // Its own HOME: init-claude writes the user's settings too (here none: the telemetry is left out).
      spawn(process.execPath, [cliPath, 'init-claude', '--telemetry', 'none'], {
        cwd: project,
        env: { ...process.env, HOME: path.join(temp, 'home'), ASM_URL: server.instance.baseUrl },
        stdio: 'ignore',
      }).on('close', resolve),
    );
    expect(init).toBe(0);

    const standIn = await startMessagesStandIn(bashThenText({ command: 'echo via-command', finalText: 'Done through the hook command.' }));
    try {
      // The OpenTelemetry export init-claude turns on is the OTLP receiver's business; here it is switched off.
      const run = await runWithHooks('Say something using Bash', {
        cwd: project,
        standIn,
        home: path.join(temp, 'home'),
        env: { ASM_SPOOL_DIR: spoolDir, CLAUDE_CODE_ENABLE_TELEMETRY: '0' },
      });
      expect(run.code).toBe(0);
      const id: string = run.result.session_id;
      const events = (await api.get(sessionPath(id, '/events'), auth)).body.events as any[];
      expect(events.map((e) => `${e.event_type}${e.role ? `:${e.role}` : ''}`)).toEqual([
        'session_start',
        'message:user',
        'pre_tool',
        'post_tool',
        'message:assistant',
        'session_stop',
      ]);
      expect(events[3]).toMatchObject({ tool_name: 'Bash', tool_output: { stdout: 'via-command' }, duration_ms: expect.any(Number) });
      expect(events[0].reason).toBe('startup');
      expect((await api.get(sessionPath(id), auth)).body.session).toMatchObject({ status: 'finished', source: 'claude-code', project_dir: fs.realpathSync(project) });
      expect(fs.existsSync(spoolDir) ? fs.readdirSync(spoolDir).filter((name) => name.endsWith('.json')) : []).toEqual([]);
      process.stdout.write(`real run through the hook command: ${events.map((e) => e.event_type).join(', ')}\n`);
    } finally {
      await standIn.close();
    }
  }, 120_000);
});

/** docs/claude-code-session.png: the dashboard showing a real run, as the README shows it. */
async function screenshot(sessionId: string, waitForText: string): Promise<void> {
  const browser = await launchBrowser();
  try {
    const { page, close } = await openPage(browser, 'about:blank');
    await page.addInitScript(`sessionStorage.setItem('asm.apiKey', ${JSON.stringify(API_KEY)})`);
    await page.goto(`${server.instance.baseUrl}/#/sessions/${encodeURIComponent(sessionId)}`);
    await page.getByText(waitForText).first().waitFor();
    await page.waitForTimeout(300);
    await page.screenshot({ path: path.join(__dirname, '..', 'docs', 'claude-code-session.png') });
    await close();
  } finally {
    await browser.close();
  }
}
