import { createListenClient, destroyListenClient, listenTo, type ListenClient } from '../db/listenClient';
import { ping } from '../db/ping';
import type { Logger } from '../logger';
import type { Metrics } from '../metrics';
import { CHANGES_CHANNEL, latestSeq, type Change, type ChangeStore } from '../store/changes';
import { parseInteger } from '../structs/integers';
import type { Hub } from './hub';
import type { Approval } from '../domain/approval';

export interface ChangeListenerOptions {
  connectionString: string;
  /** Where the changes are read; the listening connection itself only listens. */
  changes: Pick<ChangeStore, 'read'>;
  /** Where they go: this instance's WebSocket clients. */
  hub: Pick<Hub, 'size' | 'broadcast'>;
  /** Told when the API keys changed (a keys_changed change), so that this instance reads them again. */
  onKeysChanged?: () => void;
  /** Told of every approval that left `pending`, whether or not there are WebSocket clients (a held hook waits for it). */
  onApprovalDecided?: (approval: Approval) => void;
  metrics: Pick<Metrics, 'deliveryLag'>;
  logger: Logger;
  /** The byte budget of one read of the change log. */
  maxBytes: number;
  /** How often the connection is checked with a query; a check that takes as long again counts as a lost link. */
  heartbeatMs?: number;
  minRetryMs?: number;
  maxRetryMs?: number;
}

const READ_PAGE = 2000;

/**
 * This instance's one dedicated LISTEN connection: the arrow from PostgreSQL to the browsers. A notification
 * says "changes up to N are committed"; the listener reads every change after the last one it relayed, up to
 * the highest N heard, in one query per burst, and hands them to the hub (in commit order, each once). While
 * the hub has no clients, it skips the reads: a client who connects later starts from init or replays from
 * the log. After a lost connection it reconnects with capped exponential backoff and jitter, forever,
 * re-LISTENs, and reads from where it stopped: what was committed meanwhile is relayed, not lost.
 */
export class ChangeListener {
  private client: ListenClient | null = null;
  private stopped = false;
  private attempts = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  /** The last change relayed; -1 until the first connection says where the log stands. */
  private relayed = -1;
  /** The highest change number known to be committed. */
  private committed = 0;
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
    if (this.heartbeat) clearInterval(this.heartbeat);
    const client = this.client;
    this.client = null;
    await client?.end().catch(() => undefined);
    await this.draining;
  }

  private async connect(): Promise<void> {
    const client = createListenClient(this.options.connectionString);
    let lost = false;
    const onLost = (err?: Error) => {
      if (lost) return;
      lost = true;
      // Before it was established, connect() rejects and its caller retries.
      const established = this.client === client;
      if (established) {
        this.client = null;
        if (this.heartbeat) clearInterval(this.heartbeat);
      }
      client.removeAllListeners('notification');
      destroyListenClient(client);
      if (established && !this.stopped) {
        this.options.logger.warn('lost the LISTEN connection; reconnecting', { err });
        this.scheduleReconnect();
      }
    };
    client.on('error', onLost);
    client.on('end', () => onLost());
    client.on('notification', (message) => {
      const seq = message.channel === CHANGES_CHANNEL && message.payload ? parseInteger(message.payload) : undefined;
      if (seq !== undefined) this.heard(seq);
    });
    try {
      await client.connect();
      await listenTo(client, CHANGES_CHANNEL);
      // Read after LISTEN: anything committed later is notified; anything earlier is at most this number.
      const latest = await latestSeq(client);
      if (this.stopped) throw new Error('stopped');
      this.client = client;
      this.attempts = 0;
      this.startHeartbeat(client, onLost);
      if (this.relayed < 0) this.relayed = latest;
      this.heard(latest);
    } catch (err) {
      lost = true;
      client.removeAllListeners();
      client.on('error', () => undefined);
      await client.end().catch(() => undefined);
      throw err;
    }
  }

  private startHeartbeat(client: ListenClient, onLost: (err?: Error) => void): void {
    const interval = this.options.heartbeatMs ?? 10_000;
    this.heartbeat = setInterval(() => {
      ping(client, interval).catch((err: Error) => onLost(err));
    }, interval);
    this.heartbeat.unref();
  }

  private scheduleReconnect(): void {
    const { minRetryMs = 100, maxRetryMs = 5_000 } = this.options;
    const ceiling = Math.min(maxRetryMs, minRetryMs * 2 ** this.attempts);
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    this.attempts += 1;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.connect().then(
        () => this.options.logger.info('LISTEN connection re-established', { relayed: this.relayed, committed: this.committed }),
        (err) => {
          this.options.logger.warn('could not re-establish the LISTEN connection', { err, attempt: this.attempts });
          if (!this.stopped) this.scheduleReconnect();
        },
      );
    }, delay);
  }

  private heard(seq: number): void {
    if (seq > this.committed) this.committed = seq;
    if (this.committed > this.relayed && this.relayed >= 0) this.draining ??= this.drain();
  }

  // One read per burst: notifications that arrive while a read runs are covered by the next one.
  private async drain(): Promise<void> {
    // Let the rest of this network read's notifications arrive first.
    await new Promise((resolve) => setImmediate(resolve));
    while (this.committed > this.relayed && !this.stopped) {
      try {
        // Without clients, only the key changes and decisions matter here (a probe per transaction into small indexes).
        const kinds = this.options.hub.size === 0 ? (['keys_changed', 'approval_decided'] as const) : undefined;
        const page = await this.options.changes.read({ after: this.relayed, upTo: this.committed, limit: READ_PAGE, maxBytes: this.options.maxBytes, kinds });
        if (page.changes.length > 0 && !kinds) this.relay(page.changes);
        if (page.changes.some((change) => change.kind === 'keys_changed')) this.options.onKeysChanged?.();
        for (const change of page.changes) if (change.kind === 'approval_decided') this.options.onApprovalDecided?.(change.approval);
        this.relayed = page.lastSeq;
      } catch (err) {
        this.options.logger.error('could not read changes to broadcast; retrying', { err, after: this.relayed });
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
    this.draining = null;
  }

  // Each change's time from commit to broadcast is measured.
  private relay(changes: Change[]): void {
    this.options.hub.broadcast(changes);
    const now = Date.now();
    for (const change of changes) if (change.committedAt) this.options.metrics.deliveryLag((now - change.committedAt.getTime()) / 1000);
  }
}
