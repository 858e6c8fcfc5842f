import Router from '@koa/router';
import type { Pool } from '../db/pool';
import { notFound } from '../errors';
import { listSessionEvents, recordEventCreatingSession } from '../store/events';
import { updateSession, type SessionChanges } from '../store/sessions';
import { validate } from './validate';
import { LegacyEventBody } from './events.structs';
import { SessionMetadataPatch, SessionPath } from './sessions.structs';

export interface LegacyRoutesDeps {
  pool: Pool;
}

/** Endpoints the older clients still call. Deprecated; kept until those clients are gone. */
export function legacyRoutes({ pool }: LegacyRoutesDeps): Router {
  const router = new Router();

  // DEPRECATED: agents should create sessions with POST /sessions and post events to
  // POST /sessions/{id}/events. The session_start handling here (creating the session, or setting it
  // running again) is to be removed once no client relies on it.
  router.post('/events', async (ctx) => {
    const event = validate('body', ctx.request.body, LegacyEventBody);
    await recordEventCreatingSession(pool, event.session_id, event);
    ctx.body = { ok: true };
  });

  router.get('/events/:session_id', async (ctx) => {
    const { session_id } = validate('path', ctx.params, SessionPath);
    ctx.body = { events: (await listSessionEvents(pool, session_id)) ?? [] };
  });

  router.patch('/sessions/:session_id/metadata', async (ctx) => {
    const { session_id } = validate('path', ctx.params, SessionPath);
    const patch = validate('body', ctx.request.body, SessionMetadataPatch);
    const changes = Object.fromEntries(Object.entries(patch).filter(([, value]) => value !== null)) as SessionChanges;
    const session = await updateSession(pool, session_id, changes);
    if (!session) throw notFound('Session not found');
    ctx.body = { ok: true, session };
  });

  return router;
}
