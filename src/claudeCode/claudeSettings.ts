import fs from 'node:fs';
import path from 'node:path';

/**
 * Claude Code's settings files as Claude Code itself reads them (checked with the CLI, 2.1.328):
 * - `env`: the shell's environment, overridden by the user's settings, the project's, then the local ones
 *   (a project's ASM_URL beats one exported in the shell) — except the telemetry variables
 *   (`CLAUDE_CODE_ENABLE_TELEMETRY`, `OTEL_*`), which a project's or local settings file cannot set: Claude
 *   Code ignores them there and only the user's settings and the shell count.
 * - `hooks`: every file's hooks run, and every enabled plugin's; one command line set in several files runs once.
 * - `enabledPlugins`: later files win; an installed plugin lives in a copy under ~/.claude/plugins/cache.
 */

export type SettingsScope = 'user' | 'project' | 'local';
export type Json = Record<string, unknown>;

export const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

export interface SettingsFile {
  scope: SettingsScope;
  file: string;
  exists: boolean;
  /** The file's object; `{}` when absent or unreadable. */
  settings: Json;
  /** Why the file could not be used (not JSON, not an object): Claude Code skips such a file in `-p` runs. */
  error?: string;
}

/** Where each settings file of a project is: ~/.claude/settings.json, <project>/.claude/settings.json, <project>/.claude/settings.local.json. */
export function settingsPaths(home: string, projectDir: string): Record<SettingsScope, string> {
  return {
    user: path.join(home, '.claude', 'settings.json'),
    project: path.join(projectDir, '.claude', 'settings.json'),
    local: path.join(projectDir, '.claude', 'settings.local.json'),
  };
}

export function readSettingsFile(scope: SettingsScope, file: string): SettingsFile {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { scope, file, exists: false, settings: {} };
    return { scope, file, exists: true, settings: {}, error: (err as Error).message };
  }
  if (text.trim() === '') return { scope, file, exists: true, settings: {} };
  try {
    const parsed: unknown = JSON.parse(text);
    if (!isObject(parsed)) return { scope, file, exists: true, settings: {}, error: 'it does not hold a JSON object' };
    return { scope, file, exists: true, settings: parsed };
  } catch (err) {
    return { scope, file, exists: true, settings: {}, error: `it is not valid JSON (${(err as Error).message})` };
  }
}

/** The user's, the project's and the local settings, in the order Claude Code applies them. */
export function loadSettings(home: string, projectDir: string): SettingsFile[] {
  const paths = settingsPaths(home, projectDir);
  const files = [readSettingsFile('user', paths.user)];
  // A project in the home folder itself has no project settings apart from the user's.
  if (path.resolve(paths.project) !== path.resolve(paths.user)) files.push(readSettingsFile('project', paths.project));
  files.push(readSettingsFile('local', paths.local));
  return files;
}

/** `CLAUDE_CODE_ENABLE_TELEMETRY` and `OTEL_*`: what Claude Code ignores in a project's or local settings. */
export const isTelemetryVariable = (key: string): boolean => key === 'CLAUDE_CODE_ENABLE_TELEMETRY' || key.startsWith('OTEL_');

export interface EffectiveEnv {
  /** The environment Claude Code gives its hooks and its exporter. */
  env: NodeJS.ProcessEnv;
  /** Where each value came from: a settings file, or `shell` for what was already in the environment. */
  source: Record<string, string>;
  /** Telemetry variables set where Claude Code ignores them. */
  ignored: { key: string; value: string; file: string }[];
}

export function effectiveEnv(files: readonly SettingsFile[], shell: NodeJS.ProcessEnv): EffectiveEnv {
  const env: NodeJS.ProcessEnv = { ...shell };
  const source: Record<string, string> = Object.fromEntries(Object.keys(shell).map((key) => [key, 'shell']));
  const ignored: EffectiveEnv['ignored'] = [];
  for (const file of files) {
    if (!isObject(file.settings.env)) continue;
    for (const [key, raw] of Object.entries(file.settings.env)) {
      if (raw === undefined || raw === null) continue;
      const value = typeof raw === 'string' ? raw : JSON.stringify(raw);
      if (file.scope !== 'user' && isTelemetryVariable(key)) {
        ignored.push({ key, value, file: file.file });
        continue;
      }
      env[key] = value;
      source[key] = file.file;
    }
  }
  return { env, source, ignored };
}

export interface HookEntry {
  event: string;
  /** Which file (or plugin) holds it. */
  from: SettingsScope | 'plugin';
  file: string;
  type: string;
  command?: string;
  url?: string;
  headers?: Record<string, string>;
  allowedEnvVars?: string[];
  timeout?: number;
  /** For a plugin's hooks: its folder, which `${CLAUDE_PLUGIN_ROOT}` stands for. */
  pluginRoot?: string;
}

/** Every hook of a `hooks` object, flattened. */
export function hookEntries(hooks: unknown, from: HookEntry['from'], file: string, pluginRoot?: string): HookEntry[] {
  if (!isObject(hooks)) return [];
  const entries: HookEntry[] = [];
  for (const [event, groups] of Object.entries(hooks)) {
    if (!Array.isArray(groups)) continue;
    for (const group of groups) {
      if (!isObject(group) || !Array.isArray(group.hooks)) continue;
      for (const hook of group.hooks) {
        if (!isObject(hook) || typeof hook.type !== 'string') continue;
        entries.push({
          event,
          from,
          file,
          type: hook.type,
          command: typeof hook.command === 'string' ? hook.command : undefined,
          url: typeof hook.url === 'string' ? hook.url : undefined,
          headers: isObject(hook.headers) ? (Object.fromEntries(Object.entries(hook.headers).map(([k, v]) => [k, String(v)])) as Record<string, string>) : undefined,
          allowedEnvVars: Array.isArray(hook.allowedEnvVars) ? hook.allowedEnvVars.map(String) : undefined,
          timeout: typeof hook.timeout === 'number' ? hook.timeout : undefined,
          pluginRoot,
        });
      }
    }
  }
  return entries;
}

/** The plugin this repository ships, by its name in plugin.json. */
export const PLUGIN_NAME = 'agent-session-manager';

/** Plugin ids (`name@marketplace`) enabled by the merged settings. */
export function enabledPlugins(files: readonly SettingsFile[]): string[] {
  const enabled = new Map<string, boolean>();
  for (const file of files) {
    if (!isObject(file.settings.enabledPlugins)) continue;
    for (const [id, on] of Object.entries(file.settings.enabledPlugins)) enabled.set(id, on === true);
  }
  return [...enabled].filter(([, on]) => on).map(([id]) => id);
}

export interface InstalledPlugin {
  id: string;
  /** The copy Claude Code runs (under ~/.claude/plugins/cache, or the folder of a local marketplace). */
  root: string;
  hooks: HookEntry[];
}

/** Our plugin, if an enabled one is installed: where Claude Code runs it from and its hooks. */
export function installedPlugin(home: string, files: readonly SettingsFile[]): InstalledPlugin | undefined {
  const ids = enabledPlugins(files).filter((id) => id.split('@')[0] === PLUGIN_NAME);
  if (ids.length === 0) return undefined;
  const registry = readSettingsFile('user', path.join(home, '.claude', 'plugins', 'installed_plugins.json')).settings;
  const plugins = isObject(registry.plugins) ? registry.plugins : {};
  for (const id of ids) {
    const installs = Array.isArray(plugins[id]) ? (plugins[id] as unknown[]) : [];
    for (const install of installs) {
      if (!isObject(install) || typeof install.installPath !== 'string') continue;
      const root = install.installPath;
      const file = path.join(root, 'hooks', 'hooks.json');
      const hooksFile = readSettingsFile('user', file);
      return { id, root, hooks: hookEntries(hooksFile.settings.hooks, 'plugin', file, root) };
    }
  }
  return { id: ids[0]!, root: '', hooks: [] };
}
