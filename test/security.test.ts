import WebSocket from 'ws';
import { useInstance } from './support/instance';
import { useTestDatabase } from './support/testDatabase';
import { WsClient } from './support/wsClient';

const database = useTestDatabase();
const { instance: locked } = useInstance(database, { apiKeys: ['first-key', 'second-key'] });

function upgradeStatus(url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve) => {
    const socket = new WebSocket(url, { headers });
    socket.on('error', () => undefined);
    socket.on('open', () => {
      socket.close();
      resolve(101);
    });
    socket.on('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0));
  });
}

describe('with API_KEYS set', () => {
  it('every endpoint but /health answers 401 without a key, the same for a wrong key and a malformed header', async () => {
    const api = locked.api;
    expect((await api.get('/health')).status).toBe(200);
    for (const headers of [{} as Record<string, string>, { authorization: 'Bearer wrong' }, { authorization: 'Basic Zmlyc3Qta2V5' }, { authorization: 'Bearer first-key extra' }]) {
      for (const reply of [
        await api.get('/sessions', headers),
        await api.post('/sessions', { session_id: 'x', session_name: 'x' }, headers),
        await api.get('/ready', headers),
        await api.get('/metrics', headers),
        await api.delete('/sessions/x', headers),
      ]) {
        expect(reply.status).toBe(401);
        expect(reply.body).toEqual({ detail: 'Not authenticated' });
        expect(reply.headers.get('www-authenticate')).toBe('Bearer');
      }
    }
    expect((await api.get('/sessions/x/status')).body).toEqual({ detail: 'Not authenticated' });
  });

  it('any configured key opens every endpoint', async () => {
    const api = locked.api;
    expect((await api.post('/sessions', { session_id: 'keyed', session_name: 'x' }, { authorization: 'Bearer first-key' })).status).toBe(201);
    expect((await api.get('/sessions/keyed', { authorization: 'bearer second-key' })).status).toBe(200);
  });

  it('a WebSocket needs the key in the Authorization header or as ?api_key=', async () => {
    expect(await upgradeStatus(locked.wsUrl)).toBe(401);
    expect(await upgradeStatus(`${locked.wsUrl}?api_key=wrong`)).toBe(401);
    expect(await upgradeStatus(locked.wsUrl, { authorization: 'Bearer second-key' })).toBe(101);
    const client = await WsClient.connect(`${locked.wsUrl}?api_key=first-key`);
    expect(client.init.type).toBe('init');
    client.close();
  });

  it('a CORS preflight passes without a key', async () => {
    const reply = await locked.api.send('OPTIONS', '/sessions', undefined, {
      origin: 'http://localhost:5173',
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'authorization, content-type',
    });
    expect(reply.status).toBe(204);
    expect(reply.headers.get('access-control-allow-headers')).toContain('authorization');
  });
});

describe('request ids', () => {
  it('every response carries X-Request-Id; a sane one from the client is kept', async () => {
    const api = locked.api;
    const generated = (await api.get('/health')).headers.get('x-request-id');
    expect(generated).toMatch(/^[0-9a-f-]{36}$/);
    expect((await api.get('/health', { 'x-request-id': 'client-123' })).headers.get('x-request-id')).toBe('client-123');
    expect((await api.get('/health', { 'x-request-id': 'bad id with spaces' })).headers.get('x-request-id')).not.toBe('bad id with spaces');
    expect((await api.get('/sessions')).headers.get('x-request-id')).toBeTruthy();
  });
});
