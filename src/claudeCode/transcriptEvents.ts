import { array, enums, integer, is, min, nullable, object, optional, record, size, string, unknown, type Infer } from 'superstruct';
import type { NewEvent } from '../domain/event';
import { storableText, type HookInput } from './hookEvents';

/**
 * What the hook command attaches to a hook body as `asm_transcript`: what it read from the session's
 * transcript (and a subagent's) since the last hook, already boiled down to what is stored (the reader in
 * transcript.ts makes it; docs/transcripts.md describes each field).
 * - `entries`: one per content block worth an event, in transcript order.
 * - `requests`: one per model request seen (by `requestRef`, else `message.id`), with its usage.
 * - `cost_state`: the last `cost-state` line read (Claude Code's own running totals), or null.
 */
export const TRANSCRIPT_FIELD = 'asm_transcript';

const Id = size(string(), 1, 256);
const Time = size(string(), 1, 64);
const Count = min(integer(), 0);

export const TranscriptEntry = object({
  uuid: Id,
  /** The content block's index within its line. */
  index: min(integer(), 0),
  timestamp: Time,
  kind: enums(['text', 'thinking', 'tool_refused', 'compaction', 'api_error']),
  agent_id: optional(nullable(Id)),
  prompt_id: optional(nullable(Id)),
  model: optional(nullable(size(string(), 0, 256))),
  text: optional(nullable(string())),
  tool_use_id: optional(nullable(Id)),
  tool_name: optional(nullable(size(string(), 0, 256))),
  tool_input: optional(unknown()),
  status: optional(nullable(unknown())),
});
export type TranscriptEntry = Infer<typeof TranscriptEntry>;

export const TranscriptRequest = object({
  id: Id,
  timestamp: Time,
  model: optional(nullable(size(string(), 0, 256))),
  agent_id: optional(nullable(Id)),
  prompt_id: optional(nullable(Id)),
  input_tokens: Count,
  output_tokens: Count,
  cache_read_tokens: Count,
  cache_creation_tokens: Count,
});
export type TranscriptRequest = Infer<typeof TranscriptRequest>;

export const TranscriptPart = object({
  entries: array(TranscriptEntry),
  requests: array(TranscriptRequest),
  cost_state: nullable(record(string(), unknown())),
});
export type TranscriptPart = Infer<typeof TranscriptPart>;

/**
 * The hook input without `asm_transcript`, and that field when it has the shape above (anything else is
 * ignored: the hook itself is stored whatever the attachment holds).
 */
export function splitTranscript(input: HookInput): { input: HookInput; transcript: TranscriptPart | null } {
  if (!(TRANSCRIPT_FIELD in input)) return { input, transcript: null };
  const { [TRANSCRIPT_FIELD]: attached, ...rest } = input;
  return { input: rest as HookInput, transcript: is(attached, TranscriptPart) ? attached : null };
}

const MAX_TIME_MS = 8.64e15;

/** The entry's time when it is a time (ISO 8601) not later than `now` + 5 minutes; else undefined (the server's time). */
export function entryTime(value: string, now = Date.now()): string | undefined {
  const ms = Date.parse(value);
  if (!Number.isFinite(ms) || Math.abs(ms) > MAX_TIME_MS || ms > now + 5 * 60_000) return undefined;
  return new Date(ms).toISOString();
}

const clean = (value: string | null | undefined): string | null => (typeof value === 'string' && value !== '' ? storableText(value) : null);
const blocks = (text: string | null | undefined) => [{ type: 'text', text: storableText(text ?? '') }];

/** `cc:transcript:<uuid>:<block index>`: the same transcript block read twice is one event. */
export const transcriptEventId = (entry: Pick<TranscriptEntry, 'uuid' | 'index'>): string => `cc:transcript:${storableText(entry.uuid)}:${entry.index}`;

/** The event a transcript entry becomes (see docs/api.md, "Transcript events"). */
export function transcriptEvent(entry: TranscriptEntry, now = Date.now()): NewEvent & { event_id: string } {
  const hookInput: Record<string, unknown> = { source: 'transcript', uuid: entry.uuid };
  if (entry.model) hookInput.model = entry.model;
  const common = {
    event_id: transcriptEventId(entry),
    timestamp: entryTime(entry.timestamp, now),
    prompt_id: clean(entry.prompt_id),
    agent_id: clean(entry.agent_id),
    hook_input: hookInput,
  };
  switch (entry.kind) {
    case 'text':
      return { ...common, event_type: 'message', role: 'assistant', content: blocks(entry.text) };
    case 'thinking':
      return { ...common, event_type: 'thinking', role: 'assistant', content: [{ type: 'thinking', text: storableText(entry.text ?? '') }] };
    case 'compaction':
      return { ...common, event_type: 'compaction', content: blocks(entry.text) };
    case 'api_error':
      return { ...common, event_type: 'api_error', error: clean(entry.text) ?? 'API error', hook_input: { ...hookInput, status: entry.status ?? null } };
    case 'tool_refused':
      return {
        ...common,
        event_type: 'tool_refused',
        tool_use_id: clean(entry.tool_use_id),
        tool_name: clean(entry.tool_name),
        tool_input: entry.tool_input ?? null,
        error: clean(entry.text),
      };
  }
}

const normalized = (text: string) => text.replace(/\r\n/g, '\n').trim();

/** What the transcript events of a hook are checked against: the hook itself, as stored. */
export interface HookFacts {
  hookEventName: string | null;
  toolUseId: string | null;
  agentId: string | null;
  /** The text of the hook's event (a Stop's or SubagentStop's `last_assistant_message`), as stored. */
  lastText: string | null;
}

/** The hook's name and ids, from its input. */
export const hookFacts = (input: HookInput): Omit<HookFacts, 'lastText'> => ({
  hookEventName: typeof input.hook_event_name === 'string' ? input.hook_event_name : null,
  toolUseId: typeof input.tool_use_id === 'string' ? input.tool_use_id : null,
  agentId: typeof input.agent_id === 'string' ? input.agent_id : null,
});

/** How a Stop text is looked up: a subagent's by its agent, the main conversation's by its turn (prompt id). */
export const stopKey = (promptId: string | null, agentId: string | null, text: string): string =>
  agentId ? `agent\u0000${agentId}\u0000${normalized(text)}` : `prompt\u0000${promptId ?? ''}\u0000${normalized(text)}`;

/**
 * The transcript events to store before the hook's own event, in transcript order, leaving out:
 * - the text the hook itself carries (a Stop's `last_assistant_message`, or a SubagentStop's for its agent):
 *   that text is stored once, as the hook's event, so /result is unchanged;
 * - texts in `stopTexts` (Stop messages already stored for the same turn or agent, by stopKey());
 * - refused-call candidates whose tool_use_id this hook reports (a PostToolUse/PostToolUseFailure) or that
 *   are in `ranToolUseIds` (a post_tool stored before): the call ran, and its failure is the post_tool's.
 */
export function eventsBeforeHook(
  transcript: TranscriptPart,
  hook: HookFacts,
  {
    stopTexts = new Set<string>(),
    ranToolUseIds = new Set<string>(),
    now = Date.now(),
  }: { stopTexts?: ReadonlySet<string>; ranToolUseIds?: ReadonlySet<string>; now?: number } = {},
): (NewEvent & { event_id: string })[] {
  const name = hook.hookEventName;
  const stops = name === 'Stop' || name === 'SubagentStop';
  const last = stops && hook.lastText ? normalized(hook.lastText) : undefined;
  const lastAgent = name === 'SubagentStop' ? hook.agentId : null;
  const ranNow = name === 'PostToolUse' || name === 'PostToolUseFailure' ? hook.toolUseId : null;
  const events: (NewEvent & { event_id: string })[] = [];
  for (const entry of transcript.entries) {
    if (entry.kind === 'text') {
      const text = normalized(entry.text ?? '');
      if (text === '') continue;
      if (last !== undefined && text === last && (entry.agent_id ?? null) === lastAgent) continue;
      if (stopTexts.has(stopKey(entry.prompt_id ?? null, entry.agent_id ?? null, text))) continue;
    }
    if (entry.kind === 'tool_refused' && (!entry.tool_use_id || entry.tool_use_id === ranNow || ranToolUseIds.has(entry.tool_use_id))) continue;
    events.push(transcriptEvent(entry, now));
  }
  return events;
}

/** The refused-call candidates' tool_use_ids (to look up post_tool events for). */
export const refusedToolUseIds = (transcript: TranscriptPart): string[] =>
  transcript.entries.filter((entry) => entry.kind === 'tool_refused' && entry.tool_use_id).map((entry) => entry.tool_use_id!);

/** The turns (prompt ids) whose transcript texts may repeat a Stop message already stored. */
export const textPromptIds = (transcript: TranscriptPart): string[] => [
  ...new Set(transcript.entries.filter((entry) => entry.kind === 'text' && entry.prompt_id).map((entry) => entry.prompt_id!)),
];
