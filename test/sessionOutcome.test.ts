import { recordedHooks } from './support/claudeCodeFixtures';
import { sessionPath } from './support/http';
import { useInstance } from './support/instance';
import { useTestDatabase } from './support/testDatabase';
import { WsClient } from './support/wsClient';

const database = useTestDatabase();
const server = useInstance(database);
const api = server.api;

async function session(id: string): Promise<any> {
  const reply = await api.get(sessionPath(id));
  expect(reply.status).toBe(200);
  return reply.body.session;
}

async function create(id: string): Promise<void> {
  expect((await api.post('/sessions', { session_id: id, session_name: id })).status).toBe(201);
}

async function post(id: string, event: Record<string, unknown>): Promise<void> {
  expect((await api.post(sessionPath(id, '/events'), event)).status).toBe(201);
}

describe('the outcome of a session', () => {
  it('when a session has not stopped, then its outcome is null', async () => {
    await create('outcome-none');
    await post('outcome-none', { event_type: 'message', role: 'user', content: [{ type: 'text', text: 'hi' }] });
    expect(await session('outcome-none')).toMatchObject({ status: 'running', outcome: null });
  });

  it('when a stop has exit code 0 and no error, then it succeeded; a non-zero exit code or an error, then it failed', async () => {
    for (const [id, stop, outcome] of [
      ['outcome-ok', { exit_code: 0 }, 'succeeded'],
      ['outcome-no-code', { reason: 'done' }, 'succeeded'],
      ['outcome-exit-1', { exit_code: 1 }, 'failed'],
      ['outcome-error', { error: 'killed' }, 'failed'],
      ['outcome-negative', { exit_code: -9 }, 'failed'],
    ] as const) {
      await create(id);
      await post(id, { event_type: 'session_stop', ...stop });
      expect(await session(id)).toMatchObject({ status: 'finished', outcome });
    }
  });

  it('when a failed session starts again, then its outcome is null until the next stop', async () => {
    await create('outcome-restart');
    await post('outcome-restart', { event_type: 'session_stop', exit_code: 2 });
    await post('outcome-restart', { event_type: 'session_start' });
    expect(await session('outcome-restart')).toMatchObject({ status: 'running', outcome: null });
    await post('outcome-restart', { event_type: 'session_stop', exit_code: 0 });
    expect(await session('outcome-restart')).toMatchObject({ status: 'finished', outcome: 'succeeded' });
    await api.patch(sessionPath('outcome-restart'), { last_resumed_at: new Date().toISOString() });
    expect(await session('outcome-restart')).toMatchObject({ status: 'running', outcome: null });
  });

  it('when a batch holds a failed stop then a start, then the last of them decides', async () => {
    await create('outcome-batch');
    const reply = await api.post(sessionPath('outcome-batch', '/events/batch'), {
      events: [{ event_type: 'session_stop', exit_code: 1 }, { event_type: 'session_start' }, { event_type: 'session_stop', error: 'out of memory' }],
    });
    expect(reply.status).toBe(201);
    expect(await session('outcome-batch')).toMatchObject({ status: 'finished', outcome: 'failed' });
  });

  it('when listed with outcome=failed, then only failed sessions come, and the outcome is in every listed session', async () => {
    const listed = await api.get('/sessions?outcome=failed');
    expect(listed.status).toBe(200);
    const ids = listed.body.sessions.map((s: any) => s.session_id);
    expect(ids).toEqual(expect.arrayContaining(['outcome-exit-1', 'outcome-error', 'outcome-negative', 'outcome-batch']));
    expect(listed.body.sessions.every((s: any) => s.outcome === 'failed')).toBe(true);
    const paged = await api.get('/sessions?outcome=succeeded&limit=2');
    expect(paged.body.sessions).toHaveLength(2);
    expect(paged.body.sessions.every((s: any) => s.outcome === 'succeeded')).toBe(true);
    const none = await api.get('/sessions?outcome=none');
    expect(none.body.sessions.map((s: any) => s.session_id)).toContain('outcome-none');
    expect(none.body.sessions.every((s: any) => s.outcome === null)).toBe(true);
    expect((await api.get('/sessions?outcome=broken')).status).toBe(422);
  });

  it('when a session fails, then WebSocket clients get a session_updated carrying the outcome', async () => {
    await create('outcome-live');
    const client = await WsClient.connect(server.instance.wsUrl);
    try {
      await post('outcome-live', { event_type: 'session_stop', exit_code: 3 });
      const messages = await client.waitFor((all) => all.some((m) => m.type === 'event' && m.data.session_id === 'outcome-live'));
      const update = messages.find((m) => m.type === 'session_updated' && m.session.session_id === 'outcome-live');
      expect(update?.session).toMatchObject({ status: 'finished', outcome: 'failed' });
    } finally {
      client.socket.close();
    }
  });

  it('when a Claude Code session ends and is prompted again, then its outcome is set, then cleared', async () => {
    const hooks = recordedHooks('tool-call', 'outcome-claude-0000-0000-000000000001');
    for (const hook of hooks) expect((await api.post('/hooks/claude-code', hook)).status).toBe(200);
    expect(await session('outcome-claude-0000-0000-000000000001')).toMatchObject({ status: 'finished', outcome: 'succeeded' });
    const again = { ...hooks[0], prompt_id: 'another-prompt', prompt: 'and once more' };
    expect((await api.post('/hooks/claude-code', again)).status).toBe(200);
    expect(await session('outcome-claude-0000-0000-000000000001')).toMatchObject({ status: 'running', outcome: null });
  });
});
