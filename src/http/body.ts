import type { IncomingMessage } from 'node:http';
import type { Readable, Transform } from 'node:stream';
import zlib from 'node:zlib';
import type { Context, Middleware } from 'koa';
import { badRequest, HttpError, unprocessable } from '../errors';
import { MAX_BODY_DEPTH, tooDeep } from '../structs/depth';
import { MAX_JSON_DEPTH } from '../structs/fields';

declare module 'koa' {
  interface Request {
    body?: unknown;
  }
}

export interface JsonBodyOptions {
  /** Largest body accepted, in bytes after decompression. */
  limit: number;
  /**
   * A body nested too deep is a 422 naming the member of the top-level object that is (as validation would
   * name it), unless this is set: then a 400, as the hooks route answers every body it cannot take.
   */
  deepIsBadRequest?: boolean;
}

const UTF8 = new Set(['utf-8', 'utf8']);
// Whitespace as RFC 8259 defines it, then an object or an array: the only bodies the routes take.
const OBJECT_OR_ARRAY = /^[\x20\x09\x0a\x0d]*[[{]/;

/**
 * Reads a JSON request body into `ctx.request.body` (`{}` when there is none). Strict about what it
 * stores: the body must be UTF-8 (declared so or not declared, and valid), compressed only with
 * gzip, deflate or br (and really so), within `limit` bytes once decompressed, and a JSON object or
 * array nested at most MAX_BODY_DEPTH levels. Anything else is a 4xx with a `detail`: 400 malformed, 413 too large, 415 unknown encoding.
 */
export function parseJsonBodies({ limit, deepIsBadRequest = false }: JsonBodyOptions): Middleware {
  return async function jsonBody(ctx, next) {
    if (ctx.request.body === undefined) ctx.request.body = hasBody(ctx) ? await readJson(ctx, limit, deepIsBadRequest) : {};
    return next();
  };
}

const hasBody = (ctx: Context) => ctx.req.headers['transfer-encoding'] !== undefined || (ctx.request.length ?? 0) > 0;

async function readJson(ctx: Context, limit: number, deepIsBadRequest: boolean): Promise<unknown> {
  const charset = ctx.request.charset.toLowerCase();
  if (charset !== '' && !UTF8.has(charset)) throw badRequest(`Only UTF-8 bodies are accepted; the Content-Type declares charset=${charset}`);
  const bytes = await readBytes(ctx, limit);
  let text: string;
  try {
    // fatal: a byte sequence that is not UTF-8 is refused instead of becoming U+FFFD and being stored changed.
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw badRequest('Body is not valid UTF-8');
  }
  if (text === '') return {};
  if (!OBJECT_OR_ARRAY.test(text)) throw badRequest('Malformed JSON body: only a JSON object or array is accepted');
  // Before anything recursive (validation and its messages) meets it: hostile nesting is refused here.
  const deep = tooDeep(text, MAX_BODY_DEPTH);
  if (deep && deep.member !== null && !deepIsBadRequest) {
    throw unprocessable([{ loc: ['body', deep.member], msg: `must not nest deeper than ${MAX_JSON_DEPTH} levels`, type: 'json' }]);
  }
  if (deep) throw badRequest(`Malformed JSON body: nested deeper than ${MAX_BODY_DEPTH} levels`);
  try {
    // JSON.parse makes a "__proto__" key a plain own property; nothing here merges request objects by assignment.
    return JSON.parse(text);
  } catch (err) {
    throw badRequest(`Malformed JSON body: ${(err as Error).message}`);
  }
}

/** The body's bytes, decompressed; refused once it passes `limit`. */
async function readBytes(ctx: Context, limit: number): Promise<Buffer> {
  const req = ctx.req;
  const encoding = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
  const decompressor = createDecompressor(encoding);
  if (!decompressor && (ctx.request.length ?? 0) > limit) throw tooLarge();

  const source: Readable = decompressor ? req.pipe(decompressor) : req;
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    let settled = false;
    const finish = (err: HttpError | undefined) => {
      if (settled) return;
      settled = true;
      source.off('data', onData).off('end', onEnd);
      decompressor?.off('error', onDecodeError);
      req.off('error', onReadError).off('close', onClose);
      if (!err) return resolve(Buffer.concat(chunks, received));
      discardRest(req, decompressor);
      reject(err);
    };
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received > limit) return finish(tooLarge());
      chunks.push(chunk);
    };
    const onEnd = () => finish(undefined);
    const onDecodeError = (err: Error) => finish(badRequest(`Body is not valid ${encoding} data: ${err.message}`));
    const onReadError = () => finish(badRequest('Request body could not be read'));
    // A client that goes away mid-body: nobody will read the answer, but the request must not hang.
    const onClose = () => {
      if (!req.complete) finish(badRequest('Request body was cut short'));
    };
    source.on('data', onData).on('end', onEnd);
    decompressor?.on('error', onDecodeError);
    req.on('error', onReadError).on('close', onClose);
  });
}

function createDecompressor(encoding: string): zlib.Unzip | zlib.BrotliDecompress | undefined {
  switch (encoding) {
    case 'identity':
    case '':
      return undefined;
    case 'gzip':
    case 'x-gzip':
    case 'deflate':
      // Either wrapping: some clients label a gzip body deflate, and the parser used before took both.
      return zlib.createUnzip();
    case 'br':
      return zlib.createBrotliDecompress();
    default:
      throw new HttpError(415, `Unsupported Content-Encoding: ${encoding.slice(0, 100)} (use gzip, deflate, br or none)`);
  }
}

// The rest of a refused body is read and dropped, so the connection stays usable for the next request
// (closing it with bytes unread would reset it, and the client could lose the answer). A client that
// keeps sending is cut off by HTTP_REQUEST_TIMEOUT_MS.
function discardRest(req: IncomingMessage, decompressor: Transform | undefined): void {
  if (decompressor) {
    req.unpipe(decompressor);
    decompressor.destroy();
  }
  req.resume();
}

const tooLarge = () => new HttpError(413, 'Request body too large');
