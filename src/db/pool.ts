import pg from 'pg';
import type { Logger } from '../logger';

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;
/** Anything that runs a query: the pool, or a client inside a transaction. */
export type Queryable = Pick<pg.Pool, 'query'>;

export interface PoolOptions {
  connectionString: string;
  max: number;
  logger: Logger;
  /**
   * How long a request may wait for one of the `max` connections to be free; by default as long as opening
   * one may take. A pool of a few connections that reads take turns on waits longer than it connects.
   */
  queueTimeoutMillis?: number;
}

// Fail fast while the database is down, so requests answer 503 instead of hanging.
const CONNECT_TIMEOUT_MS = 5000;

// pg-pool applies its one timeout both to opening a connection and to waiting for a free one; a client of
// its own keeps opening one within CONNECT_TIMEOUT_MS whatever the pool waits.
class TimelyClient extends pg.Client {
  constructor(config?: pg.ClientConfig) {
    super({ ...config, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
  }
}

/** A pool whose idle-client errors are logged instead of crashing the process. */
export function createPool({ connectionString, max, logger, queueTimeoutMillis = CONNECT_TIMEOUT_MS }: PoolOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString,
    max,
    Client: TimelyClient,
    connectionTimeoutMillis: queueTimeoutMillis,
    idleTimeoutMillis: 30000,
    // Lets the kernel find connections whose peer vanished without a word (a crashed host, a NAT timeout).
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    application_name: 'agent-session-manager',
    // These are short queries whose row estimates can be far off (a change log read, a page of events);
    // JIT compiling one of them costs 100+ ms and never pays back.
    options: '-c jit=off',
  });
  pool.on('error', (err) => logger.warn('idle database connection failed', { err }));
  return pool;
}

/** Named SQLSTATE codes the store reacts to. */
export const PgErrorCode = {
  UNIQUE_VIOLATION: '23505',
  FOREIGN_KEY_VIOLATION: '23503',
} as const;

export const hasPgCode = (err: unknown, code: string): boolean =>
  typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code;

// Errors raised while the database cannot be reached: by the socket, by the pool, or by a server shutting down.
const CONNECTION_ERROR_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH']);
/** Whether an error means the database could not be reached (rather than that it refused something). */
export const isDatabaseUnavailable = (err: unknown): boolean => {
  if (typeof err !== 'object' || err === null) return false;
  const { code: rawCode, message: rawMessage } = err as { code?: unknown; message?: unknown };
  const code = typeof rawCode === 'string' ? rawCode : '';
  if (CONNECTION_ERROR_CODES.has(code)) return true;
  // SQLSTATE class 08 (connection exception) and 57P01..57P03 (admin shutdown, crash shutdown, cannot connect now).
  if (code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03') return true;
  const message = typeof rawMessage === 'string' ? rawMessage : '';
  // "timeout expired": a connection that did not open within CONNECT_TIMEOUT_MS (pg.Client's own timeout).
  return /Connection terminated|timeout exceeded when trying to connect|timeout expired|Client has encountered a connection error/.test(message);
};
