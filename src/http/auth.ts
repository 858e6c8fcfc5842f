import type { IncomingMessage } from 'node:http';
import type { Layer, Router } from '@koa/router';
import type { Context, Middleware } from 'koa';
import type { Caller, Scope } from '../domain/key';
import { HttpError } from '../errors';
import type { Keyring } from '../keys/keyring';

/** Who may call a route: anyone (`public`), any valid key (`any`), or a key holding this scope. */
export type Access = Scope | 'any' | 'public';

const ACCESS = Symbol('access');
type Tagged = Middleware & { [ACCESS]?: Access };

/** The key of an `Authorization: Bearer <key>` header, if that is what it holds. */
function bearerKey(header: string | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return match?.[1];
}

/** Throws the refusal of `caller` for a route that needs `access`: 401 without a valid key, 403 naming the scope it lacks. */
function authorize(caller: Caller | undefined, access: Access): void {
  if (access === 'public') return;
  if (!caller) throw new HttpError(401, 'Not authenticated');
  if (access !== 'any' && !caller.scopes.has(access)) throw new HttpError(403, `Missing scope: ${access}`);
}

/** Throws as scope() does when the caller lacks `access`: for a field of a route that needs more than the route (budget_usd of PATCH /sessions/{id}). */
export function authorizeRequest(ctx: Context, access: Access): void {
  try {
    authorize(ctx.state.caller as Caller | undefined, access);
  } catch (err) {
    if (err instanceof HttpError && err.status === 401) ctx.set('WWW-Authenticate', 'Bearer');
    throw err;
  }
}

/**
 * Declares who may call a route, where the route is declared: `router.get('/sessions', scope('read'), …)`.
 * It also checks it, for a router used without authenticate() before it.
 */
export function scope(access: Access): Middleware {
  const check: Tagged = async function scopeRequired(ctx, next) {
    authorizeRequest(ctx, access);
    return next();
  };
  check[ACCESS] = access;
  return check;
}

/** The access a route declared with scope(); undefined for a route that declared none. */
export function accessOf(layer: Layer): Access | undefined {
  for (const middleware of layer.stack) {
    const access = (middleware as Tagged)[ACCESS];
    if (access) return access;
  }
  return undefined;
}

/** The access of the route that will answer this path and method; undefined when none will (a 404 or 405). */
function routeAccess(routers: readonly Router[], path: string, method: string): Access | undefined {
  for (const router of routers) {
    const route = router.match(path, method).pathAndMethod.find((layer) => layer.methods.length > 0);
    if (route) return accessOf(route) ?? 'admin';
  }
  return undefined;
}

/** Who made the request, as authenticate() found: undefined when it presented no valid key and one is required. */
export const callerOf = (ctx: Context): Caller | undefined => ctx.state.caller as Caller | undefined;

/** The name of the key of an authorized request, for the audit trail; null when the server requires no key. */
export const keyNameOf = (ctx: Context): string | null => callerOf(ctx)?.key ?? null;

/**
 * Finds who makes the request (`ctx.state.caller`) from its `Authorization: Bearer <key>`, and refuses it (401,
 * or 403 naming the scope it lacks) when the route that will answer it needs more — before its body is read,
 * so that nobody without a key makes the server read a large body. A route nobody declared access for needs
 * `admin`; a path no route answers goes on to its 404 or 405.
 */
export function authenticate({ keyring, routers }: { keyring: Pick<Keyring, 'identify'>; routers: readonly Router[] }): Middleware {
  return async function authenticated(ctx, next) {
    ctx.state.caller = keyring.identify(bearerKey(ctx.get('Authorization') || undefined));
    const access = routeAccess(routers, ctx.path, ctx.method);
    if (access) authorizeRequest(ctx, access);
    return next();
  };
}

/**
 * The same rule for a WebSocket upgrade of `/ws`, which needs `read`: returns the caller, or throws the
 * refusal. A browser cannot set headers on a WebSocket, so the key may also come as `?api_key=<key>`.
 */
export function authorizeUpgrade(keyring: Pick<Keyring, 'identify'>): (request: IncomingMessage, query: URLSearchParams) => Caller {
  return (request, query) => {
    const caller = keyring.identify(bearerKey(request.headers.authorization)) ?? keyring.identify(query.get('api_key') ?? undefined);
    authorize(caller, 'read');
    return caller!;
  };
}
