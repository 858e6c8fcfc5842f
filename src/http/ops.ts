import Router from '@koa/router';
import type { Pool } from '../db/pool';
import { serviceUnavailable } from '../errors';
import type { Metrics } from '../metrics';
import type { ChangeListener } from '../realtime/listener';

export interface OpsRoutesDeps {
  pool: Pool;
  listener: Pick<ChangeListener, 'listening'>;
  metrics: Pick<Metrics, 'registry'>;
}

const READY_CHECK_TIMEOUT_MS = 2_000;

export function opsRoutes({ pool, listener, metrics }: OpsRoutesDeps): Router {
  const router = new Router({ sensitive: true });

  /** Liveness: answers while the process lives, whatever the database is doing. */
  router.get('/health', (ctx) => {
    ctx.body = { status: 'ok' };
  });

  /** Readiness: the database answers and this instance is listening for changes to broadcast. */
  router.get('/ready', async (ctx) => {
    if (!(await databaseAnswers(pool))) throw serviceUnavailable('Database unavailable');
    if (!listener.listening) throw serviceUnavailable('Not listening for database changes; reconnecting');
    ctx.body = { status: 'ready' };
  });

  router.get('/metrics', async (ctx) => {
    ctx.type = metrics.registry.contentType;
    ctx.body = await metrics.registry.metrics();
  });

  return router;
}

async function databaseAnswers(pool: Pool): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), READY_CHECK_TIMEOUT_MS)));
  try {
    return await Promise.race([pool.query('select 1').then(() => true, () => false), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
