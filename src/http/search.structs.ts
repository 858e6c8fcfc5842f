import { boolean, enums, optional, type, type Infer } from 'superstruct';
import { boundedText, fromString, Name, SessionId, Text } from '../structs/fields';
import { documented } from '../structs/schema';
import { QueryInt } from './sessions.structs';

export const DEFAULT_SEARCH_LIMIT = 50;

export const EventSearchQuery = type({
  /** What to find in events' text: prompts, messages, tool input and output, errors. */
  q: boundedText(1, 200),
  event_type: optional(Name),
  tool_name: optional(Name),
  /** `true`: only events that report a failure (an error or a non-zero exit code). */
  failed: optional(
    documented(
      fromString(boolean(), (value) => (value === 'true' ? true : value === 'false' ? false : value)),
      { type: 'boolean' },
    ),
  ),
  project_dir: optional(Text),
  session_id: optional(SessionId),
  limit: optional(QueryInt(1, 200)),
  /** `next_cursor` of the previous page. */
  cursor: optional(QueryInt(1, Number.MAX_SAFE_INTEGER)),
});
export type EventSearchQuery = Infer<typeof EventSearchQuery>;

export const ExportQuery = type({
  /** `json`: the session and its events as one document; `ndjson`: one event per line. */
  format: optional(enums(['json', 'ndjson'])),
});
export type ExportQuery = Infer<typeof ExportQuery>;
