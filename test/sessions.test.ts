import { sessionPath } from './support/http';
import { useInstance } from './support/instance';
import { useTestDatabase } from './support/testDatabase';

const database = useTestDatabase();
const server = useInstance(database);
const api = server.api;

describe('POST /sessions', () => {
  it('creates a running session with all its metadata', async () => {
    const reply = await api.post('/sessions', { session_id: 'create-1', session_name: 'one', project_dir: '/tmp', agent_name: 'researcher' });
    expect(reply.status).toBe(201);
    expect(reply.body).toEqual({
      ok: true,
      session: {
        session_id: 'create-1',
        session_name: 'one',
        status: 'running',
        outcome: null,
        created_at: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/),
        project_dir: '/tmp',
        agent_name: 'researcher',
        last_resumed_at: null,
        event_count: 0,
        last_event_at: null,
        source: null,
        usage: null,
        waiting_for: null,
        waiting_since: null,
        waiting_tool: null,
        budget_usd: null,
        failed_tool_count: 0,
        transcript_read: false,
        requests_missing: null,
        telemetry_missing: false,
      },
    });
    expect(Math.abs(Date.parse(reply.body.session.created_at) - Date.now())).toBeLessThan(60_000);
  });

  it('when the id exists, then 409 and the stored session is unchanged', async () => {
    await api.post('/sessions', { session_id: 'dup-1', session_name: 'first' });
    const reply = await api.post('/sessions', { session_id: 'dup-1', session_name: 'second' });
    expect(reply.status).toBe(409);
    expect(reply.body).toEqual({ detail: 'Session already exists' });
    expect((await api.get(sessionPath('dup-1'))).body.session.session_name).toBe('first');
  });

  it('when many create the same id at once, then exactly one gets 201 and the rest 409', async () => {
    const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => api.post('/sessions', { session_id: 'race-1', session_name: `racer ${i}` })));
    const statuses = replies.map((reply) => reply.status).sort();
    expect(statuses.filter((status) => status === 201)).toHaveLength(1);
    expect(statuses.filter((status) => status === 409)).toHaveLength(19);
  });

  it('when fields are missing or wrong, then 422 names each of them', async () => {
    const reply = await api.post('/sessions', { session_id: 42, project_dir: ['x'] });
    expect(reply.status).toBe(422);
    expect(reply.body.detail).toEqual(
      expect.arrayContaining([
        { loc: ['body', 'session_id'], msg: expect.any(String), type: 'string_type' },
        { loc: ['body', 'session_name'], msg: 'Field required', type: 'missing' },
        { loc: ['body', 'project_dir'], msg: expect.any(String), type: expect.any(String) },
      ]),
    );
    expect(reply.body.detail).toHaveLength(3);
  });

  it.each([
    ['an empty id', { session_id: '', session_name: 'x' }, 'session_id'],
    ['an id over 256 characters', { session_id: 'x'.repeat(257), session_name: 'x' }, 'session_id'],
    ['an empty name', { session_id: 'ok', session_name: '' }, 'session_name'],
    ['U+0000 in the name', { session_id: 'ok', session_name: 'a\u0000b' }, 'session_name'],
    ['an unpaired surrogate in the project folder', { session_id: 'ok', session_name: 'x', project_dir: '\ud800' }, 'project_dir'],
  ])('when given %s, then 422 names that field and nothing is stored', async (_label, body, field) => {
    const reply = await api.post('/sessions', body);
    expect(reply.status).toBe(422);
    expect(reply.body.detail.map((failure: { loc: string[] }) => failure.loc)).toEqual([['body', field]]);
    expect((await api.get('/sessions/ok/status')).body.status).toBe('not_existent');
  });

  it('accepts an id of exactly 256 characters and any characters, percent-encoded in paths', async () => {
    for (const id of ['a/b c%d?e#f', '🚀 émoji', 'x'.repeat(256), 'dots..and/./slashes', 'semi;colon&amp=1', '100%']) {
      expect((await api.post('/sessions', { session_id: id, session_name: 'odd' })).status).toBe(201);
      const reply = await api.get(sessionPath(id));
      expect(reply.status).toBe(200);
      expect(reply.body.session.session_id).toBe(id);
    }
  });

  it('ignores unknown fields', async () => {
    const reply = await api.post('/sessions', { session_id: 'extra-1', session_name: 'x', colour: 'blue' });
    expect(reply.status).toBe(201);
    expect(reply.body.session).not.toHaveProperty('colour');
  });
});

describe('GET /sessions', () => {
  it('lists sessions newest first, each with every key', async () => {
    for (const id of ['order-a', 'order-b', 'order-c']) await api.post('/sessions', { session_id: id, session_name: id });
    const reply = await api.get('/sessions');
    expect(reply.status).toBe(200);
    const ids = reply.body.sessions.map((s: { session_id: string }) => s.session_id);
    expect(ids.indexOf('order-c')).toBeLessThan(ids.indexOf('order-b'));
    expect(ids.indexOf('order-b')).toBeLessThan(ids.indexOf('order-a'));
    for (const session of reply.body.sessions) {
      expect(Object.keys(session).sort()).toEqual(
        [
          'agent_name',
          'created_at',
          'last_resumed_at',
          'project_dir',
          'session_id',
          'session_name',
          'status',
          'event_count',
          'last_event_at',
          'source',
          'usage',
          'outcome',
          'waiting_for',
          'waiting_since',
          'waiting_tool',
          'budget_usd',
          'failed_tool_count',
          'transcript_read',
          'requests_missing',
          'telemetry_missing',
        ].sort(),
      );
    }
  });

  it('filters by status and limits the count', async () => {
    await api.post('/sessions', { session_id: 'done-1', session_name: 'x' });
    await api.post(sessionPath('done-1', '/events'), { event_type: 'session_stop' });
    const finished = await api.get('/sessions?status=finished');
    expect(finished.body.sessions.map((s: { session_id: string }) => s.session_id)).toContain('done-1');
    expect(finished.body.sessions.every((s: { status: string }) => s.status === 'finished')).toBe(true);
    expect((await api.get('/sessions?limit=2')).body.sessions).toHaveLength(2);
  });

  it.each([['status=gone'], ['limit=0'], ['limit=1001'], ['limit=abc']])('when the query is %s, then 422', async (query) => {
    const reply = await api.get(`/sessions?${query}`);
    expect(reply.status).toBe(422);
    expect(reply.body.detail[0].loc[0]).toBe('query');
  });
});

describe('GET /sessions/{id} and /status', () => {
  it('when the session does not exist, then 404 and status not_existent', async () => {
    expect(await api.get('/sessions/nobody')).toMatchObject({ status: 404, body: { detail: 'Session not found' } });
    expect(await api.get('/sessions/nobody/status')).toMatchObject({ status: 200, body: { status: 'not_existent' } });
  });

  it('reports running, then finished after a session_stop event', async () => {
    await api.post('/sessions', { session_id: 'status-1', session_name: 'x' });
    expect((await api.get('/sessions/status-1/status')).body).toEqual({ status: 'running' });
    await api.post('/sessions/status-1/events', { event_type: 'session_stop', exit_code: 0, reason: 'done' });
    expect((await api.get('/sessions/status-1/status')).body).toEqual({ status: 'finished' });
  });
});

describe('GET /sessions/{id}/result', () => {
  const message = (text: string, role = 'assistant') => ({ event_type: 'message', role, content: [{ type: 'text', text }] });

  it('walks the contract: 400 while running, then the first text block of the latest assistant message', async () => {
    await api.post('/sessions', { session_id: 'result-1', session_name: 'x' });
    await api.post('/sessions/result-1/events', message('first answer'));
    expect(await api.get('/sessions/result-1/result')).toMatchObject({ status: 400, body: { detail: 'Session not finished' } });
    await api.post('/sessions/result-1/events', {
      event_type: 'message',
      role: 'assistant',
      content: [
        { type: 'tool_use', name: 'x' },
        { type: 'text', text: 'Hello' },
        { type: 'text', text: 'later block' },
      ],
    });
    await api.post('/sessions/result-1/events', message('a question from the user', 'user'));
    await api.post('/sessions/result-1/events', { event_type: 'session_stop' });
    expect(await api.get('/sessions/result-1/result')).toMatchObject({ status: 200, body: { result: 'Hello' } });
  });

  it('when a finished session has no assistant text, then 404 No result found', async () => {
    await api.post('/sessions', { session_id: 'result-2', session_name: 'x' });
    await api.post('/sessions/result-2/events', message('only the user spoke', 'user'));
    await api.post('/sessions/result-2/events', { event_type: 'session_stop' });
    expect(await api.get('/sessions/result-2/result')).toMatchObject({ status: 404, body: { detail: 'No result found' } });
  });

  it('when the session does not exist, then 404 Session not found', async () => {
    expect(await api.get('/sessions/nobody/result')).toMatchObject({ status: 404, body: { detail: 'Session not found' } });
  });

  it('returns text holding U+0000 exactly', async () => {
    await api.post('/sessions', { session_id: 'result-3', session_name: 'x' });
    await api.post('/sessions/result-3/events', message('nul \u0000 inside'));
    await api.post('/sessions/result-3/events', { event_type: 'session_stop' });
    expect((await api.get('/sessions/result-3/result')).body).toEqual({ result: 'nul \u0000 inside' });
  });
});

describe('PATCH /sessions/{id}', () => {
  it('changes the given fields, clears fields set to null, and leaves the rest', async () => {
    await api.post('/sessions', { session_id: 'patch-1', session_name: 'old', project_dir: '/a', agent_name: 'agent' });
    const reply = await api.patch('/sessions/patch-1', { session_name: 'new', project_dir: null });
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ ok: true, session: { session_name: 'new', project_dir: null, agent_name: 'agent' } });
  });

  it('setting last_resumed_at makes a finished session running again', async () => {
    await api.post('/sessions', { session_id: 'resume-1', session_name: 'x' });
    await api.post('/sessions/resume-1/events', { event_type: 'session_stop' });
    const reply = await api.patch('/sessions/resume-1', { last_resumed_at: '2025-01-02T03:04:05Z' });
    expect(reply.body.session).toMatchObject({ status: 'running', last_resumed_at: '2025-01-02T03:04:05.000Z' });
  });

  it('when the session does not exist, then 404; when a field is bad, then 422 and nothing changes', async () => {
    expect(await api.patch('/sessions/nobody', { agent_name: 'x' })).toMatchObject({ status: 404, body: { detail: 'Session not found' } });
    await api.post('/sessions', { session_id: 'patch-2', session_name: 'keep' });
    const reply = await api.patch('/sessions/patch-2', { session_name: null, last_resumed_at: 'yesterday', agent_name: 'a' });
    expect(reply.status).toBe(422);
    expect(reply.body.detail.map((failure: { loc: string[] }) => failure.loc)).toEqual([
      ['body', 'session_name'],
      ['body', 'last_resumed_at'],
    ]);
    expect((await api.get('/sessions/patch-2')).body.session).toMatchObject({ session_name: 'keep', agent_name: null });
  });
});

describe('DELETE /sessions/{id}', () => {
  it('deletes the session and its events and says how many events went', async () => {
    await api.post('/sessions', { session_id: 'delete-1', session_name: 'x' });
    for (let i = 0; i < 6; i++) await api.post('/sessions/delete-1/events', { event_type: 'message', role: 'user' });
    const reply = await api.delete('/sessions/delete-1');
    expect(reply).toMatchObject({ status: 200, body: { ok: true, session_id: 'delete-1', deleted: { session: true, events_count: 6 } } });
    expect((await api.get('/sessions/delete-1')).status).toBe(404);
    expect((await api.get('/sessions/delete-1/events')).status).toBe(404);
    expect((await api.delete('/sessions/delete-1')).status).toBe(404);
  });
});
