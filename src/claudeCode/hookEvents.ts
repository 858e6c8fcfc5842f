import { createHash } from 'node:crypto';
import path from 'node:path';
import type { NewEvent } from '../domain/event';
import type { StatusEffect } from '../domain/session';

/** A Claude Code hook's input: an object with at least a session id; every other field is as the CLI sent it. */
export type HookInput = { session_id: string } & Record<string, unknown>;

export interface MappedHook {
  event: NewEvent;
  /** What it does to a session the hooks created (StatusEffect says how). */
  effect: StatusEffect;
}

// Fields stored in columns of their own; kept out of `hook_input` so that no tool output is stored twice.
const MAPPED_FIELDS = new Set(['tool_response', 'tool_input', 'prompt', 'last_assistant_message']);

// Notification types that mean Claude Code is waiting for its user.
const WAITING_NOTIFICATIONS = new Set(['permission_prompt', 'idle_prompt', 'elicitation_dialog']);

const TASK_NOTIFICATION = /^\s*<task-notification>/;

/**
 * Text Postgres can store in a `text` column: U+0000 and unpaired surrogates (which `text` and UTF-8
 * refuse) become U+FFFD. Hook input is stored, never refused, so it is cleaned instead.
 */
export const storableText = (value: string): string => value.replace(/\u0000/g, '\uFFFD').toWellFormed();

const text = (value: unknown): string | null => (typeof value === 'string' && value !== '' ? storableText(value) : null);
const textBlocks = (value: unknown) => (typeof value === 'string' ? [{ type: 'text', text: value }] : null);
const finiteNumber = (value: unknown): number | null => (typeof value === 'number' && Number.isFinite(value) ? value : null);

/** `PostToolUseFailure` → `post_tool_use_failure`: how an event type is named here. */
export const snakeCase = (name: string): string =>
  name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/[^A-Za-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .toLowerCase() || 'hook';

/**
 * The event a hook input becomes, in the event shape every client knows, and what it does to the
 * session's status. Unknown hook events keep their (snake_cased) name as event type; nothing is refused.
 */
export function mapHookInput(input: HookInput): MappedHook {
  const name = typeof input.hook_event_name === 'string' ? input.hook_event_name : '';
  const common: NewEvent = {
    event_type: snakeCase(name),
    tool_use_id: text(input.tool_use_id),
    prompt_id: text(input.prompt_id),
    agent_id: text(input.agent_id),
    duration_ms: finiteNumber(input.duration_ms),
    hook_input: Object.fromEntries(Object.entries(input).filter(([key]) => !MAPPED_FIELDS.has(key))),
  };
  const tool = { tool_name: text(input.tool_name), tool_input: input.tool_input };
  switch (name) {
    case 'UserPromptSubmit':
      // Claude Code injects this when a background task (a subagent) finishes: no person typed it.
      if (typeof input.prompt === 'string' && TASK_NOTIFICATION.test(input.prompt)) {
        return { event: { ...common, event_type: 'notification', content: textBlocks(input.prompt) }, effect: 'working' };
      }
      return { event: { ...common, event_type: 'message', role: 'user', content: textBlocks(input.prompt) }, effect: 'prompt' };
    case 'PreToolUse':
      return { event: { ...common, event_type: 'pre_tool', ...tool }, effect: 'working' };
    case 'PostToolUse':
      return { event: { ...common, event_type: 'post_tool', ...tool, tool_output: input.tool_response }, effect: 'working' };
    case 'PostToolUseFailure':
      return { event: { ...common, event_type: 'post_tool', ...tool, error: errorText(input.error) }, effect: 'working' };
    case 'Stop':
      return { event: { ...common, event_type: 'message', role: 'assistant', content: textBlocks(input.last_assistant_message) }, effect: 'turn_ended' };
    case 'StopFailure':
      // The turn ended in an API error: `error` is its kind (e.g. `rate_limit`), `error_details` what the API said.
      return { event: { ...common, error: stopFailureText(input), content: textBlocks(input.last_assistant_message) }, effect: 'turn_failed' };
    case 'SessionEnd':
      return { event: { ...common, event_type: 'session_stop', reason: text(input.reason) }, effect: 'ended' };
    case 'SessionStart':
      return { event: { ...common, event_type: 'session_start', reason: text(input.source) }, effect: 'prompt' };
    case 'Notification': {
      const waiting = typeof input.notification_type === 'string' && WAITING_NOTIFICATIONS.has(input.notification_type);
      return { event: { ...common, content: textBlocks(input.message), reason: text(input.notification_type) }, effect: waiting ? 'turn_ended' : null };
    }
    case 'SubagentStop':
      return { event: { ...common, content: textBlocks(input.last_assistant_message) }, effect: null };
    case 'PermissionRequest':
      return { event: { ...common, ...tool }, effect: null };
    case 'SubagentStart':
    case 'PreCompact':
    case 'PostCompact':
      return { event: common, effect: 'working' };
    default:
      return { event: common, effect: null };
  }
}

/**
 * A StopFailure's error as one text: its kind (`rate_limit`; Claude Code 2.1 says `unknown` for a plain 400) and
 * what the API said (`error_details`, else the `last_assistant_message` Claude Code shows, `API Error: 400 …`),
 * as `rate_limit: API Error: …`; whichever it has; null with neither.
 */
function stopFailureText(input: HookInput): string | null {
  const kind = errorText(input.error);
  const details = errorText(input.error_details) ?? errorText(input.last_assistant_message);
  if (kind === null || kind === 'unknown' || details === null || details.includes(kind)) return details ?? kind;
  return `${kind}: ${details}`;
}

/**
 * A hook's capture time (the hook command's X-Captured-At header) as the event's time: an ISO time, not later
 * than `CAPTURE_AHEAD_MS` past `now` (a clock ahead, or a made-up time); else undefined (the receive time).
 */
export function captureTime(header: string | undefined, now = Date.now()): string | undefined {
  const match = header === undefined ? null : ISO_TIME.exec(header.trim());
  if (!match) return undefined;
  // Date.parse rolls a day that does not exist (February 30) into the next month: such a time is refused.
  const [year, month, day] = match.slice(1, 4).map(Number) as [number, number, number];
  if (new Date(Date.UTC(year, month - 1, day)).getUTCDate() !== day) return undefined;
  const at = Date.parse(match[0]);
  if (!Number.isFinite(at) || at > now + CAPTURE_AHEAD_MS) return undefined;
  return new Date(at).toISOString();
}

/** How far ahead of the server's clock a capture time may be and still be taken. */
export const CAPTURE_AHEAD_MS = 5 * 60_000;
// As the hook command writes it (Date.toISOString()), with or without fractions, Z or an offset.
const ISO_TIME = /^(\d{4})-(\d{2})-(\d{2})T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$/;

const errorText = (value: unknown): string | null =>
  value === undefined || value === null ? null : typeof value === 'string' ? storableText(value) : storableText(JSON.stringify(value));

/**
 * The keys hookEventKey() gives the hooks that end a turn (Stop, StopFailure: by the turn's prompt_id) and a
 * subagent (SubagentStop: by its agent_id), so that readers find them by key.
 */
export const TURN_END_KEY_PREFIXES = { Stop: 'cc:Stop:prompt:', StopFailure: 'cc:StopFailure:prompt:', SubagentStop: 'cc:SubagentStop:agent:' } as const;

/**
 * The event's key (its `event_id`), so that the same hook delivered twice is stored once: from the ids
 * that identify the occurrence (a tool call's `tool_use_id`, a subagent's `agent_id`, a turn's
 * `prompt_id`) and the event's name; else the hook command's capture id; else the input itself, so
 * inputs with no id that are identical byte for byte (or differ only in spacing) are one event.
 */
export function hookEventKey(input: HookInput, captureId: string | undefined): string {
  const name = typeof input.hook_event_name === 'string' ? storableText(input.hook_event_name) : '';
  const id = (field: string) => (typeof input[field] === 'string' && input[field] !== '' ? storableText(input[field] as string) : undefined);
  const toolUseId = id('tool_use_id');
  const agentId = id('agent_id');
  const promptId = id('prompt_id');
  if (toolUseId) return `cc:${name}:tool:${toolUseId}`;
  if (agentId && (name === 'SubagentStart' || name === 'SubagentStop')) return `cc:${name}:agent:${agentId}`;
  // Not SessionEnd: a session resumed and left again without a new prompt ends twice with the same prompt_id.
  if (promptId && !agentId && ['UserPromptSubmit', 'Stop', 'StopFailure'].includes(name)) return `cc:${name}:prompt:${promptId}`;
  if (captureId) return `cc:capture:${captureId}`;
  return `cc:sha256:${createHash('sha256').update(JSON.stringify(input)).digest('base64url')}`;
}

// Within the bounds POST /sessions and PATCH keep to: a name of 256 characters, a folder of 4096 bytes.
const NAME_FOLDER_CHARS = 200;
const PROJECT_DIR_MAX_BYTES = 4096;

/** A readable name for a new session: its folder and the start of its id, e.g. `shop · 1f2e3d4c`. */
export function sessionNameFor(input: HookInput): string {
  const folder = typeof input.cwd === 'string' && input.cwd !== '' ? path.basename(input.cwd) || input.cwd : 'claude-code';
  return storableText(`${[...folder].slice(0, NAME_FOLDER_CHARS).join('')} · ${[...input.session_id].slice(0, 8).join('')}`);
}

/** The session's project folder: the hook's `cwd` (cut, in the unlikely case it is longer than a folder may be). */
export function projectDirFor(input: HookInput): string | null {
  if (typeof input.cwd !== 'string' || input.cwd === '') return null;
  let dir = storableText(input.cwd);
  while (Buffer.byteLength(dir) > PROJECT_DIR_MAX_BYTES) dir = [...dir].slice(0, -64).join('');
  return dir;
}
