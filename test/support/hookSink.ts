import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SinkRequest {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** How the sink answers one request: a status (and body), or `hold` to keep it open until `release()`. */
export type SinkAnswer = number | { status: number; body?: string } | 'hold';

export interface HookSink {
  url: string;
  port: number;
  /** Every request received, in arrival order (held ones too). */
  requests: SinkRequest[];
  /** The bodies answered 2xx, in order. */
  delivered: string[];
  /** Answers the held requests 200. */
  release(): void;
  close(): Promise<void>;
}

/**
 * A tiny real HTTP server standing in for the hooks route where a test needs answers the real server does
 * not give (a 500 for one hook, a 4xx, an answer held back): `answer` decides per request; 200 `{}` by default.
 */
export async function startHookSink(answer: (request: SinkRequest) => SinkAnswer = () => 200, port = 0): Promise<HookSink> {
  const requests: SinkRequest[] = [];
  const delivered: string[] = [];
  const held: (() => void)[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const request = { path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      requests.push(request);
      const respond = (status: number, body = '{}') => {
        if (status >= 200 && status < 300) delivered.push(request.body);
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(body);
      };
      const decided = answer(request);
      if (decided === 'hold') held.push(() => respond(200));
      else if (typeof decided === 'number') respond(decided, decided >= 400 ? '{"detail":"no"}' : '{}');
      else respond(decided.status, decided.body);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const bound = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${bound}`,
    port: bound,
    requests,
    delivered,
    release: () => held.splice(0).forEach((respond) => respond()),
    close: () =>
      new Promise((resolve) => {
        held.splice(0).forEach((respond) => respond());
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A port nothing listens on right now (taken and let go), for a server a test starts later. */
export async function freePort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
