import { sessionPath } from '../support/http';
import { useInstance } from '../support/instance';
import { useTestDatabase } from '../support/testDatabase';

// Issue 24, case 1: deeply nested JSON in a 10 KB body must be a 4xx naming the problem, never a 500
// (the stack overflowed while the validation message was built).
const database = useTestDatabase();
const server = useInstance(database);
const api = server.api;

const deep = (levels: number) => '['.repeat(levels) + ']'.repeat(levels);
const detailOf = (body: any) => JSON.stringify(body?.detail ?? body);

describe('hostile: nesting', () => {
  beforeAll(async () => {
    expect((await api.post('/sessions', { session_id: 'nest', session_name: 'nest' })).status).toBe(201);
  });

  const cases: [string, string, string][] = [
    ['POST /sessions session_id', 'POST', '/sessions'],
    ['PATCH /sessions/{id} agent_name', 'PATCH', sessionPath('nest')],
    ['PATCH /sessions/{id}/metadata project_dir', 'PATCH', sessionPath('nest', '/metadata')],
    ['POST /sessions/{id}/events tool_input', 'POST', sessionPath('nest', '/events')],
    ['POST /sessions/{id}/events/batch events', 'POST', sessionPath('nest', '/events/batch')],
    ['POST /events (legacy) session_id', 'POST', '/events'],
    ['POST /hooks/claude-code tool_input', 'POST', '/hooks/claude-code'],
  ].map(([name, method, path]) => [name!, method!, path!]);

  it.each(cases)('%s: 5,000 levels inside a typed field is a 4xx naming the depth', async (_name, method, path) => {
    const field = path.endsWith('/batch')
      ? 'events'
      : path.includes('/events') || path.includes('hooks')
        ? 'tool_input'
        : path.endsWith('metadata')
          ? 'project_dir'
          : method === 'PATCH'
            ? 'agent_name'
            : 'session_id';
    const prefix = path.includes('hooks') ? '"session_id":"nest","hook_event_name":"PreToolUse",' : path === '/events' ? '"event_type":"x",' : '';
    const rest = method === 'PATCH' ? '' : field === 'session_id' ? ',"session_name":"x","event_type":"x"' : ',"event_type":"x"';
    const body = `{${prefix}"${field}":${deep(5000)}${rest}}`;
    expect(body.length).toBeLessThan(11_000);
    const reply = await api.send(method, path, body);
    expect([400, 422]).toContain(reply.status);
    expect(detailOf(reply.body)).toMatch(/nest|deep|depth/i);
  });

  it('a top-level array 100,000 levels deep is a 400 naming the depth', async () => {
    const reply = await api.post('/sessions', deep(100_000));
    expect(reply.status).toBe(400);
    expect(detailOf(reply.body)).toMatch(/nest|deep|depth/i);
  });

  it('an object 100,000 levels deep through the hooks route is a 400', async () => {
    const body = '{"session_id":"nest","tool_input":' + '{"a":'.repeat(100_000) + '1' + '}'.repeat(100_000) + '}';
    const reply = await api.post('/hooks/claude-code', body);
    expect(reply.status).toBe(400);
  });

  it('the instance still answers, and nothing was stored by the refused requests', async () => {
    expect((await api.get('/health')).status).toBe(200);
    const events = (await api.get(sessionPath('nest', '/events'))).body.events;
    expect(events).toEqual([]);
    expect((await api.get(sessionPath('nest'))).body.session.session_name).toBe('nest');
  });

  it('nesting within the bounds is still stored and read back exactly', async () => {
    let value: unknown = 'leaf';
    for (let i = 0; i < 60; i++) value = { a: value };
    const reply = await api.post(sessionPath('nest', '/events'), { event_type: 'deep', tool_input: value });
    expect(reply.status).toBe(201);
    const [event] = (await api.get(sessionPath('nest', '/events'))).body.events;
    expect(event.tool_input).toEqual(value);
  });
});
