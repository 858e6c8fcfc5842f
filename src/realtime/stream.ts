import type WebSocket from 'ws';
import { validate } from '../structs/validate';
import type { Logger } from '../logger';
import type { Change, LargeChange } from '../store/changes';
import type { Store } from '../store/store';
import { frameFor, type Hub, type HubClient } from './hub';
import { largeMessageParts, type ServerMessage } from './messages';
import { StreamQuery } from '../structs/streamQuery';

export interface StreamRequest {
  /** Resume after this change number; absent: start with init. */
  since?: number;
  /** Follow only these sessions; absent: all. */
  sessionIds?: string[];
  /** Only the newest this many sessions in init; absent: every one. */
  initLimit?: number;
  /** The key it was opened with (a caller's id): when that key is revoked, the stream is closed. */
  keyId?: string | null;
}

const REPLAY_PAGE = 1000;

/** Reads the `/ws` query string; throws a 422 HttpError naming a bad parameter. */
export function parseStreamRequest(search: URLSearchParams): StreamRequest {
  const raw = Object.fromEntries(
    [...new Set(search.keys())].map((key) => {
      const values = search.getAll(key);
      return [key, values.length === 1 ? values[0]! : values];
    }),
  );
  const query = validate('query', raw, StreamQuery);
  const ids = query.session_id === undefined ? undefined : Array.isArray(query.session_id) ? query.session_id : [query.session_id];
  return { since: query.since, sessionIds: ids, initLimit: query.init_limit };
}

export interface StreamDeps {
  hub: Hub;
  /** Where init's snapshot and replays are read. */
  store: Pick<Store, 'sessions' | 'changes'>;
  logger: Logger;
  /** The byte budget of one piece of init and one page of a replay. */
  maxBytes: number;
  /** An item larger than this (a session in init, a change in a replay) is read and sent in slices of about this size. */
  sliceBytes: number;
}

/**
 * Starts a client's stream. Without `since`: `init` (the sessions and the change number they reflect),
 * then live changes. With `since`: every change after it, read from the change log, then live ones; or,
 * when the log no longer reaches back that far, `resync_required` and a fresh `init`. The client is in the
 * hub from the start, so changes broadcast meanwhile wait and are sent after, those already sent skipped:
 * nothing lost or doubled at the seam. Both init and a replay are read and sent a budget of bytes at a time,
 * each piece when the client has taken the previous one.
 */
export async function openStream(socket: WebSocket, request: StreamRequest, deps: StreamDeps): Promise<void> {
  const { hub, logger } = deps;
  const client = hub.add(socket, request.sessionIds ?? null, request.keyId ?? null);
  try {
    let position: number | null;
    if (request.since !== undefined && (await deps.store.changes.canReplayFrom(request.since))) {
      position = await replay(client, request.since, request.sessionIds, deps);
    } else {
      if (request.since !== undefined) send(hub, client, { type: 'resync_required' });
      position = await sendInit(client, request, deps);
    }
    if (position !== null) hub.goLive(client, position);
  } catch (err) {
    logger.error('could not start a websocket stream', { err });
    hub.remove(client);
    socket.close(1011, 'could not start the stream');
  }
}

// One message in several frames: `{"type":"init","seq":N,"sessions":[` + the sessions, a piece a frame + `]…}`.
// Returns the number init reflects, or null if the client went away meanwhile.
async function sendInit(client: HubClient, request: StreamRequest, { hub, store, maxBytes, sliceBytes }: StreamDeps): Promise<number | null> {
  const filter = { sessionIds: request.sessionIds, limit: request.initLimit, maxBytes, sliceBytes };
  return store.sessions.withSnapshot(filter, async ({ seq, pieces, nextCursor, approvals }) => {
    if (!hub.sendFragment(client, `{"type":"init","seq":${seq},"sessions":[`, false)) return null;
    for await (const piece of pieces) {
      if (!hub.sendFragment(client, piece, false)) return null;
      if (!(await hub.drained(client, maxBytes))) return null;
    }
    if (!hub.sendFragment(client, `],"next_cursor":${JSON.stringify(nextCursor)},"approvals":${approvals}}`, true)) return null;
    return seq;
  });
}

async function replay(client: HubClient, since: number, sessionIds: string[] | undefined, { hub, store, maxBytes, sliceBytes }: StreamDeps): Promise<number | null> {
  let after = since;
  for (;;) {
    // A large change is sent while the page's transaction is open (its slices are read from it); the others at once.
    const page = await store.changes.withPage({ after, limit: REPLAY_PAGE, maxBytes, sliceBytes, sessionIds }, async (page) => {
      for (const change of page.changes) {
        const sent = isLarge(change) ? await sendLarge(hub, client, change, sliceBytes) : hub.sendDirect(client, frameFor(change).data);
        if (!sent) return null;
      }
      return page;
    });
    if (!page) return null;
    if (!(await hub.drained(client, maxBytes))) return null;
    after = page.lastSeq;
    if (!page.full) return after;
  }
}

const isLarge = (change: Change | LargeChange): change is LargeChange => 'largeFields' in change || (change.kind === 'event' && typeof change.eventJson !== 'string');

// One message in as many frames as it has pieces, each sent when the client has taken all but about a slice.
async function sendLarge(hub: Hub, client: HubClient, change: LargeChange, sliceBytes: number): Promise<boolean> {
  const parts = largeMessageParts(change);
  const last = parts.pop() as string;
  const sendPiece = async (piece: string) => hub.sendFragment(client, piece, false) && (await hub.drained(client, sliceBytes));
  for (const part of parts) {
    if (typeof part === 'string') {
      if (!(await sendPiece(part))) return false;
      continue;
    }
    for await (const piece of part.slices) if (!(await sendPiece(piece))) return false;
  }
  return hub.sendFragment(client, last, true);
}

const send = (hub: Hub, client: HubClient, message: ServerMessage) => hub.sendDirect(client, Buffer.from(JSON.stringify(message)));
