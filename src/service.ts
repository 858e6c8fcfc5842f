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
import { ApprovalHolds } from './approvals/holds';
import { AlertSender, type AlertSenderOptions } from './alerts/sender';
import { serve } from './server';
import { createStore, type Store } from './store/store';
import { createMasker } from './privacy/mask';

export interface Service {
  readonly urls: string[];
  readonly store: Store;
  readonly hub: Hub;
  readonly listener: ChangeListener;
  readonly metrics: Metrics;
  readonly keyring: Keyring;
  /** The PermissionRequest hooks this instance holds open. */
  readonly holds: ApprovalHolds;
  /** Graceful stop: no new connections, requests in flight finish, WebSockets get 1001, database released. */
  close(): Promise<void>;
}

export interface ServiceOptions {
  config: Config;
  databaseUrl: string;
  logger: Logger;
  /** Hub settings that are not configuration (tests shorten or lengthen them). */
  hub?: Pick<HubOptions, 'closeGraceMs' | 'stallMs'>;
  /** How often the keys' last use is written and the keys read again (a minute; tests lengthen it). */
  keyUpkeepMs?: number;
  /** false: no search indexer in this instance (tests run their own, or none to see the unindexed tail). */
  searchIndexer?: boolean;
  /** Alert sender timings (tests shorten them). */
  alerts?: Pick<AlertSenderOptions, 'intervalMs' | 'retryBaseMs' | 'timeoutMs'>;
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
  alerts: alertTimings,
}: ServiceOptions): Promise<Service> {
  await migrate(databaseUrl, logger);
  const masker = createMasker({ enabled: config.redact, patterns: config.redactPatterns });
  if (!config.redact) logger.warn('REDACT=off: secrets in what agents send are stored, searchable and shown as sent');
  const store = createStore({ connectionString: databaseUrl, poolSize: config.poolSize, readConnections: config.pageReadConnections, logger, masker });
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
  const holds = new ApprovalHolds();
  const listener = new ChangeListener({
    connectionString: databaseUrl,
    changes: store.changes,
    hub,
    onKeysChanged: () => void reloadKeys(),
    onApprovalDecided: (approval) => holds.decided(approval),
    metrics,
    logger,
    heartbeatMs: config.listenHeartbeatMs,
    maxBytes: config.pageMaxBytes,
  });
  try {
    await listener.start();
    // After LISTEN: a key changed from here on is in the log the listener reads; one changed before is read here.
    await keyring.reload();
    // The budget new sessions take, for every instance's sessions: set the same SESSION_BUDGET_USD on each.
    await store.approvals.setDefaultBudget(config.sessionBudgetUsd ?? null);
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
  // Alerts sent (or given up) are kept a day, for a look at what went out.
  const pruneAlerts = () => store.alerts.prune(24).catch((err) => logger.warn('could not prune old alerts', { err }));
  void prune();
  void prunePending();
  void pruneAlerts();
  const pruneTimer = setInterval(() => {
    void prune();
    void prunePending();
    void pruneAlerts();
  }, PRUNE_EVERY_MS);
  pruneTimer.unref();

  // Search is indexed after commit, by one instance at a time (the others' runs skip); every instance reports the lag.
  const indexer = store.search.indexer({ logger, onLag: (lag) => metrics.searchIndexLag(lag) });
  if (indexSearch) indexer.start();

  // Retention (off unless RETENTION_DAYS or RETENTION_MAX_BYTES is set): one pass at a time across instances.
  let retentionRunning: Promise<unknown> | undefined;
  let stopping = false;
  const retain = () =>
    (retentionRunning ??= store.retention
      .pass({ days: config.retentionDays, maxBytes: config.retentionMaxBytes }, { stopped: () => stopping })
      .then(
        (result) => result.sessionsDeleted > 0 && logger.info('retention pass deleted sessions', { sessions: result.sessionsDeleted, events: result.eventsDeleted }),
        (err) => logger.warn('retention pass failed', { err }),
      )
      .finally(() => (retentionRunning = undefined)));
  const retentionOn = config.retentionDays !== undefined || config.retentionMaxBytes !== undefined;
  const retentionTimer = retentionOn ? setInterval(() => void retain(), config.retentionIntervalMinutes * 60_000) : undefined;
  retentionTimer?.unref();
  if (retentionOn) void retain();

  // Approvals whose instance died holding them (no shutdown answered them) leave the queue: a minute after
  // the longest hold (every instance is expected to have the same APPROVAL_HOLD_SECONDS).
  const sweepApprovals = setInterval(() => {
    store.approvals.expireAbandoned(config.approvalHoldSeconds + 60).then(
      (count) => count > 0 && logger.info('expired approvals no instance holds', { count }),
      (err) => logger.warn('could not expire abandoned approvals', { err }),
    );
  }, 30_000);
  sweepApprovals.unref();

  const alertSender =
    config.alertWebhookUrls.length > 0 ? new AlertSender({ alerts: store.alerts, urls: config.alertWebhookUrls, publicUrl: config.publicUrl, logger, ...alertTimings }) : null;
  alertSender?.start();

  const app = createApp({ store, listener, config, logger, metrics, keyring, holds });
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
    holds,
    close() {
      closing ??= (async () => {
        // Held hooks answer `{}` first (Claude Code then asks in the terminal), their approvals expire.
        const released = holds.releaseAll();
        await store.approvals.expireMany(released, 'the server holding the hook shut down').catch((err) => logger.warn('could not expire held approvals', { err }));
        clearInterval(pruneTimer);
        clearInterval(retentionTimer);
        stopping = true;
        await retentionRunning;
        clearInterval(keyUpkeep);
        clearInterval(sweepApprovals);
        await server.close();
        await indexer.stop();
        await alertSender?.stop();
        await listener.stop();
        await keyring.flushUses().catch((err) => logger.warn('could not record when API keys were last used', { err }));
        await store.close();
      })();
      return closing;
    },
  };
}
