import { MAX_BODY_DEPTH, nestsDeeperThan } from '../structs/depth';
import { ExportLogsServiceRequest, ExportMetricsServiceRequest } from './protobuf';

/** The two OTLP/HTTP encodings; an answer is always in the encoding of its request. */
export type OtlpEncoding = 'json' | 'protobuf';

/** A body that is not an OTLP export request in its encoding: the spec's 400 Bad Request. */
export class OtlpDecodeError extends Error {
  override name = 'OtlpDecodeError';
}

/** An attribute's value, reduced to what a reader of Claude Code's records needs: arrays, maps and bytes are null. */
export type AttributeValue = string | number | boolean | null;
export type Attributes = ReadonlyMap<string, AttributeValue>;

/** One log record with what came with it. */
export interface OtlpLogRecord {
  /** `timeUnixNano` (else `observedTimeUnixNano`) in milliseconds; null when neither is set. */
  timeMs: number | null;
  /** The record's `eventName`, else its `event.name` attribute, else its body when that is a string. */
  eventName: string | null;
  body: AttributeValue;
  attributes: Attributes;
  /** The attributes of its resource (shared by the records of one resource). */
  resource: Attributes;
}

// The shapes below are those of both encodings once decoded: protobuf.js messages use the same
// lowerCamelCase names as OTLP/JSON. What differs is how 64-bit integers come (a Long, a string or a number)
// and that JSON may hold anything, so every level is checked.
type Json = Record<string, unknown>;
interface LongLike {
  high: number;
  low: number;
  toNumber(): number;
  toString(): string;
}

const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);
const isLong = (value: unknown): value is LongLike =>
  // A protobuf.js Long; no JSON value has methods.
  isObject(value) && typeof value.high === 'number' && typeof value.low === 'number' && typeof value.toNumber === 'function';

function listAt(parent: Json, key: string, where: string): unknown[] {
  const value = parent[key];
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new OtlpDecodeError(`${where}.${key} must be an array`);
  return value;
}

function objectAt(list: unknown[], index: number, where: string): Json {
  const value = list[index];
  if (!isObject(value)) throw new OtlpDecodeError(`${where}[${index}] must be an object`);
  return value;
}

/** An OTLP AnyValue as a plain scalar; 64-bit integers beyond 2^53 stay exact as text. */
function scalar(value: unknown, where: string): AttributeValue {
  if (value === undefined || value === null) return null;
  if (!isObject(value)) throw new OtlpDecodeError(`${where} must be an AnyValue object`);
  if (typeof value.stringValue === 'string') return value.stringValue;
  if (typeof value.boolValue === 'boolean') return value.boolValue;
  const int = value.intValue;
  if (int !== undefined && int !== null) {
    if (typeof int === 'number') return int;
    if (typeof int === 'string' && /^-?\d+$/.test(int)) return Number.isSafeInteger(Number(int)) ? Number(int) : int;
    if (isLong(int)) {
      const text = int.toString();
      return Number.isSafeInteger(Number(text)) ? Number(text) : text;
    }
    throw new OtlpDecodeError(`${where}.intValue must be an integer`);
  }
  const double = value.doubleValue;
  if (double !== undefined && double !== null) {
    if (typeof double === 'number') return double;
    // OTLP/JSON writes the non-finite doubles as strings.
    if (double === 'NaN' || double === 'Infinity' || double === '-Infinity') return Number(double);
    throw new OtlpDecodeError(`${where}.doubleValue must be a number`);
  }
  return null;
}

function attributesOf(parent: Json, where: string): Map<string, AttributeValue> {
  const list = listAt(parent, 'attributes', where);
  const attributes = new Map<string, AttributeValue>();
  for (let i = 0; i < list.length; i++) {
    const pair = objectAt(list, i, `${where}.attributes`);
    if (typeof pair.key !== 'string') throw new OtlpDecodeError(`${where}.attributes[${i}].key must be a string`);
    attributes.set(pair.key, scalar(pair.value, `${where}.attributes[${i}].value`));
  }
  return attributes;
}

/** Nanoseconds since the epoch, as milliseconds; null for 0 or absent ("unknown" in OTLP). */
function nanosToMs(value: unknown, where: string): number | null {
  if (value === undefined || value === null) return null;
  let nanos: number;
  if (typeof value === 'number') nanos = value;
  else if (typeof value === 'string' && /^\d+$/.test(value)) nanos = Number(value);
  // Exact to well below a millisecond, which is all that is kept.
  else if (isLong(value)) nanos = (value.high >>> 0) * 4294967296 + (value.low >>> 0);
  else throw new OtlpDecodeError(`${where} must be an unsigned integer`);
  if (!Number.isFinite(nanos) || nanos < 0) throw new OtlpDecodeError(`${where} must be an unsigned integer`);
  return nanos === 0 ? null : nanos / 1e6;
}

function parseJson(body: Buffer): Json {
  let parsed: unknown;
  const text = body.toString('utf8');
  if (nestsDeeperThan(text, MAX_BODY_DEPTH)) throw new OtlpDecodeError(`Malformed JSON: nested deeper than ${MAX_BODY_DEPTH} levels`);
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new OtlpDecodeError(`Malformed JSON: ${(err as Error).message}`);
  }
  if (!isObject(parsed)) throw new OtlpDecodeError('The body must be a JSON object');
  return parsed;
}

function decodeProtobuf(type: { decode(bytes: Uint8Array): unknown }, body: Buffer): Json {
  try {
    return type.decode(body) as Json;
  } catch (err) {
    throw new OtlpDecodeError(`Malformed protobuf: ${(err as Error).message}`);
  }
}

/** The log records of an ExportLogsServiceRequest, flattened across resources and scopes. */
export function decodeLogs(body: Buffer, encoding: OtlpEncoding, maxRecords = Number.MAX_SAFE_INTEGER): OtlpLogRecord[] {
  if (encoding === 'protobuf') checkProtobufRecordCount(body, maxRecords);
  const request = encoding === 'json' ? parseJson(body) : decodeProtobuf(ExportLogsServiceRequest, body);
  if (encoding === 'json') checkJsonRecordCount(request, maxRecords, 'logs');
  const records: OtlpLogRecord[] = [];
  const resourceLogs = listAt(request, 'resourceLogs', 'request');
  for (let r = 0; r < resourceLogs.length; r++) {
    const where = `resourceLogs[${r}]`;
    const resourceLog = objectAt(resourceLogs, r, 'resourceLogs');
    const resource = isObject(resourceLog.resource) ? attributesOf(resourceLog.resource, `${where}.resource`) : new Map<string, AttributeValue>();
    const scopeLogs = listAt(resourceLog, 'scopeLogs', where);
    for (let s = 0; s < scopeLogs.length; s++) {
      const scopeWhere = `${where}.scopeLogs[${s}]`;
      const logRecords = listAt(objectAt(scopeLogs, s, `${where}.scopeLogs`), 'logRecords', scopeWhere);
      for (let l = 0; l < logRecords.length; l++) {
        const recordWhere = `${scopeWhere}.logRecords[${l}]`;
        const record = objectAt(logRecords, l, `${scopeWhere}.logRecords`);
        const attributes = attributesOf(record, recordWhere);
        const body = scalar(record.body, `${recordWhere}.body`);
        const named = attributes.get('event.name');
        const eventName =
          typeof record.eventName === 'string' && record.eventName !== '' ? record.eventName : typeof named === 'string' ? named : typeof body === 'string' ? body : null;
        records.push({
          timeMs: nanosToMs(record.timeUnixNano, `${recordWhere}.timeUnixNano`) ?? nanosToMs(record.observedTimeUnixNano, `${recordWhere}.observedTimeUnixNano`),
          eventName,
          body,
          attributes,
          resource,
        });
      }
    }
  }
  return records;
}

/** Checks that a body is an ExportMetricsServiceRequest and counts its data points. */
export function decodeMetrics(body: Buffer, encoding: OtlpEncoding, maxRecords = Number.MAX_SAFE_INTEGER): { dataPoints: number } {
  if (encoding === 'protobuf') checkProtobufRecordCount(body, maxRecords);
  const request = encoding === 'json' ? parseJson(body) : decodeProtobuf(ExportMetricsServiceRequest, body);
  if (encoding === 'json') checkJsonRecordCount(request, maxRecords, 'metrics');
  let dataPoints = 0;
  const resourceMetrics = listAt(request, 'resourceMetrics', 'request');
  for (let r = 0; r < resourceMetrics.length; r++) {
    const where = `resourceMetrics[${r}]`;
    const scopeMetrics = listAt(objectAt(resourceMetrics, r, 'resourceMetrics'), 'scopeMetrics', where);
    for (let s = 0; s < scopeMetrics.length; s++) {
      const scopeWhere = `${where}.scopeMetrics[${s}]`;
      const metrics = listAt(objectAt(scopeMetrics, s, `${where}.scopeMetrics`), 'metrics', scopeWhere);
      for (let m = 0; m < metrics.length; m++) {
        const metric = objectAt(metrics, m, `${scopeWhere}.metrics`);
        for (const kind of ['gauge', 'sum', 'histogram', 'exponentialHistogram', 'summary']) {
          const data = metric[kind];
          if (isObject(data)) dataPoints += listAt(data, 'dataPoints', `${scopeWhere}.metrics[${m}].${kind}`).length;
        }
      }
    }
  }
  return { dataPoints };
}

/** A request holding more records than the receiver takes in one request: the spec's 413 (not retried). */
export class OtlpTooManyRecords extends Error {
  override name = 'OtlpTooManyRecords';
}

// Field numbers down to the repeated message counted: ExportLogsServiceRequest.resource_logs (1) →
// ResourceLogs.scope_logs (2) → ScopeLogs.log_records (2); the same for metrics (resource_metrics,
// scope_metrics, metrics).
const RECORD_PATH = [1, 2, 2] as const;

/**
 * Throws OtlpTooManyRecords when a protobuf export request holds more than `limit` log records (or
 * metrics), counted on the wire format without decoding anything: a few KB of gzip can hold millions of
 * empty records, each of which decoding would turn into an object. Malformed input is left to the decoder.
 */
export function checkProtobufRecordCount(body: Uint8Array, limit: number): void {
  let count = 0;
  const walk = (start: number, end: number, level: number): boolean => {
    let at = start;
    while (at < end) {
      const [tag, afterTag] = varint(body, at, end);
      if (afterTag < 0) return false;
      at = afterTag;
      const wireType = tag & 7;
      if (wireType === 0) {
        const [, next] = varint(body, at, end);
        if (next < 0) return false;
        at = next;
      } else if (wireType === 1) {
        at += 8;
      } else if (wireType === 5) {
        at += 4;
      } else if (wireType === 2) {
        const [length, next] = varint(body, at, end);
        if (next < 0 || next + length > end) return false;
        at = next + length;
        if (Math.floor(tag / 8) === RECORD_PATH[level]) {
          if (level === RECORD_PATH.length - 1) {
            if (++count > limit) throw new OtlpTooManyRecords(`More than ${limit} records in one request: send them in smaller batches`);
          } else if (!walk(next, next + length, level + 1)) {
            return false;
          }
        }
      } else {
        return false;
      }
    }
    return true;
  };
  walk(0, body.length, 0);
}

/** A varint at `at` (below 2^53) and where it ends; -1 when it runs past `end`. */
function varint(bytes: Uint8Array, at: number, end: number): [number, number] {
  let value = 0;
  let scale = 1;
  for (let i = at; i < end && i < at + 10; i++) {
    const byte = bytes[i]!;
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) return [value, i + 1];
    scale *= 128;
  }
  return [0, -1];
}

/** Throws OtlpTooManyRecords when a decoded JSON request holds more than `limit` records (or metrics). */
export function checkJsonRecordCount(request: unknown, limit: number, kind: 'logs' | 'metrics'): void {
  const [outer, middle, inner] = kind === 'logs' ? ['resourceLogs', 'scopeLogs', 'logRecords'] : ['resourceMetrics', 'scopeMetrics', 'metrics'];
  let count = 0;
  const items = (value: unknown, key: string): unknown[] => (isObject(value) && Array.isArray(value[key]) ? (value[key] as unknown[]) : []);
  for (const resource of items(request, outer!)) {
    for (const scope of items(resource, middle!)) {
      count += items(scope, inner!).length;
      if (count > limit) throw new OtlpTooManyRecords(`More than ${limit} records in one request: send them in smaller batches`);
    }
  }
}
