/** A session as every client sees it: REST bodies, WebSocket messages. */
export interface Session {
  session_id: string;
  session_name: string;
  /** `idle` only for Claude Code sessions: a turn has ended and the session waits for its user. */
  status: SessionStatus;
  /**
   * How the last stop went: `failed` (a non-zero `exit_code` or an `error`; for Claude Code, a turn that ended
   * in an error, kept until the next prompt), `succeeded`; null while none (or since a restart).
   */
  outcome: Outcome;
  created_at: string;
  project_dir: string | null;
  agent_name: string | null;
  last_resumed_at: string | null;
  /** Events stored in the session so far. */
  event_count: number;
  /** When the latest of them arrived; null before the first. */
  last_event_at: string | null;
  /** Where the session came from: `claude-code` (created by its hooks), or null (the original API). */
  source: string | null;
  /**
   * What the agent's model calls cost, as its OpenTelemetry logs report them, or, where those are missing,
   * as its transcript shows them (`cost_source` says which); null before the first.
   */
  usage: SessionUsage | null;
  /**
   * What the session waits for, if anything: `approval` (a PermissionRequest is pending: `waiting_tool` says
   * which), `input` (its last Notification waits for the user and nothing came after it); null otherwise.
   * Beside `status`, which keeps its values: such a session is usually `idle` or `running`.
   */
  waiting_for: WaitingFor;
  /** Since when it waits; null when it does not. */
  waiting_since: string | null;
  /** For `approval`: the oldest pending approval, its tool and input. */
  waiting_tool: WaitingTool | null;
  /** The session's spend cap in USD (null: none); set from SESSION_BUDGET_USD when it was created. */
  budget_usd: number | null;
  /** Its post_tool events that failed (an error or a non-zero exit code). */
  failed_tool_count: number;
  /** True once anything read from the session's transcript arrived (false: http hooks alone, or an old hook command). */
  transcript_read: boolean;
  /** Model requests the transcript shows that OpenTelemetry did not report; null without transcript data. */
  requests_missing: number | null;
  /** A Claude Code session whose first turn ended over 60 s ago with no OpenTelemetry record ever. */
  telemetry_missing: boolean;
}

export type WaitingFor = 'approval' | 'input' | null;

export interface WaitingTool {
  approval_id: number;
  tool_name: string;
  tool_input: unknown;
}

export type SessionStatus = 'running' | 'idle' | 'finished';

export type Outcome = 'failed' | 'succeeded' | null;

/** Totals of the model API requests of a session or of one turn (Claude Code's `claude_code.api_request` records). */
export interface Usage {
  input_tokens: number;
  output_tokens: number;
  cache_read_tokens: number;
  cache_creation_tokens: number;
  cost_usd: number;
  api_requests: number;
  /** Time spent in those requests, summed. */
  api_duration_ms: number;
  /** The models that answered them, sorted. */
  models: string[];
}

/**
 * What something that happens to a session does to its status (and outcome):
 * - `prompt`: a person asked for work, or the session started or was resumed: running, even after it ended.
 * - `working`: the agent is doing something: running, unless the session has ended.
 * - `turn_ended`: the agent waits for its user: idle, unless the session has ended.
 * - `turn_failed`: the turn ended in an error (Claude Code's StopFailure): idle and `failed`, unless the session
 *   has ended; the outcome stays `failed` (through the session's end too) until the next `prompt`.
 * - `ended`: the session is over: finished; a `session_stop` event also says how (the outcome).
 * A session_start event is a `prompt` and a session_stop an `ended` for every session; Claude Code's hooks
 * have their own (see claudeCode/hookEvents.ts), which only sessions they created take. One SQL function
 * applies them all, under the session's row lock (asm_session_after, migrations 1764054000011 and 1764054000090).
 */
export type StatusEffect = 'prompt' | 'working' | 'turn_ended' | 'turn_failed' | 'ended' | null;

/**
 * A session's usage: `telemetry` (OpenTelemetry reported every request), `transcript` (none reported: totals
 * from the transcript, `cost_usd` null when it holds no cost-state) or `mixed` (some missing: each total the
 * larger of the two sources, never their sum).
 */
export interface SessionUsage extends Omit<Usage, 'cost_usd'> {
  cost_usd: number | null;
  cost_source: 'telemetry' | 'transcript' | 'mixed';
}

/** What the transcript tells of a session's usage (sessions.transcript_usage). */
export interface TranscriptUsage {
  requests: number;
  input_tokens: number;
  output_tokens: number;
  cache_read_tokens: number;
  cache_creation_tokens: number;
  /** From the latest cost-state; null without one. */
  cost_usd_micros: number | null;
  api_duration_ms: number;
  models: string[];
}
