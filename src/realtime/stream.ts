import type WebSocket from 'ws';
import type { Pool } from '../db/pool';
import { validate } from '../structs/validate';
import type { Logger } from '../logger';
import { canReplayFrom, readChanges } from '../store/changes';
import { withSessionSnapshot } from '../store/sessions';
import type { Hub, HubClient } from './hub';
import { frameFor, type ServerMessage } from './messages';
import { StreamQuery } from '../structs/streamQuery';

export interface StreamRequest {
  /** Resume after this change number; absent: start with init. */
  since?: number;
  /** Follow only these sessions; absent: all. */
  sessionIds?: string[];
  /** Only the newest this many sessions in init; absent: every one. */
  initLimit?: number;
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
  /** Where init's snapshot is read. */
  pool: Pool;
  /** Where replay pages are read: its few connections bound how many are built at once. */
  readPool: Pool;
  logger: Logger;
  /** The byte budget of one piece of init and one page of a replay. */
  maxBytes: number;
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
  const client = hub.add(socket, request.sessionIds ?? null);
  try {
    let position: number | null;
    if (request.since !== undefined && (await canReplayFrom(deps.pool, request.since))) {
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
async function sendInit(client: HubClient, request: StreamRequest, { hub, pool, maxBytes }: StreamDeps): Promise<number | null> {
  const filter = { sessionIds: request.sessionIds, limit: request.initLimit, maxBytes };
  return withSessionSnapshot(pool, filter, async ({ seq, pieces, nextCursor }) => {
    if (!hub.sendFragment(client, Buffer.from(`{"type":"init","seq":${seq},"sessions":[`), false)) return null;
    let first = true;
    for await (const piece of pieces) {
      if (!hub.sendFragment(client, Buffer.from(first ? piece : `,${piece}`), false)) return null;
      first = false;
      if (!(await hub.drained(client, maxBytes))) return null;
    }
    if (!hub.sendFragment(client, Buffer.from(`],"next_cursor":${JSON.stringify(nextCursor)}}`), true)) return null;
    return seq;
  });
}

async function replay(client: HubClient, since: number, sessionIds: string[] | undefined, { hub, readPool, maxBytes }: StreamDeps): Promise<number | null> {
  let after = since;
  for (;;) {
    const page = await readChanges(readPool, { after, limit: REPLAY_PAGE, maxBytes, sessionIds });
    for (const change of page.changes) {
      if (!hub.sendDirect(client, frameFor(change).data)) return null;
    }
    if (!(await hub.drained(client, maxBytes))) return null;
    after = page.lastSeq;
    if (!page.full) return after;
  }
}

const send = (hub: Hub, client: HubClient, message: ServerMessage) => hub.sendDirect(client, Buffer.from(JSON.stringify(message)));
