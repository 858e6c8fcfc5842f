/** A row of a list read as JSON text, with the key it is ordered by. */
export interface JsonRow {
  json: string;
}

/**
 * The first rows, at most `limit`, whose JSON together stays within `maxBytes`; the first row is always
 * taken, however large, so that a reader always moves on.
 */
export function takeWithinBudget<T extends JsonRow>(rows: readonly T[], { limit, maxBytes }: { limit: number; maxBytes: number }): T[] {
  const taken: T[] = [];
  let bytes = 0;
  for (const row of rows) {
    if (taken.length === limit) break;
    // One byte for the comma that joins it to the others.
    const size = Buffer.byteLength(row.json) + 1;
    if (taken.length > 0 && bytes + size > maxBytes) break;
    taken.push(row);
    bytes += size;
  }
  return taken;
}
