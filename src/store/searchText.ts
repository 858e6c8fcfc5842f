/**
 * The text search looks in, as the indexer cuts it into chunks (src/store/searchIndexer.ts): per event, its
 * content, tool name, tool input and output, error and reason. A JSON field is searched as its decoded
 * strings (keys and values, numbers and booleans as written), so a quote, a backslash, a tab or a line break
 * is itself rather than its JSON escape.
 */

/** The fields searched, in the order their text is indexed. */
export const SEARCH_FIELDS = [
  { column: 'content', json: true },
  { column: 'tool_name', json: false },
  { column: 'tool_input', json: true },
  { column: 'tool_output', json: true },
  { column: 'error', json: false },
  { column: 'reason', json: false },
] as const;

export type SearchColumn = (typeof SEARCH_FIELDS)[number]['column'];

/** The longest `q` a search takes (src/http/search.structs.ts); chunks overlap by at least this much. */
export const MAX_QUERY_CHARS = 200;

/** Characters per chunk; consecutive chunks share MAX_QUERY_CHARS of them, so any query fits in one. */
export const CHUNK_CHARS = 2048;
const CHUNK_STEP = CHUNK_CHARS - MAX_QUERY_CHARS;

/** Characters of an event's text the index keeps at most (all its fields together); the rest is "cut". */
export const DEFAULT_MAX_INDEXED_CHARS = 4 * 1024 * 1024;

/**
 * Between two strings of a JSON value: a character nobody types, so a query never matches across two of
 * them. Shown as a space in snippets.
 */
export const PIECE_SEPARATOR = '\u001e';

// PostgreSQL's text cannot hold NUL.
const withoutNul = (text: string) => (text.includes('\u0000') ? text.replace(/\u0000/g, '\ufffd') : text);

/** A field's searchable text: a JSON field (given as its JSON text) as its strings, in order. */
export function fieldText(value: string | null, json: boolean): string {
  if (value === null) return '';
  if (!json) return withoutNul(value);
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return withoutNul(value);
  }
  const pieces: string[] = [];
  const walk = (node: unknown) => {
    if (node === null || node === undefined) return;
    if (typeof node === 'string') pieces.push(node);
    else if (typeof node === 'number' || typeof node === 'boolean') pieces.push(String(node));
    else if (Array.isArray(node)) for (const item of node) walk(item);
    else if (typeof node === 'object') {
      for (const [key, item] of Object.entries(node as Record<string, unknown>)) {
        pieces.push(key);
        walk(item);
      }
    }
  };
  walk(parsed);
  return withoutNul(pieces.join(PIECE_SEPARATOR));
}

export interface Chunk {
  chunk: number;
  body: string;
}

/**
 * An event's chunks: its fields' text (in SEARCH_FIELDS order, PIECE_SEPARATOR between two) cut into
 * CHUNK_CHARS pieces that overlap by MAX_QUERY_CHARS, at most `maxChars` characters in all; and how many
 * characters the event holds (more than were indexed when it was cut). A small event is one chunk.
 */
export function eventChunks(row: Record<SearchColumn, string | null>, maxChars: number = DEFAULT_MAX_INDEXED_CHARS): { chunks: Chunk[]; textChars: number; indexedChars: number } {
  const text = SEARCH_FIELDS.map((field) => fieldText(row[field.column], field.json))
    .filter((piece) => piece !== '')
    .join(PIECE_SEPARATOR);
  const kept = text.length > maxChars ? text.slice(0, maxChars) : text;
  const chunks: Chunk[] = [];
  for (let start = 0, n = 0; start < kept.length; start += CHUNK_STEP, n++) {
    chunks.push({ chunk: n, body: kept.slice(start, start + CHUNK_CHARS) });
    if (start + CHUNK_CHARS >= kept.length) break;
  }
  return { chunks, textChars: text.length, indexedChars: kept.length };
}
