import Router from '@koa/router';
import { badRequest, conflict, notFound } from '../errors';
import type { Config } from '../config';
import type { Store } from '../store/store';
import { streamedJson } from './streamedJson';
import { validate } from '../structs/validate';
import { DEFAULT_SESSION_LIST_LIMIT, SessionCreate, SessionListQuery, SessionPatch } from './sessions.structs';
import { authorizeRequest, keyNameOf, scope } from './auth';
import { createRouter } from './router';

export interface SessionRoutesDeps {
  store: Pick<Store, 'sessions' | 'summary'>;
  config: Pick<Config, 'pageMaxBytes' | 'pageSliceBytes'>;
}

export function sessionRoutes({ store, config: { pageMaxBytes, pageSliceBytes } }: SessionRoutesDeps): Router {
  const router = createRouter();

  router.post('/sessions', scope('ingest'), async (ctx) => {
    const input = validate('body', ctx.request.body, SessionCreate);
    const session = await store.sessions.create(input);
    if (!session) throw conflict('Session already exists');
    ctx.status = 201;
    ctx.body = { ok: true, session };
  });

  router.get('/sessions', scope('read'), async (ctx) => {
    const query = validate('query', ctx.query, SessionListQuery);
    const filter = {
      status: query.status,
      outcome: query.outcome,
      agentName: query.agent_name,
      projectDir: query.project_dir,
      nameContains: query.q,
      maxBytes: pageMaxBytes,
      sliceBytes: pageSliceBytes,
    };
    ctx.type = 'json';
    if (query.limit === undefined && query.cursor === undefined) {
      // No paging asked for: the whole list, as the original clients expect, sent as it is read.
      ctx.body = await streamedJson('{"sessions":[', store.sessions.pieces(filter), '],"next_cursor":null}');
      return;
    }
    const page = await store.sessions.page({ ...filter, cursor: query.cursor, limit: query.limit ?? DEFAULT_SESSION_LIST_LIMIT });
    const [head, tail] = ['{"sessions":[', `],"next_cursor":${JSON.stringify(page.nextCursor)}}`];
    ctx.body = typeof page.sessions === 'string' ? `${head}${page.sessions}${tail}` : await streamedJson(head, page.sessions, tail);
  });

  router.get('/sessions/:session_id', scope('read'), async (ctx) => {
    const { session_id } = ctx.params;
    const session = await store.sessions.get(session_id);
    if (!session) throw notFound('Session not found');
    ctx.body = { session };
  });

  // Never 404: agents poll this for sessions that may not exist yet or any more.
  router.get('/sessions/:session_id/status', scope('read'), async (ctx) => {
    const { session_id } = ctx.params;
    const session = await store.sessions.get(session_id);
    ctx.body = { status: session ? session.status : 'not_existent' };
  });

  router.get('/sessions/:session_id/result', scope('read'), async (ctx) => {
    const { session_id } = ctx.params;
    const found = await store.sessions.result(session_id);
    switch (found.outcome) {
      case 'session_not_found':
        throw notFound('Session not found');
      case 'not_finished':
        throw badRequest('Session not finished');
      case 'no_result':
        throw notFound('No result found');
      case 'found':
        // A failed Claude Code session: `result` is the error that ended it, and `failed` says so.
        ctx.body = found.failed ? { result: found.result, failed: true } : { result: found.result };
    }
  });

  // Tool calls and turns from every event of the session, so that no page boundary shows a finished call as running.
  router.get('/sessions/:session_id/summary', scope('read'), async (ctx) => {
    const summary = await store.summary.get(ctx.params.session_id!);
    if (!summary) throw notFound('Session not found');
    ctx.body = summary;
  });

  router.patch('/sessions/:session_id', scope('ingest'), async (ctx) => {
    const { session_id } = ctx.params;
    const changes = validate('body', ctx.request.body, SessionPatch);
    // A budget is a spend cap: only an admin key sets it (and it is audited).
    if (changes.budget_usd !== undefined) authorizeRequest(ctx, 'admin');
    const session = await store.sessions.update(session_id, changes, keyNameOf(ctx));
    if (!session) throw notFound('Session not found');
    ctx.body = { ok: true, session };
  });

  router.delete('/sessions/:session_id', scope('admin'), async (ctx) => {
    const { session_id } = ctx.params;
    const deleted = await store.sessions.delete(session_id, keyNameOf(ctx));
    if (!deleted) throw notFound('Session not found');
    ctx.body = { ok: true, session_id, deleted: { session: true, events_count: deleted.eventsCount } };
  });

  return router;
}
