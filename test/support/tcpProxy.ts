import net from 'node:net';
import { opened } from './openResources';

/**
 * A TCP proxy on a random loopback port to a target, which a test can cut (refusing and dropping every
 * connection, as a database outage would) and restore.
 */
export class TcpProxy {
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  private port = 0;
  private frozen = false;
  private readonly held: (() => void)[] = [];
  private closed: (() => void) | null = null;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  /** Proxies `url`'s host and port; returns the URL that goes through the proxy. */
  static async forUrl(url: string): Promise<{ proxy: TcpProxy; url: string }> {
    const parsed = new URL(url);
    const proxy = new TcpProxy(parsed.hostname, Number(parsed.port || 5432));
    await proxy.open();
    parsed.hostname = '127.0.0.1';
    parsed.port = String(proxy.port);
    return { proxy, url: parsed.toString() };
  }

  /** Starts accepting again (on the same port after the first time). */
  async open(): Promise<void> {
    const server = net.createServer((client) => {
      const upstream = net.connect(this.targetPort, this.targetHost);
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        socket.on('error', () => undefined);
      }
      // While frozen, bytes are held back: to both ends the link looks open but says nothing, as a
      // network partition does; when it heals, they go through, as TCP's retransmissions would.
      const forward = (to: net.Socket) => (chunk: Buffer) => (this.frozen ? this.held.push(() => to.write(chunk)) : to.write(chunk));
      client.on('data', forward(upstream));
      upstream.on('data', forward(client));
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as net.AddressInfo).port;
    this.server = server;
    this.closed ??= opened(this, 'a TCP proxy (cut() closes it)');
  }

  /** Keeps every connection open but lets no byte through, new connections included, until thaw(). */
  freeze(): void {
    this.frozen = true;
  }

  /** Lets the held bytes through, in order, and new ones from now on. */
  thaw(): void {
    this.frozen = false;
    for (const deliver of this.held.splice(0)) deliver();
  }

  /** Refuses new connections and drops the open ones. */
  async cut(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const socket of this.sockets) socket.destroy();
    if (server) await new Promise((resolve) => server.close(resolve));
    this.closed?.();
    this.closed = null;
  }
}
