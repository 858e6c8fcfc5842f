import { isDatabaseUnavailable } from '../errors';
import type { Logger } from '../logger';

export interface GroupCommitOptions<Item, Result> {
  /** Writes a batch in one transaction; one result per item, in order. */
  write: (items: Item[]) => Promise<Result[]>;
  logger: Logger;
  /** How long the first item of a batch waits for company; 0: until the event loop's current turn ends. */
  maxWaitMs?: number;
  /** A batch this full is written at once. */
  maxBatch?: number;
  /** Batches written at the same time; more wait, and grow meanwhile. */
  maxInFlight?: number;
}

interface Pending<Item, Result> {
  item: Item;
  resolve: (result: Result) => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit: concurrent writes are gathered for at most `maxWaitMs` (or until a batch is full) and
 * written together in one transaction, which also means one commit and one notification for the lot —
 * what a notifying commit costs is what limits the rate. Each caller is answered only once its batch has
 * committed. If a batch fails for a reason other than the database being unreachable, its items are
 * written one by one, in order, so that a bad item fails alone, with its own error.
 */
export class GroupCommit<Item, Result> {
  private queue: Pending<Item, Result>[] = [];
  /** Cancels the pending flush, if one is set. */
  private cancelFlush: (() => void) | null = null;
  private inFlight = 0;
  private readonly write: (items: Item[]) => Promise<Result[]>;
  private readonly logger: Logger;
  private readonly maxWaitMs: number;
  private readonly maxBatch: number;
  private readonly maxInFlight: number;

  constructor({ write, logger, maxWaitMs = 1, maxBatch = 500, maxInFlight = 2 }: GroupCommitOptions<Item, Result>) {
    this.write = write;
    this.logger = logger;
    this.maxWaitMs = maxWaitMs;
    this.maxBatch = maxBatch;
    this.maxInFlight = maxInFlight;
  }

  /** Writes the item with others that come meanwhile; resolves with its result after its batch commits. */
  add(item: Item): Promise<Result> {
    return new Promise((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (this.queue.length >= this.maxBatch) this.flush();
      else this.cancelFlush ??= this.scheduleFlush();
    });
  }

  // With no wait, a batch holds what arrived in the same turn of the event loop, and what arrives while
  // maxInFlight batches are being written.
  private scheduleFlush(): () => void {
    if (this.maxWaitMs === 0) {
      const immediate = setImmediate(() => this.flush());
      return () => clearImmediate(immediate);
    }
    const timer = setTimeout(() => this.flush(), this.maxWaitMs);
    return () => clearTimeout(timer);
  }

  private flush(): void {
    this.cancelFlush?.();
    this.cancelFlush = null;
    // At the limit, the queue keeps growing until a batch in flight completes and calls flush again.
    if (this.inFlight >= this.maxInFlight || this.queue.length === 0) return;
    const batch = this.queue.splice(0, this.maxBatch);
    this.inFlight += 1;
    void this.writeBatch(batch).finally(() => {
      this.inFlight -= 1;
      if (this.queue.length > 0) this.flush();
    });
  }

  private async writeBatch(batch: Pending<Item, Result>[]): Promise<void> {
    try {
      const results = await this.write(batch.map((pending) => pending.item));
      batch.forEach((pending, i) => pending.resolve(results[i]!));
    } catch (err) {
      if (batch.length === 1 || isDatabaseUnavailable(err)) {
        for (const pending of batch) pending.reject(err);
        return;
      }
      this.logger.warn('a group commit failed; writing its items one by one', { err, items: batch.length });
      // In order, so a session's items keep the order they were sent in.
      for (const pending of batch) await this.writeBatch([pending]);
    }
  }
}
