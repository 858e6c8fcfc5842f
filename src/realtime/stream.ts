import type WebSocket from 'ws';
import { validate } from '../structs/validate';
import type { Logger } from '../logger';
import type { Change, LargeChange } from '../store/changes';
import type { Store } from '../store/store';
import { frameFor, shownBefore, type AlreadyShown, type Hub, type HubClient } from './hub';
import { piecesOf } from '../store/jsonText';
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
  store: Pick<Store, 'sessions' | 'changes' | 'approvals'>;
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
    // Changes that came meanwhile and were too many to hold are read from the log, paced by the client.
    while (position !== null && hub.takeOverflow(client)) position = await replay(client, position, request.sessionIds, deps);
    if (position !== null) hub.goLive(client, position);
  } catch (err) {
    logger.error('could not start a websocket stream', { err });
    hub.remove(client);
    socket.close(1011, 'could not start the stream');
  }
}

// One message in several frames: `{"type":"init","seq":N,"sessions":[` + the sessions, a piece a frame + `]…}`.
// N is the last change before the first page was read. Each page is read in a snapshot of its own, on a
// page-read connection held only while the page is read (and while a large session's slices are taken), when
// the client has taken the previous one: a client that does not read holds no connection for long. A later
// page may show a session as later changes left it; those changes are then not sent again (alreadyShownBy).
// Returns N, or null if the client went away meanwhile.
async function sendInit(client: HubClient, request: StreamRequest, { hub, store, maxBytes, sliceBytes }: StreamDeps): Promise<number | null> {
  const seq = await store.changes.latest();
  if (!hub.sendFragment(client, `{"type":"init","seq":${seq},"sessions":[`, false)) return null;
  const pages: PageShown[] = [];
  let cursor: string | undefined;
  let nextCursor: string | null = null;
  let first = true;
  for (;;) {
    const page = await store.sessions.initPage({ sessionIds: request.sessionIds, cursor, limit: request.initLimit ?? INIT_PAGE, maxBytes, sliceBytes });
    pages.push({ seq: page.seq, lastCreatedMs: page.lastCreatedMs });
    for await (const piece of piecesOf(page.sessions, first || page.sessions === '' ? '' : ',')) {
      if (!hub.sendFragment(client, piece, false)) return null;
      if (!(await hub.drained(client, maxBytes))) return null;
    }
    if (page.sessions !== '') first = false;
    if (request.initLimit !== undefined) {
      nextCursor = page.nextCursor;
      break;
    }
    if (page.nextCursor === null) break;
    cursor = page.nextCursor;
  }
  // Read after N: an approval decided since then is left out (its approval_decided follows); one requested since
  // may come twice, here and as approval_requested (clients key approvals by id).
  const approvals = await store.approvals.pendingJson(request.sessionIds);
  if (!hub.sendFragment(client, `],"next_cursor":${JSON.stringify(nextCursor)},"approvals":${approvals}}`, true)) return null;
  hub.setAlreadyShown(client, alreadyShownBy(pages), Math.max(...pages.map((page) => page.seq)));
  return seq;
}

const INIT_PAGE = 1000;

interface PageShown {
  seq: number;
  lastCreatedMs: number | null;
}

/**
 * Which changes after init's number the pages already show: a session's state (session_created or
 * session_updated) numbered no later than the snapshot of the page the session was listed on. The page is
 * found by the session's creation time (pages run newest first); one on the boundary of two pages (the same
 * millisecond) counts as the earlier page's, whose snapshot is the older: at worst a change is sent that the
 * init already showed, never is one withheld. Events and deletions are always sent.
 */
function alreadyShownBy(pages: readonly PageShown[]): AlreadyShown {
  return (change) => {
    if (change.sessionCreatedMs === null) return false;
    for (const page of pages) {
      if (page.lastCreatedMs !== null && change.sessionCreatedMs >= page.lastCreatedMs) return change.seq <= page.seq;
    }
    // Older than every listed session: not in the init (created and gone, or past init_limit).
    return false;
  };
}

async function replay(client: HubClient, since: number, sessionIds: string[] | undefined, { hub, store, maxBytes, sliceBytes }: StreamDeps): Promise<number | null> {
  let after = since;
  for (;;) {
    // A large change is sent while the page's transaction is open (its slices are read from it); the others at once.
    const page = await store.changes.withPage({ after, limit: REPLAY_PAGE, maxBytes, sliceBytes, sessionIds }, async (page) => {
      for (const change of page.changes) {
        if (hub.alreadyShown(client, shownBefore(change))) continue;
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
