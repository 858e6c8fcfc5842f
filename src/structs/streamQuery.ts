import { array, integer, min, optional, type, union, type Infer } from 'superstruct';
import { SessionId } from './fields';
import { integerFromText } from './integers';

const Seq = integerFromText(min(integer(), 0));

/** The query of `/ws`: `since=<seq>` to resume, `session_id=<id>` (repeatable) to follow only those sessions. */
export const StreamQuery = type({
  since: optional(Seq),
  session_id: optional(union([SessionId, array(SessionId)])),
});
export type StreamQuery = Infer<typeof StreamQuery>;
