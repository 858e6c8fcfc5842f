/**
 * Issue 25, the hook's write: a batch of hooks in fewer statements (profile of the bench's hooks from 32
 * connections: three quarters of asm_record_hooks's time was its inserts, 2.5 a batch).
 *
 * - asm_record_hooks cut its batch into runs wherever a hook changed its session's status, and wrote each run
 *   as one insert, with all the events triggers' statements each time. A status change has to come after its
 *   session's earlier events and just before the event that causes it; other sessions' events may lie either
 *   side of it, as the whole batch commits at once. So a run is now cut only where a session whose status
 *   changes has an event in the run already: with hooks of many sessions, a batch is one insert.
 * - No update of its own for the status changes, and no lookup of the hooks stored before: the run's changes
 *   travel to the events trigger (the transaction-local setting asm.hook_changes, set for that insert only),
 *   which applies each in the update of the session it makes anyway, if the event that causes it is among
 *   those inserted (a hook stored before, or repeated in the batch, is not). The session's change then
 *   counts the event, as a session_stop's does. The function learns what was applied from what was created.
 * - A session's first turn end (turn_ended_at) is kept in that same update, instead of by a statement
 *   trigger of its own (t4_events__first_turn_end) with an update of its own.
 */

const GENERIC_PLANS = 'set plan_cache_mode = force_generic_plan';

// The row locks queue concurrent writers of the same sessions, so each status follows the one before. Sessions
// met for the first time are created (named by their first hook), then locked with the rest; one created
// meanwhile by another writer is locked here once that writer has committed.
const LOCK_OR_CREATE_SESSIONS = `for attempt in 1..2 loop
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
`;

// As migration 1764054000011 wrote it: a run cut at every status change, each change written by an update of its own.
const RECORD_HOOKS_BEFORE = `
    create or replace function asm_record_hooks(items asm_event_input[], effects text[], new_session_names text[], new_project_dirs text[])
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
      ${LOCK_OR_CREATE_SESSIONS}
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
`;

// Stores Claude Code hooks: their events, and beside each its hook's effect and, for a session met for the
// first time, its name and project folder. Creates those sessions (source claude-code), locks them, and walks
// the hooks in order, keeping each Claude Code session's status as its events imply (asm_session_after). A
// session of the original API takes the events and keeps its own rules (the events trigger's). Returns the
// (session_id, event_id) pairs stored.
//
// The hooks go in as few inserts as the order allows: a status change comes after its session's earlier events
// and just before the event that causes it (clients hear the session change first, as for a session_stop), so
// a run is cut only where a session whose status changes has an event in it already. Each run's changes travel
// to the events trigger (asm.hook_changes, for the run's insert only), which applies a change only if its
// hook's event was inserted (not stored before, not a repeat in the batch), in the update it makes anyway.
const RECORD_HOOKS = `
    create or replace function asm_record_hooks(items asm_event_input[], effects text[], new_session_names text[], new_project_dirs text[])
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
      -- Per session (as ids), its last item so far, and its last item that changes its status.
      last_item int[];
      last_change int[];
      -- The status changes of the run that starts at run_start: the session, the event that causes it, the
      -- status and outcome after it, and those it had before.
      changed_ids text[] := '{}';
      changed_event_ids text[] := '{}';
      changed_statuses text[] := '{}';
      changed_outcomes text[] := '{}';
      was_statuses text[] := '{}';
      was_outcomes text[] := '{}';
      run_start int := 1;
      -- What the run's insert created, and what all runs did.
      run_ids text[];
      run_event_ids text[];
      stored_ids text[] := '{}';
      stored_event_ids text[] := '{}';
      k int;
      changed int;
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
      ${LOCK_OR_CREATE_SESSIONS}
      last_item := array_fill(0, array[cardinality(ids)]);
      last_change := array_fill(0, array[cardinality(ids)]);

      -- Item n + 1 only writes the last run.
      for i in 1..n + 1 loop
        changes_session := false;
        if i <= n then
          k := array_position(ids, session_ids[i]);
          if sources[k] = 'claude-code' then
            after_hook := asm_session_after(statuses[k], outcomes[k], effects[i], (items[i]).event_type, (items[i]).error, (items[i]).exit_code);
            changes_session := (after_hook.status, after_hook.outcome) is distinct from (statuses[k], outcomes[k]);
          end if;
        end if;
        -- Cut where the hook's session has a status change in the run (whether it holds is known once the run
        -- is written; the hook is weighed again then), or where it changes the status of a session in the run.
        if i > run_start and (i > n or last_change[k] >= run_start or (changes_session and last_item[k] >= run_start)) then
          perform set_config('asm.hook_changes', case when cardinality(changed_ids) = 0 then '' else (
                   select json_agg(json_build_object('session_id', c.session_id, 'event_id', c.event_id, 'status', c.status, 'outcome', c.outcome))::text
                   from unnest(changed_ids, changed_event_ids, changed_statuses, changed_outcomes) as c(session_id, event_id, status, outcome)) end, true);
          select coalesce(array_agg(appended.session_id), '{}'), coalesce(array_agg(appended.event_id), '{}')
          into run_ids, run_event_ids
          from asm_append_events(items[run_start:i - 1], false) appended where appended.created;
          perform set_config('asm.hook_changes', '', true);
          -- A change whose hook was not inserted (stored before, or a repeat in the batch) was not applied: its
          -- session keeps what it had.
          if cardinality(changed_ids) > 0 and cardinality(run_ids) < i - run_start then
            for c in 1..cardinality(changed_ids) loop
              if not exists (select 1 from unnest(run_ids, run_event_ids) as created(session_id, event_id)
                             where created.session_id = changed_ids[c] and created.event_id = changed_event_ids[c]) then
                changed := array_position(ids, changed_ids[c]);
                statuses[changed] := was_statuses[c];
                outcomes[changed] := was_outcomes[c];
              end if;
            end loop;
          end if;
          stored_ids := stored_ids || run_ids;
          stored_event_ids := stored_event_ids || run_event_ids;
          changed_ids := '{}';
          changed_event_ids := '{}';
          changed_statuses := '{}';
          changed_outcomes := '{}';
          was_statuses := '{}';
          was_outcomes := '{}';
          run_start := i;
          if i <= n and sources[k] = 'claude-code' then
            after_hook := asm_session_after(statuses[k], outcomes[k], effects[i], (items[i]).event_type, (items[i]).error, (items[i]).exit_code);
            changes_session := (after_hook.status, after_hook.outcome) is distinct from (statuses[k], outcomes[k]);
          end if;
        end if;
        if i <= n then
          last_item[k] := i;
          if changes_session then
            last_change[k] := i;
            changed := cardinality(changed_ids) + 1;
            changed_ids[changed] := session_ids[i];
            changed_event_ids[changed] := (items[i]).event_id;
            changed_statuses[changed] := after_hook.status;
            changed_outcomes[changed] := after_hook.outcome;
            was_statuses[changed] := statuses[k];
            was_outcomes[changed] := outcomes[k];
            statuses[k] := after_hook.status;
            outcomes[k] := after_hook.outcome;
          end if;
        end if;
      end loop;
      return query select * from unnest(stored_ids, stored_event_ids);
    end
    $$;
`;

// What a statement's events do to their sessions (counts, times, a session_start's or session_stop's effect).
// From here on, it also applies the status changes asm_record_hooks hands it for the events it inserts, and
// keeps turn_ended_at; before, it did neither (migration 1764054000090's version).
const applyToSessions = (current) => `
    create or replace function tg_events__apply_to_sessions() returns trigger language plpgsql as $$
    declare
      sessions_named bigint;
      sessions_updated bigint;
    begin
      -- Rows locked in one order, so two transactions touching the same sessions cannot deadlock here.
      perform 1 from sessions where session_id in (select session_id from inserted) order by session_id for no key update;
      with added as (
        select session_id, count(*) as n,
               count(*) filter (where event_type = 'post_tool' and asm_event_failed(error, exit_code)) as failed_tools,
               min("timestamp") as first_at, max("timestamp") as last_at${
                 current
                   ? `,
               min("timestamp") filter (where event_id like 'cc:Stop:%') as turn_ended_at`
                   : ''
               }
        from inserted group by session_id
      ), last_mark as (
        select distinct on (session_id) session_id, event_type, error, exit_code,
               case event_type when 'session_start' then 'prompt' else 'ended' end as effect
        from inserted where event_type in ('session_start', 'session_stop')
          -- A hook's start or end in a session the hooks created was applied by asm_record_hooks already:
          -- applied again here, over the status it just wrote, it would undo what that kept (a failed turn).
          and not (event_id like 'cc:%' and exists (select 1 from sessions h where h.session_id = inserted.session_id and h.source = 'claude-code'))
        order by session_id, id desc
      ), ${
        current
          ? `hook_change as (
        -- asm_record_hooks's status changes for this insert (at most one a session), each applied only if the
        -- event that causes it is inserted here.
        select change.session_id, change.status, change.outcome
        from json_to_recordset(nullif(current_setting('asm.hook_changes', true), '')::json)
             as change(session_id text, event_id text, status text, outcome text)
        join inserted on inserted.session_id = change.session_id and inserted.event_id = change.event_id
      ), `
          : ''
      }updated as (
        update sessions s
        set event_count = s.event_count + added.n,
            failed_tool_count = s.failed_tool_count + added.failed_tools,
            -- Hooks' sessions by capture time (which is at most a few minutes ahead); others as received.
            created_at = case when s.source = 'claude-code' and added.first_at < s.created_at then added.first_at else s.created_at end,
            last_event_at = case when s.source = 'claude-code' then greatest(s.last_event_at, added.last_at) else greatest(s.last_event_at, now()) end,${
              current
                ? `
            -- The first turn's end (its first Stop hook), for telemetry_missing.
            turn_ended_at = coalesce(s.turn_ended_at, added.turn_ended_at),
            (status, outcome) = row((asm_session_after(
              case when hook_change.session_id is null then s.status else hook_change.status end,
              case when hook_change.session_id is null then s.outcome else hook_change.outcome end,
              last_mark.effect, last_mark.event_type, last_mark.error, last_mark.exit_code)).*)
        from added left join last_mark using (session_id) left join hook_change using (session_id)`
                : `
            (status, outcome) = row((asm_session_after(s.status, s.outcome, last_mark.effect, last_mark.event_type, last_mark.error, last_mark.exit_code)).*)
        from added left join last_mark using (session_id)`
            }
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

exports.up = (pgm) => {
  pgm.sql(RECORD_HOOKS);
  pgm.sql(applyToSessions(true));
  pgm.sql(`
    drop trigger t4_events__first_turn_end on events;
    drop function tg_events__first_turn_end();
  `);
};

exports.down = (pgm) => {
  pgm.sql(RECORD_HOOKS_BEFORE);
  pgm.sql(applyToSessions(false));
  pgm.sql(`
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
  `);
};
