import type { OtlpEncoding } from './decode';
import { ExportLogsServiceResponse, ExportMetricsServiceResponse, encodeStatus } from './protobuf';

/** An OTLP/HTTP answer body with its content type. */
export interface OtlpAnswer {
  contentType: string;
  body: Buffer;
}

export type OtlpSignal = 'logs' | 'metrics';

/** Records refused, and why: the response's `partialSuccess`. */
export interface PartialSuccess {
  rejected: number;
  message: string;
}

export const CONTENT_TYPES: Record<OtlpEncoding, string> = { json: 'application/json', protobuf: 'application/x-protobuf' };

/** `google.rpc.Code` values used in error answers. */
export const RpcCode = { INVALID_ARGUMENT: 3, RESOURCE_EXHAUSTED: 8, INTERNAL: 13, UNAVAILABLE: 14 } as const;

/** The Export…ServiceResponse of a request that was handled: `partialSuccess` only when something was refused. */
export function exportResponse(signal: OtlpSignal, encoding: OtlpEncoding, partial?: PartialSuccess): OtlpAnswer {
  const rejectedField = signal === 'logs' ? 'rejectedLogRecords' : 'rejectedDataPoints';
  const partialSuccess = partial && partial.rejected > 0 ? { [rejectedField]: partial.rejected, errorMessage: partial.message } : undefined;
  if (encoding === 'json') {
    // OTLP/JSON writes 64-bit integers as decimal strings.
    const body = partialSuccess ? { partialSuccess: { ...partialSuccess, [rejectedField]: String(partial!.rejected) } } : {};
    return { contentType: CONTENT_TYPES.json, body: Buffer.from(JSON.stringify(body)) };
  }
  const type = signal === 'logs' ? ExportLogsServiceResponse : ExportMetricsServiceResponse;
  return { contentType: CONTENT_TYPES.protobuf, body: Buffer.from(type.encode(partialSuccess ? { partialSuccess } : {}).finish()) };
}

/** An error answer: a `google.rpc.Status` in the request's encoding (JSON when that is unknown). */
export function statusResponse(encoding: OtlpEncoding, code: number, message: string): OtlpAnswer {
  if (encoding === 'json') return { contentType: CONTENT_TYPES.json, body: Buffer.from(JSON.stringify({ code, message })) };
  return { contentType: CONTENT_TYPES.protobuf, body: Buffer.from(encodeStatus(code, message)) };
}
