import Router from '@koa/router';

/** A router for one resource. Paths match case-sensitively: `/SESSIONS/x` is not `/sessions/x`. */
export const createRouter = (): Router => new Router({ sensitive: true });
