import { randomUUID } from 'node:crypto';
import { TURN_END_KEY_PREFIXES, hookEventKey, mapHookInput, projectDirFor, sessionNameFor, type HookInput } from '../src/claudeCode/hookEvents';
import { hookFacts, type TranscriptPart } from '../src/claudeCode/transcriptEvents';
import { recordHooks, type HookEventToStore, type HookToStore } from '../src/store/claudeCode';
import { useTestDatabase } from './support/testDatabase';

const database = useTestDatabase();

/** A hook as the route hands it to the store. */
function hookOf(input: HookInput): HookEventToStore {
  const { event, effect } = mapHookInput(input);
  return {
    sessionId: input.session_id,
    session: { session_name: sessionNameFor(input), project_dir: projectDirFor(input) },
    event: { ...event, event_id: hookEventKey(input, undefined) },
    effect,
  };
}

const withTranscript = (input: HookInput, transcript: TranscriptPart): HookToStore => ({ hook: hookOf(input), transcript, ...hookFacts(input) });
const entry = (fields: Record<string, unknown>) => ({ uuid: randomUUID(), index: 0, timestamp: '2026-01-02T03:04:05.678Z', ...fields }) as TranscriptPart['entries'][number];
const part = (entries: TranscriptPart['entries']): TranscriptPart => ({ entries, requests: [], cost_state: null });

describe('recordHooks: hooks with transcript parts in the group commit', () => {
  it('writes them with the other hooks in one transaction, leaving out what hooks earlier in the batch already stored', async () => {
    const s = randomUUID();
    const other = randomUUID();
    const between = entry({ kind: 'text', text: 'Between the call and the end.', prompt_id: 'p1' });
    const final = entry({ kind: 'text', text: 'All done.', prompt_id: 'p1' });
    const refused = entry({ kind: 'tool_refused', tool_use_id: 'toolu_x', tool_name: 'Bash', tool_input: { command: 'ls' }, text: 'denied' });
    const batch: HookToStore[] = [
      hookOf({ session_id: s, hook_event_name: 'PostToolUse', tool_use_id: 'toolu_x', tool_name: 'Bash', tool_input: { command: 'ls' }, tool_response: { stdout: 'a' } }),
      hookOf({ session_id: s, hook_event_name: 'Stop', prompt_id: 'p1', last_assistant_message: 'All done.' }),
      hookOf({ session_id: other, hook_event_name: 'UserPromptSubmit', prompt: 'hello', prompt_id: 'q1' }),
      // Read after the Stop: its copy of the Stop's text, and the call the PostToolUse reported, stay out.
      withTranscript({ session_id: s, hook_event_name: 'SessionEnd', reason: 'other' }, part([between, final, refused])),
    ];

    const results = await recordHooks(database.pool(), batch);
    expect(results).toEqual([
      { created: true, transcriptEvents: 0 },
      { created: true, transcriptEvents: 0 },
      { created: true, transcriptEvents: 0 },
      { created: true, transcriptEvents: 1 },
    ]);

    const { rows } = await database.query(`select session_id, event_type, content->0->>'text' as text, xmin::text as tx from events where session_id = any($1) order by id`, [
      [s, other],
    ]);
    expect(rows.map((row) => [row.session_id === s ? 's' : 'other', row.event_type, row.text])).toEqual([
      ['s', 'post_tool', null],
      ['s', 'message', 'All done.'],
      ['other', 'message', 'hello'],
      ['s', 'message', 'Between the call and the end.'],
      ['s', 'session_stop', null],
    ]);
    expect(new Set(rows.map((row) => row.tx)).size).toBe(1);
    const { rows: sessions } = await database.query('select status, transcript_read from sessions where session_id = $1', [s]);
    expect(sessions[0]).toEqual({ status: 'finished', transcript_read: true });

    // Sent again (the spool's retry), the whole batch stores nothing more.
    const again = await recordHooks(database.pool(), batch);
    expect(again.every((result) => !result.created && result.transcriptEvents === 0)).toBe(true);
  });
  it('finds turn ends by the keys hookEventKey gives them', () => {
    expect(hookEventKey({ session_id: 's', hook_event_name: 'Stop', prompt_id: 'p1' }, undefined)).toBe(`${TURN_END_KEY_PREFIXES.Stop}p1`);
    expect(hookEventKey({ session_id: 's', hook_event_name: 'StopFailure', prompt_id: 'p1' }, undefined)).toBe(`${TURN_END_KEY_PREFIXES.StopFailure}p1`);
    expect(hookEventKey({ session_id: 's', hook_event_name: 'SubagentStop', agent_id: 'a1', prompt_id: 'p1' }, undefined)).toBe(`${TURN_END_KEY_PREFIXES.SubagentStop}a1`);
  });
});
