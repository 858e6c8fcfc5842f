import type { Outcome, Session, SessionUsage, TranscriptUsage, Usage, WaitingFor, WaitingTool } from '../domain/session';

export const USAGE_COLUMNS = 'input_tokens, output_tokens, cache_read_tokens, cache_creation_tokens, cost_usd_micros, api_requests, api_duration_ms, models';

export const SESSION_COLUMNS = `session_id, session_name, status, outcome, created_at, project_dir, agent_name, last_resumed_at, event_count, last_event_at, source, ${USAGE_COLUMNS}, waiting_for, waiting_since, waiting_tool, budget_usd, failed_tool_count, transcript_read, transcript_usage, turn_ended_at`;

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

type SessionRow = Omit<
  Session,
  | 'outcome'
  | 'created_at'
  | 'last_resumed_at'
  | 'event_count'
  | 'last_event_at'
  | 'source'
  | 'usage'
  | 'waiting_for'
  | 'waiting_since'
  | 'waiting_tool'
  | 'budget_usd'
  | 'failed_tool_count'
  | 'transcript_read'
  | 'requests_missing'
  | 'telemetry_missing'
> &
  UsageRow & {
    /** Absent from snapshots written before the column existed. */
    outcome?: Outcome;
    source?: string | null;
    created_at: Date | string;
    last_resumed_at: Date | string | null;
    event_count?: BigintColumn;
    last_event_at?: Date | string | null;
    /** Absent from snapshots written before migration 1764054000020. */
    waiting_for?: WaitingFor;
    waiting_since?: Date | string | null;
    waiting_tool?: WaitingTool | null;
    /** numeric: text from a query, a number from a json snapshot. */
    budget_usd?: string | number | null;
    /** Absent from snapshots written before migration 1764054000090. */
    failed_tool_count?: BigintColumn;
    /** Absent from snapshots written before migration 1764054000095. */
    transcript_read?: boolean;
    transcript_usage?: TranscriptUsage | null;
    turn_ended_at?: Date | string | null;
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

/** A session row, or a json snapshot of one, in the shape clients get: what asm_session_json (migration 1764054000011) builds in SQL. */
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
    usage: sessionUsage(row),
    waiting_for: row.waiting_for ?? null,
    waiting_since: isoTimestampOrNull(row.waiting_since ?? null),
    waiting_tool: row.waiting_tool ?? null,
    budget_usd: row.budget_usd === null || row.budget_usd === undefined ? null : Number(row.budget_usd),
    failed_tool_count: Number(row.failed_tool_count ?? 0),
    transcript_read: row.transcript_read ?? false,
    requests_missing: requestsMissing(row),
    telemetry_missing:
      row.source === 'claude-code' && Number(row.api_requests ?? 0) === 0 && row.turn_ended_at != null && new Date(row.turn_ended_at).getTime() < Date.now() - 60_000,
  };
}

/** As asm_requests_missing (migration 1764054000095). */
function requestsMissing(row: SessionRow): number | null {
  const seen = Number(row.transcript_usage?.requests ?? 0);
  return seen === 0 ? null : Math.max(seen - Number(row.api_requests ?? 0), 0);
}

/** As asm_session_usage_json (migration 1764054000095): telemetry's, the transcript's, or the larger of each. */
function sessionUsage(row: SessionRow): SessionUsage | null {
  const telemetry = toUsage(row);
  const transcript = row.transcript_usage ?? null;
  const missing = requestsMissing(row);
  if (telemetry && !missing) return { ...telemetry, cost_source: 'telemetry' };
  if (telemetry && transcript) {
    const cost = transcript.cost_usd_micros === null ? Number(row.cost_usd_micros ?? 0) : Math.max(Number(row.cost_usd_micros ?? 0), Number(transcript.cost_usd_micros));
    return {
      input_tokens: Math.max(telemetry.input_tokens, Number(transcript.input_tokens)),
      output_tokens: Math.max(telemetry.output_tokens, Number(transcript.output_tokens)),
      cache_read_tokens: Math.max(telemetry.cache_read_tokens, Number(transcript.cache_read_tokens)),
      cache_creation_tokens: Math.max(telemetry.cache_creation_tokens, Number(transcript.cache_creation_tokens)),
      cost_usd: cost / 1e6,
      api_requests: telemetry.api_requests,
      api_duration_ms: Math.max(telemetry.api_duration_ms, Number(transcript.api_duration_ms)),
      models: [...new Set([...telemetry.models, ...transcript.models])].sort(),
      cost_source: 'mixed',
    };
  }
  if (transcript) {
    return {
      input_tokens: Number(transcript.input_tokens),
      output_tokens: Number(transcript.output_tokens),
      cache_read_tokens: Number(transcript.cache_read_tokens),
      cache_creation_tokens: Number(transcript.cache_creation_tokens),
      cost_usd: transcript.cost_usd_micros === null ? null : Number(transcript.cost_usd_micros) / 1e6,
      api_requests: Number(transcript.requests),
      api_duration_ms: Number(transcript.api_duration_ms),
      models: [...transcript.models].sort(),
      cost_source: 'transcript',
    };
  }
  return null;
}
