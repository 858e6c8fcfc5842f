/**
 * Sessions and their events.
 * Event payload columns are `json`, not `jsonb`: `json` keeps the text it was given, so every JSON string
 * survives the round trip, U+0000 included (which `jsonb` and `text` refuse).
 *
 * What an event does to its session is done here, by a trigger, so that storing any number of events is
 * one statement whichever way they come, and the event and the change it causes commit together: the
 * session counts it (`event_count`, `last_event_at`, so listing sessions never counts rows), a
 * `session_stop` finishes it and a `session_start` makes it running again.
 */

/** @param {import('node-pg-migrate').MigrationBuilder} pgm */
exports.up = (pgm) => {
  pgm.createTable('sessions', {
    session_id: { type: 'text', primaryKey: true },
    session_name: { type: 'text', notNull: true },
    status: { type: 'text', notNull: true, default: 'running', check: "status in ('running', 'finished')" },
    project_dir: { type: 'text' },
    agent_name: { type: 'text' },
    created_at: { type: 'timestamptz', notNull: true, default: pgm.func('now()') },
    last_resumed_at: { type: 'timestamptz' },
    event_count: { type: 'bigint', notNull: true, default: 0 },
    // When the latest event arrived (the server's clock, not the event's own timestamp).
    last_event_at: { type: 'timestamptz' },
  });
  // GET /sessions lists newest first.
  pgm.createIndex('sessions', [{ name: 'created_at', sort: 'DESC' }, 'session_id'], { name: 'sessions_newest_first' });

  pgm.createTable('events', {
    id: { type: 'bigint', primaryKey: true, sequenceGenerated: { precedence: 'ALWAYS' } },
    session_id: { type: 'text', notNull: true, references: 'sessions', onDelete: 'CASCADE' },
    session_name: { type: 'text' },
    event_type: { type: 'text', notNull: true },
    timestamp: { type: 'timestamptz', notNull: true, default: pgm.func('now()') },
    tool_name: { type: 'text' },
    tool_input: { type: 'json' },
    tool_output: { type: 'json' },
    error: { type: 'text' },
    exit_code: { type: 'integer' },
    reason: { type: 'text' },
    role: { type: 'text' },
    content: { type: 'json' },
    event_id: { type: 'text' },
  });
  // The events of one session in arrival order; also serves the cascade delete of a session.
  pgm.createIndex('events', ['session_id', 'id'], { name: 'events_by_session' });
  // A retried event (same client-chosen event_id in the same session) is stored once.
  pgm.createIndex('events', ['session_id', 'event_id'], {
    name: 'events_event_id_unique',
    unique: true,
    where: 'event_id is not null',
  });

  pgm.sql(`
    create function asm_events_update_sessions() returns trigger
    language plpgsql as $$
    begin
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

    -- Once per statement, so a multi-row insert costs one trigger call. Statement triggers fire in name
    -- order: this one after the change log's events_inserted, so an event is logged before the session
    -- change it causes.
    create trigger events_update_sessions
      after insert on events
      referencing new table as inserted
      for each statement execute function asm_events_update_sessions();
  `);
};

/** @param {import('node-pg-migrate').MigrationBuilder} pgm */
exports.down = (pgm) => {
  pgm.sql(`
    drop trigger events_update_sessions on events;
    drop function asm_events_update_sessions();
  `);
  pgm.dropTable('events');
  pgm.dropTable('sessions');
};
