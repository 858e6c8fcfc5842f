import path from 'node:path';
import { array, boolean, coerce, create, defaulted, enums, integer, max, min, number, object, optional, refine, string } from 'superstruct';
import { integerFromText } from './structs/integers';
import { compilePatterns, type RedactPattern } from './privacy/mask';

const DEFAULT_CORS_ORIGINS = ['http://localhost:5173', 'http://localhost:3000', 'http://127.0.0.1:5173', 'http://127.0.0.1:3000'];

/** The loopback addresses the server binds when HOST is not set: clients say `localhost`, which may be either. */
export const LOOPBACK_HOSTS = ['127.0.0.1', '::1'];

/** The names of the loopback interface, which a browser on this machine reaches the server by. */
const LOOPBACK_NAMES = ['localhost', ...LOOPBACK_HOSTS];
/** Addresses that mean "every interface": a server is never reached by these names. */
const WILDCARD_HOSTS = ['0.0.0.0', '::', '[::]'];

const Port = integerFromText(min(max(integer(), 65535), 0));
const PositiveInt = integerFromText(min(integer(), 1));
const List = coerce(array(string()), string(), (value) =>
  value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== ''),
);
// A decimal amount, e.g. `5` or `12.50`.
const Amount = coerce(
  refine(number(), 'amount', (value) => (Number.isFinite(value) && value >= 0) || 'must be a number of at least 0'),
  string(),
  (value) => (/^\s*\d+(\.\d+)?\s*$/.test(value) ? Number(value) : Number.NaN),
);
const HttpUrl = refine(string(), 'url', (value) => /^https?:\/\/[^\s]+$/.test(value) || 'must be an http(s) URL');
const Flag = coerce(boolean(), string(), (value) => ['1', 'true', 'yes', 'on'].includes(value.trim().toLowerCase()));

// REDACT: on unless turned off by name; anything else is refused, so a typo never turns masking off.
const Switch = coerce(boolean(), string(), (value) => {
  const word = value.trim().toLowerCase();
  return ['1', 'true', 'yes', 'on'].includes(word) ? true : ['0', 'false', 'no', 'off'].includes(word) ? false : value;
});

// REDACT_PATTERNS: a JSON array of RE2 patterns, each a string (masked as `[redacted:pattern]`) or
// {"kind": "...", "pattern": "..."}; each must compile.
const KIND = /^[a-z0-9_]{1,40}$/;
const Patterns = coerce(array(object({ kind: string(), pattern: string() })), string(), (value): unknown => {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return value;
  }
  if (!Array.isArray(parsed)) return value;
  return parsed.map((item: unknown) => (typeof item === 'string' ? { kind: 'pattern', pattern: item } : item));
});

export const LogLevel = enums(['debug', 'info', 'warn', 'error', 'silent']);
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

const Environment = object({
  PORT: defaulted(Port, 8765),
  HOST: optional(string()),
  DATABASE_URL: optional(string()),
  DATA_DIR: defaulted(string(), './.data'),
  CORS_ORIGINS: defaulted(List, DEFAULT_CORS_ORIGINS),
  LOG_LEVEL: optional(LogLevel),
  DEBUG_LOGGING: defaulted(Flag, false),
  MAX_BODY_BYTES: defaulted(PositiveInt, 8 * 1024 * 1024),
  HOOKS_MAX_BODY_BYTES: defaulted(PositiveInt, 64 * 1024 * 1024),
  HOOKS_BODY_BUDGET_BYTES: defaulted(PositiveInt, 96 * 1024 * 1024),
  HOOKS_ADMISSION_WAIT_MS: defaulted(PositiveInt, 10_000),
  OTLP_MAX_RECORDS: defaulted(PositiveInt, 10_000),
  PAGE_MAX_BYTES: defaulted(PositiveInt, 4 * 1024 * 1024),
  PAGE_READ_CONNECTIONS: defaulted(PositiveInt, 4),
  PAGE_SLICE_BYTES: defaulted(PositiveInt, 1024 * 1024),
  CHANGE_RETENTION_HOURS: defaulted(PositiveInt, 7 * 24),
  DATABASE_POOL_SIZE: defaulted(PositiveInt, 10),
  WS_MAX_BACKLOG_BYTES: defaulted(PositiveInt, 16 * 1024 * 1024),
  WS_PING_INTERVAL_MS: defaulted(PositiveInt, 30_000),
  LISTEN_HEARTBEAT_MS: defaulted(PositiveInt, 10_000),
  API_KEYS: defaulted(List, []),
  REDACT: defaulted(Switch, true),
  REDACT_PATTERNS: defaulted(Patterns, []),
  RETENTION_DAYS: optional(PositiveInt),
  RETENTION_MAX_BYTES: optional(PositiveInt),
  RETENTION_INTERVAL_MINUTES: defaulted(PositiveInt, 10),
  ALLOWED_HOSTS: defaulted(List, []),
  HTTP_HEADERS_TIMEOUT_MS: defaulted(PositiveInt, 30_000),
  HTTP_REQUEST_TIMEOUT_MS: defaulted(PositiveInt, 120_000),
  HTTP_KEEP_ALIVE_TIMEOUT_MS: defaulted(PositiveInt, 65_000),
  APPROVAL_HOLD_SECONDS: defaulted(PositiveInt, 300),
  ALERT_WEBHOOK_URLS: defaulted(
    coerce(array(HttpUrl), string(), (value) =>
      value
        .split(',')
        .map((item) => item.trim())
        .filter((item) => item !== ''),
    ),
    [],
  ),
  PUBLIC_URL: optional(HttpUrl),
  SESSION_BUDGET_USD: optional(Amount),
});

export interface Config {
  readonly port: number;
  /** Addresses to listen on; one server per address, all on `port`. */
  readonly hosts: readonly string[];
  /** Unset: the process starts an embedded PostgreSQL under `dataDir`. */
  readonly databaseUrl: string | undefined;
  readonly dataDir: string;
  readonly corsOrigins: readonly string[];
  readonly logLevel: LogLevel;
  readonly maxBodyBytes: number;
  /** The body limit of POST /hooks/claude-code, whose bodies carry whole tool outputs. */
  readonly hookMaxBodyBytes: number;
  /** Bytes of hook bodies taken at once; a hook that does not fit waits, then is a 503 (HOOKS_BODY_BUDGET_BYTES). */
  readonly hookBodyBudgetBytes: number;
  /** How long a hook waits for room in that budget (HOOKS_ADMISSION_WAIT_MS). */
  readonly hookAdmissionWaitMs: number;
  /** Log records (or metrics) in one OTLP request; more is a 413 (OTLP_MAX_RECORDS). */
  readonly otlpMaxRecords: number;
  /**
   * The byte budget of one page (events, sessions), one piece of a streamed list, and one read of the change
   * log: a page stops before the item that would take it past this (one item at least).
   */
  readonly pageMaxBytes: number;
  /**
   * Connections for reading pages and replays: at most this many are built at once, each within the byte
   * budget, so together they bound the memory that large reads take.
   */
  readonly pageReadConnections: number;
  /**
   * An item larger than this (a large event, a session with a large field) is read and sent in slices of about
   * this many bytes, each when the client has taken the previous one: the most of one item held at once.
   */
  readonly pageSliceBytes: number;
  /** How long the change log keeps rows for WebSocket replay before they are pruned. */
  readonly changeRetentionHours: number;
  readonly poolSize: number;
  /** Unread bytes a WebSocket client may pile up before it is closed with 1013. */
  readonly wsMaxBacklogBytes: number;
  /** How often WebSocket clients are pinged; one that misses a ping is dropped. */
  readonly wsPingIntervalMs: number;
  /** How often the LISTEN connection is checked; a half-open link is found within two intervals. */
  readonly listenHeartbeatMs: number;
  /** Set: every request but /health (and the pages that hold no data) needs one of these keys; each holds every scope. */
  readonly apiKeys: readonly string[];
  /**
   * The host names a request may name in `Host` (any port): the loopback names, the bound HOST, and ALLOWED_HOSTS;
   * `*` among them allows any.
   */
  readonly allowedHosts: readonly string[];
  /** A client must send a request's headers within this time, else 408. */
  readonly headersTimeoutMs: number;
  /** ... and the whole request, body included, within this one (never less than headersTimeoutMs). */
  readonly requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this long. */
  readonly keepAliveTimeoutMs: number;
  /** Secrets are masked before anything is stored (REDACT=off stores every byte as sent). */
  readonly redact: boolean;
  /** More to mask than the built-in detectors find: RE2 patterns (linear time), each with the kind it is masked as. */
  readonly redactPatterns: readonly RedactPattern[];
  /** Finished sessions whose last event is older than this many days are deleted; undefined: kept. */
  readonly retentionDays: number | undefined;
  /** The oldest finished sessions are deleted until the events take fewer bytes than this; undefined: no limit. */
  readonly retentionMaxBytes: number | undefined;
  /** How often a retention pass runs (when either limit is set). */
  readonly retentionIntervalMinutes: number;
  /** How long a PermissionRequest hook is held open for a decision before it answers `{}` (Claude Code then asks in the terminal). */
  readonly approvalHoldSeconds: number;
  /** Where alerts are POSTed (JSON with a `text` field): approval requested, waiting for input, session failed, budget reached. */
  readonly alertWebhookUrls: readonly string[];
  /** The dashboard's address as people reach it, for links in alerts; unset: no link. */
  readonly publicUrl: string | undefined;
  /** The spend cap (USD) a new session takes; unset: none. PATCH /sessions/{id} changes a session's. */
  readonly sessionBudgetUsd: number | undefined;
}

const KNOWN_KEYS = Object.keys(Environment.schema);

/** Reads the environment into one frozen Config; throws a StructError naming the bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const present = Object.fromEntries(KNOWN_KEYS.filter((key) => env[key] !== undefined && env[key] !== '').map((key) => [key, env[key]]));
  const parsed = create(present, Environment);
  // Node refuses to start a server whose headers may take longer than the whole request.
  if (parsed.HTTP_HEADERS_TIMEOUT_MS > parsed.HTTP_REQUEST_TIMEOUT_MS) {
    throw new Error(`HTTP_HEADERS_TIMEOUT_MS (${parsed.HTTP_HEADERS_TIMEOUT_MS}) must not exceed HTTP_REQUEST_TIMEOUT_MS (${parsed.HTTP_REQUEST_TIMEOUT_MS})`);
  }
  for (const { kind } of parsed.REDACT_PATTERNS) {
    if (!KIND.test(kind)) throw new Error(`REDACT_PATTERNS: kind ${JSON.stringify(kind)} must be 1 to 40 of a-z, 0-9 and _`);
  }
  compilePatterns(parsed.REDACT_PATTERNS);
  const logLevel: LogLevel = parsed.DEBUG_LOGGING ? 'debug' : (parsed.LOG_LEVEL ?? 'info');
  return Object.freeze({
    port: parsed.PORT,
    hosts: Object.freeze(parsed.HOST ? [parsed.HOST] : [...LOOPBACK_HOSTS]),
    databaseUrl: parsed.DATABASE_URL,
    dataDir: path.resolve(parsed.DATA_DIR),
    corsOrigins: Object.freeze(parsed.CORS_ORIGINS),
    logLevel,
    maxBodyBytes: parsed.MAX_BODY_BYTES,
    hookMaxBodyBytes: parsed.HOOKS_MAX_BODY_BYTES,
    hookBodyBudgetBytes: parsed.HOOKS_BODY_BUDGET_BYTES,
    hookAdmissionWaitMs: parsed.HOOKS_ADMISSION_WAIT_MS,
    otlpMaxRecords: parsed.OTLP_MAX_RECORDS,
    pageMaxBytes: parsed.PAGE_MAX_BYTES,
    pageReadConnections: parsed.PAGE_READ_CONNECTIONS,
    pageSliceBytes: parsed.PAGE_SLICE_BYTES,
    changeRetentionHours: parsed.CHANGE_RETENTION_HOURS,
    poolSize: parsed.DATABASE_POOL_SIZE,
    wsMaxBacklogBytes: parsed.WS_MAX_BACKLOG_BYTES,
    wsPingIntervalMs: parsed.WS_PING_INTERVAL_MS,
    listenHeartbeatMs: parsed.LISTEN_HEARTBEAT_MS,
    apiKeys: Object.freeze(parsed.API_KEYS),
    allowedHosts: Object.freeze([...new Set([...LOOPBACK_NAMES, ...(parsed.HOST && !WILDCARD_HOSTS.includes(parsed.HOST) ? [parsed.HOST] : []), ...parsed.ALLOWED_HOSTS])]),
    headersTimeoutMs: parsed.HTTP_HEADERS_TIMEOUT_MS,
    requestTimeoutMs: parsed.HTTP_REQUEST_TIMEOUT_MS,
    keepAliveTimeoutMs: parsed.HTTP_KEEP_ALIVE_TIMEOUT_MS,
    redact: parsed.REDACT,
    redactPatterns: Object.freeze(parsed.REDACT_PATTERNS),
    retentionDays: parsed.RETENTION_DAYS,
    retentionMaxBytes: parsed.RETENTION_MAX_BYTES,
    retentionIntervalMinutes: parsed.RETENTION_INTERVAL_MINUTES,
    approvalHoldSeconds: parsed.APPROVAL_HOLD_SECONDS,
    alertWebhookUrls: Object.freeze(parsed.ALERT_WEBHOOK_URLS),
    publicUrl: parsed.PUBLIC_URL?.replace(/\/+$/, ''),
    sessionBudgetUsd: parsed.SESSION_BUDGET_USD,
  });
}

/** A config for tests and embedding: defaults plus overrides, without reading the process environment. */
export function configWith(overrides: Partial<Config>): Config {
  return Object.freeze({ ...loadConfig({}), ...overrides });
}
