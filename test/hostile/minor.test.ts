import { randomUUID } from 'node:crypto';
import { sessionPath } from '../support/http';
import { useInstance } from '../support/instance';
import { useTestDatabase } from '../support/testDatabase';

// Issue 24, case 8: the minor points. What the columns hold for odd hook values is documented in docs/api.md
// (Claude Code hooks: what is kept as sent); these tests pin it, and the raw hook input keeps what was sent.
const database = useTestDatabase();
const server = useInstance(database);
const api = server.api;

describe('hostile: minor points', () => {
  it('every API answer carries X-Content-Type-Options: nosniff, errors and OTLP included', async () => {
    const id = `minor-${randomUUID()}`;
    const replies = [
      await api.post('/sessions', { session_id: id, session_name: id }),
      await api.get('/sessions'),
      await api.get('/sessions?limit=1'),
      await api.get(sessionPath(id)),
      await api.get(sessionPath('nobody-has-this')),
      await api.post('/sessions', { session_id: '' }),
      await api.post('/sessions', '{"broken'),
      await api.get('/health'),
      await api.get('/no/such/route'),
      await api.post('/hooks/claude-code', { session_id: id, hook_event_name: 'Stop' }),
      await api.send('POST', '/v1/logs', '{}', { 'content-type': 'application/json' }),
      await api.send('POST', '/v1/logs', 'x', { 'content-type': 'text/plain' }),
    ];
    for (const reply of replies) expect(reply.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('a NUL in tool_name: the column holds U+FFFD, the raw hook input the NUL', async () => {
    const id = `minor-${randomUUID()}`;
    expect((await api.post('/hooks/claude-code', { session_id: id, hook_event_name: 'PreToolUse', tool_use_id: 't1', tool_name: 'Ba\u0000sh' })).status).toBe(200);
    const [event] = (await api.get(sessionPath(id, '/events'))).body.events;
    expect(event.tool_name).toBe('Ba\uFFFDsh');
    expect(event.hook_input.tool_name).toBe('Ba\u0000sh');
  });

  it('a non-string tool_use_id: the column is null, the raw hook input keeps the value', async () => {
    const id = `minor-${randomUUID()}`;
    expect((await api.post('/hooks/claude-code', { session_id: id, hook_event_name: 'PreToolUse', tool_use_id: 12345, tool_name: 'Bash' })).status).toBe(200);
    const [event] = (await api.get(sessionPath(id, '/events'))).body.events;
    expect(event.tool_use_id).toBeNull();
    expect(event.hook_input.tool_use_id).toBe(12345);
  });

  it('an object error: the column holds its JSON text, the raw hook input the object', async () => {
    const id = `minor-${randomUUID()}`;
    const error = { code: 'E1', message: 'failed' };
    expect((await api.post('/hooks/claude-code', { session_id: id, hook_event_name: 'PostToolUseFailure', tool_use_id: 't1', tool_name: 'Bash', error })).status).toBe(200);
    const [event] = (await api.get(sessionPath(id, '/events'))).body.events;
    expect(event.error).toBe(JSON.stringify(error));
    expect(event.hook_input.error).toEqual(error);
  });

  it('-0 reads back as 0 (JSON text written by the server has no negative zero)', async () => {
    const id = `minor-${randomUUID()}`;
    expect((await api.post('/sessions', { session_id: id, session_name: id })).status).toBe(201);
    expect((await api.post(sessionPath(id, '/events'), '{"event_type":"z","tool_input":{"x":-0,"y":-0.0}}')).status).toBe(201);
    const [event] = (await api.get(sessionPath(id, '/events'))).body.events;
    expect(event.tool_input).toEqual({ x: 0, y: 0 });
  });
});
