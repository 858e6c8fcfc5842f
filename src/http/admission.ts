/**
 * Bytes of request bodies being read and handled at once, shared by the requests of one route: a request
 * takes its share before its body is read and gives it back when it has been answered. A request that does
 * not fit waits its turn (first come, first served) for up to `waitMs`; one larger than the whole budget
 * goes alone. So memory is bounded by the budget, not by how many large requests arrive together.
 */
export class ByteBudget {
  private inUse = 0;
  private readonly waiting: { bytes: number; admit: () => void }[] = [];

  constructor(readonly totalBytes: number) {}

  /** Bytes taken now (for tests and metrics). */
  get used(): number {
    return this.inUse;
  }

  /** Takes `bytes` (capped at the budget); resolves to the release, or to null if no room came within `waitMs`. */
  async take(bytes: number, waitMs: number): Promise<(() => void) | null> {
    const share = Math.min(Math.max(bytes, 0), this.totalBytes);
    if (this.waiting.length === 0 && this.fits(share)) return this.grant(share);
    return new Promise((resolve) => {
      const waiter = {
        bytes: share,
        admit: () => {
          clearTimeout(timer);
          resolve(this.grant(share));
        },
      };
      const timer = setTimeout(() => {
        this.waiting.splice(this.waiting.indexOf(waiter), 1);
        resolve(null);
        // The one behind it may fit now.
        this.admitWaiting();
      }, waitMs);
      this.waiting.push(waiter);
    });
  }

  private fits(share: number): boolean {
    return this.inUse === 0 || this.inUse + share <= this.totalBytes;
  }

  private grant(share: number): () => void {
    this.inUse += share;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.inUse -= share;
      this.admitWaiting();
    };
  }

  private admitWaiting(): void {
    while (this.waiting.length > 0 && this.fits(this.waiting[0]!.bytes)) this.waiting.shift()!.admit();
  }
}
