import { randomUUID } from 'node:crypto';
import type { Middleware } from 'koa';
import type { Logger } from '../logger';
import type { Metrics } from '../metrics';

// A client's own request id is kept if it is a plain token; anything else is replaced.
const ACCEPTABLE_ID = /^[\w.:-]{1,128}$/;

/**
 * Outermost: gives each request an id (returned as X-Request-Id and on every log line about it), then
 * logs it and counts it, with its final status, under the route pattern rather than the raw path.
 */
export function requestContext({ logger, metrics }: { logger: Logger; metrics: Metrics }): Middleware {
  return async function tracked(ctx, next) {
    const incoming = ctx.get('X-Request-Id');
    const requestId = ACCEPTABLE_ID.test(incoming) ? incoming : randomUUID();
    ctx.state.requestId = requestId;
    // Made on first use: most requests log only the access line below.
    let requestLogger: Logger | undefined;
    Object.defineProperty(ctx.state, 'logger', { get: () => (requestLogger ??= logger.child({ requestId })) });
    ctx.set('X-Request-Id', requestId);
    const started = process.hrtime.bigint();
    try {
      await next();
    } finally {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const route = (ctx as { _matchedRoute?: string })._matchedRoute ?? 'unmatched';
      metrics.observeRequest(ctx.method, String(route), ctx.status, seconds);
      logger.info('request', { requestId, method: ctx.method, path: ctx.path, status: ctx.status, ms: Math.round(seconds * 1e4) / 10 });
    }
  };
}
