import type { Pool } from '../db/pool';
import { insertEvents, type AppendedEvent, type EventToStore, type NewEvent } from './events';
import { withTransaction } from './tx';

/** The outcome a session_stop gives its session (see migration 1764054000006); null for other events. */
function stopOutcome(event: NewEvent): 'failed' | 'succeeded' | null {
  if (event.event_type !== 'session_stop') return null;
  return (event.error !== null && event.error !== undefined) || (typeof event.exit_code === 'number' && event.exit_code !== 0) ? 'failed' : 'succeeded';
}

/** Sessions created by Claude Code's hooks carry this `source`; only they take the `idle` status. */
export const CLAUDE_CODE_SOURCE = 'claude-code';

export type ClaudeCodeStatus = 'running' | 'idle' | 'finished';

export interface HookEventToStore {
  sessionId: string;
  /** How to create the session if this is its first event. */
  session: { session_name: string; project_dir: string | null };
  /** The event; its `event_id` is derived from the hook input, so a hook delivered twice is stored once. */
  event: NewEvent & { event_id: string };
  /** The session's status after this event, given its status before (Claude Code sessions only). */
  nextStatus: (current: ClaudeCodeStatus) => ClaudeCodeStatus;
}

// Keys of (session, event_id) pairs; a NUL occurs in neither.
const keyOf = (sessionId: string, eventId: string) => `${sessionId}\u0000${eventId}`;

/**
 * Stores Claude Code hooks' events, in the given order, in one transaction: creates the sessions met for
 * the first time (source claude-code, running), and sets each session's status as its events imply. A
 * status change is written just before the event that causes it, so clients hear the session change
 * first, as they do for a session_stop. A hook stored before (same event_id) changes nothing. A session
 * of the same id created through the original API gets the events but keeps its own status rules.
 */
export async function recordClaudeCodeHooks(pool: Pool, items: readonly HookEventToStore[]): Promise<AppendedEvent[]> {
  if (items.length === 0) return [];
  return withTransaction(pool, async (tx) => {
    const firstOfSession = new Map<string, HookEventToStore>();
    for (const item of items) if (!firstOfSession.has(item.sessionId)) firstOfSession.set(item.sessionId, item);
    const batchSessions = [...firstOfSession.values()].sort((a, b) => (a.sessionId < b.sessionId ? -1 : a.sessionId > b.sessionId ? 1 : 0));
    // One statement: create the sessions met for the first time, lock them all (the row locks queue
    // concurrent writers of the same sessions, so each status is computed from the one before), and find
    // which of the hooks were stored before.
    type Row = { kind: 'created' | 'locked' | 'stored'; session_id: string; status: ClaudeCodeStatus; source: string | null; event_id: string };
    const sessionIds = batchSessions.map((item) => item.sessionId);
    const { rows } = await tx.query<Row>(
      `with created as (
         insert into sessions (session_id, session_name, project_dir, agent_name, source)
         select session_id, session_name, project_dir, $4, $4
         from unnest($1::text[], $2::text[], $3::text[]) as given(session_id, session_name, project_dir)
         order by session_id
         on conflict (session_id) do nothing
         returning session_id, status, source
       ), locked as (
         select session_id, status, source from sessions where session_id = any($1::text[]) order by session_id for no key update
       )
       select 'created' as kind, session_id, status, source, null as event_id from created
       union all
       select 'locked', session_id, status, source, null from locked
       union all
       select 'stored', e.session_id, null, null, e.event_id
       from unnest($5::text[], $6::text[]) as wanted(session_id, event_id)
       join events e on e.session_id = wanted.session_id and e.event_id = wanted.event_id`,
      [
        sessionIds,
        batchSessions.map((item) => item.session.session_name),
        batchSessions.map((item) => item.session.project_dir),
        CLAUDE_CODE_SOURCE,
        items.map((item) => item.sessionId),
        items.map((item) => item.event.event_id),
      ],
    );
    const sessions = rows.filter((row) => row.kind !== 'stored');
    // A session another transaction created after this statement's snapshot was taken: neither created
    // here nor visible to the lock above. Locked now, it is seen as committed.
    const missing = sessionIds.filter((id) => !sessions.some((row) => row.session_id === id));
    if (missing.length > 0) {
      const late = await tx.query<Row>(
        'select session_id, status, source from sessions where session_id = any($1::text[]) order by session_id for no key update',
        [missing],
      );
      sessions.push(...late.rows);
    }
    const status = new Map(sessions.map((row) => [row.session_id, row.status]));
    const ours = new Set(sessions.filter((row) => row.source === CLAUDE_CODE_SOURCE).map((row) => row.session_id));
    const seen = new Set(rows.filter((row) => row.kind === 'stored').map((row) => keyOf(row.session_id, row.event_id)));

    // Runs of events, each preceded by the status changes that its first event causes.
    type Segment = { updates: Map<string, { status: ClaudeCodeStatus; outcome: string | null }>; items: EventToStore[] };
    const segments: Segment[] = [{ updates: new Map(), items: [] }];
    for (const item of items) {
      const key = keyOf(item.sessionId, item.event.event_id);
      const fresh = !seen.has(key);
      seen.add(key);
      const current = status.get(item.sessionId);
      if (fresh && current !== undefined && ours.has(item.sessionId)) {
        const next = item.nextStatus(current);
        if (next !== current) {
          if (segments.at(-1)!.items.length > 0) segments.push({ updates: new Map(), items: [] });
          // A stop's outcome goes with its status change, as the events trigger would set it: one change, not two.
          segments.at(-1)!.updates.set(item.sessionId, { status: next, outcome: next === 'finished' ? stopOutcome(item.event) : null });
          status.set(item.sessionId, next);
        }
      }
      segments.at(-1)!.items.push({ sessionId: item.sessionId, event: item.event });
    }

    const appended: AppendedEvent[] = [];
    for (const segment of segments) {
      if (segment.updates.size > 0) {
        await tx.query(
          // A session running again after it ended has no outcome until its next stop.
          `update sessions s
           set status = changed.status,
               outcome = case when changed.status = 'finished' then coalesce(changed.outcome, s.outcome) else null end
           from unnest($1::text[], $2::text[], $3::text[]) as changed(session_id, status, outcome)
           where s.session_id = changed.session_id`,
          [[...segment.updates.keys()], [...segment.updates.values()].map((update) => update.status), [...segment.updates.values()].map((update) => update.outcome)],
        );
      }
      for (const result of await insertEvents(tx, segment.items)) {
        if (!result) throw new Error('a Claude Code session vanished inside its own transaction');
        appended.push(result);
      }
    }
    return appended;
  });
}
