import http from 'node:http';
import net from 'node:net';
import zlib from 'node:zlib';
import { loadConfig } from '../src/config';
import { apiClient, sessionPath, type ApiClient } from './support/http';
import { startInstance, type TestInstance } from './support/instance';
import { useTestDatabase } from './support/testDatabase';

// Input a careful client never sends, and what the server makes of it: a 4xx with a JSON detail, and
// nothing stored changed.

const database = useTestDatabase();
let instance: TestInstance;
let api: ApiClient;
const LIMIT = 64 * 1024;

beforeAll(async () => {
  instance = await startInstance(database.url, { maxBodyBytes: LIMIT, corsOrigins: ['http://localhost:5173'] });
  api = apiClient(instance.baseUrl);
});

/** POSTs bytes exactly as given (the JSON client would stringify a Buffer). */
async function postBytes(path: string, bytes: Buffer, headers: Record<string, string>): Promise<{ status: number; body: any }> {
  const response = await fetch(instance.baseUrl + path, { method: 'POST', body: bytes, headers });
  return { status: response.status, body: await response.json() };
}

const cursorOf = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const notStored = async (id: string) => expect((await api.get(sessionPath(id, '/status'))).body.status).toBe('not_existent');

/** Sends raw bytes on a fresh connection; resolves with everything the server wrote before closing. */
function rawExchange(baseUrl: string, request: string | Buffer): Promise<string> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname);
    const received: Buffer[] = [];
    socket.on('data', (chunk) => received.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(received).toString('utf8')));
    socket.write(request);
  });
}

function parseRawResponse(text: string): { status: number; headers: string; body: unknown } {
  const [head = '', body = ''] = text.split('\r\n\r\n');
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]), headers: head, body: body === '' ? undefined : JSON.parse(body) };
}

describe('a hand-made cursor', () => {
  it.each([
    ['month 13', ['2024-13-01 00:00:00+00', 'a']],
    ['day 30 of February', ['2024-02-30 00:00:00+00', 'a']],
    ['29 February of a common year', ['2023-02-29 00:00:00+00', 'a']],
    ['year 0', ['0000-01-01 00:00:00+00', 'a']],
    ['hour 25', ['2024-01-01 25:00:00+00', 'a']],
    ['offset +99:99', ['2024-01-01 00:00:00+99:99', 'a']],
    ['offset minutes 60', ['2024-01-01 00:00:00+01:60', 'a']],
    ['a NUL in the id', ['2024-01-01 00:00:00+00', 'a\u0000b']],
    ['an unpaired surrogate in the id', ['2024-01-01 00:00:00+00', 'a\ud800']],
    ['an id longer than any session id', ['2024-01-01 00:00:00+00', 'x'.repeat(257)]],
    ['three parts', ['2024-01-01 00:00:00+00', 'a', 'b']],
  ])('with %s is 422 naming the cursor', async (_, position) => {
    const reply = await api.get(`/sessions?limit=5&cursor=${cursorOf(position)}`);
    expect(reply.status).toBe(422);
    expect(reply.body.detail[0].loc).toEqual(['query', 'cursor']);
  });

  it('that names a real instant still pages (29 February of a leap year, an offset with seconds)', async () => {
    for (const createdAt of ['2024-02-29 12:00:00.123456+00', '1900-01-01 00:00:00+00:53:28', '9999-12-31 23:59:59-15:59']) {
      const reply = await api.get(`/sessions?limit=5&cursor=${cursorOf([createdAt, 'a'])}`);
      expect(reply.status).toBe(200);
    }
  });
});

describe('a compressed body', () => {
  const body = (id: string) => Buffer.from(JSON.stringify({ session_id: id, session_name: 'zipped ✓' }));
  const send = (bytes: Buffer, encoding: string) => postBytes('/sessions', bytes, { 'content-type': 'application/json', 'content-encoding': encoding });

  it.each([
    ['gzip', zlib.gzipSync],
    ['deflate', zlib.deflateSync],
    ['br', zlib.brotliCompressSync],
  ] as const)('in %s is read and stored', async (encoding, compress) => {
    const id = `zip-${encoding}`;
    expect((await send(compress(body(id)), encoding)).status).toBe(201);
    expect((await api.get(sessionPath(id))).body.session.session_name).toBe('zipped ✓');
  });

  it.each(['gzip', 'deflate', 'br'])('that says %s but is not is 400 with a detail, and nothing is stored', async (encoding) => {
    const reply = await send(body('not-zipped'), encoding);
    expect(reply.status).toBe(400);
    expect(reply.body.detail).toMatch(new RegExp(`^Body is not valid ${encoding} data`));
    await notStored('not-zipped');
  });

  it('cut short is 400', async () => {
    const whole = zlib.gzipSync(body('cut-gzip'));
    expect((await send(whole.subarray(0, whole.length - 6), 'gzip')).status).toBe(400);
    await notStored('cut-gzip');
  });

  it('in an encoding the server does not know is 415 naming it', async () => {
    for (const encoding of ['compress', 'zstd', 'gzip, br']) {
      const reply = await send(body('odd-zip'), encoding);
      expect(reply.status).toBe(415);
      expect(reply.body.detail).toContain(`Unsupported Content-Encoding: ${encoding}`);
    }
    await notStored('odd-zip');
  });

  it('that grows past MAX_BODY_BYTES once decompressed is 413', async () => {
    const bomb = zlib.gzipSync(Buffer.from(JSON.stringify({ session_id: 'bomb', session_name: 'b', project_dir: ' '.repeat(LIMIT * 4) })));
    expect(bomb.length).toBeLessThan(LIMIT);
    expect(await send(bomb, 'gzip')).toMatchObject({ status: 413, body: { detail: 'Request body too large' } });
    await notStored('bomb');
  });
});

describe('a streamed body over MAX_BODY_BYTES', () => {
  it('is 413 with a detail, and the connection still serves the next request', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const request = (method: string, path: string, chunks: string[] = []) =>
      new Promise<{ status: number; body: string; reusedSocket: boolean }>((resolve, reject) => {
        const req = http.request(`${instance.baseUrl}${path}`, { method, agent, headers: chunks.length ? { 'content-type': 'application/json' } : {} }, (response) => {
          let body = '';
          response.setEncoding('utf8').on('data', (chunk) => (body += chunk));
          response.on('end', () => resolve({ status: response.statusCode ?? 0, body, reusedSocket: req.reusedSocket }));
        });
        req.on('error', reject);
        // No Content-Length: the size is only known by reading.
        for (const chunk of chunks) req.write(chunk);
        req.end();
      });
    const piece = 'x'.repeat(8 * 1024);
    const chunks = ['{"session_id":"streamed","session_name":"s","project_dir":"', ...Array<string>(10).fill(piece), '"}'];
    const refused = await request('POST', '/sessions', chunks);
    expect(refused.status).toBe(413);
    expect(JSON.parse(refused.body)).toEqual({ detail: 'Request body too large' });
    const next = await request('GET', '/sessions/streamed/status');
    expect(next).toMatchObject({ status: 200, reusedSocket: true });
    expect(JSON.parse(next.body)).toEqual({ status: 'not_existent' });
    agent.destroy();
  });
});

describe('text encodings', () => {
  it.each([
    ['a lone continuation byte', [0x80]],
    ['a byte that never occurs in UTF-8', [0xff]],
    ['an overlong encoding of "/"', [0xc0, 0xaf]],
    ['an encoded surrogate', [0xed, 0xa0, 0x80]],
    ['a sequence cut short', [0xe2, 0x82]],
  ])('a body with %s is 400, and nothing is stored', async (_, bad) => {
    const bytes = Buffer.concat([Buffer.from('{"session_id":"bad-utf8","session_name":"x'), Buffer.from(bad), Buffer.from('"}')]);
    const reply = await postBytes('/sessions', bytes, { 'content-type': 'application/json' });
    expect(reply).toMatchObject({ status: 400, body: { detail: 'Body is not valid UTF-8' } });
    await notStored('bad-utf8');
  });

  it('a body that declares a charset other than UTF-8 is 400, and nothing is stored', async () => {
    for (const charset of ['latin1', 'ISO-8859-1', 'utf-16', 'us-ascii']) {
      const bytes = Buffer.from('{"session_id":"latin","session_name":"caf\xe9"}', 'latin1');
      const reply = await postBytes('/sessions', bytes, { 'content-type': `application/json; charset=${charset}` });
      expect(reply.status).toBe(400);
      expect(reply.body.detail).toContain(`charset=${charset.toLowerCase()}`);
    }
    await notStored('latin');
  });

  it('a body that declares UTF-8, in any spelling, is stored as sent', async () => {
    for (const [i, charset] of ['utf-8', 'UTF-8', 'utf8'].entries()) {
      const reply = await api.post('/sessions', { session_id: `utf8-${i}`, session_name: 'café ☕ 🚀' }, { 'content-type': `application/json; charset=${charset}` });
      expect(reply.status).toBe(201);
      expect(reply.body.session.session_name).toBe('café ☕ 🚀');
    }
  });
});

describe("Node's own answers", () => {
  it('a request that is not HTTP is 400 with a JSON detail', async () => {
    const reply = parseRawResponse(await rawExchange(instance.baseUrl, 'HELLO THERE\r\n\r\n'));
    expect(reply.status).toBe(400);
    expect(reply.headers).toMatch(/content-type: application\/json/i);
    expect(reply.body).toEqual({ detail: expect.stringMatching(/^Malformed HTTP request/) });
  });

  it('headers over the size limit are 431 with a JSON detail', async () => {
    const request = `GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`;
    const reply = parseRawResponse(await rawExchange(instance.baseUrl, request));
    expect(reply).toMatchObject({ status: 431, body: { detail: 'Request header fields too large' } });
  });

  it('a request whose headers do not arrive in time is 408 with a JSON detail', async () => {
    const slow = await startInstance(database.url, { headersTimeoutMs: 200, requestTimeoutMs: 200 });
    // Half a request, then nothing: the server answers once its time is up.
    const reply = parseRawResponse(await rawExchange(slow.baseUrl, 'GET /health HTTP/1.1\r\nHost: x\r\n'));
    expect(reply).toMatchObject({ status: 408, body: { detail: 'Request not received in time' } });
    await slow.close();
  });

  it('keep-alive connections are announced with the configured idle time', async () => {
    const idle = await startInstance(database.url, { keepAliveTimeoutMs: 7_000 });
    const agent = new http.Agent({ keepAlive: true });
    const keepAlive = await new Promise<unknown>((resolve, reject) => {
      http
        .get(`${idle.baseUrl}/health`, { agent }, (response) => {
          response.resume();
          resolve(response.headers['keep-alive']);
        })
        .on('error', reject);
    });
    agent.destroy();
    expect(keepAlive).toBe('timeout=7');
    await idle.close();
  });
});

describe('routes', () => {
  it('match case-sensitively: /SESSIONS/x is 404, on every path of the API', async () => {
    await api.post('/sessions', { session_id: 'x', session_name: 'x' });
    expect((await api.get('/sessions/x')).status).toBe(200);
    expect(await api.get('/SESSIONS/x')).toMatchObject({ status: 404, body: { detail: 'Not Found' } });
    expect((await api.get('/Sessions/x/Status')).status).toBe(404);
    const paths = Object.keys((await api.get('/openapi.json')).body.paths as Record<string, unknown>);
    expect(paths.length).toBeGreaterThan(5);
    for (const path of [...paths, '/docs', '/openapi.json'].filter((p) => /[a-z]/.test(p))) {
      const shouted = path.replace(/\{[^}]+\}/g, 'x').toUpperCase();
      expect([path, (await api.get(shouted)).status]).toEqual([path, 404]);
    }
  });
});

describe('CORS preflight from an origin not allowed', () => {
  it('is 400 Disallowed CORS origin, without CORS headers', async () => {
    const reply = await api.send('OPTIONS', '/sessions', undefined, { origin: 'http://evil.example', 'access-control-request-method': 'POST' });
    expect(reply).toMatchObject({ status: 400, body: { detail: 'Disallowed CORS origin' } });
    expect(reply.headers.get('access-control-allow-origin')).toBeNull();
    expect(reply.headers.get('access-control-allow-methods')).toBeNull();
  });

  it('a plain OPTIONS (not a preflight) from that origin is not refused', async () => {
    expect((await api.send('OPTIONS', '/sessions', undefined, { origin: 'http://evil.example' })).status).toBeLessThan(300);
  });
});

describe('session text fields', () => {
  const KIB4 = 4096;
  const fields = ['project_dir', 'agent_name'] as const;

  it.each(fields)('POST /sessions takes a %s of 4096 bytes and refuses one byte more, counted in UTF-8', async (field) => {
    expect((await api.post('/sessions', { session_id: `${field}-max`, session_name: 'n', [field]: 'a'.repeat(KIB4) })).status).toBe(201);
    for (const [suffix, value] of [
      ['ascii', 'a'.repeat(KIB4 + 1)],
      ['euro', '€'.repeat(1366)],
    ] as const) {
      const reply = await api.post('/sessions', { session_id: `${field}-${suffix}`, session_name: 'n', [field]: value });
      expect(reply.status).toBe(422);
      expect(reply.body.detail).toEqual([{ loc: ['body', field], msg: 'must be at most 4096 bytes in UTF-8', type: 'text_bytes' }]);
      await notStored(`${field}-${suffix}`);
    }
  });

  it.each([
    ['PATCH /sessions/{id}', ''],
    ['PATCH /sessions/{id}/metadata', '/metadata'],
  ])('%s refuses a project_dir or agent_name over 4096 bytes and a session_name over 256 characters, and changes nothing', async (_, suffix) => {
    const id = `patch-limits${suffix}`;
    await api.post('/sessions', { session_id: id, session_name: 'before', project_dir: '/p', agent_name: 'a' });
    const before = (await api.get(sessionPath(id))).body.session;
    for (const patch of [{ project_dir: 'p'.repeat(KIB4 + 1) }, { agent_name: 'a'.repeat(KIB4 + 1) }, { session_name: 'n'.repeat(257) }]) {
      const reply = await api.patch(sessionPath(id, suffix), patch);
      expect(reply.status).toBe(422);
      expect(reply.body.detail[0].loc).toEqual(['body', Object.keys(patch)[0]]);
    }
    expect((await api.get(sessionPath(id))).body.session).toEqual(before);
  });

  it('deprecated POST /events holds session_name to POST /sessions rule: a 300-character name is 422 and creates nothing', async () => {
    const reply = await api.post('/events', { session_id: 'legacy-long', session_name: 'n'.repeat(300), event_type: 'session_start' });
    expect(reply.status).toBe(422);
    expect(reply.body.detail[0].loc).toEqual(['body', 'session_name']);
    await notStored('legacy-long');
    expect((await api.post('/events', { session_id: 'legacy-empty', session_name: '', event_type: 'session_start' })).status).toBe(422);
    await notStored('legacy-empty');
    // Without a name the session is still named after its id, as the contract says.
    expect((await api.post('/events', { session_id: 'legacy-unnamed', event_type: 'session_start' })).status).toBe(200);
    expect((await api.get('/sessions/legacy-unnamed')).body.session.session_name).toBe('legacy-unnamed');
  });

  it("an event's session_name over 256 characters is 422 on single and batch writes, and nothing is stored", async () => {
    await api.post('/sessions', { session_id: 'event-names', session_name: 'n' });
    const long = { event_type: 'message', session_name: 'n'.repeat(257) };
    const single = await api.post('/sessions/event-names/events', long);
    expect(single.status).toBe(422);
    expect(single.body.detail[0].loc).toEqual(['body', 'session_name']);
    const batch = await api.post('/sessions/event-names/events/batch', { events: [{ event_type: 'message' }, long] });
    expect(batch.status).toBe(422);
    expect(batch.body.detail[0].loc).toEqual(['body', 'events', 1, 'session_name']);
    expect((await api.get('/sessions/event-names/events')).body.events).toEqual([]);
  });
});

describe('HTTP timeouts in the configuration', () => {
  it('default to 30 s for headers, 120 s for a whole request, 65 s of keep-alive idle', () => {
    expect(loadConfig({})).toMatchObject({ headersTimeoutMs: 30_000, requestTimeoutMs: 120_000, keepAliveTimeoutMs: 65_000 });
  });

  it('are read from HTTP_HEADERS_TIMEOUT_MS, HTTP_REQUEST_TIMEOUT_MS and HTTP_KEEP_ALIVE_TIMEOUT_MS', () => {
    const config = loadConfig({ HTTP_HEADERS_TIMEOUT_MS: '1000', HTTP_REQUEST_TIMEOUT_MS: '2000', HTTP_KEEP_ALIVE_TIMEOUT_MS: '3000' });
    expect(config).toMatchObject({ headersTimeoutMs: 1000, requestTimeoutMs: 2000, keepAliveTimeoutMs: 3000 });
  });

  it.each([
    ['HTTP_HEADERS_TIMEOUT_MS', '0'],
    ['HTTP_REQUEST_TIMEOUT_MS', 'soon'],
    ['HTTP_KEEP_ALIVE_TIMEOUT_MS', '-5'],
  ])('refuse %s=%s, naming the variable', (key, value) => {
    expect(() => loadConfig({ [key]: value })).toThrow(key);
  });

  it('refuse a headers timeout longer than the request timeout', () => {
    expect(() => loadConfig({ HTTP_HEADERS_TIMEOUT_MS: '5000', HTTP_REQUEST_TIMEOUT_MS: '4000' })).toThrow(/HTTP_HEADERS_TIMEOUT_MS.*HTTP_REQUEST_TIMEOUT_MS/);
  });
});
