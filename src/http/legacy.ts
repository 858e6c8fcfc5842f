import Router from '@koa/router';
import type { Config } from '../config';
import type { Metrics } from '../metrics';
import { notFound } from '../errors';
import type { SessionChanges } from '../store/sessions';
import type { Store } from '../store/store';
import { eventPageBody } from './events';
import { streamedJson } from './streamedJson';
import { validate } from '../structs/validate';
import { DEFAULT_EVENT_PAGE_LIMIT, EventPageQuery, LegacyEventBody } from './events.structs';
import { SessionMetadataPatch } from './sessions.structs';
import { scope } from './auth';
import { createRouter } from './router';

export interface LegacyRoutesDeps {
  store: Pick<Store, 'sessions' | 'events'>;
  metrics: Pick<Metrics, 'eventsIngested'>;
  config: Pick<Config, 'pageMaxBytes' | 'pageSliceBytes'>;
}

/** Endpoints the older clients still call. Deprecated; kept until those clients are gone. */
export function legacyRoutes({ store, metrics, config: { pageMaxBytes, pageSliceBytes } }: LegacyRoutesDeps): Router {
  const router = createRouter();

  // DEPRECATED: agents should create sessions with POST /sessions and post events to
  // POST /sessions/{id}/events. The session_start handling here (creating the session, or setting it
  // running again) is to be removed once no client relies on it.
  router.post('/events', scope('ingest'), async (ctx) => {
    const event = validate('body', ctx.request.body, LegacyEventBody);
    const stored = await store.events.appendCreatingSession(event.session_id, event);
    if (stored.created) metrics.eventsIngested(1);
    ctx.body = { ok: true };
  });

  router.get('/events/:session_id', scope('read'), async (ctx) => {
    const { session_id } = ctx.params;
    const query = validate('query', ctx.query, EventPageQuery);
    ctx.type = 'json';
    if (query.after === undefined && query.limit === undefined) {
      // The original clients read this once and expect every event: the whole list, sent as it is read.
      ctx.body = await streamedJson('{"events":[', store.events.pieces(session_id, { maxBytes: pageMaxBytes, sliceBytes: pageSliceBytes }), '],"next_after":null}');
      return;
    }
    const page = await store.events.page(session_id, {
      after: query.after,
      limit: query.limit ?? DEFAULT_EVENT_PAGE_LIMIT,
      maxBytes: pageMaxBytes,
      sliceBytes: pageSliceBytes,
    });
    ctx.body = await eventPageBody(page?.events ?? '', page?.nextAfter ?? null);
  });

  router.patch('/sessions/:session_id/metadata', scope('ingest'), async (ctx) => {
    const { session_id } = ctx.params;
    const patch = validate('body', ctx.request.body, SessionMetadataPatch);
    const changes = Object.fromEntries(Object.entries(patch).filter(([, value]) => value !== null)) as SessionChanges;
    const session = await store.sessions.update(session_id, changes);
    if (!session) throw notFound('Session not found');
    ctx.body = { ok: true, session };
  });

  return router;
}
