import Router from '@koa/router';
import { validate } from '../structs/validate';
import { SessionPath } from './sessions.structs';

/** A router for one resource. Paths match case-sensitively: `/SESSIONS/x` is not `/sessions/x`. */
export const createRouter = (): Router => new Router({ sensitive: true });

/**
 * One router holding the routes of every resource, so that a request is matched once, whatever its route.
 * A route with `:session_id` in its path has it checked here, before its handler runs (422 if it is not one).
 */
export function mountAll(resources: readonly Router[]): Router {
  const api = createRouter();
  api.param('session_id', (sessionId, _ctx, next) => {
    validate('path', { session_id: sessionId }, SessionPath);
    return next();
  });
  for (const resource of resources) api.use(resource.routes());
  return api;
}
