import type { SlicedText } from './slicedText';

/**
 * JSON text as the store hands it out: whole, or — when it holds an item too large to hold at once — in pieces,
 * read from an open transaction as they are taken.
 */
export type JsonText = string | JsonPieces;

/**
 * JSON text in pieces. The transaction they are read from ends when the last piece has been read, when reading
 * one fails, or when return() is called, started or not: whoever holds them must do one of these.
 */
export interface JsonPieces extends AsyncIterableIterator<string> {
  return(): Promise<IteratorResult<string, undefined>>;
}

/** The parts in order, the sliced ones a slice at a time; `end` runs once, when they are done with. */
export function jsonPieces(parts: readonly (string | SlicedText)[], end: () => Promise<void>): JsonPieces {
  let ended: Promise<void> | undefined;
  const endOnce = () => (ended ??= end());
  const pieces = (async function* (): AsyncGenerator<string, undefined> {
    for (const part of parts) {
      if (typeof part !== 'string') yield* part.slices;
      else if (part !== '') yield part;
    }
    return undefined;
  })();
  const finish = async <T>(result: T): Promise<T> => {
    await endOnce();
    return result;
  };
  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    async next() {
      let result: IteratorResult<string, undefined>;
      try {
        result = await pieces.next();
      } catch (err) {
        await endOnce();
        throw err;
      }
      return result.done ? finish(result) : result;
    },
    // A generator never started ignores return(), so the transaction is ended here, not in a finally of it.
    async return() {
      await pieces.return(undefined);
      return finish({ done: true, value: undefined });
    },
  };
}

/**
 * Every piece of a JSON text, the first after `prefix` (a comma joining it to what came before: yielded on
 * its own, it would leave the pieces unowned while the reader holds it).
 */
export async function* piecesOf(text: JsonText, prefix = ''): AsyncGenerator<string> {
  if (typeof text === 'string') {
    if (prefix + text !== '') yield prefix + text;
    return;
  }
  let first = true;
  for await (const piece of text) {
    yield first ? prefix + piece : piece;
    first = false;
  }
}
