/**
 * Claude Code answered from anywhere (issue 19): approvals, waiting sessions, an alert outbox and spend caps.
 *
 * - `approvals`: one row per PermissionRequest hook held by an instance. Its creation is an
 *   `approval_requested` change and every change of its state an `approval_decided` change, each carrying the
 *   row as written (`changes.approval`), so every instance learns a decision from its LISTEN, and WebSocket
 *   clients resume them with `since=` like any other change.
 * - Waiting: `sessions.waiting_for` ('approval' | 'input' | null), `waiting_since`, `waiting_tool` are kept
 *   here, in the transaction of their cause: an approval pending (its oldest), else the session's last event
 *   being a Notification that waits for the user (`input_waiting_since`). Events after a pending approval
 *   that show the person answered in the terminal (its tool's post_tool, a prompt, a Stop, the session's end)
 *   mark it `answered_in_terminal`. A trigger of its own on events (t0_…, before the write path's t1/t2), so
 *   that migration 1764054000011's functions stay as they are.
 * - `sessions.budget_usd`: the session's spend cap (null: none), set from `asm_settings.session_budget_usd`
 *   (the server's SESSION_BUDGET_USD, written at start) when the session is created, changed by PATCH.
 *   `budget_alerted` remembers which of 80 % / 100 % was alerted.
 * - `alerts`: the outbox. Rows written by the triggers here, in the transaction of their cause (approval
 *   requested, waiting for input, session failed, budget 80 % / 100 %), sent by src/alerts/sender.ts.
 * The change kinds `approval_requested` / `approval_decided` are allowed by migration 1764054000062, which must
 * come after 1764054000060 (that one sets the list of kinds anew).
 */

// As migration 1764054000011 lists them, plus the columns of this one.
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
];
const NEW_SESSION_COLUMNS_TOLD = ['waiting_for', 'waiting_since', 'waiting_tool', 'budget_usd'];

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

/** @param {import('node-pg-migrate').MigrationBuilder} pgm */
exports.up = (pgm) => {
  pgm.sql(`
    create table asm_settings (name text primary key, value text);

    alter table sessions
      add column waiting_for text check (waiting_for in ('approval', 'input')),
      add column waiting_since timestamptz,
      add column waiting_tool jsonb,
      add column input_waiting_since timestamptz,
      add column budget_usd numeric(14, 6) check (budget_usd >= 0),
      add column budget_alerted smallint not null default 0;

    create table approvals (
      id bigint primary key generated always as identity,
      session_id text not null references sessions on delete cascade,
      tool_name text not null,
      tool_input json not null,
      tool_use_id text,
      permission_suggestions json,
      state text not null default 'pending' check (state in ('pending', 'allowed', 'denied', 'expired', 'answered_in_terminal')),
      scope text check (scope in ('once', 'session')),
      reason text,
      decided_by text,
      requested_at timestamptz not null default now(),
      decided_at timestamptz
    );
    create index approvals_pending on approvals (session_id, id) where state = 'pending';
    create index approvals_pending_oldest on approvals (requested_at, id) where state = 'pending';
    create index approvals_by_session on approvals (session_id, id);

    create table alerts (
      id bigint primary key generated always as identity,
      kind text not null,
      session_id text,
      payload jsonb not null,
      created_at timestamptz not null default now(),
      next_attempt_at timestamptz not null default now(),
      attempts int not null default 0,
      delivered_to text[] not null default '{}',
      done_at timestamptz,
      last_error text
    );
    create index alerts_due on alerts (next_attempt_at) where done_at is null;

    alter table changes add column approval json;

    -- An approval as clients see it (Approval in src/domain/approval.ts).
    create function asm_approval_json(a approvals) returns json
    language sql stable as $$
      select json_build_object(
        'id', a.id, 'session_id', a.session_id, 'tool_name', a.tool_name, 'tool_input', a.tool_input,
        'tool_use_id', a.tool_use_id, 'permission_suggestions', a.permission_suggestions, 'state', a.state,
        'scope', a.scope, 'reason', a.reason, 'decided_by', a.decided_by,
        'requested_at', asm_iso_time(a.requested_at), 'decided_at', asm_iso_time(a.decided_at))
    $$;

    -- A session as clients see it: asm_session_json (migration 1764054000011) and the fields of this migration.
    create function asm_session_api_json(s sessions) returns text
    language sql stable as $$
      select left(asm_session_json(s), -1) || ',' || substr(json_build_object(
        'waiting_for', s.waiting_for, 'waiting_since', asm_iso_time(s.waiting_since), 'waiting_tool', s.waiting_tool,
        'budget_usd', s.budget_usd::float8)::text, 2)
    $$;

    -- An alert in the outbox, in the transaction of its cause.
    create function asm_alert(kind text, s sessions, details jsonb) returns void
    language sql volatile as $$
      insert into alerts (kind, session_id, payload)
      values (kind, s.session_id, jsonb_build_object('kind', kind, 'session_id', s.session_id, 'session_name', s.session_name,
                                                     'project_dir', s.project_dir) || details)
    $$;

    -- Sets each session's waiting fields from its pending approvals (the oldest) and input_waiting_since.
    create function asm_refresh_waiting(ids text[]) returns void
    language sql volatile as $$
      update sessions s
      set waiting_for = w.waiting_for, waiting_since = w.waiting_since, waiting_tool = w.waiting_tool
      from (
        select s2.session_id,
               case when a.id is not null then 'approval' when s2.input_waiting_since is not null then 'input' end as waiting_for,
               case when a.id is not null then a.requested_at else s2.input_waiting_since end as waiting_since,
               case when a.id is not null then jsonb_build_object('approval_id', a.id, 'tool_name', a.tool_name, 'tool_input', a.tool_input::jsonb) end as waiting_tool
        from sessions s2
        left join lateral (select * from approvals where approvals.session_id = s2.session_id and state = 'pending' order by id limit 1) a on true
        where s2.session_id = any(ids)
      ) w
      where s.session_id = w.session_id
        and (s.waiting_for, s.waiting_since, s.waiting_tool) is distinct from (w.waiting_for, w.waiting_since, w.waiting_tool)
    $$;

    -- An approval created or changed: a change carrying it, the session's waiting fields, an alert when requested.
    create function tg_approvals__log_change() returns trigger
    language plpgsql as $$
    declare
      s sessions;
    begin
      insert into changes (kind, session_id, approval, position)
      values (case tg_op when 'INSERT' then 'approval_requested' else 'approval_decided' end, new.session_id,
              asm_approval_json(new), asm_count_changes(1) + 1);
      perform asm_refresh_waiting(array[new.session_id]);
      if tg_op = 'INSERT' then
        select * into s from sessions where session_id = new.session_id;
        perform asm_alert('approval_requested', s, jsonb_build_object('approval', asm_approval_json(new)::jsonb));
      end if;
      return null;
    end
    $$;

    create trigger t1_approvals__log_insert
      after insert on approvals
      for each row execute function tg_approvals__log_change();
    create trigger t1_approvals__log_update
      after update on approvals
      for each row when (old.state is distinct from new.state)
      execute function tg_approvals__log_change();

    -- Events stored: pending approvals the person answered in the terminal, and whether the session waits for input.
    create function tg_events__track_waiting() returns trigger
    language plpgsql as $$
    declare
      ids text[];
    begin
      -- The sessions where this can change anything: a pending approval, waiting for input, or a waiting notification now.
      -- Looked at once per session of the statement, not per event.
      select array_agg(i.session_id order by i.session_id) into ids
      from (select distinct session_id from inserted) i
      where exists (select 1 from sessions s where s.session_id = i.session_id and s.input_waiting_since is not null)
         or exists (select 1 from approvals a where a.session_id = i.session_id and a.state = 'pending')
         or exists (select 1 from inserted j where j.session_id = i.session_id and j.event_type = 'notification'
                    and j.reason in ('permission_prompt', 'idle_prompt', 'elicitation_dialog'));
      if ids is null then
        return null;
      end if;
      -- In session_id order, as every writer locks them, so that none deadlocks with another.
      perform 1 from sessions where session_id = any(ids) order by session_id for no key update;
      update approvals a set state = 'answered_in_terminal', decided_at = now()
      where a.state = 'pending' and a.session_id = any(ids)
        and exists (
          select 1 from inserted i
          where i.session_id = a.session_id
            and (i.event_type in ('message', 'session_stop')
                 or (i.event_type = 'post_tool' and (a.tool_use_id = i.tool_use_id
                     or (i.tool_name = a.tool_name and i.tool_input::jsonb = a.tool_input::jsonb)))));
      update sessions s
      set input_waiting_since = case when last.waiting then coalesce(s.input_waiting_since, last.timestamp) end
      from (
        select distinct on (session_id) session_id, "timestamp",
               coalesce(event_type = 'notification' and reason in ('permission_prompt', 'idle_prompt', 'elicitation_dialog'), false) as waiting
        from inserted where session_id = any(ids)
        order by session_id, id desc
      ) last
      where s.session_id = last.session_id
        and s.input_waiting_since is distinct from (case when last.waiting then coalesce(s.input_waiting_since, last.timestamp) end);
      perform asm_refresh_waiting(ids);
      return null;
    end
    $$;

    create trigger t0_events__track_waiting
      after insert on events
      referencing new table as inserted
      for each statement execute function tg_events__track_waiting();

    -- A new session takes the server's default budget (SESSION_BUDGET_USD), if any.
    create function tg_sessions__default_budget() returns trigger
    language plpgsql as $$
    begin
      if new.budget_usd is null then
        new.budget_usd := (select value::numeric from asm_settings where name = 'session_budget_usd');
      end if;
      return new;
    end
    $$;
    create trigger t0_sessions__default_budget
      before insert on sessions
      for each row execute function tg_sessions__default_budget();

    -- Alerts a session's change causes: failed, waiting for input, budget 80 % and 100 % (each level once, again
    -- after the budget is raised above it).
    create function tg_sessions__alerts() returns trigger
    language plpgsql as $$
    declare
      level smallint := 0;
      cost numeric := new.cost_usd_micros::numeric / 1e6;
    begin
      if new.outcome = 'failed' and old.outcome is distinct from 'failed' then
        perform asm_alert('session_failed', new, '{}'::jsonb);
      end if;
      if new.waiting_for = 'input' and old.waiting_for is distinct from 'input' then
        perform asm_alert('waiting_for_input', new, jsonb_build_object('waiting_since', asm_iso_time(new.waiting_since)));
      end if;
      if new.budget_usd is not null then
        level := case when cost >= new.budget_usd then 100 when cost >= new.budget_usd * 0.8 then 80 else 0 end;
      end if;
      if level > old.budget_alerted then
        perform asm_alert('budget_' || level, new, jsonb_build_object('cost_usd', cost::float8, 'budget_usd', new.budget_usd::float8, 'percent', level));
      end if;
      new.budget_alerted := level;
      return new;
    end
    $$;
    create trigger t0_sessions__alerts
      before update on sessions
      for each row
      when (old.outcome is distinct from new.outcome or old.waiting_for is distinct from new.waiting_for
            or old.cost_usd_micros is distinct from new.cost_usd_micros or old.budget_usd is distinct from new.budget_usd)
      execute function tg_sessions__alerts();
  `);
  pgm.sql(logUpdateTrigger([...SESSION_COLUMNS_TOLD, ...NEW_SESSION_COLUMNS_TOLD]));
};

/** @param {import('node-pg-migrate').MigrationBuilder} pgm */
exports.down = (pgm) => {
  pgm.sql(logUpdateTrigger(SESSION_COLUMNS_TOLD));
  pgm.sql(`
    drop trigger t0_sessions__alerts on sessions;
    drop function tg_sessions__alerts();
    drop trigger t0_sessions__default_budget on sessions;
    drop function tg_sessions__default_budget();
    drop trigger t0_events__track_waiting on events;
    drop function tg_events__track_waiting();
    drop trigger t1_approvals__log_insert on approvals;
    drop trigger t1_approvals__log_update on approvals;
    drop function tg_approvals__log_change();
    drop function asm_refresh_waiting(text[]);
    drop function asm_alert(text, sessions, jsonb);
    drop function asm_session_api_json(sessions);
    drop function asm_approval_json(approvals);
    drop table approvals;
    alter table changes drop column approval;
    drop table alerts;
    alter table sessions drop column waiting_for, drop column waiting_since, drop column waiting_tool,
      drop column input_waiting_since, drop column budget_usd, drop column budget_alerted;
    drop table asm_settings;
  `);
};
