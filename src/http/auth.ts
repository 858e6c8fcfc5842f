import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Middleware } from 'koa';
import { HttpError } from '../errors';

const digest = (text: string) => createHash('sha256').update(text).digest();

/**
 * Checks presented keys against the configured ones in constant time: every key is compared, each as a
 * fixed-length digest, so neither the position of a mismatch nor which key nearly matched shows in timing.
 */
function createKeyCheck(keys: readonly string[]): (presented: string | undefined) => boolean {
  const digests = keys.map(digest);
  return (presented) => {
    const candidate = digest(presented ?? '');
    let matched = false;
    for (const known of digests) matched = timingSafeEqual(candidate, known) || matched;
    return presented !== undefined && matched;
  };
}

/** The key of an `Authorization: Bearer <key>` header, if that is what it holds. */
function bearerKey(header: string | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return match?.[1];
}

// Reachable without a key: liveness, and pages that hold no data (the dashboard asks for the key itself).
const isPublic = (path: string) => path === '/health' || path === '/' || path.startsWith('/assets/') || path === '/docs' || path.startsWith('/docs/') || path === '/openapi.json';

/** With API_KEYS set, every request but the public ones needs `Authorization: Bearer <key>`; else 401. */
export function requireApiKey(keys: readonly string[]): Middleware {
  const accepts = createKeyCheck(keys);
  return async function apiKeyRequired(ctx, next) {
    if (keys.length === 0 || isPublic(ctx.path) || accepts(bearerKey(ctx.get('Authorization') || undefined))) return next();
    ctx.set('WWW-Authenticate', 'Bearer');
    throw new HttpError(401, 'Not authenticated');
  };
}

/**
 * The same rule for a WebSocket upgrade of `/ws`. A browser cannot set headers on a WebSocket, so the key
 * may also come as `?api_key=<key>`.
 */
export function authorizeUpgrade(keys: readonly string[]): (request: IncomingMessage, query: URLSearchParams) => boolean {
  const accepts = createKeyCheck(keys);
  return (request, query) => keys.length === 0 || accepts(bearerKey(request.headers.authorization)) || accepts(query.get('api_key') ?? undefined);
}
