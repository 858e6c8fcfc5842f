import type { Pool } from '../db/pool';
import { recordClaudeCodeHooks, type HookEventToStore, type StoredHook } from './claudeCode';
import { GroupCommit, type GroupCommitOptions } from './groupCommit';

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
