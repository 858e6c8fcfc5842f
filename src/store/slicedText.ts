import type { PoolClient } from '../db/pool';

/** A text value read from PostgreSQL a slice at a time, through a cursor of an open transaction. */
export interface SlicedText {
  /** Its length in UTF-8 bytes. */
  bytes: number;
  /**
   * Its slices in order, joined the whole value; each is read when the previous one has been taken. Valid while
   * the transaction is open; read them at most once.
   */
  slices: AsyncIterable<string>;
}

/** What a slice read reads: a query for one row whose column `value` is the text, with its parameters. */
export interface SlicedSource {
  text: string;
  values: unknown[];
}

// Cursors are named per read, so that a transaction may hold more than one.
let cursorCount = 0;

// The byte offset of the character that byte `at` belongs to: a slice boundary moved back to a character's
// start, so that no slice ends inside a character. At most three bytes of a character follow its first.
const characterStart = (at: string) => `case
      when ${at} >= octet_length(whole.bytes) then octet_length(whole.bytes)
      when get_byte(whole.bytes, ${at}) & 192 <> 128 then ${at}
      when get_byte(whole.bytes, ${at} - 1) & 192 <> 128 then ${at} - 1
      when get_byte(whole.bytes, ${at} - 2) & 192 <> 128 then ${at} - 2
      else ${at} - 3 end`;

/**
 * Opens a read of the text `source` selects in slices of about `sliceBytes` bytes (never splitting a character),
 * and reads the first slice; null if the query finds no row. Must run inside a transaction on `tx`.
 *
 * The text is computed once, when the first slice is read, and held by PostgreSQL until the last is; each slice
 * costs what it carries. Reading `substr(text, from, len)` in separate queries would compute the whole text
 * again for each slice (a large JSON value is decompressed and built each time), and could mix two versions.
 */
export async function readSliced(tx: PoolClient, source: SlicedSource, sliceBytes: number): Promise<SlicedText | null> {
  cursorCount += 1;
  const cursor = `sliced_text_${cursorCount}`;
  const size = `$${source.values.length + 1}::int`;
  // `offset 0` keeps the text a value computed once per row, not an expression each slice computes again.
  await tx.query(
    `declare ${cursor} no scroll cursor for
     select octet_length(whole.bytes) as bytes,
            convert_from(substring(whole.bytes from bounds.low + 1 for bounds.high - bounds.low), 'UTF8') as slice
     from (select convert_to(source.value, 'UTF8') as bytes from (${source.text}) source offset 0) whole
     cross join lateral generate_series(0, greatest(octet_length(whole.bytes) - 1, 0) / ${size}) as piece(index)
     cross join lateral (select ${characterStart(`piece.index * ${size}`)} as low,
                                ${characterStart(`(piece.index + 1) * ${size}`)} as high) bounds`,
    [...source.values, sliceBytes],
  );
  const fetchSlice = async (): Promise<{ bytes: number; slice: string } | undefined> =>
    (await tx.query<{ bytes: number; slice: string }>(`fetch forward 1 from ${cursor}`)).rows[0];
  const first = await fetchSlice();
  if (!first) {
    await tx.query(`close ${cursor}`);
    return null;
  }
  let pending: string | undefined = first.slice;
  async function* slices(): AsyncGenerator<string> {
    try {
      while (pending !== undefined) {
        const slice: string = pending;
        // Not kept here while the reader holds it: the reader decides how long a slice lives.
        pending = undefined;
        yield slice;
        pending = (await fetchSlice())?.slice;
      }
    } finally {
      pending = undefined;
      // The text PostgreSQL holds for the cursor is freed now, not when the transaction ends.
      await tx.query(`close ${cursor}`).catch(() => undefined);
    }
  }
  return { bytes: first.bytes, slices: slices() };
}
