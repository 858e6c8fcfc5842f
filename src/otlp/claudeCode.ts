import { createHash } from 'node:crypto';
import type { AttributeValue, OtlpLogRecord } from './decode';

/** One `claude_code.api_request` record: a call to the model API. */
export interface ApiRequestRecord {
  sessionId: string;
  /** A digest of the record, so that a batch sent again is counted once. */
  recordKey: string;
  promptId: string | null;
  model: string | null;
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheCreationTokens: number;
  costUsdMicros: number;
  durationMs: number;
  occurredAt: Date;
}

/** One `claude_code.tool_result` record: how a tool call ended, by its `tool_use_id`. */
export interface ToolResultRecord {
  sessionId: string;
  toolUseId: string;
  toolName: string | null;
  success: boolean | null;
  durationMs: number | null;
  error: string | null;
  occurredAt: Date;
}

/** What a batch of log records holds for us. */
export interface ClaudeCodeRecords {
  apiRequests: ApiRequestRecord[];
  toolResults: ToolResultRecord[];
  /** Records of these two kinds that could not be used (no session id, a count that is not a count). */
  rejected: number;
  /** Why the first of them were rejected. */
  reasons: string[];
}

const API_REQUEST = 'claude_code.api_request';
const TOOL_RESULT = 'claude_code.tool_result';
const MAX_REASONS = 5;
// Kept whole in the tool_results table otherwise; a failing command's output can be long.
const MAX_ERROR_CHARS = 4096;

class Rejected extends Error {}

// Claude Code names its records `claude_code.<event>` in the body; the `event.name` attribute may hold the
// bare `<event>`.
const kindOf = (record: OtlpLogRecord): string | null => {
  const name = record.eventName;
  if (name === null) return null;
  return name.startsWith('claude_code.') ? name : `claude_code.${name}`;
};

const attribute = (record: OtlpLogRecord, key: string): AttributeValue | undefined => record.attributes.get(key) ?? record.resource.get(key) ?? undefined;

// PostgreSQL text cannot hold U+0000.
const storable = (text: string) => text.replaceAll('\u0000', '\uFFFD');

function text(record: OtlpLogRecord, key: string): string | null {
  const value = attribute(record, key);
  if (value === undefined || value === null || value === '') return null;
  return storable(String(value));
}

/** A number as Claude Code sends them (often as a string); absent is `fallback`, anything else not a count is refused. */
function count(record: OtlpLogRecord, key: string, fallback: number | null, integer: boolean): number | null {
  const value = attribute(record, key);
  if (value === undefined || value === null || value === '') return fallback;
  const number = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : Number.NaN;
  if (!Number.isFinite(number) || number < 0 || number > Number.MAX_SAFE_INTEGER || (integer && !Number.isInteger(number))) {
    throw new Rejected(`${key} is not a non-negative ${integer ? 'integer' : 'number'}: ${JSON.stringify(value)}`);
  }
  return number;
}

// The range of a JavaScript Date (and within PostgreSQL's timestamptz): ±100,000,000 days from 1970.
const MAX_TIME_MS = 8.64e15;
/** Ids become keys of indexed rows: longer ones are refused (a record with one is skipped). */
export const MAX_OTLP_ID_CHARS = 256;

function occurredAt(record: OtlpLogRecord): Date {
  if (record.timeMs !== null) {
    if (!(record.timeMs <= MAX_TIME_MS)) throw new Rejected(`timeUnixNano is out of range: ${record.timeMs * 1e6} ns`);
    return new Date(record.timeMs);
  }
  const stamp = attribute(record, 'event.timestamp');
  const parsed = typeof stamp === 'string' ? new Date(stamp) : undefined;
  return parsed && !Number.isNaN(parsed.getTime()) ? parsed : new Date();
}

function sessionIdOf(record: OtlpLogRecord): string {
  const value = attribute(record, 'session.id');
  if (typeof value !== 'string' || value === '') throw new Rejected('no session.id attribute');
  if (value.includes('\u0000')) throw new Rejected('session.id holds U+0000');
  if (value.length > MAX_OTLP_ID_CHARS) throw new Rejected(`session.id is longer than ${MAX_OTLP_ID_CHARS} characters`);
  return value;
}

/** An id attribute: as text(), refused past MAX_OTLP_ID_CHARS. */
function idText(record: OtlpLogRecord, key: string): string | null {
  const value = text(record, key);
  if (value !== null && value.length > MAX_OTLP_ID_CHARS) throw new Rejected(`${key} is longer than ${MAX_OTLP_ID_CHARS} characters`);
  return value;
}

function recordKey(record: OtlpLogRecord): string {
  // One string, hashed at once: an update() per attribute costs more than the digest.
  let text = String(record.timeMs);
  for (const [key, value] of record.attributes) text += `\u0000${key}\u0000${typeof value}:${String(value)}`;
  return createHash('sha256').update(text).digest('base64url').slice(0, 32);
}

function apiRequest(record: OtlpLogRecord): ApiRequestRecord {
  const micros = count(record, 'cost_usd_micros', null, true);
  const usd = micros === null ? count(record, 'cost_usd', 0, false)! : 0;
  return {
    sessionId: sessionIdOf(record),
    recordKey: recordKey(record),
    promptId: idText(record, 'prompt.id'),
    model: text(record, 'model'),
    inputTokens: count(record, 'input_tokens', 0, true)!,
    outputTokens: count(record, 'output_tokens', 0, true)!,
    cacheReadTokens: count(record, 'cache_read_tokens', 0, true)!,
    cacheCreationTokens: count(record, 'cache_creation_tokens', 0, true)!,
    costUsdMicros: micros ?? Math.round(usd * 1e6),
    durationMs: Math.round(count(record, 'duration_ms', 0, false)!),
    occurredAt: occurredAt(record),
  };
}

function toolResult(record: OtlpLogRecord, toolUseId: string): ToolResultRecord {
  const success = attribute(record, 'success');
  const error = text(record, 'error');
  return {
    sessionId: sessionIdOf(record),
    toolUseId: storable(toolUseId),
    toolName: text(record, 'tool_name'),
    success: success === true || success === 'true' ? true : success === false || success === 'false' ? false : null,
    durationMs: count(record, 'duration_ms', null, false),
    error: error === null ? null : error.slice(0, MAX_ERROR_CHARS),
    occurredAt: occurredAt(record),
  };
}

/**
 * The records this service keeps, from a batch of log records: `claude_code.api_request` (usage) and
 * `claude_code.tool_result` with a `tool_use_id` (tool timings). Every other record is accepted and dropped.
 */
export function claudeCodeRecords(records: readonly OtlpLogRecord[]): ClaudeCodeRecords {
  const found: ClaudeCodeRecords = { apiRequests: [], toolResults: [], rejected: 0, reasons: [] };
  for (const record of records) {
    const kind = kindOf(record);
    try {
      if (kind === API_REQUEST) {
        found.apiRequests.push(apiRequest(record));
      } else if (kind === TOOL_RESULT) {
        // Without the id there is no tool call to join it to.
        const toolUseId = idText(record, 'tool_use_id');
        if (toolUseId !== null) found.toolResults.push(toolResult(record, toolUseId));
      }
    } catch (err) {
      if (!(err instanceof Rejected)) throw err;
      found.rejected += 1;
      if (found.reasons.length < MAX_REASONS) found.reasons.push(`${kind}: ${err.message}`);
    }
  }
  return found;
}
