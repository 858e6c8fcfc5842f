import { randomUUID } from 'node:crypto';
import { sessionPath } from './support/http';
import { useInstance } from './support/instance';
import { useTestDatabase } from './support/testDatabase';

const database = useTestDatabase();
const server = useInstance(database, { approvalHoldSeconds: 1 });
const api = server.api;

const HOOKS = '/hooks/claude-code';
const BASE = Date.parse('2026-03-01T10:00:00.000Z');

/** Posts each hook (with its time in seconds after BASE), then sets the stored events' times to those. */
async function run(id: string, hooks: [number, Record<string, unknown>][]): Promise<void> {
  for (const [, hook] of hooks) {
    const reply = await api.post(HOOKS, { session_id: id, cwd: '/tmp/summary', transcript_path: '/tmp/t.jsonl', ...hook });
    expect(reply.status).toBe(200);
  }
  // The events in id order are the hooks in order: each gets its time.
  const { rows } = await database.query<{ id: string }>('select id from events where session_id = $1 order by id', [id]);
  expect(rows).toHaveLength(hooks.length);
  await database.query(`update events e set timestamp = t.at from unnest($1::bigint[], $2::timestamptz[]) t(id, at) where e.id = t.id`, [
    rows.map((row) => row.id),
    hooks.map(([seconds]) => new Date(BASE + seconds * 1000).toISOString()),
  ]);
}

const summary = async (id: string) => {
  const reply = await api.get(sessionPath(id, '/summary'));
  expect(reply.status).toBe(200);
  return reply.body;
};

const at = (seconds: number) => new Date(BASE + seconds * 1000).toISOString();

describe('GET /sessions/{id}/summary', () => {
  it('when the session is unknown, then 404', async () => {
    expect((await api.get(sessionPath('no-such-session', '/summary'))).status).toBe(404);
  });

  it('when a finished session has a tool call without post_tool, then it is interrupted, never running; a turn ends at its Stop, not at the idle_prompt 60 s later', async () => {
    const id = randomUUID();
    await run(id, [
      [0, { hook_event_name: 'UserPromptSubmit', prompt_id: 'p1', prompt: 'go' }],
      [1, { hook_event_name: 'PreToolUse', prompt_id: 'p1', tool_use_id: 'toolu_ok', tool_name: 'Bash', tool_input: { command: 'true' } }],
      [3, { hook_event_name: 'PostToolUse', prompt_id: 'p1', tool_use_id: 'toolu_ok', tool_name: 'Bash', tool_input: { command: 'true' }, tool_response: { stdout: '' } }],
      [4, { hook_event_name: 'PreToolUse', prompt_id: 'p1', tool_use_id: 'toolu_bad', tool_name: 'Bash', tool_input: { command: 'false' } }],
      [5, { hook_event_name: 'PostToolUseFailure', prompt_id: 'p1', tool_use_id: 'toolu_bad', tool_name: 'Bash', tool_input: { command: 'false' }, error: 'Exit code 1' }],
      [6, { hook_event_name: 'PreToolUse', prompt_id: 'p1', tool_use_id: 'toolu_lost', tool_name: 'Bash', tool_input: { command: 'sleep 9' } }],
      [45, { hook_event_name: 'Stop', prompt_id: 'p1', last_assistant_message: 'done' }],
      [105, { hook_event_name: 'Notification', prompt_id: 'p1', notification_type: 'idle_prompt', message: 'Claude is waiting for your input' }],
      [110, { hook_event_name: 'SessionEnd', prompt_id: 'p1', reason: 'other' }],
    ]);
    const body = await summary(id);
    expect(body).toMatchObject({ session_id: id, first_at: at(0), last_at: at(110), truncated: false });
    const events = (await api.get(sessionPath(id, '/events'))).body.events as any[];
    const idOf = (type: string, toolUseId: string) => events.find((e) => e.event_type === type && e.tool_use_id === toolUseId).id;
    expect(body.tool_calls).toEqual([
      {
        tool_use_id: 'toolu_ok',
        tool_name: 'Bash',
        agent_id: null,
        pre_id: idOf('pre_tool', 'toolu_ok'),
        post_id: idOf('post_tool', 'toolu_ok'),
        state: 'succeeded',
        started_at: at(1),
        ended_at: at(3),
        duration_ms: 2000,
        error: null,
      },
      {
        tool_use_id: 'toolu_bad',
        tool_name: 'Bash',
        agent_id: null,
        pre_id: idOf('pre_tool', 'toolu_bad'),
        post_id: idOf('post_tool', 'toolu_bad'),
        state: 'failed',
        started_at: at(4),
        ended_at: at(5),
        duration_ms: 1000,
        error: 'Exit code 1',
      },
      {
        tool_use_id: 'toolu_lost',
        tool_name: 'Bash',
        agent_id: null,
        pre_id: idOf('pre_tool', 'toolu_lost'),
        post_id: null,
        state: 'interrupted',
        started_at: at(6),
        ended_at: at(45),
        duration_ms: 39000,
        error: null,
      },
    ]);
    const stop = events.find((e) => e.event_type === 'message' && e.role === 'assistant');
    expect(body.turns).toEqual([{ prompt_id: 'p1', started_at: at(0), ended_at: at(45), state: 'ended', working_ms: 45000, waiting_ms: 0, stop_event_id: stop.id }]);
  });

  it('when a tool call was refused before it ran, then it is refused with the refusal as its error', async () => {
    const id = randomUUID();
    await run(id, [
      [0, { hook_event_name: 'UserPromptSubmit', prompt_id: 'p1', prompt: 'write it' }],
      [1, { hook_event_name: 'PreToolUse', prompt_id: 'p1', tool_use_id: 'toolu_no', tool_name: 'Write', tool_input: { file_path: '/etc/x', content: 'x' } }],
    ]);
    // As the hook command sends what the transcript shows: a tool_use whose tool_result is an error and no PostToolUse.
    await server.instance.service.store.hooks.record({
      sessionId: id,
      session: { session_name: 'x', project_dir: null },
      event: {
        event_type: 'tool_refused',
        event_id: 'cc:transcript:u1:0',
        tool_use_id: 'toolu_no',
        prompt_id: 'p1',
        tool_name: 'Write',
        tool_input: { file_path: '/etc/x', content: 'x' },
        error: 'Permission to use Write has been denied.',
        timestamp: at(2),
      },
      effect: null,
    });
    const body = await summary(id);
    expect(body.tool_calls).toEqual([
      expect.objectContaining({
        tool_use_id: 'toolu_no',
        tool_name: 'Write',
        state: 'refused',
        ended_at: at(2),
        duration_ms: 1000,
        error: 'Permission to use Write has been denied.',
      }),
    ]);
    expect(body.tool_calls[0].post_id).toEqual(expect.any(Number));
    // The session runs and its turn has not stopped: the turn is running.
    expect(body.turns).toEqual([expect.objectContaining({ prompt_id: 'p1', state: 'running', ended_at: null, stop_event_id: null })]);
  });

  it('when a turn waited for a permission, then waiting_ms runs from the permission_request to the next event of the turn, and working_ms is the rest', async () => {
    const id = randomUUID();
    const write = { tool_use_id: 'toolu_w', tool_name: 'Write', tool_input: { file_path: '/tmp/a', content: 'a' } };
    await run(id, [
      [0, { hook_event_name: 'UserPromptSubmit', prompt_id: 'p1', prompt: 'write a' }],
      [2, { hook_event_name: 'PreToolUse', prompt_id: 'p1', ...write }],
      [3, { hook_event_name: 'PermissionRequest', prompt_id: 'p1', tool_name: 'Write', tool_input: write.tool_input }],
      [9, { hook_event_name: 'Notification', prompt_id: 'p1', notification_type: 'permission_prompt', message: 'Claude needs your permission to use Write' }],
      [23, { hook_event_name: 'PostToolUse', prompt_id: 'p1', ...write, tool_response: { type: 'create' } }],
      [25, { hook_event_name: 'Stop', prompt_id: 'p1', last_assistant_message: 'written' }],
      [30, { hook_event_name: 'UserPromptSubmit', prompt_id: 'p2', prompt: 'again' }],
      [31, { hook_event_name: 'StopFailure', prompt_id: 'p2', error: 'rate_limit' }],
    ]);
    const body = await summary(id);
    expect(body.turns).toEqual([
      expect.objectContaining({ prompt_id: 'p1', started_at: at(0), ended_at: at(25), state: 'ended', waiting_ms: 20000, working_ms: 5000 }),
      expect.objectContaining({ prompt_id: 'p2', started_at: at(30), ended_at: at(31), state: 'failed', waiting_ms: 0, working_ms: 1000 }),
    ]);
    expect(body.tool_calls).toEqual([expect.objectContaining({ tool_use_id: 'toolu_w', state: 'succeeded', duration_ms: 21000 })]);
  });

  it('when a running turn waits for a permission now, then the call is running and the wait counts to now', async () => {
    const id = randomUUID();
    await run(id, [
      [0, { hook_event_name: 'UserPromptSubmit', prompt_id: 'p1', prompt: 'go' }],
      [1, { hook_event_name: 'PreToolUse', prompt_id: 'p1', tool_use_id: 'toolu_r', tool_name: 'Bash', tool_input: { command: 'rm x' } }],
      [2, { hook_event_name: 'PermissionRequest', prompt_id: 'p1', tool_name: 'Bash', tool_input: { command: 'rm x' } }],
    ]);
    const body = await summary(id);
    expect(body.tool_calls).toEqual([expect.objectContaining({ tool_use_id: 'toolu_r', state: 'running', ended_at: null, duration_ms: null })]);
    const [turn] = body.turns;
    expect(turn).toMatchObject({ state: 'running', ended_at: null, working_ms: 2000 });
    expect(turn.waiting_ms).toBeGreaterThan(Date.now() - BASE - 2000 - 60_000);
  });

  it('when a session has more tool calls or turns than kept, then the newest are kept and truncated says so', async () => {
    const id = randomUUID();
    const hooks: [number, Record<string, unknown>][] = [];
    for (let i = 0; i < 5; i++) {
      hooks.push([i * 10, { hook_event_name: 'UserPromptSubmit', prompt_id: `p${i}`, prompt: `n${i}` }]);
      hooks.push([i * 10 + 1, { hook_event_name: 'PreToolUse', prompt_id: `p${i}`, tool_use_id: `t${i}`, tool_name: 'Bash', tool_input: { command: 'true' } }]);
      hooks.push([i * 10 + 2, { hook_event_name: 'Stop', prompt_id: `p${i}`, last_assistant_message: 'ok' }]);
    }
    await run(id, hooks);
    const kept = await server.instance.service.store.summary.get(id, { toolCalls: 2, turns: 3 });
    expect(kept!.truncated).toBe(true);
    expect(kept!.tool_calls.map((call) => [call.tool_use_id, call.state])).toEqual([
      ['t3', 'interrupted'],
      ['t4', 'interrupted'],
    ]);
    expect(kept!.turns.map((turn) => turn.prompt_id)).toEqual(['p2', 'p3', 'p4']);
    expect((await summary(id)).truncated).toBe(false);
  });
});
