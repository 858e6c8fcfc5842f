import type { Pool } from '../db/pool';
import type { AppendedEvent } from './events';
import { recordClaudeCodeHooks, type HookEventToStore } from './claudeCode';
import { GroupCommit, type GroupCommitOptions } from './groupCommit';

export interface ClaudeCodeWriterOptions extends Omit<GroupCommitOptions<HookEventToStore, AppendedEvent>, 'write'> {
  pool: Pool;
}

/**
 * Group commit for Claude Code hooks, as EventWriter does for single events: hooks of many sessions arrive
 * together, and one commit per hook capped the rate near 100 hooks/s.
 */
export class ClaudeCodeWriter extends GroupCommit<HookEventToStore, AppendedEvent> {
  constructor({ pool, maxBatch = 200, ...options }: ClaudeCodeWriterOptions) {
    super({ ...options, maxBatch, write: (items) => recordClaudeCodeHooks(pool, items) });
  }

  /** Stores the hook as recordClaudeCodeHooks does; resolves after its batch commits. */
  record(item: HookEventToStore): Promise<AppendedEvent> {
    return this.add(item);
  }
}
