import type { Middleware } from 'koa';
import { badRequest } from '../errors';

const ALLOWED_METHODS = 'GET, POST, PATCH, DELETE, OPTIONS';

/**
 * CORS for browser dashboards: an allowed Origin is echoed back (or `*` when any is allowed), and a
 * preflight is answered here with 204 before it reaches the routes. A preflight from any other origin is
 * refused as the original service refused it, `400 {"detail":"Disallowed CORS origin"}`, without CORS headers.
 */
export function cors(allowedOrigins: readonly string[]): Middleware {
  const anyOrigin = allowedOrigins.includes('*');
  const allowed = new Set(allowedOrigins);
  return async function corsHeaders(ctx, next) {
    const origin = ctx.get('Origin');
    ctx.vary('Origin');
    if (!origin) return next();
    const preflight = ctx.method === 'OPTIONS' && ctx.get('Access-Control-Request-Method') !== '';
    if (!anyOrigin && !allowed.has(origin)) {
      if (preflight) throw badRequest('Disallowed CORS origin');
      return next();
    }
    ctx.set('Access-Control-Allow-Origin', anyOrigin ? '*' : origin);
    if (preflight) {
      ctx.set('Access-Control-Allow-Methods', ALLOWED_METHODS);
      ctx.set('Access-Control-Allow-Headers', ctx.get('Access-Control-Request-Headers') || 'Content-Type, Authorization');
      ctx.set('Access-Control-Max-Age', '600');
      ctx.status = 204;
      return;
    }
    ctx.set('Access-Control-Expose-Headers', 'Retry-After');
    return next();
  };
}
