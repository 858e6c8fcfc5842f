/**
 * The write path in one place: every function and trigger that storing a session or an event runs, as it
 * stands from here on, so that a reader finds them in this file instead of in the migration that touched
 * each last. Most are restated unchanged. What changes:
 *
 * - One rule for a session's status and outcome, asm_session_after, which every path applies: the events
 *   trigger (a session_start runs a session again, a session_stop finishes it), Claude Code's hooks
 *   (asm_record_hooks) and a resume through PATCH (src/store/sessions.ts). It replaces
 *   asm_claude_code_next_status and the copies of the rule in the trigger and the hooks function. What
 *   counts as a failure is asm_event_failed, which search uses too (src/store/search.ts).
 * - One definition of an event as writers hand it in: the type asm_event_input. A batch travels as one JSON
 *   array of such objects, keyed by column name, read with json_populate_recordset, instead of 18 parallel
 *   arrays (hooks add three of their own: each hook's effect, and how to create a session met first). Its
 *   json columns travel as their JSON text: PostgreSQL's JSON functions refuse a `\u0000` anywhere in what
 *   they read, and the json columns keep one.
 * - An event's JSON, in the shape clients get, is built by asm_event_json (and a session's by
 *   asm_session_json), for every reader and for the write's own answer. asm_event_json_size guesses its size
 *   from the lengths PostgreSQL keeps beside each value. All are inlined into the queries that call them.
 * - Each change stores its position in its transaction when it is written, from the count the triggers keep
 *   (asm_count_changes): a change's number is its batch's first number plus its position - 1, and a read of
 *   the log is a range scan of (tx, position). The position 1 change sets off the numbering at commit, which
 *   `opens_tx` did.
 */

// How many changes this transaction has written so far: 0 before the first (the 1764054000008 expression).
const CHANGES_IN_TX_EXPRESSION = `coalesce(nullif(current_setting('asm.changes_in_tx', true), ''), '0')::bigint`;

// Two int4 keys: the usage triggers' per-session advisory locks use another first key (hashtext('asm_usage')).
const NUMBERING_LOCK = "hashtext('asm_changes'), 0";

// The statements inside take their batch as arrays. Planned for the arrays' contents, each call costs a
// plan (as much again as running it); one plan for any arrays is as good, as every lookup is by key. It is
// made once per connection and made again after an ANALYZE of a table it reads.
const GENERIC_PLANS = 'set plan_cache_mode = force_generic_plan';

// The argument types of asm_append_events as migration 1764054000009 made it: one array per column.
const OLD_EVENT_ARRAY_TYPES =
  'text[], text[], text[], timestamptz[], text[], json[], json[], text[], int[], text[], text[], json[], text[], text[], text[], text[], float8[], json[]';

// The columns clients are told about: an update that changes none of them is not a change.
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

const WRITE_PATH = `
    -- An event as a writer hands it in: the columns of events it may set, the json ones as their JSON text.
    create type asm_event_input as (
      session_id text, session_name text, event_type text, "timestamp" timestamptz, tool_name text, tool_input text,
      tool_output text, error text, exit_code int, reason text, role text, content text, event_id text,
      tool_use_id text, prompt_id text, agent_id text, duration_ms float8, hook_input text
    );

    create type asm_session_state as (status text, outcome text);

    -- Whether an event reports a failure: an error, or a non-zero exit code.
    create function asm_event_failed(error text, exit_code int) returns boolean
    language sql immutable as $$
      select error is not null or coalesce(exit_code, 0) <> 0
    $$;

    -- A session's status and outcome after an effect (StatusEffect in src/domain/session.ts) of the event
    -- with this type, error and exit code. Only sessions that end have an outcome: how their stop went.
    create function asm_session_after(status text, outcome text, effect text, event_type text, error text, exit_code int)
    returns asm_session_state
    language sql immutable as $$
      select case
               when effect = 'prompt' or (effect = 'working' and status <> 'finished') then row('running', null)::asm_session_state
               when effect = 'turn_ended' and status <> 'finished' then row('idle', null)::asm_session_state
               when effect = 'ended' then row('finished', case when event_type is distinct from 'session_stop' then outcome
                                                               when asm_event_failed(error, exit_code) then 'failed'
                                                               else 'succeeded' end)::asm_session_state
               else row(status, outcome)::asm_session_state
             end
    $$;

    -- A timestamp as JSON text in the form JavaScript's toISOString() gives (UTC, milliseconds).
    create function asm_iso_time(at timestamptz) returns text
    language sql stable as $$
      select to_char(at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
    $$;

    -- An event as JSON text, in the one shape REST and WebSocket share (Event in src/domain/event.ts). The
    -- json columns are copied in as they are stored, so a page is never parsed and serialised again.
    create function asm_event_json(e events) returns text
    language sql stable as $$
      select json_build_object(
        'id', e.id, 'session_id', e.session_id, 'session_name', e.session_name, 'event_type', e.event_type,
        'timestamp', asm_iso_time(e.timestamp), 'tool_name', e.tool_name, 'tool_input', e.tool_input,
        'tool_output', e.tool_output, 'error', e.error, 'exit_code', e.exit_code, 'reason', e.reason, 'role', e.role,
        'content', e.content, 'event_id', e.event_id, 'tool_use_id', e.tool_use_id, 'prompt_id', e.prompt_id,
        'agent_id', e.agent_id, 'duration_ms', e.duration_ms, 'hook_input', e.hook_input)::text
    $$;

    -- About the bytes of asm_event_json(e), from the lengths PostgreSQL keeps beside each value (no value is
    -- read or decompressed for it). Escapes can make the JSON of a text column longer: readers count exactly
    -- what they build, and use this only to choose which rows are worth building.
    create function asm_event_json_size(e events) returns bigint
    language sql immutable as $$
      select 256 + coalesce(octet_length(e.session_id), 0) + coalesce(octet_length(e.session_name), 0)
             + coalesce(octet_length(e.event_type), 0) + coalesce(octet_length(e.tool_name), 0) + coalesce(octet_length(e.error), 0)
             + coalesce(octet_length(e.reason), 0) + coalesce(octet_length(e.role), 0) + coalesce(octet_length(e.event_id), 0)
             + coalesce(octet_length(e.tool_use_id), 0) + coalesce(octet_length(e.prompt_id), 0) + coalesce(octet_length(e.agent_id), 0)
             + coalesce(octet_length(e.tool_input::text), 0) + coalesce(octet_length(e.tool_output::text), 0)
             + coalesce(octet_length(e.content::text), 0) + coalesce(octet_length(e.hook_input::text), 0)
    $$;

    -- A session as JSON text, in the one shape REST and WebSocket share (Session in src/domain/session.ts,
    -- which toSession() in src/store/records.ts gives from a row); cost_usd as JavaScript divides.
    create function asm_session_json(s sessions) returns text
    language sql stable as $$
      select json_build_object(
        'session_id', s.session_id, 'session_name', s.session_name, 'status', s.status, 'outcome', s.outcome,
        'created_at', asm_iso_time(s.created_at), 'project_dir', s.project_dir, 'agent_name', s.agent_name,
        'last_resumed_at', asm_iso_time(s.last_resumed_at), 'event_count', s.event_count,
        'last_event_at', asm_iso_time(s.last_event_at), 'source', s.source,
        'usage', case when s.api_requests = 0 then null else json_build_object(
                   'input_tokens', s.input_tokens, 'output_tokens', s.output_tokens, 'cache_read_tokens', s.cache_read_tokens,
                   'cache_creation_tokens', s.cache_creation_tokens, 'cost_usd', s.cost_usd_micros::float8 / 1e6,
                   'api_requests', s.api_requests, 'api_duration_ms', s.api_duration_ms, 'models', s.models) end)::text
    $$;

    -- How many changes this transaction has written so far: 0 before the first. A transaction-local setting
    -- that the triggers writing changes add to; one made inside a savepoint that is rolled back is rolled
    -- back with the changes it counted.
    create function asm_changes_in_tx() returns bigint
    language sql stable as $$
      select ${CHANGES_IN_TX_EXPRESSION}
    $$;

    -- Counts \`written\` more changes; returns the count before them (0 when they open the transaction).
    create or replace function asm_count_changes(written bigint) returns bigint
    language sql volatile as $$
      select set_config('asm.changes_in_tx', (asm_changes_in_tx() + written)::text, true)::bigint - written
    $$;

    -- The number of the last committed change: numbering goes on from the newest batch, or, for a log pruned
    -- to nothing before migration 1764054000010, from where change_counter stood.
    create or replace function asm_last_seq() returns bigint
    language sql stable as $$
      select greatest((select last_seq from change_batches order by last_seq desc limit 1),
                      (select last_seq from change_counter))
    $$;

    -- Stores events, in the given order, in one statement: locks the sessions named (in session_id order, so
    -- two writers cannot deadlock) before the insert draws any id, so that within a session id order is
    -- commit order; inserts the items in their order, skipping an event_id stored before; returns the events
    -- inserted (created), in order, then, when some were skipped, the events that the items name by event_id
    -- (not created); each as asm_event_json gives it, unless \`answer\` is false (asm_record_hooks needs only
    -- their keys). Items of a session that does not exist get no row. The caller matches rows to items.
    create function asm_append_events(items asm_event_input[], answer boolean default true)
    returns table (created boolean, session_id text, event_id text, event json)
    language plpgsql ${GENERIC_PLANS} as $$
    #variable_conflict use_column
    declare
      locked text[];
      stored int;
    begin
      select array_agg(session_id) into locked
      from (select session_id from sessions where session_id = any(array(select item.session_id from unnest(items) item))
            order by session_id for no key update) s;
      -- A new statement, so a new snapshot: it sees everything committed before the locks were granted. A
      -- session created since is left out, as if not there yet: its events would draw ids unlocked.
      return query
        insert into events (session_id, session_name, event_type, timestamp, tool_name, tool_input, tool_output, error,
                            exit_code, reason, role, content, event_id, tool_use_id, prompt_id, agent_id, duration_ms, hook_input)
        select s.session_id, coalesce(item.session_name, s.session_name), item.event_type, coalesce(item.timestamp, now()),
               item.tool_name, item.tool_input::json, item.tool_output::json, item.error, item.exit_code, item.reason, item.role,
               item.content::json, item.event_id, item.tool_use_id, item.prompt_id, item.agent_id, item.duration_ms,
               item.hook_input::json
        from unnest(items) with ordinality as item
        join sessions s on s.session_id = item.session_id and s.session_id = any(locked)
        order by item.ordinality
        on conflict (session_id, event_id) where event_id is not null do nothing
        returning true, events.session_id, events.event_id, case when answer then asm_event_json(events)::json end;
      get diagnostics stored = row_count;
      -- Fewer rows than items: some event_ids were stored before (or a session does not exist). Their rows are
      -- looked up (with those just inserted, which the caller matches to their items first).
      if stored < cardinality(items) then
        return query
          select false, e.session_id, e.event_id, case when answer then asm_event_json(e)::json end
          from unnest(items) as given
          join events e on e.session_id = given.session_id and e.event_id = given.event_id
          where given.session_id = any(locked);
      end if;
    end
    $$;

    -- Stores Claude Code hooks: their events, and beside each its hook's effect and, for a session met for the
    -- first time, its name and project folder. Creates those sessions (source claude-code), locks them, and
    -- walks the hooks in order, keeping each Claude Code
    -- session's status as its events imply (asm_session_after): a status change is written just before the
    -- event that causes it, so clients hear the session change first. A session of the original API takes
    -- the events and keeps its own rules (the events trigger's). Returns the (session_id, event_id) pairs
    -- stored.
    create function asm_record_hooks(items asm_event_input[], effects text[], new_session_names text[], new_project_dirs text[])
    returns table (session_id text, event_id text)
    language plpgsql ${GENERIC_PLANS} as $$
    #variable_conflict use_column
    declare
      n int := coalesce(array_length(items, 1), 0);
      session_ids text[] := '{}';
      -- The sessions of the batch, sorted, with their status, outcome and source as they stand.
      ids text[];
      statuses text[];
      outcomes text[];
      sources text[];
      -- Per item: false when its hook was stored before, or comes a second time in this batch.
      fresh boolean[];
      -- Status changes to write before the run of events that starts at run_start.
      changed_ids text[] := '{}';
      changed_statuses text[] := '{}';
      changed_outcomes text[] := '{}';
      run_start int := 1;
      k int;
      c int;
      after_hook asm_session_state;
      changes_session boolean;
      named int;
    begin
      if n = 0 then
        return;
      end if;
      for i in 1..n loop
        session_ids[i] := (items[i]).session_id;
      end loop;
      -- The row locks queue concurrent writers of the same sessions, so each status follows the one before.
      -- Sessions met for the first time are created (named by their first hook), then locked with the rest;
      -- one created meanwhile by another writer is locked here once that writer has committed.
      for attempt in 1..2 loop
        select array_agg(session_id order by session_id), array_agg(status order by session_id),
               array_agg(outcome order by session_id), array_agg(source order by session_id),
               (select count(distinct id) from unnest(session_ids) id)
        into ids, statuses, outcomes, sources, named
        from (select session_id, status, outcome, source from sessions where session_id = any(session_ids)
              order by session_id for no key update) locked;
        exit when attempt = 2 or coalesce(array_length(ids, 1), 0) = named;
        insert into sessions (session_id, session_name, project_dir, agent_name, source)
        select distinct on (session_id) session_id, session_name, project_dir, 'claude-code', 'claude-code'
        from unnest(session_ids, new_session_names, new_project_dirs) with ordinality as given(session_id, session_name, project_dir, position)
        where session_id <> all(coalesce(ids, '{}'))
        order by session_id, position
        on conflict (session_id) do nothing;
      end loop;

      select array_agg(
               row_number = 1 and not exists (select 1 from events e where e.session_id = given.session_id and e.event_id = given.event_id)
               order by position)
      into fresh
      from (select item.session_id, item.event_id, item.ordinality as position,
                   row_number() over (partition by item.session_id, item.event_id order by item.ordinality)
            from unnest(items) with ordinality as item) given;

      -- Item n + 1 only writes the last run.
      for i in 1..n + 1 loop
        changes_session := false;
        if i <= n then
          k := array_position(ids, session_ids[i]);
          if fresh[i] and sources[k] = 'claude-code' then
            after_hook := asm_session_after(statuses[k], outcomes[k], effects[i], (items[i]).event_type, (items[i]).error, (items[i]).exit_code);
            changes_session := (after_hook.status, after_hook.outcome) is distinct from (statuses[k], outcomes[k]);
          end if;
        end if;
        if i > run_start and (i > n or changes_session) then
          if array_length(changed_ids, 1) > 0 then
            update sessions s
            set status = changed.status, outcome = changed.outcome
            from unnest(changed_ids, changed_statuses, changed_outcomes) as changed(session_id, status, outcome)
            where s.session_id = changed.session_id;
            changed_ids := '{}';
            changed_statuses := '{}';
            changed_outcomes := '{}';
          end if;
          return query
            select appended.session_id, appended.event_id from asm_append_events(items[run_start:i - 1], false) appended where appended.created;
          run_start := i;
        end if;
        if changes_session then
          c := coalesce(array_position(changed_ids, session_ids[i]), coalesce(array_length(changed_ids, 1), 0) + 1);
          changed_ids[c] := session_ids[i];
          changed_statuses[c] := after_hook.status;
          changed_outcomes[c] := after_hook.outcome;
          statuses[k] := after_hook.status;
          outcomes[k] := after_hook.outcome;
        end if;
      end loop;
    end
    $$;

    -- What a statement's events do to their sessions: each session counts them (event_count, last_event_at,
    -- so listing sessions never counts rows), and takes the effect of its last session_start or
    -- session_stop among them, whatever its source. An event for a session that does not exist is refused.
    create or replace function tg_events__apply_to_sessions() returns trigger
    language plpgsql as $$
    declare
      sessions_named bigint;
      sessions_updated bigint;
    begin
      -- Rows locked in one order, so two transactions touching the same sessions cannot deadlock here.
      perform 1 from sessions where session_id in (select session_id from inserted) order by session_id for no key update;
      with added as (
        select session_id, count(*) as n from inserted group by session_id
      ), last_mark as (
        select distinct on (session_id) session_id, event_type, error, exit_code,
               case event_type when 'session_start' then 'prompt' else 'ended' end as effect
        from inserted where event_type in ('session_start', 'session_stop')
        order by session_id, id desc
      ), updated as (
        update sessions s
        set event_count = s.event_count + added.n,
            last_event_at = greatest(s.last_event_at, now()),
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

    -- Each event stored is a change, logged in id order, at the positions that follow the transaction's changes so far.
    create or replace function tg_events__log_changes() returns trigger
    language plpgsql as $$
    declare
      before bigint := asm_changes_in_tx();
      written bigint;
    begin
      insert into changes (kind, session_id, event_id, position)
      select 'event', inserted.session_id, inserted.id, before + row_number() over (order by inserted.id)
      from inserted order by inserted.id;
      get diagnostics written = row_count;
      perform asm_count_changes(written);
      return null;
    end
    $$;

    -- A session created, updated or deleted is a change; a session's snapshot is the row as written.
    create or replace function tg_sessions__log_change() returns trigger
    language plpgsql as $$
    begin
      if tg_op = 'DELETE' then
        insert into changes (kind, session_id, position) values ('session_deleted', old.session_id, asm_count_changes(1) + 1);
      else
        insert into changes (kind, session_id, session, position)
        values (case tg_op when 'INSERT' then 'session_created' else 'session_updated' end,
                new.session_id, to_json(new), asm_count_changes(1) + 1);
      end if;
      return null;
    end
    $$;

    -- At commit, once per transaction that wrote changes: takes its numbers after the newest batch's, under
    -- an advisory lock held until the transaction has committed, so numbers follow commit order without a gap,
    -- and announces the last one.
    create or replace function tg_changes__number_at_commit() returns trigger
    language plpgsql as $$
    declare
      written bigint := asm_changes_in_tx();
      last bigint;
    begin
      if written = 0 then
        return null;
      end if;
      perform pg_advisory_xact_lock(${NUMBERING_LOCK});
      -- A statement of its own, so its snapshot is taken after the lock: the previous holder has committed.
      last := asm_last_seq() + written;
      insert into change_batches (first_seq, last_seq, tx, committed_at)
      values (last - written + 1, last, pg_current_xact_id(), clock_timestamp());
      perform pg_notify('asm_changes', last::text);
      return null;
    end
    $$;

    -- A session created without usage yet takes what its usage records, which may come first, have summed.
    create or replace function tg_sessions__apply_pending_usage() returns trigger
    language plpgsql as $$
    begin
      -- Most inserts of an existing id are an "insert … on conflict do nothing" that will not insert.
      if exists (select 1 from sessions where session_id = new.session_id) then
        return new;
      end if;
      -- The receiver takes this lock before it looks for the session, so what it committed is seen here,
      -- and what it commits after this insert finds the session.
      perform pg_advisory_xact_lock(hashtext('asm_usage'), hashtext(new.session_id));
      select coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0), coalesce(sum(cache_read_tokens), 0),
             coalesce(sum(cache_creation_tokens), 0), coalesce(sum(cost_usd_micros), 0), count(*),
             coalesce(sum(duration_ms), 0),
             coalesce(array_agg(distinct model order by model) filter (where model is not null), '{}')
      into new.input_tokens, new.output_tokens, new.cache_read_tokens, new.cache_creation_tokens,
           new.cost_usd_micros, new.api_requests, new.api_duration_ms, new.models
      from usage_requests where session_id = new.session_id;
      return new;
    end
    $$;

    create or replace function tg_sessions__delete_usage() returns trigger
    language plpgsql as $$
    begin
      delete from usage_requests where session_id = old.session_id;
      delete from usage_turns where session_id = old.session_id;
      delete from tool_results where session_id = old.session_id;
      return null;
    end
    $$;

    create or replace function tg_sessions__delete_events() returns trigger
    language plpgsql as $$
    begin
      delete from events e using deleted where e.session_id = deleted.session_id;
      return null;
    end
    $$;

    -- The triggers, each made anew. Triggers of one table, timing and event fire in the order of their names
    -- (t<order>_<table>__<action>), and that order is the change log's: an event's effect on its session is
    -- logged before the event, so a client hears that a session finished before the session_stop that did it.
    drop trigger t1_sessions__apply_pending_usage on sessions;
    create trigger t1_sessions__apply_pending_usage
      before insert on sessions
      for each row execute function tg_sessions__apply_pending_usage();

    drop trigger t1_sessions__log_insert_or_delete on sessions;
    create trigger t1_sessions__log_insert_or_delete
      after insert or delete on sessions
      for each row execute function tg_sessions__log_change();

    drop trigger t1_sessions__log_update on sessions;
    create trigger t1_sessions__log_update
      after update on sessions
      for each row
      when ((${SESSION_COLUMNS_TOLD.map((column) => `old.${column}`).join(', ')})
            is distinct from
            (${SESSION_COLUMNS_TOLD.map((column) => `new.${column}`).join(', ')}))
      execute function tg_sessions__log_change();

    drop trigger t2_sessions__delete_usage on sessions;
    create trigger t2_sessions__delete_usage
      after delete on sessions
      for each row execute function tg_sessions__delete_usage();

    drop trigger t3_sessions__delete_events on sessions;
    create trigger t3_sessions__delete_events
      after delete on sessions
      referencing old table as deleted
      for each statement execute function tg_sessions__delete_events();

    -- Once per statement, so a multi-row insert costs one trigger call.
    drop trigger t1_events__apply_to_sessions on events;
    create trigger t1_events__apply_to_sessions
      after insert on events
      referencing new table as inserted
      for each statement execute function tg_events__apply_to_sessions();

    drop trigger t2_events__log_changes on events;
    create trigger t2_events__log_changes
      after insert on events
      referencing new table as inserted
      for each statement execute function tg_events__log_changes();

    -- Deferred to commit, and set off by the transaction's first change only.
    create constraint trigger t1_changes__number_at_commit
      after insert on changes
      deferrable initially deferred
      for each row when (new.position = 1) execute function tg_changes__number_at_commit();
`;

/** @param {import('node-pg-migrate').MigrationBuilder} pgm */
exports.up = (pgm) => {
  pgm.sql(`
    alter table changes add column position int;
    update changes c set position = numbered.position
    from (select id, row_number() over (partition by tx order by id) as position from changes) numbered
    where numbered.id = c.id;
    alter table changes alter column position set not null;
    drop index changes_by_tx;
    create index changes_by_tx_position on changes (tx, position);
    drop trigger t1_changes__number_at_commit on changes;
    alter table changes drop column opens_tx;

    drop function asm_record_hooks(text[], text[], text[], ${OLD_EVENT_ARRAY_TYPES});
    drop function asm_append_events(${OLD_EVENT_ARRAY_TYPES});
    drop function asm_claude_code_next_status(text, text);
  `);
  pgm.sql(WRITE_PATH);
};

/** @param {import('node-pg-migrate').MigrationBuilder} pgm */
exports.down = (pgm) => {
  pgm.sql(`
    drop function asm_record_hooks(asm_event_input[], text[], text[], text[]);
    drop function asm_append_events(asm_event_input[], boolean);
  `);
  // The functions of one-statement writes as that migration made them: its up makes nothing else.
  require('./1764054000009_one-statement-writes.js').up(pgm);
  pgm.sql(`
    drop trigger t1_changes__number_at_commit on changes;
    alter table changes add column opens_tx boolean not null default false;
    update changes set opens_tx = true where position = 1;
    create constraint trigger t1_changes__number_at_commit
      after insert on changes
      deferrable initially deferred
      for each row when (new.opens_tx) execute function tg_changes__number_at_commit();
    drop index changes_by_tx_position;
    create index changes_by_tx on changes (tx, id);
    alter table changes drop column position;

    create or replace function tg_events__apply_to_sessions() returns trigger
    language plpgsql as $$
    declare
      sessions_named bigint;
      sessions_updated bigint;
    begin
      -- Rows locked in one order, so two transactions touching the same sessions cannot deadlock here.
      perform 1 from sessions where session_id in (select session_id from inserted) order by session_id for no key update;
      with added as (
        select session_id, count(*) as n from inserted group by session_id
      ), last_mark as (
        -- Per session, the status its last session_start or session_stop of this statement implies, and the
        -- outcome: how that stop went; none after a start.
        select distinct on (session_id) session_id,
               case event_type when 'session_stop' then 'finished' else 'running' end as status,
               case when event_type = 'session_start' then null
                    when error is not null or coalesce(exit_code, 0) <> 0 then 'failed'
                    else 'succeeded' end as outcome
        from inserted where event_type in ('session_start', 'session_stop')
        order by session_id, id desc
      ), updated as (
        update sessions s
        set event_count = s.event_count + added.n,
            last_event_at = greatest(s.last_event_at, now()),
            status = coalesce(last_mark.status, s.status),
            outcome = case when last_mark.status is null then s.outcome else last_mark.outcome end
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

    create or replace function asm_count_changes(written bigint) returns bigint
    language sql volatile as $$
      -- The count before these: 0 when they open the transaction.
      select set_config('asm.changes_in_tx', (${CHANGES_IN_TX_EXPRESSION} + written)::text, true)::bigint - written
    $$;

    create or replace function tg_events__log_changes() returns trigger
    language plpgsql as $$
    declare
      first_of_tx boolean := ${CHANGES_IN_TX_EXPRESSION} = 0;
      written bigint;
    begin
      insert into changes (kind, session_id, event_id, opens_tx)
      select 'event', inserted.session_id, inserted.id, first_of_tx and row_number() over (order by inserted.id) = 1
      from inserted order by inserted.id;
      get diagnostics written = row_count;
      perform asm_count_changes(written);
      return null;
    end
    $$;

    create or replace function tg_sessions__log_change() returns trigger
    language plpgsql as $$
    begin
      if tg_op = 'DELETE' then
        insert into changes (kind, session_id, opens_tx) values ('session_deleted', old.session_id, asm_count_changes(1) = 0);
      else
        insert into changes (kind, session_id, session, opens_tx)
        values (case tg_op when 'INSERT' then 'session_created' else 'session_updated' end,
                new.session_id, to_json(new), asm_count_changes(1) = 0);
      end if;
      return null;
    end
    $$;

    create or replace function tg_changes__number_at_commit() returns trigger
    language plpgsql as $$
    declare
      written bigint := ${CHANGES_IN_TX_EXPRESSION};
      last bigint;
    begin
      if written = 0 then
        return null;
      end if;
      perform pg_advisory_xact_lock(${NUMBERING_LOCK});
      -- A statement of its own, so its snapshot is taken after the lock: the previous holder has committed.
      last := asm_last_seq() + written;
      insert into change_batches (first_seq, last_seq, tx, committed_at)
      values (last - written + 1, last, pg_current_xact_id(), clock_timestamp());
      perform pg_notify('asm_changes', last::text);
      return null;
    end
    $$;

    drop function asm_changes_in_tx();
    drop function asm_session_json(sessions);
    drop function asm_event_json_size(events);
    drop function asm_event_json(events);
    drop function asm_iso_time(timestamptz);
    drop function asm_session_after(text, text, text, text, text, int);
    drop function asm_event_failed(text, int);
    drop type asm_session_state;
    drop type asm_event_input;
  `);
};
