import type { Queryable } from '../db/pool';
import { toEvent, toSession, type Event, type Session } from './records';

/** The Postgres channel the triggers notify on; each payload is the last change number of one committed transaction. */
export const CHANGES_CHANNEL = 'asm_changes';

/** A committed change. `seq` grows by one per change, in commit order, with no gaps. */
export type Change = { seq: number; committedAt: Date | null } & (
  | { kind: 'session_created' | 'session_updated'; session: Session }
  | { kind: 'session_deleted'; sessionId: string }
  | { kind: 'event'; event: Event }
);

export interface ChangePage {
  changes: Change[];
  /** The last change number the page covers (its changes may leave out events deleted since). */
  lastSeq: number;
  /** Whether the page was cut at `limit`: more follow. */
  full: boolean;
}

export interface ChangeRange {
  after: number;
  upTo?: number;
  limit: number;
  /** Only changes of these sessions; all when absent. */
  sessionIds?: readonly string[];
}

/**
 * Committed changes after `after` (up to `upTo`), in commit order, in one query. Events deleted since
 * (with their session) are left out: their session's deletion follows them in the log.
 */
export async function readChanges(db: Queryable, { after, upTo, limit, sessionIds }: ChangeRange): Promise<ChangePage> {
  const { rows } = await db.query(
    `select c.seq, c.kind, c.session_id as change_session_id, c.session, c.committed_at,
            e.id, e.session_id, e.session_name, e.event_type, e.timestamp, e.tool_name, e.tool_input, e.tool_output,
            e.error, e.exit_code, e.reason, e.role, e.content, e.event_id
     from changes c
     left join events e on e.id = c.event_id
     where c.seq > $1 and ($2::bigint is null or c.seq <= $2)
       and ($4::text[] is null or c.session_id = any($4))
     order by c.seq
     limit $3`,
    [after, upTo ?? null, limit, sessionIds ?? null],
  );
  const changes: Change[] = [];
  for (const row of rows) {
    const numbered = { seq: Number(row.seq), committedAt: row.committed_at as Date | null };
    switch (row.kind) {
      case 'session_created':
      case 'session_updated':
        changes.push({ ...numbered, kind: row.kind, session: toSession(row.session) });
        break;
      case 'session_deleted':
        changes.push({ ...numbered, kind: 'session_deleted', sessionId: row.change_session_id });
        break;
      default:
        if (row.id !== null) changes.push({ ...numbered, kind: 'event', event: toEvent(row) });
    }
  }
  const full = rows.length === limit;
  const lastSeq = rows.length > 0 ? Number(rows[rows.length - 1].seq) : (upTo ?? after);
  return { changes, lastSeq: full ? lastSeq : Math.max(lastSeq, upTo ?? lastSeq), full };
}

/** The number of the last committed change (0 before the first). */
export async function latestSeq(db: Queryable): Promise<number> {
  const { rows } = await db.query('select last_seq from change_counter');
  return Number(rows[0].last_seq);
}

/**
 * Whether every change after `seq` is still kept, so a client that has seen up to `seq` can catch up
 * from the log. False also for a number the log never reached (a client of a database since replaced).
 */
export async function canReplayFrom(db: Queryable, seq: number): Promise<boolean> {
  const { rows } = await db.query(
    `select (select last_seq from change_counter) as latest,
            (select min(seq) from changes where seq is not null) as oldest`,
  );
  const latest = Number(rows[0].latest);
  const oldest = rows[0].oldest === null ? latest + 1 : Number(rows[0].oldest);
  return seq <= latest && seq + 1 >= oldest;
}

/** Deletes changes older than the retention; returns how many. */
export async function pruneChanges(db: Queryable, retentionHours: number): Promise<number> {
  const { rowCount } = await db.query(
    `delete from changes where created_at < now() - make_interval(hours => $1) and seq is not null`,
    [retentionHours],
  );
  return rowCount ?? 0;
}
