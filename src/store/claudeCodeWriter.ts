import type { Pool } from '../db/pool';
import { isDatabaseUnavailable } from '../errors';
import type { AppendedEvent } from './events';
import { recordClaudeCodeHooks, type HookEventToStore } from './claudeCode';

interface Pending {
  item: HookEventToStore;
  resolve: (stored: AppendedEvent) => void;
  reject: (err: unknown) => void;
}

export interface ClaudeCodeWriterOptions {
  pool: Pool;
  /** How long the first hook of a batch waits for company. */
  maxWaitMs?: number;
  /** A batch this full is written at once. */
  maxBatch?: number;
  /** Batches written at the same time; more wait, and grow meanwhile. */
  maxInFlight?: number;
}

/**
 * Group commit for Claude Code hooks, as EventWriter does for single events: hooks arriving together are
 * written in one transaction, so one commit and one notification, which is what a notifying commit costs
 * that limits the rate. Each caller is answered once its batch has committed. A batch that fails for a
 * reason other than the database being unreachable is written again one hook at a time, so a bad hook
 * fails alone.
 */
export class ClaudeCodeWriter {
  private queue: Pending[] = [];
  private timer: NodeJS.Timeout | null = null;
  private inFlight = 0;
  private readonly pool: Pool;
  private readonly maxWaitMs: number;
  private readonly maxBatch: number;
  private readonly maxInFlight: number;

  constructor({ pool, maxWaitMs = 1, maxBatch = 200, maxInFlight = 2 }: ClaudeCodeWriterOptions) {
    this.pool = pool;
    this.maxWaitMs = maxWaitMs;
    this.maxBatch = maxBatch;
    this.maxInFlight = maxInFlight;
  }

  /** Stores the hook as recordClaudeCodeHooks does; resolves after its batch commits. */
  record(item: HookEventToStore): Promise<AppendedEvent> {
    return new Promise((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (this.queue.length >= this.maxBatch) this.flush();
      else this.timer ??= setTimeout(() => this.flush(), this.maxWaitMs);
    });
  }

  private flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.inFlight >= this.maxInFlight || this.queue.length === 0) return;
    const batch = this.queue.splice(0, this.maxBatch);
    this.inFlight += 1;
    void this.write(batch).finally(() => {
      this.inFlight -= 1;
      if (this.queue.length > 0) this.flush();
    });
  }

  private async write(batch: Pending[]): Promise<void> {
    try {
      const stored = await recordClaudeCodeHooks(
        this.pool,
        batch.map((pending) => pending.item),
      );
      batch.forEach((pending, i) => pending.resolve(stored[i]!));
    } catch (err) {
      if (batch.length === 1 || isDatabaseUnavailable(err)) {
        for (const pending of batch) pending.reject(err);
        return;
      }
      // In order, so a session's hooks keep the order they came in.
      for (const pending of batch) await this.write([pending]);
    }
  }
}
