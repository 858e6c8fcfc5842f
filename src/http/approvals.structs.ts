import { enums, object, optional, size, string, type, type Infer } from 'superstruct';
import { APPROVAL_STATES } from '../domain/approval';
import { QueryInt } from './sessions.structs';

/** GET /approvals: `state` filters (pending: oldest first across sessions). */
export const ApprovalListQuery = type({
  state: optional(enums([...APPROVAL_STATES])),
  limit: optional(QueryInt(1, 1000)),
});
export type ApprovalListQuery = Infer<typeof ApprovalListQuery>;

export const ApprovalPath = type({ id: QueryInt(1, Number.MAX_SAFE_INTEGER) });

/** POST /approvals/{id}/decision. `reason` is told to Claude on deny; `scope: session` applies the request's permission_suggestions. */
export const ApprovalDecision = object({
  decision: enums(['allow', 'deny']),
  reason: optional(size(string(), 1, 2000)),
  scope: optional(enums(['once', 'session'])),
});
export type ApprovalDecision = Infer<typeof ApprovalDecision>;
