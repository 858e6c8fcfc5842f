/**
 * Usage reported by Claude Code's OpenTelemetry logs (POST /v1/logs), kept per session and per turn, and
 * the timings of its tool calls.
 *
 * - `usage_requests`: one row per `claude_code.api_request` record. Its `record_key` (a digest of the
 *   record) makes an exporter's retry of a batch that was in fact stored count once.
 * - `usage_turns`: the same summed per turn (`prompt.id`), kept up to date by the receiver.
 * - `sessions` gets the totals as columns, so lists and WebSocket messages carry them without a join, and
 *   the update trigger tells clients when they change (one `session_updated` per session per OTLP request:
 *   the receiver updates each session once per request).
 * - `tool_results`: one row per `claude_code.tool_result` record, joined to the hooks' tool call by
 *   `tool_use_id` when read, so it does not matter which of the two arrives first.
 *
 * None of these tables references `sessions`: records may arrive before the session's first hook. The
 * totals of those wait in `usage_requests`; a trigger adds them to the session when it is created. Both
 * sides take the same transaction-scoped advisory lock per session id, so a record committed while the
 * session is being created is counted exactly once. Deleting a session deletes its usage and tool results.
 */

/** @param {import('node-pg-migrate').MigrationBuilder} pgm */
exports.up = (pgm) => {
  const totals = {
    input_tokens: { type: 'bigint', notNull: true, default: 0 },
    output_tokens: { type: 'bigint', notNull: true, default: 0 },
    cache_read_tokens: { type: 'bigint', notNull: true, default: 0 },
    cache_creation_tokens: { type: 'bigint', notNull: true, default: 0 },
    // Whole micro-dollars: sums stay exact (Claude Code sends cost_usd_micros; cost_usd is converted).
    cost_usd_micros: { type: 'bigint', notNull: true, default: 0 },
    api_requests: { type: 'bigint', notNull: true, default: 0 },
    api_duration_ms: { type: 'bigint', notNull: true, default: 0 },
    // Distinct, sorted.
    models: { type: 'text[]', notNull: true, default: '{}' },
  };
  pgm.addColumns('sessions', totals);

  pgm.createTable('usage_requests', {
    session_id: { type: 'text', notNull: true },
    record_key: { type: 'text', notNull: true },
    prompt_id: { type: 'text' },
    model: { type: 'text' },
    input_tokens: { type: 'bigint', notNull: true },
    output_tokens: { type: 'bigint', notNull: true },
    cache_read_tokens: { type: 'bigint', notNull: true },
    cache_creation_tokens: { type: 'bigint', notNull: true },
    cost_usd_micros: { type: 'bigint', notNull: true },
    duration_ms: { type: 'bigint', notNull: true },
    occurred_at: { type: 'timestamptz', notNull: true },
    received_at: { type: 'timestamptz', notNull: true, default: pgm.func('now()') },
  });
  pgm.addConstraint('usage_requests', 'usage_requests_pkey', { primaryKey: ['session_id', 'record_key'] });

  pgm.createTable('usage_turns', {
    session_id: { type: 'text', notNull: true },
    prompt_id: { type: 'text', notNull: true },
    ...totals,
    first_request_at: { type: 'timestamptz', notNull: true },
    last_request_at: { type: 'timestamptz', notNull: true },
  });
  pgm.addConstraint('usage_turns', 'usage_turns_pkey', { primaryKey: ['session_id', 'prompt_id'] });

  pgm.createTable('tool_results', {
    session_id: { type: 'text', notNull: true },
    tool_use_id: { type: 'text', notNull: true },
    tool_name: { type: 'text' },
    success: { type: 'boolean' },
    duration_ms: { type: 'double precision' },
    error: { type: 'text' },
    occurred_at: { type: 'timestamptz', notNull: true },
    received_at: { type: 'timestamptz', notNull: true, default: pgm.func('now()') },
  });
  pgm.addConstraint('tool_results', 'tool_results_pkey', { primaryKey: ['session_id', 'tool_use_id'] });

  pgm.sql(`
    create function tg_sessions__apply_pending_usage() returns trigger
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

    create trigger t1_sessions__apply_pending_usage
      before insert on sessions
      for each row execute function tg_sessions__apply_pending_usage();

    create function tg_sessions__delete_usage() returns trigger
    language plpgsql as $$
    begin
      delete from usage_requests where session_id = old.session_id;
      delete from usage_turns where session_id = old.session_id;
      delete from tool_results where session_id = old.session_id;
      return null;
    end
    $$;

    create trigger t2_sessions__delete_usage
      after delete on sessions
      for each row execute function tg_sessions__delete_usage();

    -- Clients are told about the usage totals too.
    drop trigger t1_sessions__log_update on sessions;
    create trigger t1_sessions__log_update
      after update on sessions
      for each row
      when ((old.session_name, old.status, old.project_dir, old.agent_name, old.last_resumed_at, old.created_at,
             old.input_tokens, old.output_tokens, old.cache_read_tokens, old.cache_creation_tokens,
             old.cost_usd_micros, old.api_requests, old.api_duration_ms, old.models)
            is distinct from
            (new.session_name, new.status, new.project_dir, new.agent_name, new.last_resumed_at, new.created_at,
             new.input_tokens, new.output_tokens, new.cache_read_tokens, new.cache_creation_tokens,
             new.cost_usd_micros, new.api_requests, new.api_duration_ms, new.models))
      execute function tg_sessions__log_change();
  `);
};

/** @param {import('node-pg-migrate').MigrationBuilder} pgm */
exports.down = (pgm) => {
  pgm.sql(`
    drop trigger t1_sessions__log_update on sessions;
    create trigger t1_sessions__log_update
      after update on sessions
      for each row
      when ((old.session_name, old.status, old.project_dir, old.agent_name, old.last_resumed_at, old.created_at)
            is distinct from
            (new.session_name, new.status, new.project_dir, new.agent_name, new.last_resumed_at, new.created_at))
      execute function tg_sessions__log_change();

    drop trigger t2_sessions__delete_usage on sessions;
    drop function tg_sessions__delete_usage();
    drop trigger t1_sessions__apply_pending_usage on sessions;
    drop function tg_sessions__apply_pending_usage();
  `);
  pgm.dropTable('tool_results');
  pgm.dropTable('usage_turns');
  pgm.dropTable('usage_requests');
  pgm.dropColumns('sessions', ['input_tokens', 'output_tokens', 'cache_read_tokens', 'cache_creation_tokens', 'cost_usd_micros', 'api_requests', 'api_duration_ms', 'models']);
};
