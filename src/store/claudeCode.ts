import type { Pool } from '../db/pool';
import { insertEvents, type AppendedEvent, type NewEvent } from './events';
import { withTransaction } from './tx';

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

/**
 * Stores one Claude Code hook's event, creating its session on the first event of any kind, and sets the
 * session's status in the same transaction. The status is written before the event, so clients hear the
 * session change first, as they do for a session_stop. A hook delivered again changes nothing.
 * A session of the same id created through the original API gets the event but keeps its own status rules.
 */
export async function recordClaudeCodeHook(pool: Pool, item: HookEventToStore): Promise<AppendedEvent> {
  return withTransaction(pool, async (tx) => {
    await tx.query(
      `insert into sessions (session_id, session_name, project_dir, agent_name, source, status)
       values ($1, $2, $3, 'claude-code', $4, $5)
       on conflict (session_id) do nothing`,
      [item.sessionId, item.session.session_name, item.session.project_dir, CLAUDE_CODE_SOURCE, item.nextStatus('running')],
    );
    // The row lock queues the hooks of one session, so the status each computes is from the one before it.
    const { rows } = await tx.query<{ status: ClaudeCodeStatus; source: string | null; stored: boolean }>(
      `select s.status, s.source,
              exists (select 1 from events e where e.session_id = s.session_id and e.event_id = $2) as stored
       from sessions s where s.session_id = $1
       for no key update`,
      [item.sessionId, item.event.event_id],
    );
    const session = rows[0];
    if (!session) throw new Error(`session ${item.sessionId} vanished inside its own transaction`);
    if (!session.stored && session.source === CLAUDE_CODE_SOURCE) {
      const status = item.nextStatus(session.status);
      if (status !== session.status) await tx.query('update sessions set status = $2 where session_id = $1', [item.sessionId, status]);
    }
    const [appended] = await insertEvents(tx, [{ sessionId: item.sessionId, event: item.event }]);
    if (!appended) throw new Error(`session ${item.sessionId} vanished inside its own transaction`);
    return appended;
  });
}
