/**
 * What the hook command reads from Claude Code's transcript, beside the events it becomes:
 * - transcript_requests: one row per model request the transcript shows (its `requestRef`, else its message
 *   id), with model, agent and usage; a request read twice is one row (the larger counts win: Claude Code
 *   writes a message's usage again as it streams).
 * - transcript_cost_states: the latest `cost-state` line per session (Claude Code's own running totals).
 * - sessions.transcript_read: true once any transcript data arrived for the session; sessions.transcript_usage:
 *   what the transcript tells of the session's usage (requests, tokens, Claude Code's own cost), kept by the
 *   store with each read; sessions.turn_ended_at: when its first turn ended (its first Stop), for
 *   telemetry_missing.
 * Both tables go with their session.
 *
 * The session JSON: asm_session_api_json (srv's definition of this turn, plus `transcript_read`,
 * `requests_missing`, `telemetry_missing` at its end) and asm_session_json's `usage`, now
 * asm_session_usage_json(): telemetry's totals, or the transcript's where telemetry is missing, with
 * `cost_source`; never the sum of both (docs/api.md, "Usage from two sources").
 */

// The columns whose change is told to clients (migration 1764054000062's list and this migration's).
const SESSION_COLUMNS_TOLD = [
  'session_name',
  'status',
  'project_dir',
  'agent_name',
  'last_resumed_at',
  'created_at',
  'input_tokens',
  'output_tokens',
  'cache_read_tokens',
  'cache_creation_tokens',
  'cost_usd_micros',
  'api_requests',
  'api_duration_ms',
  'models',
  'outcome',
  'waiting_for',
  'waiting_since',
  'waiting_tool',
  'budget_usd',
];
// Not turn_ended_at: telemetry_missing turns true 60 s later whatever is told then; clients read it with the rest.
// failed_tool_count: told since migration 1764054000090.
const NEW_SESSION_COLUMNS_TOLD = ['failed_tool_count', 'transcript_read', 'transcript_usage'];

const logUpdateTrigger = (columns) => `
    drop trigger t1_sessions__log_update on sessions;
    create trigger t1_sessions__log_update
      after update on sessions
      for each row
      when ((${columns.map((column) => `old.${column}`).join(', ')})
            is distinct from
            (${columns.map((column) => `new.${column}`).join(', ')}))
      execute function tg_sessions__log_change();
`;

// Main's asm_session_json with its usage from asm_session_usage_json().
const sessionJson = (usage) => `
    create or replace function asm_session_json(s sessions) returns text
    language sql stable as $$
      select json_build_object(
        'session_id', s.session_id, 'session_name', s.session_name, 'status', s.status, 'outcome', s.outcome,
        'created_at', asm_iso_time(s.created_at), 'project_dir', s.project_dir, 'agent_name', s.agent_name,
        'last_resumed_at', asm_iso_time(s.last_resumed_at), 'event_count', s.event_count,
        'last_event_at', asm_iso_time(s.last_event_at), 'source', s.source,
        'usage', ${usage})::text
    $$;
`;

/** @param {import('node-pg-migrate').MigrationBuilder} pgm */
exports.up = (pgm) => {
  pgm.sql(`
    create table transcript_requests (
      session_id text not null references sessions (session_id) on delete cascade,
      request_id text not null,
      agent_id text,
      prompt_id text,
      model text,
      input_tokens bigint not null default 0,
      output_tokens bigint not null default 0,
      cache_read_tokens bigint not null default 0,
      cache_creation_tokens bigint not null default 0,
      occurred_at timestamptz not null,
      received_at timestamptz not null default now(),
      primary key (session_id, request_id)
    );

    create table transcript_cost_states (
      session_id text primary key references sessions (session_id) on delete cascade,
      cost_state jsonb not null,
      cost_usd_micros bigint,
      read_at timestamptz not null default now()
    );

    alter table sessions
      add column transcript_read boolean not null default false,
      add column transcript_usage jsonb,
      add column turn_ended_at timestamptz;

    -- A count from JSON that may hold anything: 0 unless it is a non-negative integer that fits.
    create function asm_bigint_or_zero(value text) returns bigint
    language sql immutable as $$
      select case when value ~ '^[0-9]{1,18}(\\.[0-9]+)?$' then floor(value::numeric)::bigint else 0 end
    $$;

    -- Dollars from JSON that may hold anything, as micro-dollars; null unless a non-negative number that fits.
    create function asm_micros_or_null(value text) returns bigint
    language sql immutable as $$
      select case when value ~ '^[0-9]{1,12}(\\.[0-9]+)?([eE]-[0-9]{1,3})?$' then round(value::numeric * 1000000)::bigint end
    $$;

    -- A session's first turn end (its first Stop hook), for telemetry_missing.
    create function tg_events__first_turn_end() returns trigger
    language plpgsql as $$
    begin
      update sessions s set turn_ended_at = ended.at
      from (select session_id, min(timestamp) as at from inserted where event_id like 'cc:Stop:%' group by session_id) ended
      where s.session_id = ended.session_id and s.turn_ended_at is null;
      return null;
    end
    $$;
    create trigger t4_events__first_turn_end
      after insert on events referencing new table as inserted
      for each statement execute function tg_events__first_turn_end();

    -- Model requests the transcript shows that OpenTelemetry did not report; null without transcript data.
    create function asm_requests_missing(s sessions) returns int
    language sql immutable as $$
      select case when coalesce((s.transcript_usage->>'requests')::int, 0) = 0 then null
                  else greatest((s.transcript_usage->>'requests')::int - s.api_requests, 0) end
    $$;

    -- The session's usage: telemetry's (cost_source telemetry); where it misses requests the transcript shows,
    -- each total the larger of the two (mixed: the transcript's cost-state is Claude Code's whole running
    -- total, so nothing is counted twice); with no telemetry, the transcript's (cost null without a cost-state).
    create function asm_session_usage_json(s sessions) returns json
    language sql immutable as $$
      select case
        when s.api_requests > 0 and coalesce(asm_requests_missing(s), 0) = 0 then json_build_object(
          'input_tokens', s.input_tokens, 'output_tokens', s.output_tokens, 'cache_read_tokens', s.cache_read_tokens,
          'cache_creation_tokens', s.cache_creation_tokens, 'cost_usd', s.cost_usd_micros::float8 / 1e6,
          'api_requests', s.api_requests, 'api_duration_ms', s.api_duration_ms, 'models', s.models, 'cost_source', 'telemetry')
        when s.api_requests > 0 then json_build_object(
          'input_tokens', greatest(s.input_tokens, (t->>'input_tokens')::bigint),
          'output_tokens', greatest(s.output_tokens, (t->>'output_tokens')::bigint),
          'cache_read_tokens', greatest(s.cache_read_tokens, (t->>'cache_read_tokens')::bigint),
          'cache_creation_tokens', greatest(s.cache_creation_tokens, (t->>'cache_creation_tokens')::bigint),
          'cost_usd', greatest(s.cost_usd_micros, (t->>'cost_usd_micros')::bigint)::float8 / 1e6,
          'api_requests', s.api_requests, 'api_duration_ms', greatest(s.api_duration_ms, (t->>'api_duration_ms')::bigint),
          'models', array(select distinct m from unnest(s.models || array(select jsonb_array_elements_text(t->'models'))) m order by m),
          'cost_source', 'mixed')
        when t is not null then json_build_object(
          'input_tokens', (t->>'input_tokens')::bigint, 'output_tokens', (t->>'output_tokens')::bigint,
          'cache_read_tokens', (t->>'cache_read_tokens')::bigint, 'cache_creation_tokens', (t->>'cache_creation_tokens')::bigint,
          'cost_usd', (t->>'cost_usd_micros')::float8 / 1e6, 'api_requests', (t->>'requests')::bigint,
          'api_duration_ms', (t->>'api_duration_ms')::bigint,
          'models', array(select jsonb_array_elements_text(t->'models') order by 1), 'cost_source', 'transcript')
      end
      from (select s.transcript_usage as t) transcript
    $$;
    ${sessionJson('asm_session_usage_json(s)')}

    -- A session as clients see it: srv's definition of this turn, and the transcript's fields at its end.
    create or replace function asm_session_api_json(s sessions) returns text
    language sql stable as $$
      select left(asm_session_json(s), -1) || ',' || substr(json_build_object(
        'waiting_for', s.waiting_for, 'waiting_since', asm_iso_time(s.waiting_since), 'waiting_tool', s.waiting_tool,
        'budget_usd', s.budget_usd::float8, 'failed_tool_count', s.failed_tool_count,
        'transcript_read', s.transcript_read, 'requests_missing', asm_requests_missing(s),
        'telemetry_missing', s.source = 'claude-code' and s.api_requests = 0 and s.turn_ended_at < now() - interval '60 seconds')::text, 2)
    $$;
    ${logUpdateTrigger([...SESSION_COLUMNS_TOLD, ...NEW_SESSION_COLUMNS_TOLD])}
  `);
};

/** @param {import('node-pg-migrate').MigrationBuilder} pgm */
exports.down = (pgm) => {
  pgm.sql(`
    ${logUpdateTrigger([...SESSION_COLUMNS_TOLD, 'failed_tool_count'])}
    create or replace function asm_session_api_json(s sessions) returns text
    language sql stable as $$
      select left(asm_session_json(s), -1) || ',' || substr(json_build_object(
        'waiting_for', s.waiting_for, 'waiting_since', asm_iso_time(s.waiting_since), 'waiting_tool', s.waiting_tool,
        'budget_usd', s.budget_usd::float8, 'failed_tool_count', s.failed_tool_count)::text, 2)
    $$;
    ${sessionJson(`case when s.api_requests = 0 then null else json_build_object(
                   'input_tokens', s.input_tokens, 'output_tokens', s.output_tokens, 'cache_read_tokens', s.cache_read_tokens,
                   'cache_creation_tokens', s.cache_creation_tokens, 'cost_usd', s.cost_usd_micros::float8 / 1e6,
                   'api_requests', s.api_requests, 'api_duration_ms', s.api_duration_ms, 'models', s.models) end`)}
    drop function asm_session_usage_json(sessions);
    drop function asm_requests_missing(sessions);
    drop function asm_bigint_or_zero(text);
    drop function asm_micros_or_null(text);
    drop trigger t4_events__first_turn_end on events;
    drop function tg_events__first_turn_end();
    alter table sessions drop column transcript_read, drop column transcript_usage, drop column turn_ended_at;
    drop table transcript_cost_states;
    drop table transcript_requests;
  `);
};
