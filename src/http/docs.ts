import { readFileSync } from 'node:fs';
import path from 'node:path';
import Router from '@koa/router';
import { DOCS_POLICY } from './securityHeaders';
import { sendStaticFile, staticFile, type StaticFile } from './staticFile';
import { scope } from './auth';
import { createRouter } from './router';

// Swagger UI's prebuilt files, served from node_modules: the page works offline and loads nothing from elsewhere.
const SWAGGER_UI_DIR = path.dirname(require.resolve('swagger-ui-dist/package.json'));
const RENDERER_FILES: Record<string, { file: string; type: string }> = {
  'swagger-ui.css': { file: 'swagger-ui.css', type: 'text/css; charset=utf-8' },
  'swagger-ui-bundle.js': { file: 'swagger-ui-bundle.js', type: 'text/javascript; charset=utf-8' },
};

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Agent Session Manager API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body><noscript>This page renders <a href="/openapi.json">/openapi.json</a> with JavaScript.</noscript><div id="docs"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body></html>
`;

// A file, since the page's policy allows no inline script. validatorUrl null: no badge fetched from swagger.io.
const INIT = `window.ui = SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#docs',
  deepLinking: true,
  validatorUrl: null,
  defaultModelsExpandDepth: 0,
  displayRequestDuration: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: 'BaseLayout',
});
`;

/** GET /docs: the OpenAPI document rendered for people by Swagger UI, and the files the page loads. */
export function docsRoutes(): Router {
  const router = createRouter();
  // Read and compressed on first request: most instances never serve the 1.5 MB bundle.
  const cache = new Map<string, StaticFile>();
  // '' is the page itself, which no /docs/:file request can name.
  const load = (name: string): StaticFile | undefined => {
    let file = cache.get(name);
    if (file) return file;
    if (name === '') file = staticFile(Buffer.from(PAGE), 'text/html; charset=utf-8');
    else if (name === 'init.js') file = staticFile(Buffer.from(INIT), 'text/javascript; charset=utf-8');
    else if (Object.hasOwn(RENDERER_FILES, name)) file = staticFile(readFileSync(path.join(SWAGGER_UI_DIR, RENDERER_FILES[name]!.file)), RENDERER_FILES[name]!.type);
    if (file) cache.set(name, file);
    return file;
  };
  router.get('/docs', scope('public'), (ctx) => sendStaticFile(ctx, load('')!, DOCS_POLICY));
  router.get('/docs/:file', scope('public'), (ctx, next) => {
    const file = load(ctx.params.file!);
    return file ? sendStaticFile(ctx, file, DOCS_POLICY) : next();
  });
  return router;
}
