import fs from 'node:fs';
import path from 'node:path';
import { isObject, isTelemetryVariable, readSettingsFile, type Json, type SettingsScope } from './claudeSettings';
import { DEFAULT_SERVER_URL, HOOKS_PATH } from './hookCommand';

/** The hook events reported: every one that says what a session does, and PermissionRequest for approvals. */
export const HOOK_EVENTS = [
  'SessionStart',
  'UserPromptSubmit',
  'PreToolUse',
  'PermissionRequest',
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
export type HookEvent = (typeof HOOK_EVENTS)[number];

/** Claude Code sends SessionStart to command hooks only: an http hook for it would never fire. */
export const HTTP_HOOK_EVENTS: readonly HookEvent[] = HOOK_EVENTS.filter((event) => event !== 'SessionStart');

/** Seconds Claude Code waits for a hook: the command's own budget (ASM_HOOK_TIMEOUT_MS, 3 s) fits well within. */
export const COMMAND_HOOK_TIMEOUT_SECONDS = 10;
export const HTTP_HOOK_TIMEOUT_SECONDS = 10;

/**
 * Seconds Claude Code waits for the hooks the server may decide on: a PermissionRequest is held for a person
 * up to APPROVAL_HOLD_SECONDS (300 s by default; the hook command waits up to ASM_DECISION_TIMEOUT_MS, 330 s),
 * and a PreToolUse may be denied by a spend cap. Above both, so a hold never outlives Claude Code's patience.
 */
export const DECIDING_HOOK_TIMEOUT_SECONDS = 360;

/** The `timeout` of the hook of `event`: longer for the hooks the server may hold or decide on. */
export const hookTimeoutFor = (event: HookEvent, base: number): number => (event === 'PermissionRequest' || event === 'PreToolUse' ? DECIDING_HOOK_TIMEOUT_SECONDS : base);

/** `node "/abs/path/dist/cli.js" hook`, quoted for the shell Claude Code runs hook commands in. */
export function hookCommandLine(cliPath: string): string {
  return `node ${shellQuote(path.resolve(cliPath))} hook`;
}

const shellQuote = (text: string) => (/^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`);

/**
 * A command hook that runs this package's hook command, from any install of it (`…/dist/cli.js hook`, or
 * the plugin's `asm-hook.js`): the entries init-claude owns, replaces and removes.
 */
export function isOurHookCommand(command: unknown): boolean {
  return typeof command === 'string' && (/[/\\]dist[/\\]cli\.js'?\s+hook\s*$/.test(command) || /\basm-hook\.js"?'?(\s+hook)?\s*$/.test(command));
}

/** Checks a server URL given by a person: http(s), no path; returns it without a trailing slash. */
export function serverUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(`${text} is not a URL: give the server's address, e.g. ${DEFAULT_SERVER_URL}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`${text}: only http and https servers`);
  if (url.pathname !== '/' || url.search || url.hash) throw new Error(`${text}: give the server's address alone (e.g. ${url.origin}), not a path on it`);
  return url.origin;
}

/**
 * The telemetry settings that send Claude Code's usage (tokens, cost) to the server, and the key for the
 * exporter when there is one. They take effect in the user's settings or the shell only.
 */
export function telemetryEnv(url: string, apiKey?: string): Record<string, string> {
  return {
    CLAUDE_CODE_ENABLE_TELEMETRY: '1',
    OTEL_LOGS_EXPORTER: 'otlp',
    OTEL_METRICS_EXPORTER: 'otlp',
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_EXPORTER_OTLP_ENDPOINT: url,
    ...(apiKey ? { OTEL_EXPORTER_OTLP_HEADERS: `Authorization=Bearer ${apiKey}` } : {}),
  };
}

/**
 * The settings block for http hooks: every event (but SessionStart, which http hooks never get) posted to
 * the server, with the key from ASM_API_KEY. What docs/claude-code-setup.md shows, generated.
 */
export function httpHookSettings(url: string = DEFAULT_SERVER_URL): { hooks: Record<string, unknown[]> } {
  const hook = (event: HookEvent) => ({
    type: 'http',
    url: `${url}${HOOKS_PATH}`,
    headers: { Authorization: 'Bearer $ASM_API_KEY' },
    allowedEnvVars: ['ASM_API_KEY'],
    timeout: hookTimeoutFor(event, HTTP_HOOK_TIMEOUT_SECONDS),
  });
  return { hooks: Object.fromEntries(HTTP_HOOK_EVENTS.map((event) => [event, [{ matcher: '', hooks: [hook(event)] }]])) };
}

/** The user-settings block that turns on the telemetry export to the server (`$ASM_API_KEY` spelled out where a key is needed). */
export function telemetrySettings(url: string = DEFAULT_SERVER_URL): { env: Record<string, string> } {
  return { env: telemetryEnv(url) };
}

/** The shell lines that do what the telemetry settings do, for a profile (~/.profile, ~/.zshrc). */
export function telemetryShellLines(url: string, withKey: boolean): string[] {
  const lines = Object.entries(telemetryEnv(url)).map(([key, value]) => `export ${key}=${shellQuote(value)}`);
  if (withKey) lines.push('export OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer $ASM_API_KEY"');
  return lines;
}

export interface InitPlan {
  url: string;
  /** Written to the user's settings only, never a project's (which is often committed). */
  apiKey?: string;
  /** The hook command line; `undefined` leaves hooks alone; `null` removes the ones init-claude wrote (the plugin sends them). */
  hookCommand: string | null | undefined;
  /** Where the hooks (and ASM_URL beside them) go. */
  hooksScope: 'project' | 'user';
  /** `user`: the telemetry variables (and ASM_URL) in the user's settings; `shell`: printed, not written; `none`. */
  telemetry: 'user' | 'shell' | 'none';
}

/** What one run of init-claude changes in one file, as lines for a person. */
export interface FileReport {
  file: string;
  scope: SettingsScope;
  changed: boolean;
  lines: string[];
}

const show = (key: string, value: string) => (key === 'ASM_API_KEY' || key === 'OTEL_EXPORTER_OTLP_HEADERS' ? `${key}=(your key)` : `${key}=${value}`);

/**
 * Updates one settings object: our hook entries (replaced where they were, so a re-run moves them to a
 * new path or port and never doubles them), and the env values init-claude owns. An env value is ours
 * when it is what init-claude writes for the URL the file named before (or for the new one); any other
 * value was set by hand and stays, reported. Telemetry variables in a project's file are removed when
 * ours (Claude Code ignores them there), reported when not. Pure.
 */
export function mergeSettings(
  existing: Json,
  { scope, hookCommand, env, keyInFile }: { scope: SettingsScope; hookCommand: string | null | undefined; env: Record<string, string>; keyInFile: boolean },
): { settings: Json; lines: string[] } {
  const settings: Json = structuredClone(existing);
  const lines: string[] = [];

  if (hookCommand !== undefined) {
    const hooks: Json = isObject(settings.hooks) ? settings.hooks : {};
    const added: string[] = [];
    const updated: string[] = [];
    const removed: string[] = [];
    for (const event of HOOK_EVENTS) {
      const groups = Array.isArray(hooks[event]) ? (hooks[event] as unknown[]) : [];
      let at = -1;
      let previous: string | undefined;
      const kept: unknown[] = [];
      for (const group of groups) {
        if (!isObject(group) || !Array.isArray(group.hooks)) {
          kept.push(group);
          continue;
        }
        const others = group.hooks.filter((hook) => !(isObject(hook) && hook.type === 'command' && isOurHookCommand(hook.command)));
        if (others.length !== group.hooks.length) {
          previous ??= (group.hooks.find((hook) => isObject(hook) && isOurHookCommand(hook.command)) as Json).command as string;
          if (at < 0) at = kept.length;
          if (others.length > 0) kept.push({ ...group, hooks: others });
        } else {
          kept.push(group);
        }
      }
      if (hookCommand !== null) {
        kept.splice(at < 0 ? kept.length : at, 0, {
          matcher: '',
          hooks: [{ type: 'command', command: hookCommand, timeout: hookTimeoutFor(event, COMMAND_HOOK_TIMEOUT_SECONDS) }],
        });
        if (previous === undefined) added.push(event);
        else if (previous !== hookCommand) updated.push(event);
      } else if (previous !== undefined) {
        removed.push(event);
      }
      if (kept.length > 0) hooks[event] = kept;
      else delete hooks[event];
    }
    if (Object.keys(hooks).length > 0) settings.hooks = hooks;
    else delete settings.hooks;
    if (hookCommand !== null) {
      if (added.length > 0) lines.push(`hooks added for ${added.length === HOOK_EVENTS.length ? `every event (${added.length})` : added.join(', ')}: ${hookCommand}`);
      if (updated.length > 0) lines.push(`hooks updated to ${hookCommand} for ${updated.length === HOOK_EVENTS.length ? `every event (${updated.length})` : updated.join(', ')}`);
      if (added.length === 0 && updated.length === 0) lines.push(`hooks already there for every event (${HOOK_EVENTS.length}): ${hookCommand}`);
    } else if (removed.length > 0) {
      lines.push(`hooks init-claude wrote removed (${removed.length} events): the plugin sends them now`);
    }
  }

  const current: Json = isObject(settings.env) ? settings.env : {};
  const oldUrl = typeof current.ASM_URL === 'string' ? current.ASM_URL : undefined;
  const oldKey = typeof current.ASM_API_KEY === 'string' ? current.ASM_API_KEY : undefined;
  const ours = (key: string, value: unknown) => {
    if (value === undefined || key === 'ASM_URL') return true;
    if (key === 'ASM_API_KEY') return keyInFile;
    if (key === 'OTEL_EXPORTER_OTLP_HEADERS') return oldKey !== undefined && value === `Authorization=Bearer ${oldKey}`;
    const candidates = [telemetryEnv(env.ASM_URL ?? DEFAULT_SERVER_URL), ...(oldUrl ? [telemetryEnv(oldUrl)] : [])];
    return candidates.some((candidate) => candidate[key] === value);
  };
  for (const [key, value] of Object.entries(env)) {
    const before = current[key];
    if (before === value) continue;
    if (!ours(key, before)) {
      lines.push(`kept as you set it: ${show(key, typeof before === 'string' ? before : JSON.stringify(before))} (init-claude would write ${show(key, value)})`);
      continue;
    }
    current[key] = value;
    lines.push(
      before === undefined
        ? `set ${show(key, value)}`
        : `changed ${key}: ${show(key, typeof before === 'string' ? before : JSON.stringify(before))
            .split('=')
            .slice(1)
            .join('=')} → ${show(key, value).split('=').slice(1).join('=')}`,
    );
  }
  if (scope !== 'user') {
    for (const [key, value] of Object.entries(current)) {
      if (!isTelemetryVariable(key)) continue;
      if (ours(key, value)) {
        delete current[key];
        lines.push(`removed ${show(key, String(value))}: Claude Code ignores telemetry variables in a project's settings`);
      } else {
        lines.push(`left ${show(key, String(value))} as you set it, but Claude Code ignores it here: move it to ~/.claude/settings.json`);
      }
    }
  }
  if (Object.keys(current).length > 0) settings.env = current;
  else delete settings.env;
  return { settings, lines };
}

/** Reads a settings file (none yet is an empty one); refuses one that is not a JSON object, changing nothing. */
export function readForUpdate(file: string): Json {
  const read = readSettingsFile('user', file);
  if (read.error) throw new Error(`${file}: ${read.error}; fix it first, nothing was changed`);
  return read.settings;
}

/** Writes a settings object whole (temporary file, then rename), keeping the file's mode; new files are private. */
export function writeSettings(file: string, settings: Json): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const mode = fs.statSync(file, { throwIfNoEntry: false })?.mode ?? 0o600;
  const temporary = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temporary, `${JSON.stringify(settings, null, 2)}\n`, { mode: mode & 0o777 });
  fs.renameSync(temporary, file);
}

/**
 * init-claude: the hooks (and ASM_URL) in the project's or the user's settings; the telemetry variables,
 * ASM_URL and the key in the user's settings, where Claude Code honours them. Both files are read first
 * and neither is written if either is not a JSON object. Returns what changed, per file.
 */
export function applyInit(paths: { user: string; project: string }, plan: InitPlan): FileReport[] {
  const hooksFile = plan.hooksScope === 'user' ? paths.user : paths.project;
  const userEnv: Record<string, string> =
    plan.telemetry === 'user' ? { ASM_URL: plan.url, ...telemetryEnv(plan.url, plan.apiKey), ...(plan.apiKey ? { ASM_API_KEY: plan.apiKey } : {}) } : {};
  const updates = new Map<string, { scope: SettingsScope; hookCommand: string | null | undefined; env: Record<string, string> }>();
  updates.set(paths.user, {
    scope: 'user',
    hookCommand: plan.hooksScope === 'user' ? plan.hookCommand : undefined,
    env: { ...(plan.hooksScope === 'user' ? { ASM_URL: plan.url } : {}), ...userEnv },
  });
  if (plan.hooksScope === 'project') updates.set(paths.project, { scope: 'project', hookCommand: plan.hookCommand, env: { ASM_URL: plan.url } });

  const planned = [...updates].map(([file, update]) => {
    const before = fs.existsSync(file) ? readForUpdate(file) : undefined;
    const { settings, lines } = mergeSettings(before ?? {}, { ...update, keyInFile: update.scope === 'user' && plan.apiKey !== undefined });
    return { file, scope: update.scope, before, settings, lines };
  });
  const reports: FileReport[] = [];
  for (const { file, scope, before, settings, lines } of planned) {
    // Nothing to say and nothing there: the user's settings are not created for nothing.
    const changed = JSON.stringify(before ?? null) !== JSON.stringify(settings) && !(before === undefined && Object.keys(settings).length === 0);
    if (changed) writeSettings(file, settings);
    if (changed || lines.length > 0 || file === hooksFile) reports.push({ file, scope, changed, lines });
  }
  return reports;
}

/** The plugin's hooks file: every event to the hook script shipped beside it, which takes ASM_URL and ASM_API_KEY from the environment. */
export function pluginHooks(): { description: string; hooks: Record<string, unknown[]> } {
  const hook = (event: HookEvent) => ({
    type: 'command',
    command: 'node "${CLAUDE_PLUGIN_ROOT}/scripts/asm-hook.js" hook',
    timeout: hookTimeoutFor(event, COMMAND_HOOK_TIMEOUT_SECONDS),
  });
  return {
    description: 'Every Claude Code hook event to agent-session-manager ($ASM_URL, default http://127.0.0.1:8765; key $ASM_API_KEY)',
    hooks: Object.fromEntries(HOOK_EVENTS.map((event) => [event, [{ matcher: '', hooks: [hook(event)] }]])),
  };
}
