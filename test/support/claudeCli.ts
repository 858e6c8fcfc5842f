import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { HOOK_EVENTS } from '../../src/claudeCode/settings';
import type { MessagesStandIn } from './messagesStandIn';

/**
 * The real Claude Code CLI, pinned: installed by `npm run tools:claude` (and .ci/run) into .tools/, never a
 * dependency of the package; CLAUDE_BIN points elsewhere. Absent, the tests that need it are skipped with a
 * message, unless REQUIRE_CLAUDE_CODE is set (as .ci/run does): there they must run, so its absence fails.
 */
export const CLAUDE_BIN = process.env.CLAUDE_BIN || path.join(__dirname, '..', '..', '.tools', 'node_modules', '.bin', 'claude');

/**
 * The hook events the real-client runs register in their projects' settings: those the server takes, less
 * PermissionRequest (the server would hold it for a person) and StopFailure (registered by its own tests,
 * test/claudeCodeSpoolAndFailure.test.ts).
 */
export const RUN_HOOK_EVENTS = HOOK_EVENTS.filter((event) => event !== 'PermissionRequest' && event !== 'StopFailure');

/** `describe` when the CLI is here, else `describe.skip` (after saying why, naming `what` is skipped). */
export function describeWithClaude(what: string): jest.Describe {
  if (fs.existsSync(CLAUDE_BIN)) return describe;
  const message = `Claude Code not found at ${CLAUDE_BIN}: ${what} skipped. Run \`npm run tools:claude\` (or set CLAUDE_BIN).`;
  if (process.env.REQUIRE_CLAUDE_CODE) throw new Error(message);
  console.warn(message);
  return describe.skip;
}

export interface ClaudeRun {
  code: number | null;
  /** The JSON result `--output-format json` prints. */
  result: any;
  stderr: string;
}

/**
 * Runs `claude -p <prompt>` in `cwd` against the stand-in Messages API, with a throwaway HOME and no traffic
 * to anywhere else; `env` adds settings (API key for the hooks, OpenTelemetry).
 */
export function runClaude(
  prompt: string,
  {
    cwd,
    home,
    standIn,
    tools,
    env = {},
    args = [],
  }: { cwd: string; home: string; standIn: MessagesStandIn; tools: string[]; env?: NodeJS.ProcessEnv; /** More arguments, before the tools. */ args?: string[] },
): Promise<ClaudeRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(CLAUDE_BIN, ['-p', prompt, '--output-format', 'json', ...args, '--allowedTools', ...tools], {
      cwd,
      env: {
        PATH: process.env.PATH,
        HOME: home,
        ANTHROPIC_BASE_URL: standIn.url,
        ANTHROPIC_API_KEY: 'stand-in',
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
        DISABLE_AUTOUPDATER: '1',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      try {
        resolve({ code, result: JSON.parse(stdout), stderr });
      } catch {
        reject(new Error(`claude exited ${code} without a JSON result: ${stdout.slice(0, 500)} ${stderr.slice(0, 500)}`));
      }
    });
  });
}
