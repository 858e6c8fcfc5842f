import type { NewEvent } from '../domain/event';
import type { ToolResultRecord } from '../otlp/claudeCode';
import type { Masker } from '../privacy/mask';
import type { TranscriptPart } from '../claudeCode/transcriptEvents';
import type { HookEventToStore } from './claudeCode';
import type { EventToStore } from './events';
import type { NewSession, SessionChanges } from './sessions';

/**
 * Masking at the store's doors: every text a writer hands in passes the masker before any statement sees it,
 * so what is stored, searched, exported and relayed over the WebSocket never held the secret. Ids (session,
 * event, tool use, prompt, agent) are keys, never masked: a hook sent twice still has one event_id.
 */

const text = (masker: Masker, value: string | null | undefined): string | null | undefined => (typeof value === 'string' ? masker.text(value).text : value);

/** The event with its texts and JSON values masked (a copy if anything changed). */
export function maskEvent<E extends NewEvent>(masker: Masker, event: E): E {
  if (!masker.enabled) return event;
  const masked = masker.json({
    session_name: event.session_name,
    tool_input: event.tool_input,
    tool_output: event.tool_output,
    error: event.error,
    reason: event.reason,
    content: event.content,
    hook_input: event.hook_input,
  });
  return masked.count === 0 ? event : { ...event, ...masked.value };
}

export const maskEventItems = (masker: Masker, items: readonly EventToStore[]): EventToStore[] =>
  items.map((item) => ({ sessionId: item.sessionId, event: maskEvent(masker, item.event) }));

export function maskHook(masker: Masker, hook: HookEventToStore): HookEventToStore {
  if (!masker.enabled) return hook;
  return {
    ...hook,
    session: { session_name: text(masker, hook.session.session_name)!, project_dir: text(masker, hook.session.project_dir) ?? null },
    event: maskEvent(masker, hook.event),
  };
}

export function maskNewSession(masker: Masker, session: NewSession): NewSession {
  if (!masker.enabled) return session;
  return { ...session, session_name: text(masker, session.session_name)!, project_dir: text(masker, session.project_dir), agent_name: text(masker, session.agent_name) };
}

export function maskSessionChanges(masker: Masker, changes: SessionChanges): SessionChanges {
  if (!masker.enabled) return changes;
  const masked: SessionChanges = { ...changes };
  if (changes.session_name !== undefined) masked.session_name = text(masker, changes.session_name)!;
  if (changes.project_dir !== undefined) masked.project_dir = text(masker, changes.project_dir);
  if (changes.agent_name !== undefined) masked.agent_name = text(masker, changes.agent_name);
  return masked;
}

/** OTLP tool results: the error text (the only free text they carry; usage records hold numbers and ids). */
export const maskToolResults = (masker: Masker, records: readonly ToolResultRecord[]): readonly ToolResultRecord[] =>
  masker.enabled ? records.map((record) => (record.error === null ? record : { ...record, error: masker.text(record.error).text })) : records;

/**
 * For writers added later (an approval's tool_input): the JSON value as it may be stored and shown, and how many
 * secrets it held. Call it before the value reaches any statement.
 */
export const maskValue = <T>(masker: Masker, value: T): { value: T; count: number } => {
  const { value: masked, count } = masker.json(value);
  return { value: masked, count };
};

/** What the hook command read from a transcript, its texts and refused tool inputs masked (ids are keys: kept). */
export function maskTranscript(masker: Masker, transcript: TranscriptPart): TranscriptPart {
  if (!masker.enabled) return transcript;
  return {
    ...transcript,
    entries: transcript.entries.map((entry) => {
      const masked = masker.json({ text: entry.text, tool_input: entry.tool_input });
      return masked.count === 0 ? entry : { ...entry, ...masked.value };
    }),
  };
}
