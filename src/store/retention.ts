import type { Pool, PoolClient } from '../db/pool';
import { recordAudit } from './audit';
import { deleteSessionIn } from './sessions';
import { withClient } from './tx';

/**
 * Retention: finished sessions older than a number of days, and the oldest finished sessions while the events
 * take more bytes than a limit, are deleted by the path DELETE /sessions/{id} takes (deleteSessionIn), so
 * every instance's clients hear `session_deleted`. Running (and idle) sessions are never deleted.
 */

export interface RetentionPolicy {
  /** Finished sessions whose last event is older than this many days go. */
  days?: number;
  /** The oldest finished sessions go until the events' bytes (as clients get them) are at most this. */
  maxBytes?: number;
}

export interface RetentionOptions {
  /** Sessions per batch (each batch is one transaction), at most. */
  batchSessions?: number;
  /** A batch stops taking sessions once it holds this many events (one session at least). */
  batchEvents?: number;
  /** Called after each batch commits (tests and the bench watch progress). */
  onBatch?: (batch: { sessions: number; events: number }) => void;
  /** Checked between batches: true ends the pass there (the service is closing). */
  stopped?: () => boolean;
}

export interface RetentionResult {
  /** false when another instance was running a pass (nothing was done). */
  ran: boolean;
  sessionsDeleted: number;
  eventsDeleted: number;
  batches: number;
  /** The events' bytes before and after, when a byte limit is set. */
  bytesBefore: number | null;
  bytesAfter: number | null;
}

export interface RetentionStore {
  /** As retentionPass(). */
  pass(policy: RetentionPolicy, options?: RetentionOptions): Promise<RetentionResult>;
}

export function retentionStore({ pool }: { pool: Pool }): RetentionStore {
  return { pass: (policy, options) => retentionPass(pool, policy, options) };
}

// One pass at a time across every instance: a session-level advisory lock on the pass's own connection,
// released when the pass ends (or the connection drops). Another first key than the change numbering's.
const PASS_LOCK = "hashtext('asm_retention'), 0";

const DEFAULT_BATCH_SESSIONS = 20;
const DEFAULT_BATCH_EVENTS = 5000;

// The events' bytes as clients get them (what a byte limit bounds), from the lengths kept beside each value.
const EVENT_BYTES = 'select coalesce(sum(asm_event_json_size(e)), 0)::float8 as bytes from events e';

/**
 * One retention pass: batch after batch, each its own short transaction on the pass's one connection, until no
 * finished session is older than `days` and the events' bytes are under `maxBytes`. Records `retention.pass`
 * in the audit trail when it deleted anything. Nothing to do (no policy) or another instance's pass running:
 * returns at once.
 */
export async function retentionPass(pool: Pool, policy: RetentionPolicy, options: RetentionOptions = {}): Promise<RetentionResult> {
  const result: RetentionResult = { ran: false, sessionsDeleted: 0, eventsDeleted: 0, batches: 0, bytesBefore: null, bytesAfter: null };
  if (policy.days === undefined && policy.maxBytes === undefined) return result;
  return withClient(pool, async (client, markBroken) => {
    try {
      const { rows } = await client.query<{ locked: boolean }>(`select pg_try_advisory_lock(${PASS_LOCK}) as locked`);
      if (!rows[0]!.locked) return result;
      result.ran = true;
      try {
        if (policy.days !== undefined) {
          const idleSince = new Date(Date.now() - policy.days * 24 * 3600 * 1000);
          await deleteInBatches(client, { idleSince }, options, result, () => true);
        }
        if (policy.maxBytes !== undefined) {
          const maxBytes = policy.maxBytes;
          let bytes = Number((await client.query<{ bytes: number }>(EVENT_BYTES)).rows[0]!.bytes);
          result.bytesBefore = bytes;
          await deleteInBatches(client, {}, options, result, (deletedBytes) => (bytes -= deletedBytes) > maxBytes, bytes > maxBytes);
          result.bytesAfter = bytes;
        }
        if (result.sessionsDeleted > 0) {
          await recordAudit(client, {
            action: 'retention.pass',
            key: null,
            details: {
              sessions_deleted: result.sessionsDeleted,
              events_deleted: result.eventsDeleted,
              batches: result.batches,
              days: policy.days ?? null,
              max_bytes: policy.maxBytes ?? null,
              bytes_before: result.bytesBefore,
              bytes_after: result.bytesAfter,
            },
          });
        }
      } finally {
        await client.query(`select pg_advisory_unlock(${PASS_LOCK})`);
      }
      return result;
    } catch (err) {
      markBroken();
      throw err;
    }
  });
}

/**
 * Deletes the oldest finished sessions (idle since `idleSince`, when given), a batch per transaction, while
 * `more` says so after each session (given the bytes it freed); `start` false: nothing to do.
 */
async function deleteInBatches(
  client: PoolClient,
  { idleSince }: { idleSince?: Date },
  { batchSessions = DEFAULT_BATCH_SESSIONS, batchEvents = DEFAULT_BATCH_EVENTS, onBatch, stopped }: RetentionOptions,
  result: RetentionResult,
  more: (deletedBytes: number) => boolean,
  start = true,
): Promise<void> {
  let going = start;
  while (going && !stopped?.()) {
    // The candidates, oldest first: read outside the batch's transaction, each checked again under its lock.
    const { rows } = await client.query<{ session_id: string; event_count: number }>(
      `select session_id, event_count from sessions
       where status = 'finished' and ($1::timestamptz is null or coalesce(last_event_at, created_at) < $1)
       order by coalesce(last_event_at, created_at), session_id
       limit $2`,
      [idleSince ?? null, batchSessions],
    );
    if (rows.length === 0) return;
    let events = 0;
    let sessions = 0;
    await client.query('begin');
    try {
      for (const row of rows) {
        if (sessions > 0 && events + Number(row.event_count) > batchEvents) break;
        const deleted = await deleteSessionIn(client, row.session_id, { finishedOnly: true, idleSince });
        if (deleted) {
          sessions++;
          events += deleted.eventsCount;
          if (!more(deleted.eventBytes)) {
            going = false;
            break;
          }
        }
      }
      await client.query('commit');
    } catch (err) {
      await client.query('rollback').catch(() => undefined);
      throw err;
    }
    result.batches++;
    result.sessionsDeleted += sessions;
    result.eventsDeleted += events;
    onBatch?.({ sessions, events });
    // Every candidate was resumed or deleted meanwhile: read them again, unless none could be taken at all.
    if (sessions === 0 && rows.length < batchSessions) return;
  }
}
