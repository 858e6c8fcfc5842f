import { array, define, integer, record, refine, size, string, Struct, unknown } from 'superstruct';
import { documented } from './schema';

/** How deep JSON values inside an event may nest; deeper input is refused before anything recurses over it. */
export const MAX_JSON_DEPTH = 64;

/**
 * A string Postgres can store as `text`: no U+0000 (which `text` refuses) and no unpaired surrogate
 * (which UTF-8 cannot encode; it would be silently replaced).
 */
const storableText = () =>
  refine(string(), 'text', (value) =>
    /\u0000/.test(value) ? 'must not contain the character U+0000' : value.isWellFormed() ? true : 'must not contain unpaired UTF-16 surrogates',
  );
const TEXT_NOTE = 'Any text but U+0000 and unpaired surrogates.';

export const Text = documented(storableText(), { type: 'string', description: TEXT_NOTE });

export const boundedText = (min: number, max: number) =>
  documented(
    refine(storableText(), 'text_length', (value) =>
      value.length < min ? (min === 1 ? 'must not be empty' : `must have at least ${min} characters`) : value.length > max ? `must have at most ${max} characters` : true,
    ),
    { type: 'string', minLength: min, maxLength: max, description: TEXT_NOTE },
  );

/** Text of at most `maxBytes` bytes once encoded as UTF-8 (empty allowed): fields that are free text but never large. */
export const byteBoundedText = (maxBytes: number) =>
  documented(
    refine(storableText(), 'text_bytes', (value) =>
      // Cheap first: a string of n UTF-16 units takes at most 3n bytes.
      value.length * 3 <= maxBytes || Buffer.byteLength(value, 'utf8') <= maxBytes ? true : `must be at most ${maxBytes} bytes in UTF-8`,
    ),
    { type: 'string', maxLength: maxBytes, description: `${TEXT_NOTE} At most ${maxBytes} bytes in UTF-8.` },
  );

/** Session ids travel in URL paths; any character works when percent-encoded. */
export const SessionId = boundedText(1, 256);
export const SessionName = boundedText(1, 256);
/** An event's own copy of its session's name: as SessionName, but empty means "the session's name". */
export const EventSessionName = boundedText(0, 256);
/** A session's folder and agent: free text, bounded so that a list of sessions stays small. */
export const SESSION_TEXT_MAX_BYTES = 4096;
export const SessionText = byteBoundedText(SESSION_TEXT_MAX_BYTES);
/** Identifiers chosen by clients: event types, tool names, roles, event ids. */
export const Name = boundedText(1, 256);

export const Int32 = documented(size(integer(), -2_147_483_648, 2_147_483_647), {
  type: 'integer',
  minimum: -2_147_483_648,
  maximum: 2_147_483_647,
});

const ISO_8601 = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,]\d+)?)?(Z|[+-]\d{2}(?::?\d{2})?)?)?$/i;

/** An ISO 8601 date or date-time as a canonical UTC timestamp (`2024-01-01T00:00:00.000Z`); no zone means UTC. */
export function normaliseTimestamp(text: string): string | undefined {
  const match = ISO_8601.exec(text);
  if (!match) return undefined;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const daysInMonth = new Date(Date.UTC(2000, month, 0)).getUTCDate() - (month === 2 && !isLeapYear(year) ? 1 : 0);
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth) return undefined;
  let canonical = text.replace(' ', 'T').replace(',', '.');
  if (match[4] === undefined) canonical += 'T00:00:00Z';
  else if (match[7] === undefined) canonical += 'Z';
  const millis = Date.parse(canonical);
  return Number.isNaN(millis) ? undefined : new Date(millis).toISOString();
}

const isLeapYear = (year: number) => (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;

/**
 * `struct`, with strings passed through `convert` before validation. superstruct's own coerce() asks
 * is(value, string()) first, which builds (and throws away) a StructError, stack trace and all, for every
 * value that is not a string, absent fields included: a third of the cost of validating an event.
 */
export function fromString<T, S>(struct: Struct<T, S>, convert: (value: string) => unknown): Struct<T, S> {
  return new Struct({ ...struct, coercer: (value, ctx) => struct.coercer(typeof value === 'string' ? convert(value) : value, ctx) });
}

export const Timestamp: Struct<string, null> = documented(
  fromString(
    define<string>('timestamp', (value) =>
      typeof value === 'string' && normaliseTimestamp(value) === value ? true : 'must be an ISO 8601 date-time, such as 2024-01-01T00:00:00Z',
    ),
    (value) => normaliseTimestamp(value) ?? value,
  ),
  { type: 'string', format: 'date-time', description: 'ISO 8601; without a zone it is UTC.' },
);

/**
 * What makes a parsed JSON value unfit to store, found without recursion so hostile nesting cannot
 * overflow the stack: nesting deeper than `limit`, or a number too large for a double (JSON.parse turns
 * 1e400 into Infinity, which would be stored as null).
 */
export function jsonProblem(value: unknown, limit: number): string | undefined {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [current, depth] = stack.pop()!;
    if (typeof current === 'number' && !Number.isFinite(current)) return 'must not hold numbers beyond ±1.8e308';
    if (typeof current !== 'object' || current === null) continue;
    if (depth > limit) return `must not nest deeper than ${limit} levels`;
    for (const child of Array.isArray(current) ? current : Object.values(current)) stack.push([child, depth + 1]);
  }
  return undefined;
}

const storableJson = <T>(struct: Struct<T, any>) => refine(struct, 'json', (value) => jsonProblem(value, MAX_JSON_DEPTH) ?? true);

const DEPTH_NOTE = `Any JSON, nested at most ${MAX_JSON_DEPTH} levels deep; stored and returned exactly.`;
export const JsonValue = documented(storableJson(unknown()), { description: DEPTH_NOTE });
export const JsonObject = documented(storableJson(record(string(), unknown())), { type: 'object', description: DEPTH_NOTE });
export const ContentBlocks = documented(storableJson(array(record(string(), unknown()))), {
  type: 'array',
  items: { type: 'object', description: 'A content block, such as {"type":"text","text":"Hello"}.' },
  description: DEPTH_NOTE,
});
