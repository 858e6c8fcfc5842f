/**
 * Session snapshots in the change log as `json`, not `jsonb`.
 *
 * A read of the change log stops at a byte budget, and decides which changes fit from their sizes before it
 * reads them. PostgreSQL knows the length of a `json` value (it is text) without reading it, but must
 * decompress and render a `jsonb` value to know its length as text: a few large session snapshots made every
 * read slow. Snapshots are written once and read whole, so nothing of `jsonb` is missed.
 */

/** @param {import('node-pg-migrate').MigrationBuilder} pgm */
exports.up = (pgm) => {
  pgm.sql(`
    alter table changes alter column session type json using session::json;

    create or replace function tg_sessions__log_change() returns trigger
    language plpgsql as $$
    begin
      if tg_op = 'DELETE' then
        insert into changes (kind, session_id, opens_tx) values ('session_deleted', old.session_id, asm_first_change_of_tx());
      else
        insert into changes (kind, session_id, session, opens_tx)
        values (case tg_op when 'INSERT' then 'session_created' else 'session_updated' end,
                new.session_id, to_json(new), asm_first_change_of_tx());
      end if;
      return null;
    end
    $$;
  `);
};

/** @param {import('node-pg-migrate').MigrationBuilder} pgm */
exports.down = (pgm) => {
  pgm.sql(`
    create or replace function tg_sessions__log_change() returns trigger
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

    alter table changes alter column session type jsonb using session::jsonb;
  `);
};
