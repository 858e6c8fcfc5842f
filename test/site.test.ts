import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { useBrowser, openPage } from './support/browser';
import { useInstance } from './support/instance';
import { useTestDatabase } from './support/testDatabase';

// With no key at all (the default on loopback), the server's only guard against the web pages its user visits
// is where a request comes from: the Host it names (DNS rebinding) and the Origin of the page (another local
// site). Tested with raw requests, and with Chromium: a page served by another local server, and a page of a
// name that resolves to the server's address.

const database = useTestDatabase();
const { instance, api } = useInstance(database, { allowedHosts: ['localhost', '127.0.0.1', '::1', 'asm.example.com'] });
// evil.example resolves to the server's address: DNS rebinding, as Chromium sees it.
const chromium = useBrowser(['--host-resolver-rules=MAP evil.example 127.0.0.1, MAP asm.example.com 127.0.0.1']);
const port = () => Number(new URL(instance.baseUrl).port);

/** One raw HTTP request with the headers given as they are (fetch would not let us set Host). */
function raw(method: string, path: string, headers: Record<string, string>, body?: string): Promise<{ status: number; body: any; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      { host: '127.0.0.1', port: port(), method, path, headers: { ...headers, ...(body ? { 'content-type': 'application/json' } : {}) } },
      (response) => {
        let text = '';
        response.on('data', (chunk) => (text += chunk));
        response.on('end', () => resolve({ status: response.statusCode!, body: text ? JSON.parse(text) : undefined, headers: response.headers }));
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

/** A WebSocket upgrade request, raw: its status (101 if it opened) and JSON body. */
function upgrade(headers: Record<string, string>): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const request = http.request({
      host: '127.0.0.1',
      port: port(),
      path: '/ws',
      headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', ...headers },
    });
    request.on('upgrade', (_response, socket) => {
      socket.destroy();
      resolve({ status: 101, body: undefined });
    });
    request.on('response', (response) => {
      let text = '';
      response.on('data', (chunk) => (text += chunk));
      response.on('end', () => resolve({ status: response.statusCode!, body: JSON.parse(text) }));
    });
    request.on('error', reject);
    request.end();
  });
}

describe('Host', () => {
  it('when a request names a host the server is not reached by, then 421 with a JSON detail, on every route but /health', async () => {
    for (const [method, path] of [
      ['GET', '/sessions'],
      ['GET', '/'],
      ['GET', '/openapi.json'],
      ['POST', '/sessions'],
      ['DELETE', '/sessions/x'],
    ]) {
      const reply = await raw(method!, path!, { host: `evil.example:${port()}` }, method === 'POST' ? '{"session_id":"rebound","session_name":"x"}' : undefined);
      expect({ path, status: reply.status }).toEqual({ path, status: 421 });
      expect(reply.body).toEqual({ detail: 'Host not allowed: evil.example is not a name this server answers to (see ALLOWED_HOSTS)' });
    }
    expect((await api.get('/sessions/rebound')).status).toBe(404);
    expect((await raw('GET', '/health', { host: 'evil.example' })).status).toBe(200);
    expect((await upgrade({ host: `evil.example:${port()}` })).status).toBe(421);
  });

  it('when a request names a loopback name or address, or one of ALLOWED_HOSTS, in any case and with any port, then it is answered', async () => {
    for (const host of [`localhost:${port()}`, `127.0.0.1:${port()}`, `[::1]:${port()}`, 'LOCALHOST', 'asm.example.com', 'ASM.Example.com.:443']) {
      expect({ host, status: (await raw('GET', '/sessions?limit=1', { host })).status }).toEqual({ host, status: 200 });
    }
    expect((await raw('GET', '/sessions?limit=1', { host: 'asm.example.com.evil.example' })).status).toBe(421);
  });
});

describe('Origin', () => {
  it("when a page of another origin opens the feed, then 403; the server's own origin, an origin of CORS_ORIGINS and a program without Origin open it", async () => {
    const host = `127.0.0.1:${port()}`;
    expect(await upgrade({ host, origin: 'http://127.0.0.1:9' })).toEqual({ status: 403, body: { detail: 'Origin not allowed: http://127.0.0.1:9 (see CORS_ORIGINS)' } });
    expect((await upgrade({ host, origin: 'http://localhost:3001' })).status).toBe(403);
    expect((await upgrade({ host, origin: 'null' })).status).toBe(403);
    expect((await upgrade({ host, origin: `http://${host}` })).status).toBe(101);
    expect((await upgrade({ host: 'asm.example.com', origin: 'https://asm.example.com' })).status).toBe(101);
    expect((await upgrade({ host: 'asm.example.com:443', origin: 'https://asm.example.com' })).status).toBe(101);
    expect((await upgrade({ host, origin: 'http://localhost:5173' })).status).toBe(101);
    expect((await upgrade({ host })).status).toBe(101);
  });

  it('when a page of another origin sends a write, then 403 and nothing is written; reads are left to CORS', async () => {
    const host = `127.0.0.1:${port()}`;
    const foreign = await raw('POST', '/sessions', { host, origin: 'http://127.0.0.1:9' }, '{"session_id":"foreign","session_name":"x"}');
    expect(foreign).toMatchObject({ status: 403, body: { detail: 'Origin not allowed: http://127.0.0.1:9 (see CORS_ORIGINS)' } });
    expect((await api.get('/sessions/foreign')).status).toBe(404);
    expect((await raw('POST', '/sessions', { host, origin: `http://${host}` }, '{"session_id":"own","session_name":"x"}')).status).toBe(201);
    expect((await raw('POST', '/sessions', { host, origin: 'http://localhost:5173' }, '{"session_id":"listed","session_name":"x"}')).status).toBe(201);
    const read = await raw('GET', '/sessions?limit=1', { host, origin: 'http://127.0.0.1:9' });
    expect(read.status).toBe(200);
    expect(read.headers['access-control-allow-origin']).toBeUndefined();
  });
});

describe('in a browser', () => {
  let other: http.Server;
  let otherUrl: string;
  beforeAll(async () => {
    // Another local site, as any dev server or a page of a local app would be: it tries to read and write.
    other = http.createServer((_request, response) => {
      const target = instance.baseUrl;
      response.setHeader('content-type', 'text/html');
      response.end(`<!doctype html><script>
        window.results = {};
        const ws = new WebSocket(${JSON.stringify(target.replace('http', 'ws') + '/ws')});
        ws.onmessage = (m) => { window.results.wsMessage = String(m.data).slice(0, 40); };
        ws.onclose = (e) => { window.results.wsClosed = e.code; };
        fetch(${JSON.stringify(target + '/sessions')}).then((r) => r.text()).then((t) => { window.results.read = t.slice(0, 40); }, (e) => { window.results.read = 'refused: ' + e.name; });
        fetch(${JSON.stringify(target + '/sessions')}, { method: 'POST', mode: 'no-cors', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ session_id: 'from-another-site', session_name: 'x' }) })
          .then(() => { window.results.write = 'sent'; }, () => { window.results.write = 'failed'; });
      </script>`);
    });
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
    otherUrl = `http://127.0.0.1:${(other.address() as AddressInfo).port}/`;
  });
  afterAll(() => new Promise<void>((resolve) => other.close(() => resolve())));

  it('when a page of another local origin opens /ws and fetches the API, then it receives nothing and writes nothing', async () => {
    const page = await openPage(chromium.browser, otherUrl);
    try {
      await page.page.waitForFunction(() => {
        const results = (globalThis as unknown as { results: Record<string, unknown> }).results;
        return results.wsClosed !== undefined && results.read !== undefined && results.write !== undefined;
      });
      const results = await page.page.evaluate(() => (globalThis as unknown as { results: Record<string, unknown> }).results);
      expect(results).toEqual({ wsClosed: 1006, read: 'refused: TypeError', write: 'sent' });
      expect((await api.get('/sessions/from-another-site')).status).toBe(404);
    } finally {
      await page.close();
    }
  });

  it('when a name rebound to the server is opened, then its page gets 421 and cannot read the feed; the server under its own name works', async () => {
    const rebound = await openPage(chromium.browser, 'about:blank');
    try {
      const response = await rebound.page.goto(`http://evil.example:${port()}/`);
      expect(response!.status()).toBe(421);
      const same = await rebound.page.evaluate(async (url) => {
        const read = await fetch(`${url}/sessions`).then((r) => r.status);
        const feed = await new Promise((resolve) => {
          const ws = new WebSocket(`${url.replace('http', 'ws')}/ws`);
          ws.onmessage = () => resolve('message');
          ws.onclose = (e) => resolve(e.code);
        });
        return { read, feed };
      }, `http://evil.example:${port()}`);
      expect(same).toEqual({ read: 421, feed: 1006 });
    } finally {
      await rebound.close();
    }
    const allowed = await openPage(chromium.browser, 'about:blank');
    try {
      const response = await allowed.page.goto(`http://asm.example.com:${port()}/`);
      expect(response!.status()).toBe(200);
      const first = await allowed.page.evaluate(
        (url) =>
          new Promise((resolve) => {
            const ws = new WebSocket(`${url.replace('http', 'ws')}/ws`);
            ws.onmessage = (m) => resolve(JSON.parse(String(m.data)).type);
            ws.onclose = (e) => resolve(e.code);
          }),
        `http://asm.example.com:${port()}`,
      );
      expect(first).toBe('init');
    } finally {
      await allowed.close();
    }
  });
});
