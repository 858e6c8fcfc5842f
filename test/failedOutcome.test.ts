import { randomUUID } from 'node:crypto';
import { sessionPath } from './support/http';
import { useInstance } from './support/instance';
import { useTestDatabase } from './support/testDatabase';
import { WsClient } from './support/wsClient';

const database = useTestDatabase();
const server = useInstance(database);
const api = server.api;

const HOOKS = '/hooks/claude-code';

async function hook(id: string, body: Record<string, unknown>): Promise<void> {
  const reply = await api.post(HOOKS, { session_id: id, cwd: '/tmp/failed', transcript_path: '/tmp/t.jsonl', ...body });
  expect(reply.status).toBe(200);
}

const session = async (id: string) => (await api.get(sessionPath(id))).body.session;
const stopFailure = { hook_event_name: 'StopFailure', prompt_id: 'p1', error: 'invalid_request', error_details: 'API Error: 400 prompt is too long' };

describe('a Claude Code turn that ends in an error', () => {
  it('when StopFailure comes, then the session is idle and failed; a later SessionEnd keeps it failed; the result is the error; the Failed filter finds it', async () => {
    const id = randomUUID();
    await hook(id, { hook_event_name: 'UserPromptSubmit', prompt_id: 'p1', prompt: 'go' });
    await hook(id, stopFailure);
    expect(await session(id)).toMatchObject({ status: 'idle', outcome: 'failed' });
    const events = (await api.get(sessionPath(id, '/events'))).body.events as any[];
    expect(events[1]).toMatchObject({ event_type: 'stop_failure', error: 'invalid_request: API Error: 400 prompt is too long' });

    expect((await api.get(sessionPath(id, '/result'))).body).toEqual({ result: 'invalid_request: API Error: 400 prompt is too long', failed: true });

    // The idle_prompt Claude Code sends a minute later does not clear it.
    await hook(id, { hook_event_name: 'Notification', prompt_id: 'p1', notification_type: 'idle_prompt', message: 'waiting' });
    expect(await session(id)).toMatchObject({ status: 'idle', outcome: 'failed' });
    await hook(id, { hook_event_name: 'SessionEnd', prompt_id: 'p1', reason: 'other' });
    expect(await session(id)).toMatchObject({ status: 'finished', outcome: 'failed' });
    expect((await api.get(sessionPath(id, '/result'))).body).toEqual({ result: 'invalid_request: API Error: 400 prompt is too long', failed: true });

    const failed = (await api.get('/sessions?outcome=failed')).body.sessions.map((s: any) => s.session_id);
    expect(failed).toContain(id);
    const paged = (await api.get('/sessions?outcome=failed&limit=10')).body.sessions.map((s: any) => s.session_id);
    expect(paged).toContain(id);
    expect((await api.get('/sessions?outcome=succeeded')).body.sessions.map((s: any) => s.session_id)).not.toContain(id);
  });

  it('when a new prompt comes after the StopFailure, then the session runs again with no outcome, and a good turn leaves it idle without one', async () => {
    const id = randomUUID();
    await hook(id, { hook_event_name: 'UserPromptSubmit', prompt_id: 'p1', prompt: 'go' });
    await hook(id, stopFailure);
    await hook(id, { hook_event_name: 'UserPromptSubmit', prompt_id: 'p2', prompt: 'again' });
    expect(await session(id)).toMatchObject({ status: 'running', outcome: null });
    await hook(id, { hook_event_name: 'Stop', prompt_id: 'p2', last_assistant_message: 'fine now' });
    expect(await session(id)).toMatchObject({ status: 'idle', outcome: null });
    expect((await api.get(sessionPath(id, '/result'))).body).toEqual({ result: 'fine now' });
    await hook(id, { hook_event_name: 'SessionEnd', prompt_id: 'p2', reason: 'other' });
    expect(await session(id)).toMatchObject({ status: 'finished', outcome: 'succeeded' });
  });

  it('when StopFailure carries only its kind, then that is the error', async () => {
    const id = randomUUID();
    await hook(id, { hook_event_name: 'UserPromptSubmit', prompt_id: 'p1', prompt: 'go' });
    await hook(id, { hook_event_name: 'StopFailure', prompt_id: 'p1', error: 'rate_limit' });
    expect((await api.get(sessionPath(id, '/result'))).body).toEqual({ result: 'rate_limit', failed: true });
  });
});

describe('failed_tool_count', () => {
  it('counts the failed post_tool events of a session, in GET, the list and the WebSocket session messages', async () => {
    const id = randomUUID();
    const client = await WsClient.connect(server.instance.wsUrl);
    try {
      await hook(id, { hook_event_name: 'UserPromptSubmit', prompt_id: 'p1', prompt: 'go' });
      const bash = (n: number) => ({ prompt_id: 'p1', tool_use_id: `toolu_${n}`, tool_name: 'Bash', tool_input: { command: `c${n}` } });
      await hook(id, { hook_event_name: 'PostToolUse', ...bash(1), tool_response: { stdout: 'ok' } });
      await hook(id, { hook_event_name: 'PostToolUseFailure', ...bash(2), error: 'Exit code 2' });
      expect(await session(id)).toMatchObject({ failed_tool_count: 1 });
      await hook(id, { hook_event_name: 'PostToolUseFailure', ...bash(3), error: 'Exit code 1' });
      expect(await session(id)).toMatchObject({ failed_tool_count: 2 });
      // Delivered twice, a hook counts once.
      await hook(id, { hook_event_name: 'PostToolUseFailure', ...bash(3), error: 'Exit code 1' });
      expect(await session(id)).toMatchObject({ failed_tool_count: 2 });

      const listed = (await api.get('/sessions?limit=50')).body.sessions.find((s: any) => s.session_id === id);
      expect(listed).toMatchObject({ failed_tool_count: 2 });
      const streamed = (await api.get('/sessions')).body.sessions.find((s: any) => s.session_id === id);
      expect(streamed).toMatchObject({ failed_tool_count: 2 });

      const messages = await client.waitFor((all) => all.some((m) => m.type === 'session_updated' && m.session.session_id === id && m.session.failed_tool_count === 2));
      const counts = messages.filter((m) => m.type === 'session_updated' && m.session.session_id === id).map((m) => m.session.failed_tool_count);
      expect(counts).toContain(1);
    } finally {
      client.socket.close();
    }
    // A session made through the original API counts too.
    const other = randomUUID();
    expect((await api.post('/sessions', { session_id: other, session_name: 'api' })).status).toBe(201);
    expect(
      (
        await api.post(sessionPath(other, '/events/batch'), {
          events: [
            { event_type: 'post_tool', exit_code: 1 },
            { event_type: 'post_tool', exit_code: 0 },
            { event_type: 'message', error: 'x' },
          ],
        })
      ).status,
    ).toBe(201);
    expect(await session(other)).toMatchObject({ failed_tool_count: 1 });
  });
});
