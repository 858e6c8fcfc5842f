import { array, optional, record, refine, size, string, type, unknown, type Infer } from 'superstruct';
import { jsonProblem, MAX_JSON_DEPTH, SessionId } from '../structs/fields';

// A hook input is an object holding payloads (tool_input, tool_response) that nest as event fields may.
const HOOK_INPUT_DEPTH = MAX_JSON_DEPTH + 2;

/**
 * POST /hooks/claude-code: any Claude Code hook input, as the CLI sends it. Only `session_id` is required;
 * every other field, known or not, is kept.
 */
export const ClaudeCodeHookBody = refine(type({ session_id: SessionId, hook_event_name: optional(unknown()) }), 'json', (value) => jsonProblem(value, HOOK_INPUT_DEPTH) ?? true);
export type ClaudeCodeHookBody = Infer<typeof ClaudeCodeHookBody>;

/** A PermissionRequest: the tool and its input, and what "always allow" would add. */
export const PermissionRequestBody = type({
  tool_name: size(string(), 1, 256),
  tool_input: record(string(), unknown()),
  permission_suggestions: optional(array(unknown())),
});
