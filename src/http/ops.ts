import Router from '@koa/router';

/** Liveness: answers while the process lives, whatever the database is doing. */
export function opsRoutes(): Router {
  const router = new Router();
  router.get('/health', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  return router;
}
