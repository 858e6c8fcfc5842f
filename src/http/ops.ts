import Router from '@koa/router';
import { serviceUnavailable } from '../errors';
import type { Metrics } from '../metrics';
import type { ChangeListener } from '../realtime/listener';
import type { Store } from '../store/store';
import { scope } from './auth';
import { createRouter } from './router';

export interface OpsRoutesDeps {
  store: Pick<Store, 'ping'>;
  listener: Pick<ChangeListener, 'listening'>;
  metrics: Pick<Metrics, 'registry'>;
}

const READY_CHECK_TIMEOUT_MS = 2_000;

export function opsRoutes({ store, listener, metrics }: OpsRoutesDeps): Router {
  const router = createRouter();

  /** Liveness: answers while the process lives, whatever the database is doing. */
  router.get('/health', scope('public'), (ctx) => {
    ctx.body = { status: 'ok' };
  });

  /** Readiness: the database answers and this instance is listening for changes to broadcast. */
  router.get('/ready', scope('read'), async (ctx) => {
    const databaseAnswers = await store.ping(READY_CHECK_TIMEOUT_MS).then(
      () => true,
      () => false,
    );
    if (!databaseAnswers) throw serviceUnavailable('Database unavailable');
    if (!listener.listening) throw serviceUnavailable('Not listening for database changes; reconnecting');
    ctx.body = { status: 'ready' };
  });

  router.get('/metrics', scope('read'), async (ctx) => {
    ctx.type = metrics.registry.contentType;
    ctx.body = await metrics.registry.metrics();
  });

  return router;
}
