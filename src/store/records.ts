import type { Event } from '../domain/event';
import type { Outcome, Session, Usage } from '../domain/session';

export const USAGE_COLUMNS =
  'input_tokens, output_tokens, cache_read_tokens, cache_creation_tokens, cost_usd_micros, api_requests, api_duration_ms, models';

export const SESSION_COLUMNS = `session_id, session_name, status, outcome, created_at, project_dir, agent_name, last_resumed_at, event_count, last_event_at, source, ${USAGE_COLUMNS}`;

// A timestamp as JSON text in the form toSession() and toEvent() give (ISO 8601, UTC, milliseconds).
const isoText = (column: string) => `to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/** The usage columns as JSON in the shape toUsage() gives (float8 division, as JavaScript divides). */
export const USAGE_AS_JSON = `case when api_requests = 0 then null else json_build_object(
    'input_tokens', input_tokens, 'output_tokens', output_tokens, 'cache_read_tokens', cache_read_tokens,
    'cache_creation_tokens', cache_creation_tokens, 'cost_usd', cost_usd_micros::float8 / 1e6, 'api_requests', api_requests,
    'api_duration_ms', api_duration_ms, 'models', models) end`;

/** A session row as JSON text, built by PostgreSQL in the shape toSession() gives, for lists sent as they are read. */
export const SESSION_AS_JSON = `json_build_object(
    'session_id', session_id, 'session_name', session_name, 'status', status, 'outcome', outcome, 'created_at', ${isoText('created_at')},
    'project_dir', project_dir, 'agent_name', agent_name, 'last_resumed_at', ${isoText('last_resumed_at')},
    'event_count', event_count, 'last_event_at', ${isoText('last_event_at')}, 'source', source, 'usage', ${USAGE_AS_JSON})::text`;

export const EVENT_COLUMNS =
  'id, session_id, session_name, event_type, timestamp, tool_name, tool_input, tool_output, error, exit_code, reason, role, content, event_id, tool_use_id, prompt_id, agent_id, duration_ms, hook_input';

/**
 * An event row as JSON text in the shape toEvent() gives: the json columns are copied in as they are stored,
 * so a page is never parsed and serialised again on its way out.
 */
export const EVENT_AS_JSON = `json_build_object(
    'id', id, 'session_id', session_id, 'session_name', session_name, 'event_type', event_type,
    'timestamp', ${isoText('timestamp')},
    'tool_name', tool_name, 'tool_input', tool_input, 'tool_output', tool_output, 'error', error,
    'exit_code', exit_code, 'reason', reason, 'role', role, 'content', content, 'event_id', event_id,
    'tool_use_id', tool_use_id, 'prompt_id', prompt_id, 'agent_id', agent_id, 'duration_ms', duration_ms,
    'hook_input', hook_input)::text`;

/**
 * About the bytes an event row takes as JSON, from the lengths PostgreSQL keeps beside each value (no value
 * is read or decompressed for it). Escapes can make the JSON of a text column longer; pages count exactly
 * as they are built, so this only chooses which rows are worth building.
 */
export const EVENT_JSON_SIZE = `(256 + ${['session_id', 'session_name', 'event_type', 'tool_name', 'error', 'reason', 'role', 'event_id', 'tool_use_id', 'prompt_id', 'agent_id']
  .map((column) => `coalesce(octet_length(${column}), 0)`)
  .concat(['tool_input', 'tool_output', 'content', 'hook_input'].map((column) => `coalesce(octet_length(${column}::text), 0)`))
  .join(' + ')})`;

// Timestamps arrive as Date from a query, or as ISO text from a json snapshot of a row.
const isoTimestamp = (value: Date | string): string => (value instanceof Date ? value : new Date(value)).toISOString();
const isoTimestampOrNull = (value: Date | string | null): string | null => (value === null ? null : isoTimestamp(value));

// bigint columns: text from a query, a number from a json snapshot; absent from snapshots written before they existed.
type BigintColumn = string | number | undefined;

/** The usage columns as a query or a json snapshot of a row gives them. */
export interface UsageRow {
  input_tokens?: BigintColumn;
  output_tokens?: BigintColumn;
  cache_read_tokens?: BigintColumn;
  cache_creation_tokens?: BigintColumn;
  cost_usd_micros?: BigintColumn;
  api_requests?: BigintColumn;
  api_duration_ms?: BigintColumn;
  models?: string[];
}

type SessionRow = Omit<Session, 'outcome' | 'created_at' | 'last_resumed_at' | 'event_count' | 'last_event_at' | 'source' | 'usage'> &
  UsageRow & {
    /** Absent from snapshots written before the column existed. */
    outcome?: Outcome;
    source?: string | null;
    created_at: Date | string;
    last_resumed_at: Date | string | null;
    event_count?: BigintColumn;
    last_event_at?: Date | string | null;
  };

/** Usage totals from their columns; null while no request was counted. */
export function toUsage(row: UsageRow): Usage | null {
  const requests = Number(row.api_requests ?? 0);
  if (requests === 0) return null;
  return {
    input_tokens: Number(row.input_tokens ?? 0),
    output_tokens: Number(row.output_tokens ?? 0),
    cache_read_tokens: Number(row.cache_read_tokens ?? 0),
    cache_creation_tokens: Number(row.cache_creation_tokens ?? 0),
    // Micro-dollars summed exactly in the database; one division here.
    cost_usd: Number(row.cost_usd_micros ?? 0) / 1e6,
    api_requests: requests,
    api_duration_ms: Number(row.api_duration_ms ?? 0),
    models: row.models ?? [],
  };
}

export function toSession(row: SessionRow): Session {
  return {
    session_id: row.session_id,
    session_name: row.session_name,
    status: row.status,
    outcome: row.outcome ?? null,
    created_at: isoTimestamp(row.created_at),
    project_dir: row.project_dir,
    agent_name: row.agent_name,
    last_resumed_at: isoTimestampOrNull(row.last_resumed_at),
    event_count: Number(row.event_count ?? 0),
    last_event_at: isoTimestampOrNull(row.last_event_at ?? null),
    source: row.source ?? null,
    usage: toUsage(row),
  };
}

export type EventRow = Omit<Event, 'id' | 'timestamp'> & { id: string | number; timestamp: Date };

export function toEvent(row: EventRow): Event {
  return {
    // bigint comes back as text from pg; ids stay far below 2^53.
    id: Number(row.id),
    session_id: row.session_id,
    session_name: row.session_name,
    event_type: row.event_type,
    timestamp: row.timestamp.toISOString(),
    tool_name: row.tool_name,
    tool_input: row.tool_input,
    tool_output: row.tool_output,
    error: row.error,
    exit_code: row.exit_code,
    reason: row.reason,
    role: row.role,
    content: row.content,
    event_id: row.event_id,
    tool_use_id: row.tool_use_id ?? null,
    prompt_id: row.prompt_id ?? null,
    agent_id: row.agent_id ?? null,
    duration_ms: row.duration_ms ?? null,
    hook_input: row.hook_input ?? null,
  };
}
