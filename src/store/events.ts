import { hasPgCode, PgErrorCode, type Pool, type Queryable } from '../db/pool';
import { EVENT_COLUMNS, toEvent, type Event } from './records';
import { withTransaction } from './tx';

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
 * Stores an event in an existing session; `null` if the session does not exist (or is deleted meanwhile).
 * The status change its type implies (session_stop: finished, session_start: running) is made by the
 * events trigger, in the same transaction.
 */
export async function appendEvent(pool: Pool, sessionId: string, event: NewEvent): Promise<AppendedEvent | null> {
  const [stored] = await appendEvents(pool, [{ sessionId, event }]);
  return stored ?? null;
}

/**
 * Stores events, in the given order, with one multi-row insert: one statement, so one transaction, and
 * the status changes they imply commit with them. Per item: the stored event, or `null` if its session
 * does not exist.
 */
export async function appendEvents(pool: Pool, items: readonly EventToStore[]): Promise<(AppendedEvent | null)[]> {
  try {
    return await insertEvents(pool, items);
  } catch (err) {
    // A session was deleted between the insert's read of it and its foreign-key check: redo without it.
    if (hasPgCode(err, PgErrorCode.FOREIGN_KEY_VIOLATION) && items.length > 0) return insertEvents(pool, items);
    throw err;
  }
}

/**
 * The deprecated `POST /events`: an event for an unknown session creates that session (named by the
 * event's session_name, else its id) instead of being refused, then is stored as by appendEvent.
 */
export async function recordEventCreatingSession(pool: Pool, sessionId: string, event: NewEvent): Promise<AppendedEvent> {
  return withTransaction(pool, async (tx) => {
    await tx.query(
      `insert into sessions (session_id, session_name) values ($1, $2)
       on conflict (session_id) do nothing`,
      [sessionId, event.session_name || sessionId],
    );
    const [appended] = await insertEvents(tx, [{ sessionId, event }]);
    if (!appended) throw new Error(`session ${sessionId} vanished inside its own transaction`);
    return appended;
  });
}

// Items are matched to stored rows by (session, event_id) when they have one; a NUL cannot occur in either.
const clientKey = (sessionId: string, eventId: string) => `${sessionId}\u0000${eventId}`;

/**
 * The multi-row insert behind every way of storing events. On the pool it is a transaction of its own;
 * on a client inside a transaction, part of that one.
 */
export async function insertEvents(db: Queryable, items: readonly EventToStore[]): Promise<(AppendedEvent | null)[]> {
  if (items.length === 0) return [];
  const column = <T>(pick: (event: NewEvent) => T) => items.map((item) => pick(item.event) ?? null);
  const { rows } = await db.query({
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
      items.map((item) => item.sessionId),
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
  const storedBefore = await findStoredEvents(db, items, createdByKey);

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

/** One page of a session's events, already serialised: `events` is the text of a JSON array. */
export interface EventPageJson {
  events: string;
  nextAfter: number | null;
}

// An event as JSON text, built by Postgres in the shape toEvent() gives: the json columns are copied
// into it as they are stored, so a page is never parsed and serialised again on its way out.
const EVENT_AS_JSON = `json_build_object(
    'id', id, 'session_id', session_id, 'session_name', session_name, 'event_type', event_type,
    'timestamp', to_char(timestamp at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    'tool_name', tool_name, 'tool_input', tool_input, 'tool_output', tool_output, 'error', error,
    'exit_code', exit_code, 'reason', reason, 'role', role, 'content', content, 'event_id', event_id,
    'tool_use_id', tool_use_id, 'prompt_id', prompt_id, 'agent_id', agent_id, 'duration_ms', duration_ms,
    'hook_input', hook_input)::text`;

/** Only events with these ids (Claude Code's); absent keys do not filter. */
export interface EventFilter {
  tool_use_id?: string;
  prompt_id?: string;
  agent_id?: string;
}

const FILTER_COLUMNS = ['tool_use_id', 'prompt_id', 'agent_id'] as const;

/** One page of a session's events in arrival order, after the event id `after`; `null` if the session does not exist. */
export async function listSessionEvents(
  pool: Pool,
  sessionId: string,
  { after = 0, limit, filter = {} }: { after?: number; limit: number; filter?: EventFilter },
): Promise<EventPageJson | null> {
  // Only the filters given are in the SQL, so a filtered page reads the partial index of its id.
  const filters = FILTER_COLUMNS.filter((name) => filter[name] !== undefined);
  const filterSql = filters.map((name, index) => ` and ${name} = $${index + 4}`).join('');
  // One snapshot, so a session deleted between the two reads is not reported as existing with no events.
  return withTransaction(pool, async (tx) => {
    // Without sorting, a page is read along the (session_id, id) index and costs the same wherever it
    // starts. Left to itself, the planner may pick a bitmap scan of the whole session and a sort when its
    // statistics lag behind a session that grew fast: 50,000 rows read for 1,000.
    await tx.query('set transaction isolation level repeatable read, read only; set local enable_sort = off');
    const exists = await tx.query('select 1 from sessions where session_id = $1', [sessionId]);
    if (exists.rowCount === 0) return null;
    const { rows } = await tx.query<{ id: string; json: string }>(
      `select id, ${EVENT_AS_JSON} as json from events where session_id = $1 and id > $2${filterSql} order by id limit $3`,
      [sessionId, after, limit + 1, ...filters.map((name) => filter[name])],
    );
    const page = rows.slice(0, limit);
    return {
      events: `[${page.map((row) => row.json).join(',')}]`,
      nextAfter: rows.length > limit ? Number(page[page.length - 1]!.id) : null,
    };
  });
}

// JSON columns get the client's value serialised by us: `undefined` (absent) is SQL null, and a JSON `null` too.
const toJsonParam = (value: unknown): string | null => (value === undefined || value === null ? null : JSON.stringify(value));
