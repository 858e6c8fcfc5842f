import type { Change } from '../store/changes';
import type { Event, Session } from '../store/records';

/** Every message the server sends on `/ws`, one JSON text frame each. */
export type ServerMessage =
  | { type: 'init'; sessions: Session[] }
  | { type: 'session_created'; session: Session }
  | { type: 'session_updated'; session: Session }
  | { type: 'session_deleted'; session_id: string }
  | { type: 'event'; data: Event };

export function messageFor(change: Change): ServerMessage {
  switch (change.kind) {
    case 'session_created':
    case 'session_updated':
      return { type: change.kind, session: change.session };
    case 'session_deleted':
      return { type: 'session_deleted', session_id: change.sessionId };
    case 'event':
      return { type: 'event', data: change.event };
  }
}
