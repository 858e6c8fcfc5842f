import type { Change } from '../store/changes';
import type { Event, Session } from '../store/records';

/** Every message the server sends on `/ws`, one JSON text frame each. `seq` is the change's number (see changes.ts). */
export type ServerMessage =
  /** Sent in pieces (one message, several WebSocket frames); `next_cursor` continues a list cut by `init_limit`. */
  | { type: 'init'; seq: number; sessions: Session[]; next_cursor: string | null }
  | { type: 'resync_required' }
  | { type: 'session_created'; seq: number; session: Session }
  | { type: 'session_updated'; seq: number; session: Session }
  | { type: 'session_deleted'; seq: number; session_id: string }
  | { type: 'event'; seq: number; data: Event }
  /** A change whose event was deleted (with its session) before this instance read it: nothing to show. */
  | { type: 'event_gone'; seq: number; session_id: string; id: number };

/** A change ready to send: serialised once, to bytes, whatever the number of clients. */
export interface Frame {
  seq: number;
  sessionId: string;
  data: Buffer;
}

/** The message of a change that is not an event (events are sent as the JSON text they were read as). */
export function messageFor(change: Exclude<Change, { kind: 'event' }>): ServerMessage {
  switch (change.kind) {
    case 'session_created':
    case 'session_updated':
      return { type: change.kind, seq: change.seq, session: change.session };
    case 'session_deleted':
      return { type: 'session_deleted', seq: change.seq, session_id: change.sessionId };
    case 'event_gone':
      return { type: 'event_gone', seq: change.seq, session_id: change.sessionId, id: change.eventId };
  }
}

export function frameFor(change: Change): Frame {
  if (change.kind === 'event') {
    // The event's JSON as PostgreSQL built it, wrapped: `{"type":"event","seq":…,"data":<event>}`.
    return { seq: change.seq, sessionId: change.sessionId, data: Buffer.from(`{"type":"event","seq":${change.seq},"data":${change.eventJson}}`) };
  }
  const sessionId = 'sessionId' in change ? change.sessionId : change.session.session_id;
  return { seq: change.seq, sessionId, data: Buffer.from(JSON.stringify(messageFor(change))) };
}
