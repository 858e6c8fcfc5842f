import { coerce, enums, integer, nullable, optional, size, string, type, type Infer } from 'superstruct';
import { SessionId, SessionName, Text, Timestamp } from './fields';

export const SessionPath = type({ session_id: SessionId });

export const SessionCreate = type({
  session_id: SessionId,
  session_name: SessionName,
  project_dir: optional(nullable(Text)),
  agent_name: optional(nullable(Text)),
});
export type SessionCreate = Infer<typeof SessionCreate>;

/** PATCH /sessions/{id}: absent keys stay, `null` clears; a session always keeps a name. */
export const SessionPatch = type({
  session_name: optional(SessionName),
  project_dir: optional(nullable(Text)),
  agent_name: optional(nullable(Text)),
  last_resumed_at: optional(nullable(Timestamp)),
});
export type SessionPatch = Infer<typeof SessionPatch>;

/** PATCH /sessions/{id}/metadata (deprecated): as SessionPatch, but `null` leaves a field unchanged. */
export const SessionMetadataPatch = type({
  session_name: optional(nullable(SessionName)),
  project_dir: optional(nullable(Text)),
  agent_name: optional(nullable(Text)),
  last_resumed_at: optional(nullable(Timestamp)),
});
export type SessionMetadataPatch = Infer<typeof SessionMetadataPatch>;

const Limit = coerce(size(integer(), 1, 1000), string(), (value) => (/^\s*-?\d+\s*$/.test(value) ? Number(value) : value));

export const SessionListQuery = type({
  status: optional(enums(['running', 'finished'])),
  limit: optional(Limit),
});
export type SessionListQuery = Infer<typeof SessionListQuery>;

export const DEFAULT_SESSION_LIST_LIMIT = 1000;
