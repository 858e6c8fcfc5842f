/**
 * Search inside events (GET /search): a bounded, cleaned text projection of each event with a trigram index.
 *
 * PostgreSQL's full-text functions refuse text over 1 MB, and turning `json` that holds `\u0000` into text
 * values fails: an index over either could make an insert fail. So the index is over `search_text`, a
 * generated column built only from operations that cannot fail: each field's JSON text (`json::text` is
 * the stored text, escapes and all) cut to a few KB, JSON escapes and punctuation blanked. At most about
 6 KB per event, whatever the event holds. A trigram (pg_trgm) GIN index serves `ilike '%…%'` on it.
 *
 * Adding a stored generated column rewrites the events table once, at this migration.
 */

/** @param {import('node-pg-migrate').MigrationBuilder} pgm */
exports.up = (pgm) => {
  pgm.sql('create extension if not exists pg_trgm');
  pgm.sql(`
    alter table events add column search_text text generated always as (
      regexp_replace(
        coalesce(left(content::text, 2000), '') || ' ' || coalesce(left(tool_name, 200), '') || ' ' ||
        coalesce(left(tool_input::text, 1000), '') || ' ' || coalesce(left(tool_output::text, 2000), '') || ' ' ||
        coalesce(left(error, 500), '') || ' ' || coalesce(left(reason, 200), ''),
        '"type":"text",?|"text":|\\\\[nrt]|\\\\u[0-9a-fA-F]{4}|[\\\\"{}\\[\\],]', ' ', 'g')
    ) stored
  `);
  pgm.sql('create index events_search_trgm on events using gin (search_text gin_trgm_ops)');
  // Failed-only searches: a common word among few failures would otherwise walk every match. Its
  // predicate is the one the search writes (src/store/search.ts), so the planner can use it.
  pgm.sql(`create index events_search_failed_trgm on events using gin (search_text gin_trgm_ops)
           where (error is not null or coalesce(exit_code, 0) <> 0)`);
};

/** @param {import('node-pg-migrate').MigrationBuilder} pgm */
exports.down = (pgm) => {
  pgm.sql('drop index events_search_failed_trgm');
  pgm.sql('drop index events_search_trgm');
  pgm.sql('alter table events drop column search_text');
  // pg_trgm stays: other objects of the database may have come to use it.
};
