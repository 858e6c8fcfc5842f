import type WebSocket from 'ws';
import type { Pool } from '../db/pool';
import { validate } from '../structs/validate';
import type { Logger } from '../logger';
import { canReplayFrom, readChanges } from '../store/changes';
import { snapshotSessions } from '../store/sessions';
import type { Hub, HubClient } from './hub';
import { frameFor, type ServerMessage } from './messages';
import { StreamQuery } from '../structs/streamQuery';

export interface StreamRequest {
  /** Resume after this change number; absent: start with init. */
  since?: number;
  /** Follow only these sessions; absent: all. */
  sessionIds?: string[];
}

const INIT_SESSION_LIMIT = 1000;
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
  return { since: query.since, sessionIds: ids };
}

export interface StreamDeps {
  hub: Hub;
  pool: Pool;
  logger: Logger;
}

/**
 * Starts a client's stream. Without `since`: `init` (the sessions and the change number they reflect),
 * then live changes. With `since`: every change after it, read from the change log, then live ones; or,
 * when the log no longer reaches back that far, `resync_required` and a fresh `init`. The client is in the
 * hub from the start, so changes broadcast meanwhile wait and are sent after, those already sent skipped:
 * nothing lost or doubled at the seam.
 */
export async function openStream(socket: WebSocket, request: StreamRequest, { hub, pool, logger }: StreamDeps): Promise<void> {
  const client = hub.add(socket, request.sessionIds ?? null);
  try {
    let position: number;
    if (request.since !== undefined && (await canReplayFrom(pool, request.since))) {
      position = await replay(client, request.since, request.sessionIds, { hub, pool });
    } else {
      if (request.since !== undefined) send(hub, client, { type: 'resync_required' });
      const snapshot = await snapshotSessions(pool, { limit: INIT_SESSION_LIMIT, sessionIds: request.sessionIds });
      send(hub, client, { type: 'init', seq: snapshot.seq, sessions: snapshot.sessions });
      position = snapshot.seq;
    }
    hub.goLive(client, position);
  } catch (err) {
    logger.error('could not start a websocket stream', { err });
    hub.remove(client);
    socket.close(1011, 'could not start the stream');
  }
}

async function replay(client: HubClient, since: number, sessionIds: string[] | undefined, { hub, pool }: Pick<StreamDeps, 'hub' | 'pool'>): Promise<number> {
  let after = since;
  for (;;) {
    const page = await readChanges(pool, { after, limit: REPLAY_PAGE, sessionIds });
    for (const change of page.changes) {
      if (!hub.sendDirect(client, frameFor(change).data)) return after;
    }
    if (!(await hub.drained(client))) return after;
    after = page.lastSeq;
    if (!page.full) return after;
  }
}

const send = (hub: Hub, client: HubClient, message: ServerMessage) => hub.sendDirect(client, Buffer.from(JSON.stringify(message)));
