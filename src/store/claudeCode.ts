import type { Pool, Queryable } from '../db/pool';
import type { NewEvent } from '../domain/event';
import type { StatusEffect } from '../domain/session';
import type { Logger } from '../logger';
import { EVENT_INPUTS, eventInputs } from './events';
import { GroupCommit, type GroupCommitOptions } from './groupCommit';

/** Sessions created by Claude Code's hooks carry this `source`; only they take the `idle` status. */
export const CLAUDE_CODE_SOURCE = 'claude-code';

export interface HookEventToStore {
  sessionId: string;
  /** How to create the session if this is its first event. */
  session: { session_name: string; project_dir: string | null };
  /** The event; its `event_id` is derived from the hook input, so a hook delivered twice is stored once. */
  event: NewEvent & { event_id: string };
  /** What the event does to the status of a session the hooks created. */
  effect: StatusEffect;
}

export interface StoredHook {
  /** false when the same hook was stored before (or comes earlier in the same batch). */
  created: boolean;
}

// Keys of (session, event_id) pairs; a NUL occurs in neither.
const keyOf = (sessionId: string, eventId: string) => `${sessionId}\u0000${eventId}`;

/**
 * Stores Claude Code hooks' events, in the given order, in one statement (so one transaction): creates the
 * sessions met for the first time (source claude-code, running), and sets each session's status as its
 * events imply. A status change is written just before the event that causes it, so clients hear the
 * session change first, as they do for a session_stop. A hook stored before (same event_id) changes
 * nothing. A session of the same id created through the original API gets the events but keeps its own
 * status rules. The steps are asm_record_hooks's (migration 1764054000011).
 */
export async function recordClaudeCodeHooks(db: Queryable, items: readonly HookEventToStore[]): Promise<StoredHook[]> {
  if (items.length === 0) return [];
  const { rows } = await db.query<{ session_id: string; event_id: string }>({
    name: 'record-claude-code-hooks',
    text: `select session_id, event_id from asm_record_hooks(${EVENT_INPUTS}, $2::text[], $3::text[], $4::text[])`,
    values: [eventInputs(items), items.map((item) => item.effect), items.map((item) => item.session.session_name), items.map((item) => item.session.project_dir)],
  });
  const created = new Set(rows.map((row) => keyOf(row.session_id, row.event_id)));
  // The first item of a pair stored now is the one created; a second in the same batch is a retry of it.
  return items.map((item) => ({ created: created.delete(keyOf(item.sessionId, item.event.event_id)) }));
}

/** Claude Code's hooks, stored as they come. */
export interface HookStore {
  /**
   * Stores a hook as recordClaudeCodeHooks() does, in one transaction with the hooks that arrive meanwhile
   * (group commit); resolves once that has committed.
   */
  record(hook: HookEventToStore): Promise<StoredHook>;
}

export function hookStore({ pool, logger }: { pool: Pool; logger: Logger }): HookStore {
  const writer = new ClaudeCodeWriter({ pool, logger });
  return { record: (hook) => writer.record(hook) };
}

export interface ClaudeCodeWriterOptions extends Omit<GroupCommitOptions<HookEventToStore, StoredHook>, 'write'> {
  pool: Pool;
}

/**
 * Group commit for Claude Code hooks, as EventWriter does for single events: hooks of many sessions arrive
 * together, and one commit per hook capped the rate near 100 hooks/s.
 */
export class ClaudeCodeWriter extends GroupCommit<HookEventToStore, StoredHook> {
  // No wait for company: the agent waits for each hook's answer, and batches still form from the hooks
  // that arrive while the writes before them are in flight.
  constructor({ pool, maxBatch = 200, maxWaitMs = 0, ...options }: ClaudeCodeWriterOptions) {
    super({ ...options, maxWaitMs, maxBatch, write: (items) => recordClaudeCodeHooks(pool, items) });
  }

  /** Stores the hook as recordClaudeCodeHooks does; resolves after its batch commits. */
  record(item: HookEventToStore): Promise<StoredHook> {
    return this.add(item);
  }
}
