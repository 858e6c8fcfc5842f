import type { Pool, Queryable } from '../db/pool';

export interface EventSearch {
  /** Searched for, case-insensitively, in each event's search_text (see migration 1764054000007). */
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
}

// asm_event_failed is inlined into the predicate of the partial index of failed events (migration
// 1764054000007), so that index serves it.
const FAILED = 'asm_event_failed(e.error, e.exit_code)';

// Failed events that match, read whole through the partial index of failed events before any ordering: left
// to walk the newest events first, the planner reads every match of a common word when few of them failed.
// (`offset 0` keeps the subquery from being merged into the outer query.)
const FAILED_MATCHES = `(select * from events where search_text ilike '%' || $2 || '%' and asm_event_failed(error, exit_code) offset 0)`;

const escapeLike = (text: string) => text.replace(/[\\%_]/g, (char) => `\\${char}`);

// Characters of context either side of the match in a snippet.
const SNIPPET_CONTEXT = 80;

export interface SearchStore {
  /** As searchEvents(). */
  events(search: EventSearch): Promise<EventSearchPage>;
}

export function searchStore({ pool }: { pool: Pool }): SearchStore {
  return { events: (search) => searchEvents(pool, search) };
}

/**
 * Events whose text holds `q`, newest first, a page at a time. The trigram index finds candidates for
 * patterns of three characters or more; shorter ones are answered by a scan (still bounded by the page).
 */
export async function searchEvents(db: Queryable, search: EventSearch): Promise<EventSearchPage> {
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
    snippet: string;
  }>(
    `select e.id, e.session_id, s.session_name, s.project_dir, e.event_type, e.tool_name, e.role, e.timestamp,
            ${FAILED} as failed,
            substr(e.search_text, greatest(1, strpos(lower(e.search_text), lower($1)) - $8), length($1) + 2 * $8) as snippet
     from ${search.failedOnly ? FAILED_MATCHES : 'events'} e join sessions s on s.session_id = e.session_id
     where e.search_text ilike '%' || $2 || '%'
       and ($3::text is null or e.event_type = $3)
       and ($4::text is null or e.tool_name = $4)${
         search.failedOnly
           ? `
       and ${FAILED}`
           : ''
       }
       and ($5::text is null or s.project_dir = $5)
       and ($6::text is null or e.session_id = $6)
       and ($7::bigint is null or e.id < $7)
     order by e.id desc
     limit $9`,
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
    ],
  );
  const page = rows.slice(0, search.limit);
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
      snippet: row.snippet.replace(/\s+/g, ' ').trim(),
    })),
    nextCursor: rows.length > search.limit ? String(page[page.length - 1]!.id) : null,
  };
}
