import { Readable } from 'node:stream';

/**
 * A JSON body sent as it is read: `head`, the pieces joined by commas, then `tail`. Each piece is read when
 * the client has taken the previous ones, so memory holds a piece, not the list. The first piece is read
 * before this resolves: a failure to read at all (the database unreachable) is still an ordinary error
 * response, not a cut-off body.
 */
export async function streamedJson(head: string, pieces: AsyncIterable<string>, tail: string): Promise<Readable> {
  const iterator = pieces[Symbol.asyncIterator]();
  const first = await iterator.next();
  async function* body(): AsyncGenerator<string> {
    yield head;
    if (!first.done) {
      yield first.value;
      for (let next = await iterator.next(); !next.done; next = await iterator.next()) yield `,${next.value}`;
    }
    yield tail;
  }
  return Readable.from(body(), { objectMode: false });
}
