import type { Queryable } from '../db/pool';
import { toEvent, toSession, type Event, type Session } from './records';

/** The Postgres channel the triggers notify on; each payload is the id of one committed transaction. */
export const CHANGES_CHANNEL = 'asm_changes';

export type Change =
  | { seq: number; kind: 'session_created' | 'session_updated'; session: Session }
  | { seq: number; kind: 'session_deleted'; sessionId: string }
  | { seq: number; kind: 'event'; event: Event };

/**
 * The changes written by the given transactions, in one query: transactions in the order given
 * (the order their notifications arrived, which is commit order), rows within each in write order.
 * An event deleted since (its session was deleted) is left out.
 */
export async function readChangesOfTransactions(db: Queryable, txIds: readonly string[]): Promise<Change[]> {
  if (txIds.length === 0) return [];
  const { rows } = await db.query(
    `select c.seq, c.kind, c.session_id as change_session_id, c.session,
            e.id, e.session_id, e.session_name, e.event_type, e.timestamp, e.tool_name, e.tool_input, e.tool_output,
            e.error, e.exit_code, e.reason, e.role, e.content, e.event_id
     from unnest($1::xid8[]) with ordinality as t(tx, position)
     join changes c on c.tx = t.tx
     left join events e on e.id = c.event_id
     where c.kind <> 'event' or e.id is not null
     order by t.position, c.seq`,
    [txIds],
  );
  return rows.map((row): Change => {
    const seq = Number(row.seq);
    switch (row.kind) {
      case 'session_created':
      case 'session_updated':
        return { seq, kind: row.kind, session: toSession(row.session) };
      case 'session_deleted':
        return { seq, kind: 'session_deleted', sessionId: row.change_session_id };
      default:
        return { seq, kind: 'event', event: toEvent(row) };
    }
  });
}

/** Deletes changes older than the retention; returns how many. */
export async function pruneChanges(db: Queryable, retentionHours: number): Promise<number> {
  const { rowCount } = await db.query(`delete from changes where created_at < now() - make_interval(hours => $1)`, [retentionHours]);
  return rowCount ?? 0;
}
