import { sessionPath } from './support/http';
import { useInstance } from './support/instance';
import { useTestDatabase } from './support/testDatabase';

const database = useTestDatabase();
const server = useInstance(database);
const api = server.api;
let counter = 0;

async function newSession(name = 'events'): Promise<string> {
  const id = `${name}-${++counter}`;
  expect((await api.post('/sessions', { session_id: id, session_name: name })).status).toBe(201);
  return id;
}

describe('POST /sessions/{id}/events', () => {
  it('stores the event and answers with it as stored', async () => {
    const id = await newSession('story');
    const reply = await api.post(sessionPath(id, '/events'), {
      event_type: 'message',
      session_id: id,
      session_name: 'story',
      timestamp: '2024-01-01T00:00:00Z',
      role: 'assistant',
      content: [{ type: 'text', text: 'Hello' }],
    });
    expect(reply.status).toBe(201);
    expect(reply.body).toEqual({
      ok: true,
      event: {
        id: expect.any(Number),
        session_id: id,
        session_name: 'story',
        event_type: 'message',
        timestamp: '2024-01-01T00:00:00.000Z',
        tool_name: null,
        tool_input: null,
        tool_output: null,
        error: null,
        exit_code: null,
        reason: null,
        role: 'assistant',
        content: [{ type: 'text', text: 'Hello' }],
        event_id: null,
        tool_use_id: null,
        prompt_id: null,
        agent_id: null,
        duration_ms: null,
        hook_input: null,
        // When it was stored; timestamp is the one it was sent with.
        received_at: expect.stringMatching(/^20\d\d-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      },
    });
  });

  it('fills the session name from the session and the timestamp from the clock when absent', async () => {
    const id = await newSession('named');
    const before = Date.now();
    const { body } = await api.post(sessionPath(id, '/events'), { event_type: 'pre_tool', tool_name: 'Bash', tool_input: { command: 'ls' } });
    expect(body.event.session_name).toBe('named');
    expect(Date.parse(body.event.timestamp)).toBeGreaterThanOrEqual(before - 5_000);
    expect(Date.parse(body.event.timestamp)).toBeLessThanOrEqual(Date.now() + 5_000);
  });

  it('gives values back exactly as sent: {}, "", [], 0, false, U+0000, unpaired surrogates, nested JSON', async () => {
    const id = await newSession('exact');
    const sent = {
      event_type: 'post_tool',
      tool_name: '',
      tool_input: { empty: {}, list: [], zero: 0, no: false, nothing: null, nul: 'a\u0000b', lone: '\ud83d', deep: { a: [{ b: [1, 2.5, -3e-7] }] } },
      tool_output: { stdout: 'line\u0000\u0001\u001f\n', code: 0 },
      error: '',
      exit_code: 0,
      reason: '',
      role: '',
      content: [{}, { type: 'text', text: '\u0000' }],
    };
    const stored = await api.post(sessionPath(id, '/events'), sent);
    expect(stored.status).toBe(201);
    const listed = await api.get(sessionPath(id, '/events'));
    for (const event of [stored.body.event, listed.body.events[0]]) {
      for (const [key, value] of Object.entries(sent)) expect(event[key]).toEqual(value);
    }
  });

  it.each([
    ['a string', 'plain output'],
    ['an array', [1, 'two', { three: 3 }]],
    ['a number', 0],
    ['false', false],
    ['an empty string', ''],
  ])('keeps a tool_output that is %s', async (_label, toolOutput) => {
    const id = await newSession('output');
    const { body } = await api.post(sessionPath(id, '/events'), { event_type: 'post_tool', tool_output: toolOutput });
    expect(body.event.tool_output).toEqual(toolOutput);
    expect((await api.get(sessionPath(id, '/events'))).body.events[0].tool_output).toEqual(toolOutput);
  });

  it('session_stop finishes the session and session_start makes it running again', async () => {
    const id = await newSession('lifecycle');
    await api.post(sessionPath(id, '/events'), { event_type: 'session_stop', exit_code: 1, reason: 'error' });
    expect((await api.get(sessionPath(id, '/status'))).body.status).toBe('finished');
    await api.post(sessionPath(id, '/events'), { event_type: 'session_start' });
    expect((await api.get(sessionPath(id, '/status'))).body.status).toBe('running');
  });

  it('event types named like Object.prototype members are plain types', async () => {
    const id = await newSession('prototype-names');
    for (const type of ['valueOf', 'toString', '__proto__', 'constructor', 'hasOwnProperty']) {
      expect((await api.post(sessionPath(id, '/events'), { event_type: type })).status).toBe(201);
    }
    expect((await api.get(sessionPath(id, '/status'))).body.status).toBe('running');
  });

  it('when the session does not exist, then 404 and nothing is stored', async () => {
    const reply = await api.post('/sessions/ghost/events', { event_type: 'message' });
    expect(reply).toMatchObject({ status: 404, body: { detail: 'Session not found' } });
    expect((await api.get('/sessions/ghost/status')).body.status).toBe('not_existent');
  });

  it('when the body names another session, then 400 and nothing is stored', async () => {
    const id = await newSession('mismatch');
    const reply = await api.post(sessionPath(id, '/events'), { event_type: 'message', session_id: 'someone-else' });
    expect(reply).toMatchObject({ status: 400, body: { detail: 'Event session_id must match URL session_id' } });
    expect((await api.get(sessionPath(id, '/events'))).body.events).toEqual([]);
  });

  it('when fields are invalid, then 422 names each one and nothing is stored', async () => {
    const id = await newSession('invalid');
    const reply = await api.post(sessionPath(id, '/events'), {
      timestamp: 'not a time',
      tool_input: 'not an object',
      exit_code: 2 ** 40,
      content: 'not a list',
      role: 7,
    });
    expect(reply.status).toBe(422);
    expect(reply.body.detail.map((failure: { loc: string[] }) => failure.loc.join('.')).sort()).toEqual(
      ['body.content', 'body.event_type', 'body.exit_code', 'body.role', 'body.timestamp', 'body.tool_input'].sort(),
    );
    expect(reply.body.detail.find((failure: { type: string }) => failure.type === 'missing').loc).toEqual(['body', 'event_type']);
    expect((await api.get(sessionPath(id, '/events'))).body.events).toEqual([]);
  });

  it('when the JSON nests deeper than the limit, then 422 and not a crash', async () => {
    const id = await newSession('deep');
    const deep = '{"a":'.repeat(10_000) + '1' + '}'.repeat(10_000);
    const reply = await api.post(sessionPath(id, '/events'), `{"event_type":"post_tool","tool_output":${deep}}`);
    expect(reply.status).toBe(422);
    expect(reply.body.detail[0]).toMatchObject({ loc: ['body', 'tool_output'], type: 'json' });
  });

  it('when a JSON number is too large for a double, then 422 rather than a silent null', async () => {
    const id = await newSession('huge-number');
    const reply = await api.post(sessionPath(id, '/events'), '{"event_type":"post_tool","tool_output":{"n":[1e400]}}');
    expect(reply.status).toBe(422);
    expect(reply.body.detail[0]).toMatchObject({ loc: ['body', 'tool_output'], type: 'json' });
    expect((await api.get(sessionPath(id, '/events'))).body.events).toEqual([]);
  });

  it('accepts timestamps with offsets and stores them in UTC', async () => {
    const id = await newSession('zones');
    const { body } = await api.post(sessionPath(id, '/events'), { event_type: 'message', timestamp: '2024-06-01T12:00:00+02:00' });
    expect(body.event.timestamp).toBe('2024-06-01T10:00:00.000Z');
    const invalid = await api.post(sessionPath(id, '/events'), { event_type: 'message', timestamp: '2024-02-30T00:00:00Z' });
    expect(invalid.status).toBe(422);
  });

  it('a retry with the same event_id stores nothing new and answers with the first event', async () => {
    const id = await newSession('retry');
    const event = { event_type: 'message', role: 'user', event_id: 'evt-1', content: [{ type: 'text', text: 'first' }] };
    const first = await api.post(sessionPath(id, '/events'), event);
    const retries = await Promise.all(Array.from({ length: 5 }, () => api.post(sessionPath(id, '/events'), { ...event, content: [{ type: 'text', text: 'retry' }] })));
    expect(first.status).toBe(201);
    for (const retry of retries) expect(retry).toMatchObject({ status: 200, body: { ok: true, event: first.body.event } });
    expect((await api.get(sessionPath(id, '/events'))).body.events).toHaveLength(1);
  });

  it('concurrent first attempts of one event_id store it once', async () => {
    const id = await newSession('race');
    const replies = await Promise.all(Array.from({ length: 10 }, () => api.post(sessionPath(id, '/events'), { event_type: 'message', event_id: 'same' })));
    expect(replies.filter((reply) => reply.status === 201)).toHaveLength(1);
    expect(replies.filter((reply) => reply.status === 200)).toHaveLength(9);
    expect(new Set(replies.map((reply) => reply.body.event.id)).size).toBe(1);
    expect((await api.get(sessionPath(id, '/events'))).body.events).toHaveLength(1);
  });
});

describe('GET /sessions/{id}/events', () => {
  it('lists the events in arrival order, ids growing', async () => {
    const id = await newSession('ordered');
    for (let i = 0; i < 5; i++) await api.post(sessionPath(id, '/events'), { event_type: 'message', content: [{ type: 'text', text: `n${i}` }] });
    const { status, body } = await api.get(sessionPath(id, '/events'));
    expect(status).toBe(200);
    expect(body.events.map((event: { content: { text: string }[] }) => event.content[0]!.text)).toEqual(['n0', 'n1', 'n2', 'n3', 'n4']);
    const ids = body.events.map((event: { id: number }) => event.id);
    expect([...ids].sort((a, b) => a - b)).toEqual(ids);
  });

  it('when the session does not exist, then 404', async () => {
    expect(await api.get('/sessions/ghost/events')).toMatchObject({ status: 404, body: { detail: 'Session not found' } });
  });
});
