import { createApp } from './app';
import { authorizeUpgrade } from './http/auth';
import { siteCheck } from './http/site';
import { Keyring } from './keys/keyring';
import { createMetrics, type Metrics } from './metrics';
import { LOOPBACK_HOSTS, type Config } from './config';
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
  readonly keyring: Keyring;
  /** Graceful stop: no new connections, requests in flight finish, WebSockets get 1001, database released. */
  close(): Promise<void>;
}

export interface ServiceOptions {
  config: Config;
  databaseUrl: string;
  logger: Logger;
  /** Hub settings that are not configuration (tests shorten or lengthen them). */
  hub?: Pick<HubOptions, 'closeGraceMs'>;
  /** How often the keys' last use is written and the keys read again (a minute; tests lengthen it). */
  keyUpkeepMs?: number;
  /** false: no search indexer in this instance (tests run their own, or none to see the unindexed tail). */
  searchIndexer?: boolean;
}

const PRUNE_EVERY_MS = 60 * 60 * 1000;
// How often each instance writes when its keys were last used, and reads the keys again in case a change was missed.
const KEY_UPKEEP_EVERY_MS = 60 * 1000;

/** One instance of the service on an existing database: migrate, listen for changes, serve HTTP and WebSockets. */
export async function startService({
  config,
  databaseUrl,
  logger,
  hub: hubOptions,
  keyUpkeepMs = KEY_UPKEEP_EVERY_MS,
  searchIndexer: indexSearch = true,
}: ServiceOptions): Promise<Service> {
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
  const keyring = new Keyring({ keys: store.keys, environmentKeys: config.apiKeys, logger });
  const reloadKeys = () => keyring.reload().catch((err) => logger.warn('could not read the API keys; keeping those held', { err }));
  // A revoked key's WebSockets are closed as soon as this instance knows.
  keyring.onReload(() => {
    const closed = hub.closeClientsOfKeys((keyId) => keyring.grants(keyId, 'read'), 'API key revoked');
    if (closed > 0) logger.info('closed the WebSockets of a revoked key', { closed });
  });
  const listener = new ChangeListener({
    connectionString: databaseUrl,
    changes: store.changes,
    hub,
    onKeysChanged: () => void reloadKeys(),
    metrics,
    logger,
    heartbeatMs: config.listenHeartbeatMs,
    maxBytes: config.pageMaxBytes,
  });
  try {
    await listener.start();
    // After LISTEN: a key changed from here on is in the log the listener reads; one changed before is read here.
    await keyring.reload();
  } catch (err) {
    await listener.stop();
    hub.close();
    await store.close();
    throw err;
  }
  if (!keyring.required && !config.hosts.every((host) => LOOPBACK_HOSTS.includes(host) || host === 'localhost')) {
    logger.warn(
      '!!! NO AUTHENTICATION: listening beyond loopback without API keys — anyone who can reach this port can read, write and delete every session. Create a key (agent-session-manager keys create) or set API_KEYS. !!!',
      { hosts: config.hosts },
    );
  }
  const keyUpkeep = setInterval(() => {
    keyring.flushUses().catch((err) => logger.warn('could not record when API keys were last used', { err }));
    void reloadKeys();
  }, keyUpkeepMs);
  keyUpkeep.unref();

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

  // Search is indexed after commit, by one instance at a time (the others' runs skip); every instance reports the lag.
  const indexer = store.search.indexer({ logger, onLag: (lag) => metrics.searchIndexLag(lag) });
  if (indexSearch) indexer.start();

  const app = createApp({ store, listener, config, logger, metrics, keyring });
  const server = await serve({
    app,
    authorize: authorizeUpgrade(keyring),
    site: siteCheck(config),
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
    keyring,
    close() {
      closing ??= (async () => {
        clearInterval(pruneTimer);
        clearInterval(keyUpkeep);
        await server.close();
        await indexer.stop();
        await listener.stop();
        await keyring.flushUses().catch((err) => logger.warn('could not record when API keys were last used', { err }));
        await store.close();
      })();
      return closing;
    },
  };
}
