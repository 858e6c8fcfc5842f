import Koa from 'koa';
import bodyParser from 'koa-bodyparser';
import type Router from '@koa/router';
import type { Config } from './config';
import type { Pool } from './db/pool';
import { renderErrors } from './errors';
import { cors } from './http/cors';
import { dashboardRoutes } from './http/dashboard';
import { docsRoutes } from './http/docs';
import { eventRoutes } from './http/events';
import { legacyRoutes } from './http/legacy';
import { opsRoutes } from './http/ops';
import { sessionRoutes } from './http/sessions';
import { requireApiKey } from './http/auth';
import { requireJsonBodies } from './http/contentType';
import { openApiRoutes } from './http/openapi';
import { requestContext } from './http/requestContext';
import type { Logger } from './logger';
import type { Metrics } from './metrics';
import type { ChangeListener } from './realtime/listener';
import type { EventWriter } from './store/groupCommit';

export interface AppDeps {
  pool: Pool;
  listener: Pick<ChangeListener, 'listening'>;
  config: Pick<Config, 'corsOrigins' | 'maxBodyBytes' | 'apiKeys'>;
  logger: Logger;
  metrics: Metrics;
  writer: EventWriter;
}

/** The HTTP application: middleware in order, then every router. It never listens; see server.ts. */
export function createApp({ pool, listener, config, logger, metrics, writer }: AppDeps): Koa {
  const app = new Koa();
  app.silent = true;
  app.on('error', (err, ctx) => (ctx?.state.logger ?? logger).error('request failed', { err, method: ctx?.method, path: ctx?.path }));

  app.use(requestContext({ logger, metrics }));
  app.use(renderErrors(logger));
  // Before the key check: a browser's preflight never carries credentials.
  app.use(cors(config.corsOrigins));
  app.use(requireApiKey(config.apiKeys));
  app.use(requireJsonBodies());
  // onProtoPoisoning is passed through to co-body, which the bundled types do not list.
  const bodyOptions: bodyParser.Options & { onProtoPoisoning: 'ignore' } = {
    enableTypes: ['json'],
    jsonLimit: `${config.maxBodyBytes}b`,
    // Only objects and arrays are request bodies; a bare JSON string or number is malformed input here.
    strict: true,
    // A "__proto__" key is valid JSON and may appear in a tool's input: JSON.parse makes it a plain own
    // property, and nothing here merges request objects with assignment, so it is stored like any key.
    onProtoPoisoning: 'ignore',
  };
  app.use(bodyParser(bodyOptions));

  for (const router of createRouters({ pool, listener, metrics, writer })) {
    app.use(router.routes());
    // Not `throw: true`: the thrown error would lose the Allow header; errorRenderer adds the body instead.
    app.use(router.allowedMethods());
  }
  return app;
}

/** Every router of the API, in the order they are mounted. */
export function createRouters({ pool, listener, metrics, writer }: Pick<AppDeps, 'pool' | 'listener' | 'metrics' | 'writer'>): Router[] {
  return [
    dashboardRoutes(),
    docsRoutes(),
    openApiRoutes(),
    opsRoutes({ pool, listener, metrics }),
    sessionRoutes({ pool }),
    eventRoutes({ pool, writer, metrics }),
    legacyRoutes({ pool, metrics }),
  ];
}
