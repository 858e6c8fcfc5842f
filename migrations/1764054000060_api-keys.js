/**
 * API keys with scopes, and their changes in the change log.
 *
 * A key is `asm_<id>_<secret>`: `id` (16 hex digits) finds the row, and only the SHA-256 of the secret (32
 * random bytes) is stored, so the database never holds a key in clear. A key has a name, unique among the
 * keys not revoked (a revoked key keeps its row, for the audit trail and the list, and frees its name), and
 * its scopes: `ingest`, `read`, `decide`, `admin`. `last_used_at` is written by each instance about once a
 * minute, never per request.
 *
 * Every instance keeps the keys in memory and must learn of a new or revoked key at once: a key created,
 * revoked or deleted is a change (`keys_changed`) in the change log, numbered at commit like every change,
 * which every instance's listener reads. It carries nothing about the key (no name, no secret), so
 * `session_id` becomes nullable; an update of `last_used_at` alone is not a change.
 */

/** @param {import('node-pg-migrate').MigrationBuilder} pgm */
exports.up = (pgm) => {
  pgm.sql(`
    create table api_keys (
      id text primary key check (id ~ '^[0-9a-f]{16}$'),
      name text not null check (name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
      secret_sha256 bytea not null check (octet_length(secret_sha256) = 32),
      scopes text[] not null check (cardinality(scopes) > 0 and scopes <@ array['ingest', 'read', 'decide', 'admin']),
      created_at timestamptz not null default now(),
      last_used_at timestamptz,
      revoked_at timestamptz
    );
    create unique index api_keys_live_name on api_keys (name) where revoked_at is null;

    alter table changes alter column session_id drop not null;
    alter table changes drop constraint changes_kind_check;
    alter table changes add constraint changes_kind_check
      check (kind in ('session_created', 'session_updated', 'session_deleted', 'event', 'keys_changed'));
    -- An instance without WebSocket clients reads only these from the log: a probe per transaction into this.
    create index changes_keys_changed on changes (tx, position) where kind = 'keys_changed';

    -- The set of keys changed: a change with no payload; each instance reads the keys again.
    create function tg_api_keys__log_change() returns trigger
    language plpgsql as $$
    begin
      insert into changes (kind, position) values ('keys_changed', asm_count_changes(1) + 1);
      return null;
    end
    $$;

    create trigger t1_api_keys__log_insert_or_delete
      after insert or delete on api_keys
      for each row execute function tg_api_keys__log_change();

    create trigger t1_api_keys__log_update
      after update on api_keys
      for each row
      when ((old.name, old.scopes, old.secret_sha256, old.revoked_at) is distinct from (new.name, new.scopes, new.secret_sha256, new.revoked_at))
      execute function tg_api_keys__log_change();
  `);
};

/** @param {import('node-pg-migrate').MigrationBuilder} pgm */
exports.down = (pgm) => {
  pgm.sql(`
    drop table api_keys;
    drop function tg_api_keys__log_change();
    -- Their numbers stay taken by their batches: a reader finds nothing at them, as for a filtered read.
    drop index changes_keys_changed;
    delete from changes where kind = 'keys_changed';
    alter table changes drop constraint changes_kind_check;
    alter table changes add constraint changes_kind_check
      check (kind in ('session_created', 'session_updated', 'session_deleted', 'event'));
    alter table changes alter column session_id set not null;
  `);
};
