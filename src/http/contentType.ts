import type { Middleware } from 'koa';
import { HttpError } from '../errors';

/** A request with a body that is not JSON is refused with 415 before anything reads it; requests without a body pass. */
export function requireJsonBodies(): Middleware {
  return async function jsonBodiesOnly(ctx, next) {
    const hasBody = ctx.req.headers['transfer-encoding'] !== undefined || (ctx.request.length ?? 0) > 0;
    if (!hasBody || ctx.request.is('json')) return next();
    throw new HttpError(415, 'Content-Type must be application/json');
  };
}
