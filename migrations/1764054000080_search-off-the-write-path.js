/**
 * Search off the write path. Storing an event no longer computes a search text nor updates a trigram index:
 * the generated column search_text and its two GIN indexes (migrations 1764054000007 and 8) are dropped, so
 * an insert writes the event, its change and its session's counters, nothing for search.
 *
 * An indexer (src/store/searchIndexer.ts) follows the change log after commit and writes:
 * - event_search_chunks: each event's searchable text (content, tool name, tool input and output, error,
 *   reason, in one text; JSON fields as their decoded strings, so `"`, `\`, tab and newline are themselves),
 *   with a trigram index. Small events are indexed in runs (consecutive events in one row, so the words
 *   they share are one index entry); a larger one is cut into fixed-size chunks that overlap by
 *   the longest query. The index narrows; `ilike` on each event's own text in the row decides.
 * - event_search_cut: events whose text was longer than the indexer keeps (a bounded index); a search
 *   says when such an event may have been left out.
 * - search_index_state: one row, the change number up to which every event is indexed (the indexer's
 *   cursor, locked FOR UPDATE SKIP LOCKED so one instance indexes at a time), and backfill_below_id: the
 *   events stored before this migration with a smaller id are not indexed yet (indexed newest first; 0 once done).
 *
 * A search reads the index and scans the events not indexed yet (the tail) exactly, in one snapshot: an
 * event is found as soon as it is committed.
 *
 * None of the write path's functions (asm_record_hooks, asm_append_events, asm_event_input …) changes: none
 * named search_text.
 */

/** @param {import('node-pg-migrate').MigrationBuilder} pgm */
exports.up = (pgm) => {
  pgm.sql(`
    drop index if exists events_search_failed_trgm;
    drop index if exists events_search_trgm;
    alter table events drop column if exists search_text;

    -- A row holds either a run of small events (event_ids, in id order, whatever their sessions; their texts
    -- joined by U+001D in body), or one chunk of a larger event (event_ids one id; chunk its number). A run
    -- shares its trigrams: the words that events repeat make few index entries.
    create table event_search_chunks (
      id bigserial primary key,
      session_ids text[] not null,
      first_event_id bigint not null,
      last_event_id bigint not null,
      event_ids bigint[] not null,
      chunk int not null,
      body text not null
    );
    create index event_search_chunks_trgm on event_search_chunks using gin (body gin_trgm_ops);
    create index event_search_chunks_sessions on event_search_chunks using gin (session_ids);
    create index event_search_chunks_last_event on event_search_chunks (last_event_id, id);

    create table event_search_cut (
      event_id bigint primary key,
      session_id text not null,
      -- Characters of text the event holds, and how many of them the index keeps.
      text_chars bigint not null,
      indexed_chars bigint not null
    );
    create index event_search_cut_session on event_search_cut (session_id);

    create table search_index_state (
      id int primary key check (id = 1),
      indexed_seq bigint not null,
      backfill_below_id bigint not null,
      updated_at timestamptz not null default now()
    );
    insert into search_index_state (id, indexed_seq, backfill_below_id)
    values (1, asm_last_seq(), coalesce((select max(id) from events), 0) + 1);
  `);
};

/** @param {import('node-pg-migrate').MigrationBuilder} pgm */
exports.down = (pgm) => {
  pgm.sql(`
    drop table search_index_state;
    drop table event_search_cut;
    drop table event_search_chunks;
  `);
  // The search column as 1764054000008 left it (rewrites the events table once).
  pgm.sql(`
    alter table events add column search_text text generated always as (translate(
        replace(replace(replace(replace(replace(
        coalesce(left(content::text, 2000), '') || ' ' || coalesce(left(tool_name, 200), '') || ' ' ||
        coalesce(left(tool_input::text, 1000), '') || ' ' || coalesce(left(tool_output::text, 2000), '') || ' ' ||
        coalesce(left(error, 500), '') || ' ' || coalesce(left(reason, 200), ''),
          '"type":"text"', ' '), '"text":', ' '), '\\n', ' '), '\\t', ' '), '\\r', ' '),
        '"{}[],\\', '        ')) stored;
    create index events_search_trgm on events using gin (search_text gin_trgm_ops);
    create index events_search_failed_trgm on events using gin (search_text gin_trgm_ops)
      where (error is not null or coalesce(exit_code, 0) <> 0);
  `);
};
