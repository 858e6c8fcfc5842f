import type { Queryable } from '../db/pool';
import { EVENT_AS_JSON, EVENT_JSON_SIZE, toSession, type Session } from './records';

/** The Postgres channel the triggers notify on; each payload is the last change number of one committed transaction. */
export const CHANGES_CHANNEL = 'asm_changes';

/** A committed change. `seq` grows by one per change, in commit order, with no gaps. */
export type Change = { seq: number; committedAt: Date | null } & (
  | { kind: 'session_created' | 'session_updated'; session: Session }
  | { kind: 'session_deleted'; sessionId: string }
  /** The event as JSON text, in the shape toEvent() gives. */
  | { kind: 'event'; sessionId: string; eventJson: string }
  // An event deleted (with its session) after it was stored and before this change was read: its number
  // is still delivered, so a reader can tell it missed nothing.
  | { kind: 'event_gone'; sessionId: string; eventId: number }
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
  /** The page stops before the change that would take it past about this many bytes (one change at least). */
  maxBytes: number;
  /** Only changes of these sessions; all when absent. */
  sessionIds?: readonly string[];
}

/**
 * Committed changes after `after` (up to `upTo`), in commit order, in one query. A change's number is its
 * transaction's first number plus its place among that transaction's changes. An event deleted since (with
 * its session) comes as `event_gone`; its session's deletion follows it in the log.
 */
export async function readChanges(db: Queryable, { after, upTo, limit, maxBytes, sessionIds }: ChangeRange): Promise<ChangePage> {
  const { rows } = await db.query(
    `with batch as (
       -- Ordered by last_seq (the same order as first_seq: the ranges follow each other) so that the
       -- index on last_seq starts the scan right at \`after\`.
       select first_seq, last_seq, tx, committed_at from change_batches
       where last_seq > $1 and ($2::bigint is null or first_seq <= $2)
       order by last_seq
       limit $3
     ), numbered as (
       -- Lateral joins, so each batch's changes and each change's event are fetched by index, however
       -- small the planner thinks the tables are.
       select batch.first_seq + c.position - 1 as seq, batch.committed_at, c.kind, c.session_id, c.session, c.event_id
       from batch
       cross join lateral (
         -- A page that starts inside a large transaction skips what came before instead of numbering it;
         -- unfiltered, no transaction can give more than a page. Filtered, every change must be looked at.
         select tx_changes.*, greatest($1 - batch.first_seq + 1, 0) + row_number() over (order by tx_changes.id) as position
         from (
           select * from changes where changes.tx = batch.tx order by changes.id
           offset greatest($1 - batch.first_seq + 1, 0) limit (case when $4::text[] is null then $3 end)
         ) tx_changes
       ) c
     ), page as (
       select n.seq, n.kind, n.session_id as change_session_id, n.event_id as change_event_id, n.session, n.committed_at,
              e.*
       from numbered n
       left join lateral (select * from events where events.id = n.event_id) e on true
       where n.seq > $1 and ($2::bigint is null or n.seq <= $2)
         and ($4::text[] is null or n.session_id = any($4))
       order by n.seq
       limit $3
     ), sized as (
       -- Sizes from the lengths PostgreSQL keeps beside each value: the changes past the budget are never read.
       select page.*, count(*) over () as page_rows,
              sum(case when id is null then 128 + coalesce(octet_length(session::text), 0) else ${EVENT_JSON_SIZE} end)
                over (order by seq) as bytes_to_here
       from page
     ), kept as (
       select * from sized where bytes_to_here <= $5 or seq = (select min(seq) from page)
     )
     -- One row at least, so that what the batches covered is known even when no change matched.
     -- An event leaves as JSON text built here, so the feed never parses and serialises it again.
     select coverage.batches, coverage.covered_to, kept.seq, kept.kind, kept.change_session_id, kept.change_event_id,
            kept.session, kept.committed_at, kept.page_rows, case when kept.id is not null then ${EVENT_AS_JSON} end as event_json
     from (select count(*)::int as batches, max(last_seq) as covered_to from batch) coverage
     left join kept on true
     order by kept.seq`,
    [after, upTo ?? null, limit, sessionIds ?? null, maxBytes],
  );
  const found = rows.filter((row) => row.seq !== null);
  const changes: Change[] = [];
  for (const row of found) {
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
        if (row.event_json !== null) changes.push({ ...numbered, kind: 'event', sessionId: row.change_session_id, eventJson: row.event_json });
        else changes.push({ ...numbered, kind: 'event_gone', sessionId: row.change_session_id, eventId: Number(row.change_event_id) });
    }
  }
  const { batches, covered_to: coveredTo } = rows[0] as { batches: number; covered_to: string | null };
  return {
    changes,
    ...reachOfRead({
      after,
      upTo,
      lastFound: found.length > 0 ? Number(found[found.length - 1].seq) : null,
      cut: found.length === limit || (found.length > 0 && found.length < Number(found[0].page_rows)),
      batchesCut: batches === limit,
      batchesEnd: coveredTo === null ? null : Number(coveredTo),
    }),
  };
}

/** What one read of the change log looked at, for reachOfRead(). */
export interface ReadExtent {
  after: number;
  upTo?: number;
  /** The number of the last change the read returned; null if it returned none. */
  lastFound: number | null;
  /** Whether the read stopped before all it looked at: at `limit` changes, or at the byte budget. */
  cut: boolean;
  /** Whether the transactions (batches) it looked at were cut at `limit`. */
  batchesCut: boolean;
  /** The last number the transactions it looked at cover; null if it looked at none. */
  batchesEnd: number | null;
}

/**
 * How far a read of the change log reached, so that the next read starts right after it, and whether more
 * may follow at once. A cut read reaches its last change. Otherwise it looked at every change of the
 * transactions it read (whether they matched a filter or not), so it reaches the end of those, capped at
 * `upTo`; if the transactions themselves were not cut, nothing committed up to `upTo` is left.
 */
export function reachOfRead({ after, upTo, lastFound, cut, batchesCut, batchesEnd }: ReadExtent): { lastSeq: number; full: boolean } {
  if (cut && lastFound !== null) return { lastSeq: lastFound, full: true };
  const covered = batchesEnd === null ? after : Math.min(batchesEnd, upTo ?? Number.MAX_SAFE_INTEGER);
  if (batchesCut) return { lastSeq: covered, full: true };
  return { lastSeq: Math.max(covered, upTo ?? covered), full: false };
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
            (select min(first_seq) from change_batches) as oldest`,
  );
  const latest = Number(rows[0].latest);
  const oldest = rows[0].oldest === null ? latest + 1 : Number(rows[0].oldest);
  return seq <= latest && seq + 1 >= oldest;
}

/** Deletes the changes of transactions older than the retention; returns how many. */
export async function pruneChanges(db: Queryable, retentionHours: number): Promise<number> {
  const { rowCount } = await db.query(
    `with old as (
       delete from change_batches where committed_at < now() - make_interval(hours => $1) returning tx
     )
     delete from changes c using old where c.tx = old.tx`,
    [retentionHours],
  );
  return rowCount ?? 0;
}
