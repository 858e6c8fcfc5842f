import fs from 'node:fs';
import path from 'node:path';

/** The hook events the hook command is registered for: every one that says what a session does. */
export const HOOK_EVENTS = [
  'SessionStart',
  'UserPromptSubmit',
  'PreToolUse',
  'PostToolUse',
  'PostToolUseFailure',
  'Notification',
  'SubagentStart',
  'SubagentStop',
  'PreCompact',
  'PostCompact',
  'Stop',
  'StopFailure',
  'SessionEnd',
] as const;

export interface ClaudeSettingsPlan {
  /** The settings file to write. */
  file: string;
  /** The command each hook runs: the local CLI by absolute path, never a package fetched by name. */
  command: string;
  /** The server, for the OpenTelemetry exporter and the hook command. */
  serverUrl: string;
}

export interface MergeReport {
  /** Hook events the command was added to (those that had it already are left alone). */
  addedHooks: string[];
  /** Environment variables set; those the file already had are kept as they were. */
  addedEnv: string[];
  keptEnv: string[];
}

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

/** `node "/abs/path/dist/cli.js" hook`, quoted for the shell Claude Code runs hook commands in. */
export function hookCommandLine(cliPath: string): string {
  return `node ${shellQuote(path.resolve(cliPath))} hook`;
}

const shellQuote = (text: string) => (/^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`);

/** The OpenTelemetry settings that send Claude Code's usage (tokens, cost) to this server. */
export function telemetryEnv(serverUrl: string): Record<string, string> {
  return {
    ASM_URL: serverUrl,
    CLAUDE_CODE_ENABLE_TELEMETRY: '1',
    OTEL_LOGS_EXPORTER: 'otlp',
    OTEL_METRICS_EXPORTER: 'otlp',
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_EXPORTER_OTLP_ENDPOINT: serverUrl,
  };
}

/**
 * Adds the hook command and the OpenTelemetry environment to Claude Code settings, keeping everything
 * already there: other hooks, other keys, and any environment value the user set. Pure: returns the new
 * settings and what changed.
 */
export function mergeClaudeSettings(existing: Json, plan: Omit<ClaudeSettingsPlan, 'file'>): { settings: Json; report: MergeReport } {
  const settings: Json = structuredClone(existing);
  const report: MergeReport = { addedHooks: [], addedEnv: [], keptEnv: [] };

  const hooks: Json = isObject(settings.hooks) ? settings.hooks : {};
  settings.hooks = hooks;
  for (const event of HOOK_EVENTS) {
    const groups = Array.isArray(hooks[event]) ? (hooks[event] as unknown[]) : [];
    const present = groups.some(
      (group) => isObject(group) && Array.isArray(group.hooks) && group.hooks.some((hook) => isObject(hook) && hook.command === plan.command),
    );
    if (present) continue;
    groups.push({ matcher: '', hooks: [{ type: 'command', command: plan.command, timeout: 10 }] });
    hooks[event] = groups;
    report.addedHooks.push(event);
  }

  const env: Json = isObject(settings.env) ? settings.env : {};
  settings.env = env;
  for (const [key, value] of Object.entries(telemetryEnv(plan.serverUrl))) {
    if (env[key] === undefined) {
      env[key] = value;
      report.addedEnv.push(key);
    } else if (env[key] !== value) {
      report.keptEnv.push(key);
    }
  }
  return { settings, report };
}

/**
 * Reads the settings file (none yet is an empty one), merges, and writes it back whole (temporary file,
 * then rename). A file that is not a JSON object is left untouched: the error says so.
 */
export function writeClaudeSettings(plan: ClaudeSettingsPlan): MergeReport {
  let existing: Json = {};
  if (fs.existsSync(plan.file)) {
    const text = fs.readFileSync(plan.file, 'utf8');
    let parsed: unknown;
    try {
      parsed = text.trim() === '' ? {} : JSON.parse(text);
    } catch (err) {
      throw new Error(`${plan.file} is not valid JSON (${(err as Error).message}); fix it first, nothing was changed`);
    }
    if (!isObject(parsed)) throw new Error(`${plan.file} does not hold a JSON object; nothing was changed`);
    existing = parsed;
  }
  const { settings, report } = mergeClaudeSettings(existing, plan);
  fs.mkdirSync(path.dirname(plan.file), { recursive: true });
  const temporary = `${plan.file}.${process.pid}.tmp`;
  fs.writeFileSync(temporary, `${JSON.stringify(settings, null, 2)}\n`);
  fs.renameSync(temporary, plan.file);
  return report;
}
