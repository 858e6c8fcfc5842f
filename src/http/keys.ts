import Router from '@koa/router';
import { conflict, notFound } from '../errors';
import type { Keyring } from '../keys/keyring';
import type { Store } from '../store/store';
import { validate } from '../structs/validate';
import { callerOf, keyNameOf, scope } from './auth';
import { AuditQuery, DEFAULT_AUDIT_LIMIT, KeyCreate, KeyPath } from './keys.structs';
import { createRouter } from './router';

export interface KeyRoutesDeps {
  store: Pick<Store, 'keys' | 'audit'>;
  keyring: Pick<Keyring, 'environmentKeys' | 'required' | 'reload'>;
}

/** API keys (admin only), the audit trail (admin only), and what the caller's own key may do. */
export function keyRoutes({ store, keyring }: KeyRoutesDeps): Router {
  const router = createRouter();

  router.get('/keys', scope('admin'), async (ctx) => {
    ctx.body = { keys: [...keyring.environmentKeys(), ...(await store.keys.list())] };
  });

  router.post('/keys', scope('admin'), async (ctx) => {
    const input = validate('body', ctx.request.body, KeyCreate);
    const created = await store.keys.create(input, keyNameOf(ctx));
    if (!created) throw conflict(`A key named ${input.name} exists; revoke it first or choose another name`);
    // This instance takes it before answering; the others within a second, from the change log.
    await keyring.reload();
    ctx.status = 201;
    // The only time the key is shown: it is stored nowhere.
    ctx.body = { key: created.key, secret: created.token };
  });

  router.delete('/keys/:name', scope('admin'), async (ctx) => {
    const { name } = validate('path', ctx.params, KeyPath);
    const revoked = await store.keys.revoke(name, keyNameOf(ctx));
    if (!revoked) throw notFound('Key not found');
    await keyring.reload();
    ctx.body = { ok: true, key: revoked };
  });

  router.get('/audit', scope('admin'), async (ctx) => {
    const query = validate('query', ctx.query, AuditQuery);
    const page = await store.audit.page({ cursor: query.cursor, limit: query.limit ?? DEFAULT_AUDIT_LIMIT });
    ctx.body = { entries: page.entries, next_cursor: page.nextCursor };
  });

  // What the caller may do, so that a dashboard shows only what its key allows (the decide buttons, say).
  router.get('/me', scope('any'), (ctx) => {
    const caller = callerOf(ctx)!;
    ctx.body = { key: caller.key, scopes: [...caller.scopes], keys_required: keyring.required };
  });

  return router;
}
