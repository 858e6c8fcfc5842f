import { optional, type, type Infer } from 'superstruct';
import { Text } from '../structs/fields';
import { SESSION_FILTERS } from './sessions.structs';

/** GET /usage: the list's filters (GET /sessions's names; `agent` and `project` too, for agent_name and project_dir). */
export const UsageQuery = type({
  ...SESSION_FILTERS,
  agent: optional(Text),
  project: optional(Text),
});
export type UsageQuery = Infer<typeof UsageQuery>;
