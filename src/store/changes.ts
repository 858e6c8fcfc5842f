import type { Pool, PoolClient, Queryable } from '../db/pool';
import type { Approval } from '../domain/approval';
import type { Session } from '../domain/session';
import { toSession } from './records';
import { readSliced, type SlicedText } from './slicedText';
import { beginRead } from './tx';

/** The Postgres channel the triggers notify on; each payload is the last change number of one committed transaction. */
export const CHANGES_CHANNEL = 'asm_changes';

/** A committed change. `seq` grows by one per change, in commit order, with no gaps. */
export type Change = { seq: number; committedAt: Date | null } & (
  | { kind: 'session_created' | 'session_updated'; session: Session }
  | { kind: 'session_deleted'; sessionId: string }
  /** The event as JSON text, as asm_event_json (migration 1764054000011) builds it. */
  | { kind: 'event'; sessionId: string; eventJson: string }
  // An event deleted (with its session) after it was stored and before this change was read: its number
  // is still delivered, so a reader can tell it missed nothing.
  | { kind: 'event_gone'; sessionId: string; eventId: number }
  /** An API key was created, revoked or deleted: each instance reads the keys again. It says nothing about the key. */
  | { kind: 'keys_changed' }
  /** An approval created (pending), or its state changed (decided, expired, answered in the terminal): the row as written. */
  | { kind: 'approval_requested' | 'approval_decided'; sessionId: string; approval: Approval }
);

/**
 * A change too large to hold at once, as withChangePage() hands it out: its large text is read in slices while
 * the page's transaction is open.
 */
export type LargeChange = { seq: number; committedAt: Date | null } & (
  | {
      kind: 'session_created' | 'session_updated';
      /** The session without its large fields (null here). */
      session: Session;
      /** The fields left out of `session`, each with its value's JSON text. */
      largeFields: [field: keyof Session, json: SlicedText][];
    }
  | { kind: 'event'; sessionId: string; eventJson: SlicedText }
);

export interface ChangePage<C = Change> {
  changes: C[];
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
  /** Only changes of these kinds; all when absent. */
  kinds?: readonly Change['kind'][];
}

/** The change log: what committed, numbered, for the live feed and for clients catching up. */
export interface ChangeStore {
  /** As readChanges(). */
  read(range: ChangeRange): Promise<ChangePage>;
  /** On the few connections of replays: as withChangePage(). */
  withPage<T>(range: ChangeRange & { sliceBytes: number }, use: (page: ChangePage<Change | LargeChange>) => Promise<T>): Promise<T>;
  /** As canReplayFrom(). */
  canReplayFrom(seq: number): Promise<boolean>;
  /** As latestSeq(). */
  latest(): Promise<number>;
  /** As pruneChanges(). */
  prune(retentionHours: number): Promise<number>;
}

export function changeStore({ pool, readPool }: { pool: Pool; readPool: Pool }): ChangeStore {
  return {
    read: (range) => readChanges(pool, range),
    withPage: (range, use) => withChangePage(readPool, range, use),
    canReplayFrom: (seq) => canReplayFrom(pool, seq),
    latest: () => latestSeq(pool),
    prune: (retentionHours) => pruneChanges(pool, retentionHours),
  };
}

/**
 * Committed changes after `after` (up to `upTo`), in commit order, in one query. A change's number is its
 * transaction's first number plus its position among that transaction's changes, stored with it. An event
 * deleted since (with its session) comes as `event_gone`; its session's deletion follows it in the log.
 */
export async function readChanges(db: Queryable, range: ChangeRange): Promise<ChangePage> {
  const rows = await queryChanges(db, range, null);
  const changes = rows.filter((row) => row.seq !== null).map((row) => wholeChange(row));
  return { changes, ...reachOf(range, rows) };
}

/**
 * Like readChanges, in a read transaction held while `use` runs: a first change larger than `sliceBytes` comes
 * as a LargeChange, whose large text `use` must take before it resolves.
 */
export async function withChangePage<T>(pool: Pool, range: ChangeRange & { sliceBytes: number }, use: (page: ChangePage<Change | LargeChange>) => Promise<T>): Promise<T> {
  const read = await beginRead(pool);
  try {
    const rows = await queryChanges(read.client, range, range.sliceBytes);
    const changes: (Change | LargeChange)[] = [];
    for (const row of rows) {
      if (row.seq === null) continue;
      changes.push(row.sliced ? await largeChange(read.client, row, range.sliceBytes) : wholeChange(row));
    }
    return await use({ changes, ...reachOf(range, rows) });
  } finally {
    await read.end();
  }
}

interface ChangeRow {
  batches: number;
  covered_to: string | null;
  seq: string | null;
  kind: Change['kind'];
  change_id: string;
  change_session_id: string | null;
  change_event_id: string | null;
  session: Parameters<typeof toSession>[0] | null;
  approval: Approval | null;
  committed_at: Date | null;
  page_rows: string;
  event_json: string | null;
  sliced: boolean;
}

// The read itself; with `sliceBytes`, a first change larger than that is left unbuilt (sliced: true).
async function queryChanges(db: Queryable, { after, upTo, limit, maxBytes, sessionIds, kinds }: ChangeRange, sliceBytes: number | null): Promise<ChangeRow[]> {
  // Named, so each connection parses and plans it once: planning it took more CPU than running it, and every
  // instance runs it after every commit it hears of.
  const { rows } = await db.query<ChangeRow>({
    name: 'query-changes',
    text: `with batch as (
       -- Ordered by last_seq (the same order as first_seq: the ranges follow each other) so that the
       -- index on last_seq starts the scan right at \`after\`.
       select first_seq, last_seq, tx, committed_at from change_batches
       where last_seq > $1 and ($2::bigint is null or first_seq <= $2)
       order by last_seq
       limit $3
     ), page as (
       -- Each transaction's changes after \`after\` (and up to \`upTo\`), a range of the index on (tx, position):
       -- a page that starts inside a large transaction starts where the last one stopped. Unfiltered, no
       -- transaction can give more than a page. Lateral joins (\`offset 0\` keeps each a subquery of its own), so
       -- each transaction's changes and each change's event are fetched by index, however small the planner
       -- thinks the tables are.
       select batch.first_seq + c.position - 1 as seq, batch.committed_at, c.id as change_id, c.kind,
              c.session_id as change_session_id, c.event_id as change_event_id, c.session, c.approval,
              -- Sizes from the lengths PostgreSQL keeps beside each value: the changes past the budget are never read.
              coalesce(e.bytes, 128 + coalesce(octet_length(c.session::text), 0) + coalesce(octet_length(c.approval::text), 0)) as bytes
       from batch
       cross join lateral (
         select * from changes
         where changes.tx = batch.tx and changes.position > $1 - batch.first_seq + 1
           and ($2::bigint is null or changes.position <= $2 - batch.first_seq + 1)
           and ($4::text[] is null or changes.session_id = any($4))
           and ($7::text[] is null or changes.kind = any($7))
         order by changes.position
         limit $3
       ) c
       left join lateral (select asm_event_json_size(events) as bytes from events where events.id = c.event_id offset 0) e on true
       order by seq
       limit $3
     ), sized as (
       select page.*, count(*) over () as page_rows, sum(bytes) over (order by seq) as bytes_to_here
       from page
     ), kept as (
       select *, ($6::int is not null and seq = (select min(seq) from page) and bytes_to_here > $6) as sliced
       from sized where bytes_to_here <= $5 or seq = (select min(seq) from page)
     )
     -- One row at least, so that what the batches covered is known even when no change matched.
     -- An event leaves as JSON text built here, so the feed never parses and serialises it again; one deleted
     -- since has none.
     select coverage.batches, coverage.covered_to, kept.seq, kept.kind, kept.change_id, kept.change_session_id, kept.change_event_id,
            case when not kept.sliced then kept.session end as session, kept.approval, kept.committed_at, kept.page_rows,
            event.json as event_json, kept.sliced
     from (select count(*)::int as batches, max(last_seq) as covered_to from batch) coverage
     left join kept on true
     left join lateral (select asm_event_json(events) as json from events where events.id = kept.change_event_id and not kept.sliced offset 0) event on true
     order by kept.seq`,
    values: [after, upTo ?? null, limit, sessionIds ?? null, maxBytes, sliceBytes, kinds ?? null],
  });
  return rows;
}

function wholeChange(row: ChangeRow): Change {
  const numbered = { seq: Number(row.seq), committedAt: row.committed_at };
  switch (row.kind) {
    case 'session_created':
    case 'session_updated':
      return { ...numbered, kind: row.kind, session: toSession(row.session!) };
    case 'session_deleted':
      return { ...numbered, kind: 'session_deleted', sessionId: row.change_session_id! };
    case 'keys_changed':
      return { ...numbered, kind: 'keys_changed' };
    case 'approval_requested':
    case 'approval_decided':
      return { ...numbered, kind: row.kind, sessionId: row.change_session_id!, approval: row.approval! };
    default:
      if (row.event_json !== null) return { ...numbered, kind: 'event', sessionId: row.change_session_id!, eventJson: row.event_json };
      return { ...numbered, kind: 'event_gone', sessionId: row.change_session_id!, eventId: Number(row.change_event_id) };
  }
}

// Session fields that toSession() hands on as they are stored, so their JSON in a snapshot is their JSON in a
// message; only these are left out of a large snapshot and read in slices.
const TEXT_FIELDS: (keyof Session)[] = ['session_id', 'session_name', 'project_dir', 'agent_name'];

// A change the page left unbuilt, read in the page's transaction. Its session snapshot is parsed without its
// large text fields, which are read, as JSON, in slices; an event is read in slices whole.
async function largeChange(tx: PoolClient, row: ChangeRow, sliceBytes: number): Promise<Change | LargeChange> {
  const numbered = { seq: Number(row.seq), committedAt: row.committed_at };
  if (row.kind === 'event') {
    const eventJson = await readSliced(tx, { text: 'select asm_event_json(events) as value from events where id = $1', values: [row.change_event_id] }, sliceBytes);
    return { ...numbered, kind: 'event', sessionId: row.change_session_id!, eventJson: seenInSnapshot(eventJson, row) };
  }
  if (row.kind !== 'session_created' && row.kind !== 'session_updated') return wholeChange(row);
  const { rows } = await tx.query<{ session: Parameters<typeof toSession>[0]; large_fields: string[] }>(
    `select json_object_agg(field.key, case when field.large then null else field.value end) as session,
            array_remove(array_agg(case when field.large then field.key end), null) as large_fields
     from changes c
     cross join lateral (
       select key, value, key = any($3::text[]) and json_typeof(value) = 'string' and octet_length(value::text) > $2 as large
       from json_each(c.session)
     ) field
     where c.id = $1`,
    [row.change_id, sliceBytes, TEXT_FIELDS],
  );
  const largeFields: [keyof Session, SlicedText][] = [];
  for (const field of rows[0]!.large_fields as (keyof Session)[]) {
    const json = await readSliced(
      tx,
      { text: 'select field.value::text as value from changes c cross join lateral json_each(c.session) field where c.id = $1 and field.key = $2', values: [row.change_id, field] },
      sliceBytes,
    );
    largeFields.push([field, seenInSnapshot(json, row)]);
  }
  const session = toSession(rows[0]!.session);
  // Large as a whole, with no one field larger than a slice: parsed whole, as any other.
  if (largeFields.length === 0) return { ...numbered, kind: row.kind, session };
  return { ...numbered, kind: row.kind, session, largeFields };
}

// The page query saw what a large change's text is read from in the same snapshot, so it is there.
function seenInSnapshot(text: SlicedText | null, row: ChangeRow): SlicedText {
  if (!text) throw new Error(`change ${row.seq} is missing from the snapshot that listed it`);
  return text;
}

// How far a read reached (see reachOfRead), from its rows.
function reachOf({ after, upTo, limit }: ChangeRange, rows: ChangeRow[]): { lastSeq: number; full: boolean } {
  const found = rows.filter((row) => row.seq !== null);
  const { batches, covered_to: coveredTo } = rows[0]!;
  return reachOfRead({
    after,
    upTo,
    lastFound: found.length > 0 ? Number(found[found.length - 1]!.seq) : null,
    cut: found.length === limit || (found.length > 0 && found.length < Number(found[0]!.page_rows)),
    batchesCut: batches === limit,
    batchesEnd: coveredTo === null ? null : Number(coveredTo),
  });
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
  const { rows } = await db.query('select asm_last_seq() as last_seq');
  return Number(rows[0].last_seq);
}

/**
 * Whether every change after `seq` is still kept, so a client that has seen up to `seq` can catch up
 * from the log. False also for a number the log never reached (a client of a database since replaced).
 */
export async function canReplayFrom(db: Queryable, seq: number): Promise<boolean> {
  const { rows } = await db.query(
    `select asm_last_seq() as latest,
            (select min(first_seq) from change_batches) as oldest`,
  );
  const latest = Number(rows[0].latest);
  const oldest = rows[0].oldest === null ? latest + 1 : Number(rows[0].oldest);
  return seq <= latest && seq + 1 >= oldest;
}

/**
 * Deletes the changes of transactions older than the retention; returns how many. The newest batch stays
 * whatever its age: the next commit numbers its changes on from it (asm_last_seq, migration 1764054000010);
 * so do those the search indexer has not followed yet.
 */
export async function pruneChanges(db: Queryable, retentionHours: number): Promise<number> {
  const { rowCount } = await db.query(
    `with old as (
       delete from change_batches
       where committed_at < now() - make_interval(hours => $1)
         and last_seq < (select max(last_seq) from change_batches)
         -- The search indexer has not followed these yet (src/store/searchIndexer.ts).
         and last_seq <= (select indexed_seq from search_index_state where id = 1)
       returning tx
     )
     delete from changes c using old where c.tx = old.tx`,
    [retentionHours],
  );
  return rowCount ?? 0;
}
