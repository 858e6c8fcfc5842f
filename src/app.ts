import Koa from 'koa';
import type Router from '@koa/router';
import type { Config } from './config';
import { renderErrors } from './errors';
import { cors } from './http/cors';
import { dashboardRoutes } from './http/dashboard';
import { docsRoutes } from './http/docs';
import { eventRoutes } from './http/events';
import { hookBodies, hookRoutes } from './http/hooks';
import { approvalRoutes } from './http/approvals';
import type { ApprovalHolds } from './approvals/holds';
import { legacyRoutes } from './http/legacy';
import { opsRoutes } from './http/ops';
import { sessionRoutes } from './http/sessions';
import { usageRoutes } from './http/usage';
import { activityRoutes } from './http/activity';
import { searchRoutes } from './http/search';
import { exportRoutes } from './http/export';
import { authenticate } from './http/auth';
import { keyRoutes } from './http/keys';
import { sameSiteOnly, siteCheck } from './http/site';
import { noSniff } from './http/securityHeaders';
import type { Keyring } from './keys/keyring';
import { parseJsonBodies } from './http/body';
import { requireJsonBodies } from './http/contentType';
import { openApiRoutes } from './http/openapi';
import { otlpRoutes } from './http/otlp';
import { requestContext } from './http/requestContext';
import { mountAll } from './http/router';
import type { Logger } from './logger';
import type { Metrics } from './metrics';
import type { ChangeListener } from './realtime/listener';
import type { Store } from './store/store';

export interface AppDeps {
  store: Store;
  listener: Pick<ChangeListener, 'listening'>;
  config: Pick<
    Config,
    'corsOrigins' | 'allowedHosts' | 'maxBodyBytes' | 'hookMaxBodyBytes' | 'hookBodyBudgetBytes' | 'hookAdmissionWaitMs' | 'otlpMaxRecords' | 'pageMaxBytes' | 'pageSliceBytes'
  > &
    Partial<Pick<Config, 'approvalHoldSeconds'>>;
  logger: Logger;
  metrics: Metrics;
  /** The API keys, held in memory: who makes each request. */
  keyring: Pick<Keyring, 'identify' | 'environmentKeys' | 'required' | 'reload'>;
  /** The PermissionRequest hooks this instance holds; absent, they are answered at once. */
  holds?: ApprovalHolds;
}

/** The HTTP application: middleware in order, then every router. It never listens; see server.ts. */
export function createApp({ store, listener, config, logger, metrics, keyring, holds }: AppDeps): Koa {
  const app = new Koa();
  app.silent = true;
  app.on('error', (err, ctx) => (ctx?.state.logger ?? logger).error('request failed', { err, method: ctx?.method, path: ctx?.path }));

  app.use(requestContext({ logger, metrics }));
  app.use(noSniff());
  app.use(renderErrors(logger));
  app.use(sameSiteOnly(siteCheck(config)));
  // Before the key check: a browser's preflight never carries credentials.
  app.use(cors(config.corsOrigins));
  const otlp = otlpRoutes({ store, maxBodyBytes: config.maxBodyBytes, maxRecords: config.otlpMaxRecords });
  const api = createApiRouter({ store, listener, metrics, config, keyring, holds, logger });
  // Before any body is read: each route's scope is checked here, from the route that will answer.
  app.use(authenticate({ keyring, routers: [otlp, api] }));
  // The OTLP receiver reads its own bodies (protobuf or JSON, maybe gzipped) and answers as OTLP/HTTP says.
  app.use(otlp.routes());
  app.use(requireJsonBodies());
  app.use(hookBodies({ maxBytes: config.hookMaxBodyBytes, budgetBytes: config.hookBodyBudgetBytes, admissionWaitMs: config.hookAdmissionWaitMs }));
  app.use(parseJsonBodies({ limit: config.maxBodyBytes }));

  app.use(api.routes());
  // Not `throw: true`: the thrown error would lose the Allow header; errorRenderer adds the body instead.
  app.use(api.allowedMethods());
  return app;
}

/** The API's one router: the routes of every resource (but OTLP's, which reads its own bodies), matched in one pass. */
export function createApiRouter({
  store,
  listener,
  metrics,
  config,
  keyring,
  holds,
  logger,
}: Pick<AppDeps, 'store' | 'listener' | 'metrics' | 'config' | 'keyring'> & Partial<Pick<AppDeps, 'holds' | 'logger'>>): Router {
  return mountAll([
    dashboardRoutes(),
    docsRoutes(),
    openApiRoutes(),
    opsRoutes({ store, listener, metrics }),
    sessionRoutes({ store, config }),
    usageRoutes({ store }),
    activityRoutes({ store }),
    searchRoutes({ store }),
    exportRoutes({ store, pageMaxBytes: config.pageMaxBytes }),
    eventRoutes({ store, metrics, config }),
    legacyRoutes({ store, metrics, config }),
    hookRoutes({ store, metrics, holds, holdMs: (config.approvalHoldSeconds ?? 300) * 1000, logger }),
    approvalRoutes({ store }),
    keyRoutes({ store, keyring }),
  ]);
}
