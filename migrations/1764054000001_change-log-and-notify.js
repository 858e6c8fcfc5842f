/**
 * The change log and the triggers that fill it and NOTIFY.
 *
 * Every committed change (session created, updated, deleted; event stored) gets a row in `changes`, written
 * by a trigger in the writing transaction, so a rolled-back write leaves no trace. The notification carries
 * only the writing transaction's id: Postgres folds identical notifications of one transaction into one, so a
 * transaction sends exactly one, however many rows it touched, and its size never nears the 8000-byte limit.
 * Each listening instance reads the rows of the transactions it heard about in one query.
 *
 * Deleting a session removes its events by cascade; events have no delete trigger, so that sends one
 * notification, for the session, not one per event.
 */

/** @param {import('node-pg-migrate').MigrationBuilder} pgm */
exports.up = (pgm) => {
  pgm.createTable('changes', {
    seq: { type: 'bigint', primaryKey: true, sequenceGenerated: { precedence: 'ALWAYS' } },
    tx: { type: 'xid8', notNull: true, default: pgm.func('pg_current_xact_id()') },
    kind: {
      type: 'text',
      notNull: true,
      check: "kind in ('session_created', 'session_updated', 'session_deleted', 'event')",
    },
    session_id: { type: 'text', notNull: true },
    // The session as it was written (session changes); sessions hold no U+0000, so jsonb is safe here.
    session: { type: 'jsonb' },
    // The event stored (event changes); events never change, so the row itself is read.
    event_id: { type: 'bigint' },
    created_at: { type: 'timestamptz', notNull: true, default: pgm.func('now()') },
  });
  pgm.createIndex('changes', 'tx', { name: 'changes_by_tx' });
  pgm.createIndex('changes', 'created_at', { name: 'changes_by_age' });

  pgm.sql(`
    create function asm_session_changed() returns trigger
    language plpgsql as $$
    begin
      if tg_op = 'DELETE' then
        insert into changes (kind, session_id) values ('session_deleted', old.session_id);
      else
        insert into changes (kind, session_id, session)
        values (case tg_op when 'INSERT' then 'session_created' else 'session_updated' end, new.session_id, to_jsonb(new));
      end if;
      perform pg_notify('asm_changes', pg_current_xact_id()::text);
      return null;
    end
    $$;

    create trigger sessions_inserted_or_deleted
      after insert or delete on sessions
      for each row execute function asm_session_changed();

    -- An update that changes nothing is not a change: no row, no broadcast.
    create trigger sessions_updated
      after update on sessions
      for each row when (old.* is distinct from new.*) execute function asm_session_changed();

    create function asm_events_inserted() returns trigger
    language plpgsql as $$
    begin
      insert into changes (kind, session_id, event_id)
      select 'event', inserted.session_id, inserted.id from inserted order by inserted.id;
      if found then
        perform pg_notify('asm_changes', pg_current_xact_id()::text);
      end if;
      return null;
    end
    $$;

    -- Once per statement, so a multi-row insert costs one trigger call and one notification.
    create trigger events_inserted
      after insert on events
      referencing new table as inserted
      for each statement execute function asm_events_inserted();
  `);
};

/** @param {import('node-pg-migrate').MigrationBuilder} pgm */
exports.down = (pgm) => {
  pgm.sql(`
    drop trigger events_inserted on events;
    drop function asm_events_inserted();
    drop trigger sessions_updated on sessions;
    drop trigger sessions_inserted_or_deleted on sessions;
    drop function asm_session_changed();
  `);
  pgm.dropTable('changes');
};
