import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import Router from '@koa/router';
import type { Middleware } from 'koa';
import { DASHBOARD_POLICY } from './securityHeaders';
import { sendStaticFile, staticFile, type StaticFile } from './staticFile';
import { scope } from './auth';
import { createRouter } from './router';

export const DASHBOARD_DIR = path.join(__dirname, '..', '..', 'dashboard');

/**
 * Libraries the dashboard imports, served from node_modules as they are published (no build step) beside its
 * own assets: URL path → file. markdown-it's browser bundle is one self-contained ES module (dashboard/assets/markdown.js uses it
 * with raw HTML refused and builds DOM nodes from its tokens). Its source-map comment is dropped: the map is
 * not served.
 */
const VENDOR_FILES: Record<string, () => string> = {
  '/assets/markdown-it.js': () => path.join(path.dirname(require.resolve('markdown-it/package.json')), 'dist', 'browser', 'markdown-it.esm.min.mjs'),
};

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
};

/**
 * The dashboard: `/` is dashboard/index.html, `/assets/<name>` the files of dashboard/assets and the libraries of
 * VENDOR_FILES. The files are
 * read and compressed once at start-up (they are few and small), so serving one is a lookup.
 */
export function dashboardRoutes(dir: string = DASHBOARD_DIR): Router {
  const router = createRouter();
  const files = new Map<string, StaticFile>();
  const load = (urlPath: string, file: string) => {
    const type = CONTENT_TYPES[path.extname(file)];
    if (!type) return;
    files.set(urlPath, staticFile(readFileSync(file), type));
  };
  if (existsSync(path.join(dir, 'index.html'))) load('/', path.join(dir, 'index.html'));
  const assets = path.join(dir, 'assets');
  if (existsSync(assets)) for (const name of readdirSync(assets)) load(`/assets/${name}`, path.join(assets, name));
  for (const [urlPath, locate] of Object.entries(VENDOR_FILES)) {
    const source = readFileSync(locate(), 'utf8').replace(/\n\/\/# sourceMappingURL=\S+\s*$/, '\n');
    files.set(urlPath, staticFile(Buffer.from(source), CONTENT_TYPES['.js']!));
  }

  const serve: Middleware = (ctx, next) => {
    const file = files.get(ctx.path);
    if (!file) return next();
    sendStaticFile(ctx, file, DASHBOARD_POLICY);
  };
  router.get('/', scope('public'), serve);
  router.get('/assets/:name', scope('public'), serve);
  return router;
}
