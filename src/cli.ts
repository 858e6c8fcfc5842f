#!/usr/bin/env node
import os from 'node:os';
import path from 'node:path';
import { runDoctor } from './claudeCode/doctor';
import { runHookCommand, serverTarget } from './claudeCode/hookCommand';
import { hookCommandLine, writeClaudeSettings } from './claudeCode/settings';
import { defaultSpoolDir, Spool } from './claudeCode/spool';

const USAGE = `usage: agent-session-manager <command>

  hook                   read a Claude Code hook input on stdin and send it to the server
                         (spooled while the server cannot be reached; always exits 0)
  init-claude [--global] add the hook command and the OpenTelemetry settings to .claude/settings.json
                         (--global: ~/.claude/settings.json); existing settings are kept
  doctor                 check the server, the key and the hooks route

environment: ASM_URL (default http://127.0.0.1:8765), ASM_API_KEY, ASM_SPOOL_DIR, ASM_HOOK_TIMEOUT_MS (default 3000)`;

export interface CliIo {
  readStdin: () => Promise<string>;
  env: NodeJS.ProcessEnv;
  cwd: string;
  out: (line: string) => void;
  err: (line: string) => void;
  /** This CLI's own file, which init-claude writes into the hook command. */
  cliPath: string;
}

/** Runs one command; resolves to the exit code. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv;
  const spool = () => new Spool(defaultSpoolDir(io.env));
  switch (command) {
    case 'hook': {
      // Whatever happens, the agent is never held up or blocked: exit 0, output nothing on stdout.
      const timeoutMs = Number(io.env.ASM_HOOK_TIMEOUT_MS) > 0 ? Number(io.env.ASM_HOOK_TIMEOUT_MS) : 3000;
      try {
        const input = await io.readStdin();
        if (input.trim() === '') return 0;
        await runHookCommand(input, { target: serverTarget(io.env), spool: spool(), timeoutMs, log: io.err });
      } catch (err) {
        io.err(`agent-session-manager: ${(err as Error).message}`);
      }
      return 0;
    }
    case 'init-claude': {
      const global = rest.includes('--global');
      const home = io.env.HOME || os.homedir();
      const file = path.join(global ? home : io.cwd, '.claude', 'settings.json');
      const serverUrl = serverTarget(io.env).url;
      try {
        const report = writeClaudeSettings({ file, command: hookCommandLine(io.cliPath), serverUrl });
        io.out(`${file}:`);
        io.out(report.addedHooks.length > 0 ? `  hook command added for ${report.addedHooks.join(', ')}` : '  hook command already there');
        if (report.addedEnv.length > 0) io.out(`  env set: ${report.addedEnv.join(', ')}`);
        if (report.keptEnv.length > 0) io.out(`  env kept as you had it: ${report.keptEnv.join(', ')}`);
        io.out(`  hooks and OpenTelemetry go to ${serverUrl}; with API_KEYS on the server, export ASM_API_KEY and`);
        io.out('  OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer $ASM_API_KEY" where Claude Code runs');
        return 0;
      } catch (err) {
        io.err(`agent-session-manager: ${(err as Error).message}`);
        return 1;
      }
    }
    case 'doctor': {
      const checks = await runDoctor(serverTarget(io.env), spool());
      for (const check of checks) io.out(`${check.ok ? 'ok  ' : 'FAIL'}  ${check.name}: ${check.detail}`);
      return checks.every((check) => check.ok) ? 0 : 1;
    }
    default:
      (command === undefined || command === '--help' || command === 'help' ? io.out : io.err)(USAGE);
      return command === undefined || command === '--help' || command === 'help' ? 0 : 2;
  }
}

function readStdin(): Promise<string> {
  if (process.stdin.isTTY) return Promise.resolve('');
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    process.stdin.on('data', (chunk: Buffer) => chunks.push(chunk));
    process.stdin.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    process.stdin.on('error', reject);
  });
}

if (require.main === module) {
  runCli(process.argv.slice(2), {
    readStdin,
    env: process.env,
    cwd: process.cwd(),
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
    cliPath: __filename,
  }).then(
    // Exit at once: idle keep-alive sockets of fetch would otherwise hold the process for seconds.
    (code) => process.exit(code),
    () => process.exit(process.argv[2] === 'hook' ? 0 : 1),
  );
}
