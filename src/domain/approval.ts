/** A PermissionRequest of Claude Code, held while a person decides (REST and WebSocket share this shape). */
export interface Approval {
  id: number;
  session_id: string;
  tool_name: string;
  tool_input: unknown;
  /** The tool_use_id of the PreToolUse it follows (matched by tool and input); null when none matched. */
  tool_use_id: string | null;
  /** As Claude Code sent them: what "allow for this session" adds (`updatedPermissions`). */
  permission_suggestions: unknown[] | null;
  state: ApprovalState;
  /** For `allowed`: `once`, or `session` (the suggestions were applied). */
  scope: ApprovalScope | null;
  /** For `denied`: told to Claude. For `expired`: why (hold ended, connection closed, shutdown). */
  reason: string | null;
  /** The name of the key that decided (never the secret); null when no key is required, or nobody decided. */
  decided_by: string | null;
  requested_at: string;
  decided_at: string | null;
}

export type ApprovalState = 'pending' | 'allowed' | 'denied' | 'expired' | 'answered_in_terminal';
export type ApprovalScope = 'once' | 'session';
export const APPROVAL_STATES: readonly ApprovalState[] = ['pending', 'allowed', 'denied', 'expired', 'answered_in_terminal'];

/** A person's decision on a pending approval. */
export interface Decision {
  decision: 'allow' | 'deny';
  reason?: string;
  scope?: ApprovalScope;
}
