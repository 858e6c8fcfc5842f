import Router from '@koa/router';
import type { Store } from '../store/store';
import { validate } from '../structs/validate';
import { ActivityQuery, DEFAULT_ACTIVITY_BUCKETS } from './activity.structs';
import { scope } from './auth';
import { createRouter } from './router';

export interface ActivityRoutesDeps {
  store: Pick<Store, 'activity'>;
}

/** GET /activity: how the events of a few sessions spread over their time (the list's sparklines), in one request. */
export function activityRoutes({ store }: ActivityRoutesDeps): Router {
  const router = createRouter();

  router.get('/activity', scope('read'), async (ctx) => {
    const query = validate('query', ctx.query, ActivityQuery);
    const buckets = query.buckets ?? DEFAULT_ACTIVITY_BUCKETS;
    ctx.body = { buckets, activity: await store.activity.ofSessions(query.session_id, buckets) };
  });

  return router;
}
