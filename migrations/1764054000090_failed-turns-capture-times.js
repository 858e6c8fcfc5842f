/**
 * Issue 20, the server side: failed turns, failed tool calls counted, times as captured.
 *
 * - A turn that ends in an error (Claude Code's StopFailure hook, effect `turn_failed`) makes its session
 *   `idle` with outcome `failed`. The outcome stays `failed` through what may follow without a person
 *   asking for more (a notification, a background subagent's tool, the SessionEnd); a new prompt clears it.
 *   A session whose status is not finished has a non-null outcome only this way, so `working` and
 *   `turn_ended` now keep the outcome they find instead of clearing it.
 * - `sessions.failed_tool_count`: post_tool events that failed (asm_event_failed), kept by the events
 *   trigger in the update it makes anyway; in every session JSON and told to clients when it changes.
 * - `events.received_at`: when the server stored the event. An event's `timestamp` is when it was captured
 *   (the hook command's X-Captured-At, a transcript entry's time), so the two differ for a hook sent late
 *   from the spool. Null for the events stored before this migration, whose `timestamp` was their receive
 *   time: asm_event_json gives that (filling the column would rewrite the whole table).
 * - A session the hooks created (source claude-code) takes its creation and latest-event times from its
 *   events' capture times: a session run while the server was down shows when it really started, how long
 *   it ran, and sorts where it belongs. Other sessions keep the receive time (their clients' timestamps are
 *   theirs to set).
 */

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

const sessionAfter = (withTurnFailed) => `
    create or replace function asm_session_after(status text, outcome text, effect text, event_type text, error text, exit_code integer)
    returns asm_session_state language sql immutable as $$
      select case
               when effect = 'prompt' then row('running', null)::asm_session_state
               when effect = 'working' and status <> 'finished' then row('running', ${withTurnFailed ? 'outcome' : 'null'})::asm_session_state
               when effect = 'turn_ended' and status <> 'finished' then row('idle', ${withTurnFailed ? 'outcome' : 'null'})::asm_session_state
               ${withTurnFailed ? "when effect = 'turn_failed' and status <> 'finished' then row('idle', 'failed')::asm_session_state" : ''}
               when effect = 'ended' then row('finished', case when event_type is distinct from 'session_stop' then outcome
                                                               when asm_event_failed(error, exit_code) then 'failed'
                                                               ${withTurnFailed ? "when status <> 'finished' and outcome = 'failed' then 'failed'" : ''}
                                                               else 'succeeded' end)::asm_session_state
               else row(status, outcome)::asm_session_state
             end
    $$;
`;

const applyToSessions = (captureTimes) => `
    create or replace function tg_events__apply_to_sessions() returns trigger language plpgsql as $$
    declare
      sessions_named bigint;
      sessions_updated bigint;
    begin
      -- Rows locked in one order, so two transactions touching the same sessions cannot deadlock here.
      perform 1 from sessions where session_id in (select session_id from inserted) order by session_id for no key update;
      with added as (
        select session_id, count(*) as n${
          captureTimes
            ? `,
               count(*) filter (where event_type = 'post_tool' and asm_event_failed(error, exit_code)) as failed_tools,
               min("timestamp") as first_at, max("timestamp") as last_at`
            : ''
        }
        from inserted group by session_id
      ), last_mark as (
        select distinct on (session_id) session_id, event_type, error, exit_code,
               case event_type when 'session_start' then 'prompt' else 'ended' end as effect
        from inserted where event_type in ('session_start', 'session_stop')${
          captureTimes
            ? `
          -- A hook's start or end in a session the hooks created was applied by asm_record_hooks already:
          -- applied again here, over the status it just wrote, it would undo what that kept (a failed turn).
          and not (event_id like 'cc:%' and exists (select 1 from sessions h where h.session_id = inserted.session_id and h.source = 'claude-code'))`
            : ''
        }
        order by session_id, id desc
      ), updated as (
        update sessions s
        set event_count = s.event_count + added.n,
            ${
              captureTimes
                ? `failed_tool_count = s.failed_tool_count + added.failed_tools,
            -- Hooks' sessions by capture time (which is at most a few minutes ahead); others as received.
            created_at = case when s.source = 'claude-code' and added.first_at < s.created_at then added.first_at else s.created_at end,
            last_event_at = case when s.source = 'claude-code' then greatest(s.last_event_at, added.last_at) else greatest(s.last_event_at, now()) end,`
                : 'last_event_at = greatest(s.last_event_at, now()),'
            }
            (status, outcome) = row((asm_session_after(s.status, s.outcome, last_mark.effect, last_mark.event_type, last_mark.error, last_mark.exit_code)).*)
        from added left join last_mark using (session_id)
        where s.session_id = added.session_id
        returning 1
      )
      select (select count(*) from added), (select count(*) from updated) into sessions_named, sessions_updated;
      -- The locks above keep every session found here until commit, as a foreign key's check would.
      if sessions_updated < sessions_named then
        raise foreign_key_violation using message = 'an event names a session that does not exist';
      end if;
      return null;
    end
    $$;
`;

const eventJson = (receivedAt) => `
    create or replace function asm_event_json(e events) returns text language sql stable as $$
      select json_build_object(
        'id', e.id, 'session_id', e.session_id, 'session_name', e.session_name, 'event_type', e.event_type,
        'timestamp', asm_iso_time(e.timestamp), 'tool_name', e.tool_name, 'tool_input', e.tool_input,
        'tool_output', e.tool_output, 'error', e.error, 'exit_code', e.exit_code, 'reason', e.reason, 'role', e.role,
        'content', e.content, 'event_id', e.event_id, 'tool_use_id', e.tool_use_id, 'prompt_id', e.prompt_id,
        'agent_id', e.agent_id, 'duration_ms', e.duration_ms, 'hook_input', e.hook_input${
          receivedAt
            ? `,
        'received_at', asm_iso_time(coalesce(e.received_at, e.timestamp))`
            : ''
        })::text
    $$;
`;

const sessionApiJson = (failedTools) => `
    create or replace function asm_session_api_json(s sessions) returns text language sql stable as $$
      select left(asm_session_json(s), -1) || ',' || substr(json_build_object(
        'waiting_for', s.waiting_for, 'waiting_since', asm_iso_time(s.waiting_since), 'waiting_tool', s.waiting_tool,
        'budget_usd', s.budget_usd::float8${failedTools ? ", 'failed_tool_count', s.failed_tool_count" : ''})::text, 2)
    $$;
`;

/** @param {import('node-pg-migrate').MigrationBuilder} pgm */
exports.up = (pgm) => {
  pgm.sql(`
    alter table events add column received_at timestamptz default now();
    alter table sessions add column failed_tool_count bigint not null default 0;
    update sessions s set failed_tool_count = f.n
    from (select session_id, count(*) as n from events
          where asm_event_failed(error, exit_code) and event_type = 'post_tool' group by session_id) f
    where s.session_id = f.session_id;
  `);
  pgm.sql(sessionAfter(true));
  pgm.sql(applyToSessions(true));
  pgm.sql(eventJson(true));
  pgm.sql(sessionApiJson(true));
  pgm.sql(logUpdateTrigger([...SESSION_COLUMNS_TOLD, 'failed_tool_count']));
};

/** @param {import('node-pg-migrate').MigrationBuilder} pgm */
exports.down = (pgm) => {
  pgm.sql(logUpdateTrigger(SESSION_COLUMNS_TOLD));
  pgm.sql(sessionApiJson(false));
  pgm.sql(eventJson(false));
  pgm.sql(applyToSessions(false));
  pgm.sql(sessionAfter(false));
  pgm.sql(`
    alter table sessions drop column failed_tool_count;
    alter table events drop column received_at;
  `);
};
