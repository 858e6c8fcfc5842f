/** An event as stored, in the one shape REST and WebSocket share. */
export interface Event {
  id: number;
  session_id: string;
  session_name: string | null;
  event_type: string;
  timestamp: string;
  tool_name: string | null;
  tool_input: unknown;
  tool_output: unknown;
  error: string | null;
  exit_code: number | null;
  reason: string | null;
  role: string | null;
  content: unknown;
  event_id: string | null;
  /** Claude Code's ids, which tie a tool call to its result, a turn's events together, and a subagent's events. */
  tool_use_id: string | null;
  prompt_id: string | null;
  agent_id: string | null;
  duration_ms: number | null;
  /** A Claude Code hook's input as sent, minus the fields stored in the columns above. */
  hook_input: unknown;
  /** When the server stored it; `timestamp` is when it was captured (the hook command's X-Captured-At, or a transcript entry's time). */
  received_at: string;
}

/** An event as a writer hands it to the store, validated: the fields of an Event it sets. Absent or null: the default. */
export type NewEvent = Pick<Event, 'event_type'> & { [Field in Exclude<keyof Event, 'id' | 'session_id' | 'event_type' | 'received_at'>]?: Event[Field] | null };
