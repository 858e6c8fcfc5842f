/**
 * Sessions and their events.
 * Event payload columns are `json`, not `jsonb`: `json` keeps the text it was given, so every JSON string
 * survives the round trip, U+0000 included (which `jsonb` and `text` refuse).
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
};

/** @param {import('node-pg-migrate').MigrationBuilder} pgm */
exports.down = (pgm) => {
  pgm.dropTable('events');
  pgm.dropTable('sessions');
};
