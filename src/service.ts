import { createApp } from './app';
import { authorizeUpgrade } from './http/auth';
import { createMetrics, type Metrics } from './metrics';
import type { Config } from './config';
import { migrate } from './db/migrate';
import type { Logger } from './logger';
import { Hub, type HubOptions } from './realtime/hub';
import { ChangeListener } from './realtime/listener';
import { serve } from './server';
import { createStore, type Store } from './store/store';

export interface Service {
  readonly urls: string[];
  readonly store: Store;
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

/** One instance of the service on an existing database: migrate, listen for changes, serve HTTP and WebSockets. */
export async function startService({ config, databaseUrl, logger, hub: hubOptions }: ServiceOptions): Promise<Service> {
  await migrate(databaseUrl, logger);
  const store = createStore({ connectionString: databaseUrl, poolSize: config.poolSize, readConnections: config.pageReadConnections, logger });
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
    changes: store.changes,
    hub,
    metrics,
    logger,
    heartbeatMs: config.listenHeartbeatMs,
    maxBytes: config.pageMaxBytes,
  });
  try {
    await listener.start();
  } catch (err) {
    hub.close();
    await store.close();
    throw err;
  }

  const prune = () =>
    store.changes.prune(config.changeRetentionHours).then(
      (count) => count > 0 && logger.info('pruned old changes', { count }),
      (err) => logger.warn('could not prune old changes', { err }),
    );
  // Usage and tool results of sessions that never appeared are kept as long as the change log.
  const prunePending = () =>
    store.usage.prunePending(config.changeRetentionHours).then(
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

  const app = createApp({ store, listener, config, logger, metrics });
  const server = await serve({
    app,
    authorize: authorizeUpgrade(config.apiKeys),
    streams: { hub, store, logger, maxBytes: config.pageMaxBytes, sliceBytes: config.pageSliceBytes },
    hosts: config.hosts,
    port: config.port,
    logger,
    timeouts: config,
  });
  logger.info('listening', { urls: server.urls });

  let closing: Promise<void> | undefined;
  return {
    urls: server.urls,
    store,
    hub,
    listener,
    metrics,
    close() {
      closing ??= (async () => {
        clearInterval(pruneTimer);
        await server.close();
        await listener.stop();
        await store.close();
      })();
      return closing;
    },
  };
}
