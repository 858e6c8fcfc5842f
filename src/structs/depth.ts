/**
 * How deep a request body may nest, checked on its text before it is parsed, so that nothing recursive
 * (validation, the messages describing a failure, serialisation) ever meets deeper input. Above the depth
 * event fields may hold (MAX_JSON_DEPTH, 64) with room for the envelopes around them (a batch, a hook input).
 */
export const MAX_BODY_DEPTH = 72;

/**
 * Whether JSON text nests deeper than `limit` arrays and objects, found in one pass without recursion.
 * Strings are skipped with indexOf, so a large tool output costs little. Text that is not JSON may be
 * misjudged; the parser that follows refuses it anyway.
 */
export function nestsDeeperThan(text: string, limit: number): boolean {
  let depth = 0;
  const length = text.length;
  for (let i = 0; i < length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // The closing quote: the next one not escaped (preceded by an even number of backslashes).
      let end = i;
      for (;;) {
        end = text.indexOf('"', end + 1);
        if (end === -1) return false;
        let backslashes = 0;
        while (text.charCodeAt(end - 1 - backslashes) === 0x5c) backslashes++;
        if (backslashes % 2 === 0) break;
      }
      i = end;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return true;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return false;
}
