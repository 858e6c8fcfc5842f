import Router from '@koa/router';
import type { Pool } from '../db/pool';
import { badRequest, notFound } from '../errors';
import { appendEvent, listSessionEvents } from '../store/events';
import { validate } from './validate';
import { EventBody } from './events.structs';
import { SessionPath } from './sessions.structs';

export interface EventRoutesDeps {
  pool: Pool;
}

export function eventRoutes({ pool }: EventRoutesDeps): Router {
  const router = new Router();

  router.post('/sessions/:session_id/events', async (ctx) => {
    const { session_id } = validate('path', ctx.params, SessionPath);
    const event = validate('body', ctx.request.body, EventBody);
    if (event.session_id != null && event.session_id !== session_id) throw badRequest('Event session_id must match URL session_id');
    const appended = await appendEvent(pool, session_id, event);
    if (!appended) throw notFound('Session not found');
    // A retry of an event already stored (same event_id) is answered with that event and changes nothing.
    ctx.status = appended.created ? 201 : 200;
    ctx.body = { ok: true, event: appended.event };
  });

  router.get('/sessions/:session_id/events', async (ctx) => {
    const { session_id } = validate('path', ctx.params, SessionPath);
    const events = await listSessionEvents(pool, session_id);
    if (!events) throw notFound('Session not found');
    ctx.body = { events };
  });

  return router;
}
