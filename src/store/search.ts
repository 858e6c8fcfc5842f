import type { Pool, Queryable } from '../db/pool';
import { beginRead } from './tx';
import { eventText, type SearchColumn } from './searchText';
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
  /**
   * The search stopped early, a page's work being bounded: every event from this id up (below the cursor
   * given) was searched, none below it. `nextCursor` then continues from here, even when the page is not full.
   * null: the page is full, or the whole scope was searched.
   */
  scannedTo: number | null;
}

const FAILED = 'asm_event_failed(e.error, e.exit_code)';

// Text as a regular expression that matches it literally, case-insensitively with `~*`: every ASCII character
// but a letter or digit escaped (a regular expression's special characters are all ASCII, and a backslash before
// any other such character stands for it). `~*` rather than `ilike`: three times as fast on a 2 MB output,
// twice on a small event, and the trigram index takes either.
const regexLiteral = (text: string) => text.replace(/[^A-Za-z0-9\u0080-\uffff]/g, (char) => `\\${char}`);

// Characters of context either side of the match in a snippet.
const SNIPPET_CONTEXT = 80;

export interface SearchStore {
  /** As searchEvents(). */
  events(search: EventSearch, bounds?: Partial<SearchBounds>): Promise<EventSearchPage>;
  /** An indexer on this store's connections (the service starts one; tests make their own). */
  indexer(options: Omit<SearchIndexerOptions, 'pool'>): SearchIndexer;
  /** As searchIndexLag(). */
  lag(): Promise<SearchIndexLag>;
}

export function searchStore({ pool }: { pool: Pool }): SearchStore {
  return {
    events: (search, bounds) => searchEvents(pool, search, bounds),
    indexer: (options) => new SearchIndexer({ ...options, pool }),
    lag: () => searchIndexLag(pool),
  };
}

// A row of event_search_chunks as (event_id, piece): each event of a run with its own text, or a chunk of a
// larger event.
const PIECES = `unnest(case when cardinality(k.event_ids) = 1 then array[k.body] else string_to_array(k.body, E'\\x1d') end, k.event_ids) as p(piece, event_id)`;

// The filters an event e must pass, its parameters numbered from `n`: event type, tool, project, session, before.
const filters = (failedOnly: boolean | undefined, n: number) => `
       and ($${n}::text is null or e.event_type = $${n})
       and ($${n + 1}::text is null or e.tool_name = $${n + 1})${failedOnly ? `\n       and ${FAILED}` : ''}
       and ($${n + 2}::text is null or exists (select 1 from sessions s where s.session_id = e.session_id and s.project_dir = $${n + 2}))
       and ($${n + 3}::text is null or e.session_id = $${n + 3})
       and ($${n + 4}::bigint is null or e.id < $${n + 4})`;
const filterValues = (search: EventSearch) => [search.eventType ?? null, search.toolName ?? null, search.projectDir ?? null, search.sessionId ?? null, search.before ?? null];

// The exact check on an event itself, for the events not indexed yet: text columns against the pattern
// `text`, JSON columns (their stored text, as JSON.stringify wrote it) against the pattern of q's JSON escape.
const exact = (text: string, json: string) => `(e.content::text ~* ${json} or e.tool_name ~* ${text}
        or e.tool_input::text ~* ${json} or e.tool_output::text ~* ${json} or e.error ~* ${text} or e.reason ~* ${text})`;

interface IndexRowKey {
  id: string;
  last_event_id: string;
}

/** How much work one page of a search may do (tests make it small). */
export interface SearchBounds {
  /** The newest rows of the index walked at a time whatever they hold (about 100 small events each, or 2 KB of a large one), */
  rowSlice: number;
  /** and how many such slices a page may walk. */
  rowSlices: number;
  /** Rows read at a time through the trigram index, newest first, */
  rowsAtOnce: number;
  /** how many times at most, */
  trigramBatches: number;
  /** and how long one such read may take before the rows are walked instead. */
  trigramBudgetMs: number;
  /** Failed events walked at a time (failed-only), newest first, each checked exactly, */
  walkSlice: number;
  /** and how many such slices a page may walk. */
  failedWalkSlices: number;
}

export const SEARCH_BOUNDS: SearchBounds = {
  rowSlice: 1000,
  rowSlices: 3,
  rowsAtOnce: 200,
  trigramBatches: 5,
  trigramBudgetMs: 250,
  walkSlice: 2000,
  failedWalkSlices: 5,
};

// q as it stands inside a JSON string that JSON.stringify wrote.
const jsonEscaped = (q: string) => JSON.stringify(q).slice(1, -1);

/**
 * Events whose text holds `q` (case-insensitively, any character), newest first, a page at a time, read in
 * one snapshot (a repeatable-read transaction) from three parts:
 * - the index (event_search_chunks, written by the indexer after commit): the trigram index narrows to rows
 *   (runs of small events, chunks of large ones), a case-insensitive match on each event's own text decides; chunks overlap
 *   by the longest q, so a match is never split. Rows are read newest first (by the last event each holds),
 *   a few hundred at a time, until the page is sure: every event newer than the last row read is found;
 * - the tail: events whose change is past the indexer's cursor, checked exactly on the event itself;
 * - the backfill: events stored before the index existed and not indexed yet, checked the same way.
 * So an event is found from its commit on. `partial` says that events in scope hold more text than the
 * index keeps (DEFAULT_MAX_INDEXED_CHARS), the rest of which was not searched.
 *
 * The work of a page is bounded (SEARCH_BOUNDS): the newest rows walked whatever they hold (a common word
 * fills the page there), then a few batches through the trigram index (a rarer word), within a time budget
 * each (past it, a few more slices of rows are walked instead). A failed-only search walks the failed events
 * instead, newest first through their partial index, checking each exactly. When the bound is met before the
 * page is full, the page holds what was found, every event from `scannedTo` up (below the cursor) having
 * been searched, and `nextCursor` goes on from there: following it reaches every match.
 */
export async function searchEvents(pool: Pool, search: EventSearch, bounds: Partial<SearchBounds> = {}): Promise<EventSearchPage> {
  const read = await beginRead(pool);
  try {
    return await searchIn(read.client, search, { ...SEARCH_BOUNDS, ...bounds });
  } finally {
    await read.end();
  }
}

async function searchIn(db: Queryable, search: EventSearch, bounds: SearchBounds): Promise<EventSearchPage> {
  const want = search.limit + 1;
  const pattern = regexLiteral(search.q);
  const jsonPattern = regexLiteral(jsonEscaped(search.q));
  // Events found, with their snippet when known (else the final query cuts it from the event: the tail's).
  const found = new Map<number, string | null>();
  // The events with an id of at least `covered` (and below `before`) are all searched; null: none yet.
  let covered: number | null = null;
  let exhausted = false;

  // 1. The newest events, walked by id a slice at a time (one slice; failed-only: a few slices of the failed
  //    events, through their index), checked on each event itself: a common word fills the page here, and a
  //    few large events cannot stand in the way (their many index rows would).
  const walk = async (slices: number) => {
    for (let slice = 0; slice < slices && !exhausted && found.size < want; slice++) {
      const { rows } = await db.query<{ low: string | null; n: number; hits: string[] | null }>(
        `select min(w.id) as low, count(*)::int as n, array_agg(w.id order by w.id desc) filter (where w.hit) as hits
         from (select e.id, ${exact('$1', '$2')}${filters(false, 5)} as hit
               from events e
               where ($3::bigint is null or e.id < $3)${search.failedOnly ? ` and ${FAILED}` : ''}
               order by e.id desc limit $4) w`,
        [pattern, jsonPattern, covered ?? search.before ?? null, bounds.walkSlice, ...filterValues({ ...search, before: undefined })],
      );
      const { low, n, hits } = rows[0]!;
      await confirm((hits ?? []).map(Number));
      if (n < bounds.walkSlice) exhausted = true;
      else covered = Number(low);
    }
  };
  // The events the walk's check on their stored JSON found, checked again on their text as the index holds
  // it (its decoded strings, up to where the index cut it), the snippet cut from that text.
  const confirm = async (ids: number[]) => {
    if (ids.length === 0) return;
    const { rows } = await db.query<Record<SearchColumn, string | null> & { id: string; indexed_chars: string | null }>(
      `select e.id, e.content::text as content, e.tool_name, e.tool_input::text as tool_input, e.tool_output::text as tool_output,
              e.error, e.reason, cut.indexed_chars
       from events e left join event_search_cut cut on cut.event_id = e.id
       where e.id = any($1::bigint[]) order by e.id desc`,
      [ids],
    );
    const needle = search.q.toLowerCase();
    for (const row of rows) {
      if (found.size >= want) return;
      const { text } = eventText(row, row.indexed_chars === null ? Number.MAX_SAFE_INTEGER : Number(row.indexed_chars));
      const at = text.toLowerCase().indexOf(needle);
      if (at < 0) continue;
      found.set(Number(row.id), text.slice(Math.max(0, at - SNIPPET_CONTEXT), at + search.q.length + SNIPPET_CONTEXT));
    }
  };
  await walk(search.failedOnly ? bounds.failedWalkSlices : 1);
  if (found.size >= want || exhausted) return pageOf(db, search, found, null);
  if (search.failedOnly) return pageOf(db, search, found, covered);
  // Every event from `below` up (below the cursor) is searched.
  const below = covered!;

  // 2. Any other search reads the index: rows newest first (by the last event each holds), each row's events
  //    checked on their own text; and the events the index does not hold yet (the tail and the backfill),
  //    exactly. The newest rows are walked whatever they hold (a common word fills the page from them), then
  //    the older rows that match come through the trigram index (a rarer word), a bounded number of either.
  const { rows: tail } = await db.query<{ id: string }>(
    `with state as materialized (
       select indexed_seq, backfill_below_id from search_index_state where id = 1
     ), tail as materialized (
       select c.event_id as id
       from change_batches b
       join changes c on c.tx = b.tx and c.position > (select indexed_seq from state) - b.first_seq + 1
       where b.last_seq > (select indexed_seq from state) and c.event_id is not null
     )
     (select e.id from events e
      where e.id in (select id from tail) and ${exact('$1', '$2')}${filters(false, 4)}
      order by e.id desc limit $3)
     union
     (select e.id from events e
      where e.id < (select backfill_below_id from state) and ${exact('$1', '$2')}${filters(false, 4)}
      order by e.id desc limit $3)`,
    [pattern, jsonPattern, want, ...filterValues({ ...search, before: below })],
  );
  const indexed = new Map<number, string>();
  const readHits = async (rowIds: string[]) => {
    if (rowIds.length === 0) return;
    const { rows: hits } = await db.query<{ id: string; snippet: string }>(
      `select p.event_id as id, substr(p.piece, greatest(1, strpos(lower(p.piece), lower($2)) - $4), length($2) + 2 * $4) as snippet
       from event_search_chunks k cross join lateral ${PIECES}
       -- Each event by its key: a join the planner could answer by reading every event.
       cross join lateral (select 1 from events e where e.id = p.event_id${filters(false, 5)} offset 0) e
       where k.id = any($1::bigint[]) and p.piece ~* $3`,
      [rowIds, search.q, pattern, SNIPPET_CONTEXT, ...filterValues({ ...search, before: below })],
    );
    for (const hit of hits) if (!indexed.has(Number(hit.id))) indexed.set(Number(hit.id), hit.snippet);
  };
  // Every event above `boundary` (and below the cursor) that matches is known.
  let boundary = Infinity;
  let after = null as { last: string; id: string } | null;
  let complete = false;
  const enough = () => [...indexed.keys(), ...tail.map((row) => Number(row.id))].filter((id) => id > boundary).length >= want;
  // Takes the rows read (null: none, the budget ran out); false when the page is settled.
  const advance = async (batch: (IndexRowKey & { hit?: boolean })[], size: number): Promise<boolean> => {
    await readHits(batch.filter((row) => row.hit !== false).map((row) => row.id));
    if (batch.length < size) {
      complete = true;
      return false;
    }
    const last: IndexRowKey = batch[batch.length - 1]!;
    after = { last: last.last_event_id, id: last.id };
    // Every event above the last row's last event is in a row read already (a row holds no event above its last).
    boundary = Number(last.last_event_id);
    return !enough();
  };
  const walkRows = async (slices: number) => {
    for (let slice = 0; slice < slices; slice++) {
      const { rows } = await db.query<IndexRowKey & { hit: boolean }>(
        `select k.id, k.last_event_id, k.body ~* $1 as hit
         from (select id, last_event_id, body from event_search_chunks
               where ($2::bigint is null or first_event_id < $2) and ($3::bigint is null or (last_event_id, id) < ($3, $4::bigint))
               order by last_event_id desc, id desc limit $5) k`,
        [pattern, below, after?.last ?? null, after?.id ?? null, bounds.rowSlice],
      );
      if (!(await advance(rows, bounds.rowSlice))) return false;
    }
    return true;
  };
  let open = await walkRows(1);
  for (let batchNo = 0; open && batchNo < bounds.trigramBatches; batchNo++) {
    const batch = await matchingRows(db, bounds.trigramBudgetMs, [pattern, after?.last ?? null, after?.id ?? null, below, bounds.rowsAtOnce]);
    // A word too common for the trigram index in its budget: walk on through the rows instead.
    if (batch === null) open = await walkRows(bounds.rowSlices - 1);
    else open = await advance(batch, bounds.rowsAtOnce);
    if (batch === null) break;
  }
  // A page always gets past its cursor: the chunks of one large event (all with the same last event) may be
  // more than the bound, and a cursor can only say "below this event".
  while (open && !complete && boundary + 1 >= below) open = await walkRows(1);
  if (complete) boundary = -Infinity;
  for (const id of [...indexed.keys(), ...tail.map((row) => Number(row.id))]) if (id > boundary && id < below) found.set(id, indexed.get(id) ?? null);
  return pageOf(db, search, found, complete || found.size >= want ? null : Math.min(boundary + 1, below));
}

// The page of the events found (the newest `limit` of them), and where the search stopped: `stoppedAt` is the
// lowest event id below which nothing was searched (null: the whole scope was).
async function pageOf(db: Queryable, search: EventSearch, found: Map<number, string | null>, stoppedAt: number | null): Promise<EventSearchPage> {
  const want = search.limit + 1;
  const pattern = regexLiteral(search.q);
  const jsonPattern = regexLiteral(jsonEscaped(search.q));
  const ids = [...found.keys()]
    .filter((id) => stoppedAt === null || id >= stoppedAt)
    .sort((a, b) => b - a)
    .slice(0, want);
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
    `select e.id, e.session_id, s.session_name, s.project_dir, e.event_type, e.tool_name, e.role, e.timestamp,
            ${FAILED} as failed,
            coalesce(
              page.snippet,
              (select substr(t.text, greatest(1, strpos(lower(t.text), lower(t.needle)) - $7), length(t.needle) + 2 * $7)
               from (values (1, e.content::text, $6::text, $5::text), (2, e.tool_name, $3, $4), (3, e.tool_input::text, $6, $5),
                            (4, e.tool_output::text, $6, $5), (5, e.error, $3, $4), (6, e.reason, $3, $4)) t(n, text, needle, pattern)
               where t.text ~* t.pattern order by t.n limit 1)) as snippet,
            exists (select 1 from event_search_cut cut where $8::text is null or cut.session_id = $8) as partial
     from unnest($1::bigint[], $2::text[]) as page(id, snippet)
     join events e on e.id = page.id join sessions s on s.session_id = e.session_id
     order by e.id desc`,
    [ids, ids.map((id) => found.get(id) ?? null), search.q, pattern, jsonPattern, jsonEscaped(search.q), SNIPPET_CONTEXT, search.sessionId ?? null],
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
    nextCursor: rows.length > search.limit ? String(page[page.length - 1]!.id) : stoppedAt !== null ? String(stoppedAt) : null,
    partial,
    scannedTo: rows.length > search.limit || stoppedAt === null ? null : stoppedAt,
  };
}

// The next rows that match, newest first, through the trigram index; null when that takes longer than
// budgetMs (a common word, which the trigram index would make it read every row of: PostgreSQL cannot
// estimate how common a word is in texts this long, it keeps no statistics of values over 1 KB).
async function matchingRows(db: Queryable, budgetMs: number, values: unknown[]): Promise<IndexRowKey[] | null> {
  const sql = `select k.id, k.last_event_id from event_search_chunks k
     where k.body ~* $1 and ($2::bigint is null or (k.last_event_id, k.id) < ($2, $3::bigint))
       and ($4::bigint is null or k.first_event_id < $4)
     order by k.last_event_id desc, k.id desc limit $5`;
  await db.query('savepoint asm_search');
  try {
    await db.query(`set local statement_timeout = ${budgetMs}`);
    const { rows } = await db.query<IndexRowKey>(sql, values);
    await db.query('release savepoint asm_search');
    await db.query('set local statement_timeout to default');
    return rows;
  } catch (err) {
    if ((err as { code?: string }).code !== '57014') throw err;
    await db.query('rollback to savepoint asm_search');
    await db.query('set local statement_timeout to default');
    return null;
  }
}

async function anyCut(db: Queryable, sessionId: string | undefined): Promise<boolean> {
  const { rows } = await db.query<{ cut: boolean }>('select exists (select 1 from event_search_cut where $1::text is null or session_id = $1) as cut', [sessionId ?? null]);
  return rows[0]!.cut;
}
