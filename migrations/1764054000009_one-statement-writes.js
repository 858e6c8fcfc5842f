/**
 * Writes in one statement. A batch of events used to be five round trips (begin, lock the sessions, insert,
 * look up the events stored before, commit) and a batch of Claude Code hooks six or more; each costs both
 * processes a message, a system call and a wake-up, which at a few hooks per batch was most of the work.
 * These functions do the same steps, in the same order, inside PostgreSQL, so a batch is one statement:
 * sent alone it is its own transaction, and its deferred triggers still number and announce the changes
 * at commit.
 *
 * - asm_append_events: locks the sessions named (in session_id order, so two writers cannot deadlock)
 *   before the insert draws any id, so within a session id order is commit order; inserts the items in
 *   their order, skipping an event_id stored before; returns the rows inserted (created), in order, then,
 *   when some were skipped, the rows that the items name by event_id (not created). Items of a session
 *   that does not exist get no row. The caller matches rows to items (src/store/events.ts).
 * - asm_record_hooks: Claude Code hooks. Creates the sessions met for the first time (source claude-code),
 *   locks them, and walks the items in order, keeping each Claude Code session's status as its events
 *   imply (asm_claude_code_next_status): a status change is written just before the event that causes it,
 *   so clients hear the session change first. Returns the (session_id, event_id) pairs it stored.
 */

const EVENT_ARRAYS = `session_ids text[], session_names text[], event_types text[], timestamps timestamptz[],
    tool_names text[], tool_inputs json[], tool_outputs json[], errors text[], exit_codes int[], reasons text[], roles text[],
    contents json[], event_ids text[], tool_use_ids text[], prompt_ids text[], agent_ids text[], durations float8[],
    hook_inputs json[]`;

// The statements inside take their batch as arrays. Planned for the arrays' contents, each call costs a
// plan (as much again as running it); one plan for any arrays is as good, as every lookup is by key. It is
// made once per connection and made again after an ANALYZE of a table it reads (autovacuum runs one soon
// after a table starts to grow): a plan made while a table looked empty does not outlive its statistics.
const GENERIC_PLANS = 'set plan_cache_mode = force_generic_plan';

const EVENT_ROW = `id bigint, session_id text, session_name text, event_type text, "timestamp" timestamptz, tool_name text,
    tool_input json, tool_output json, error text, exit_code int, reason text, role text, content json, event_id text,
    tool_use_id text, prompt_id text, agent_id text, duration_ms float8, hook_input json`;

const EVENT_COLUMNS = `id, session_id, session_name, event_type, timestamp, tool_name, tool_input, tool_output, error,
    exit_code, reason, role, content, event_id, tool_use_id, prompt_id, agent_id, duration_ms, hook_input`;

/** @param {import('node-pg-migrate').MigrationBuilder} pgm */
exports.up = (pgm) => {
  pgm.sql(`
    create function asm_append_events(${EVENT_ARRAYS})
    returns table (created boolean, ${EVENT_ROW})
    language plpgsql ${GENERIC_PLANS} as $$
    #variable_conflict use_column
    declare
      locked text[];
      stored int;
    begin
      select array_agg(session_id) into locked
      from (select session_id from sessions where session_id = any(session_ids) order by session_id for no key update) s;
      -- A new statement, so a new snapshot: it sees everything committed before the locks were granted. A
      -- session created since is left out, as if not there yet: its events would draw ids unlocked.
      return query
        insert into events (session_id, session_name, event_type, timestamp, tool_name, tool_input, tool_output, error,
                            exit_code, reason, role, content, event_id, tool_use_id, prompt_id, agent_id, duration_ms, hook_input)
        select s.session_id, coalesce(item.session_name, s.session_name), item.event_type, coalesce(item.timestamp, now()),
               item.tool_name, item.tool_input, item.tool_output, item.error, item.exit_code, item.reason, item.role,
               item.content, item.event_id, item.tool_use_id, item.prompt_id, item.agent_id, item.duration_ms, item.hook_input
        from unnest(session_ids, session_names, event_types, timestamps, tool_names, tool_inputs, tool_outputs, errors,
                    exit_codes, reasons, roles, contents, event_ids, tool_use_ids, prompt_ids, agent_ids, durations, hook_inputs)
               with ordinality as item(session_id, session_name, event_type, timestamp, tool_name, tool_input, tool_output,
                                       error, exit_code, reason, role, content, event_id, tool_use_id, prompt_id, agent_id,
                                       duration_ms, hook_input, position)
        join sessions s on s.session_id = item.session_id and s.session_id = any(locked)
        order by item.position
        on conflict (session_id, event_id) where event_id is not null do nothing
        returning true, ${EVENT_COLUMNS};
      get diagnostics stored = row_count;
      -- Fewer rows than items of sessions found: some event_ids were stored before. Their rows are looked up
      -- (with those just inserted, which the caller matches to their items first).
      if stored < (select count(*) from unnest(session_ids) as item(session_id) where session_id = any(locked)) then
        return query
          select false, ${EVENT_COLUMNS.replace(/(\w+)/g, 'e.$1')}
          from unnest(session_ids, event_ids) as given(session_id, event_id)
          join events e on e.session_id = given.session_id and e.event_id = given.event_id
          where given.session_id = any(locked);
      end if;
    end
    $$;

    create function asm_claude_code_next_status(current text, effect text) returns text
    language sql immutable as $$
      select case effect
               when 'prompt' then 'running'
               when 'working' then case when current = 'finished' then current else 'running' end
               when 'turn_ended' then case when current = 'finished' then current else 'idle' end
               when 'ended' then 'finished'
               else current
             end
    $$;

    create function asm_record_hooks(project_dirs text[], new_session_names text[], effects text[], ${EVENT_ARRAYS})
    returns table (session_id text, event_id text)
    language plpgsql ${GENERIC_PLANS} as $$
    #variable_conflict use_column
    declare
      n int := coalesce(array_length(session_ids, 1), 0);
      -- The sessions of the batch, sorted, with their status and source as they stand.
      ids text[];
      statuses text[];
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
      next_status text;
    begin
      if n = 0 then
        return;
      end if;
      -- The row locks queue concurrent writers of the same sessions, so each status follows the one before.
      -- Sessions met for the first time are created (named by their first hook), then locked with the rest;
      -- one created meanwhile by another writer is locked here once that writer has committed.
      for attempt in 1..2 loop
        select array_agg(session_id order by session_id), array_agg(status order by session_id), array_agg(source order by session_id)
        into ids, statuses, sources
        from (select session_id, status, source from sessions where session_id = any(session_ids) order by session_id for no key update) locked;
        exit when attempt = 2 or coalesce(array_length(ids, 1), 0) = (select count(distinct id) from unnest(session_ids) id);
        insert into sessions (session_id, session_name, project_dir, agent_name, source)
        select distinct on (session_id) session_id, session_name, project_dir, 'claude-code', 'claude-code'
        from unnest(session_ids, new_session_names, project_dirs) with ordinality as given(session_id, session_name, project_dir, position)
        where session_id <> all(coalesce(ids, '{}'))
        order by session_id, position
        on conflict (session_id) do nothing;
      end loop;

      select array_agg(
               row_number = 1 and not exists (select 1 from events e where e.session_id = given.session_id and e.event_id = given.event_id)
               order by position)
      into fresh
      from (select session_id, event_id, position, row_number() over (partition by session_id, event_id order by position)
            from unnest(session_ids, event_ids) with ordinality as given(session_id, event_id, position)) given;

      -- Item n + 1 only writes the last run.
      for i in 1..n + 1 loop
        next_status := null;
        if i <= n then
          k := array_position(ids, session_ids[i]);
          if fresh[i] and sources[k] = 'claude-code' then
            next_status := nullif(asm_claude_code_next_status(statuses[k], effects[i]), statuses[k]);
          end if;
        end if;
        if i > run_start and (i > n or next_status is not null) then
          if array_length(changed_ids, 1) > 0 then
            -- A session running again after it ended has no outcome until its next stop.
            update sessions s
            set status = changed.status,
                outcome = case when changed.status = 'finished' then coalesce(changed.outcome, s.outcome) end
            from unnest(changed_ids, changed_statuses, changed_outcomes) as changed(session_id, status, outcome)
            where s.session_id = changed.session_id;
            changed_ids := '{}';
            changed_statuses := '{}';
            changed_outcomes := '{}';
          end if;
          return query
            select appended.session_id, appended.event_id
            from asm_append_events(session_ids[run_start:i - 1], session_names[run_start:i - 1], event_types[run_start:i - 1],
                                   timestamps[run_start:i - 1], tool_names[run_start:i - 1], tool_inputs[run_start:i - 1],
                                   tool_outputs[run_start:i - 1], errors[run_start:i - 1], exit_codes[run_start:i - 1],
                                   reasons[run_start:i - 1], roles[run_start:i - 1], contents[run_start:i - 1],
                                   event_ids[run_start:i - 1], tool_use_ids[run_start:i - 1], prompt_ids[run_start:i - 1],
                                   agent_ids[run_start:i - 1], durations[run_start:i - 1], hook_inputs[run_start:i - 1]) appended
            where appended.created;
          run_start := i;
        end if;
        if next_status is not null then
          c := coalesce(array_position(changed_ids, session_ids[i]), coalesce(array_length(changed_ids, 1), 0) + 1);
          changed_ids[c] := session_ids[i];
          changed_statuses[c] := next_status;
          -- A stop's outcome goes with its status change, as the events trigger would set it: one change, not two.
          changed_outcomes[c] := case when next_status = 'finished' and event_types[i] = 'session_stop' then
                                        case when errors[i] is not null or coalesce(exit_codes[i], 0) <> 0 then 'failed' else 'succeeded' end
                                 end;
          statuses[k] := next_status;
        end if;
      end loop;
    end
    $$;
  `);
};

/** @param {import('node-pg-migrate').MigrationBuilder} pgm */
exports.down = (pgm) => {
  pgm.sql(`
    drop function asm_record_hooks(text[], text[], text[], ${EVENT_ARRAYS.replace(/\w+ (\w+\[\])/g, '$1')});
    drop function asm_claude_code_next_status(text, text);
    drop function asm_append_events(${EVENT_ARRAYS.replace(/\w+ (\w+\[\])/g, '$1')});
  `);
};
