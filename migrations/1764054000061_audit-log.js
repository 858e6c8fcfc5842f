/**
 * The audit trail: who (which key, by name) did what to what, and when. Written in the transaction of the
 * action it records (a session deleted, a key created or revoked, …), so an action and its entry commit together;
 * read newest first (GET /audit). `key_name` is null when the server requires no key.
 */

/** @param {import('node-pg-migrate').MigrationBuilder} pgm */
exports.up = (pgm) => {
  pgm.sql(`
    create table audit_log (
      id bigint primary key generated always as identity,
      at timestamptz not null default now(),
      key_name text,
      action text not null,
      target text,
      details jsonb not null default '{}'
    );
  `);
};

/** @param {import('node-pg-migrate').MigrationBuilder} pgm */
exports.down = (pgm) => {
  pgm.sql('drop table audit_log');
};
