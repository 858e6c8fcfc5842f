import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli, type CliIo } from '../src/cli';
import { HOOK_EVENTS } from '../src/claudeCode/settings';
import { Spool } from '../src/claudeCode/spool';
import { recordedHooks } from './support/claudeCodeFixtures';
import { compileCli } from './support/compileCli';
import { apiClient, sessionPath } from './support/http';
import { startInstance, type TestInstance } from './support/instance';
import { useTestDatabase } from './support/testDatabase';

const database = useTestDatabase();
const temporaryDirs: string[] = [];
const tempDir = (prefix: string) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `asm-${prefix}-`));
  temporaryDirs.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of temporaryDirs) fs.rmSync(dir, { recursive: true, force: true });
});

/** Runs the CLI in this process, as its bin would, with the given stdin and environment. */
async function cli(argv: string[], { stdin = '', env = {}, cwd = process.cwd() }: { stdin?: string; env?: NodeJS.ProcessEnv; cwd?: string } = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { readStdin: async () => stdin, env, cwd, out: (line) => out.push(line), err: (line) => err.push(line), cliPath: '/opt/asm/dist/cli.js' };
  const code = await runCli(argv, io);
  return { code, out: out.join('\n'), err: err.join('\n') };
}

let instance: TestInstance;
beforeAll(async () => {
  instance = await startInstance(database.url);
});
const api = apiClient(() => instance.baseUrl);
const events = async (id: string) => (await api.get(sessionPath(id, '/events'))).body.events as any[];

describe('agent-session-manager hook', () => {
  it('sends the hook input on stdin to the server and exits 0', async () => {
    const id = randomUUID();
    const spoolDir = tempDir('spool');
    const [prompt] = recordedHooks('tool-call', id);
    const result = await cli(['hook'], { stdin: JSON.stringify(prompt), env: { ASM_URL: instance.baseUrl, ASM_SPOOL_DIR: spoolDir } });
    expect(result).toMatchObject({ code: 0, out: '' });
    expect((await events(id)).map((e) => e.event_type)).toEqual(['message']);
    expect(new Spool(spoolDir).list()).toEqual([]);
  });

  it('when the server stops mid-session, then hooks are spooled, and the next run sends them first, in order, once', async () => {
    const id = randomUUID();
    const spoolDir = tempDir('spool');
    const hooks = recordedHooks('tool-call', id).map((hook) => JSON.stringify(hook));
    const first = await startInstance(database.url);
    const env = (server: TestInstance) => ({ ASM_URL: server.baseUrl, ASM_SPOOL_DIR: spoolDir, ASM_HOOK_TIMEOUT_MS: '2000' });

    for (const hook of hooks.slice(0, 2)) expect((await cli(['hook'], { stdin: hook, env: env(first) })).code).toBe(0);
    const stoppedUrl = env(first);
    await first.close();
    for (const hook of hooks.slice(2, 4)) expect((await cli(['hook'], { stdin: hook, env: stoppedUrl })).code).toBe(0);
    const spool = new Spool(spoolDir);
    expect(spool.list()).toHaveLength(2);
    expect((await events(id)).map((e) => e.event_type)).toEqual(['message', 'pre_tool']);

    // The server is back (here: another instance on the same database): the spool goes first.
    const second = await startInstance(database.url);
    try {
      expect((await cli(['hook'], { stdin: hooks[4]!, env: env(second) })).code).toBe(0);
      expect(spool.list()).toEqual([]);
      const stored = await events(id);
      expect(stored.map((e) => `${e.event_type}:${e.role ?? ''}`)).toEqual(['message:user', 'pre_tool:', 'post_tool:', 'message:assistant', 'session_stop:']);
      expect((await api.get(sessionPath(id, '/status'))).body.status).toBe('finished');
    } finally {
      await second.close();
    }
  });

  it('when a spooled hook is posted twice (its first answer lost), then it is stored once, by its capture id', async () => {
    const id = randomUUID();
    const spoolDir = tempDir('spool');
    const spool = new Spool(spoolDir);
    // A Notification has none of the ids a key is derived from: only the capture id tells two deliveries apart.
    const [notification] = recordedHooks('documented', id);
    const captured = { captureId: randomUUID(), body: JSON.stringify(notification) };
    spool.append(captured);
    spool.append(captured);
    const env = { ASM_URL: instance.baseUrl, ASM_SPOOL_DIR: spoolDir };
    expect((await cli(['hook'], { stdin: JSON.stringify({ ...notification, message: 'later' }), env })).code).toBe(0);
    expect(spool.list()).toEqual([]);
    expect((await events(id)).map((e) => e.content[0].text)).toEqual(['Claude needs your permission to use Bash', 'later']);
  });

  it('when the server refuses a hook for good (400), then it is dropped and does not hold back the rest', async () => {
    const id = randomUUID();
    const spoolDir = tempDir('spool');
    const spool = new Spool(spoolDir);
    spool.append({ captureId: 'bad', body: '{"hook_event_name":"Stop"}' });
    const [prompt] = recordedHooks('tool-call', id);
    const result = await cli(['hook'], { stdin: JSON.stringify(prompt), env: { ASM_URL: instance.baseUrl, ASM_SPOOL_DIR: spoolDir } });
    expect(result.code).toBe(0);
    expect(result.err).toMatch(/refused a hook \(400\)/);
    expect(spool.list()).toEqual([]);
    expect(await events(id)).toHaveLength(1);
  });

  it('when the key is missing, then the hook waits in the spool; with the key it is sent', async () => {
    const keyed = await startInstance(database.url, { apiKeys: ['cli-key'] });
    try {
      const id = randomUUID();
      const spoolDir = tempDir('spool');
      const [prompt, pre] = recordedHooks('tool-call', id).map((hook) => JSON.stringify(hook));
      expect((await cli(['hook'], { stdin: prompt!, env: { ASM_URL: keyed.baseUrl, ASM_SPOOL_DIR: spoolDir } })).code).toBe(0);
      expect(new Spool(spoolDir).list()).toHaveLength(1);
      expect((await cli(['hook'], { stdin: pre!, env: { ASM_URL: keyed.baseUrl, ASM_SPOOL_DIR: spoolDir, ASM_API_KEY: 'cli-key' } })).code).toBe(0);
      const stored = (await apiClient(keyed.baseUrl).get(sessionPath(id, '/events'), { authorization: 'Bearer cli-key' })).body.events;
      expect(stored.map((e: any) => e.event_type)).toEqual(['message', 'pre_tool']);
    } finally {
      await keyed.close();
    }
  });

  it('when another run holds the spool, then this hook queues behind it rather than jumping ahead', async () => {
    const spoolDir = tempDir('spool');
    const spool = new Spool(spoolDir);
    fs.mkdirSync(path.join(spoolDir, 'flush.lock'), { recursive: true });
    const [prompt] = recordedHooks('tool-call', randomUUID());
    expect((await cli(['hook'], { stdin: JSON.stringify(prompt), env: { ASM_URL: instance.baseUrl, ASM_SPOOL_DIR: spoolDir } })).code).toBe(0);
    expect(spool.list()).toHaveLength(1);
  });

  it('keeps the spool bounded: past its limit the oldest entries go', () => {
    const spool = new Spool(tempDir('spool'), { maxEntries: 3, maxBytes: 1024 * 1024 });
    for (let i = 0; i < 5; i++) spool.append({ captureId: `c${i}`, body: `{"n":${i}}` });
    expect(spool.list().map((name) => spool.read(name)!.captureId)).toEqual(['c2', 'c3', 'c4']);
    const small = new Spool(tempDir('spool'), { maxEntries: 100, maxBytes: 300 });
    for (let i = 0; i < 5; i++) small.append({ captureId: `c${i}`, body: JSON.stringify({ pad: 'x'.repeat(100) }) });
    expect(small.list().length).toBeLessThan(5);
    expect(small.read(small.list().at(-1)!)!.captureId).toBe('c4');
  });

  it('exits 0 with nothing on stdin, and with a server that does not exist', async () => {
    expect((await cli(['hook'], { stdin: '' })).code).toBe(0);
    const spoolDir = tempDir('spool');
    const result = await cli(['hook'], { stdin: '{"session_id":"s"}', env: { ASM_URL: 'http://127.0.0.1:1', ASM_SPOOL_DIR: spoolDir, ASM_HOOK_TIMEOUT_MS: '1000' } });
    expect(result.code).toBe(0);
    expect(new Spool(spoolDir).list()).toHaveLength(1);
  });
});

describe('agent-session-manager init-claude', () => {
  it('adds the hook command by absolute path and the OpenTelemetry settings, keeping what is there', async () => {
    const project = tempDir('project');
    const file = path.join(project, '.claude', 'settings.json');
    fs.mkdirSync(path.dirname(file));
    const mine = { hooks: { PreToolUse: [{ matcher: 'Bash', hooks: [{ type: 'command', command: './check.sh' }] }] }, env: { OTEL_METRICS_EXPORTER: 'none' }, model: 'opus' };
    fs.writeFileSync(file, JSON.stringify(mine));

    const result = await cli(['init-claude'], { cwd: project, env: { ASM_URL: 'http://asm.example:8765' } });
    expect(result.code).toBe(0);
    const written = JSON.parse(fs.readFileSync(file, 'utf8'));
    expect(written.model).toBe('opus');
    expect(written.hooks.PreToolUse).toEqual([
      mine.hooks.PreToolUse[0],
      { matcher: '', hooks: [{ type: 'command', command: 'node /opt/asm/dist/cli.js hook', timeout: 10 }] },
    ]);
    expect(Object.keys(written.hooks).sort()).toEqual([...HOOK_EVENTS].sort());
    expect(written.env).toEqual({
      OTEL_METRICS_EXPORTER: 'none',
      ASM_URL: 'http://asm.example:8765',
      CLAUDE_CODE_ENABLE_TELEMETRY: '1',
      OTEL_LOGS_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://asm.example:8765',
    });
    expect(result.out).toMatch(/kept as you had it: OTEL_METRICS_EXPORTER/);
    expect(JSON.stringify(written)).not.toMatch(/npx/);

    // A second run adds nothing.
    await cli(['init-claude'], { cwd: project, env: { ASM_URL: 'http://asm.example:8765' } });
    expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toEqual(written);
  });

  it('with --global writes the settings in the home folder', async () => {
    const home = tempDir('home');
    expect((await cli(['init-claude', '--global'], { cwd: tempDir('elsewhere'), env: { HOME: home } })).code).toBe(0);
    expect(JSON.parse(fs.readFileSync(path.join(home, '.claude', 'settings.json'), 'utf8')).hooks.Stop).toHaveLength(1);
  });

  it('when the settings file is not valid JSON, then it is left untouched and the command fails', async () => {
    const project = tempDir('project');
    const file = path.join(project, '.claude', 'settings.json');
    fs.mkdirSync(path.dirname(file));
    fs.writeFileSync(file, '{ "hooks": ');
    const result = await cli(['init-claude'], { cwd: project });
    expect(result.code).toBe(1);
    expect(result.err).toMatch(/not valid JSON/);
    expect(fs.readFileSync(file, 'utf8')).toBe('{ "hooks": ');
  });
});

describe('agent-session-manager doctor', () => {
  it('when the server answers and needs no key, then every check passes', async () => {
    const result = await cli(['doctor'], { env: { ASM_URL: instance.baseUrl, ASM_SPOOL_DIR: tempDir('spool') } });
    expect(result.out).toMatch(/ok {4}server/);
    expect(result.out).toMatch(/ok {4}hooks route/);
    expect(result.code).toBe(0);
  });

  it('names a missing or wrong key, and a server that cannot be reached', async () => {
    const keyed = await startInstance(database.url, { apiKeys: ['doc-key'] });
    try {
      const spoolDir = tempDir('spool');
      const missing = await cli(['doctor'], { env: { ASM_URL: keyed.baseUrl, ASM_SPOOL_DIR: spoolDir } });
      expect(missing).toMatchObject({ code: 1, out: expect.stringMatching(/FAIL {2}key: the server needs a key/) });
      const wrong = await cli(['doctor'], { env: { ASM_URL: keyed.baseUrl, ASM_SPOOL_DIR: spoolDir, ASM_API_KEY: 'nope' } });
      expect(wrong.out).toMatch(/FAIL {2}key: ASM_API_KEY was refused/);
      const right = await cli(['doctor'], { env: { ASM_URL: keyed.baseUrl, ASM_SPOOL_DIR: spoolDir, ASM_API_KEY: 'doc-key' } });
      expect(right.code).toBe(0);
    } finally {
      await keyed.close();
    }
    const down = await cli(['doctor'], { env: { ASM_URL: 'http://127.0.0.1:1', ASM_SPOOL_DIR: tempDir('spool') } });
    expect(down).toMatchObject({ code: 1, out: expect.stringMatching(/FAIL {2}server: .* cannot be reached/) });
  });
});

describe('the bin, as a process', () => {
  // Asynchronous: the server under test runs in this process and must keep answering meanwhile.
  function run(cliPath: string, args: string[], options: { input?: string; env: NodeJS.ProcessEnv; cwd?: string }) {
    return new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, [cliPath, ...args], { env: options.env, cwd: options.cwd });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk) => (stdout += chunk));
      child.stderr.on('data', (chunk) => (stderr += chunk));
      child.on('error', reject);
      child.on('close', (status) => resolve({ status, stdout, stderr }));
      child.stdin.end(options.input ?? '');
    });
  }

  it('runs `hook` from stdin and exits 0; `init-claude` writes its own absolute path', async () => {
    const cliPath = compileCli(tempDir('bin'));
    const id = randomUUID();
    const [prompt] = recordedHooks('tool-call', id);
    const env = { ...process.env, ASM_URL: instance.baseUrl, ASM_SPOOL_DIR: tempDir('spool') };
    const hook = await run(cliPath, ['hook'], { input: JSON.stringify(prompt), env });
    expect(hook).toEqual({ status: 0, stdout: '', stderr: '' });
    expect(await events(id)).toHaveLength(1);

    const project = tempDir('project');
    const init = await run(cliPath, ['init-claude'], { cwd: project, env });
    expect(init.status).toBe(0);
    const settings = JSON.parse(fs.readFileSync(path.join(project, '.claude', 'settings.json'), 'utf8'));
    expect(settings.hooks.UserPromptSubmit[0].hooks[0].command).toBe(`node ${cliPath} hook`);
  });
});
