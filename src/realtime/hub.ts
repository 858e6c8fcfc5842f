import type { Socket } from 'node:net';
import WebSocket from 'ws';
import type { Logger } from '../logger';
import type { Change } from '../store/changes';
import { messageFor } from './messages';

/** A change ready to send: serialised once, to bytes, whatever the number of clients. */
export interface Frame extends ShownBefore {
  /** The session it is about; null for a change about none (keys_changed), which only clients following everything get. */
  sessionId: string | null;
  data: Buffer;
}

/** What tells whether a client's init already shows a change: its number, and for a session's state its creation time. */
export interface ShownBefore {
  seq: number;
  /** `created_at` (ms) of the session whose state a session_created or session_updated carries; null for any other change. */
  sessionCreatedMs: number | null;
}

/** Whether a client's init already shows a change (see sendInit in stream.ts): such a change is not sent to it again. */
export type AlreadyShown = (change: ShownBefore) => boolean;

/** ShownBefore of a change. */
export const shownBefore = (change: Change | { seq: number; kind: string; session?: { created_at: string } }): ShownBefore => ({
  seq: change.seq,
  sessionCreatedMs:
    (change.kind === 'session_created' || change.kind === 'session_updated') && 'session' in change && change.session ? Date.parse(change.session.created_at) : null,
});

/** The message of a change (messages.ts), as the bytes of one text frame. */
export function frameFor(change: Change): Frame {
  if (change.kind === 'event') {
    // The event's JSON as PostgreSQL built it, wrapped: `{"type":"event","seq":…,"data":<event>}`.
    return { seq: change.seq, sessionCreatedMs: null, sessionId: change.sessionId, data: Buffer.from(`{"type":"event","seq":${change.seq},"data":${change.eventJson}}`) };
  }
  const sessionId = 'sessionId' in change ? change.sessionId : 'session' in change ? change.session.session_id : null;
  return { ...shownBefore(change), sessionId, data: Buffer.from(JSON.stringify(messageFor(change))) };
}

export interface HubClient {
  readonly socket: WebSocket;
  /** The sessions it follows; null for all. */
  readonly sessionIds: ReadonlySet<string> | null;
  /** The key it connected with (a caller's id); null when the server required none. */
  readonly keyId: string | null;
  /** The number of the last change it has (or that its init reflects); later frames only are sent. */
  position: number;
  /** Frames that arrived while it was catching up (init or replay); null once it is live. */
  pending: Frame[] | null;
  pendingBytes: number;
  /**
   * Set when frames that waited passed the backlog limit and were let go: the client catches up on them
   * from the change log instead (takeOverflow()), at its own pace, rather than being cut off.
   */
  overflowed: boolean;
  /** Changes its init already shows, up to `shownUpTo`: not sent again (null when there are none). */
  alreadyShown: AlreadyShown | null;
  shownUpTo: number;
  alive: boolean;
  gone: boolean;
}

export interface HubOptions {
  logger: Logger;
  /** How often clients are pinged; one that has not answered the previous ping is dropped. */
  pingIntervalMs: number;
  /** Bytes a live client may leave unread between bursts before it is closed with 1013; also what waits for one catching up. */
  maxBacklogBytes: number;
  /** Told how many frames each broadcast sent, for the metrics. */
  onSent?: (count: number) => void;
  /** How long a client closed for its backlog gets to take the close frame before its socket is destroyed. */
  closeGraceMs?: number;
  /** How long a client catching up may take nothing at all before it is taken for one that does not read. */
  stallMs?: number;
}

// Messages are JSON, sent as text frames; handing ws the bytes spares it encoding the string per client.
const TEXT = { binary: false } as const;

// The TCP socket under a WebSocket (ws keeps it as `_socket`), to batch a burst's writes with cork().
const rawSocket = (socket: WebSocket): Socket | undefined => (socket as unknown as { _socket?: Socket })._socket;

// How long a client catching up may take to read one page of its replay.
const DRAIN_TIMEOUT_MS = 30_000;

/**
 * The WebSocket clients of this instance and the fan-out to them. A frame goes to the clients that follow
 * everything and to those that follow its session, found by lookup: others cost nothing per frame.
 */
export class Hub {
  private readonly everything = new Set<HubClient>();
  private readonly bySession = new Map<string, Set<HubClient>>();
  private readonly logger: Logger;
  private readonly maxBacklogBytes: number;
  private readonly pinger: NodeJS.Timeout;
  private readonly onSent: (count: number) => void;
  private readonly closeGraceMs: number;
  private readonly stallMs: number;
  private count = 0;

  constructor({ logger, pingIntervalMs, maxBacklogBytes, onSent = () => undefined, closeGraceMs = 5_000, stallMs = 10_000 }: HubOptions) {
    this.logger = logger;
    this.stallMs = stallMs;
    this.closeGraceMs = closeGraceMs;
    this.onSent = onSent;
    this.maxBacklogBytes = maxBacklogBytes;
    // The verdict waits for the sockets to be read first: after the event loop was held (a long broadcast, a
    // starved machine), an overdue timer runs before I/O, and pongs that came meanwhile would be unread.
    this.pinger = setInterval(() => setImmediate(() => this.pingAll()), pingIntervalMs);
    this.pinger.unref();
  }

  get size(): number {
    return this.count;
  }

  /** Registers a socket. Until goLive() it receives only what is sent with sendDirect(); broadcasts wait. */
  add(socket: WebSocket, sessionIds: readonly string[] | null, keyId: string | null = null): HubClient {
    const client: HubClient = {
      socket,
      sessionIds: sessionIds ? new Set(sessionIds) : null,
      keyId,
      position: 0,
      pending: [],
      pendingBytes: 0,
      overflowed: false,
      alreadyShown: null,
      shownUpTo: 0,
      alive: true,
      gone: false,
    };
    if (client.sessionIds) {
      for (const id of client.sessionIds) {
        let followers = this.bySession.get(id);
        if (!followers) this.bySession.set(id, (followers = new Set()));
        followers.add(client);
      }
    } else {
      this.everything.add(client);
    }
    this.count += 1;
    socket.on('pong', () => (client.alive = true));
    socket.on('close', () => this.remove(client));
    socket.on('error', (err) => this.logger.debug('websocket client error', { err }));
    return client;
  }

  /** Sends a message (JSON bytes) to one client now (init, replay); false if the client is gone. */
  sendDirect(client: HubClient, data: Buffer): boolean {
    if (client.gone || client.socket.readyState !== WebSocket.OPEN) return false;
    client.socket.send(data, TEXT);
    this.onSent(1);
    return true;
  }

  /**
   * Sends one frame of a message sent in pieces (init, a large change of a replay); the message ends with the
   * frame whose `fin` is true. A frame may end inside a character: only the whole message must be UTF-8.
   * No other message may go to the client in between: broadcasts wait until goLive().
   */
  sendFragment(client: HubClient, data: Buffer | string, fin: boolean): boolean {
    if (client.gone || client.socket.readyState !== WebSocket.OPEN) return false;
    client.socket.send(data, { binary: false, fin });
    if (fin) this.onSent(1);
    return true;
  }

  /**
   * Waits until the client has taken what was sent to it, down to `lowWaterBytes` (the backlog limit when
   * not given), so a long replay goes at the client's pace and holds about a piece in memory; false (and
   * the client is closed) if it does not within `timeoutMs`.
   */
  async drained(client: HubClient, lowWaterBytes = this.maxBacklogBytes, timeoutMs = DRAIN_TIMEOUT_MS): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    // A client that takes nothing at all for stallMs is not reading: it is let go sooner than the deadline,
    // since what it is sent is read on a page-read connection that others wait for meanwhile.
    let left = client.socket.bufferedAmount;
    let progressAt = Date.now();
    while (!client.gone && client.socket.bufferedAmount > lowWaterBytes) {
      const now = Date.now();
      if (client.socket.bufferedAmount < left) {
        left = client.socket.bufferedAmount;
        progressAt = now;
      }
      if (now > deadline || now - progressAt > this.stallMs) {
        this.cutOff(client);
        return false;
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return !client.gone;
  }

  /**
   * Whether frames that waited for the client while it caught up were let go (too many bytes to hold) since
   * last asked: it must then read the change log on from where it is before going live.
   */
  takeOverflow(client: HubClient): boolean {
    const overflowed = client.overflowed;
    client.overflowed = false;
    return overflowed;
  }

  /**
   * Tells the hub which changes up to `upTo` the client's init already shows (read page by page, each page
   * in a later snapshot): those are never sent to it, whether they come from the log or live.
   */
  setAlreadyShown(client: HubClient, alreadyShown: AlreadyShown, upTo: number): void {
    client.alreadyShown = alreadyShown;
    client.shownUpTo = upTo;
  }

  /** Whether the client's init already shows this change. */
  alreadyShown(client: HubClient, change: ShownBefore): boolean {
    if (client.alreadyShown === null) return false;
    if (change.seq > client.shownUpTo) {
      client.alreadyShown = null;
      return false;
    }
    return client.alreadyShown(change);
  }

  /** Ends catching up: frames that waited and are newer than `position` are sent, then it gets broadcasts. */
  goLive(client: HubClient, position: number): void {
    client.position = position;
    const waiting = client.pending ?? [];
    client.pending = null;
    client.pendingBytes = 0;
    let sent = 0;
    for (const frame of waiting) sent += this.deliver(client, frame);
    this.onSent(sent);
  }

  /** Sends each change, serialised once, to every client that follows its session. */
  broadcast(changes: readonly Change[]): void {
    const frames = changes.map(frameFor);
    // Measured between bursts: within one, every frame sits in the buffer until the loop yields.
    for (const client of [...this.clients()]) {
      if (!client.pending && client.socket.bufferedAmount > this.maxBacklogBytes) this.cutOff(client);
    }
    // A burst of frames leaves each socket in one write, not one per frame.
    const corked = frames.length > 1 ? new Set<Socket>() : undefined;
    let sent = 0;
    for (const frame of frames) {
      for (const client of this.everything) sent += this.deliver(client, frame, corked);
      const followers = frame.sessionId === null ? undefined : this.bySession.get(frame.sessionId);
      if (followers) for (const client of followers) sent += this.deliver(client, frame, corked);
    }
    if (corked) for (const socket of corked) socket.uncork();
    this.onSent(sent);
  }

  /** Closes every client (1001 "going away" on shutdown) and stops pinging. */
  close(code = 1001, reason = 'server shutting down'): void {
    clearInterval(this.pinger);
    for (const client of [...this.clients()]) {
      client.socket.close(code, reason);
      this.remove(client);
    }
  }

  /** Closes the clients whose key no longer passes `stillValid` (a revoked key), with 1008 and `reason`. */
  closeClientsOfKeys(stillValid: (keyId: string) => boolean, reason: string): number {
    let closed = 0;
    for (const client of [...this.clients()]) {
      if (client.keyId === null || stillValid(client.keyId)) continue;
      this.remove(client);
      client.socket.close(1008, reason);
      closed += 1;
    }
    return closed;
  }

  remove(client: HubClient): void {
    if (client.gone) return;
    client.gone = true;
    this.count -= 1;
    if (!client.sessionIds) {
      this.everything.delete(client);
      return;
    }
    for (const id of client.sessionIds) {
      const followers = this.bySession.get(id);
      followers?.delete(client);
      if (followers?.size === 0) this.bySession.delete(id);
    }
  }

  /** 1 if the frame was sent now, else 0 (queued, already had, or gone). */
  private deliver(client: HubClient, frame: Frame, corked?: Set<Socket>): number {
    if (client.gone) return 0;
    if (client.pending) {
      client.pending.push(frame);
      client.pendingBytes += frame.data.length;
      // A client catching up is paced by what it reads: what waits past the limit is let go, to be read from
      // the change log once it has taken what comes before (see takeOverflow()).
      if (client.pendingBytes > this.maxBacklogBytes) {
        client.pending = [];
        client.pendingBytes = 0;
        client.overflowed = true;
      }
      return 0;
    }
    if (frame.seq <= client.position || client.socket.readyState !== WebSocket.OPEN) return 0;
    client.position = frame.seq;
    if (this.alreadyShown(client, frame)) return 0;
    if (corked) {
      const socket = rawSocket(client.socket);
      if (socket && !corked.has(socket)) {
        socket.cork();
        corked.add(socket);
      }
    }
    client.socket.send(frame.data, TEXT);
    return 1;
  }

  // A client that does not read would make us hold ever more for it: close it (it can resume with `since`).
  private cutOff(client: HubClient): void {
    this.logger.warn('closing a websocket client that is not keeping up', { backlogBytes: client.socket.bufferedAmount + client.pendingBytes });
    this.remove(client);
    client.pending = null;
    client.socket.close(1013, 'too far behind; reconnect with ?since=<seq>');
    setTimeout(() => client.socket.terminate(), this.closeGraceMs).unref();
  }

  private *clients(): Iterable<HubClient> {
    yield* this.everything;
    const seen = new Set<HubClient>();
    for (const followers of this.bySession.values()) {
      for (const client of followers) {
        if (!seen.has(client)) {
          seen.add(client);
          yield client;
        }
      }
    }
  }

  private pingAll(): void {
    for (const client of [...this.clients()]) {
      if (!client.alive) {
        this.logger.debug('dropping a websocket client that stopped answering pings');
        this.remove(client);
        client.socket.terminate();
        continue;
      }
      client.alive = false;
      client.socket.ping();
    }
  }
}
