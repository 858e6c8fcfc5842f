import { enums, optional, type, type Infer } from 'superstruct';
import { Text } from '../structs/fields';

/** GET /usage: the list's filters (GET /sessions's names; `agent` and `project` too, for agent_name and project_dir). */
export const UsageQuery = type({
  status: optional(enums(['running', 'idle', 'finished'])),
  outcome: optional(enums(['failed', 'succeeded', 'none'])),
  agent_name: optional(Text),
  agent: optional(Text),
  project_dir: optional(Text),
  project: optional(Text),
  q: optional(Text),
});
export type UsageQuery = Infer<typeof UsageQuery>;
