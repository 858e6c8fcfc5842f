/**
 * A session's outcome: how its last stop went.
 *
 * "Failed" is not a status (`status` keeps running / idle / finished): it is derived from the stop. A
 * `session_stop` with a non-zero `exit_code` or an `error` makes the outcome `failed`, any other stop
 * `succeeded`; a `session_start` (the session runs again) clears it to null, and so does a resume through
 * PATCH or a Claude Code prompt after the session ended (the store does those). Clients are told when it
 * changes: the update trigger's WHEN clause lists it beside the other columns.
 */

const LOG_UPDATE_COLUMNS = [
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
];

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
  pgm.addColumn('sessions', { outcome: { type: 'text', check: "outcome in ('failed', 'succeeded')" } });
  // GET /sessions?outcome=failed, newest first.
  pgm.createIndex('sessions', ['outcome', { name: 'created_at', sort: 'DESC' }, 'session_id'], { name: 'sessions_by_outcome', where: 'outcome is not null' });

  pgm.sql(`
    create or replace function tg_events__apply_to_sessions() returns trigger
    language plpgsql as $$
    begin
      -- Rows locked in one order, so two transactions touching the same sessions cannot deadlock here.
      perform 1 from sessions where session_id in (select session_id from inserted) order by session_id for no key update;
      update sessions s
      set event_count = s.event_count + added.n,
          last_event_at = greatest(s.last_event_at, now()),
          status = coalesce(added.status, s.status),
          outcome = case when added.status is null then s.outcome else added.outcome end
      from (select session_id, count(*) as n,
                   -- The status the session's last session_start or session_stop of this statement implies.
                   (array_agg(case event_type when 'session_stop' then 'finished' else 'running' end order by id desc)
                      filter (where event_type in ('session_start', 'session_stop')))[1] as status,
                   -- And the outcome: how that stop went; none after a start.
                   (array_agg(case when event_type = 'session_start' then null
                                   when error is not null or coalesce(exit_code, 0) <> 0 then 'failed'
                                   else 'succeeded' end order by id desc)
                      filter (where event_type in ('session_start', 'session_stop')))[1] as outcome
            from inserted group by session_id) added
      where s.session_id = added.session_id;
      return null;
    end
    $$;

    -- Sessions stored before: the outcome of their last start or stop (before the trigger knows the column,
    -- so clients are not sent every finished session again).
    update sessions s
    set outcome = last.outcome
    from (select distinct on (session_id) session_id,
                 case when event_type = 'session_start' then null
                      when error is not null or coalesce(exit_code, 0) <> 0 then 'failed'
                      else 'succeeded' end as outcome
          from events
          where event_type in ('session_start', 'session_stop')
          order by session_id, id desc) last
    where s.session_id = last.session_id and s.status = 'finished' and last.outcome is not null;
  `);
  pgm.sql(logUpdateTrigger([...LOG_UPDATE_COLUMNS, 'outcome']));
};

/** @param {import('node-pg-migrate').MigrationBuilder} pgm */
exports.down = (pgm) => {
  pgm.sql(logUpdateTrigger(LOG_UPDATE_COLUMNS));
  pgm.sql(`
    create or replace function tg_events__apply_to_sessions() returns trigger
    language plpgsql as $$
    begin
      perform 1 from sessions where session_id in (select session_id from inserted) order by session_id for no key update;
      update sessions s
      set event_count = s.event_count + added.n,
          last_event_at = greatest(s.last_event_at, now()),
          status = coalesce(added.status, s.status)
      from (select session_id, count(*) as n,
                   (array_agg(case event_type when 'session_stop' then 'finished' else 'running' end order by id desc)
                      filter (where event_type in ('session_start', 'session_stop')))[1] as status
            from inserted group by session_id) added
      where s.session_id = added.session_id;
      return null;
    end
    $$;
  `);
  pgm.dropIndex('sessions', [], { name: 'sessions_by_outcome' });
  pgm.dropColumn('sessions', 'outcome');
};
