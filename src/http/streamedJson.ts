import { Readable } from 'node:stream';

// How long a client may leave a piece untaken: a piece may hold a database connection (the transaction a large
// item is read from in slices), which is not held for a client that stopped reading.
const STALL_MS = 30_000;

/**
 * A JSON body sent as it is read: `head`, the pieces, then `tail`. Each piece is read when the client has taken
 * the previous ones, so memory holds a piece, not the body. The first piece is read before this resolves: a
 * failure to read at all (the database unreachable) is still an ordinary error response, not a cut-off body.
 * A client that takes nothing for `stallMs` is cut off. However the body ends (sent, cut off, failed), the
 * pieces are returned, so that what they hold is let go.
 */
export async function streamedJson(head: string, pieces: AsyncIterable<string>, tail: string, { stallMs = STALL_MS } = {}): Promise<Readable> {
  const iterator = pieces[Symbol.asyncIterator]();
  const first = await iterator.next();
  let started = false;
  let stall: NodeJS.Timeout | undefined;
  const sent = (readable: Readable, text: string) => {
    readable.push(text);
    stall = setTimeout(() => readable.destroy(new Error(`the client took nothing for ${stallMs} ms`)), stallMs);
  };
  return new Readable({
    read() {
      clearTimeout(stall);
      if (!started) {
        started = true;
        if (first.done) {
          this.push(head + tail);
          this.push(null);
        } else {
          sent(this, head + first.value);
        }
        return;
      }
      iterator.next().then(
        (next) => {
          if (next.done) {
            this.push(tail);
            this.push(null);
          } else {
            sent(this, next.value);
          }
        },
        (err: Error) => this.destroy(err),
      );
    },
    destroy(err, callback) {
      clearTimeout(stall);
      Promise.resolve(iterator.return?.()).then(
        () => callback(err),
        (returnErr: Error) => callback(err ?? returnErr),
      );
    },
  });
}
