import { array, integer, min, optional, size, type, union, type Infer } from 'superstruct';
import { SessionId } from './fields';
import { integerFromText } from './integers';

const Seq = integerFromText(min(integer(), 0));

const InitLimit = integerFromText(size(integer(), 1, 1000));

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
