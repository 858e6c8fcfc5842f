import WebSocket from 'ws';

export interface WsMessage {
  type: string;
  [key: string]: any;
}

/** A dashboard-like WebSocket client that records every message it receives. */
export class WsClient {
  readonly messages: WsMessage[] = [];
  closeCode: number | undefined;
  private waiters: (() => void)[] = [];

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data) => {
      this.messages.push(JSON.parse((data as Buffer).toString('utf8')));
      this.notify();
    });
    socket.on('close', (code) => {
      this.closeCode = code;
      this.notify();
    });
  }

  /**
   * Connects and waits for the first message (init). A client resuming with `since` gets no init, and
   * nothing at all if it missed nothing, so for it the wait is only for the connection.
   */
  static async connect(url: string): Promise<WsClient> {
    const socket = new WebSocket(url);
    const client = new WsClient(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    if (!new URL(url).searchParams.has('since')) await client.waitFor((messages) => messages.length >= 1);
    return client;
  }

  get init(): WsMessage {
    return this.messages[0]!;
  }

  /** Messages after init. */
  get live(): WsMessage[] {
    return this.messages.slice(1);
  }

  /** Resolves when `done(messages)` holds; rejects after `timeoutMs` with what arrived so far. */
  waitFor(done: (messages: WsMessage[]) => boolean, timeoutMs = 30_000): Promise<WsMessage[]> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (done(this.messages)) {
          clearTimeout(timer);
          this.waiters = this.waiters.filter((waiter) => waiter !== check);
          resolve(this.messages);
          return;
        }
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((waiter) => waiter !== check);
        reject(new Error(`timed out; received: ${JSON.stringify(this.messages.map((m) => m.type))}`));
      }, timeoutMs);
      this.waiters.push(check);
      check();
    });
  }

  /** Waits until `count` live messages (after init) have arrived, and returns them. */
  async waitForLive(count: number, timeoutMs?: number): Promise<WsMessage[]> {
    await this.waitFor((messages) => messages.length >= count + 1, timeoutMs);
    return this.live;
  }

  waitForClose(timeoutMs = 30_000): Promise<number> {
    return this.waitFor(() => this.closeCode !== undefined, timeoutMs).then(() => this.closeCode!);
  }

  close(): void {
    this.socket.close();
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}
