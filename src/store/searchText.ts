/**
 * The text search looks in, as the indexer cuts it into chunks (src/store/searchIndexer.ts): per event, its
 * content, tool name, tool input and output, error and reason. A JSON field is searched as its decoded
 * strings (keys and values, numbers and booleans as written), so a quote, a backslash, a tab or a line break
 * is itself rather than its JSON escape.
 */

/** The fields searched, with the number each keeps in event_search_chunks.field. */
export const SEARCH_FIELDS = [
  { id: 1, column: 'content', json: true },
  { id: 2, column: 'tool_name', json: false },
  { id: 3, column: 'tool_input', json: true },
  { id: 4, column: 'tool_output', json: true },
  { id: 5, column: 'error', json: false },
  { id: 6, column: 'reason', json: false },
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
  field: number;
  chunk: number;
  body: string;
}

/**
 * An event's chunks, at most `maxChars` characters of text in all (fields in SEARCH_FIELDS order), and how
 * many characters the event holds (more than were indexed when it was cut).
 */
export function eventChunks(row: Record<SearchColumn, string | null>, maxChars: number = DEFAULT_MAX_INDEXED_CHARS): { chunks: Chunk[]; textChars: number; indexedChars: number } {
  const chunks: Chunk[] = [];
  let budget = maxChars;
  let textChars = 0;
  let indexedChars = 0;
  for (const field of SEARCH_FIELDS) {
    const text = fieldText(row[field.column], field.json);
    textChars += text.length;
    const kept = text.length > budget ? text.slice(0, Math.max(0, budget)) : text;
    budget -= kept.length;
    indexedChars += kept.length;
    for (let start = 0, n = 0; start < kept.length; start += CHUNK_STEP, n++) {
      chunks.push({ field: field.id, chunk: n, body: kept.slice(start, start + CHUNK_CHARS) });
      if (start + CHUNK_CHARS >= kept.length) break;
    }
  }
  return { chunks, textChars, indexedChars };
}
