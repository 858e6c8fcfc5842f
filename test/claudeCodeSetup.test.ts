import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli } from '../src/cli';
import { HOOK_EVENTS } from '../src/claudeCode/settings';
import { Spool } from '../src/claudeCode/spool';
import { CLAUDE_BIN, describeWithClaude } from './support/claudeCli';
import { compileCli } from './support/compileCli';
import { startGitHttpServer } from './support/gitHttpServer';
import { sessionPath } from './support/http';
import { useInstance } from './support/instance';
import { bashThenText, startMessagesStandIn, type MessagesStandIn } from './support/messagesStandIn';
import { useTestDatabase } from './support/testDatabase';
import { waitUntil } from './support/waitUntil';

const describeReal = describeWithClaude('the plugin and setup tests');

const ROOT = path.join(__dirname, '..');
const API_KEY = 'plugin-key';
const database = useTestDatabase();
const server = useInstance(database, { apiKeys: [API_KEY] });
const auth = { authorization: `Bearer ${API_KEY}` };

const folders: string[] = [];
const folder = (prefix: string) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `asm-plugin-${prefix}-`));
  folders.push(dir);
  return dir;
};
let standIn: MessagesStandIn;
beforeAll(async () => {
  standIn = await startMessagesStandIn(bashThenText({ command: 'echo from-plugin', finalText: 'Reported by the plugin.' }));
});
afterAll(async () => {
  await standIn?.close();
  for (const dir of folders) fs.rmSync(dir, { recursive: true, force: true });
});

/** Claude Code's environment here: a throwaway HOME, the stand-in API, nothing sent elsewhere; the plugin's ASM_URL and key. */
const claudeEnv = (home: string, spoolDir: string): NodeJS.ProcessEnv => ({
  PATH: process.env.PATH,
  HOME: home,
  ANTHROPIC_BASE_URL: standIn.url,
  ANTHROPIC_API_KEY: 'stand-in',
  CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
  DISABLE_AUTOUPDATER: '1',
  ASM_URL: server.instance.baseUrl,
  ASM_API_KEY: API_KEY,
  ASM_SPOOL_DIR: spoolDir,
});

/** Runs the real `claude` with `args` (asynchronously: the server lives in this process). */
function claude(args: string[], { cwd, env }: { cwd: string; env: NodeJS.ProcessEnv }) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(CLAUDE_BIN, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** `claude -p` with one Bash call; the session's stored events, once SessionEnd is in (the script's sender may still be at it). */
async function runAndRead(cwd: string, env: NodeJS.ProcessEnv, extra: string[] = []) {
  const run = await claude(['-p', 'Say something using Bash', '--output-format', 'json', '--allowedTools', 'Bash', ...extra], { cwd, env });
  expect(run.code).toBe(0);
  const id: string = JSON.parse(run.stdout).session_id;
  const read = async () => (await server.api.get(sessionPath(id, '/events'), auth)).body.events as any[];
  await waitUntil(async () => (await read()).some((e) => e.event_type === 'session_stop'), 'the session has ended on the server');
  return { id, events: await read() };
}

const EXPECTED = ['session_start', 'message:user', 'pre_tool', 'post_tool', 'message:assistant', 'session_stop'];
const shape = (events: any[]) => events.map((e) => `${e.event_type}${e.role ? `:${e.role}` : ''}`);

/** The JSON fenced between `<!-- GENERATED name … -->` and `<!-- END name -->` of the README, for `url`. */
function documentBlock(name: string, url: string): any {
  const document = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const match = new RegExp(`<!-- GENERATED ${name}[^>]*-->\\n\`\`\`json\\n([\\s\\S]*?)\\n\`\`\`\\n<!-- END ${name} -->`).exec(document);
  if (!match) throw new Error(`no GENERATED ${name} block`);
  return JSON.parse(match[1]!.replaceAll('http://127.0.0.1:8765', url));
}

describeReal("the README's settings blocks, used by the real CLI", () => {
  it('when the http block is in the project and the telemetry block in the user settings, then every hook and the usage arrive', async () => {
    const project = folder('project');
    fs.mkdirSync(path.join(project, '.claude'));
    fs.writeFileSync(path.join(project, '.claude', 'settings.json'), JSON.stringify(documentBlock('http-hooks', server.instance.baseUrl)));
    const home = folder('home');
    const telemetry = documentBlock('telemetry-env', server.instance.baseUrl);
    telemetry.env.OTEL_EXPORTER_OTLP_HEADERS = `Authorization=Bearer ${API_KEY}`;
    fs.mkdirSync(path.join(home, '.claude'));
    fs.writeFileSync(path.join(home, '.claude', 'settings.json'), JSON.stringify(telemetry));
    const { id, events } = await runAndRead(project, { ...claudeEnv(home, folder('spool')), OTEL_LOGS_EXPORT_INTERVAL: '500' });
    // http hooks never get SessionStart.
    expect(shape(events)).toEqual(EXPECTED.slice(1));
    await waitUntil(async () => (await server.api.get(sessionPath(id), auth)).body.session.usage?.api_requests > 0, 'the telemetry has counted the model requests');
  }, 120_000);
});

describeReal('the Claude Code plugin, loaded by the real CLI', () => {
  it('passes `claude plugin validate --strict`, as a marketplace and as a plugin', async () => {
    const home = folder('home');
    for (const target of [ROOT, path.join(ROOT, 'plugin')]) {
      const result = await claude(['plugin', 'validate', '--strict', target], { cwd: ROOT, env: { PATH: process.env.PATH, HOME: home } });
      expect({ target, code: result.code, out: result.code === 0 ? '' : result.stdout + result.stderr }).toEqual({ target, code: 0, out: '' });
    }
  });

  it("when claude -p runs with --plugin-dir, then every hook goes through the plugin's script to the server, SessionStart included", async () => {
    const spoolDir = folder('spool');
    const { events } = await runAndRead(folder('project'), claudeEnv(folder('home'), spoolDir), ['--plugin-dir', path.join(ROOT, 'plugin')]);
    expect(shape(events)).toEqual(EXPECTED);
    expect(events[3]).toMatchObject({ tool_name: 'Bash', tool_output: { stdout: 'from-plugin' } });
    expect(new Spool(spoolDir).list()).toEqual([]);
    expect(new Spool(spoolDir).listDead()).toEqual([]);
  }, 120_000);

  it('when installed from its marketplace in a git repository, then Claude Code runs its copy in the plugin cache (self-contained), and doctor checks that copy', async () => {
    // The marketplace as a repository holding this checkout's .claude-plugin/ and plugin/, served over git's HTTP protocol.
    const repos = folder('git');
    const work = path.join(repos, 'work');
    fs.mkdirSync(work);
    fs.cpSync(path.join(ROOT, '.claude-plugin'), path.join(work, '.claude-plugin'), { recursive: true });
    fs.cpSync(path.join(ROOT, 'plugin'), path.join(work, 'plugin'), { recursive: true });
    const git = (args: string[], cwd: string) => execFileSync('git', ['-c', 'user.email=test@example.com', '-c', 'user.name=test', ...args], { cwd, stdio: 'ignore' });
    git(['init', '-q'], work);
    git(['add', '-A'], work);
    git(['commit', '-qm', 'marketplace'], work);
    git(['clone', '-q', '--bare', work, path.join(repos, 'marketplace.git')], repos);
    const gitServer = await startGitHttpServer(repos);
    try {
      const home = folder('home');
      const env = claudeEnv(home, folder('spool'));
      const added = await claude(['plugin', 'marketplace', 'add', `${gitServer.url}/marketplace.git`], { cwd: home, env });
      expect(added.stdout + added.stderr).toMatch(/Successfully added marketplace: agent-session-manager/);
      const installed = await claude(['plugin', 'install', 'agent-session-manager@agent-session-manager'], { cwd: home, env });
      expect(installed.stdout + installed.stderr).toMatch(/Successfully installed plugin: agent-session-manager@agent-session-manager/);

      const registry = JSON.parse(fs.readFileSync(path.join(home, '.claude', 'plugins', 'installed_plugins.json'), 'utf8'));
      const copy: string = registry.plugins['agent-session-manager@agent-session-manager'][0].installPath;
      expect(copy.startsWith(path.join(home, '.claude', 'plugins', 'cache') + path.sep)).toBe(true);
      // The copy holds the plugin folder alone: the script must (and does) need nothing beside it.
      expect(fs.readdirSync(copy)).toEqual(expect.arrayContaining(['.claude-plugin', 'hooks', 'scripts']));
      for (const outside of ['package.json', 'src', 'dist', 'node_modules']) expect(fs.readdirSync(copy)).not.toContain(outside);
      expect(fs.readFileSync(path.join(copy, 'scripts', 'asm-hook.js'), 'utf8')).toBe(fs.readFileSync(path.join(ROOT, 'plugin', 'scripts', 'asm-hook.js'), 'utf8'));

      const debugFile = path.join(folder('debug'), 'claude.log');
      const { events } = await runAndRead(folder('project'), env, ['--debug-file', debugFile]);
      expect(shape(events)).toEqual(EXPECTED);
      // Claude Code says where it read the plugin's hooks from: the cached copy.
      expect(fs.readFileSync(debugFile, 'utf8')).toContain(`Read hooks.json for plugin agent-session-manager (enabled=true): ${path.join(copy, 'hooks', 'hooks.json')}`);

      // doctor finds the enabled plugin, runs its cached script with a test hook, and reads it back.
      const project = folder('project');
      const out: string[] = [];
      const code = await runCli(['doctor'], {
        readStdin: async () => '',
        env,
        cwd: project,
        out: (line) => out.push(line),
        err: (line) => out.push(line),
        cliPath: compileCli(folder('bin')),
      });
      expect(out.join('\n')).toMatch(/ok {4}hooks: every event reported, by the plugin/);
      expect(out.join('\n')).toMatch(/ok {4}test hook \(the plugin\): sent and read back/);
      expect(out.join('\n')).toMatch(/ok {4}server: .* \(ASM_URL in the shell\) answers/);
      expect(code).toBe(0);
    } finally {
      await gitServer.close();
    }
  }, 180_000);

  it('when this folder is added as a marketplace (`/plugin marketplace add <folder>`), then the plugin installs and every event reaches the server', async () => {
    const home = folder('home');
    const env = claudeEnv(home, folder('spool'));
    const added = await claude(['plugin', 'marketplace', 'add', ROOT], { cwd: home, env });
    expect(added.stdout + added.stderr).toMatch(/Successfully added marketplace: agent-session-manager/);
    const installed = await claude(['plugin', 'install', 'agent-session-manager@agent-session-manager'], { cwd: home, env });
    expect(installed.code).toBe(0);
    const settings = JSON.parse(fs.readFileSync(path.join(home, '.claude', 'settings.json'), 'utf8'));
    expect(settings.enabledPlugins).toEqual({ 'agent-session-manager@agent-session-manager': true });
    const { events } = await runAndRead(folder('project'), env);
    expect(shape(events)).toEqual(EXPECTED);
    // The plugin's hooks file names every event the hook command is registered for.
    const hooks = JSON.parse(fs.readFileSync(path.join(ROOT, 'plugin', 'hooks', 'hooks.json'), 'utf8')).hooks;
    expect(Object.keys(hooks)).toEqual([...HOOK_EVENTS]);
  }, 120_000);
});
