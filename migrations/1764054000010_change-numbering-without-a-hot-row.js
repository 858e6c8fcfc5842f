/**
 * Changes are numbered at commit without updating one row per commit.
 *
 * Until now the trigger that numbers a transaction's changes at commit updated the counter row
 * (change_counter), and the row lock made commits take their numbers one at a time. Every commit made a new
 * version of that row. A waiting committer first waited for the row, then re-read the newest version before
 * it could update it. With 8 committing connections, a one-event transaction cost PostgreSQL 730–760 µs of
 * CPU that way, and 560–600 µs as it is done here (pgbench).
 *
 * Now the trigger takes a transaction-scoped advisory lock and reads the last number from the newest batch
 * (change_batches' unique index on last_seq). The lock is held until the transaction has committed, as the
 * row lock was. So the next committer reads a number that is already committed: numbers still follow commit
 * order without a gap. A transaction that rolls back after numbering its changes takes its batch with it.
 * Should two batches ever claim one number (a writer in a repeatable-read transaction, whose snapshot
 * cannot see the newest batch), the unique indexes refuse the second and its transaction rolls back.
 *
 * change_counter stays as a floor, no longer updated at commit: numbering goes on from the greater of it and
 * the newest batch (asm_last_seq). It holds where the count stood at this migration, for a log already
 * pruned to nothing. Pruning keeps the newest batch, so the count never goes back (src/store/changes.ts).
 */

// Two int4 keys: the usage triggers' per-session advisory locks use another first key (hashtext('asm_usage')).
const NUMBERING_LOCK = "hashtext('asm_changes'), 0";

const CHANGES_IN_TX = `coalesce(nullif(current_setting('asm.changes_in_tx', true), ''), '0')::bigint`;

// The trigger that numbers a transaction's changes at commit; `takeNumbers` sets `last` to the last number.
const numberAtCommit = (takeNumbers) => `
    create or replace function tg_changes__number_at_commit() returns trigger
    language plpgsql as $$
    declare
      written bigint := ${CHANGES_IN_TX};
      last bigint;
    begin
      if written = 0 then
        return null;
      end if;
      ${takeNumbers}
      insert into change_batches (first_seq, last_seq, tx, committed_at)
      values (last - written + 1, last, pg_current_xact_id(), clock_timestamp());
      perform pg_notify('asm_changes', last::text);
      return null;
    end
    $$;`;

/** @param {import('node-pg-migrate').MigrationBuilder} pgm */
exports.up = (pgm) => {
  pgm.sql(`
    create function asm_last_seq() returns bigint
    language sql stable as $$
      select greatest((select last_seq from change_batches order by last_seq desc limit 1),
                      (select last_seq from change_counter))
    $$;
    ${numberAtCommit(`perform pg_advisory_xact_lock(${NUMBERING_LOCK});
      -- A statement of its own, so its snapshot is taken after the lock: the previous holder has committed.
      last := asm_last_seq() + written;`)}

    comment on table change_counter is
      'Where change numbering stood at migration 1764054000010; numbering goes on from the greater of this and the newest change_batches row (asm_last_seq).';
  `);
};

/** @param {import('node-pg-migrate').MigrationBuilder} pgm */
exports.down = (pgm) => {
  pgm.sql(`
    -- Taken before the count moves back into the row, so no commit numbers its changes in between.
    select pg_advisory_xact_lock(${NUMBERING_LOCK});
    update change_counter set last_seq = asm_last_seq();
    ${numberAtCommit('update change_counter set last_seq = last_seq + written returning last_seq into last;')}

    comment on table change_counter is null;
    drop function asm_last_seq();
  `);
};
