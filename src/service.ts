import { createApp } from './app';
import { bearerKey, createKeyCheck } from './http/auth';
import { createMetrics, type Metrics } from './metrics';
import type { Config } from './config';
import { createPool, type Pool } from './db/pool';
import { migrate } from './db/migrate';
import type { Logger } from './logger';
import { Hub } from './realtime/hub';
import { ChangeListener } from './realtime/listener';
import { frameFor } from './realtime/messages';
import { listen } from './server';
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
}

const PRUNE_EVERY_MS = 60 * 60 * 1000;

/** One instance of the service on an existing database: migrate, listen for changes, serve HTTP and WebSockets. */
export async function startService({ config, databaseUrl, logger }: ServiceOptions): Promise<Service> {
  await migrate(databaseUrl, logger);
  const pool = createPool({ connectionString: databaseUrl, max: config.poolSize, logger });
  const hub: Hub = new Hub({
    logger,
    pingIntervalMs: config.wsPingIntervalMs,
    maxBacklogBytes: config.wsMaxBacklogBytes,
    onSent: (count) => metrics.framesSent(count),
  });
  const metrics = createMetrics({ websocketClients: () => hub.size });
  const listener = new ChangeListener({
    connectionString: databaseUrl,
    pool,
    logger,
    heartbeatMs: config.listenHeartbeatMs,
    maxBytes: config.pageMaxBytes,
    hasAudience: () => hub.size > 0,
    onChanges: (changes) => {
      hub.broadcast(changes.map(frameFor));
      const now = Date.now();
      for (const change of changes) if (change.committedAt) metrics.deliveryLag((now - change.committedAt.getTime()) / 1000);
    },
  });
  try {
    await listener.start();
  } catch (err) {
    hub.close();
    await pool.end();
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
  const app = createApp({ pool, listener, config, logger, metrics, writer });
  const keyAccepted = createKeyCheck(config.apiKeys);
  const server = await listen({
    app,
    // A browser cannot set headers on a WebSocket, so the key may also come as ?api_key=.
    authorize: (request, query) =>
      config.apiKeys.length === 0 || keyAccepted(bearerKey(request.headers.authorization)) || keyAccepted(query.get('api_key') ?? undefined),
    streams: { hub, pool, logger, maxBytes: config.pageMaxBytes },
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
        await pool.end();
      })();
      return closing;
    },
  };
}
