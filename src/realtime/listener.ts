import pg from 'pg';
import type { Pool } from '../db/pool';
import type { Logger } from '../logger';
import { CHANGES_CHANNEL, readChangesOfTransactions, type Change } from '../store/changes';

export interface ChangeListenerOptions {
  connectionString: string;
  /** Where the changed rows are read from; the listening connection itself only listens. */
  pool: Pool;
  logger: Logger;
  /** Called with each burst's changes in commit order; never concurrently. */
  onChanges: (changes: Change[]) => void;
  /** Reconnect backoff bounds. */
  minRetryMs?: number;
  maxRetryMs?: number;
}

const TRANSACTION_ID = /^\d{1,20}$/;

/**
 * Holds this instance's one dedicated LISTEN connection. Each notification names a committed
 * transaction; the transactions heard in one burst are read in one query and handed on in order.
 * A lost connection is re-made with capped exponential backoff and jitter, forever, until stop().
 */
export class ChangeListener {
  private client: pg.Client | null = null;
  private stopped = false;
  private attempts = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private readonly heard: string[] = [];
  private draining: Promise<void> | null = null;

  constructor(private readonly options: ChangeListenerOptions) {}

  /** True while the LISTEN connection is up. */
  get listening(): boolean {
    return this.client !== null;
  }

  /** Resolves once the first LISTEN is in place; rejects if that first attempt fails. */
  async start(): Promise<void> {
    await this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const client = this.client;
    this.client = null;
    await client?.end().catch(() => undefined);
    await this.draining;
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({
      connectionString: this.options.connectionString,
      keepAlive: true,
      application_name: 'agent-session-manager:listen',
    });
    let lost = false;
    const onLost = (err?: Error) => {
      if (lost) return;
      lost = true;
      if (this.client === client) this.client = null;
      client.removeAllListeners('notification');
      client.end().catch(() => undefined);
      if (!this.stopped) {
        this.options.logger.warn('lost the LISTEN connection; reconnecting', { err });
        this.scheduleReconnect();
      }
    };
    client.on('error', onLost);
    client.on('end', () => onLost());
    client.on('notification', (message) => {
      if (message.channel !== CHANGES_CHANNEL || !message.payload || !TRANSACTION_ID.test(message.payload)) return;
      this.heard.push(message.payload);
      this.draining ??= this.drain();
    });
    await client.connect();
    await client.query(`listen ${CHANGES_CHANNEL}`);
    if (this.stopped) {
      await client.end();
      return;
    }
    this.client = client;
    this.attempts = 0;
  }

  private scheduleReconnect(): void {
    const { minRetryMs = 100, maxRetryMs = 10_000 } = this.options;
    const ceiling = Math.min(maxRetryMs, minRetryMs * 2 ** this.attempts);
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    this.attempts += 1;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.connect().then(
        () => this.options.logger.info('LISTEN connection re-established'),
        (err) => {
          this.options.logger.warn('could not re-establish the LISTEN connection', { err, attempt: this.attempts });
          if (!this.stopped) this.scheduleReconnect();
        },
      );
    }, delay);
  }

  // One read per burst: everything heard while the previous read ran is read together next.
  private async drain(): Promise<void> {
    // Let the rest of this network read's notifications arrive first.
    await new Promise((resolve) => setImmediate(resolve));
    while (this.heard.length > 0) {
      const batch = this.heard.splice(0);
      try {
        const changes = await readChangesOfTransactions(this.options.pool, batch);
        if (changes.length > 0) this.options.onChanges(changes);
      } catch (err) {
        this.options.logger.error('could not read changes for broadcast; retrying', { err, transactions: batch.length });
        this.heard.unshift(...batch);
        if (this.stopped) break;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
    this.draining = null;
  }
}
