import { startInstance, useInstance } from './support/instance';
import { TcpProxy } from './support/tcpProxy';
import { useTestDatabase } from './support/testDatabase';

const database = useTestDatabase();
const { api } = useInstance(database, { maxBodyBytes: 64 * 1024, corsOrigins: ['http://localhost:5173'] });

describe('errors', () => {
  it('malformed JSON is 400 with a detail, and nothing is stored', async () => {
    const reply = await api.post('/sessions', '{"session_id": "broken", ');
    expect(reply.status).toBe(400);
    expect(reply.body.detail).toMatch(/^Malformed JSON body/);
    expect((await api.get('/sessions/broken/status')).body.status).toBe('not_existent');
  });

  it('a JSON body that is not an object or array is 400', async () => {
    expect((await api.post('/sessions', '"just a string"')).status).toBe(400);
  });

  it('a body over MAX_BODY_BYTES is 413, and nothing is stored', async () => {
    const reply = await api.post('/sessions', { session_id: 'too-big', session_name: 'x', project_dir: 'x'.repeat(70 * 1024) });
    expect(reply).toMatchObject({ status: 413, body: { detail: 'Request body too large' } });
    expect((await api.get('/sessions/too-big/status')).body.status).toBe('not_existent');
  });

  it('a body that is not JSON is 415, and nothing is stored', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      const reply = await api.post('/sessions', 'session_id=x&session_name=y', { 'content-type': type });
      expect(reply).toMatchObject({ status: 415, body: { detail: 'Content-Type must be application/json' } });
    }
    expect((await api.get('/sessions/x/status')).body.status).toBe('not_existent');
  });

  it('an empty body is 422, not a crash', async () => {
    const reply = await api.post('/sessions', '', { 'content-type': 'application/json' });
    expect(reply.status).toBe(422);
  });

  it('an unknown path is 404 Not Found', async () => {
    expect(await api.get('/nowhere')).toMatchObject({ status: 404, body: { detail: 'Not Found' } });
    expect(await api.get('/sessions/a/b/c')).toMatchObject({ status: 404, body: { detail: 'Not Found' } });
  });

  it('a known path with another method is 405 with Allow', async () => {
    const reply = await api.send('PUT', '/sessions/x');
    expect(reply.status).toBe(405);
    expect(reply.body).toEqual({ detail: 'Method Not Allowed' });
    expect(reply.headers.get('allow')).toEqual(expect.stringContaining('GET'));
    expect((await api.send('PUT', '/sessions')).status).toBe(405);
    expect((await api.send('DELETE', '/sessions/x/events')).status).toBe(405);
  });

  it('a path with broken percent-encoding is answered, not crashed on', async () => {
    const reply = await api.get('/sessions/%E0%A4%A/status');
    expect(reply.status).toBeLessThan(500);
  });

  it('every 2xx has a JSON body', async () => {
    const reply = await api.get('/health');
    expect(reply).toMatchObject({ status: 200, body: { status: 'ok' } });
    expect(reply.headers.get('content-type')).toMatch(/application\/json/);
  });
});

describe('CORS', () => {
  it('echoes an allowed origin and answers its preflight', async () => {
    const preflight = await api.send('OPTIONS', '/sessions', undefined, {
      origin: 'http://localhost:5173',
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'content-type',
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('http://localhost:5173');
    expect(preflight.headers.get('access-control-allow-methods')).toContain('POST');
    const get = await api.get('/sessions', { origin: 'http://localhost:5173' });
    expect(get.headers.get('access-control-allow-origin')).toBe('http://localhost:5173');
  });

  it('gives no CORS headers to another origin', async () => {
    const reply = await api.get('/sessions', { origin: 'http://evil.example' });
    expect(reply.headers.get('access-control-allow-origin')).toBeNull();
  });

  it("with '*', allows any origin", async () => {
    const open = await startInstance(database.url, { corsOrigins: ['*'] });
    const reply = await open.api.get('/sessions', { origin: 'http://anywhere.example' });
    expect(reply.headers.get('access-control-allow-origin')).toBe('*');
    await open.close();
  });
});

describe('when the database is unreachable', () => {
  it('answers 503 with a detail instead of 500, /health stays 200, and it recovers when the database is back', async () => {
    const { proxy, url } = await TcpProxy.forUrl(database.url);
    const cutOff = await startInstance(url);
    const cutOffApi = cutOff.api;
    expect((await cutOffApi.post('/sessions', { session_id: 'before-cut', session_name: 'x' })).status).toBe(201);

    await proxy.cut();
    for (const reply of [
      await cutOffApi.get('/sessions'),
      await cutOffApi.post('/sessions', { session_id: 'during-cut', session_name: 'x' }),
      await cutOffApi.post('/sessions/before-cut/events', { event_type: 'message' }),
    ]) {
      expect(reply.status).toBe(503);
      expect(reply.body.detail).toMatch(/Database unavailable/);
      expect(reply.headers.get('retry-after')).toBe('1');
    }
    expect((await cutOffApi.get('/health')).status).toBe(200);

    await proxy.open();
    expect((await cutOffApi.get('/sessions/before-cut/status')).body.status).toBe('running');
    expect((await cutOffApi.get('/sessions/during-cut/status')).body.status).toBe('not_existent');
    await cutOff.close();
    await proxy.cut();
  });
});

describe('hostile JSON', () => {
  it('a failing value with its own "toString" member is named in a 422, not a crash', async () => {
    const reply = await api.post('/sessions', { session_id: 'ok', session_name: [{ toString: null }], project_dir: { toString: 1 } });
    expect(reply.status).toBe(422);
    expect(reply.body.detail.map((failure: { loc: string[] }) => failure.loc[1])).toEqual(['session_name', 'project_dir']);
  });

  it('keys such as "toString" and "__proto__" inside stored JSON survive the round trip', async () => {
    await api.post('/sessions', { session_id: 'proto', session_name: 'x' });
    const toolInput = JSON.parse('{"toString":null,"__proto__":{"polluted":true},"constructor":{"prototype":1}}');
    const reply = await api.post('/sessions/proto/events', `{"event_type":"pre_tool","tool_input":${JSON.stringify(toolInput)}}`);
    expect(reply.status).toBe(201);
    const stored = (await api.get('/sessions/proto/events')).body.events[0].tool_input;
    expect(Object.keys(stored)).toEqual(['toString', '__proto__', 'constructor']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('numbers beyond what JSON numbers can hold in exit_code are refused', async () => {
    await api.post('/sessions', { session_id: 'numbers', session_name: 'x' });
    for (const exit of ['1e400', '99999999999999999999', '2147483648', '1.5']) {
      expect((await api.post('/sessions/numbers/events', `{"event_type":"session_stop","exit_code":${exit}}`)).status).toBe(422);
    }
  });
});
