import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import Router from '@koa/router';
import type { Middleware } from 'koa';

export const DASHBOARD_DIR = path.join(__dirname, '..', '..', 'dashboard');

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
};

interface StaticFile {
  body: Buffer;
  gzipped: Buffer;
  type: string;
  etag: string;
}

/**
 * The dashboard: `/` is dashboard/index.html, `/assets/<name>` the files of dashboard/assets. The files are
 * read and compressed once at start-up (they are few and small), so serving one is a lookup.
 */
export function dashboardRoutes(dir: string = DASHBOARD_DIR): Router {
  const router = new Router({ sensitive: true });
  const files = new Map<string, StaticFile>();
  const load = (urlPath: string, file: string) => {
    const type = CONTENT_TYPES[path.extname(file)];
    if (!type) return;
    const body = readFileSync(file);
    files.set(urlPath, { body, gzipped: gzipSync(body), type, etag: `"${createHash('sha1').update(body).digest('base64url')}"` });
  };
  if (existsSync(path.join(dir, 'index.html'))) load('/', path.join(dir, 'index.html'));
  const assets = path.join(dir, 'assets');
  if (existsSync(assets)) for (const name of readdirSync(assets)) load(`/assets/${name}`, path.join(assets, name));

  const serve: Middleware = (ctx, next) => {
    const file = files.get(ctx.path);
    if (!file) return next();
    ctx.status = 200;
    ctx.set('ETag', file.etag);
    ctx.set('Cache-Control', 'no-cache');
    ctx.vary('Accept-Encoding');
    ctx.type = file.type;
    if (ctx.fresh) {
      ctx.status = 304;
      return;
    }
    if (ctx.acceptsEncodings('gzip', 'identity') === 'gzip') {
      ctx.set('Content-Encoding', 'gzip');
      ctx.body = file.gzipped;
    } else {
      ctx.body = file.body;
    }
  };
  router.get('/', serve);
  router.get('/assets/:name', serve);
  return router;
}
