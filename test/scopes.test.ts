import type { Router } from '@koa/router';
import WebSocket from 'ws';
import { createApp } from '../src/app';
import { configWith } from '../src/config';
import { SCOPES, type Scope } from '../src/domain/key';
import { accessOf, type Access } from '../src/http/auth';
import { createLogger } from '../src/logger';
import { useInstance } from './support/instance';
import { useTestDatabase } from './support/testDatabase';

// Every route of the app, called with every kind of key: the refusals are 401 (no key, or one the server does
// not know) and 403 naming the scope the key lacks, and a key with the right scope is never refused. A route
// added without a scope fails the first test.

const ROOT = 'root-admin-key';
const database = useTestDatabase();
// Bodies over 1 MiB are refused (413) once read: a refusal for want of a key comes first, so it comes unread.
const { instance, api } = useInstance(database, { apiKeys: [ROOT], maxBodyBytes: 1024 * 1024, hookMaxBodyBytes: 1024 * 1024 });

const root = { authorization: `Bearer ${ROOT}` };
const keys = {} as Record<Scope, string>;

beforeAll(async () => {
  for (const scope of SCOPES) {
    const created = await api.post('/keys', { name: `only-${scope}`, scopes: [scope] }, root);
    expect(created.status).toBe(201);
    keys[scope] = created.body.secret;
  }
});

/** Every route the app answers, from the routers it mounts: method, path pattern and declared access. */
function appRoutes(): { method: string; path: string; access: Access | undefined }[] {
  const { service } = instance;
  const app = createApp({
    store: service.store,
    listener: service.listener,
    config: configWith({}),
    logger: createLogger('silent'),
    metrics: service.metrics,
    keyring: service.keyring,
  });
  const routers = app.middleware.map((middleware) => (middleware as { router?: Router }).router).filter((router): router is Router => router !== undefined);
  return routers.flatMap((router) =>
    router.stack.flatMap((layer) => layer.methods.filter((method) => method !== 'HEAD').map((method) => ({ method, path: String(layer.path), access: accessOf(layer) }))),
  );
}

// A concrete path for a route's pattern: parameters filled with values that exist where it matters (an asset, a docs file).
const SAMPLE_PARAMS: Record<string, string> = { session_id: 'absent-session', name: 'absent-key', file: 'init.js' };
const concrete = (path: string) => (path === '/assets/:name' ? '/assets/app.js' : path.replace(/:(\w+)/g, (_, name: string) => SAMPLE_PARAMS[name]!));

// Who calls: [label, Authorization header, the scopes it holds (undefined: not a valid key)].
const CALLERS: [string, string | undefined, readonly Scope[] | undefined][] = [
  ['no key', undefined, undefined],
  ['an unknown key of the asm_ format', `Bearer asm_0123456789abcdef_${'A'.repeat(43)}`, undefined],
  ['an unknown key', 'Bearer not-a-key', undefined],
  ['a Basic header', `Basic ${Buffer.from(`x:${ROOT}`).toString('base64')}`, undefined],
  ...SCOPES.map((scope): [string, string, Scope[]] => [`a key with ${scope} only`, `Bearer ${scope}`, [scope]]),
  ['a key of API_KEYS', `Bearer ${ROOT}`, [...SCOPES]],
];
const headerFor = (authorization: string | undefined): Record<string, string> => {
  if (!authorization) return {};
  const scope = SCOPES.find((s) => authorization === `Bearer ${s}`);
  return { authorization: scope ? `Bearer ${keys[scope]}` : authorization };
};

describe('every route declares who may call it', () => {
  it('when the app is built, then each of its routes has a scope, and OpenAPI names the same one', async () => {
    const routes = appRoutes();
    expect(routes.length).toBeGreaterThan(30);
    expect(routes.filter((route) => route.access === undefined).map((route) => `${route.method} ${route.path}`)).toEqual([]);
    const doc = (await api.get('/openapi.json')).body;
    // The OTLP receiver (/v1/…) speaks the OpenTelemetry protocol and is described in the document's introduction.
    for (const route of routes.filter((route) => !route.path.startsWith('/v1/'))) {
      const documented = doc.paths[route.path.replace(/:(\w+)/g, '{$1}')]?.[route.method.toLowerCase()];
      expect({ route: `${route.method} ${route.path}`, scope: documented?.['x-scope'] }).toEqual({ route: `${route.method} ${route.path}`, scope: route.access });
    }
  });

  it('when the routes are listed, then reads need read, writes ingest, deletes and keys admin, and the pages without data none', () => {
    const byAccess = (access: Access) =>
      appRoutes()
        .filter((route) => route.access === access)
        .map((route) => `${route.method} ${route.path}`)
        .sort();
    // Exactly these need no key (nor any key in particular): a route joins them only by changing this test.
    expect(byAccess('public')).toEqual(['GET /', 'GET /assets/:name', 'GET /docs', 'GET /docs/:file', 'GET /health', 'GET /openapi.json']);
    expect(byAccess('any')).toEqual(['GET /me']);
    // Features to come add theirs (budgets: admin; answering approvals: decide).
    expect(byAccess('admin')).toEqual(expect.arrayContaining(['DELETE /keys/:name', 'DELETE /sessions/:session_id', 'GET /audit', 'GET /keys', 'POST /keys']));
    expect(byAccess('ingest')).toEqual(
      expect.arrayContaining([
        'PATCH /sessions/:session_id',
        'PATCH /sessions/:session_id/metadata',
        'POST /events',
        'POST /hooks/claude-code',
        'POST /sessions',
        'POST /sessions/:session_id/events',
        'POST /sessions/:session_id/events/batch',
        'POST /v1/logs',
        'POST /v1/metrics',
      ]),
    );
    expect(
      appRoutes()
        .filter((route) => route.access === 'read')
        .every((route) => route.method === 'GET'),
    ).toBe(true);
  });
});

describe('every route against every key', () => {
  it('when a route is called without the key it needs, then 401 or 403 naming the scope; with it, neither (and never a 5xx)', async () => {
    const failures: string[] = [];
    for (const route of appRoutes()) {
      for (const [label, authorization, scopes] of CALLERS) {
        const body = route.method === 'GET' || route.method === 'DELETE' ? undefined : {};
        const reply = await api.send(route.method, concrete(route.path), body, headerFor(authorization));
        const access = route.access!;
        const expected = access === 'public' ? 'allowed' : scopes === undefined ? 401 : access === 'any' || scopes.includes(access) ? 'allowed' : 403;
        const outcome = reply.status === 401 || reply.status === 403 ? reply.status : 'allowed';
        const where = `${route.method} ${route.path} with ${label}`;
        if (reply.status >= 500) failures.push(`${where}: ${reply.status}`);
        if (outcome !== expected) failures.push(`${where}: ${reply.status} ${JSON.stringify(reply.body)}, expected ${expected}`);
        if (expected === 401 && (reply.body?.detail !== 'Not authenticated' || reply.headers.get('www-authenticate') !== 'Bearer'))
          failures.push(`${where}: ${JSON.stringify(reply.body)}`);
        if (expected === 403 && reply.body?.detail !== `Missing scope: ${access}`) failures.push(`${where}: ${JSON.stringify(reply.body)}`);
      }
    }
    expect(failures).toEqual([]);
  });

  it('when the feed is opened with each key, then read opens it and the others are refused the same way', async () => {
    const upgrade = (headers: Record<string, string>, query = '') =>
      new Promise<{ status: number; body: string }>((resolve) => {
        const socket = new WebSocket(instance.wsUrl + query, { headers });
        socket.on('error', () => undefined);
        socket.on('open', () => {
          socket.close();
          resolve({ status: 101, body: '' });
        });
        socket.on('unexpected-response', (_request, response) => {
          let body = '';
          response.on('data', (chunk) => (body += chunk));
          response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
        });
      });
    for (const [label, authorization, scopes] of CALLERS) {
      const reply = await upgrade(headerFor(authorization));
      const expected = scopes === undefined ? 401 : scopes.includes('read') ? 101 : 403;
      expect({ label, status: reply.status }).toEqual({ label, status: expected });
      if (expected === 403) expect(JSON.parse(reply.body)).toEqual({ detail: 'Missing scope: read' });
      if (expected === 401) expect(JSON.parse(reply.body)).toEqual({ detail: 'Not authenticated' });
    }
    // A browser cannot set headers on a WebSocket: the key may come in the query.
    expect((await upgrade({}, `?api_key=${keys.read}`)).status).toBe(101);
    expect((await upgrade({}, `?api_key=${keys.ingest}`)).status).toBe(403);
  });

  it('when a request without a key (or without the scope) sends a large body, then it is refused before the body is read', async () => {
    const large = JSON.stringify({ events: [{ event_type: 'x', tool_output: 'y'.repeat(2 * 1024 * 1024) }] });
    const reply = await api.send('POST', '/sessions/absent-session/events/batch', large);
    expect(reply.status).toBe(401);
    const hook = await api.send('POST', '/hooks/claude-code', large, headerFor('Bearer read'));
    expect(hook).toMatchObject({ status: 403, body: { detail: 'Missing scope: ingest' } });
    // With the key, the same body is read, and is too large.
    expect((await api.send('POST', '/hooks/claude-code', large, headerFor('Bearer ingest'))).status).toBe(413);
  });
});
