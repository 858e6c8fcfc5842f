import { hasPgCode, PgErrorCode, type Pool, type PoolClient, type Queryable } from '../db/pool';
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
}

export interface AppendedEvent {
  event: Event;
  /** false when the event_id was stored before: the stored event is returned and nothing is written. */
  created: boolean;
}

// The session status an event type sets, if any.
const STATUS_SET_BY: Record<string, 'running' | 'finished' | undefined> = {
  session_start: 'running',
  session_stop: 'finished',
};

/**
 * Stores an event in an existing session and applies the status change its type implies, in one
 * transaction; `null` if the session does not exist (or is deleted meanwhile).
 */
export async function appendEvent(pool: Pool, sessionId: string, event: NewEvent): Promise<AppendedEvent | null> {
  try {
    return await withTransaction(pool, (tx) => insertEvent(tx, sessionId, event));
  } catch (err) {
    // The session was deleted between our read of it and the insert's foreign-key check.
    if (hasPgCode(err, PgErrorCode.FOREIGN_KEY_VIOLATION)) return null;
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
    const appended = await insertEvent(tx, sessionId, event);
    if (!appended) throw new Error(`session ${sessionId} vanished inside its own transaction`);
    return appended;
  });
}

async function insertEvent(tx: PoolClient, sessionId: string, event: NewEvent): Promise<AppendedEvent | null> {
  const { rows } = await tx.query(
    `insert into events (session_id, session_name, event_type, timestamp, tool_name, tool_input, tool_output,
                         error, exit_code, reason, role, content, event_id)
     select s.session_id, coalesce($2, s.session_name), $3, coalesce($4::timestamptz, now()), $5, $6::json, $7::json,
            $8, $9::int, $10, $11, $12::json, $13
     from sessions s where s.session_id = $1
     on conflict (session_id, event_id) where event_id is not null do nothing
     returning ${EVENT_COLUMNS}`,
    [
      sessionId,
      event.session_name ?? null,
      event.event_type,
      event.timestamp ?? null,
      event.tool_name ?? null,
      toJsonParam(event.tool_input),
      toJsonParam(event.tool_output),
      event.error ?? null,
      event.exit_code ?? null,
      event.reason ?? null,
      event.role ?? null,
      toJsonParam(event.content),
      event.event_id ?? null,
    ],
  );
  if (rows[0]) {
    const status = STATUS_SET_BY[event.event_type];
    if (status) {
      await tx.query('update sessions set status = $2 where session_id = $1 and status <> $2', [sessionId, status]);
    }
    return { event: toEvent(rows[0]), created: true };
  }
  // Nothing inserted: either the session is missing, or this event_id is stored already (a retry).
  if (event.event_id != null) {
    const stored = await findEventByClientId(tx, sessionId, event.event_id);
    if (stored) return { event: stored, created: false };
  }
  return null;
}

async function findEventByClientId(db: Queryable, sessionId: string, eventId: string): Promise<Event | null> {
  const { rows } = await db.query(`select ${EVENT_COLUMNS} from events where session_id = $1 and event_id = $2`, [sessionId, eventId]);
  return rows[0] ? toEvent(rows[0]) : null;
}

/** The session's events in arrival order; `null` if the session does not exist. */
export async function listSessionEvents(pool: Pool, sessionId: string): Promise<Event[] | null> {
  // One snapshot, so a session deleted between the two reads is not reported as existing with no events.
  return withTransaction(pool, async (tx) => {
    await tx.query('set transaction isolation level repeatable read, read only');
    const exists = await tx.query('select 1 from sessions where session_id = $1', [sessionId]);
    if (exists.rowCount === 0) return null;
    const { rows } = await tx.query(`select ${EVENT_COLUMNS} from events where session_id = $1 order by id`, [sessionId]);
    return rows.map(toEvent);
  });
}

// JSON columns get the client's value serialised by us: `undefined` (absent) is SQL null, and a JSON `null` too.
const toJsonParam = (value: unknown): string | null => (value === undefined || value === null ? null : JSON.stringify(value));
