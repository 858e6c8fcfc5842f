/**
 * Trigger names that say their order, and the order changed for session_stop.
 *
 * PostgreSQL fires triggers of the same table, timing and event in the order of their names. That order
 * decides the order of the change log, so it is made explicit: triggers are named `t<order>_<table>__<action>`
 * and their functions `tg_<table>__<action>`.
 *
 * The order itself changes: an event's effect on its session is now applied (and logged, as
 * `session_updated`) before the event is logged. A client therefore hears that a session finished before it
 * hears the `session_stop` event that finished it, as the original server told its dashboards; in a batch,
 * the session's change precedes every event of that statement, so each stop's status change precedes its
 * event there too.
 */

/** @param {import('node-pg-migrate').MigrationBuilder} pgm */
exports.up = (pgm) => {
  pgm.sql(`
    alter function asm_events_update_sessions() rename to tg_events__apply_to_sessions;
    alter trigger events_update_sessions on events rename to t1_events__apply_to_sessions;
    alter function asm_events_inserted() rename to tg_events__log_changes;
    alter trigger events_inserted on events rename to t2_events__log_changes;

    alter function asm_session_changed() rename to tg_sessions__log_change;
    alter trigger sessions_inserted_or_deleted on sessions rename to t1_sessions__log_insert_or_delete;
    alter trigger sessions_updated on sessions rename to t1_sessions__log_update;

    -- A constraint trigger is named by its constraint too: made anew rather than renamed.
    alter function asm_number_changes() rename to tg_changes__number_at_commit;
    drop trigger changes_numbered_at_commit on changes;
    create constraint trigger t1_changes__number_at_commit
      after insert on changes
      deferrable initially deferred
      for each row when (new.opens_tx) execute function tg_changes__number_at_commit();
  `);
};

/** @param {import('node-pg-migrate').MigrationBuilder} pgm */
exports.down = (pgm) => {
  pgm.sql(`
    drop trigger t1_changes__number_at_commit on changes;
    alter function tg_changes__number_at_commit() rename to asm_number_changes;
    create constraint trigger changes_numbered_at_commit
      after insert on changes
      deferrable initially deferred
      for each row when (new.opens_tx) execute function asm_number_changes();

    alter trigger t1_sessions__log_update on sessions rename to sessions_updated;
    alter trigger t1_sessions__log_insert_or_delete on sessions rename to sessions_inserted_or_deleted;
    alter function tg_sessions__log_change() rename to asm_session_changed;

    alter trigger t2_events__log_changes on events rename to events_inserted;
    alter function tg_events__log_changes() rename to asm_events_inserted;
    alter trigger t1_events__apply_to_sessions on events rename to events_update_sessions;
    alter function tg_events__apply_to_sessions() rename to asm_events_update_sessions;
  `);
};
