import { nullable, optional, type, type Infer } from 'superstruct';
import { ContentBlocks, Int32, JsonObject, JsonValue, Name, SessionId, Text, Timestamp } from './fields';

/** An event as agents send it. Unknown fields are ignored; `null` is as good as absent for optional ones. */
export const EventBody = type({
  event_type: Name,
  session_id: optional(nullable(SessionId)),
  session_name: optional(nullable(Text)),
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

/** The deprecated `POST /events` names its session in the body. */
export const LegacyEventBody = type({ ...EventBody.schema, session_id: SessionId });
export type LegacyEventBody = Infer<typeof LegacyEventBody>;
