import { Readable } from 'node:stream';
import Router from '@koa/router';
import { notFound } from '../errors';
import type { Store } from '../store/store';
import { ExportQuery } from './search.structs';
import { validate } from '../structs/validate';
import { scope } from './auth';
import { createRouter } from './router';

export interface ExportRoutesDeps {
  store: Pick<Store, 'sessions' | 'events'>;
  /** About the most bytes of events read at once (PAGE_MAX_BYTES). */
  pageMaxBytes: number;
}

/**
 * A session to keep or share: `json` (the default) is `{session, events}`, `ndjson` one event per line.
 * Sent as it is read, as a download. Events stored while the export runs may or may not be in it.
 */
export function exportRoutes({ store, pageMaxBytes }: ExportRoutesDeps): Router {
  const router = createRouter();

  router.get('/sessions/:session_id/export', scope('read'), async (ctx) => {
    const { session_id } = ctx.params;
    const { format = 'json' } = validate('query', ctx.query, ExportQuery);
    const session = await store.sessions.get(session_id);
    if (!session) throw notFound('Session not found');
    const events = store.events.exported(session_id, pageMaxBytes);
    const fileName = `session-${session_id.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 100)}.${format}`;
    ctx.set('content-disposition', `attachment; filename="${fileName}"`);
    if (format === 'ndjson') {
      ctx.type = 'application/x-ndjson';
      ctx.body = Readable.from(
        (async function* () {
          for await (const event of events) yield `${event}\n`;
        })(),
        { objectMode: false },
      );
      return;
    }
    ctx.type = 'json';
    ctx.body = Readable.from(
      (async function* () {
        yield `{"session":${JSON.stringify(session)},"events":[`;
        let first = true;
        for await (const event of events) {
          yield first ? event : `,${event}`;
          first = false;
        }
        yield ']}';
      })(),
      { objectMode: false },
    );
  });

  return router;
}
