import { enums, integer, max, min, nullable, number, optional, refine, size, string, type, type Infer } from 'superstruct';
import { decodeCursor } from '../store/sessions';
import { documented } from '../structs/schema';
import { SessionId, SessionName, SessionText, Text, Timestamp } from '../structs/fields';
import { integerFromText } from '../structs/integers';

export const SessionPath = type({ session_id: SessionId });

export const SessionCreate = type({
  session_id: SessionId,
  session_name: SessionName,
  project_dir: optional(nullable(SessionText)),
  agent_name: optional(nullable(SessionText)),
});
export type SessionCreate = Infer<typeof SessionCreate>;

/** PATCH /sessions/{id}: absent keys stay, `null` clears; a session always keeps a name. */
export const SessionPatch = type({
  session_name: optional(SessionName),
  project_dir: optional(nullable(SessionText)),
  agent_name: optional(nullable(SessionText)),
  last_resumed_at: optional(nullable(Timestamp)),
  /** The session's spend cap in USD; null: none. Needs the `admin` scope. */
  budget_usd: optional(nullable(max(min(number(), 0), 100_000_000))),
});
export type SessionPatch = Infer<typeof SessionPatch>;

/** PATCH /sessions/{id}/metadata (deprecated): as SessionPatch, but `null` leaves a field unchanged. */
export const SessionMetadataPatch = type({
  session_name: optional(nullable(SessionName)),
  project_dir: optional(nullable(SessionText)),
  agent_name: optional(nullable(SessionText)),
  last_resumed_at: optional(nullable(Timestamp)),
});
export type SessionMetadataPatch = Infer<typeof SessionMetadataPatch>;

/** A positive integer from a query string, at most `max`. */
export const QueryInt = (min: number, max: number) => documented(integerFromText(size(integer(), min, max)), { type: 'integer', minimum: min, maximum: max });

const Cursor = documented(
  refine(string(), 'cursor', (value) => (decodeCursor(value) ? true : 'is not a cursor this server handed out')),
  { type: 'string', description: 'The next_cursor of the previous page.' },
);

/** The list's filters, as GET /sessions and GET /usage take them. */
export const SESSION_FILTERS = {
  status: optional(enums(['running', 'idle', 'finished'])),
  /** How the last stop went; `none`: sessions without one. */
  outcome: optional(enums(['failed', 'succeeded', 'none'])),
  agent_name: optional(Text),
  project_dir: optional(Text),
  /** Case-insensitive part of the session name. */
  q: optional(Text),
};

export const SessionListQuery = type({
  ...SESSION_FILTERS,
  limit: optional(QueryInt(1, 1000)),
  /** `next_cursor` of the previous page. */
  cursor: optional(Cursor),
});
export type SessionListQuery = Infer<typeof SessionListQuery>;

export const DEFAULT_SESSION_LIST_LIMIT = 1000;
