import Router from '@koa/router';
import type { Store } from '../store/store';
import { validate } from '../structs/validate';
import { DEFAULT_SEARCH_LIMIT, EventSearchQuery } from './search.structs';
import { scope } from './auth';
import { createRouter } from './router';

export interface SearchRoutesDeps {
  store: Pick<Store, 'search'>;
}

/** Search inside events: prompts, messages, tool input and output, errors. */
export function searchRoutes({ store }: SearchRoutesDeps): Router {
  const router = createRouter();

  router.get('/search', scope('read'), async (ctx) => {
    const query = validate('query', ctx.query, EventSearchQuery);
    const page = await store.search.events({
      q: query.q,
      eventType: query.event_type,
      toolName: query.tool_name,
      failedOnly: query.failed,
      projectDir: query.project_dir,
      sessionId: query.session_id,
      before: query.cursor,
      limit: query.limit ?? DEFAULT_SEARCH_LIMIT,
    });
    ctx.body = { results: page.results, next_cursor: page.nextCursor, partial: page.partial, scanned_to: page.scannedTo };
  });

  return router;
}
