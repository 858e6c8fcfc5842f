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
