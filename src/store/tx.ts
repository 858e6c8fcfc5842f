import type { Pool, PoolClient } from '../db/pool';

/** Runs `work` in one transaction on one client: committed if it resolves, rolled back if it throws. */
export async function withTransaction<T>(pool: Pool, work: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken = false;
  // A connection lost between two statements is reported as an 'error' event, which would crash the
  // process without a listener; the next statement fails anyway, and the client is not reused.
  const onConnectionError = () => {
    broken = true;
  };
  client.on('error', onConnectionError);
  try {
    await client.query('begin');
    const result = await work(client);
    await client.query('commit');
    return result;
  } catch (err) {
    try {
      await client.query('rollback');
    } catch {
      // The connection itself failed: do not hand it back to the pool.
      broken = true;
    }
    throw err;
  } finally {
    client.off('error', onConnectionError);
    client.release(broken);
  }
}
