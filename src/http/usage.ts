import Router from '@koa/router';
import { notFound } from '../errors';
import type { Store } from '../store/store';
import { scope } from './auth';
import { createRouter } from './router';
import { validate } from '../structs/validate';
import { UsageQuery } from './usage.structs';

export interface UsageRoutesDeps {
  store: Pick<Store, 'sessions' | 'usage'>;
}

/**
 * What Claude Code's OpenTelemetry logs told: usage in total, per agent and per project; about a session, its
 * usage per turn and how its tool calls ended.
 */
export function usageRoutes({ store }: UsageRoutesDeps): Router {
  const router = createRouter();

  // The list's filters (GET /sessions's names; `agent` and `project` too), over every session they let through.
  router.get('/usage', scope('read'), async (ctx) => {
    const query = validate('query', ctx.query, UsageQuery);
    ctx.body = await store.usage.totals({
      status: query.status,
      outcome: query.outcome,
      agentName: query.agent_name ?? query.agent,
      projectDir: query.project_dir ?? query.project,
      nameContains: query.q,
    });
  });

  router.get('/sessions/:session_id/usage', scope('read'), async (ctx) => {
    const { session_id } = ctx.params;
    const session = await store.sessions.get(session_id);
    if (!session) throw notFound('Session not found');
    const [turns, detail] = await Promise.all([store.usage.turns(session_id), store.usage.sessionDetail(session_id)]);
    ctx.body = { session_id, usage: session.usage, turns, ...detail };
  });

  router.get('/sessions/:session_id/tool-results', scope('read'), async (ctx) => {
    const { session_id } = ctx.params;
    const session = await store.sessions.get(session_id);
    if (!session) throw notFound('Session not found');
    ctx.body = { session_id, tool_results: await store.usage.toolResults(session_id) };
  });

  return router;
}
