import http from 'node:http';
import { Writable } from 'node:stream';
import { createApiRouter } from '../src/app';
import { configWith } from '../src/config';
import { createLogger } from '../src/logger';
import { createStore } from '../src/store/store';
import { startInstance, useInstance } from './support/instance';
import { useTestDatabase } from './support/testDatabase';
import { WsClient } from './support/wsClient';

const database = useTestDatabase();
const logLines: Record<string, any>[] = [];
const capture = new Writable({
  write(chunk, _encoding, done) {
    for (const line of String(chunk).split('\n')) if (line.trim()) logLines.push(JSON.parse(line));
    done();
  },
});
const { instance, api } = useInstance(database, {}, { logger: createLogger('info', capture) });

describe('OpenAPI', () => {
  it('documents every route the server has, and nothing it does not', async () => {
    const doc = (await api.get('/openapi.json')).body;
    const store = createStore({ connectionString: database.url, poolSize: 1, readConnections: 1, logger: createLogger('silent') });
    const routes = createApiRouter({
      store,
      listener: { listening: true },
      metrics: instance.service.metrics,
      config: configWith({}),
      keyring: instance.service.keyring,
    }).stack.flatMap((layer) => layer.methods.filter((method) => method !== 'HEAD').map((method) => `${method.toLowerCase()} ${String(layer.path).replace(/:(\w+)/g, '{$1}')}`));
    const documented = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([path, methods]) => Object.keys(methods).map((method) => `${method} ${path}`));
    await store.close();
    expect(routes.length).toBeGreaterThan(15);
    expect(documented.filter((op) => op !== 'get /ws').sort()).toEqual([...new Set(routes)].sort());
  });

  it('describes bodies and parameters from the structs the routes validate with', async () => {
    const doc = (await api.get('/openapi.json')).body;
    expect(doc.openapi).toBe('3.1.0');
    const create = doc.paths['/sessions'].post.requestBody.content['application/json'].schema;
    expect(create.required).toEqual(['session_id', 'session_name']);
    expect(create.properties.session_id).toMatchObject({ type: 'string', minLength: 1, maxLength: 256 });
    expect(create.properties.project_dir.anyOf).toEqual([expect.objectContaining({ type: 'string' }), { type: 'null' }]);
    const event = doc.paths['/sessions/{session_id}/events'].post.requestBody.content['application/json'].schema;
    expect(event.required).toEqual(['event_type']);
    expect(event.properties.exit_code.anyOf[0]).toMatchObject({ type: 'integer', maximum: 2147483647 });
    expect(event.properties.timestamp.anyOf[0]).toMatchObject({ format: 'date-time' });
    const batch = doc.paths['/sessions/{session_id}/events/batch'].post.requestBody.content['application/json'].schema;
    expect(batch.properties.events.items.properties.event_type).toMatchObject({ type: 'string' });
    const list = doc.paths['/sessions'].get.parameters.map((p: { name: string; in: string }) => `${p.in}:${p.name}`);
    expect(list).toEqual(['query:status', 'query:outcome', 'query:agent_name', 'query:project_dir', 'query:q', 'query:limit', 'query:cursor']);
    const limit = doc.paths['/sessions/{session_id}/events'].get.parameters.find((p: { name: string }) => p.name === 'limit');
    expect(limit.schema).toMatchObject({ type: 'integer', minimum: 1, maximum: 10000 });
    expect(doc.paths['/sessions/{session_id}'].delete.responses['404'].content['application/json'].schema.$ref).toBe('#/components/schemas/Error');
    expect(doc.paths['/events'].post.deprecated).toBe(true);
  });

  it('GET /docs renders it', async () => {
    const page = await fetch(`${instance.baseUrl}/docs`);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(await page.text()).toContain('/openapi.json');
  });
});

describe('metrics', () => {
  it('counts requests by route and status, durations, events, clients, messages and delivery lag', async () => {
    const client = await WsClient.connect(instance.wsUrl);
    await api.post('/sessions', { session_id: 'metered', session_name: 'x' });
    await api.post('/sessions/metered/events/batch', { events: [{ event_type: 'a' }, { event_type: 'b' }] });
    await api.get('/sessions/nobody');
    await client.waitForLive(3);
    const text: string = (await api.get('/metrics')).body;
    expect(text).toMatch(/asm_http_requests_total\{method="POST",route="\/sessions",status="201"\} 1/);
    expect(text).toMatch(/asm_http_requests_total\{method="GET",route="\/sessions\/:session_id",status="404"\} 1/);
    expect(text).toMatch(/asm_http_request_duration_seconds_bucket\{le="\+Inf",method="POST",route="\/sessions\/:session_id\/events\/batch"\} 1/);
    expect(text).toMatch(/asm_events_ingested_total 2/);
    expect(text).toMatch(/asm_websocket_clients 1/);
    expect(text).toMatch(/asm_websocket_messages_sent_total (\d+)/);
    expect(Number(/asm_websocket_messages_sent_total (\d+)/.exec(text)![1])).toBeGreaterThanOrEqual(4);
    expect(text).toMatch(/asm_change_delivery_lag_seconds_count [1-9]/);
    client.close();
  });
});

describe('logs', () => {
  it('are JSON lines, one per request, carrying the request id', async () => {
    await api.get('/sessions/nobody', { 'x-request-id': 'trace-me-1' });
    const line = logLines.find((entry) => entry.requestId === 'trace-me-1');
    expect(line).toMatchObject({ level: 'info', msg: 'request', method: 'GET', path: '/sessions/nobody', status: 404, requestId: 'trace-me-1' });
    expect(typeof line!.time).toBe('string');
  });
});

describe('graceful shutdown', () => {
  it('finishes a request in flight, then stops accepting', async () => {
    const closing = await startInstance(database.url);
    const { port } = new URL(closing.baseUrl);
    const body = JSON.stringify({ session_id: 'in-flight', session_name: 'x' });
    let closed: Promise<void> | undefined;
    const reply = new Promise<number>((resolve, reject) => {
      const headers = { 'content-type': 'application/json', 'content-length': body.length, expect: '100-continue' };
      const request = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/sessions', headers }, (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      });
      request.on('error', reject);
      // "100 Continue" says the server holds the request: part of the body, shutdown, then the rest.
      request.on('continue', () => {
        request.write(body.slice(0, 10));
        closed = closing.close();
        request.end(body.slice(10));
      });
      request.flushHeaders();
    });
    expect(await reply).toBe(201);
    await closed;
    await expect(fetch(`${closing.baseUrl}/health`)).rejects.toThrow();
    expect((await api.get('/sessions/in-flight/status')).body.status).toBe('running');
  });

  it('when a keep-alive client was mid-request as shutdown began, then that connection ends with its response instead of serving what the client sends next', async () => {
    const closing = await startInstance(database.url);
    const { port } = new URL(closing.baseUrl);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const body = JSON.stringify({ session_id: 'kept-alive', session_name: 'x' });
    let shutdown: Promise<void> | undefined;
    const first = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const headers = { 'content-type': 'application/json', 'content-length': body.length, expect: '100-continue' };
      const request = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/sessions', agent, headers }, resolve);
      request.on('error', reject);
      // "100 Continue" says the server holds the request: shut down, then send the body.
      request.on('continue', () => {
        shutdown = closing.close();
        request.end(body);
      });
      request.flushHeaders();
    });
    first.resume();
    expect(first.statusCode).toBe(201);
    expect(first.headers.connection).toBe('close');
    // The same agent, one socket: had the connection stayed open, this would be served on it.
    const next = new Promise<number>((resolve, reject) =>
      http.get({ host: '127.0.0.1', port, path: '/health', agent }, (reply) => resolve(reply.statusCode ?? 0)).on('error', reject),
    );
    await expect(next).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await shutdown;
    agent.destroy();
  });
});
