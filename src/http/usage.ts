import Router from '@koa/router';
import type { Pool } from '../db/pool';
import { notFound } from '../errors';
import { getSessionById } from '../store/sessions';
import { listToolResults, listTurnUsage, usageTotals } from '../store/usage';
import { validate } from '../structs/validate';
import { SessionPath } from './sessions.structs';
import { createRouter } from './router';

export interface UsageRoutesDeps {
  pool: Pool;
  /** Where the totals over every session are summed. */
  readPool: Pool;
}

/**
 * What Claude Code's OpenTelemetry logs told: usage in total, per agent and per project; about a session, its
 * usage per turn and how its tool calls ended.
 */
export function usageRoutes({ pool, readPool }: UsageRoutesDeps): Router {
  const router = createRouter();

  router.get('/usage', async (ctx) => {
    ctx.body = await usageTotals(readPool);
  });

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
