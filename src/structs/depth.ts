/**
 * How deep a request body may nest, checked on its text before it is parsed, so that nothing recursive
 * (validation, the messages describing a failure, serialisation) ever meets deeper input. Above the depth
 * event fields may hold (MAX_JSON_DEPTH, 64) with room for the envelopes around them (a batch, a hook input).
 */
export const MAX_BODY_DEPTH = 72;

/** Whether JSON text nests deeper than `limit` arrays and objects (see tooDeep()). */
export const nestsDeeperThan = (text: string, limit: number): boolean => tooDeep(text, limit) !== undefined;

/**
 * Where JSON text nests deeper than `limit` arrays and objects, found in one pass without recursion:
 * undefined if it does not; else the member of the top-level object that does (null when the top level is
 * an array). Strings are skipped with indexOf, so a large tool output costs little. Text that is not JSON
 * may be misjudged; the parser that follows refuses it anyway.
 */
export function tooDeep(text: string, limit: number): { member: string | null } | undefined {
  let depth = 0;
  // The last string at depth 1 of a top-level object: the name of the member being read.
  let member: string | null = null;
  const length = text.length;
  for (let i = 0; i < length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // The closing quote: the next one not escaped (preceded by an even number of backslashes).
      let end = i;
      for (;;) {
        end = text.indexOf('"', end + 1);
        if (end === -1) return undefined;
        let backslashes = 0;
        while (text.charCodeAt(end - 1 - backslashes) === 0x5c) backslashes++;
        if (backslashes % 2 === 0) break;
      }
      if (depth === 1) member = text.slice(i, end + 1);
      i = end;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return { member: text.trimStart().startsWith('{') && member !== null ? parseMember(member) : null };
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return undefined;
}

function parseMember(literal: string): string | null {
  try {
    const name: unknown = JSON.parse(literal);
    return typeof name === 'string' ? name : null;
  } catch {
    return null;
  }
}
