/**
 * The change log behind the live feed, and the triggers that fill it and NOTIFY.
 *
 * Every committed change (session created, updated, deleted; event stored) gets a row in `changes`, written
 * by a trigger inside the writing transaction, so a rolled-back write leaves no trace.
 *
 * Each change has a number, `seq`, in commit order and without gaps, so a reader that has seen N knows it
 * has seen everything up to N and can ask for what follows. A plain sequence cannot promise that: T1 takes
 * 10, T2 takes 11, T2 commits first, and a reader that saw 11 never goes back for 10. So the numbers are
 * given at commit time, by a deferred constraint trigger that runs once per transaction and takes them
 * from a one-row counter. The counter's row lock is held until commit, so committing writers number their
 * changes one transaction at a time; by then a transaction holds all its other locks, so waiting here
 * cannot deadlock. A transaction that rolls back after taking numbers also rolls back the counter, so the
 * next one takes the same numbers: no gaps. (NOTIFY already serialises committing transactions the same way.)
 *
 * The numbers are kept per transaction, not per row: the commit writes one `change_batches` row (its first
 * and last number), and a change's number is that first number plus its place among the transaction's
 * changes (by `id`, write order). Numbering each row would rewrite every row just written.
 *
 * The notification carries only the last number of the transaction; listeners read the rows. That keeps
 * payloads far below the 8000-byte limit whatever the size of an event, and one transaction sends one
 * notification however many rows it wrote. Deleting a session removes its events by cascade, and events
 * have no delete trigger, so that sends one notification, for the session.
 */

/** @param {import('node-pg-migrate').MigrationBuilder} pgm */
exports.up = (pgm) => {
  pgm.createTable('change_counter', {
    only_row: { type: 'boolean', primaryKey: true, default: true, check: 'only_row' },
    last_seq: { type: 'bigint', notNull: true },
  });
  pgm.sql('insert into change_counter (only_row, last_seq) values (true, 0)');

  pgm.createTable('changes', {
    // Write order within a transaction.
    id: { type: 'bigint', primaryKey: true, sequenceGenerated: { precedence: 'ALWAYS' } },
    tx: { type: 'xid8', notNull: true, default: pgm.func('pg_current_xact_id()') },
    // Set on the first change of its transaction: that row's deferred trigger numbers them all.
    opens_tx: { type: 'boolean', notNull: true, default: false },
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
  pgm.createIndex('changes', ['tx', 'id'], { name: 'changes_by_tx' });

  pgm.createTable('change_batches', {
    first_seq: { type: 'bigint', primaryKey: true },
    last_seq: { type: 'bigint', notNull: true, unique: true },
    tx: { type: 'xid8', notNull: true },
    committed_at: { type: 'timestamptz', notNull: true },
  });
  pgm.createIndex('change_batches', 'committed_at', { name: 'change_batches_by_age' });

  pgm.sql(`
    -- True when the current transaction has not written a change yet.
    create function asm_first_change_of_tx() returns boolean
    language sql stable as $$
      select not exists (select 1 from changes where tx = pg_current_xact_id())
    $$;

    create function asm_session_changed() returns trigger
    language plpgsql as $$
    begin
      if tg_op = 'DELETE' then
        insert into changes (kind, session_id, opens_tx) values ('session_deleted', old.session_id, asm_first_change_of_tx());
      else
        insert into changes (kind, session_id, session, opens_tx)
        values (case tg_op when 'INSERT' then 'session_created' else 'session_updated' end,
                new.session_id, to_jsonb(new), asm_first_change_of_tx());
      end if;
      return null;
    end
    $$;

    create trigger sessions_inserted_or_deleted
      after insert or delete on sessions
      for each row execute function asm_session_changed();

    -- An update that changes nothing a client is told about is not a change: no row, no broadcast. The
    -- event count and last activity follow from the event messages themselves.
    create trigger sessions_updated
      after update on sessions
      for each row
      when ((old.session_name, old.status, old.project_dir, old.agent_name, old.last_resumed_at, old.created_at)
            is distinct from
            (new.session_name, new.status, new.project_dir, new.agent_name, new.last_resumed_at, new.created_at))
      execute function asm_session_changed();

    create function asm_events_inserted() returns trigger
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

    -- Once per statement, so a multi-row insert costs one trigger call.
    create trigger events_inserted
      after insert on events
      referencing new table as inserted
      for each statement execute function asm_events_inserted();

    create function asm_number_changes() returns trigger
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

    create constraint trigger changes_numbered_at_commit
      after insert on changes
      deferrable initially deferred
      for each row when (new.opens_tx) execute function asm_number_changes();
  `);
};

/** @param {import('node-pg-migrate').MigrationBuilder} pgm */
exports.down = (pgm) => {
  pgm.sql(`
    drop trigger changes_numbered_at_commit on changes;
    drop function asm_number_changes();
    drop trigger events_inserted on events;
    drop function asm_events_inserted();
    drop trigger sessions_updated on sessions;
    drop trigger sessions_inserted_or_deleted on sessions;
    drop function asm_session_changed();
    drop function asm_first_change_of_tx();
  `);
  pgm.dropTable('change_batches');
  pgm.dropTable('changes');
  pgm.dropTable('change_counter');
};
