/**
 * The failed events by id: a search filtered to failed events (GET /search?failed=true) walks them newest
 * first, a bounded slice at a time, and checks each one's text exactly (src/store/search.ts). Failed events
 * are few, so the index is small; it replaces, for that filter, the partial trigram index of failed events
 * that 1764054000080 dropped with the search column.
 */

/** @param {import('node-pg-migrate').MigrationBuilder} pgm */
exports.up = (pgm) => {
  pgm.sql('create index events_failed_id on events (id) where asm_event_failed(error, exit_code)');
};

/** @param {import('node-pg-migrate').MigrationBuilder} pgm */
exports.down = (pgm) => {
  pgm.sql('drop index events_failed_id');
};
