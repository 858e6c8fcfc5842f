import type { Pool, Queryable } from '../db/pool';
import { SearchIndexer, searchIndexLag, type SearchIndexerOptions, type SearchIndexLag } from './searchIndexer';

export interface EventSearch {
  /** Searched for, case-insensitively, as a substring of each event's text (see src/store/searchText.ts). */
  q: string;
  eventType?: string;
  toolName?: string;
  /** Only events that report a failure: an error or a non-zero exit code. */
  failedOnly?: boolean;
  projectDir?: string;
  sessionId?: string;
  /** Only events with a smaller id: the `next_cursor` of the previous page. */
  before?: number;
  limit: number;
}

/** One event that matched, with where it is and the text around the match; never the whole event. */
export interface EventHit {
  id: number;
  session_id: string;
  session_name: string;
  project_dir: string | null;
  event_type: string;
  tool_name: string | null;
  role: string | null;
  timestamp: string;
  failed: boolean;
  snippet: string;
}

export interface EventSearchPage {
  results: EventHit[];
  /** Pass as `cursor` for the next page; null on the last. */
  nextCursor: string | null;
  /** Some events in scope hold more text than the index keeps: past that, their text was not searched. */
  partial: boolean;
}

const FAILED = 'asm_event_failed(e.error, e.exit_code)';

const escapeLike = (text: string) => text.replace(/[\\%_]/g, (char) => `\\${char}`);

// Characters of context either side of the match in a snippet.
const SNIPPET_CONTEXT = 80;

export interface SearchStore {
  /** As searchEvents(). */
  events(search: EventSearch): Promise<EventSearchPage>;
  /** An indexer on this store's connections (the service starts one; tests make their own). */
  indexer(options: Omit<SearchIndexerOptions, 'pool'>): SearchIndexer;
  /** As searchIndexLag(). */
  lag(): Promise<SearchIndexLag>;
}

export function searchStore({ pool }: { pool: Pool }): SearchStore {
  return {
    events: (search) => searchEvents(pool, search),
    indexer: (options) => new SearchIndexer({ ...options, pool }),
    lag: () => searchIndexLag(pool),
  };
}

// A row of event_search_chunks as (event_id, piece): each event of a run with its own text, or a chunk of a
// larger event.
const PIECES = `unnest(case when cardinality(k.event_ids) = 1 then array[k.body] else string_to_array(k.body, E'\\x1d') end, k.event_ids) as p(piece, event_id)`;

// The filters every arm of the search applies to an event e ($3 … $7).
const filters = (failedOnly: boolean | undefined) => `
       and ($3::text is null or e.event_type = $3)
       and ($4::text is null or e.tool_name = $4)${failedOnly ? `\n       and ${FAILED}` : ''}
       and ($5::text is null or exists (select 1 from sessions s where s.session_id = e.session_id and s.project_dir = $5))
       and ($6::text is null or e.session_id = $6)
       and ($7::bigint is null or e.id < $7)`;

// The exact check on an event itself, for the events not indexed yet: text columns against the pattern $2,
// JSON columns (their stored text, as JSON.stringify wrote it) against the pattern of q's JSON escape, $10.
const EXACT = `(e.content::text ilike '%' || $10 || '%' or e.tool_name ilike '%' || $2 || '%'
        or e.tool_input::text ilike '%' || $10 || '%' or e.tool_output::text ilike '%' || $10 || '%'
        or e.error ilike '%' || $2 || '%' or e.reason ilike '%' || $2 || '%')`;

/**
 * Events whose text holds `q` (case-insensitively, any character), newest first, a page at a time, in one
 * statement (one snapshot) of three parts:
 * - the index (event_search_chunks, written by the indexer after commit): the trigram index narrows to rows
 *   (runs of small events, chunks of large ones), `ilike` on each event's own text decides; chunks overlap
 *   by the longest q, so a match is never split;
 * - the tail: events whose change is past the indexer's cursor, checked exactly on the event itself;
 * - the backfill: events stored before the index existed and not indexed yet, checked the same way.
 * So an event is found from its commit on. `partial` says that events in scope hold more text than the
 * index keeps (DEFAULT_MAX_INDEXED_CHARS), the rest of which was not searched.
 */
export async function searchEvents(db: Queryable, search: EventSearch): Promise<EventSearchPage> {
  const where = filters(search.failedOnly);
  const { rows } = await db.query<{
    id: string;
    session_id: string;
    session_name: string;
    project_dir: string | null;
    event_type: string;
    tool_name: string | null;
    role: string | null;
    timestamp: Date;
    failed: boolean;
    snippet: string | null;
    partial: boolean;
  }>(
    `with state as materialized (
       select indexed_seq, backfill_below_id from search_index_state where id = 1
     ), tail as materialized (
       select c.event_id as id
       from change_batches b
       join changes c on c.tx = b.tx and c.position > (select indexed_seq from state) - b.first_seq + 1
       where b.last_seq > (select indexed_seq from state) and c.event_id is not null
     ), found as (
       (select e.id from events e
        where e.id in (select p.event_id from event_search_chunks k cross join lateral ${PIECES} where k.body ilike '%' || $2 || '%' and p.piece ilike '%' || $2 || '%')${where}
        order by e.id desc limit $9)
       union
       (select e.id from events e
        where e.id in (select id from tail) and ${EXACT}${where}
        order by e.id desc limit $9)
       union
       (select e.id from events e
        where e.id < (select backfill_below_id from state) and ${EXACT}${where}
        order by e.id desc limit $9)
     ), page as (
       select id from found order by id desc limit $9
     )
     select e.id, e.session_id, s.session_name, s.project_dir, e.event_type, e.tool_name, e.role, e.timestamp,
            ${FAILED} as failed,
            coalesce(
              (select substr(p.piece, greatest(1, strpos(lower(p.piece), lower($1)) - $8), length($1) + 2 * $8)
               from event_search_chunks k cross join lateral ${PIECES}
               where k.session_id = e.session_id and k.last_event_id >= e.id and k.first_event_id <= e.id and e.id = any(k.event_ids)
                 and p.event_id = e.id and p.piece ilike '%' || $2 || '%'
               order by k.chunk limit 1),
              (select substr(t.text, greatest(1, strpos(lower(t.text), lower(t.needle)) - $8), length(t.needle) + 2 * $8)
               from (values (1, e.content::text, $11::text, $10), (2, e.tool_name, $1, $2), (3, e.tool_input::text, $11, $10),
                            (4, e.tool_output::text, $11, $10), (5, e.error, $1, $2), (6, e.reason, $1, $2)) t(n, text, needle, pattern)
               where t.text ilike '%' || t.pattern || '%' order by t.n limit 1)) as snippet,
            exists (select 1 from event_search_cut cut where $6::text is null or cut.session_id = $6) as partial
     from page join events e on e.id = page.id join sessions s on s.session_id = e.session_id
     order by e.id desc`,
    [
      search.q,
      escapeLike(search.q),
      search.eventType ?? null,
      search.toolName ?? null,
      search.projectDir ?? null,
      search.sessionId ?? null,
      search.before ?? null,
      SNIPPET_CONTEXT,
      search.limit + 1,
      escapeLike(jsonEscaped(search.q)),
      jsonEscaped(search.q),
    ],
  );
  const page = rows.slice(0, search.limit);
  const partial = rows.length > 0 ? rows[0]!.partial : await anyCut(db, search.sessionId);
  return {
    results: page.map((row) => ({
      id: Number(row.id),
      session_id: row.session_id,
      session_name: row.session_name,
      project_dir: row.project_dir,
      event_type: row.event_type,
      tool_name: row.tool_name,
      role: row.role,
      timestamp: row.timestamp.toISOString(),
      failed: row.failed,
      snippet: (row.snippet ?? '').replace(/[\s\u001e]+/g, ' ').trim(),
    })),
    nextCursor: rows.length > search.limit ? String(page[page.length - 1]!.id) : null,
    partial,
  };
}

// q as it stands inside a JSON string that JSON.stringify wrote.
const jsonEscaped = (q: string) => JSON.stringify(q).slice(1, -1);

async function anyCut(db: Queryable, sessionId: string | undefined): Promise<boolean> {
  const { rows } = await db.query<{ cut: boolean }>('select exists (select 1 from event_search_cut where $1::text is null or session_id = $1) as cut', [sessionId ?? null]);
  return rows[0]!.cut;
}
