import { array, nullable, optional, size, type, type Infer } from 'superstruct';
import { ContentBlocks, EventSessionName, Int32, JsonObject, JsonValue, Name, SessionId, SessionName, Text, Timestamp } from './fields';
import { QueryInt } from './sessions.structs';

/** An event as agents send it. Unknown fields are ignored; `null` is as good as absent for optional ones. */
export const EventBody = type({
  event_type: Name,
  session_id: optional(nullable(SessionId)),
  session_name: optional(nullable(EventSessionName)),
  timestamp: optional(nullable(Timestamp)),
  tool_name: optional(nullable(Text)),
  tool_input: optional(nullable(JsonObject)),
  tool_output: optional(JsonValue),
  error: optional(nullable(Text)),
  exit_code: optional(nullable(Int32)),
  reason: optional(nullable(Text)),
  role: optional(nullable(Text)),
  content: optional(nullable(ContentBlocks)),
  event_id: optional(nullable(Name)),
});
export type EventBody = Infer<typeof EventBody>;

/**
 * The deprecated `POST /events` names its session in the body, and creates it when unknown: its name
 * is held to POST /sessions' rule (absent or null still means "name it after the id").
 */
export const LegacyEventBody = type({ ...EventBody.schema, session_id: SessionId, session_name: optional(nullable(SessionName)) });
export type LegacyEventBody = Infer<typeof LegacyEventBody>;

export const MAX_BATCH_EVENTS = 1000;

/** POST /sessions/{id}/events/batch: stored together, in this order, or not at all. */
export const EventBatchBody = type({
  events: size(array(EventBody), 1, MAX_BATCH_EVENTS),
});
export type EventBatchBody = Infer<typeof EventBatchBody>;

export const EventPageQuery = type({
  /** Only events with a greater id: `next_after` of the previous page. */
  after: optional(QueryInt(0, Number.MAX_SAFE_INTEGER)),
  limit: optional(QueryInt(1, 10_000)),
  /** Only the events of one Claude Code tool call, turn or subagent. */
  tool_use_id: optional(Name),
  prompt_id: optional(Name),
  agent_id: optional(Name),
});
export type EventPageQuery = Infer<typeof EventPageQuery>;

export const DEFAULT_EVENT_PAGE_LIMIT = 1000;
