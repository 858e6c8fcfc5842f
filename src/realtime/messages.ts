import type { Change, LargeChange } from '../store/changes';
import type { SlicedText } from '../store/slicedText';
import type { Event } from '../domain/event';
import type { Session } from '../domain/session';
import type { Approval } from '../domain/approval';

/** Every message the server sends on `/ws`, one JSON text frame each. `seq` is the change's number (see changes.ts). */
export type ServerMessage =
  /** Sent in pieces (one message, several WebSocket frames); `next_cursor` continues a list cut by `init_limit`. */
  | { type: 'init'; seq: number; sessions: Session[]; next_cursor: string | null; /** The pending approvals (of the sessions followed), oldest first. */ approvals: Approval[] }
  | { type: 'resync_required' }
  | { type: 'session_created'; seq: number; session: Session }
  | { type: 'session_updated'; seq: number; session: Session }
  | { type: 'session_deleted'; seq: number; session_id: string }
  | { type: 'event'; seq: number; data: Event }
  /** A change whose event was deleted (with its session) before this instance read it: nothing to show. */
  | { type: 'event_gone'; seq: number; session_id: string; id: number }
  /** The API keys changed (one was created or revoked); it names none. Sent so that every number is delivered. */
  | { type: 'keys_changed'; seq: number }
  /** A PermissionRequest is held, waiting for a decision. */
  | { type: 'approval_requested'; seq: number; approval: Approval }
  /** An approval left `pending`: allowed, denied, expired or answered in the terminal. */
  | { type: 'approval_decided'; seq: number; approval: Approval };

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
    case 'keys_changed':
      return { type: 'keys_changed', seq: change.seq };
    case 'approval_requested':
    case 'approval_decided':
      return { type: change.kind, seq: change.seq, approval: change.approval };
  }
}

/**
 * The message of a large change as the parts of its JSON text, which joined are the bytes hub.ts's frameFor() would
 * give: strings, and in between the slices of its large values.
 */
export function largeMessageParts(change: LargeChange): (string | SlicedText)[] {
  if (change.kind === 'event') return [`{"type":"event","seq":${change.seq},"data":`, change.eventJson, '}'];
  // As JSON.stringify(messageFor(change)) writes it (no spaces, keys in order), each large field's JSON in
  // place of its value: that JSON is PostgreSQL's, whose escapes are JSON.stringify's.
  const large = new Map(change.largeFields);
  const parts: (string | SlicedText)[] = [];
  let text = `{"type":${JSON.stringify(change.kind)},"seq":${change.seq},"session":{`;
  let first = true;
  for (const [key, value] of Object.entries(change.session)) {
    if (value === undefined) continue;
    text += `${first ? '' : ','}${JSON.stringify(key)}:`;
    first = false;
    const json = large.get(key as keyof typeof change.session);
    if (json) {
      parts.push(text, json);
      text = '';
    } else {
      text += JSON.stringify(value);
    }
  }
  parts.push(`${text}}}`);
  return parts;
}
