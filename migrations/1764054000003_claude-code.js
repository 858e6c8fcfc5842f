/**
 * Claude Code sessions, reported by its hooks (POST /hooks/claude-code).
 *
 * - `sessions.source` says where a session came from: `claude-code` for sessions the hooks route created,
 *   null for sessions of the original API. It is never changed after the insert (PATCH cannot reach it),
 *   so it can decide behaviour where `agent_name` cannot.
 * - A status `idle`: a Claude Code session whose turn has ended and that waits for its user. Sessions of
 *   the original API never take it.
 * - On events, the ids that tie Claude Code's hooks together (`tool_use_id` pairs a tool call with its
 *   result and with OpenTelemetry's tool_result record, `prompt_id` groups a turn, `agent_id` marks what a
 *   subagent did), the tool's own `duration_ms`, and `hook_input`: the hook's input as sent, minus the
 *   fields already stored in other columns (so a tool's output is never stored twice). `json`, not
 *   `jsonb`, like the other payload columns: any JSON string survives.
 */

/** @param {import('node-pg-migrate').MigrationBuilder} pgm */
exports.up = (pgm) => {
  pgm.addColumn('sessions', { source: { type: 'text' } });
  pgm.dropConstraint('sessions', 'sessions_status_check');
  pgm.addConstraint('sessions', 'sessions_status_check', { check: "status in ('running', 'idle', 'finished')" });

  pgm.addColumns('events', {
    tool_use_id: { type: 'text' },
    prompt_id: { type: 'text' },
    agent_id: { type: 'text' },
    duration_ms: { type: 'double precision' },
    hook_input: { type: 'json' },
  });
  // A session's events filtered by these ids (GET /sessions/{id}/events?tool_use_id=…), and joins by tool call.
  pgm.createIndex('events', ['session_id', 'tool_use_id', 'id'], { name: 'events_by_tool_use_id', where: 'tool_use_id is not null' });
  pgm.createIndex('events', ['session_id', 'prompt_id', 'id'], { name: 'events_by_prompt_id', where: 'prompt_id is not null' });
  pgm.createIndex('events', ['session_id', 'agent_id', 'id'], { name: 'events_by_agent_id', where: 'agent_id is not null' });
};

/** @param {import('node-pg-migrate').MigrationBuilder} pgm */
exports.down = (pgm) => {
  pgm.dropIndex('events', [], { name: 'events_by_agent_id' });
  pgm.dropIndex('events', [], { name: 'events_by_prompt_id' });
  pgm.dropIndex('events', [], { name: 'events_by_tool_use_id' });
  pgm.dropColumns('events', ['tool_use_id', 'prompt_id', 'agent_id', 'duration_ms', 'hook_input']);
  // Sessions that were idle cannot stay so under the old rule: they are running again.
  pgm.sql("update sessions set status = 'running' where status = 'idle'");
  pgm.dropConstraint('sessions', 'sessions_status_check');
  pgm.addConstraint('sessions', 'sessions_status_check', { check: "status in ('running', 'finished')" });
  pgm.dropColumn('sessions', 'source');
};
