import type { Pool, PoolClient, Queryable } from '../db/pool';
import { takeWithinBudget } from './budget';
import { jsonPieces, piecesOf, type JsonText } from './jsonText';
import { EVENT_AS_JSON, EVENT_COLUMNS, EVENT_JSON_SIZE, toEvent, type Event } from './records';
import { readSliced, type SlicedText } from './slicedText';
import { beginRead, withTransaction } from './tx';

/** An event as a client sends it, validated; absent optional fields are `undefined`. */
export interface NewEvent {
  event_type: string;
  session_name?: string | null;
  timestamp?: string | null;
  tool_name?: string | null;
  tool_input?: unknown;
  tool_output?: unknown;
  error?: string | null;
  exit_code?: number | null;
  reason?: string | null;
  role?: string | null;
  content?: unknown;
  event_id?: string | null;
  tool_use_id?: string | null;
  prompt_id?: string | null;
  agent_id?: string | null;
  duration_ms?: number | null;
  hook_input?: unknown;
}

export interface EventToStore {
  sessionId: string;
  event: NewEvent;
}

export interface AppendedEvent {
  event: Event;
  /** false when the event_id was stored before: the stored event is returned and nothing is written. */
  created: boolean;
}

/**
 * Stores events, in the given order, in one transaction: the status changes they imply commit with them.
 * Per item: the stored event, or `null` if its session does not exist.
 */
export async function appendEvents(pool: Pool, items: readonly EventToStore[]): Promise<(AppendedEvent | null)[]> {
  if (items.length === 0) return [];
  return withTransaction(pool, (tx) => insertEvents(tx, items));
}

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
      const [stored] = await insertEvents(tx, [{ sessionId, event }]);
      return stored;
    });
    if (appended) return appended;
  }
}

// Items are matched to stored rows by (session, event_id) when they have one; a NUL cannot occur in either.
const clientKey = (sessionId: string, eventId: string) => `${sessionId}\u0000${eventId}`;

/**
 * The multi-row insert behind every way of storing events, on a client inside a transaction (the caller's).
 *
 * Event ids come from a sequence, and a sequence gives numbers in the order they are asked for, not in the
 * order their transactions commit: T1 takes 10, T2 takes 11 and commits first, and a reader paging with
 * `after=11` never sees 10. So the rows of the sessions written are locked first, in one order (no
 * deadlock between two writers), before the insert draws any id: a second writer to the same session waits
 * until the first has committed, then draws higher ids. Within a session, id order is commit order.
 */
export async function insertEvents(tx: PoolClient, items: readonly EventToStore[]): Promise<(AppendedEvent | null)[]> {
  if (items.length === 0) return [];
  const locked = await tx.query<{ session_id: string }>({
    name: 'lock-sessions-for-events',
    text: 'select session_id from sessions where session_id = any($1::text[]) order by session_id for no key update',
    values: [[...new Set(items.map((item) => item.sessionId))]],
  });
  // A session created after the lock was taken is treated as not there yet: its events would draw ids unlocked.
  const present = new Set(locked.rows.map((row) => row.session_id));
  const storable = items.filter((item) => present.has(item.sessionId));
  const column = <T>(pick: (event: NewEvent) => T) => storable.map((item) => pick(item.event) ?? null);
  const { rows } = await tx.query({
    // Prepared once per connection: the plan of this statement is the same every time.
    name: 'insert-events',
    text: `insert into events (session_id, session_name, event_type, timestamp, tool_name, tool_input, tool_output,
                         error, exit_code, reason, role, content, event_id, tool_use_id, prompt_id, agent_id, duration_ms,
                         hook_input)
     select s.session_id, coalesce(item.session_name, s.session_name), item.event_type, coalesce(item.timestamp, now()),
            item.tool_name, item.tool_input, item.tool_output, item.error, item.exit_code, item.reason, item.role,
            item.content, item.event_id, item.tool_use_id, item.prompt_id, item.agent_id, item.duration_ms, item.hook_input
     from unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::json[], $7::json[],
                 $8::text[], $9::int[], $10::text[], $11::text[], $12::json[], $13::text[], $14::text[], $15::text[],
                 $16::text[], $17::float8[], $18::json[])
            with ordinality as item(session_id, session_name, event_type, timestamp, tool_name, tool_input, tool_output,
                                    error, exit_code, reason, role, content, event_id, tool_use_id, prompt_id, agent_id,
                                    duration_ms, hook_input, position)
     join sessions s on s.session_id = item.session_id
     order by item.position
     on conflict (session_id, event_id) where event_id is not null do nothing
     returning ${EVENT_COLUMNS}`,
    values: [
      storable.map((item) => item.sessionId),
      column((e) => e.session_name),
      column((e) => e.event_type),
      column((e) => e.timestamp),
      column((e) => e.tool_name),
      column((e) => toJsonParam(e.tool_input)),
      column((e) => toJsonParam(e.tool_output)),
      column((e) => e.error),
      column((e) => e.exit_code),
      column((e) => e.reason),
      column((e) => e.role),
      column((e) => toJsonParam(e.content)),
      column((e) => e.event_id),
      column((e) => e.tool_use_id),
      column((e) => e.prompt_id),
      column((e) => e.agent_id),
      column((e) => e.duration_ms),
      column((e) => toJsonParam(e.hook_input)),
    ],
  });

  // Rows come back in insertion order, which is the items' order. Items without an event_id are never
  // skipped, so per session they take that session's rows without one in turn.
  const created = rows.map(toEvent);
  const createdByKey = new Map<string, Event>();
  const withoutClientId = new Map<string, Event[]>();
  for (const event of created) {
    if (event.event_id !== null) createdByKey.set(clientKey(event.session_id, event.event_id), event);
    else withoutClientId.set(event.session_id, [...(withoutClientId.get(event.session_id) ?? []), event]);
  }
  const storedBefore = await findStoredEvents(tx, storable, createdByKey);

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

// Events that items name by event_id but the insert skipped: stored before, by an earlier request.
async function findStoredEvents(db: Queryable, items: readonly EventToStore[], created: Map<string, Event>): Promise<Map<string, Event>> {
  const missing = items.filter(({ sessionId, event }) => event.event_id != null && !created.has(clientKey(sessionId, event.event_id)));
  const found = new Map<string, Event>();
  if (missing.length === 0) return found;
  const { rows } = await db.query(
    `select ${EVENT_COLUMNS.split(', ').map((name) => `e.${name}`).join(', ')}
     from unnest($1::text[], $2::text[]) as wanted(session_id, event_id)
     join events e on e.session_id = wanted.session_id and e.event_id = wanted.event_id`,
    [missing.map((item) => item.sessionId), missing.map((item) => item.event.event_id)],
  );
  for (const event of rows.map(toEvent)) found.set(clientKey(event.session_id, event.event_id!), event);
  return found;
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
export async function listSessionEvents(
  pool: Pool,
  sessionId: string,
  { after = 0, limit, maxBytes, sliceBytes, filter = {} }: EventPageRequest,
): Promise<EventPageJson | null> {
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
         select id as candidate_id, sum(${EVENT_JSON_SIZE}) over (order by id) as bytes_to_here, count(*) over () as candidates
         from (select * from events where session_id = $1 and id > $2${filterSql} order by id limit $3) e
       )
       -- Each row that fits is fetched by its id (offset 0 keeps the lookup a lookup: joined, the planner
       -- may walk the whole session to avoid sorting a page). They come in id order, sorted below.
       select id, case when candidate_id = (select min(candidate_id) from candidate) and bytes_to_here > $5 then null
                       else ${EVENT_AS_JSON} end as json,
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
  const sliced = await readSliced(tx, { text: `select ${EVENT_AS_JSON} as value from events where id = $1`, values: [id] }, sliceBytes);
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

// JSON columns get the client's value serialised by us: `undefined` (absent) is SQL null, and a JSON `null` too.
const toJsonParam = (value: unknown): string | null => (value === undefined || value === null ? null : JSON.stringify(value));

const EXPORT_PAGE = 200;

/**
 * Every event of a session in id order, as JSON text, one event per item, read a page at a time when the
 * previous page has been taken (for exports: memory holds a page). Nothing if the session has no events.
 */
export async function* sessionEventJson(db: Queryable, sessionId: string): AsyncGenerator<string> {
  let after = 0;
  for (;;) {
    const { rows } = await db.query<{ id: string; json: string }>(
      `select id, ${EVENT_AS_JSON} as json from events where session_id = $1 and id > $2 order by id limit $3`,
      [sessionId, after, EXPORT_PAGE],
    );
    for (const row of rows) yield row.json;
    if (rows.length < EXPORT_PAGE) return;
    after = Number(rows[rows.length - 1]!.id);
  }
}
