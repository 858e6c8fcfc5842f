import type { Pool, PoolClient, Queryable } from '../db/pool';
import type { Logger } from '../logger';
import { DEFAULT_MAX_INDEXED_CHARS, eventText, indexRows, type SearchColumn } from './searchText';
import { withTransaction } from './tx';

/** How far the index is behind the change log. */
export interface SearchIndexLag {
  /** Changes committed and not indexed yet. */
  changes: number;
  /** Age of the oldest change not indexed yet; 0 when none. */
  seconds: number;
  /** Events stored before search was indexed (the migration) and not indexed yet. */
  backfillPending: boolean;
}

export interface IndexRun {
  /** False when another instance holds the cursor: nothing was done. */
  locked: boolean;
  /** Changes read from the log. */
  changes: number;
  /** Events (re)indexed, the backfill's included. */
  events: number;
  /** More is waiting: run again at once. */
  more: boolean;
}

export interface SearchIndexerOptions {
  pool: Pool;
  logger: Logger;
  /** Changes read per run (one transaction). */
  batchChanges?: number;
  /** Wait between runs once caught up. */
  idleMs?: number;
  /** Characters of an event's text indexed at most. */
  maxIndexedChars?: number;
  /** Told after each run how far the index is behind (for /metrics). */
  onLag?: (lag: SearchIndexLag) => void;
}

const DEFAULT_BATCH_CHANGES = 1000;
const DEFAULT_IDLE_MS = 200;
// Bytes of event text read into memory at once; an event larger than this is read alone.
const READ_BYTES = 16 * 1024 * 1024;
// Events up to this size are read in the run's first query.
const SMALL_BYTES = 64 * 1024;

interface ChangeRow {
  seq: string;
  kind: string;
  session_id: string | null;
  event_id: string | null;
}

type EventText = { id: string; session_id: string } & Record<SearchColumn, string | null>;

/**
 * Indexes events for search after they are committed, following the change log (changes in commit order):
 * each run, in one transaction, takes the cursor row FOR UPDATE SKIP LOCKED (so one instance indexes at a
 * time and the others skip), reads the changes after it, replaces the chunks of every event they name
 * (an edit or a deletion logged with an event id is followed; a deleted event gets none), drops those of
 * deleted sessions, indexes a batch of the events stored before the index existed (newest first), and moves
 * the cursor. A restart resumes at the cursor. Searches scan what is past the cursor exactly.
 */
export class SearchIndexer {
  private readonly pool: Pool;
  private readonly logger: Logger;
  private readonly batchChanges: number;
  private readonly idleMs: number;
  private readonly maxIndexedChars: number;
  private readonly onLag?: (lag: SearchIndexLag) => void;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = true;

  constructor({ pool, logger, batchChanges = DEFAULT_BATCH_CHANGES, idleMs = DEFAULT_IDLE_MS, maxIndexedChars = DEFAULT_MAX_INDEXED_CHARS, onLag }: SearchIndexerOptions) {
    this.pool = pool;
    this.logger = logger;
    this.batchChanges = batchChanges;
    this.idleMs = idleMs;
    this.maxIndexedChars = maxIndexedChars;
    this.onLag = onLag;
  }

  /** Runs in the background until stop(): at once while there is more, every idleMs once caught up. */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule(0);
  }

  /** Stops after the run in flight (which commits or rolls back whole). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.running = this.tick().then((more) => {
        this.running = undefined;
        this.schedule(more ? 0 : this.idleMs);
      });
    }, ms);
    this.timer.unref();
  }

  private async tick(): Promise<boolean> {
    let more = false;
    try {
      more = (await this.runOnce()).more;
    } catch (err) {
      this.logger.warn('search indexing failed; trying again', { err });
    }
    if (this.onLag) {
      try {
        this.onLag(await searchIndexLag(this.pool));
      } catch (err) {
        this.logger.debug('could not read the search index lag', { err });
      }
    }
    return more && !this.stopped;
  }

  /** One run: what start() repeats. Tests call it to index on demand. */
  runOnce(): Promise<IndexRun> {
    return withTransaction(this.pool, async (client) => {
      const { rows: state } = await client.query<{ indexed_seq: string; backfill_below_id: string }>(
        'select indexed_seq, backfill_below_id from search_index_state where id = 1 for update skip locked',
      );
      if (state.length === 0) return { locked: false, changes: 0, events: 0, more: false };
      const indexedSeq = Number(state[0]!.indexed_seq);
      const backfillFrom = Number(state[0]!.backfill_below_id);
      let backfillBelow = backfillFrom;

      const changes = await readChanges(client, indexedSeq, this.batchChanges);
      const eventIds = new Set<string>();
      const deletedSessions = new Set<string>();
      for (const change of changes) {
        if (change.event_id !== null) eventIds.add(change.event_id);
        else if (change.kind === 'session_deleted' && change.session_id !== null) deletedSessions.add(change.session_id);
      }
      if (deletedSessions.size > 0) {
        await client.query('delete from event_search_cut k where k.session_id = any($1) and not exists (select 1 from events e where e.id = k.event_id)', [[...deletedSessions]]);
      }
      let events = await this.index(client, [...eventIds], { replace: true, deletedSessions: [...deletedSessions] });

      // Events stored before the index existed, newest first, while the log has little to do.
      let backfilled = 0;
      if (backfillBelow > 0 && changes.length < this.batchChanges) {
        const room = this.batchChanges - changes.length;
        const { rows } = await client.query<{ id: string }>('select id from events where id < $1 order by id desc limit $2', [backfillBelow, room]);
        backfilled = rows.length;
        events += await this.index(
          client,
          rows.map((row) => row.id),
          { replace: false, deletedSessions: [] },
        );
        backfillBelow = rows.length < room ? 0 : Number(rows[rows.length - 1]!.id);
      }

      const lastSeq = changes.length > 0 ? Number(changes[changes.length - 1]!.seq) : indexedSeq;
      // Nothing new: no write (an idle instance polls a few times a second).
      if (lastSeq === indexedSeq && backfillBelow === backfillFrom) return { locked: true, changes: 0, events: 0, more: false };
      await client.query('update search_index_state set indexed_seq = $1, backfill_below_id = $2, updated_at = now() where id = 1', [lastSeq, backfillBelow]);
      return {
        locked: true,
        changes: changes.length,
        events,
        more: changes.length >= this.batchChanges || (backfilled > 0 && backfillBelow > 0),
      };
    });
  }

  // Indexes these events as they stand. The rows that held any of them, or events of the deleted sessions,
  // go, and the other events of those rows still stored are indexed again with them. Returns how many of the
  // events still exist. The backfill does not look for such rows (`replace` false): its events were stored
  // before the index existed, and one indexed since (an edit logged) is only indexed twice, as it stands.
  private async index(client: PoolClient, ids: string[], { replace, deletedSessions }: { replace: boolean; deletedSessions: string[] }): Promise<number> {
    if (ids.length === 0 && deletedSessions.length === 0) return 0;
    // An event is in a row whose id range holds it: a probe of the index on last_event_id each, which finds
    // next to nothing for a new event (ids grow about in commit order).
    const { rows: replaced } = await client.query<{ id: string }>(
      `with held as (
         select h.id from unnest($1::bigint[]) as e(id)
         cross join lateral (
           select k.id from event_search_chunks k
           where k.last_event_id >= e.id and k.first_event_id <= e.id and e.id = any(k.event_ids)
           offset 0
         ) h
         union
         select k.id from event_search_chunks k where k.session_ids && $2::text[]
       ), gone as (
         delete from event_search_chunks k using held where k.id = held.id returning k.event_ids
       )
       select distinct unnest(event_ids) as id from gone`,
      [replace ? ids : [], deletedSessions],
    );
    const wanted = new Set(ids);
    const allIds = [...new Set([...ids, ...replaced.map((row) => row.id)])];
    if (allIds.length === 0) return 0;
    await client.query('delete from event_search_cut where event_id = any($1::bigint[])', [allIds]);
    // One read for the events of up to SMALL_BYTES (their size from the lengths kept beside each value);
    // the larger ones are read again a few at a time, so a run never holds many large texts at once.
    const { rows } = await client.query<EventText & { bytes: string }>(
      `select id, session_id, tool_name, reason, bytes,
              case when bytes <= $2 then content::text end as content, case when bytes <= $2 then tool_input::text end as tool_input,
              case when bytes <= $2 then tool_output::text end as tool_output, case when bytes <= $2 then error end as error
       from (select *, coalesce(octet_length(content::text), 0) + coalesce(octet_length(tool_input::text), 0)
                       + coalesce(octet_length(tool_output::text), 0) + coalesce(octet_length(error), 0) as bytes
             from events where id = any($1::bigint[])) e`,
      [allIds, SMALL_BYTES],
    );
    const large = rows.filter((row) => Number(row.bytes) > SMALL_BYTES);
    await this.write(
      client,
      rows.filter((row) => Number(row.bytes) <= SMALL_BYTES),
    );
    for (let i = 0; i < large.length;) {
      const group: string[] = [];
      let bytes = 0;
      while (i < large.length && (group.length === 0 || bytes + Number(large[i]!.bytes) <= READ_BYTES)) {
        bytes += Number(large[i]!.bytes);
        group.push(large[i]!.id);
        i++;
      }
      const { rows: whole } = await client.query<EventText>(
        `select id, session_id, content::text as content, tool_name, tool_input::text as tool_input,
                tool_output::text as tool_output, error, reason
         from events where id = any($1::bigint[])`,
        [group],
      );
      await this.write(client, whole);
    }
    return rows.filter((row) => wanted.has(row.id)).length;
  }

  private async write(client: Queryable, events: EventText[]): Promise<void> {
    if (events.length === 0) return;
    const texts: { id: string; session_id: string; text: string }[] = [];
    const cut: { id: string; session_id: string; text: number; indexed: number }[] = [];
    for (const event of events) {
      const { text, textChars } = eventText(event, this.maxIndexedChars);
      texts.push({ id: event.id, session_id: event.session_id, text });
      if (text.length < textChars) cut.push({ id: event.id, session_id: event.session_id, text: textChars, indexed: text.length });
    }
    const rows = indexRows(texts);
    if (rows.length > 0) {
      await client.query(
        `insert into event_search_chunks (session_ids, first_event_id, last_event_id, event_ids, chunk, body)
         select row.session_ids::text[], ids[1], ids[cardinality(ids)], ids, row.chunk, row.body
         from unnest($1::text[], $2::text[], $3::int[], $4::text[]) as row(session_ids, event_ids, chunk, body)
         cross join lateral (select row.event_ids::bigint[] as ids) i`,
        [rows.map((row) => pgArray(row.session_ids)), rows.map((row) => `{${row.event_ids.join(',')}}`), rows.map((row) => row.chunk), rows.map((row) => row.body)],
      );
    }
    if (cut.length > 0) {
      await client.query(
        `insert into event_search_cut (event_id, session_id, text_chars, indexed_chars)
         select * from unnest($1::bigint[], $2::text[], $3::bigint[], $4::bigint[])`,
        [cut.map((c) => c.id), cut.map((c) => c.session_id), cut.map((c) => c.text), cut.map((c) => c.indexed)],
      );
    }
  }
}

// A text[] literal (any text: quoted and escaped).
const pgArray = (values: string[]) => `{${values.map((value) => `"${value.replace(/[\\"]/g, (char) => `\\${char}`)}"`).join(',')}}`;

// The changes after `after`, in order, at most `limit`: each batch (one committed transaction) that starts
// within the next `limit` numbers by the index on last_seq, its changes by the index on (tx, position).
async function readChanges(db: Queryable, after: number, limit: number): Promise<ChangeRow[]> {
  const { rows } = await db.query<ChangeRow>(
    `select b.first_seq + c.position - 1 as seq, c.kind, c.session_id, c.event_id
     from (select first_seq, last_seq, tx from change_batches where last_seq > $1 and first_seq <= $1 + $2 order by last_seq limit $2) b
     cross join lateral (
       select position, kind, session_id, event_id from changes
       where changes.tx = b.tx and changes.position > $1 - b.first_seq + 1
       order by position limit $2
     ) c
     order by seq
     limit $2`,
    [after, limit],
  );
  return rows;
}

/** How far the index is behind the log; any instance can tell. */
export async function searchIndexLag(db: Queryable): Promise<SearchIndexLag> {
  const { rows } = await db.query<{ changes: string; seconds: number; backfill_pending: boolean }>(
    `select greatest(asm_last_seq() - s.indexed_seq, 0) as changes,
            coalesce(extract(epoch from clock_timestamp() - (
              select committed_at from change_batches where last_seq > s.indexed_seq order by last_seq limit 1)), 0)::float8 as seconds,
            s.backfill_below_id > 0 as backfill_pending
     from search_index_state s where s.id = 1`,
  );
  const row = rows[0];
  return row ? { changes: Number(row.changes), seconds: Math.max(0, row.seconds), backfillPending: row.backfill_pending } : { changes: 0, seconds: 0, backfillPending: false };
}
