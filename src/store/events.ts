import type { Pool, PoolClient, Queryable } from '../db/pool';
import type { Event, NewEvent } from '../domain/event';
import type { Logger } from '../logger';
import { takeWithinBudget } from './budget';
import { GroupCommit, type GroupCommitOptions } from './groupCommit';
import { jsonPieces, piecesOf, type JsonText } from './jsonText';
import { readSliced, type SlicedText } from './slicedText';
import { beginRead, withTransaction } from './tx';

export interface EventToStore {
  sessionId: string;
  event: NewEvent;
}

export interface AppendedEvent {
  event: Event;
  /** false when the event_id was stored before: the stored event is returned and nothing is written. */
  created: boolean;
}

/** A session's events: written, read a page at a time, read whole. */
export interface EventStore {
  /**
   * Stores one event, in one transaction with others that arrive meanwhile (group commit); resolves once that
   * has committed, with the stored event, or null if its session does not exist.
   */
  append(item: EventToStore): Promise<AppendedEvent | null>;
  /** Stores events in the given order in one statement, all or none: as appendEvents(). */
  appendBatch(items: readonly EventToStore[]): Promise<(AppendedEvent | null)[]>;
  /** The deprecated `POST /events`: as recordEventCreatingSession(). */
  appendCreatingSession(sessionId: string, event: NewEvent): Promise<AppendedEvent>;
  /** One page of a session's events, read on the few connections of pages: as listSessionEvents(). */
  page(sessionId: string, request: EventPageRequest): Promise<EventPageJson | null>;
  /** Every event of a session, a page at a time: as sessionEventPieces(). */
  pieces(sessionId: string, budget: { maxBytes: number; sliceBytes: number }): AsyncGenerator<string>;
  /** Every event of a session, one JSON text each, for an export: as sessionEventJson(). */
  exported(sessionId: string, maxBytes: number): AsyncGenerator<string>;
}

export function eventStore({ pool, readPool, logger }: { pool: Pool; readPool: Pool; logger: Logger }): EventStore {
  const writer = new EventWriter({ pool, logger });
  return {
    append: (item) => writer.append(item),
    appendBatch: (items) => appendEvents(pool, items),
    appendCreatingSession: (sessionId, event) => recordEventCreatingSession(pool, sessionId, event),
    page: (sessionId, request) => listSessionEvents(readPool, sessionId, request),
    pieces: (sessionId, budget) => sessionEventPieces(readPool, sessionId, budget),
    exported: (sessionId, maxBytes) => sessionEventJson(readPool, sessionId, maxBytes),
  };
}

export interface EventWriterOptions extends Omit<GroupCommitOptions<EventToStore, AppendedEvent | null>, 'write'> {
  pool: Pool;
}

/** Group commit for single events (POST /sessions/{id}/events): each resolves as appendEvents answers for it. */
export class EventWriter extends GroupCommit<EventToStore, AppendedEvent | null> {
  constructor({ pool, ...options }: EventWriterOptions) {
    super({ ...options, write: (items) => appendEvents(pool, items) });
  }

  append(item: EventToStore): Promise<AppendedEvent | null> {
    return this.add(item);
  }
}

/**
 * Stores events, in the given order, in one statement (so one transaction): the status changes they imply
 * commit with them. Per item: the stored event, or `null` if its session does not exist.
 */
export async function appendEvents(db: Queryable, items: readonly EventToStore[]): Promise<(AppendedEvent | null)[]> {
  if (items.length === 0) return [];
  // asm_append_events (migration 1764054000011) locks the sessions named, in one order, before the insert
  // draws any id: event ids come from a sequence, which numbers in the order asked, not the order of
  // commit, so without the lock T1 could take 10, T2 take 11 and commit first, and a reader paging with
  // after=11 would never see 10. A second writer to the same session waits for the first to commit, then
  // draws higher ids: within a session, id order is commit order. It returns the events inserted, in
  // order, then, if an item was skipped, the events that the items name by event_id.
  const { rows } = await db.query<{ created: boolean; event: Event }>({
    // Prepared once per connection: the plan of this statement is the same every time.
    name: 'append-events',
    text: `select created, event from asm_append_events(${EVENT_INPUTS})`,
    values: [eventInputs(items)],
  });
  return matchToItems(items, rows);
}

/** The asm_event_input[] (migration 1764054000011) of the JSON array eventInputs() gives, passed as $1. */
export const EVENT_INPUTS = 'array(select json_populate_recordset(null::asm_event_input, $1::json))';

/** The items as one JSON array of asm_event_input objects, keyed by column name. */
export const eventInputs = (items: readonly EventToStore[]): string => JSON.stringify(items.map(eventInput));

// The json columns go as their JSON text: PostgreSQL's JSON functions refuse a `\u0000` anywhere in what they
// read, and these keep one.
const eventInput = ({ sessionId, event }: EventToStore): Record<keyof NewEvent | 'session_id', unknown> => ({
  session_id: sessionId,
  session_name: event.session_name,
  event_type: event.event_type,
  timestamp: event.timestamp,
  tool_name: event.tool_name,
  tool_input: jsonText(event.tool_input),
  tool_output: jsonText(event.tool_output),
  error: event.error,
  exit_code: event.exit_code,
  reason: event.reason,
  role: event.role,
  content: jsonText(event.content),
  event_id: event.event_id,
  tool_use_id: event.tool_use_id,
  prompt_id: event.prompt_id,
  agent_id: event.agent_id,
  duration_ms: event.duration_ms,
  hook_input: jsonText(event.hook_input),
});

// A client's JSON value as we serialise it: absent (`undefined`) and JSON `null` are both SQL null.
const jsonText = (value: unknown): string | null => (value === undefined || value === null ? null : JSON.stringify(value));

/**
 * The deprecated `POST /events`: an event for an unknown session creates that session (named by the
 * event's session_name, else its id) instead of being refused, then is stored as by appendEvents. A
 * session deleted between the two statements is created again, as a request after the delete would.
 */
export async function recordEventCreatingSession(pool: Pool, sessionId: string, event: NewEvent): Promise<AppendedEvent> {
  for (;;) {
    const appended = await withTransaction(pool, async (tx) => {
      await tx.query(
        `insert into sessions (session_id, session_name) values ($1, $2)
         on conflict (session_id) do nothing`,
        [sessionId, event.session_name || sessionId],
      );
      const [stored] = await appendEvents(tx, [{ sessionId, event }]);
      return stored;
    });
    if (appended) return appended;
  }
}

// Items are matched to stored rows by (session, event_id) when they have one; a NUL cannot occur in either.
const clientKey = (sessionId: string, eventId: string) => `${sessionId}\u0000${eventId}`;

/**
 * Each item's row: inserted ones come in the items' order, and items without an event_id are never
 * skipped, so per session they take that session's inserted rows without one in turn.
 */
function matchToItems(items: readonly EventToStore[], rows: { created: boolean; event: Event }[]): (AppendedEvent | null)[] {
  const createdByKey = new Map<string, Event>();
  const withoutClientId = new Map<string, Event[]>();
  const storedBefore = new Map<string, Event>();
  for (const { created, event } of rows) {
    if (!created) storedBefore.set(clientKey(event.session_id, event.event_id!), event);
    else if (event.event_id !== null) createdByKey.set(clientKey(event.session_id, event.event_id), event);
    else {
      const ofSession = withoutClientId.get(event.session_id);
      if (ofSession) ofSession.push(event);
      else withoutClientId.set(event.session_id, [event]);
    }
  }

  const handedOut = new Set<Event>();
  return items.map(({ sessionId, event }): AppendedEvent | null => {
    if (event.event_id == null) {
      const next = withoutClientId.get(sessionId)?.shift();
      return next ? { event: next, created: true } : null;
    }
    const key = clientKey(sessionId, event.event_id);
    const fresh = createdByKey.get(key);
    if (fresh) {
      // A second item with the same event_id in one batch is a retry of the first.
      const first = !handedOut.has(fresh);
      handedOut.add(fresh);
      return { event: fresh, created: first };
    }
    const stored = storedBefore.get(key);
    return stored ? { event: stored, created: false } : null;
  });
}

/** One page of a session's events, serialised. */
export interface EventPageJson {
  /** The events as JSON joined by commas: the contents of the page's array. */
  events: JsonText;
  /** The id to pass as `after` for the next page; null when no event follows. */
  nextAfter: number | null;
}

export interface EventFilter {
  tool_use_id?: string;
  prompt_id?: string;
  agent_id?: string;
}

const FILTER_COLUMNS = ['tool_use_id', 'prompt_id', 'agent_id'] as const;

export interface EventPageRequest {
  /** Events after this id. */
  after?: number;
  limit: number;
  /** The page stops before the event that would take it past this many bytes (one event at least). */
  maxBytes: number;
  /** A first event larger than this is read in slices of about this many bytes (see slicedText.ts). */
  sliceBytes: number;
  /** Only events with these ids (Claude Code's); absent keys do not filter. */
  filter?: EventFilter;
}

/**
 * One page of a session's events in id order (commit order), after the event id `after`; `null` if the session
 * does not exist. A page whose first event is larger than `sliceBytes` comes in pieces (JsonPieces: read them
 * to the end, or return them).
 */
export async function listSessionEvents(pool: Pool, sessionId: string, { after = 0, limit, maxBytes, sliceBytes, filter = {} }: EventPageRequest): Promise<EventPageJson | null> {
  // Only the filters given are in the SQL, so a filtered page reads the partial index of its id.
  const filters = FILTER_COLUMNS.filter((name) => filter[name] !== undefined);
  const filterSql = filters.map((name, index) => ` and ${name} = $${index + 6}`).join('');
  // One snapshot, so a session deleted between the two reads is not reported as existing with no events.
  // Without sorting, a page is read along the (session_id, id) index and costs the same wherever it
  // starts. Left to itself, the planner may pick a bitmap scan of the whole session and a sort when its
  // statistics lag behind a session that grew fast: 50,000 rows read for 1,000.
  const read = await beginRead(pool, 'set local enable_sort = off');
  let handedOn = false;
  try {
    const tx = read.client;
    const exists = await tx.query('select 1 from sessions where session_id = $1', [sessionId]);
    if (exists.rowCount === 0) return null;
    // The rows that may fit are chosen by their sizes, which cost nothing to read; only those are built. A
    // first row too large to hold at once is not built here (json null) but read in slices below.
    const { rows } = await tx.query<{ id: string; json: string | null; candidates: string }>(
      `with candidate as (
         select id as candidate_id, sum(asm_event_json_size(e)) over (order by id) as bytes_to_here, count(*) over () as candidates
         from (select * from events where session_id = $1 and id > $2${filterSql} order by id limit $3) e
       )
       -- Each row that fits is fetched by its id (offset 0 keeps the lookup a lookup: joined, the planner
       -- may walk the whole session to avoid sorting a page). They come in id order, sorted below.
       select id, case when candidate_id = (select min(candidate_id) from candidate) and bytes_to_here > $5 then null
                       else asm_event_json(e) end as json,
              candidates
       from candidate cross join lateral (select * from events where events.id = candidate.candidate_id offset 0) e
       where bytes_to_here <= $4 or candidate_id = (select min(candidate_id) from candidate)`,
      [sessionId, after, limit + 1, maxBytes, sliceBytes, ...filters.map((name) => filter[name])],
    );
    rows.sort((a, b) => Number(a.id) - Number(b.id));
    const large = rows[0]?.json === null ? await readLargeEvent(tx, rows[0].id, sliceBytes) : null;
    const page = takeWithinBudget(rows, { limit, maxBytes, bytes: (row) => (row.json === null ? large!.bytes : Buffer.byteLength(row.json)) });
    const more = rows.length > 0 && page.length < Number(rows[0]!.candidates);
    const nextAfter = more ? Number(page[page.length - 1]!.id) : null;
    if (!large) return { events: page.map((row) => row.json).join(','), nextAfter };
    handedOn = true;
    const rest = page.slice(1).map((row) => `,${row.json}`);
    return { events: jsonPieces([large, ...rest], read.end), nextAfter };
  } finally {
    if (!handedOn) await read.end();
  }
}

// The page query saw the event in the same snapshot, so it is there.
async function readLargeEvent(tx: PoolClient, id: string, sliceBytes: number): Promise<SlicedText> {
  const sliced = await readSliced(tx, { text: 'select asm_event_json(events) as value from events where id = $1', values: [id] }, sliceBytes);
  if (!sliced) throw new Error(`event ${id} is missing from the snapshot that listed it`);
  return sliced;
}

/**
 * Every event of a session, as pieces of JSON text that together form the array's contents; each page within
 * `maxBytes` (a large event in slices) is read when the previous one has been taken. Nothing if the session
 * does not exist.
 */
export async function* sessionEventPieces(pool: Pool, sessionId: string, { maxBytes, sliceBytes }: { maxBytes: number; sliceBytes: number }): AsyncGenerator<string> {
  let after = 0;
  let first = true;
  for (;;) {
    const page = await listSessionEvents(pool, sessionId, { after, limit: WHOLE_LIST_PAGE, maxBytes, sliceBytes });
    if (!page || page.events === '') return;
    yield* piecesOf(page.events, first ? '' : ',');
    first = false;
    if (page.nextAfter === null) return;
    after = page.nextAfter;
  }
}

const WHOLE_LIST_PAGE = 1000;

const EXPORT_PAGE = 200;

/**
 * Every event of a session in id order, as JSON text, one event per item, read a page at a time when the
 * previous page has been taken, on the page-read connections. A page holds at most `maxBytes` of events (by
 * the size each would take, known before it is built), one event at least: memory holds about a page, not
 * 200 events of however many megabytes. Nothing if the session has no events.
 */
export async function* sessionEventJson(db: Queryable, sessionId: string, maxBytes: number): AsyncGenerator<string> {
  let after = 0;
  for (;;) {
    const { rows: sizes } = await db.query<{ id: string; bytes: string }>(
      'select id, asm_event_json_size(events) as bytes from events where session_id = $1 and id > $2 order by id limit $3',
      [sessionId, after, EXPORT_PAGE],
    );
    if (sizes.length === 0) return;
    let bytes = 0;
    let taken = 0;
    while (taken < sizes.length && (taken === 0 || bytes + Number(sizes[taken]!.bytes) <= maxBytes)) bytes += Number(sizes[taken++]!.bytes);
    const ids = sizes.slice(0, taken).map((row) => row.id);
    const { rows } = await db.query<{ id: string; json: string }>('select id, asm_event_json(events) as json from events where id = any($1::bigint[]) order by id', [ids]);
    for (const row of rows) yield row.json;
    if (sizes.length < EXPORT_PAGE && taken === sizes.length) return;
    after = Number(ids[ids.length - 1]);
  }
}
