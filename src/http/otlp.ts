import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import Router from '@koa/router';
import type { Context } from 'koa';
import { isDatabaseUnavailable } from '../errors';
import { claudeCodeRecords, type ClaudeCodeRecords } from '../otlp/claudeCode';
import { decodeLogs, decodeMetrics, OtlpDecodeError, OtlpTooManyRecords, type OtlpEncoding, type OtlpLogRecord } from '../otlp/decode';
import { exportResponse, RpcCode, statusResponse, type OtlpAnswer } from '../otlp/response';
import type { Store } from '../store/store';
import { scope } from './auth';
import { createRouter } from './router';

export interface OtlpRoutesDeps {
  store: Pick<Store, 'usage'>;
  /** Largest body taken, compressed or not (the limit applies to the decompressed bytes too). */
  maxBodyBytes: number;
  /** Most log records (or metrics) in one request; more is a 413. */
  maxRecords: number;
}

// Records mapped between two turns of the event loop: a request never holds the instance for long.
const RECORDS_PER_TURN = 1000;
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** claudeCodeRecords() over every record, a slice at a time, yielding to other requests between slices. */
async function claudeCodeRecordsYielding(records: readonly OtlpLogRecord[]): Promise<ClaudeCodeRecords> {
  const found: ClaudeCodeRecords = { apiRequests: [], toolResults: [], rejected: 0, reasons: [] };
  for (let start = 0; start < records.length; start += RECORDS_PER_TURN) {
    if (start > 0) await nextTurn();
    const part = claudeCodeRecords(records.slice(start, start + RECORDS_PER_TURN));
    found.apiRequests.push(...part.apiRequests);
    found.toolResults.push(...part.toolResults);
    found.rejected += part.rejected;
    found.reasons.push(...part.reasons.slice(0, Math.max(0, 5 - found.reasons.length)));
  }
  return found;
}

const gunzipAsync = promisify(gunzip);

/** A request the receiver refuses, with the HTTP status and `google.rpc.Code` the OTLP spec asks for. */
class OtlpRefusal extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

function encodingOf(ctx: Context): OtlpEncoding | undefined {
  const type = ctx.request.type;
  if (type === 'application/x-protobuf' || type === 'application/protobuf') return 'protobuf';
  if (type === 'application/json') return 'json';
  return undefined;
}

async function readBody(ctx: Context, maxBytes: number): Promise<Buffer> {
  const tooLarge = () => new OtlpRefusal(413, RpcCode.RESOURCE_EXHAUSTED, `Request body over ${maxBytes} bytes`);
  if ((ctx.request.length ?? 0) > maxBytes) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) throw tooLarge();
    chunks.push(chunk as Buffer);
  }
  const raw = Buffer.concat(chunks, size);
  const contentEncoding = (ctx.get('Content-Encoding') || 'identity').trim().toLowerCase();
  if (contentEncoding === 'identity') return raw;
  if (contentEncoding !== 'gzip') throw new OtlpRefusal(415, RpcCode.INVALID_ARGUMENT, `Unsupported Content-Encoding ${contentEncoding}: use gzip or none`);
  try {
    return await gunzipAsync(raw, { maxOutputLength: maxBytes });
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw tooLarge();
    throw new OtlpRefusal(400, RpcCode.INVALID_ARGUMENT, `Malformed gzip body: ${(err as Error).message}`);
  }
}

function send(ctx: Context, status: number, answer: OtlpAnswer): void {
  ctx.status = status;
  ctx.type = answer.contentType;
  ctx.body = answer.body;
}

/**
 * Runs one export request and answers as OTLP/HTTP says, whatever happens: the export response in the
 * request's encoding, or a `google.rpc.Status` with 400, 413, 415, 503 (retryable) or 500.
 */
async function exportRequest(ctx: Context, maxBodyBytes: number, handle: (body: Buffer, encoding: OtlpEncoding) => Promise<OtlpAnswer>): Promise<void> {
  const encoding = encodingOf(ctx);
  try {
    if (!encoding) throw new OtlpRefusal(415, RpcCode.INVALID_ARGUMENT, 'Content-Type must be application/x-protobuf or application/json');
    send(ctx, 200, await handle(await readBody(ctx, maxBodyBytes), encoding));
  } catch (err) {
    const answerIn = encoding ?? 'json';
    if (err instanceof OtlpRefusal) return send(ctx, err.status, statusResponse(answerIn, err.code, err.message));
    if (err instanceof OtlpDecodeError) return send(ctx, 400, statusResponse(answerIn, RpcCode.INVALID_ARGUMENT, err.message));
    if (err instanceof OtlpTooManyRecords) return send(ctx, 413, statusResponse(answerIn, RpcCode.RESOURCE_EXHAUSTED, err.message));
    if (isDatabaseUnavailable(err)) {
      ctx.set('Retry-After', '1');
      return send(ctx, 503, statusResponse(answerIn, RpcCode.UNAVAILABLE, 'Database unavailable, try again shortly'));
    }
    send(ctx, 500, statusResponse(answerIn, RpcCode.INTERNAL, 'Internal Server Error'));
    ctx.app.emit('error', err, ctx);
  }
}

/**
 * The OTLP/HTTP receiver: `POST /v1/logs` and `POST /v1/metrics`, so that an exporter given
 * `OTEL_EXPORTER_OTLP_ENDPOINT=<this server>` reaches it. Protobuf or JSON, gzipped or not. Claude Code's
 * API requests and tool results are kept (see claudeCode.ts); everything else is accepted and dropped.
 */
export function otlpRoutes({ store, maxBodyBytes, maxRecords }: OtlpRoutesDeps): Router {
  const router = createRouter();

  router.post('/v1/logs', scope('ingest'), (ctx) =>
    exportRequest(ctx, maxBodyBytes, async (body, encoding) => {
      // Decoding is one call (bounded by the body and record limits); the mapping yields between slices.
      const records = decodeLogs(body, encoding, maxRecords);
      await nextTurn();
      const found = await claudeCodeRecordsYielding(records);
      const recorded = await store.usage.record(found.apiRequests, found.toolResults);
      const reasons = recorded.reason === null ? found.reasons : [...found.reasons, recorded.reason];
      return exportResponse('logs', encoding, { rejected: found.rejected + recorded.rejected, message: reasons.join('; ') });
    }),
  );

  // Claude Code's metrics repeat what its api_request records say (and would count it twice): they are
  // checked and acknowledged, not kept.
  router.post('/v1/metrics', scope('ingest'), (ctx) =>
    exportRequest(ctx, maxBodyBytes, async (body, encoding) => {
      decodeMetrics(body, encoding, maxRecords);
      return exportResponse('metrics', encoding);
    }),
  );

  return router;
}
