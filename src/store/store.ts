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
import { maskEvent, maskEventItems, maskHook, maskTranscript, maskNewSession, maskSessionChanges, maskToolResults } from './masking';
import { createMasker, type Masker } from '../privacy/mask';
import { retentionStore, type RetentionStore } from './retention';
import { searchStore, type SearchStore } from './search';
import { sessionStore, type SessionStore } from './sessions';
import { summaryStore, type SummaryStore } from './summary';
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
  /** A session's tool calls and turns, independent of event pages. */
  readonly summary: SummaryStore;
  readonly search: SearchStore;
  readonly activity: ActivityStore;
  readonly changes: ChangeStore;
  readonly keys: KeyStore;
  readonly audit: AuditStore;
  readonly retention: RetentionStore;
  /**
   * The masker every write above passes its texts through before they are stored (REDACT, REDACT_PATTERNS).
   * A writer added later masks with it too (maskValue in masking.ts), before its first statement.
   */
  readonly masker: Masker;
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
  /** Masks secrets in what is written; the built-in detectors when absent. */
  masker?: Masker;
}

// How long a page, whole list or replay may wait for a read connection before it fails (503).
const READ_QUEUE_TIMEOUT_MS = 30_000;

/** A store on the database at `connectionString`; two stores share nothing. */
export function createStore({ connectionString, poolSize, readConnections, logger, masker = createMasker() }: StoreOptions): Store {
  const pool = createPool({ connectionString, max: poolSize, logger });
  // Pages, whole lists and replays: a few connections, so a few large reads at once, whoever asks. A large item
  // holds its connection while it is sent, so readers queue for longer than a connection takes to open.
  const readPool = createPool({ connectionString, max: readConnections, logger, queueTimeoutMillis: READ_QUEUE_TIMEOUT_MS });
  let closing: Promise<void> | undefined;
  return {
    sessions: maskedSessions(sessionStore({ pool, readPool }), masker),
    events: maskedEvents(eventStore({ pool, readPool, logger }), masker),
    hooks: maskedHooks(hookStore({ pool, logger }), masker),
    usage: maskedUsage(usageStore({ pool, readPool }), masker),
    summary: summaryStore({ readPool }),
    search: searchStore({ pool }),
    activity: activityStore({ readPool }),
    changes: changeStore({ pool, readPool }),
    keys: keyStore({ pool }),
    audit: auditStore({ pool }),
    retention: retentionStore({ pool }),
    masker,
    approvals: maskedApprovals(approvalStore({ pool }), masker),
    alerts: alertStore({ pool }),
    ping: (ms) => ping(pool, ms),
    close: () => (closing ??= Promise.all([pool.end(), readPool.end()]).then(() => undefined)),
  };
}

// Every write of client text goes through one of these: masked before the store below sees it.
const maskedSessions = (sessions: SessionStore, masker: Masker): SessionStore => ({
  ...sessions,
  create: (session) => sessions.create(maskNewSession(masker, session)),
  update: (sessionId, changes, by) => sessions.update(sessionId, maskSessionChanges(masker, changes), by),
});

const maskedEvents = (events: EventStore, masker: Masker): EventStore => ({
  ...events,
  append: (item) => events.append({ sessionId: item.sessionId, event: maskEvent(masker, item.event) }),
  appendBatch: (items) => events.appendBatch(maskEventItems(masker, items)),
  appendCreatingSession: (sessionId, event) => events.appendCreatingSession(sessionId, maskEvent(masker, event)),
});

const maskedHooks = (hooks: HookStore, masker: Masker): HookStore => ({
  ...hooks,
  record: (hook) => hooks.record(maskHook(masker, hook)),
  recordWithTranscript: (given) => hooks.recordWithTranscript({ ...given, hook: maskHook(masker, given.hook), transcript: maskTranscript(masker, given.transcript) }),
});

// The person approving sees the tool input as stored: masked like the pre_tool event it is matched with.
const maskedApprovals = (approvals: ApprovalStore, masker: Masker): ApprovalStore => ({
  ...approvals,
  create: (request, onCreated) => {
    const { toolInput, permissionSuggestions } = masker.json({ toolInput: request.toolInput, permissionSuggestions: request.permissionSuggestions }).value;
    return approvals.create({ ...request, toolInput, permissionSuggestions }, onCreated);
  },
  decide: (id, decision, by) => approvals.decide(id, decision.reason == null ? decision : { ...decision, reason: masker.text(decision.reason).text }, by),
});

const maskedUsage = (usage: UsageStore, masker: Masker): UsageStore => ({
  ...usage,
  record: (apiRequests, toolResults) => usage.record(apiRequests, maskToolResults(masker, toolResults)),
});
