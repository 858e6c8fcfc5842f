import Router from '@koa/router';
import { conflict, notFound } from '../errors';
import type { Store } from '../store/store';
import { validate } from '../structs/validate';
import { ApprovalDecision, ApprovalListQuery, ApprovalPath } from './approvals.structs';
import { keyNameOf, scope } from './auth';
import { createRouter } from './router';

const DEFAULT_LIMIT = 1000;

/** Approvals: the PermissionRequests held for a person, and their decisions. */
export function approvalRoutes({ store }: { store: Pick<Store, 'approvals' | 'sessions'> }): Router {
  const router = createRouter();

  router.get('/approvals', scope('read'), async (ctx) => {
    const query = validate('query', ctx.query, ApprovalListQuery);
    ctx.body = { approvals: await store.approvals.list({ state: query.state, limit: query.limit ?? DEFAULT_LIMIT }) };
  });

  router.get('/sessions/:session_id/approvals', scope('read'), async (ctx) => {
    const { session_id } = ctx.params;
    const approvals = await store.approvals.listForSession(session_id, DEFAULT_LIMIT);
    if (approvals.length === 0 && !(await store.sessions.get(session_id))) throw notFound('Session not found');
    ctx.body = { approvals };
  });

  router.get('/approvals/:id', scope('read'), async (ctx) => {
    const { id } = validate('path', ctx.params, ApprovalPath);
    const approval = await store.approvals.get(id);
    if (!approval) throw notFound('Approval not found');
    ctx.body = { approval };
  });

  router.post('/approvals/:id/decision', scope('decide'), async (ctx) => {
    const { id } = validate('path', ctx.params, ApprovalPath);
    const decision = validate('body', ctx.request.body, ApprovalDecision);
    const result = await store.approvals.decide(id, decision, keyNameOf(ctx));
    if (result.outcome === 'not_found') throw notFound('Approval not found');
    if (result.outcome === 'not_pending') throw conflict(`Approval is ${result.approval.state.replace(/_/g, ' ')}, no longer pending`);
    ctx.body = { approval: result.approval };
  });

  return router;
}
