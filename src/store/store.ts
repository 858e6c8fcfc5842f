import { ping } from '../db/ping';
import { createPool } from '../db/pool';
import type { Logger } from '../logger';
import { activityStore, type ActivityStore } from './activity';
import { alertStore, type AlertStore } from './alerts';
import { approvalStore, type ApprovalStore } from './approvals';
import { auditStore, type AuditStore } from './audit';
import { changeStore, type ChangeStore } from './changes';
import { hookStore, type HookStore } from './claudeCode';
import { eventStore, type EventStore } from './events';
import { keyStore, type KeyStore } from './keys';
import { searchStore, type SearchStore } from './search';
import { sessionStore, type SessionStore } from './sessions';
import { usageStore, type UsageStore } from './usage';

/**
 * The database as the rest of the service sees it: every read and write, grouped by what it is about. It owns
 * its connections and the writers that batch concurrent writes; it never sees an HTTP request.
 */
export interface Store {
  readonly sessions: SessionStore;
  readonly events: EventStore;
  readonly hooks: HookStore;
  readonly usage: UsageStore;
  readonly search: SearchStore;
  readonly activity: ActivityStore;
  readonly changes: ChangeStore;
  readonly keys: KeyStore;
  readonly audit: AuditStore;
  readonly approvals: ApprovalStore;
  readonly alerts: AlertStore;
  /** Resolves once the database answers a trivial query; rejects with its error, or when no answer comes within `ms`. */
  ping(ms: number): Promise<void>;
  /** Closes every connection; what is in flight finishes first. */
  close(): Promise<void>;
}

export interface StoreOptions {
  connectionString: string;
  /** Connections for writes and small reads. */
  poolSize: number;
  /** Connections for pages, whole lists and replays. */
  readConnections: number;
  logger: Logger;
}

// How long a page, whole list or replay may wait for a read connection before it fails (503).
const READ_QUEUE_TIMEOUT_MS = 30_000;

/** A store on the database at `connectionString`; two stores share nothing. */
export function createStore({ connectionString, poolSize, readConnections, logger }: StoreOptions): Store {
  const pool = createPool({ connectionString, max: poolSize, logger });
  // Pages, whole lists and replays: a few connections, so a few large reads at once, whoever asks. A large item
  // holds its connection while it is sent, so readers queue for longer than a connection takes to open.
  const readPool = createPool({ connectionString, max: readConnections, logger, queueTimeoutMillis: READ_QUEUE_TIMEOUT_MS });
  let closing: Promise<void> | undefined;
  return {
    sessions: sessionStore({ pool, readPool }),
    events: eventStore({ pool, readPool, logger }),
    hooks: hookStore({ pool, logger }),
    usage: usageStore({ pool, readPool }),
    search: searchStore({ pool }),
    activity: activityStore({ readPool }),
    changes: changeStore({ pool, readPool }),
    keys: keyStore({ pool }),
    audit: auditStore({ pool }),
    approvals: approvalStore({ pool }),
    alerts: alertStore({ pool }),
    ping: (ms) => ping(pool, ms),
    close: () => (closing ??= Promise.all([pool.end(), readPool.end()]).then(() => undefined)),
  };
}
