import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli, type CliIo } from '../src/cli';
import { CAPTURED_AT_HEADER, CAPTURE_ID_HEADER } from '../src/claudeCode/hookCommand';
import { HOOK_EVENTS, hookTimeoutFor } from '../src/claudeCode/settings';
import { Spool } from '../src/claudeCode/spool';
import { recordedHooks } from './support/claudeCodeFixtures';
import { compileCli } from './support/compileCli';
import { freePort, startHookSink, type HookSink } from './support/hookSink';
import { apiClient, sessionPath } from './support/http';
import { startInstance, type TestInstance } from './support/instance';
import { createDatabase, useTestDatabase } from './support/testDatabase';
import { waitUntil } from './support/waitUntil';

const database = useTestDatabase();
const temporaryDirs: string[] = [];
const tempDir = (prefix: string) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `asm-${prefix}-`));
  temporaryDirs.push(dir);
  return dir;
};
const sinks: HookSink[] = [];
const sink = async (...args: Parameters<typeof startHookSink>) => {
  const started = await startHookSink(...args);
  sinks.push(started);
  return started;
};
afterEach(async () => {
  await Promise.all(sinks.splice(0).map((started) => started.close()));
});
afterAll(() => {
  for (const dir of temporaryDirs) fs.rmSync(dir, { recursive: true, force: true });
});

// The CLI compiled on its own, run as a process where a test needs the detached sender (a process of its own).
let cliPath: string;
beforeAll(() => {
  cliPath = compileCli(tempDir('bin'));
});

/** Runs the CLI in this process, as its bin would, with the given stdin and environment. */
async function cli(argv: string[], { stdin = '', env = {}, cwd = process.cwd(), self }: { stdin?: string; env?: NodeJS.ProcessEnv; cwd?: string; self?: string } = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { readStdin: async () => stdin, env, cwd, out: (line) => out.push(line), err: (line) => err.push(line), cliPath: self ?? '/opt/asm/dist/cli.js' };
  const code = await runCli(argv, io);
  return { code, out: out.join('\n'), err: err.join('\n') };
}

/** Runs the compiled CLI as a process (asynchronously: the server under test lives in this process). */
function run(args: string[], options: { input?: string; env: NodeJS.ProcessEnv; cwd?: string }) {
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

/** The spool empty and its detached sender gone: nothing of a test keeps running after it. */
const settled = (spoolDir: string) =>
  waitUntil(() => !new Spool(spoolDir).senderRunning() && new Spool(spoolDir).list().length === 0, 'the sender has emptied the spool and exited');

let instance: TestInstance;
beforeAll(async () => {
  instance = await startInstance(database.url);
});
const api = apiClient(() => instance.baseUrl);
const events = async (id: string) => (await api.get(sessionPath(id, '/events'))).body.events as any[];

describe('agent-session-manager hook', () => {
  it('sends the hook input on stdin to the server and exits 0, printing nothing', async () => {
    const id = randomUUID();
    const spoolDir = tempDir('spool');
    const [prompt] = recordedHooks('tool-call', id);
    const result = await cli(['hook'], { stdin: JSON.stringify(prompt), env: { ASM_URL: instance.baseUrl, ASM_SPOOL_DIR: spoolDir } });
    expect(result).toMatchObject({ code: 0, out: '' });
    expect((await events(id)).map((e) => e.event_type)).toEqual(['message']);
    expect(new Spool(spoolDir).list()).toEqual([]);
  });

  it('sends the capture time (ISO 8601, ms) and the capture id with every attempt, the same on a retry', async () => {
    let first = true;
    const server = await sink(() => {
      const answer = first ? 503 : 200;
      first = false;
      return answer;
    });
    const spoolDir = tempDir('spool');
    const before = Date.now();
    await cli(['hook'], { stdin: '{"session_id":"s","hook_event_name":"Stop"}', env: { ASM_URL: server.url, ASM_SPOOL_DIR: spoolDir } });
    const after = Date.now();
    expect(new Spool(spoolDir).list()).toHaveLength(1);
    const flushed = await cli(['flush'], { env: { ASM_URL: server.url, ASM_SPOOL_DIR: spoolDir, HOME: tempDir('home') } });
    expect(flushed.code).toBe(0);

    expect(server.requests).toHaveLength(2);
    const [attempt, retry] = server.requests.map((request) => request.headers);
    expect(attempt![CAPTURED_AT_HEADER]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const captured = Date.parse(attempt![CAPTURED_AT_HEADER] as string);
    expect(captured).toBeGreaterThanOrEqual(before);
    expect(captured).toBeLessThanOrEqual(after);
    expect(retry![CAPTURED_AT_HEADER]).toBe(attempt![CAPTURED_AT_HEADER]);
    expect(retry![CAPTURE_ID_HEADER]).toBe(attempt![CAPTURE_ID_HEADER]);
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
    expect(spool.state().lastError?.message).toMatch(/cannot be reached \(ECONNREFUSED\)/);
    expect((await events(id)).map((e) => e.event_type)).toEqual(['message', 'pre_tool']);

    // The server is back (here: another instance on the same database); its retry time has come: the spool goes first.
    spool.saveState({ ...spool.state(), retryAt: 0 });
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

  it('when hooks wait for a server that is down, then they queue without each waiting on the network', async () => {
    const spoolDir = tempDir('spool');
    const env = { ASM_URL: `http://127.0.0.1:${await freePort()}`, ASM_SPOOL_DIR: spoolDir, ASM_RETRY_BASE_MS: '60000' };
    await cli(['hook'], { stdin: '{"session_id":"a"}', env });
    const spool = new Spool(spoolDir);
    const { failures, retryAt } = spool.state();
    await cli(['hook'], { stdin: '{"session_id":"b"}', env });
    await cli(['hook'], { stdin: '{"session_id":"c"}', env });
    // Their turn had not come: no try was made, so the failure count and the pacing stayed.
    expect(spool.state()).toMatchObject({ failures, retryAt });
    expect(spool.list().map((name) => JSON.parse(spool.read(name)!.body).session_id)).toEqual(['a', 'b', 'c']);
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

  it('when the server refuses a spooled hook for good (400), then it is set aside with the reason and the rest go on', async () => {
    const id = randomUUID();
    const spoolDir = tempDir('spool');
    const spool = new Spool(spoolDir);
    spool.append({ captureId: 'bad', body: '{"hook_event_name":"Stop"}' });
    const [prompt] = recordedHooks('tool-call', id);
    const result = await cli(['hook'], { stdin: JSON.stringify(prompt), env: { ASM_URL: instance.baseUrl, ASM_SPOOL_DIR: spoolDir } });
    expect(result.code).toBe(0);
    expect(result.out).toBe('');
    expect(result.err).toMatch(/set aside .*refused the hook \(400\)/);
    expect(spool.list()).toEqual([]);
    expect(await events(id)).toHaveLength(1);
    const [dead] = spool.listDead();
    expect(spool.readDead(dead!)).toEqual({
      hook: { captureId: 'bad', body: '{"hook_event_name":"Stop"}' },
      why: expect.objectContaining({ status: 400, reason: expect.stringMatching(/session_id is required/) }),
    });
  });

  it('when the server fails on one hook (500) and takes the next ten, then that one is set aside after its tries, and the ten arrive in order, by the detached sender', async () => {
    const server = await sink((request) => (request.body.includes('poison') ? 500 : 200));
    const spoolDir = tempDir('spool');
    const env = {
      ...process.env,
      ASM_URL: server.url,
      ASM_SPOOL_DIR: spoolDir,
      ASM_HOOK_MAX_ATTEMPTS: '3',
      ASM_RETRY_BASE_MS: '50',
      ASM_RETRY_MAX_MS: '200',
      ASM_SENDER_MAX_MS: '30000',
    };
    const hooks = ['poison', ...Array.from({ length: 10 }, (_, i) => `hook-${i}`)].map((name) =>
      JSON.stringify({ session_id: 's', hook_event_name: 'Notification', message: name }),
    );
    for (const hook of hooks) expect(await run(['hook'], { input: hook, env })).toEqual({ status: 0, stdout: '', stderr: '' });
    await settled(spoolDir);

    expect(server.delivered.map((body) => JSON.parse(body).message)).toEqual(hooks.slice(1).map((hook) => JSON.parse(hook).message));
    expect(server.requests.filter((request) => request.body.includes('poison'))).toHaveLength(3);
    const spool = new Spool(spoolDir);
    expect(spool.listDead().map((name) => spool.readDead(name))).toEqual([
      {
        hook: expect.objectContaining({ body: hooks[0] }),
        why: expect.objectContaining({ status: 500, attempts: 3, reason: expect.stringMatching(/failed on the hook \(500\).*\(3 tries\)/) }),
      },
    ]);
    // doctor fails while anything is set aside; flush --retry-dead sends it again once the server takes it.
    const doctor = await cli(['doctor'], { env: { HOME: tempDir('home'), ASM_URL: server.url, ASM_SPOOL_DIR: spoolDir } });
    expect(doctor.code).toBe(1);
    expect(doctor.out).toMatch(/FAIL {2}dead letters: 1 hook\(s\) .*failed on the hook \(500\)/);
    expect(doctor.out).toMatch(/fix: `agent-session-manager flush --retry-dead`/);
    const stillFailing = await cli(['flush', '--retry-dead'], { env: { HOME: tempDir('home'), ASM_URL: server.url, ASM_SPOOL_DIR: spoolDir } });
    expect(stillFailing.code).toBe(1);
    expect(spool.listDead()).toHaveLength(1);

    const fixed = await sink();
    const revived = await cli(['flush', '--retry-dead'], { env: { HOME: tempDir('home'), ASM_URL: fixed.url, ASM_SPOOL_DIR: spoolDir } });
    expect(revived).toMatchObject({ code: 0, out: expect.stringMatching(/and 1 from the dead-letter folder/) });
    expect(fixed.delivered).toEqual([hooks[0]]);
    expect(spool.listDead()).toEqual([]);
  }, 60_000);

  it('when the server is down, then the detached sender delivers the spool once it is back, without waiting for another hook', async () => {
    const port = await freePort();
    const spoolDir = tempDir('spool');
    const env = { ...process.env, ASM_URL: `http://127.0.0.1:${port}`, ASM_SPOOL_DIR: spoolDir, ASM_RETRY_BASE_MS: '50', ASM_RETRY_MAX_MS: '300', ASM_SENDER_MAX_MS: '30000' };
    expect((await run(['hook'], { input: '{"session_id":"s","hook_event_name":"Stop"}', env })).status).toBe(0);
    const spool = new Spool(spoolDir);
    expect(spool.list()).toHaveLength(1);
    await waitUntil(() => spool.senderRunning(), 'the sender runs');
    const server = await sink(() => 200, port);
    await settled(spoolDir);
    expect(server.delivered).toEqual(['{"session_id":"s","hook_event_name":"Stop"}']);
  });

  it('when a hook is larger than the inline limit, then the agent is not held: it exits while the server is still taking it, and the server gets it once', async () => {
    const server = await sink((request) => (request.body.length > 100_000 ? 'hold' : 200));
    const spoolDir = tempDir('spool');
    const env = { ...process.env, ASM_URL: server.url, ASM_SPOOL_DIR: spoolDir, ASM_HOOK_INLINE_MAX_BYTES: '100000', ASM_HOOK_TIMEOUT_MS: '1000' };
    const large = JSON.stringify({ session_id: 's', hook_event_name: 'PostToolUse', tool_use_id: 'toolu_big', tool_response: { stdout: 'x'.repeat(2_000_000) } });
    expect(await run(['hook'], { input: large, env })).toEqual({ status: 0, stdout: '', stderr: '' });
    // The next hook queues behind it, and its own run ends too, however long the large one takes.
    expect((await run(['hook'], { input: '{"session_id":"s","hook_event_name":"Stop"}', env })).status).toBe(0);
    await waitUntil(() => server.requests.length === 1, 'the sender is sending the large hook');
    expect(server.delivered).toEqual([]);
    server.release();
    await settled(spoolDir);
    expect(server.requests.map((request) => JSON.parse(request.body).hook_event_name)).toEqual(['PostToolUse', 'Stop']);
    expect(new Spool(spoolDir).listDead()).toEqual([]);
  });

  it('when a large hook reaches the real server, then it is stored once, and nothing stays in the spool', async () => {
    const id = randomUUID();
    const spoolDir = tempDir('spool');
    const env = { ...process.env, ASM_URL: instance.baseUrl, ASM_SPOOL_DIR: spoolDir, ASM_HOOK_INLINE_MAX_BYTES: '100000' };
    const [, , post] = recordedHooks('tool-call', id);
    const large = JSON.stringify({ ...post, tool_response: { stdout: 'y'.repeat(3_000_000), stderr: '' } });
    expect((await run(['hook'], { input: large, env })).status).toBe(0);
    await settled(spoolDir);
    const stored = await events(id);
    expect(stored.map((e) => e.event_type)).toEqual(['post_tool']);
    expect(stored[0].tool_output.stdout).toHaveLength(3_000_000);
  });

  it('when the key is missing, then the hook waits in the spool (not set aside); with the key it is sent', async () => {
    const keyed = await startInstance(database.url, { apiKeys: ['cli-key'] });
    try {
      const id = randomUUID();
      const spoolDir = tempDir('spool');
      const [prompt, pre] = recordedHooks('tool-call', id).map((hook) => JSON.stringify(hook));
      expect((await cli(['hook'], { stdin: prompt!, env: { ASM_URL: keyed.baseUrl, ASM_SPOOL_DIR: spoolDir } })).code).toBe(0);
      const spool = new Spool(spoolDir);
      expect(spool.list()).toHaveLength(1);
      expect(spool.listDead()).toEqual([]);
      expect(spool.state().lastError?.message).toMatch(/refused the key \(401\); set ASM_API_KEY/);
      spool.saveState({ ...spool.state(), retryAt: 0 });
      expect((await cli(['hook'], { stdin: pre!, env: { ASM_URL: keyed.baseUrl, ASM_SPOOL_DIR: spoolDir, ASM_API_KEY: 'cli-key' } })).code).toBe(0);
      const stored = (await apiClient(keyed.baseUrl).get(sessionPath(id, '/events'), { authorization: 'Bearer cli-key' })).body.events;
      expect(stored.map((e: any) => e.event_type)).toEqual(['message', 'pre_tool']);
    } finally {
      await keyed.close();
    }
  });

  it('when another run holds the spool past the wait, then this hook queues behind it rather than jumping ahead', async () => {
    const spoolDir = tempDir('spool');
    const spool = new Spool(spoolDir);
    fs.mkdirSync(path.join(spoolDir, 'flush.lock'), { recursive: true });
    fs.writeFileSync(path.join(spoolDir, 'flush.lock', 'pid'), String(process.pid));
    const [prompt] = recordedHooks('tool-call', randomUUID());
    expect((await cli(['hook'], { stdin: JSON.stringify(prompt), env: { ASM_URL: instance.baseUrl, ASM_SPOOL_DIR: spoolDir, ASM_HOOK_TIMEOUT_MS: '600' } })).code).toBe(0);
    expect(spool.list()).toHaveLength(1);
  });

  it('when the lock was left by a run that died, then the next run takes it over', async () => {
    const spoolDir = tempDir('spool');
    fs.mkdirSync(path.join(spoolDir, 'flush.lock'), { recursive: true });
    fs.writeFileSync(path.join(spoolDir, 'flush.lock', 'pid'), '999999999');
    const id = randomUUID();
    const [prompt] = recordedHooks('tool-call', id);
    await cli(['hook'], { stdin: JSON.stringify(prompt), env: { ASM_URL: instance.baseUrl, ASM_SPOOL_DIR: spoolDir } });
    expect(await events(id)).toHaveLength(1);
    expect(fs.existsSync(path.join(spoolDir, 'flush.lock'))).toBe(false);
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

describe('agent-session-manager flush', () => {
  it('sends the spool now, to the server the settings name (over the shell), and says so', async () => {
    const spoolDir = tempDir('spool');
    const spool = new Spool(spoolDir);
    for (let i = 0; i < 3; i++) spool.append({ captureId: `f${i}`, body: JSON.stringify({ session_id: 'flushed', n: i }) });
    spool.saveState({ attempts: 0, failures: 4, retryAt: Date.now() + 3_600_000 });
    const server = await sink();
    const home = tempDir('home');
    fs.mkdirSync(path.join(home, '.claude'));
    fs.writeFileSync(path.join(home, '.claude', 'settings.json'), JSON.stringify({ env: { ASM_URL: server.url } }));
    const result = await cli(['flush'], { env: { HOME: home, ASM_URL: 'http://127.0.0.1:1', ASM_SPOOL_DIR: spoolDir }, cwd: tempDir('project') });
    expect(result).toMatchObject({ code: 0, out: `sent 3 waiting hook(s) to ${server.url}` });
    expect(server.delivered.map((body) => JSON.parse(body).n)).toEqual([0, 1, 2]);
  });

  it('says why hooks still wait, and exits 1', async () => {
    const spoolDir = tempDir('spool');
    new Spool(spoolDir).append({ captureId: 'w', body: '{"session_id":"w"}' });
    const result = await cli(['flush', '--url', 'http://127.0.0.1:1'], { env: { HOME: tempDir('home'), ASM_SPOOL_DIR: spoolDir } });
    expect(result.code).toBe(1);
    expect(result.out).toMatch(/1 hook\(s\) still wait in .*: http:\/\/127\.0\.0\.1:1 cannot be reached/);
  });
});

/** A project folder and a home folder, the home's user settings (if any) as given. */
function folders(user?: object) {
  const home = tempDir('home');
  const project = tempDir('project');
  if (user) {
    fs.mkdirSync(path.join(home, '.claude'));
    fs.writeFileSync(path.join(home, '.claude', 'settings.json'), JSON.stringify(user));
  }
  const read = (file: string) => JSON.parse(fs.readFileSync(file, 'utf8'));
  return {
    home,
    project,
    userFile: path.join(home, '.claude', 'settings.json'),
    projectFile: path.join(project, '.claude', 'settings.json'),
    user: () => read(path.join(home, '.claude', 'settings.json')),
    projectSettings: () => read(path.join(project, '.claude', 'settings.json')),
  };
}

const TELEMETRY = (url: string) => ({
  CLAUDE_CODE_ENABLE_TELEMETRY: '1',
  OTEL_LOGS_EXPORTER: 'otlp',
  OTEL_METRICS_EXPORTER: 'otlp',
  OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
  OTEL_EXPORTER_OTLP_ENDPOINT: url,
});

describe('agent-session-manager init-claude', () => {
  it('writes the hooks (by absolute path) into the project, the telemetry into the user settings, keeps what is there, and says what went where', async () => {
    const f = folders({ model: 'opus', env: { OTEL_METRICS_EXPORTER: 'none' } });
    fs.mkdirSync(path.dirname(f.projectFile));
    const mine = { hooks: { PreToolUse: [{ matcher: 'Bash', hooks: [{ type: 'command', command: './check.sh' }] }] }, permissions: { allow: ['Bash(ls)'] } };
    fs.writeFileSync(f.projectFile, JSON.stringify(mine));

    const result = await cli(['init-claude'], { cwd: f.project, env: { HOME: f.home, ASM_URL: 'http://asm.example:8765' } });
    expect(result.code).toBe(0);
    const project = f.projectSettings();
    expect(project.permissions).toEqual(mine.permissions);
    expect(project.hooks.PreToolUse).toEqual([
      mine.hooks.PreToolUse[0],
      { matcher: '', hooks: [{ type: 'command', command: 'node /opt/asm/dist/cli.js hook', timeout: hookTimeoutFor('PreToolUse', 10) }] },
    ]);
    expect(Object.keys(project.hooks).sort()).toEqual([...HOOK_EVENTS].sort());
    // Claude Code ignores telemetry variables in a project's settings: none there, all in the user's.
    expect(project.env).toEqual({ ASM_URL: 'http://asm.example:8765' });
    expect(f.user()).toEqual({ model: 'opus', env: { ...TELEMETRY('http://asm.example:8765'), OTEL_METRICS_EXPORTER: 'none', ASM_URL: 'http://asm.example:8765' } });
    expect(result.out).toContain(`${f.projectFile} (the project's settings)`);
    expect(result.out).toContain(`${f.userFile} (your user settings, for every project; telemetry takes effect here)`);
    expect(result.out).toMatch(/hooks added for every event \(14\): node \/opt\/asm\/dist\/cli\.js hook/);
    expect(result.out).toMatch(/kept as you set it: OTEL_METRICS_EXPORTER=none \(init-claude would write OTEL_METRICS_EXPORTER=otlp\)/);
    expect(JSON.stringify(project) + JSON.stringify(f.user())).not.toMatch(/npx/);

    // A second run changes nothing.
    const again = await cli(['init-claude'], { cwd: f.project, env: { HOME: f.home, ASM_URL: 'http://asm.example:8765' } });
    expect(f.projectSettings()).toEqual(project);
    expect(again.out).toMatch(/settings\.json \(the project's settings\): nothing to change/);
  });

  it('when run again on another port (--url or ASM_URL), then it moves what it wrote there, and keeps what was set by hand', async () => {
    const f = folders();
    await cli(['init-claude'], { cwd: f.project, env: { HOME: f.home } });
    expect(f.projectSettings().env.ASM_URL).toBe('http://127.0.0.1:8765');
    const user = f.user();
    user.env.OTEL_LOGS_EXPORT_INTERVAL = '1000';
    user.env.OTEL_EXPORTER_OTLP_PROTOCOL = 'http/protobuf';
    fs.writeFileSync(f.userFile, JSON.stringify(user));

    const moved = await cli(['init-claude', '--url', 'http://127.0.0.1:19200/'], { cwd: f.project, env: { HOME: f.home } });
    expect(moved.code).toBe(0);
    expect(f.projectSettings().env).toEqual({ ASM_URL: 'http://127.0.0.1:19200' });
    expect(f.user().env).toEqual({
      ...TELEMETRY('http://127.0.0.1:19200'),
      ASM_URL: 'http://127.0.0.1:19200',
      OTEL_LOGS_EXPORT_INTERVAL: '1000',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
    });
    expect(moved.out).toMatch(/changed ASM_URL: http:\/\/127\.0\.0\.1:8765 → http:\/\/127\.0\.0\.1:19200/);
    expect(moved.out).toMatch(/changed OTEL_EXPORTER_OTLP_ENDPOINT/);
    expect(moved.out).toMatch(/kept as you set it: OTEL_EXPORTER_OTLP_PROTOCOL=http\/protobuf/);
    expect(moved.out).toMatch(/Hooks and telemetry go to http:\/\/127\.0\.0\.1:19200/);

    // ASM_URL does the same; without either, a re-run keeps the URL the settings name.
    await cli(['init-claude'], { cwd: f.project, env: { HOME: f.home, ASM_URL: 'http://127.0.0.1:19300' } });
    expect(f.projectSettings().env.ASM_URL).toBe('http://127.0.0.1:19300');
    await cli(['init-claude'], { cwd: f.project, env: { HOME: f.home } });
    expect(f.projectSettings().env.ASM_URL).toBe('http://127.0.0.1:19300');
    expect(f.user().env.OTEL_EXPORTER_OTLP_ENDPOINT).toBe('http://127.0.0.1:19300');
    // One hook entry per event, however often it ran.
    expect(f.projectSettings().hooks.Stop).toHaveLength(1);
  });

  it('when the CLI has moved, then a re-run replaces its hook command in place rather than adding a second', async () => {
    const f = folders();
    await cli(['init-claude'], { cwd: f.project, env: { HOME: f.home }, self: '/old/place/dist/cli.js' });
    const result = await cli(['init-claude'], { cwd: f.project, env: { HOME: f.home }, self: '/new place/dist/cli.js' });
    expect(result.out).toMatch(/hooks updated to node '\/new place\/dist\/cli\.js' hook for every event \(14\)/);
    for (const event of HOOK_EVENTS)
      expect(f.projectSettings().hooks[event]).toEqual([
        { matcher: '', hooks: [{ type: 'command', command: "node '/new place/dist/cli.js' hook", timeout: hookTimeoutFor(event, 10) }] },
      ]);
  });

  it('when a project holds the telemetry the old init-claude wrote there, then it is moved to the user settings; telemetry set by hand stays, with a warning', async () => {
    const f = folders();
    fs.mkdirSync(path.dirname(f.projectFile));
    fs.writeFileSync(f.projectFile, JSON.stringify({ env: { ASM_URL: 'http://127.0.0.1:8765', ...TELEMETRY('http://127.0.0.1:8765'), OTEL_LOG_USER_PROMPTS: '1' } }));
    const result = await cli(['init-claude'], { cwd: f.project, env: { HOME: f.home } });
    expect(f.projectSettings().env).toEqual({ ASM_URL: 'http://127.0.0.1:8765', OTEL_LOG_USER_PROMPTS: '1' });
    expect(f.user().env).toEqual({ ASM_URL: 'http://127.0.0.1:8765', ...TELEMETRY('http://127.0.0.1:8765') });
    expect(result.out).toMatch(/removed CLAUDE_CODE_ENABLE_TELEMETRY=1: Claude Code ignores telemetry variables in a project's settings/);
    expect(result.out).toMatch(/left OTEL_LOG_USER_PROMPTS=1 as you set it, but Claude Code ignores it here/);
  });

  it('with --global writes the hooks and everything else into the user settings only', async () => {
    const f = folders();
    const result = await cli(['init-claude', '--global', '--url', 'http://127.0.0.1:19200'], { cwd: f.project, env: { HOME: f.home } });
    expect(result.code).toBe(0);
    expect(fs.existsSync(f.projectFile)).toBe(false);
    expect(f.user()).toEqual({
      hooks: Object.fromEntries(
        HOOK_EVENTS.map((event) => [event, [{ matcher: '', hooks: [{ type: 'command', command: 'node /opt/asm/dist/cli.js hook', timeout: hookTimeoutFor(event, 10) }] }]]),
      ),
      env: { ASM_URL: 'http://127.0.0.1:19200', ...TELEMETRY('http://127.0.0.1:19200') },
    });
  });

  it('with --project writes into that project from anywhere, by its absolute path', async () => {
    const f = folders();
    const result = await cli(['init-claude', '--project', path.relative(os.tmpdir(), f.project)], { cwd: os.tmpdir(), env: { HOME: f.home } });
    expect(result.code).toBe(0);
    expect(f.projectSettings().hooks.Stop[0].hooks[0].command).toBe('node /opt/asm/dist/cli.js hook');
    expect(result.out).toContain(`doctor --project ${f.project}`);
  });

  it('with ASM_API_KEY writes the key into the user settings only, never the project; a new key replaces it', async () => {
    const f = folders();
    await cli(['init-claude'], { cwd: f.project, env: { HOME: f.home, ASM_API_KEY: 'k-one' } });
    expect(JSON.stringify(f.projectSettings())).not.toContain('k-one');
    expect(f.user().env).toMatchObject({ ASM_API_KEY: 'k-one', OTEL_EXPORTER_OTLP_HEADERS: 'Authorization=Bearer k-one' });
    expect((fs.statSync(f.userFile).mode & 0o777).toString(8)).toBe('600');
    const result = await cli(['init-claude'], { cwd: f.project, env: { HOME: f.home, ASM_API_KEY: 'k-two' } });
    expect(f.user().env).toMatchObject({ ASM_API_KEY: 'k-two', OTEL_EXPORTER_OTLP_HEADERS: 'Authorization=Bearer k-two' });
    expect(result.out).not.toMatch(/k-one|k-two/);
  });

  it('with --telemetry shell prints the lines for the shell and leaves the user settings alone', async () => {
    const f = folders();
    const result = await cli(['init-claude', '--telemetry', 'shell', '--url', 'http://127.0.0.1:19200'], { cwd: f.project, env: { HOME: f.home } });
    expect(fs.existsSync(f.userFile)).toBe(false);
    expect(result.out).toContain('  export CLAUDE_CODE_ENABLE_TELEMETRY=1');
    expect(result.out).toContain('  export OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:19200');
  });

  it('with --plugin removes the hooks it wrote (the plugin sends them) and keeps the others', async () => {
    const f = folders();
    await cli(['init-claude', '--global'], { cwd: f.project, env: { HOME: f.home } });
    const user = f.user();
    // Another tool's `cli.js hook` is not ours: only `…/dist/cli.js hook` and the plugin's script are.
    user.hooks.Stop.push({
      matcher: '',
      hooks: [
        { type: 'command', command: 'say done' },
        { type: 'command', command: 'node /usr/lib/other-tool/cli.js hook' },
      ],
    });
    fs.writeFileSync(f.userFile, JSON.stringify(user));
    const result = await cli(['init-claude', '--global', '--plugin'], { cwd: f.project, env: { HOME: f.home } });
    expect(f.user().hooks).toEqual({
      Stop: [
        {
          matcher: '',
          hooks: [
            { type: 'command', command: 'say done' },
            { type: 'command', command: 'node /usr/lib/other-tool/cli.js hook' },
          ],
        },
      ],
    });
    expect(f.user().env.ASM_URL).toBe('http://127.0.0.1:8765');
    expect(result.out).toMatch(/hooks init-claude wrote removed \(14 events\)/);
  });

  it('when the settings file is not valid JSON, then it is left untouched and the command fails', async () => {
    const f = folders();
    fs.mkdirSync(path.dirname(f.projectFile));
    fs.writeFileSync(f.projectFile, '{ "hooks": ');
    const result = await cli(['init-claude'], { cwd: f.project, env: { HOME: f.home } });
    expect(result.code).toBe(1);
    expect(result.err).toMatch(/not valid JSON/);
    expect(fs.readFileSync(f.projectFile, 'utf8')).toBe('{ "hooks": ');
    expect(fs.existsSync(f.userFile)).toBe(false);
  });

  it('refuses a URL with a path, and an unknown option', async () => {
    const f = folders();
    expect((await cli(['init-claude', '--url', 'http://127.0.0.1:8765/hooks/claude-code'], { cwd: f.project, env: { HOME: f.home } })).err).toMatch(/not a path on it/);
    expect((await cli(['init-claude', '--port', '1'], { cwd: f.project, env: { HOME: f.home } })).err).toMatch(/unknown option --port/);
  });
});

describe('agent-session-manager doctor', () => {
  /** A project set up by init-claude (the compiled CLI, so that its hook command really runs) for `url`. */
  async function setUp(url: string, { key, telemetry = true }: { key?: string; telemetry?: boolean } = {}) {
    const f = folders();
    const spoolDir = tempDir('spool');
    const env = { HOME: f.home, PATH: process.env.PATH, ASM_SPOOL_DIR: spoolDir, ...(key ? { ASM_API_KEY: key } : {}) };
    const init = await cli(['init-claude', '--url', url, ...(telemetry ? [] : ['--telemetry', 'none'])], { cwd: f.project, env, self: cliPath });
    expect(init.code).toBe(0);
    const doctor = (extra: string[] = [], shell: NodeJS.ProcessEnv = {}) =>
      cli(['doctor', ...extra], { cwd: f.project, env: { HOME: f.home, PATH: process.env.PATH, ASM_SPOOL_DIR: spoolDir, ...shell } });
    return { ...f, spoolDir, doctor };
  }

  it('when init-claude set it up, then every check passes: hooks, server, key, a test hook read back, a telemetry record', async () => {
    const keyed = await startInstance(database.url, { apiKeys: ['doc-key'] });
    try {
      const { doctor } = await setUp(keyed.baseUrl, { key: 'doc-key' });
      const result = await doctor();
      expect(result.out).toMatch(/ok {4}hooks: every event reported, by command node .*cli\.js hook/);
      expect(result.out).toMatch(new RegExp(`ok {4}server: ${keyed.baseUrl} \\(ASM_URL in .*\\.claude/settings\\.json\\) answers`));
      expect(result.out).toMatch(/ok {4}key: the hooks' key is accepted/);
      expect(result.out).toMatch(/ok {4}test hook \(command node .*\): sent and read back \(session agent-session-manager-doctor\)/);
      expect(result.out).toMatch(/ok {4}telemetry: a test record was accepted at .*\/v1\/logs \(OTEL_EXPORTER_OTLP_ENDPOINT in .*\.claude\/settings\.json\)/);
      expect(result.out).toMatch(/ok {4}spool: empty/);
      expect(result.out).not.toMatch(/FAIL|warn/);
      expect(result.code).toBe(0);
      const stops = (await apiClient(keyed.baseUrl).get(sessionPath('agent-session-manager-doctor', '/events'), { authorization: 'Bearer doc-key' })).body.events;
      expect(stops.map((e: any) => `${e.event_type}:${e.reason}`)).toEqual(['session_stop:doctor']);
    } finally {
      await keyed.close();
    }
  });

  it('when the settings send the hooks to the wrong port while the shell names the right one, then it fails, naming the file and the fix', async () => {
    const wrong = `http://127.0.0.1:${await freePort()}`;
    const { doctor, projectFile } = await setUp(wrong, { telemetry: false });
    // Claude Code's settings beat the shell: the hooks go to the settings' port, whatever the shell says.
    const result = await doctor([], { ASM_URL: instance.baseUrl });
    expect(result.code).toBe(1);
    expect(result.out).toContain(`FAIL  server: ${wrong} (ASM_URL in ${projectFile}) cannot be reached (ECONNREFUSED)`);
    expect(result.out).toMatch(
      /fix: start the server there \(PORT=\d+ npm start in its folder\), or point the hooks at the server that runs: `agent-session-manager init-claude --url <its URL>`/,
    );
  });

  it('when the telemetry variables are only in the project settings, then it fails: Claude Code ignores them there', async () => {
    const { doctor, projectFile } = await setUp(instance.baseUrl, { telemetry: false });
    const settings = JSON.parse(fs.readFileSync(projectFile, 'utf8'));
    settings.env = { ...settings.env, ...TELEMETRY(instance.baseUrl) };
    fs.writeFileSync(projectFile, JSON.stringify(settings));
    const result = await doctor();
    expect(result.code).toBe(1);
    expect(result.out).toContain(
      `FAIL  telemetry: CLAUDE_CODE_ENABLE_TELEMETRY, OTEL_LOGS_EXPORTER, OTEL_METRICS_EXPORTER, OTEL_EXPORTER_OTLP_PROTOCOL, OTEL_EXPORTER_OTLP_ENDPOINT set in ${projectFile}, where Claude Code ignores telemetry variables`,
    );
    expect(result.out).toMatch(/fix: put them in ~\/\.claude\/settings\.json or the shell/);
    expect(result.out).toMatch(/ok {4}test hook/);
  });

  it('when the key is missing or wrong, then it says which, with the fix', async () => {
    const keyed = await startInstance(database.url, { apiKeys: ['doc-key'] });
    try {
      const missing = await setUp(keyed.baseUrl, { telemetry: false });
      expect(await missing.doctor()).toMatchObject({ code: 1, out: expect.stringMatching(/FAIL {2}key: .* wants a key and the hooks send none\n {6}fix: set ASM_API_KEY/) });
      expect((await missing.doctor([], { ASM_API_KEY: 'nope' })).out).toMatch(/FAIL {2}key: .* refuses the key the hooks send \(401\)/);
      expect((await missing.doctor([], { ASM_API_KEY: 'doc-key' })).code).toBe(0);
    } finally {
      await keyed.close();
    }
  });

  it('when the hooks carry a key with the ingest scope only, then the checks pass without reading back; a key without ingest fails naming it', async () => {
    // A database of its own: once a key exists there, the server requires keys.
    const scoped = await createDatabase();
    const keyed = await startInstance(scoped.url);
    try {
      const admin = (await apiClient(keyed.baseUrl).post('/keys', { name: 'admin', scopes: ['admin'] })).body.secret;
      const create = async (name: string, scopes: string[]) => (await apiClient(keyed.baseUrl).post('/keys', { name, scopes }, { authorization: `Bearer ${admin}` })).body.secret;
      const [hooks, reader] = [await create('laptop-hooks', ['ingest']), await create('dashboard', ['read'])];
      const { doctor } = await setUp(keyed.baseUrl, { telemetry: false });
      const ingestOnly = await doctor([], { ASM_API_KEY: hooks });
      expect(ingestOnly.out).toMatch(/ok {4}key: the hooks' key is accepted \(scopes: ingest\)/);
      expect(ingestOnly.out).toMatch(
        /ok {4}test hook \(command node .*\): sent and accepted \(session agent-session-manager-doctor; the key may not read, so it was not read back\)/,
      );
      expect(ingestOnly.code).toBe(0);
      const readOnly = await doctor([], { ASM_API_KEY: reader });
      expect(readOnly.code).toBe(1);
      expect(readOnly.out).toMatch(
        /FAIL {2}key: the hooks' key lacks the ingest scope \(it has read\): .* refuses its hooks \(403\)\n {6}fix: give the hooks a key with the ingest scope/,
      );
    } finally {
      await keyed.close();
      await scoped.drop();
    }
  });

  it('when no hook sends anything here, then it fails and names the ways to set it up', async () => {
    const f = folders();
    const result = await cli(['doctor'], { cwd: f.project, env: { HOME: f.home, ASM_SPOOL_DIR: tempDir('spool') } });
    expect(result.code).toBe(1);
    expect(result.out).toMatch(/FAIL {2}hooks: no hook sends anything to agent-session-manager/);
    expect(result.out).toMatch(/warn {2}telemetry: off where it takes effect/);
  });

  it('when the hook command cannot run (the checkout moved), then the test hook fails with its error', async () => {
    const f = folders();
    await cli(['init-claude', '--url', instance.baseUrl, '--telemetry', 'none'], { cwd: f.project, env: { HOME: f.home }, self: path.join(tempDir('gone'), 'dist', 'cli.js') });
    const result = await cli(['doctor'], { cwd: f.project, env: { HOME: f.home, PATH: process.env.PATH, ASM_SPOOL_DIR: tempDir('spool') } });
    expect(result.code).toBe(1);
    expect(result.out).toMatch(/FAIL {2}test hook \(command node .*\): exited 1: .*Cannot find module/);
  });

  it('when hooks wait in the spool, then it fails saying why; --flush sends them', async () => {
    const { doctor, spoolDir } = await setUp(instance.baseUrl, { telemetry: false });
    const spool = new Spool(spoolDir);
    spool.append({ captureId: randomUUID(), body: JSON.stringify({ session_id: randomUUID(), hook_event_name: 'Stop' }) });
    spool.saveState({
      attempts: 0,
      failures: 2,
      retryAt: Date.now() + 3_600_000,
      lastError: { at: new Date().toISOString(), message: 'http://127.0.0.1:8765 cannot be reached (ECONNREFUSED)' },
    });
    const waiting = await doctor();
    expect(waiting.code).toBe(1);
    expect(waiting.out).toMatch(/FAIL {2}spool: 1 hook\(s\) wait in .*; the last try \(.*\): http:\/\/127\.0\.0\.1:8765 cannot be reached \(ECONNREFUSED\)/);
    expect(waiting.out).toMatch(/fix: .*`agent-session-manager flush` \(or doctor --flush\) sends them/);
    const flushed = await doctor(['--flush']);
    expect(flushed.out).toMatch(/ok {4}flush: sent 1 waiting hook\(s\)/);
    expect(flushed.out).toMatch(/ok {4}spool: empty/);
    expect(flushed.code).toBe(0);
  });

  it('when the http hooks of docs/claude-code-setup.md are in the settings, then their test hook goes over http', async () => {
    const f = folders();
    const block = await cli(['http-hooks', '--url', instance.baseUrl]);
    fs.mkdirSync(path.dirname(f.projectFile));
    fs.writeFileSync(f.projectFile, block.out);
    const result = await cli(['doctor'], { cwd: f.project, env: { HOME: f.home, ASM_SPOOL_DIR: tempDir('spool') } });
    expect(result.out).toMatch(/warn {2}hooks: no hook for PermissionRequest|ok {4}hooks: every event reported, by http/);
    expect(result.out).toMatch(new RegExp(`ok {4}test hook \\(http ${instance.baseUrl}/hooks/claude-code\\): sent and read back`));
    expect(result.code).toBe(0);
  });

  it('when a settings file is not JSON, then it fails: Claude Code skips it', async () => {
    const f = folders();
    fs.mkdirSync(path.dirname(f.projectFile));
    fs.writeFileSync(path.join(f.project, '.claude', 'settings.local.json'), '{');
    const result = await cli(['doctor'], { cwd: f.project, env: { HOME: f.home, ASM_SPOOL_DIR: tempDir('spool') } });
    expect(result.out).toMatch(/FAIL {2}settings: .*settings\.local\.json: it is not valid JSON .*Claude Code skips this file/);
  });
});

describe('the bin, as a process', () => {
  it('runs `hook` from stdin and exits 0; `init-claude` writes its own absolute path', async () => {
    const id = randomUUID();
    const [prompt] = recordedHooks('tool-call', id);
    const home = tempDir('home');
    const env = { ...process.env, HOME: home, ASM_URL: instance.baseUrl, ASM_SPOOL_DIR: tempDir('spool') };
    const hook = await run(['hook'], { input: JSON.stringify(prompt), env });
    expect(hook).toEqual({ status: 0, stdout: '', stderr: '' });
    expect(await events(id)).toHaveLength(1);

    const project = tempDir('project');
    const init = await run(['init-claude'], { cwd: project, env });
    expect(init.status).toBe(0);
    const settings = JSON.parse(fs.readFileSync(path.join(project, '.claude', 'settings.json'), 'utf8'));
    expect(settings.hooks.UserPromptSubmit[0].hooks[0].command).toBe(`node ${cliPath} hook`);
  });
});
