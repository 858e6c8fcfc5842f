import Router from '@koa/router';
import { notFound } from '../errors';
import type { Store } from '../store/store';
import { scope } from './auth';
import { createRouter } from './router';

export interface UsageRoutesDeps {
  store: Pick<Store, 'sessions' | 'usage'>;
}

/**
 * What Claude Code's OpenTelemetry logs told: usage in total, per agent and per project; about a session, its
 * usage per turn and how its tool calls ended.
 */
export function usageRoutes({ store }: UsageRoutesDeps): Router {
  const router = createRouter();

  router.get('/usage', scope('read'), async (ctx) => {
    ctx.body = await store.usage.totals();
  });

  router.get('/sessions/:session_id/usage', scope('read'), async (ctx) => {
    const { session_id } = ctx.params;
    const session = await store.sessions.get(session_id);
    if (!session) throw notFound('Session not found');
    ctx.body = { session_id, usage: session.usage, turns: await store.usage.turns(session_id) };
  });

  router.get('/sessions/:session_id/tool-results', scope('read'), async (ctx) => {
    const { session_id } = ctx.params;
    const session = await store.sessions.get(session_id);
    if (!session) throw notFound('Session not found');
    ctx.body = { session_id, tool_results: await store.usage.toolResults(session_id) };
  });

  return router;
}
