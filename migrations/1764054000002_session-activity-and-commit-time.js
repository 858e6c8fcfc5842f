/**
 * Per-session activity (how many events, when the last arrived), and the status an event implies
 * (`session_stop` finishes a session, `session_start` makes it running), both kept by the events trigger:
 * storing events is then one statement, whichever way they come, and the event and the status change it
 * causes commit together. Also the commit time of each change, so the live feed can measure how long a
 * change took to reach the clients.
 *
 * Activity is not a change a client must be told about (it follows from the `event` messages), so the
 * update trigger ignores those two columns: no `session_updated` per event, only for a status change.
 */

/** @param {import('node-pg-migrate').MigrationBuilder} pgm */
exports.up = (pgm) => {
  pgm.addColumns('sessions', {
    event_count: { type: 'bigint', notNull: true, default: 0 },
    last_event_at: { type: 'timestamptz' },
  });
  pgm.sql(`
    update sessions s set event_count = e.n, last_event_at = e.last
    from (select session_id, count(*) as n, max(timestamp) as last from events group by session_id) e
    where s.session_id = e.session_id;
  `);
  pgm.addColumns('changes', { committed_at: { type: 'timestamptz' } });

  pgm.sql(`
    drop trigger sessions_updated on sessions;
    create trigger sessions_updated
      after update on sessions
      for each row
      when ((old.session_name, old.status, old.project_dir, old.agent_name, old.last_resumed_at, old.created_at)
            is distinct from
            (new.session_name, new.status, new.project_dir, new.agent_name, new.last_resumed_at, new.created_at))
      execute function asm_session_changed();

    create or replace function asm_events_inserted() returns trigger
    language plpgsql as $$
    declare
      first_of_tx boolean := asm_first_change_of_tx();
    begin
      insert into changes (kind, session_id, event_id, opens_tx)
      select 'event', inserted.session_id, inserted.id, first_of_tx and row_number() over (order by inserted.id) = 1
      from inserted order by inserted.id;

      -- Rows locked in one order, so two transactions touching the same sessions cannot deadlock here.
      perform 1 from sessions where session_id in (select session_id from inserted) order by session_id for no key update;
      update sessions s
      set event_count = s.event_count + added.n,
          last_event_at = greatest(s.last_event_at, now()),
          status = coalesce(added.status, s.status)
      from (select session_id, count(*) as n,
                   -- The status the session's last session_start or session_stop of this statement implies.
                   (array_agg(case event_type when 'session_stop' then 'finished' else 'running' end order by id desc)
                      filter (where event_type in ('session_start', 'session_stop')))[1] as status
            from inserted group by session_id) added
      where s.session_id = added.session_id;
      return null;
    end
    $$;

    create or replace function asm_number_changes() returns trigger
    language plpgsql as $$
    declare
      pending bigint;
      last bigint;
    begin
      select count(*) into pending from changes where tx = pg_current_xact_id() and seq is null;
      if pending = 0 then
        return null;
      end if;
      update change_counter set last_seq = last_seq + pending returning last_seq into last;
      update changes c set seq = last - pending + numbered.position, committed_at = clock_timestamp()
      from (select id, row_number() over (order by id) as position
            from changes where tx = pg_current_xact_id() and seq is null) numbered
      where c.id = numbered.id;
      perform pg_notify('asm_changes', last::text);
      return null;
    end
    $$;
  `);
};

/** @param {import('node-pg-migrate').MigrationBuilder} pgm */
exports.down = (pgm) => {
  pgm.sql(`
    drop trigger sessions_updated on sessions;
    create trigger sessions_updated
      after update on sessions
      for each row when (old.* is distinct from new.*) execute function asm_session_changed();

    create or replace function asm_events_inserted() returns trigger
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

    create or replace function asm_number_changes() returns trigger
    language plpgsql as $$
    declare
      pending bigint;
      last bigint;
    begin
      select count(*) into pending from changes where tx = pg_current_xact_id() and seq is null;
      if pending = 0 then
        return null;
      end if;
      update change_counter set last_seq = last_seq + pending returning last_seq into last;
      update changes c set seq = last - pending + numbered.position
      from (select id, row_number() over (order by id) as position
            from changes where tx = pg_current_xact_id() and seq is null) numbered
      where c.id = numbered.id;
      perform pg_notify('asm_changes', last::text);
      return null;
    end
    $$;
  `);
  pgm.dropColumns('changes', ['committed_at']);
  pgm.dropColumns('sessions', ['event_count', 'last_event_at']);
};
