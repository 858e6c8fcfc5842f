import Router from '@koa/router';
import type { Pool } from '../db/pool';
import { sessionActivity } from '../store/activity';
import { validate } from '../structs/validate';
import { ActivityQuery, DEFAULT_ACTIVITY_BUCKETS } from './activity.structs';
import { createRouter } from './router';

export interface ActivityRoutesDeps {
  /** Where the events are counted: the few connections of the pages and whole lists. */
  readPool: Pool;
}

/** GET /activity: how the events of a few sessions spread over their time (the list's sparklines), in one request. */
export function activityRoutes({ readPool }: ActivityRoutesDeps): Router {
  const router = createRouter();

  router.get('/activity', async (ctx) => {
    const query = validate('query', ctx.query, ActivityQuery);
    const buckets = query.buckets ?? DEFAULT_ACTIVITY_BUCKETS;
    ctx.body = { buckets, activity: await sessionActivity(readPool, query.session_id, buckets) };
  });

  return router;
}
