import { array, integer, min, optional, size, type, union, type Infer } from 'superstruct';
import { fromString, SessionId } from '../http/fields';

const Seq = fromString(min(integer(), 0), (value) => (/^\d{1,16}$/.test(value) ? Number(value) : value));

const InitLimit = fromString(size(integer(), 1, 1000), (value) => (/^\d{1,16}$/.test(value) ? Number(value) : value));

/**
 * The query of `/ws`: `since=<seq>` to resume, `session_id=<id>` (repeatable) to follow only those sessions,
 * `init_limit=<n>` for only the newest n sessions in `init`.
 */
export const StreamQuery = type({
  since: optional(Seq),
  init_limit: optional(InitLimit),
  session_id: optional(union([SessionId, array(SessionId)])),
});
export type StreamQuery = Infer<typeof StreamQuery>;
