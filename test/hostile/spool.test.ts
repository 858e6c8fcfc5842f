import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli, type CliIo } from '../../src/cli';
import { Spool } from '../../src/claudeCode/spool';
import { compileCli } from '../support/compileCli';
import { startHookSink, type HookSink } from '../support/hookSink';
import { sessionPath } from '../support/http';
import { useInstance } from '../support/instance';
import { useTestDatabase } from '../support/testDatabase';
import { waitUntil } from '../support/waitUntil';

// Issue 24, case 7: one hook the server answered 500, then ten valid ones: eleven spooled, none delivered,
// and doctor said ok. A 50 MB tool output was stored by the server and spooled anyway, jamming the head.
const database = useTestDatabase();
const server = useInstance(database);
const dirs: string[] = [];
const tempDir = (prefix: string) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `asm-hostile-${prefix}-`));
  dirs.push(dir);
  return dir;
};
const sinks: HookSink[] = [];
afterAll(async () => {
  await Promise.all(sinks.map((sink) => sink.close()));
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

let cliPath: string;
beforeAll(() => {
  cliPath = compileCli(tempDir('bin'));
});

function run(input: string, env: NodeJS.ProcessEnv) {
  return new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath, 'hook'], { env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
    child.stdin.end(input);
  });
}

async function doctor(env: NodeJS.ProcessEnv) {
  const out: string[] = [];
  const io: CliIo = { readStdin: async () => '', env, cwd: process.cwd(), out: (line) => out.push(line), err: (line) => out.push(line), cliPath: '/opt/asm/dist/cli.js' };
  return { code: await runCli(['doctor'], io), out: out.join('\n') };
}

const settled = (spoolDir: string) => waitUntil(() => !new Spool(spoolDir).senderRunning() && new Spool(spoolDir).list().length === 0, 'the spool is empty and its sender gone');

describe('hostile: the hook spool', () => {
  it('a hook answered 500, then ten valid ones: the ten are delivered in order, the one set aside after its tries, and doctor fails', async () => {
    const sink = await startHookSink((request) => (request.body.includes('poison') ? 500 : 200));
    sinks.push(sink);
    const spoolDir = tempDir('spool');
    const env = { ...process.env, ASM_URL: sink.url, ASM_SPOOL_DIR: spoolDir, ASM_RETRY_BASE_MS: '50', ASM_RETRY_MAX_MS: '200', ASM_SENDER_MAX_MS: '30000' };
    const hooks = ['poison', ...Array.from({ length: 10 }, (_, i) => `valid-${i}`)].map((message) => JSON.stringify({ session_id: 's', hook_event_name: 'Notification', message }));
    for (const hook of hooks) expect((await run(hook, env)).status).toBe(0);
    await settled(spoolDir);
    expect(sink.delivered.map((body) => JSON.parse(body).message)).toEqual(hooks.slice(1).map((hook) => JSON.parse(hook).message));
    const spool = new Spool(spoolDir);
    expect(spool.listDead()).toHaveLength(1);
    expect(spool.readDead(spool.listDead()[0]!)).toMatchObject({ why: { status: 500, attempts: 5 } });
    const report = await doctor({ HOME: tempDir('home'), ASM_URL: sink.url, ASM_SPOOL_DIR: spoolDir });
    expect(report.code).toBe(1);
    expect(report.out).toMatch(/dead letters: 1 hook/);
  }, 90_000);

  it('a hook answered 503 (the server says later: budget full, database down) waits in the spool, however often, and is never set aside', async () => {
    let answers = 0;
    const sink = await startHookSink(() => (++answers <= 4 ? 503 : 200));
    sinks.push(sink);
    const spoolDir = tempDir('spool');
    const env = {
      ...process.env,
      ASM_URL: sink.url,
      ASM_SPOOL_DIR: spoolDir,
      ASM_HOOK_MAX_ATTEMPTS: '2',
      ASM_RETRY_BASE_MS: '50',
      ASM_RETRY_MAX_MS: '100',
      ASM_SENDER_MAX_MS: '30000',
    };
    expect((await run(JSON.stringify({ session_id: 's', hook_event_name: 'Stop', prompt_id: 'p503' }), env)).status).toBe(0);
    await settled(spoolDir);
    expect(sink.delivered).toHaveLength(1);
    expect(new Spool(spoolDir).listDead()).toEqual([]);
  }, 90_000);

  it('a 20 MB tool output reaches the real server once, is never left in the spool, and the next hook is not held behind it', async () => {
    const id = `spool-${randomUUID()}`;
    const spoolDir = tempDir('spool');
    const env = { ...process.env, ASM_URL: server.instance.baseUrl, ASM_SPOOL_DIR: spoolDir };
    const large = JSON.stringify({
      session_id: id,
      hook_event_name: 'PostToolUse',
      tool_use_id: 'toolu_big',
      tool_name: 'Bash',
      tool_response: { stdout: 'o'.repeat(20_000_000) },
    });
    expect((await run(large, env)).status).toBe(0);
    expect((await run(JSON.stringify({ session_id: id, hook_event_name: 'Stop', prompt_id: 'p1' }), env)).status).toBe(0);
    await settled(spoolDir);
    // The large event fills its page (a page's byte budget): the next one is on the page after it.
    const first = (await server.api.get(sessionPath(id, '/events'))).body;
    const rest = (await server.api.get(sessionPath(id, `/events?after=${first.next_after}`))).body;
    const events = [...first.events, ...rest.events];
    expect(events.map((e: any) => e.event_type)).toEqual(['post_tool', 'message']);
    expect(events[0].tool_output.stdout).toHaveLength(20_000_000);
    expect(new Spool(spoolDir).listDead()).toEqual([]);
  }, 90_000);
});
