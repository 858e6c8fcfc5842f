#!/usr/bin/env node
import os from 'node:os';
import path from 'node:path';
// Types only at the top: each command loads its own modules, so that `hook` (run for every step of every
// Claude Code session) starts with nothing but the hook command's few builtins-only modules.
import type * as ClaudeSettingsModule from './claudeCode/claudeSettings';
import type * as DoctorModule from './claudeCode/doctor';
import type * as HookMainModule from './claudeCode/hookMain';
import type * as KeysCommandModule from './keys/keysCommand';
import type * as SettingsModule from './claudeCode/settings';

const USAGE = `usage: agent-session-manager <command>

  start                      run the server (what \`npm start\` runs)
  init-claude [options]      set Claude Code up to report to the server, and say what was written where:
    --url URL                the server (default: $ASM_URL, else the one the settings name, else http://127.0.0.1:8765)
    --global                 the hooks in ~/.claude/settings.json, for every project
                             (default: .claude/settings.json of the project)
    --project DIR            the project (default: the current folder)
    --plugin                 the plugin sends the hooks: remove the ones init-claude wrote, set the rest
    --telemetry user|shell|none
                             the telemetry variables (tokens, cost): in ~/.claude/settings.json (default; Claude
                             Code ignores them in a project's settings), printed for your shell, or left alone
                             With ASM_API_KEY set, the key goes to ~/.claude/settings.json too (never a project's).
  doctor [--project DIR] [--flush]
                             check what Claude Code will use: the settings files merged, hooks for every event,
                             the server, the key, a test hook and a test telemetry record, the spool;
                             --flush sends the spool first
  hook                       read a Claude Code hook input on stdin and send it to the server (spooled while it
                             cannot take it; a detached sender delivers it); prints nothing, always exits 0
  flush [--retry-dead] [--url URL]
                             send the waiting hooks now (--retry-dead: the dead-letter folder's too)
  http-hooks [--url URL]     print the settings block for http hooks (no command to run; no SessionStart)
  keys create --name NAME --scope SCOPE [--scope SCOPE …] | keys list | keys revoke NAME
                             API keys with scopes (ingest, read, decide, admin), through the server at ASM_URL
                             with the admin key in ASM_API_KEY; \`keys --help\` says more

environment: ASM_URL (default http://127.0.0.1:8765), ASM_API_KEY, ASM_SPOOL_DIR, ASM_HOOK_TIMEOUT_MS (default 3000),
ASM_HOOK_INLINE_MAX_BYTES (1048576: larger hooks go to the detached sender at once), ASM_HOOK_MAX_ATTEMPTS (5)`;

export interface CliIo {
  readStdin: () => Promise<string>;
  env: NodeJS.ProcessEnv;
  cwd: string;
  out: (line: string) => void;
  err: (line: string) => void;
  /** This CLI's own file, which init-claude writes into the hook command and `hook` runs the sender with. */
  cliPath: string;
}

const load = {
  hookMain: () => require('./claudeCode/hookMain') as typeof HookMainModule,
  settings: () => require('./claudeCode/settings') as typeof SettingsModule,
  claudeSettings: () => require('./claudeCode/claudeSettings') as typeof ClaudeSettingsModule,
  doctor: () => require('./claudeCode/doctor') as typeof DoctorModule,
  keys: () => require('./keys/keysCommand') as typeof KeysCommandModule,
};

/** `--name value` or `--name=value`; `undefined` when absent. Throws when the value is missing. */
function option(args: readonly string[], name: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === name) {
      const value = args[i + 1];
      if (value === undefined || value.startsWith('--')) throw new Error(`${name} needs a value`);
      return value;
    }
    if (arg.startsWith(`${name}=`)) return arg.slice(name.length + 1);
  }
  return undefined;
}

const KNOWN_FLAGS: Record<string, string[]> = {
  'init-claude': ['--url', '--global', '--project', '--plugin', '--telemetry'],
  doctor: ['--project', '--flush'],
  flush: ['--retry-dead', '--url'],
  'http-hooks': ['--url'],
  keys: ['--name', '--scope', '--url', '--json', '--help'],
};

/** Runs one command; resolves to the exit code. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv;
  const home = io.env.HOME || os.homedir();
  const hookIo = () => ({ env: io.env, readStdin: io.readStdin, out: io.out, err: io.err, senderCommand: [process.execPath, io.cliPath, 'send-spool'] });
  try {
    const known = command !== undefined ? KNOWN_FLAGS[command] : undefined;
    const unknown = known ? rest.filter((arg) => arg.startsWith('--') && !known.includes(arg.split('=')[0]!)) : [];
    if (unknown.length > 0) throw new Error(`${command}: unknown option ${unknown.join(' ')}`);
    switch (command) {
      case 'hook':
      case 'send-spool':
        return await load.hookMain().runHookProcess(command, rest, hookIo());

      case 'flush': {
        // The server the hooks go to: the settings Claude Code reads (from here) over the shell, unless --url.
        const { effectiveEnv, loadSettings } = load.claudeSettings();
        const env = effectiveEnv(loadSettings(home, io.cwd), io.env).env;
        const url = option(rest, '--url');
        if (url) env.ASM_URL = load.settings().serverUrl(url);
        return await load.hookMain().runHookProcess('flush', rest, { ...hookIo(), env });
      }

      case 'init-claude':
        return initClaude(rest, io, home);

      case 'doctor': {
        const { runDoctor, formatChecks } = load.doctor();
        const projectDir = path.resolve(io.cwd, option(rest, '--project') ?? '.');
        const checks = await runDoctor({ home, projectDir, shellEnv: io.env, flush: rest.includes('--flush') });
        for (const line of formatChecks(checks)) io.out(line);
        return checks.some((check) => check.status === 'fail') ? 1 : 0;
      }

      case 'http-hooks': {
        const { httpHookSettings, serverUrl } = load.settings();
        io.out(JSON.stringify(httpHookSettings(serverUrl(option(rest, '--url') ?? io.env.ASM_URL ?? 'http://127.0.0.1:8765')), null, 2));
        return 0;
      }

      case 'keys':
        return await load.keys().runKeysCommand(rest, io, load.settings().serverUrl);

      case 'start':
        // The server's entry: it runs on load and keeps the process until SIGTERM or SIGINT.
        require('./main');
        return await new Promise<number>(() => undefined);

      default: {
        const help = command === undefined || command === '--help' || command === 'help' || command === '-h';
        (help ? io.out : io.err)(USAGE);
        return help ? 0 : 2;
      }
    }
  } catch (err) {
    if (command === 'hook') return 0;
    io.err(`agent-session-manager: ${(err as Error).message}`);
    return 1;
  }
}

function initClaude(args: readonly string[], io: CliIo, home: string): number {
  const { applyInit, hookCommandLine, serverUrl, telemetryShellLines } = load.settings();
  const { readSettingsFile, settingsPaths, isObject } = load.claudeSettings();
  const projectDir = path.resolve(io.cwd, option(args, '--project') ?? '.');
  const paths = settingsPaths(home, projectDir);
  const hooksScope = args.includes('--global') ? 'user' : 'project';
  const telemetry = option(args, '--telemetry') ?? 'user';
  if (telemetry !== 'user' && telemetry !== 'shell' && telemetry !== 'none') throw new Error('--telemetry takes user, shell or none');

  // The URL: asked for, else the one these settings already name (a re-run keeps it), else the default.
  const named = (file: string) => {
    const env = readSettingsFile('user', file).settings.env;
    return isObject(env) && typeof env.ASM_URL === 'string' ? env.ASM_URL : undefined;
  };
  const given = option(args, '--url') ?? io.env.ASM_URL;
  const url = serverUrl(given ?? (hooksScope === 'project' ? named(paths.project) : undefined) ?? named(paths.user) ?? 'http://127.0.0.1:8765');
  const apiKey = io.env.ASM_API_KEY || undefined;
  const plugin = args.includes('--plugin');
  const reports = applyInit(paths, {
    url,
    apiKey: telemetry === 'user' ? apiKey : undefined,
    hookCommand: plugin ? null : hookCommandLine(io.cliPath),
    hooksScope,
    telemetry: telemetry as 'user' | 'shell' | 'none',
  });

  const scopeNote = { user: 'your user settings, for every project; telemetry takes effect here', project: "the project's settings", local: 'local settings' } as const;
  for (const report of reports) {
    io.out(`${report.file} (${scopeNote[report.scope]})${report.changed ? '' : ': nothing to change'}`);
    for (const line of report.lines) io.out(`  ${line}`);
  }
  const self = `node ${io.cliPath}`;
  if (telemetry === 'shell') {
    io.out("Claude Code ignores telemetry variables in a project's settings; add these lines to your shell profile:");
    for (const line of telemetryShellLines(url, apiKey !== undefined)) io.out(`  ${line}`);
  }
  io.out(`Hooks${plugin ? ' (from the plugin)' : ''} and telemetry go to ${url}.`);
  if (!apiKey) io.out('If the server has API_KEYS: run this again with ASM_API_KEY=<key> set; the key then goes to ~/.claude/settings.json.');
  io.out(`Check it all: ${self} doctor${hooksScope === 'project' && path.resolve(io.cwd) !== projectDir ? ` --project ${projectDir}` : ''}`);
  return 0;
}

if (require.main === module) {
  const command = process.argv[2];
  if (command === 'hook' || command === 'send-spool') {
    // The fast path: nothing but the hook command's modules, and an exit within the budget whatever happens.
    load.hookMain().hookProcessMain(__filename, process.argv.slice(2));
  } else {
    runCli(process.argv.slice(2), {
      readStdin: () => Promise.resolve(''),
      env: process.env,
      cwd: process.cwd(),
      out: (line) => process.stdout.write(`${line}\n`),
      err: (line) => process.stderr.write(`${line}\n`),
      cliPath: __filename,
    }).then(
      // Exit at once: idle keep-alive sockets of fetch would otherwise hold the process for seconds.
      (code) => process.exit(code),
      () => process.exit(1),
    );
  }
}
