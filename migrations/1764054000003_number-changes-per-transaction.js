/**
 * Change numbers kept per transaction instead of per row.
 *
 * Numbering each change row at commit rewrote every row a transaction had just written (an UPDATE, with
 * its index entries and dead tuples): a third of the cost of storing a batch of events. Now the commit
 * writes one row to `change_batches` (the transaction and the first and last number it took); a change's
 * number is its transaction's first number plus its place among that transaction's changes (by `id`,
 * write order). Commit order, no gaps and one notification per transaction stay as they were.
 */

/** @param {import('node-pg-migrate').MigrationBuilder} pgm */
exports.up = (pgm) => {
  pgm.createTable('change_batches', {
    first_seq: { type: 'bigint', primaryKey: true },
    last_seq: { type: 'bigint', notNull: true, unique: true },
    tx: { type: 'xid8', notNull: true },
    committed_at: { type: 'timestamptz', notNull: true },
  });
  pgm.sql(`
    insert into change_batches (first_seq, last_seq, tx, committed_at)
    select min(seq), max(seq), tx, coalesce(max(committed_at), max(created_at)) from changes where seq is not null group by tx;
  `);
  pgm.createIndex('change_batches', 'committed_at', { name: 'change_batches_by_age' });
  pgm.createIndex('changes', ['tx', 'id'], { name: 'changes_by_tx' });
  pgm.dropIndex('changes', 'tx', { name: 'changes_not_yet_numbered' });
  pgm.dropColumns('changes', ['seq', 'committed_at']);

  pgm.sql(`
    create or replace function asm_first_change_of_tx() returns boolean
    language sql stable as $$
      select not exists (select 1 from changes where tx = pg_current_xact_id())
    $$;

    create or replace function asm_number_changes() returns trigger
    language plpgsql as $$
    declare
      written bigint;
      last bigint;
    begin
      select count(*) into written from changes where tx = pg_current_xact_id();
      if written = 0 then
        return null;
      end if;
      -- The counter's row lock is held to commit: transactions take their numbers in commit order.
      update change_counter set last_seq = last_seq + written returning last_seq into last;
      insert into change_batches (first_seq, last_seq, tx, committed_at)
      values (last - written + 1, last, pg_current_xact_id(), clock_timestamp());
      perform pg_notify('asm_changes', last::text);
      return null;
    end
    $$;
  `);
};

/** @param {import('node-pg-migrate').MigrationBuilder} pgm */
exports.down = (pgm) => {
  pgm.addColumns('changes', { seq: { type: 'bigint', unique: true }, committed_at: { type: 'timestamptz' } });
  pgm.sql(`
    update changes c set seq = b.first_seq + numbered.position - 1, committed_at = b.committed_at
    from (select id, tx, row_number() over (partition by tx order by id) as position from changes) numbered
    join change_batches b on b.tx = numbered.tx
    where c.id = numbered.id;

    create or replace function asm_first_change_of_tx() returns boolean
    language sql stable as $$
      select not exists (select 1 from changes where tx = pg_current_xact_id() and seq is null)
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
  pgm.createIndex('changes', 'tx', { name: 'changes_not_yet_numbered', where: 'seq is null' });
  pgm.dropIndex('changes', ['tx', 'id'], { name: 'changes_by_tx' });
  pgm.dropTable('change_batches');
};
