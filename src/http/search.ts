import Router from '@koa/router';
import type { Pool } from '../db/pool';
import { searchEvents } from '../store/search';
import { validate } from '../structs/validate';
import { DEFAULT_SEARCH_LIMIT, EventSearchQuery } from './search.structs';
import { createRouter } from './router';

export interface SearchRoutesDeps {
  pool: Pool;
}

/** Search inside events: prompts, messages, tool input and output, errors. */
export function searchRoutes({ pool }: SearchRoutesDeps): Router {
  const router = createRouter();

  router.get('/search', async (ctx) => {
    const query = validate('query', ctx.query, EventSearchQuery);
    const page = await searchEvents(pool, {
      q: query.q,
      eventType: query.event_type,
      toolName: query.tool_name,
      failedOnly: query.failed,
      projectDir: query.project_dir,
      sessionId: query.session_id,
      before: query.cursor,
      limit: query.limit ?? DEFAULT_SEARCH_LIMIT,
    });
    ctx.body = { results: page.results, next_cursor: page.nextCursor };
  });

  return router;
}
