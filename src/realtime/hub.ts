import WebSocket from 'ws';
import type { Logger } from '../logger';
import type { ServerMessage } from './messages';

interface Client {
  socket: WebSocket;
  /** Frames that arrived before this client's init was sent; null once it is live. */
  pending: string[] | null;
  alive: boolean;
}

export interface HubOptions {
  logger: Logger;
  /** How often clients are pinged; one that has not answered the previous ping is dropped. */
  heartbeatMs?: number;
}

/** The WebSocket clients of this instance, and the fan-out of messages to them. */
export class Hub {
  private readonly clients = new Set<Client>();
  private readonly logger: Logger;
  private readonly heartbeat: NodeJS.Timeout;

  constructor({ logger, heartbeatMs = 30_000 }: HubOptions) {
    this.logger = logger;
    this.heartbeat = setInterval(() => this.pingAll(), heartbeatMs);
    this.heartbeat.unref();
  }

  get size(): number {
    return this.clients.size;
  }

  /**
   * Takes a new socket: it receives `init`, then every broadcast from the moment it joined. Broadcasts
   * that arrive while init is being loaded wait for it, so none is lost between the two.
   */
  async join(socket: WebSocket, loadInit: () => Promise<ServerMessage>): Promise<void> {
    const client: Client = { socket, pending: [], alive: true };
    this.clients.add(client);
    socket.on('pong', () => (client.alive = true));
    socket.on('close', () => this.clients.delete(client));
    socket.on('error', (err) => this.logger.debug('websocket client error', { err }));
    try {
      const init = await loadInit();
      if (socket.readyState !== WebSocket.OPEN) return;
      socket.send(JSON.stringify(init));
      for (const frame of client.pending ?? []) socket.send(frame);
      client.pending = null;
    } catch (err) {
      this.logger.error('could not send init to a websocket client', { err });
      this.clients.delete(client);
      socket.close(1011, 'init failed');
    }
  }

  /** Sends each message to every client, serialised once for all of them. */
  broadcast(messages: readonly ServerMessage[]): void {
    for (const message of messages) {
      const frame = JSON.stringify(message);
      for (const client of this.clients) {
        if (client.pending) client.pending.push(frame);
        else if (client.socket.readyState === WebSocket.OPEN) client.socket.send(frame);
      }
    }
  }

  /** Closes every client (1001 "going away" on shutdown) and stops the heartbeat. */
  close(code = 1001, reason = 'server shutting down'): void {
    clearInterval(this.heartbeat);
    for (const client of this.clients) client.socket.close(code, reason);
    this.clients.clear();
  }

  private pingAll(): void {
    for (const client of this.clients) {
      if (!client.alive) {
        this.logger.debug('dropping a websocket client that stopped answering pings');
        client.socket.terminate();
        this.clients.delete(client);
        continue;
      }
      client.alive = false;
      client.socket.ping();
    }
  }
}
