import type { Pool, PoolClient } from '../db/pool';

/**
 * Runs `work` on one client of the pool. A connection lost between two statements is reported as an 'error'
 * event, which would crash the process without a listener; the next statement fails anyway. A client that
 * failed so, or that `work` marks broken, is not handed back to the pool.
 */
export async function withClient<T>(pool: Pool, work: (client: PoolClient, markBroken: () => void) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken = false;
  const markBroken = () => {
    broken = true;
  };
  client.on('error', markBroken);
  try {
    return await work(client, markBroken);
  } finally {
    client.off('error', markBroken);
    client.release(broken);
  }
}

/** Runs `work` in one transaction on one client: committed if it resolves, rolled back if it throws. */
export function withTransaction<T>(pool: Pool, work: (client: PoolClient) => Promise<T>): Promise<T> {
  return withClient(pool, async (client, markBroken) => {
    try {
      await client.query('begin');
      const result = await work(client);
      await client.query('commit');
      return result;
    } catch (err) {
      // The connection itself failed if even the rollback does: do not hand it back to the pool.
      await client.query('rollback').catch(markBroken);
      throw err;
    }
  });
}

/** A read-only transaction that outlives the call that began it; see beginRead(). */
export interface ReadTransaction {
  readonly client: PoolClient;
  /** Ends the transaction and hands the connection back; once, however often it is called. */
  end(): Promise<void>;
}

/**
 * Begins a read-only, repeatable-read transaction (one snapshot for all its statements), with `settings`
 * (`set local …`) applied, for a read whose result is taken after the call returns: slices of a large value
 * read as a client takes them. Whoever holds it must end() it.
 */
export async function beginRead(pool: Pool, settings = ''): Promise<ReadTransaction> {
  const client = await pool.connect();
  let broken = false;
  // As in withTransaction: a connection lost between statements must not crash the process.
  const onConnectionError = () => {
    broken = true;
  };
  client.on('error', onConnectionError);
  let ended: Promise<void> | undefined;
  const end = () =>
    (ended ??= (async () => {
      try {
        // Read only: commit and rollback keep the same nothing; commit also ends a transaction a failed statement aborted.
        await client.query('commit');
      } catch {
        broken = true;
      } finally {
        client.off('error', onConnectionError);
        client.release(broken);
      }
    })());
  try {
    await client.query(`begin isolation level repeatable read, read only${settings ? `; ${settings}` : ''}`);
  } catch (err) {
    broken = true;
    await end();
    throw err;
  }
  return { client, end };
}
