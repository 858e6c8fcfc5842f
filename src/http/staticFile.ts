import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { Context } from 'koa';
import { setPageHeaders } from './securityHeaders';

/** A file served from memory, compressed once. */
export interface StaticFile {
  body: Buffer;
  gzipped: Buffer;
  type: string;
  etag: string;
}

export function staticFile(body: Buffer, type: string): StaticFile {
  return { body, gzipped: gzipSync(body), type, etag: `"${createHash('sha1').update(body).digest('base64url')}"` };
}

/** Answers with the file under the page's security policy: 304 if the client's copy is current, gzip if it takes it. */
export function sendStaticFile(ctx: Context, file: StaticFile, policy: string): void {
  ctx.status = 200;
  setPageHeaders(ctx, policy);
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
}
