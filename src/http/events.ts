import type { Readable } from 'node:stream';
import Router from '@koa/router';
import type { Config } from '../config';
import type { Metrics } from '../metrics';
import { badRequest, notFound, unprocessable, type FieldError } from '../errors';
import type { JsonText } from '../store/jsonText';
import type { Store } from '../store/store';
import { validate } from '../structs/validate';
import { DEFAULT_EVENT_PAGE_LIMIT, EventBatchBody, EventBody, EventPageQuery } from './events.structs';
import { scope } from './auth';
import { createRouter } from './router';
import { streamedJson } from './streamedJson';

export interface EventRoutesDeps {
  store: Pick<Store, 'events'>;
  metrics: Pick<Metrics, 'eventsIngested'>;
  config: Pick<Config, 'pageMaxBytes' | 'pageSliceBytes'>;
}

const MISMATCH = 'Event session_id must match URL session_id';

/**
 * `{"events":[...],"next_after":…}` around a page's events, serialised (the array's contents): a string, or a
 * stream when they come in pieces.
 */
export async function eventPageBody(events: JsonText, nextAfter: number | null): Promise<string | Readable> {
  const [head, tail] = ['{"events":[', `],"next_after":${nextAfter}}`];
  return typeof events === 'string' ? `${head}${events}${tail}` : streamedJson(head, events, tail);
}

export function eventRoutes({ store, metrics, config: { pageMaxBytes, pageSliceBytes } }: EventRoutesDeps): Router {
  const router = createRouter();

  router.post('/sessions/:session_id/events', scope('ingest'), async (ctx) => {
    const { session_id } = ctx.params;
    const event = validate('body', ctx.request.body, EventBody);
    if (event.session_id != null && event.session_id !== session_id) throw badRequest(MISMATCH);
    const appended = await store.events.append({ sessionId: session_id, event });
    if (!appended) throw notFound('Session not found');
    if (appended.created) metrics.eventsIngested(1);
    // A retry of an event already stored (same event_id) is answered with that event and changes nothing.
    ctx.status = appended.created ? 201 : 200;
    ctx.body = { ok: true, event: appended.event };
  });

  router.post('/sessions/:session_id/events/batch', scope('ingest'), async (ctx) => {
    const { session_id } = ctx.params;
    const { events } = validate('body', ctx.request.body, EventBatchBody);
    const mismatched: FieldError[] = events.flatMap((event, index) =>
      event.session_id != null && event.session_id !== session_id ? [{ loc: ['body', 'events', index, 'session_id'], msg: MISMATCH, type: 'session_mismatch' }] : [],
    );
    if (mismatched.length > 0) throw unprocessable(mismatched);
    const stored = await store.events.appendBatch(events.map((event) => ({ sessionId: session_id, event })));
    if (stored.some((item) => item === null)) throw notFound('Session not found');
    metrics.eventsIngested(stored.filter((item) => item!.created).length);
    ctx.status = stored.some((item) => item!.created) ? 201 : 200;
    ctx.body = { ok: true, events: stored.map((item) => item!.event) };
  });

  router.get('/sessions/:session_id/events', scope('read'), async (ctx) => {
    const { session_id } = ctx.params;
    const query = validate('query', ctx.query, EventPageQuery);
    const page = await store.events.page(session_id, {
      after: query.after,
      limit: query.limit ?? DEFAULT_EVENT_PAGE_LIMIT,
      maxBytes: pageMaxBytes,
      sliceBytes: pageSliceBytes,
      filter: { tool_use_id: query.tool_use_id, prompt_id: query.prompt_id, agent_id: query.agent_id },
    });
    if (!page) throw notFound('Session not found');
    ctx.type = 'json';
    ctx.body = await eventPageBody(page.events, page.nextAfter);
  });

  return router;
}
