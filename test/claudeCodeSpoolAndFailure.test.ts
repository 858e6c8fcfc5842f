import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describeWithClaude, runClaude } from './support/claudeCli';
import { HTTP_HOOK_EVENTS } from '../src/claudeCode/settings';
import { compileCli } from './support/compileCli';
import { freePort } from './support/hookSink';
import { sessionPath } from './support/http';
import { startInstance, useInstance } from './support/instance';
import { bashThenText, startMessagesStandIn, type MessagesStandIn } from './support/messagesStandIn';
import { useTestDatabase } from './support/testDatabase';
import { waitUntil } from './support/waitUntil';

const describeReal = describeWithClaude('the real-client tests of the spool and of failed turns');

const database = useTestDatabase();
const server = useInstance(database);
const api = server.api;

const folders: string[] = [];
afterAll(() => {
  for (const dir of folders) fs.rmSync(dir, { recursive: true, force: true });
});

/** A project whose hooks init-claude set up to run the hook command (compiled from src/) against `url`. */
async function projectWithHookCommand(url: string): Promise<{ project: string; home: string; spoolDir: string }> {
  const temp = fs.mkdtempSync(path.join(os.tmpdir(), 'asm-claude-i20-'));
  folders.push(temp);
  const cliPath = compileCli(path.join(temp, 'bin'));
  const project = path.join(temp, 'shop');
  fs.mkdirSync(project);
  const home = path.join(temp, 'home');
  const code = await new Promise<number | null>((resolve) =>
    spawn(process.execPath, [cliPath, 'init-claude', '--telemetry', 'none'], { cwd: project, env: { ...process.env, HOME: home, ASM_URL: url }, stdio: 'ignore' }).on(
      'close',
      resolve,
    ),
  );
  expect(code).toBe(0);
  return { project, home, spoolDir: path.join(temp, 'spool') };
}

/** Hooks waiting in the spool (one file each; state.json is the retry pacing). */
const waiting = (spoolDir: string) => fs.readdirSync(spoolDir).filter((name) => name.endsWith('.json') && name !== 'state.json').length;

const run = (prompt: string, where: { project: string; home: string; spoolDir: string }, standIn: MessagesStandIn, env: NodeJS.ProcessEnv = {}) =>
  runClaude(prompt, {
    cwd: where.project,
    home: where.home,
    standIn,
    tools: ['Bash'],
    env: { ASM_SPOOL_DIR: where.spoolDir, CLAUDE_CODE_ENABLE_TELEMETRY: '0', ...env },
  });

describeReal('the real Claude Code CLI while the server is down', () => {
  it('when claude -p runs with the server down, then the detached sender delivers its hooks once the server is up, without another hook, with their capture times', async () => {
    const port = await freePort();
    const where = await projectWithHookCommand(`http://127.0.0.1:${port}`);
    const standIn = await startMessagesStandIn(bashThenText({ command: 'sleep 2 && echo slept', finalText: 'Slept two seconds.' }));
    let id: string;
    const ranFrom = Date.now();
    try {
      // Fast retries, and a sender that keeps trying for longer than the test waits.
      const result = await run('Sleep two seconds using Bash', where, standIn, { ASM_RETRY_BASE_MS: '100', ASM_RETRY_MAX_MS: '400', ASM_SENDER_MAX_MS: '120000' });
      expect(result.code).toBe(0);
      id = result.result.session_id;
    } finally {
      await standIn.close();
    }
    const ranTo = Date.now();
    // Nothing reached a server: every hook waits in the spool.
    expect(waiting(where.spoolDir)).toBeGreaterThanOrEqual(6);
    expect((await database.query('select 1 from sessions where session_id = $1', [id])).rowCount).toBe(0);
    // Later, the server comes up at the address the hooks use; no hook fires any more.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const upAt = Date.now();
    const late = await startInstance(database.url, { port });
    try {
      await waitUntil(async () => (await late.api.get(sessionPath(id))).body.session?.status === 'finished', 'the spooled session arrived and finished', 30_000);
      const session = (await late.api.get(sessionPath(id))).body.session;
      const events = (await late.api.get(sessionPath(id, '/events'))).body.events as any[];
      expect(events.map((e) => `${e.event_type}${e.role ? `:${e.role}` : ''}`)).toEqual([
        'session_start',
        'message:user',
        'pre_tool',
        'post_tool',
        'message:assistant',
        'session_stop',
      ]);
      // Its times are those of the run, not of the delivery.
      const created = Date.parse(session.created_at);
      const lastEvent = Date.parse(session.last_event_at);
      expect(created).toBeGreaterThanOrEqual(ranFrom - 1000);
      expect(created).toBeLessThan(upAt);
      expect(lastEvent).toBeLessThanOrEqual(ranTo);
      expect(lastEvent - created).toBeGreaterThanOrEqual(2000);
      expect(session.created_at).toBe(events[0].timestamp);
      for (const event of events) {
        expect(Date.parse(event.timestamp)).toBeLessThan(upAt);
        expect(Date.parse(event.received_at)).toBeGreaterThanOrEqual(upAt - 1000);
      }
      const [, , pre, post] = events;
      expect(Date.parse(post.timestamp) - Date.parse(pre.timestamp)).toBeGreaterThanOrEqual(2000);
      const summary = (await late.api.get(sessionPath(id, '/summary'))).body;
      expect(summary.tool_calls).toEqual([expect.objectContaining({ tool_name: 'Bash', state: 'succeeded', duration_ms: expect.any(Number) })]);
      expect(summary.tool_calls[0].duration_ms).toBeGreaterThanOrEqual(2000);
      expect(waiting(where.spoolDir)).toBe(0);
      process.stdout.write(`spooled run: created ${session.created_at}, last event ${session.last_event_at}, server up ${new Date(upAt).toISOString()}\n`);
    } finally {
      await late.close();
    }
  }, 120_000);
});

describeReal('the real Claude Code CLI when the API refuses the request', () => {
  // Claude Code fires StopFailure and forgets it: in a -p run it sends a command hook SIGTERM some 50 ms after
  // starting it, before node has started (a `trap '' TERM` before node loses that race under load). Through the hook
  // command the failure is read from the transcript instead: its API error line fails the turn.
  it("when the Messages API answers 400, then through the hook command the transcript's API error ends the session failed, with the error as its result", async () => {
    const where = await projectWithHookCommand(server.instance.baseUrl);
    const message = 'messages.0.content: the block is not valid';
    const standIn = await startMessagesStandIn(() => ({ status: 400, error: { type: 'invalid_request_error', message } }));
    let id: string;
    try {
      const result = await run('Say hi', where, standIn);
      id = result.result.session_id;
      expect(result.result.is_error).toBe(true);
    } finally {
      await standIn.close();
    }
    await waitUntil(async () => (await api.get(sessionPath(id, '/status'))).body.status === 'finished', 'the session finished');
    const events = (await api.get(sessionPath(id, '/events'))).body.events as any[];
    const failure = events.find((e) => e.event_type === 'api_error' || e.event_type === 'stop_failure');
    expect(failure?.error).toContain(message);
    expect((await api.get(sessionPath(id))).body.session).toMatchObject({ status: 'finished', outcome: 'failed' });
    const result = (await api.get(sessionPath(id, '/result'))).body;
    expect(result.failed).toBe(true);
    expect(result.result).toContain(message);
    expect((await api.get('/sessions?outcome=failed')).body.sessions.map((s: any) => s.session_id)).toContain(id);
  }, 120_000);

  it('when the Messages API answers 400 invalid_request_error, then the StopFailure sent to http hooks ends the session failed, with the error as its result', async () => {
    const project = fs.mkdtempSync(path.join(os.tmpdir(), 'asm-claude-i20-http-'));
    folders.push(project);
    fs.mkdirSync(path.join(project, '.claude'));
    const hook = { type: 'http', url: `${server.instance.baseUrl}/hooks/claude-code`, timeout: 5 };
    fs.writeFileSync(
      path.join(project, '.claude', 'settings.json'),
      JSON.stringify({ hooks: Object.fromEntries(HTTP_HOOK_EVENTS.map((event) => [event, [{ matcher: '', hooks: [hook] }]])) }),
    );
    const message = 'messages.0.content: the block is not valid';
    const standIn = await startMessagesStandIn(() => ({ status: 400, error: { type: 'invalid_request_error', message } }));
    let id: string;
    try {
      const result = await runClaude('Say hi', { cwd: project, home: path.join(project, 'home'), standIn, tools: ['Bash'], env: { CLAUDE_CODE_ENABLE_TELEMETRY: '0' } });
      id = result.result.session_id;
      expect(result.result.is_error).toBe(true);
    } finally {
      await standIn.close();
    }
    await waitUntil(async () => (await api.get(sessionPath(id, '/status'))).body.status === 'finished', 'the session finished');
    const events = (await api.get(sessionPath(id, '/events'))).body.events as any[];
    expect(events.map((e) => `${e.event_type}${e.role ? `:${e.role}` : ''}`)).toEqual(['message:user', 'stop_failure', 'session_stop']);
    // Claude Code 2.1 names a plain 400 `unknown` and says what the API said in last_assistant_message.
    const failure = events[1];
    expect(failure.hook_input).toMatchObject({ error: 'unknown' });
    expect(failure.error).toBe(`API Error: 400 ${message}`);
    expect((await api.get(sessionPath(id))).body.session).toMatchObject({ status: 'finished', outcome: 'failed' });
    expect((await api.get(sessionPath(id, '/result'))).body).toEqual({ result: `API Error: 400 ${message}`, failed: true });
    expect((await api.get('/sessions?outcome=failed')).body.sessions.map((s: any) => s.session_id)).toContain(id);
    const summary = (await api.get(sessionPath(id, '/summary'))).body;
    expect(summary.turns).toEqual([expect.objectContaining({ state: 'failed', stop_event_id: failure.id })]);
  }, 120_000);
});
