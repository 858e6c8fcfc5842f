import type { Middleware } from 'koa';

const ALLOWED_METHODS = 'GET, POST, PATCH, DELETE, OPTIONS';

/**
 * CORS for browser dashboards: an allowed Origin is echoed back (or `*` when any is allowed), and a
 * preflight is answered here with 204 before it reaches the routes.
 */
export function cors(allowedOrigins: readonly string[]): Middleware {
  const anyOrigin = allowedOrigins.includes('*');
  const allowed = new Set(allowedOrigins);
  return async function corsHeaders(ctx, next) {
    const origin = ctx.get('Origin');
    ctx.vary('Origin');
    if (!origin || (!anyOrigin && !allowed.has(origin))) return next();
    ctx.set('Access-Control-Allow-Origin', anyOrigin ? '*' : origin);
    if (ctx.method === 'OPTIONS' && ctx.get('Access-Control-Request-Method')) {
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
