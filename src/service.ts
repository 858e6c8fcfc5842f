import { createApp } from './app';
import { authorizeUpgrade } from './http/auth';
import { createMetrics, type Metrics } from './metrics';
import type { Config } from './config';
import { createPool, type Pool } from './db/pool';
import { migrate } from './db/migrate';
import type { Logger } from './logger';
import { Hub, type HubOptions } from './realtime/hub';
import { ChangeListener } from './realtime/listener';
import { relay } from './realtime/relay';
import { serve } from './server';
import { pruneChanges } from './store/changes';
import { EventWriter } from './store/groupCommit';
import { prunePendingUsage } from './store/usage';

export interface Service {
  readonly urls: string[];
  readonly pool: Pool;
  readonly hub: Hub;
  readonly listener: ChangeListener;
  readonly metrics: Metrics;
  /** Graceful stop: no new connections, requests in flight finish, WebSockets get 1001, database released. */
  close(): Promise<void>;
}

export interface ServiceOptions {
  config: Config;
  databaseUrl: string;
  logger: Logger;
  /** Hub settings that are not configuration (tests shorten or lengthen them). */
  hub?: Pick<HubOptions, 'closeGraceMs'>;
}

const PRUNE_EVERY_MS = 60 * 60 * 1000;
// How long a page, whole list or replay may wait for a read connection before it is answered 503.
const READ_QUEUE_TIMEOUT_MS = 30_000;

/** One instance of the service on an existing database: migrate, listen for changes, serve HTTP and WebSockets. */
export async function startService({ config, databaseUrl, logger, hub: hubOptions }: ServiceOptions): Promise<Service> {
  await migrate(databaseUrl, logger);
  const pool = createPool({ connectionString: databaseUrl, max: config.poolSize, logger });
  // Pages, whole lists and replays: a few connections, so a few large reads at once, whoever asks. A large item
  // holds its connection while it is sent, so readers queue for longer than a connection takes to open.
  const readPool = createPool({ connectionString: databaseUrl, max: config.pageReadConnections, logger, queueTimeoutMillis: READ_QUEUE_TIMEOUT_MS });
  const hub: Hub = new Hub({
    logger,
    pingIntervalMs: config.wsPingIntervalMs,
    maxBacklogBytes: config.wsMaxBacklogBytes,
    onSent: (count) => metrics.framesSent(count),
    ...hubOptions,
  });
  const metrics = createMetrics({ websocketClients: () => hub.size });
  const listener = new ChangeListener({
    connectionString: databaseUrl,
    pool,
    logger,
    heartbeatMs: config.listenHeartbeatMs,
    maxBytes: config.pageMaxBytes,
  });
  relay(listener, hub, metrics);
  try {
    await listener.start();
  } catch (err) {
    hub.close();
    await Promise.all([pool.end(), readPool.end()]);
    throw err;
  }

  const prune = () =>
    pruneChanges(pool, config.changeRetentionHours).then(
      (count) => count > 0 && logger.info('pruned old changes', { count }),
      (err) => logger.warn('could not prune old changes', { err }),
    );
  // Usage and tool results of sessions that never appeared are kept as long as the change log.
  const prunePending = () =>
    prunePendingUsage(pool, config.changeRetentionHours).then(
      (count) => count > 0 && logger.info('pruned usage of sessions that never appeared', { count }),
      (err) => logger.warn('could not prune pending usage', { err }),
    );
  void prune();
  void prunePending();
  const pruneTimer = setInterval(() => {
    void prune();
    void prunePending();
  }, PRUNE_EVERY_MS);
  pruneTimer.unref();

  const writer = new EventWriter({ pool, logger });
  const app = createApp({ pool, readPool, listener, config, logger, metrics, writer });
  const server = await serve({
    app,
    authorize: authorizeUpgrade(config.apiKeys),
    streams: { hub, pool, readPool, logger, maxBytes: config.pageMaxBytes, sliceBytes: config.pageSliceBytes },
    hosts: config.hosts,
    port: config.port,
    logger,
    timeouts: config,
  });
  logger.info('listening', { urls: server.urls });

  let closing: Promise<void> | undefined;
  return {
    urls: server.urls,
    pool,
    hub,
    listener,
    metrics,
    close() {
      closing ??= (async () => {
        clearInterval(pruneTimer);
        await server.close();
        await listener.stop();
        await Promise.all([pool.end(), readPool.end()]);
      })();
      return closing;
    },
  };
}
