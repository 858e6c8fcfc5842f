import { isDatabaseUnavailable, type Pool } from '../db/pool';
import type { Logger } from '../logger';
import { appendEvents, type AppendedEvent, type EventToStore } from './events';

export interface GroupCommitOptions {
  pool: Pool;
  logger: Logger;
  /** How long the first event of a batch waits for company. */
  maxWaitMs?: number;
  /** A batch this full is written at once. */
  maxBatch?: number;
  /** Batches written at the same time; more wait, and grow meanwhile. */
  maxInFlight?: number;
}

interface Pending {
  item: EventToStore;
  resolve: (stored: AppendedEvent | null) => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit for single events: concurrent appends are gathered for at most `maxWaitMs` (or until a
 * batch is full) and written in one transaction with one multi-row insert, which also means one commit
 * and one notification for the lot. Each caller is answered only once its batch has committed. If a
 * batch fails for a reason other than the database being unreachable, its events are written one by
 * one, so that a bad event fails alone, with its own error.
 */
export class EventWriter {
  private queue: Pending[] = [];
  private timer: NodeJS.Timeout | null = null;
  private inFlight = 0;
  private readonly pool: Pool;
  private readonly logger: Logger;
  private readonly maxWaitMs: number;
  private readonly maxBatch: number;
  private readonly maxInFlight: number;

  constructor({ pool, logger, maxWaitMs = 1, maxBatch = 500, maxInFlight = 2 }: GroupCommitOptions) {
    this.pool = pool;
    this.logger = logger;
    this.maxWaitMs = maxWaitMs;
    this.maxBatch = maxBatch;
    this.maxInFlight = maxInFlight;
  }

  /** Stores the event as appendEvent does; resolves after its batch commits. */
  append(item: EventToStore): Promise<AppendedEvent | null> {
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
    // At the limit, the queue keeps growing until a batch in flight completes and calls flush again.
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
      const stored = await appendEvents(
        this.pool,
        batch.map((pending) => pending.item),
      );
      batch.forEach((pending, i) => pending.resolve(stored[i] ?? null));
    } catch (err) {
      if (batch.length === 1 || isDatabaseUnavailable(err)) {
        for (const pending of batch) pending.reject(err);
        return;
      }
      this.logger.warn('a group commit failed; writing its events one by one', { err, events: batch.length });
      // In order, so a session's events keep the order they were sent in.
      for (const pending of batch) await this.write([pending]);
    }
  }
}
