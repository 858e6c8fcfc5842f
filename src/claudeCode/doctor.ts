import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { effectiveEnv, installedPlugin, loadSettings, hookEntries, type EffectiveEnv, type HookEntry, type SettingsFile } from './claudeSettings';
import { deliverySettings, flushNow, HOOKS_PATH, serverTarget, type ServerTarget } from './hookCommand';
import { HOOK_EVENTS, HTTP_HOOK_EVENTS, isOurHookCommand } from './settings';
import { defaultSpoolDir, Spool } from './spool';

export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface Check {
  name: string;
  status: CheckStatus;
  detail: string;
  /** What to do about it, for a warning or a failure. */
  fix?: string;
}

export interface DoctorOptions {
  home: string;
  /** The project whose settings Claude Code would read (where `claude` is started). */
  projectDir: string;
  /** The environment `claude` would start with. */
  shellEnv: NodeJS.ProcessEnv;
  /** Send the spool before looking at it. */
  flush?: boolean;
  timeoutMs?: number;
}

/** The session doctor's test hooks go to: one, kept; each run adds one `session_stop` event (reason `doctor`) to it. */
export const DOCTOR_SESSION_ID = 'agent-session-manager-doctor';

const INIT = '`agent-session-manager init-claude`';
const INIT_URL = '`agent-session-manager init-claude --url <its URL>`';
/** How to start the server where `url` says it is: `PORT=19200 npm start` in its folder. */
const startHint = (url: string) => {
  const port = new URL(url).port;
  return `start the server there (${port && port !== '8765' ? `PORT=${port} ` : ''}npm start in its folder)`;
};

/**
 * What `agent-session-manager doctor` checks, from what Claude Code will use: the user's, the project's and
 * the local settings merged as Claude Code merges them (and our plugin, if enabled): hooks for every event,
 * each pointing at a server that answers and takes its key, a test hook sent the way the hooks send it and
 * read back, telemetry set where it takes effect and a test record accepted, and the spool. Every problem
 * comes with its fix. Deletes nothing; the test hooks land in the session `agent-session-manager-doctor`.
 */
export async function runDoctor(options: DoctorOptions): Promise<Check[]> {
  const timeoutMs = options.timeoutMs ?? 5000;
  const checks: Check[] = [];
  const files = loadSettings(options.home, options.projectDir);
  checks.push(...settingsChecks(files));
  const effective = effectiveEnv(files, options.shellEnv);
  const plugin = installedPlugin(options.home, files);
  const entries = [...files.flatMap((file) => hookEntries(file.settings.hooks, file.scope, file.file)), ...(plugin?.hooks ?? [])];
  const ours = entries.filter(isOurs);
  if (plugin && plugin.hooks.length === 0) {
    checks.push({
      name: 'plugin',
      status: 'fail',
      detail: `${plugin.id} is enabled, but its hooks cannot be found (${plugin.root || 'not installed'})`,
      fix: `claude plugin install ${plugin.id}`,
    });
  }
  checks.push(...coverageChecks(ours));

  const targets = targetsOf(ours, effective);
  for (const target of targets) checks.push(...(await targetChecks(target, effective, options, timeoutMs)));
  checks.push(...(await telemetryChecks(effective, targets, timeoutMs)));
  checks.push(...(await spoolChecks(effective, options.flush === true)));
  return checks;
}

function settingsChecks(files: SettingsFile[]): Check[] {
  const broken = files.filter((file) => file.error);
  const found = files.filter((file) => file.exists && !file.error).map((file) => `${file.file} (${file.scope})`);
  return [
    ...broken.map((file) => ({
      name: 'settings',
      status: 'fail' as const,
      detail: `${file.file}: ${file.error}: Claude Code skips this file`,
      fix: `make ${file.file} a JSON object again`,
    })),
    { name: 'settings', status: 'ok', detail: found.length > 0 ? `read ${found.join(', ')}` : 'no settings files yet' },
  ];
}

const isOurs = (entry: HookEntry) =>
  (entry.type === 'command' && isOurHookCommand(entry.command)) || (entry.type === 'http' && typeof entry.url === 'string' && entry.url.replace(/\/+$/, '').endsWith(HOOKS_PATH));

/** How one hook reaches the server, as a person would name it. */
const wayOf = (entry: HookEntry) => (entry.type === 'http' ? `http ${entry.url}` : entry.from === 'plugin' ? 'the plugin' : `command ${entry.command}`);

function coverageChecks(ours: HookEntry[]): Check[] {
  if (ours.length === 0) {
    return [
      {
        name: 'hooks',
        status: 'fail',
        detail: 'no hook sends anything to agent-session-manager: Claude Code will report nothing',
        fix: `run ${INIT} in the project (or with --global), install the plugin (claude plugin marketplace add <this repository>), or paste the http block of docs/claude-code-setup.md`,
      },
    ];
  }
  const checks: Check[] = [];
  const byEvent = new Map<string, Set<string>>();
  for (const entry of ours) {
    const ways = byEvent.get(entry.event) ?? new Set<string>();
    ways.add(wayOf(entry));
    byEvent.set(entry.event, ways);
  }
  const allHttp = ours.every((entry) => entry.type === 'http');
  const missing: string[] = HOOK_EVENTS.filter((event) => !byEvent.has(event));
  // SessionStart never reaches http hooks; PermissionRequest came later: both only worth a warning.
  const serious = missing.filter((event) => event !== 'PermissionRequest' && event !== 'SessionStart');
  const wanted: readonly string[] = allHttp ? HTTP_HOOK_EVENTS : HOOK_EVENTS;
  const mild = missing.filter((event) => !serious.includes(event) && wanted.includes(event));
  const ways = [...new Set(ours.map(wayOf))];
  if (serious.length > 0) {
    checks.push({
      name: 'hooks',
      status: 'fail',
      detail: `no hook for ${serious.join(', ')}: those steps of a session go unreported`,
      fix: `run ${INIT} again (it adds every event), or add them to your settings`,
    });
  } else if (mild.length > 0) {
    checks.push({ name: 'hooks', status: 'warn', detail: `no hook for ${mild.join(', ')}`, fix: `run ${INIT} again (it adds every event)` });
  } else {
    checks.push({ name: 'hooks', status: 'ok', detail: `every event reported, by ${ways.join('; ')}` });
  }
  const twice = [...byEvent].filter(([, set]) => set.size > 1).map(([event]) => event);
  if (twice.length > 0) {
    checks.push({
      name: 'hooks',
      status: 'warn',
      detail: `${twice.length} event(s) reported more than once (${ways.join('; ')}): a hook without its own id is stored once per way`,
      fix: 'keep one way: `agent-session-manager init-claude --plugin` removes the command hooks when the plugin sends them',
    });
  }
  return checks;
}

interface Target {
  url: string;
  apiKey: string | undefined;
  /** Where the URL comes from, for the fix. */
  urlFrom: string;
  /** The hooks that go there (one per way). */
  hooks: HookEntry[];
}

function describeSource(effective: EffectiveEnv, key: string): string {
  const from = effective.source[key];
  return from === undefined ? 'the default' : from === 'shell' ? `${key} in the shell` : `${key} in ${from}`;
}

/** `$NAME` and `${NAME}` in a header, for the names the hook allows; others become empty, as in Claude Code. */
const interpolate = (text: string, allowed: readonly string[], env: NodeJS.ProcessEnv) =>
  text.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, braced: string | undefined, bare: string | undefined) => {
    const name = (braced ?? bare)!;
    return allowed.includes(name) ? (env[name] ?? '') : '';
  });

function targetsOf(ours: HookEntry[], effective: EffectiveEnv): Target[] {
  const targets = new Map<string, Target>();
  const add = (url: string, apiKey: string | undefined, urlFrom: string, hook: HookEntry) => {
    const id = `${url} ${apiKey ?? ''}`;
    const target = targets.get(id) ?? { url, apiKey, urlFrom, hooks: [] };
    if (!target.hooks.some((known) => wayOf(known) === wayOf(hook))) target.hooks.push(hook);
    targets.set(id, target);
  };
  for (const hook of ours) {
    if (hook.type === 'http') {
      const url = hook.url!.replace(/\/+$/, '').slice(0, -HOOKS_PATH.length);
      const authorization = Object.entries(hook.headers ?? {}).find(([name]) => name.toLowerCase() === 'authorization')?.[1];
      const header = authorization === undefined ? undefined : interpolate(authorization, hook.allowedEnvVars ?? [], effective.env);
      add(url, header?.replace(/^Bearer\s+/i, '') || undefined, `the http hook in ${hook.file}`, hook);
    } else {
      const target = serverTarget(effective.env);
      add(target.url, target.apiKey, describeSource(effective, 'ASM_URL'), hook);
    }
  }
  return [...targets.values()];
}

async function request(url: string, init: RequestInit & { timeoutMs: number }): Promise<{ status: number; text: string } | { error: string }> {
  try {
    const response = await fetch(url, { ...init, signal: AbortSignal.timeout(init.timeoutMs) });
    return { status: response.status, text: await response.text() };
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    return { error: cause?.code ?? cause?.message ?? (err as Error).message };
  }
}

function parsedOr<T>(text: string, fallback: T): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    return fallback;
  }
}

const bearer = (apiKey: string | undefined): Record<string, string> => (apiKey ? { authorization: `Bearer ${apiKey}` } : {});

async function targetChecks(target: Target, effective: EffectiveEnv, options: DoctorOptions, timeoutMs: number): Promise<Check[]> {
  const ways = target.hooks.map(wayOf).join('; ');
  const health = await request(`${target.url}/health`, { timeoutMs });
  if ('error' in health || health.status >= 500) {
    return [
      {
        name: 'server',
        status: 'fail',
        detail: `${target.url} (${target.urlFrom}) ${'error' in health ? `cannot be reached (${health.error})` : `answered ${health.status}`}: the hooks (${ways}) cannot deliver`,
        fix: `${startHint(target.url)}, or point the hooks at the server that runs: ${INIT_URL}`,
      },
    ];
  }
  const checks: Check[] = [{ name: 'server', status: 'ok', detail: `${target.url} (${target.urlFrom}) answers` }];
  // What the key may do (GET /me); a server older than scoped keys has no /me: then any accepted key does all.
  let probe = await request(`${target.url}/me`, { headers: bearer(target.apiKey), timeoutMs });
  if (!('error' in probe) && probe.status === 404) probe = await request(`${target.url}/sessions?limit=1`, { headers: bearer(target.apiKey), timeoutMs });
  const status = 'error' in probe ? 0 : probe.status;
  const me = 'text' in probe && status === 200 ? parsedOr<{ scopes?: string[]; keys_required?: boolean }>(probe.text, {}) : {};
  const scopes = me.scopes ?? ['ingest', 'read'];
  if (status === 401 || status === 403) {
    checks.push({
      name: 'key',
      status: 'fail',
      detail: target.apiKey ? `${target.url} refuses the key the hooks send (${status})` : `${target.url} wants a key and the hooks send none`,
      fix: 'set ASM_API_KEY to a key of the server with the ingest scope (`agent-session-manager keys create --name <name> --scope ingest`), or one of its API_KEYS, where Claude Code runs (`ASM_API_KEY=… agent-session-manager init-claude` writes it into ~/.claude/settings.json)',
    });
    return checks;
  }
  if (!scopes.includes('ingest')) {
    checks.push({
      name: 'key',
      status: 'fail',
      detail: `the hooks' key lacks the ingest scope (it has ${scopes.join(', ') || 'none'}): ${target.url} refuses its hooks (403)`,
      fix: 'give the hooks a key with the ingest scope: `agent-session-manager keys create --name <name> --scope ingest` (with an admin key in ASM_API_KEY)',
    });
    return checks;
  }
  const keyNeeded = target.apiKey && me.keys_required !== false;
  checks.push({ name: 'key', status: 'ok', detail: keyNeeded ? `the hooks' key is accepted${me.scopes ? ` (scopes: ${scopes.join(', ')})` : ''}` : 'the server needs no key' });

  for (const hook of target.hooks) checks.push(await testHook(hook, target, effective, options, timeoutMs, scopes.includes('read')));
  return checks;
}

/** Sends one test hook the way `hook` sends them (its command run, or its http request) and reads it back, if the key may read. */
async function testHook(hook: HookEntry, target: Target, effective: EffectiveEnv, options: DoctorOptions, timeoutMs: number, canRead: boolean): Promise<Check> {
  const runId = randomUUID();
  const input = JSON.stringify({ session_id: DOCTOR_SESSION_ID, hook_event_name: 'SessionEnd', reason: 'doctor', prompt_id: runId, cwd: options.projectDir, doctor_run: runId });
  const name = `test hook (${wayOf(hook)})`;
  let trouble = '';
  if (hook.type === 'http') {
    const headers = Object.fromEntries(Object.entries(hook.headers ?? {}).map(([key, value]) => [key, interpolate(value, hook.allowedEnvVars ?? [], effective.env)]));
    const sent = await request(hook.url!, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: input, timeoutMs });
    if ('error' in sent || sent.status >= 300) trouble = 'error' in sent ? `cannot be sent (${sent.error})` : `answered ${sent.status}: ${sent.text.slice(0, 200)}`;
  } else {
    trouble = await runCommandHook(hook, input, effective, timeoutMs);
  }
  // An ingest-only key (what hooks should carry) cannot read: that the server took the hook is all there is to see.
  if (!trouble && !canRead) return { name, status: 'ok', detail: `sent and accepted (session ${DOCTOR_SESSION_ID}; the key may not read, so it was not read back)` };
  if (!trouble) {
    const back = await request(`${target.url}/sessions/${DOCTOR_SESSION_ID}/events?prompt_id=${runId}`, { headers: bearer(target.apiKey), timeoutMs });
    const stored = !('error' in back) && back.status === 200 && (JSON.parse(back.text) as { events?: unknown[] }).events?.length === 1;
    if (stored) return { name, status: 'ok', detail: `sent and read back (session ${DOCTOR_SESSION_ID})` };
    trouble = 'was not stored';
  }
  return {
    name,
    status: 'fail',
    detail: trouble,
    fix:
      hook.type === 'command'
        ? `check that the command runs where Claude Code runs it (node on the PATH, the file there: a moved or unbuilt checkout needs \`npm install\` and ${INIT} again)`
        : "check the hook's url and headers against docs/claude-code-setup.md",
  };
}

/** Runs a command hook as Claude Code would (a shell, the merged env), with its own spool; '' when it went. */
function runCommandHook(hook: HookEntry, input: string, effective: EffectiveEnv, timeoutMs: number): Promise<string> {
  const spoolDir = fs.mkdtempSync(path.join(os.tmpdir(), 'asm-doctor-spool-'));
  const env: NodeJS.ProcessEnv = { ...effective.env, ASM_SPOOL_DIR: spoolDir, ASM_HOOK_TIMEOUT_MS: String(timeoutMs), ASM_SENDER: 'off' };
  if (hook.pluginRoot) env.CLAUDE_PLUGIN_ROOT = hook.pluginRoot;
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', ['-c', hook.command!], { env, stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs + 5000);
    child.on('error', (err) => finish(`cannot be started: ${err.message}`));
    child.on('close', (code) => {
      const spool = new Spool(spoolDir);
      const waiting = spool.list().length;
      const dead = spool.listDead().map((entry) => spool.readDead(entry).why?.reason);
      const why = dead[0] ?? spool.state().lastError?.message;
      if (code !== 0) finish(`exited ${code}: ${errorLine(stderr) || 'no message'}`);
      else if (dead.length > 0 || waiting > 0) finish(`did not deliver: ${why ?? 'the hook stayed in its spool'}`);
      else finish('');
    });
    let done = false;
    function finish(result: string) {
      if (done) return;
      done = true;
      clearTimeout(killer);
      fs.rmSync(spoolDir, { recursive: true, force: true });
      resolve(result);
    }
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}

/** The line of a stack-traced stderr that says what went wrong (Node's `Error: Cannot find module …`). */
function errorLine(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  return (lines.find((line) => /^\w*Error\b/.test(line)) ?? lines.at(-1) ?? '').slice(0, 300);
}

/** `a=b,c=d` (values percent-encoded), as OTEL_EXPORTER_OTLP_HEADERS holds them. */
function otlpHeaders(text: string | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const pair of (text ?? '').split(',')) {
    const at = pair.indexOf('=');
    if (at <= 0) continue;
    try {
      headers[decodeURIComponent(pair.slice(0, at).trim())] = decodeURIComponent(pair.slice(at + 1).trim());
    } catch {
      headers[pair.slice(0, at).trim()] = pair.slice(at + 1).trim();
    }
  }
  return headers;
}

async function telemetryChecks(effective: EffectiveEnv, targets: Target[], timeoutMs: number): Promise<Check[]> {
  const checks: Check[] = [];
  const env = effective.env;
  const misplaced = effective.ignored.filter((item) => env[item.key] !== item.value);
  if (misplaced.length > 0) {
    const where = [...new Set(misplaced.map((item) => item.file))].join(', ');
    checks.push({
      name: 'telemetry',
      status: 'fail',
      detail: `${misplaced.map((item) => item.key).join(', ')} set in ${where}, where Claude Code ignores telemetry variables: no tokens or cost will arrive from them`,
      fix: `put them in ~/.claude/settings.json or the shell: ${INIT} does it (and removes the ones it wrote in the project)`,
    });
  } else if (effective.ignored.length > 0) {
    checks.push({
      name: 'telemetry',
      status: 'warn',
      detail: `${effective.ignored.map((item) => item.key).join(', ')} also set in a project's settings, where Claude Code ignores them`,
      fix: 'remove them there',
    });
  }
  const on = env.CLAUDE_CODE_ENABLE_TELEMETRY === '1' || env.CLAUDE_CODE_ENABLE_TELEMETRY === 'true';
  const logs = (env.OTEL_LOGS_EXPORTER ?? '')
    .split(',')
    .map((value) => value.trim())
    .includes('otlp');
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT?.replace(/\/+$/, '');
  const endpoint = env.OTEL_EXPORTER_OTLP_LOGS_ENDPOINT || (base ? `${base}/v1/logs` : undefined);
  const protocol = env.OTEL_EXPORTER_OTLP_LOGS_PROTOCOL || env.OTEL_EXPORTER_OTLP_PROTOCOL;
  const fix = `${INIT} writes them to ~/.claude/settings.json (or \`--telemetry shell\` prints the lines for your shell)`;
  if (!on || !logs || !endpoint) {
    const what = !on ? 'CLAUDE_CODE_ENABLE_TELEMETRY is not 1' : !logs ? 'OTEL_LOGS_EXPORTER is not otlp' : 'no OTEL_EXPORTER_OTLP_ENDPOINT';
    checks.push({ name: 'telemetry', status: 'warn', detail: `off where it takes effect (${what}): sessions will show no tokens or cost`, fix });
    return checks;
  }
  if (protocol === 'grpc') {
    checks.push({
      name: 'telemetry',
      status: 'fail',
      detail: 'OTEL_EXPORTER_OTLP_PROTOCOL is grpc: the server takes OTLP over HTTP only',
      fix: 'set OTEL_EXPORTER_OTLP_PROTOCOL=http/json (or http/protobuf) in ~/.claude/settings.json',
    });
    return checks;
  }
  const headers = { ...otlpHeaders(env.OTEL_EXPORTER_OTLP_HEADERS), ...otlpHeaders(env.OTEL_EXPORTER_OTLP_LOGS_HEADERS) };
  const now = `${BigInt(Date.now()) * 1_000_000n}`;
  const record = {
    resourceLogs: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'agent-session-manager-doctor' } }] },
        scopeLogs: [
          {
            scope: { name: 'agent-session-manager.doctor' },
            logRecords: [
              {
                timeUnixNano: now,
                body: { stringValue: 'agent_session_manager.doctor' },
                attributes: [
                  { key: 'event.name', value: { stringValue: 'doctor' } },
                  { key: 'session.id', value: { stringValue: DOCTOR_SESSION_ID } },
                ],
              },
            ],
          },
        ],
      },
    ],
  };
  const sent = await request(endpoint, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(record), timeoutMs });
  const from = describeSource(effective, env.OTEL_EXPORTER_OTLP_LOGS_ENDPOINT ? 'OTEL_EXPORTER_OTLP_LOGS_ENDPOINT' : 'OTEL_EXPORTER_OTLP_ENDPOINT');
  if ('error' in sent) {
    checks.push({ name: 'telemetry', status: 'fail', detail: `${endpoint} (${from}) cannot be reached (${sent.error})`, fix: `${startHint(endpoint)}, or ${INIT_URL}` });
  } else if (sent.status === 401 || sent.status === 403) {
    checks.push({
      name: 'telemetry',
      status: 'fail',
      detail: `${endpoint} refuses the exporter's key (${sent.status})`,
      fix: 'set OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer <key> in ~/.claude/settings.json (`ASM_API_KEY=… agent-session-manager init-claude` writes it)',
    });
  } else if (sent.status !== 200) {
    checks.push({
      name: 'telemetry',
      status: 'fail',
      detail: `${endpoint} answered ${sent.status} to a test record: ${sent.text.slice(0, 200)}`,
      fix: `point OTEL_EXPORTER_OTLP_ENDPOINT at the server: ${INIT_URL}`,
    });
  } else {
    const rejected = Number((JSON.parse(sent.text || '{}') as { partialSuccess?: { rejectedLogRecords?: string | number } }).partialSuccess?.rejectedLogRecords ?? 0);
    checks.push(
      rejected > 0
        ? { name: 'telemetry', status: 'fail', detail: `${endpoint} rejected the test record`, fix: "check the server's log" }
        : { name: 'telemetry', status: 'ok', detail: `a test record was accepted at ${endpoint} (${from})` },
    );
  }
  const origin = new URL(endpoint).origin;
  if (targets.length > 0 && !targets.some((target) => target.url === origin)) {
    checks.push({
      name: 'telemetry',
      status: 'warn',
      detail: `telemetry goes to ${origin}, the hooks to ${targets.map((target) => target.url).join(', ')}`,
      fix: `one server for both: ${INIT_URL}`,
    });
  }
  return checks;
}

async function spoolChecks(effective: EffectiveEnv, flush: boolean): Promise<Check[]> {
  const checks: Check[] = [];
  const spool = new Spool(defaultSpoolDir(effective.env));
  const target: ServerTarget = serverTarget(effective.env);
  if (flush) {
    const report = await flushNow(spool, { target, settings: deliverySettings(effective.env), log: () => undefined });
    checks.push({
      name: 'flush',
      status: report.busy ? 'warn' : 'ok',
      detail: report.busy ? 'another run was sending from the spool' : `sent ${report.delivered} waiting hook(s) to ${target.url}`,
    });
  }
  const waiting = spool.list().length;
  if (waiting === 0) {
    checks.push({ name: 'spool', status: 'ok', detail: `empty (${spool.dir})` });
  } else {
    const state = spool.state();
    const oldest = Number(spool.list()[0]!.slice(0, 17)) / 1000;
    const why = state.lastError ? `; the last try (${state.lastError.at}): ${state.lastError.message}` : '';
    const detail = `${waiting} hook(s) wait in ${spool.dir}, the oldest since ${new Date(oldest).toISOString()}${why}`;
    checks.push(
      spool.senderRunning()
        ? { name: 'spool', status: 'warn', detail: `${detail}; a sender is trying to deliver them now`, fix: 'nothing, if the server answers; else start it' }
        : { name: 'spool', status: 'fail', detail, fix: `fix what the other checks name, then \`agent-session-manager flush\` (or doctor --flush) sends them to ${target.url}` },
    );
  }
  const dead = spool.listDead();
  if (dead.length > 0) {
    const reasons = [...new Set(dead.map((name) => spool.readDead(name).why?.reason ?? 'no reason recorded'))].slice(0, 3);
    checks.push({
      name: 'dead letters',
      status: 'fail',
      detail: `${dead.length} hook(s) the server refused or kept failing on, set aside in ${spool.deadDir}: ${reasons.join('; ')}`,
      fix: '`agent-session-manager flush --retry-dead` sends them again once the cause is fixed; delete the folder to give them up',
    });
  }
  return checks;
}

/** The lines doctor prints: one per check, and its fix beneath. */
export function formatChecks(checks: readonly Check[]): string[] {
  const label: Record<CheckStatus, string> = { ok: 'ok  ', warn: 'warn', fail: 'FAIL' };
  return checks.flatMap((check) => [`${label[check.status]}  ${check.name}: ${check.detail}`, ...(check.fix && check.status !== 'ok' ? [`      fix: ${check.fix}`] : [])]);
}
