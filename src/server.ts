import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type Koa from 'koa';
import { WebSocketServer } from 'ws';
import { STATUS_CODES } from 'node:http';
import type { Caller } from './domain/key';
import { HttpError } from './errors';
import { checkUpgradeSite, type SiteCheck } from './http/site';
import type { Logger } from './logger';
import { openStream, parseStreamRequest, type StreamDeps, type StreamRequest } from './realtime/stream';

export interface ServerOptions {
  app: Koa;
  /** Who opens a WebSocket with this upgrade request (the API key check); throws an HttpError to refuse it. */
  authorize: (request: http.IncomingMessage, query: URLSearchParams) => Caller;
  /** Whether the upgrade request names this server in Host and comes from an allowed page (Origin). */
  site: SiteCheck;
  /** What a WebSocket stream needs: the hub it joins, where it reads init and replays from. */
  streams: StreamDeps;
  hosts: readonly string[];
  port: number;
  logger: Logger;
  /** How long a client may take over a request's headers, over the whole request, and idle between requests. */
  timeouts: { headersTimeoutMs: number; requestTimeoutMs: number; keepAliveTimeoutMs: number };
}

export interface RunningServer {
  /** Where it listens, e.g. `http://127.0.0.1:8765`; one entry per host. */
  readonly urls: string[];
  /** Stops accepting, closes WebSockets with 1001, waits for requests in flight. */
  close(): Promise<void>;
}

const WS_PATH = '/ws';
const SHUTDOWN_GRACE_MS = 10_000;

/** Listens on every host (all on one port), serving the app and upgrading `/ws` to a WebSocket. */
export async function serve({ app, authorize, site, streams, hosts, port, logger, timeouts }: ServerOptions): Promise<RunningServer> {
  // Clients' messages are ignored; a small cap keeps a hostile one from making us buffer much.
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  const handler = app.callback();
  const servers: http.Server[] = [];

  // Node's server.close() closes the connections idle at that moment, but one busy then stays open and
  // serves whatever its client sends next, so a client that keeps asking (a dashboard checking the server
  // while its WebSocket is refused) holds close() open until the grace period cuts it. From close() on, a
  // response ends its connection instead.
  let closing = false;
  const inFlight = new Set<http.ServerResponse>();
  const serveRequest = (request: http.IncomingMessage, response: http.ServerResponse) => {
    if (closing) response.shouldKeepAlive = false;
    else {
      inFlight.add(response);
      response.once('close', () => inFlight.delete(response));
    }
    void handler(request, response);
  };
  const lastOnItsConnection = (response: http.ServerResponse) => {
    if (!response.headersSent) {
      response.shouldKeepAlive = false;
      return;
    }
    // Its headers promised keep-alive (a streamed export): end the connection once the body is out.
    const socket = response.socket;
    response.once('finish', () => socket?.end());
  };
  let chosenPort = port;

  const onUpgrade = (request: http.IncomingMessage, socket: Socket, head: Buffer) => {
    const { pathname, searchParams } = new URL(request.url ?? '/', 'http://localhost');
    if (pathname !== WS_PATH) return refuseUpgrade(socket, 404, 'Not Found');
    let streamRequest: StreamRequest;
    let caller: Caller;
    try {
      checkUpgradeSite(site, request);
      caller = authorize(request, searchParams);
      streamRequest = parseStreamRequest(searchParams);
    } catch (err) {
      if (err instanceof HttpError) return refuseUpgrade(socket, err.status, err.detail);
      throw err;
    }
    wss.handleUpgrade(request, socket, head, (ws) => void openStream(ws, { ...streamRequest, keyId: caller.id }, streams));
  };

  for (const host of hosts) {
    const server = http.createServer(
      {
        headersTimeout: timeouts.headersTimeoutMs,
        requestTimeout: timeouts.requestTimeoutMs,
        keepAliveTimeout: timeouts.keepAliveTimeoutMs,
        // Node looks for requests past their time on this interval (30 s by default): keep it well under them.
        connectionsCheckingInterval: Math.max(50, Math.min(30_000, Math.floor(timeouts.headersTimeoutMs / 4))),
      },
      serveRequest,
    );
    server.on('upgrade', onUpgrade);
    server.on('clientError', answerClientError);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(chosenPort, host, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      // A machine without IPv6 has no ::1; serving on the other loopback address is enough.
      if (host === '::1' && servers.length > 0 && (err as { code?: string }).code === 'EADDRNOTAVAIL') {
        logger.warn('IPv6 loopback unavailable; listening on IPv4 only');
        continue;
      }
      await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
      throw err;
    }
    // With port 0 the first server picks one and the others share it.
    chosenPort = (server.address() as AddressInfo).port;
    servers.push(server);
  }

  const urls = servers.map((server) => {
    const { address, port: bound } = server.address() as AddressInfo;
    return `http://${address.includes(':') ? `[${address}]` : address}:${bound}`;
  });

  return {
    urls,
    async close() {
      closing = true;
      for (const response of inFlight) lastOnItsConnection(response);
      inFlight.clear();
      const closed = Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
      streams.hub.close(1001, 'server shutting down');
      wss.close();
      for (const server of servers) server.closeIdleConnections();
      // Requests in flight get a grace period; then whatever is left is cut.
      const grace = setTimeout(() => servers.forEach((server) => server.closeAllConnections()), SHUTDOWN_GRACE_MS);
      await closed;
      clearTimeout(grace);
    },
  };
}

/** Answers an upgrade request that will not become a WebSocket with a plain HTTP error and a JSON detail. */
function refuseUpgrade(socket: Socket, status: number, detail: unknown): void {
  socket.end(rawErrorResponse(status, detail));
}

const rawErrorResponse = (status: number, detail: unknown) => {
  const body = JSON.stringify({ detail });
  return `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
};

/**
 * What Node answers itself, before Koa sees a request (unparseable HTTP, a request past its time, headers
 * over the size limit), in the same JSON shape as every other error instead of Node's empty bodies.
 */
function answerClientError(err: Error & { code?: string }, socket: Duplex): void {
  // Node's own rule: write nothing if the socket is gone or a response to this request has begun.
  const inFlight = (socket as Duplex & { _httpMessage?: { _headerSent?: boolean } })._httpMessage;
  if (err.code === 'ECONNRESET' || !socket.writable || inFlight?._headerSent) {
    socket.destroy();
    return;
  }
  const [status, detail] = describeClientError(err.code);
  socket.end(rawErrorResponse(status, detail));
  socket.once('finish', () => socket.destroy());
}

function describeClientError(code: string | undefined): [number, string] {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return [431, 'Request header fields too large'];
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return [413, 'Chunk extensions too large'];
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return [408, 'Request not received in time'];
    default:
      return [400, `Malformed HTTP request${code ? ` (${code})` : ''}`];
  }
}
