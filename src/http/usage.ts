import Router from '@koa/router';
import type { Pool } from '../db/pool';
import { notFound } from '../errors';
import { getSessionById } from '../store/sessions';
import { listToolResults, listTurnUsage } from '../store/usage';
import { validate } from '../structs/validate';
import { SessionPath } from './sessions.structs';

export interface UsageRoutesDeps {
  pool: Pool;
}

/** What Claude Code's OpenTelemetry logs told about a session: usage per turn, and how its tool calls ended. */
export function usageRoutes({ pool }: UsageRoutesDeps): Router {
  const router = new Router();

  router.get('/sessions/:session_id/usage', async (ctx) => {
    const { session_id } = validate('path', ctx.params, SessionPath);
    const session = await getSessionById(pool, session_id);
    if (!session) throw notFound('Session not found');
    ctx.body = { session_id, usage: session.usage, turns: await listTurnUsage(pool, session_id) };
  });

  router.get('/sessions/:session_id/tool-results', async (ctx) => {
    const { session_id } = validate('path', ctx.params, SessionPath);
    const session = await getSessionById(pool, session_id);
    if (!session) throw notFound('Session not found');
    ctx.body = { session_id, tool_results: await listToolResults(pool, session_id) };
  });

  return router;
}
