import { createListenClient, destroyListenClient } from '../src/db/listenClient';
import { ping } from '../src/db/ping';
import { TcpProxy } from './support/tcpProxy';
import { useTestDatabase } from './support/testDatabase';

const database = useTestDatabase();

describe('ping', () => {
  it('resolves when the database answers, on a pool as on the LISTEN connection', async () => {
    await expect(ping(database.pool(), 5_000)).resolves.toBeUndefined();
    const { proxy, url } = await TcpProxy.forUrl(database.url);
    const client = createListenClient(url);
    try {
      await client.connect();
      await expect(ping(client, 5_000)).resolves.toBeUndefined();
    } finally {
      destroyListenClient(client);
      await proxy.cut();
    }
  });

  it('when the link is open but silent (half-open), rejects once the time is up', async () => {
    const { proxy, url } = await TcpProxy.forUrl(database.url);
    const client = createListenClient(url);
    client.on('error', () => undefined);
    try {
      await client.connect();
      proxy.freeze();
      await expect(ping(client, 200)).rejects.toThrow('the database did not answer within 200 ms');
    } finally {
      destroyListenClient(client);
      await proxy.cut();
    }
  });

  it('when the connection is gone, rejects with its error', async () => {
    const { proxy, url } = await TcpProxy.forUrl(database.url);
    const client = createListenClient(url);
    client.on('error', () => undefined);
    try {
      await client.connect();
      await proxy.cut();
      await expect(ping(client, 5_000)).rejects.toThrow(/Connection terminated|not queryable|ECONNRESET/);
    } finally {
      destroyListenClient(client);
    }
  });
});
