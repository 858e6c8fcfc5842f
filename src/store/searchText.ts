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

/** Between two events of a run in one row (event_search_chunks). */
export const EVENT_SEPARATOR = '\u001d';

// PostgreSQL's text cannot hold NUL; an event's own U+001D would split it in two.
const withoutNul = (text: string) => (/[\u0000\u001d]/.test(text) ? text.replace(/[\u0000\u001d]/g, '\ufffd') : text);

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

/** An event's text, at most `maxChars` characters, and how many it holds (more when it was cut). */
export function eventText(row: Record<SearchColumn, string | null>, maxChars: number = DEFAULT_MAX_INDEXED_CHARS): { text: string; textChars: number } {
  const text = SEARCH_FIELDS.map((field) => fieldText(row[field.column], field.json))
    .filter((piece) => piece !== '')
    .join(PIECE_SEPARATOR);
  return { text: text.length > maxChars ? text.slice(0, maxChars) : text, textChars: text.length };
}

/** A text of more than CHUNK_CHARS in CHUNK_CHARS pieces that overlap by MAX_QUERY_CHARS: any query fits in one. */
export function chunksOf(text: string): string[] {
  const chunks: string[] = [];
  for (let start = 0; start < text.length; start += CHUNK_STEP) {
    chunks.push(text.slice(start, start + CHUNK_CHARS));
    if (start + CHUNK_CHARS >= text.length) break;
  }
  return chunks;
}

/** A row of event_search_chunks. */
export interface IndexRow {
  session_ids: string[];
  event_ids: string[];
  chunk: number;
  body: string;
}

/** Characters of text a run of small events fills a row with at most. */
export const RUN_CHARS = 16 * 1024;

/**
 * The rows that index these events (each with its text): in id order, runs of events of up to CHUNK_CHARS
 * each packed into rows of up to RUN_CHARS (EVENT_SEPARATOR between two), and each larger event in chunks
 * of its own. An event without text gets none.
 */
export function indexRows(events: { id: string; session_id: string; text: string }[]): IndexRow[] {
  const rows: IndexRow[] = [];
  const list = events.filter((event) => event.text !== '').sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1));
  let run: { ids: string[]; sessions: Set<string>; texts: string[]; chars: number } = { ids: [], sessions: new Set(), texts: [], chars: 0 };
  const close = () => {
    if (run.ids.length > 0) rows.push({ session_ids: [...run.sessions], event_ids: run.ids, chunk: 0, body: run.texts.join(EVENT_SEPARATOR) });
    run = { ids: [], sessions: new Set(), texts: [], chars: 0 };
  };
  for (const event of list) {
    if (event.text.length > CHUNK_CHARS) {
      chunksOf(event.text).forEach((body, chunk) => rows.push({ session_ids: [event.session_id], event_ids: [event.id], chunk, body }));
      continue;
    }
    if (run.chars + event.text.length + 1 > RUN_CHARS) close();
    run.ids.push(event.id);
    run.sessions.add(event.session_id);
    run.texts.push(event.text);
    run.chars += event.text.length + 1;
  }
  close();
  return rows;
}
