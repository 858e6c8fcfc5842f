import { createPool } from '../src/db/pool';
import { isDatabaseUnavailable } from '../src/errors';
import { createLogger } from '../src/logger';
import { TcpProxy } from './support/tcpProxy';
import { useTestDatabase } from './support/testDatabase';

const database = useTestDatabase();
const logger = createLogger('silent');

describe('a pool of a few connections that reads take turns on', () => {
  it('when every connection is busy for longer than opening one may take, then a request waits for one instead of failing', async () => {
    const pool = createPool({ connectionString: database.url, max: 1, logger, queueTimeoutMillis: 20_000 });
    const busy = await pool.connect();
    let released = false;
    try {
      // The pool's clock runs fast; the connection and its queries go on as ever.
      jest.useFakeTimers({ doNotFake: ['Date', 'hrtime', 'nextTick', 'performance', 'queueMicrotask', 'setImmediate', 'clearImmediate', 'setInterval', 'clearInterval'] });
      let settled = false;
      const waiting = pool.query('select 1 as one').finally(() => (settled = true));
      // Longer than a connection may take to open (5 s), which pg-pool would otherwise apply to the wait.
      await jest.advanceTimersByTimeAsync(6_000);
      expect(settled).toBe(false);
      busy.release();
      released = true;
      jest.useRealTimers();
      expect((await waiting).rows[0].one).toBe(1);
    } finally {
      jest.useRealTimers();
      if (!released) busy.release();
      await pool.end();
    }
  });

  it('when the database does not answer, then opening a connection still fails within 5 s, however long requests may wait', async () => {
    const { proxy, url } = await TcpProxy.forUrl(database.url);
    const pool = createPool({ connectionString: url, max: 1, logger, queueTimeoutMillis: 60_000 });
    try {
      proxy.freeze();
      const started = Date.now();
      const failure = await pool.query('select 1').then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(isDatabaseUnavailable(failure)).toBe(true);
      expect(Date.now() - started).toBeLessThan(8_000);
    } finally {
      await pool.end();
      proxy.thaw();
      await proxy.cut();
    }
  });
});
