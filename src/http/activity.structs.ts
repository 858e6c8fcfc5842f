import { array, coerce, optional, size, string, type, type Infer } from 'superstruct';
import { SessionId } from '../structs/fields';
import { documented } from '../structs/schema';
import { QueryInt } from './sessions.structs';

export const MAX_ACTIVITY_SESSIONS = 200;
export const DEFAULT_ACTIVITY_BUCKETS = 24;

/** `session_id` repeated (one value arrives as text, several as a list), and how many slices of time. */
export const ActivityQuery = type({
  session_id: documented(
    coerce(size(array(SessionId), 1, MAX_ACTIVITY_SESSIONS), string(), (value) => [value]),
    { type: 'array', items: { type: 'string', minLength: 1, maxLength: 256 }, minItems: 1, maxItems: MAX_ACTIVITY_SESSIONS },
  ),
  buckets: optional(QueryInt(1, 100)),
});
export type ActivityQuery = Infer<typeof ActivityQuery>;
