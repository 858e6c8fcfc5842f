/**
 * What storing an event costs PostgreSQL, cut without giving up a guarantee (measured with pg_stat_statements
 * and the backend's CPU time; the figures are in the README's bench section):
 *
 * - The search text is cleaned with replace() and translate() rather than a regular expression: the same
 *   projection for search, at a fraction of the cost (the regular expression was a third of a bulk insert).
 * - How many changes the transaction has written is kept in a transaction-local setting that the triggers
 *   writing changes add to, instead of being looked up in the change log: once per statement to know whether
 *   a change opens its transaction, and once more at commit to number them. A setting made inside a
 *   savepoint that is rolled back is rolled back with the changes it counted.
 * - An event's session is checked once per statement, by the trigger that already locks and updates the
 *   sessions an insert touches, instead of by a foreign key's per-row lookup; deleting a session deletes its
 *   events in one statement. An event for a session that does not exist is still refused (23503).
 * - The session counters and the status an insert implies are computed from the statement's start and stop
 *   events alone, not by sorting every inserted row.
 */

const SEARCH_TEXT_SOURCE = `
        coalesce(left(content::text, 2000), '') || ' ' || coalesce(left(tool_name, 200), '') || ' ' ||
        coalesce(left(tool_input::text, 1000), '') || ' ' || coalesce(left(tool_output::text, 2000), '') || ' ' ||
        coalesce(left(error, 500), '') || ' ' || coalesce(left(reason, 200), '')`;

// A message's content blocks, JSON escapes of line breaks and tabs, then quotes, brackets, commas and the
// remaining backslashes all become spaces. (Other \\u escapes keep their digits: rare, and harmless to search.)
const CHEAP_SEARCH_TEXT = `translate(
        replace(replace(replace(replace(replace(${SEARCH_TEXT_SOURCE},
          '"type":"text"', ' '), '"text":', ' '), '\\n', ' '), '\\t', ' '), '\\r', ' '),
        '"{}[],\\', '        ')`;

const REGEXP_SEARCH_TEXT = `regexp_replace(${SEARCH_TEXT_SOURCE},
        '"type":"text",?|"text":|\\\\[nrt]|\\\\u[0-9a-fA-F]{4}|[\\\\"{}\\[\\],]', ' ', 'g')`;

const searchTextColumn = (expression) => `
    drop index events_search_failed_trgm;
    drop index events_search_trgm;
    alter table events drop column search_text;
    alter table events add column search_text text generated always as (${expression}) stored;
    create index events_search_trgm on events using gin (search_text gin_trgm_ops);
    create index events_search_failed_trgm on events using gin (search_text gin_trgm_ops)
      where (error is not null or coalesce(exit_code, 0) <> 0);
`;

// How many changes this transaction has written so far: 0 before the first.
const CHANGES_IN_TX = `coalesce(nullif(current_setting('asm.changes_in_tx', true), ''), '0')::bigint`;

/** @param {import('node-pg-migrate').MigrationBuilder} pgm */
exports.up = (pgm) => {
  // Rewrites the events table once, as adding the column did.
  pgm.sql(searchTextColumn(CHEAP_SEARCH_TEXT));

  pgm.sql(`
    create function asm_count_changes(written bigint) returns bigint
    language sql volatile as $$
      -- The count before these: 0 when they open the transaction.
      select set_config('asm.changes_in_tx', (${CHANGES_IN_TX} + written)::text, true)::bigint - written
    $$;

    create or replace function tg_events__log_changes() returns trigger
    language plpgsql as $$
    declare
      first_of_tx boolean := ${CHANGES_IN_TX} = 0;
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
      written bigint := ${CHANGES_IN_TX};
      last bigint;
    begin
      if written = 0 then
        return null;
      end if;
      update change_counter set last_seq = last_seq + written returning last_seq into last;
      insert into change_batches (first_seq, last_seq, tx, committed_at)
      values (last - written + 1, last, pg_current_xact_id(), clock_timestamp());
      perform pg_notify('asm_changes', last::text);
      return null;
    end
    $$;

    drop function asm_first_change_of_tx();

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

    alter table events drop constraint events_session_id_fkey;

    create function tg_sessions__delete_events() returns trigger
    language plpgsql as $$
    begin
      delete from events e using deleted where e.session_id = deleted.session_id;
      return null;
    end
    $$;

    create trigger t3_sessions__delete_events
      after delete on sessions
      referencing old table as deleted
      for each statement execute function tg_sessions__delete_events();
  `);
};

/** @param {import('node-pg-migrate').MigrationBuilder} pgm */
exports.down = (pgm) => {
  pgm.sql(`
    drop trigger t3_sessions__delete_events on sessions;
    drop function tg_sessions__delete_events();
    alter table events add constraint events_session_id_fkey foreign key (session_id) references sessions (session_id) on delete cascade;

    create or replace function tg_events__apply_to_sessions() returns trigger
    language plpgsql as $$
    begin
      perform 1 from sessions where session_id in (select session_id from inserted) order by session_id for no key update;
      update sessions s
      set event_count = s.event_count + added.n,
          last_event_at = greatest(s.last_event_at, now()),
          status = coalesce(added.status, s.status),
          outcome = case when added.status is null then s.outcome else added.outcome end
      from (select session_id, count(*) as n,
                   (array_agg(case event_type when 'session_stop' then 'finished' else 'running' end order by id desc)
                      filter (where event_type in ('session_start', 'session_stop')))[1] as status,
                   (array_agg(case when event_type = 'session_start' then null
                                   when error is not null or coalesce(exit_code, 0) <> 0 then 'failed'
                                   else 'succeeded' end order by id desc)
                      filter (where event_type in ('session_start', 'session_stop')))[1] as outcome
            from inserted group by session_id) added
      where s.session_id = added.session_id;
      return null;
    end
    $$;

    create function asm_first_change_of_tx() returns boolean
    language sql stable as $$
      select not exists (select 1 from changes where tx = pg_current_xact_id())
    $$;

    create or replace function tg_changes__number_at_commit() returns trigger
    language plpgsql as $$
    declare
      written bigint;
      last bigint;
    begin
      select count(*) into written from changes where tx = pg_current_xact_id();
      if written = 0 then
        return null;
      end if;
      update change_counter set last_seq = last_seq + written returning last_seq into last;
      insert into change_batches (first_seq, last_seq, tx, committed_at)
      values (last - written + 1, last, pg_current_xact_id(), clock_timestamp());
      perform pg_notify('asm_changes', last::text);
      return null;
    end
    $$;

    create or replace function tg_sessions__log_change() returns trigger
    language plpgsql as $$
    begin
      if tg_op = 'DELETE' then
        insert into changes (kind, session_id, opens_tx) values ('session_deleted', old.session_id, asm_first_change_of_tx());
      else
        insert into changes (kind, session_id, session, opens_tx)
        values (case tg_op when 'INSERT' then 'session_created' else 'session_updated' end,
                new.session_id, to_json(new), asm_first_change_of_tx());
      end if;
      return null;
    end
    $$;

    create or replace function tg_events__log_changes() returns trigger
    language plpgsql as $$
    declare
      first_of_tx boolean := asm_first_change_of_tx();
    begin
      insert into changes (kind, session_id, event_id, opens_tx)
      select 'event', inserted.session_id, inserted.id, first_of_tx and row_number() over (order by inserted.id) = 1
      from inserted order by inserted.id;
      return null;
    end
    $$;

    drop function asm_count_changes(bigint);
  `);
  pgm.sql(searchTextColumn(REGEXP_SEARCH_TEXT));
};
