/**
 * The first rows, at most `limit`, whose JSON (`bytes` of each) together stays within `maxBytes`; the first row
 * is always taken, however large, so that a reader always moves on.
 */
export function takeWithinBudget<T>(rows: readonly T[], { limit, maxBytes, bytes }: { limit: number; maxBytes: number; bytes: (row: T) => number }): T[] {
  const taken: T[] = [];
  let total = 0;
  for (const row of rows) {
    if (taken.length === limit) break;
    // One byte for the comma that joins it to the others.
    const size = bytes(row) + 1;
    if (taken.length > 0 && total + size > maxBytes) break;
    taken.push(row);
    total += size;
  }
  return taken;
}
