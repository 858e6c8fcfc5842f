import { recordedHooks } from './support/claudeCodeFixtures';
import { sessionPath } from './support/http';
import { useInstance } from './support/instance';
import { useTestDatabase } from './support/testDatabase';

const database = useTestDatabase();
const server = useInstance(database);
const api = server.api;

async function create(id: string, extra: Record<string, unknown> = {}): Promise<void> {
  expect((await api.post('/sessions', { session_id: id, session_name: `Session ${id}`, ...extra })).status).toBe(201);
}

async function post(id: string, event: Record<string, unknown>): Promise<number> {
  const reply = await api.post(sessionPath(id, '/events'), event);
  expect(reply.status).toBe(201);
  return reply.body.event.id;
}

const search = async (query: string) => {
  const reply = await api.get(`/search?${query}`);
  expect(reply.status).toBe(200);
  return reply.body as { results: any[]; next_cursor: string | null };
};

describe('GET /search', () => {
  beforeAll(async () => {
    await create('find-a', { project_dir: '/srv/alpha' });
    await create('find-b', { project_dir: '/srv/beta' });
    await post('find-a', { event_type: 'message', role: 'user', content: [{ type: 'text', text: 'Please fix the flaky Zanzibar test' }] });
    await post('find-a', { event_type: 'pre_tool', tool_name: 'Bash', tool_input: { command: 'npm test -- zanzibar.test.ts' } });
    await post('find-a', { event_type: 'post_tool', tool_name: 'Bash', tool_output: { stdout: 'line one\nZANZIBAR failed: timeout\n', stderr: '' }, exit_code: 1 });
    await post('find-b', { event_type: 'post_tool', tool_name: 'Read', tool_output: 'nothing about islands' });
    await post('find-b', { event_type: 'session_stop', error: 'zanzibar crashed' });
  });

  it('finds a word in prompts, tool input, tool output and errors, case-insensitively, newest first, with the text around it', async () => {
    const { results, next_cursor } = await search('q=zanzibar');
    expect(results.map((hit) => [hit.session_id, hit.event_type])).toEqual([
      ['find-b', 'session_stop'],
      ['find-a', 'post_tool'],
      ['find-a', 'pre_tool'],
      ['find-a', 'message'],
    ]);
    expect(next_cursor).toBeNull();
    expect(results[1]).toMatchObject({ session_name: 'Session find-a', project_dir: '/srv/alpha', tool_name: 'Bash', failed: true });
    expect(results[1].snippet).toContain('ZANZIBAR failed: timeout');
    expect(results[3].snippet).toContain('Please fix the flaky Zanzibar test');
    expect(results[3].failed).toBe(false);
  });

  it('filters by event type, tool, failed-only and project', async () => {
    expect((await search('q=zanzibar&event_type=pre_tool')).results.map((hit) => hit.event_type)).toEqual(['pre_tool']);
    expect((await search('q=zanzibar&tool_name=Bash')).results).toHaveLength(2);
    expect((await search('q=zanzibar&failed=true')).results.map((hit) => hit.event_type)).toEqual(['session_stop', 'post_tool']);
    expect((await search('q=zanzibar&project_dir=%2Fsrv%2Fbeta')).results.map((hit) => hit.session_id)).toEqual(['find-b']);
    expect((await search('q=zanzibar&session_id=find-a&limit=1')).results).toHaveLength(1);
  });

  it('pages with next_cursor, each result once', async () => {
    const first = await search('q=zanzibar&limit=3');
    expect(first.results).toHaveLength(3);
    expect(first.next_cursor).toMatch(/^\d+$/);
    const second = await search(`q=zanzibar&limit=3&cursor=${first.next_cursor}`);
    expect(second.results.map((hit) => hit.event_type)).toEqual(['message']);
    expect(second.next_cursor).toBeNull();
  });

  it('treats % and _ as themselves, and refuses an empty or over-long q', async () => {
    await create('find-like');
    await post('find-like', { event_type: 'message', role: 'user', content: [{ type: 'text', text: 'coverage is 100% now' }] });
    expect((await search('q=100%25')).results.map((hit) => hit.session_id)).toEqual(['find-like']);
    expect((await search('q=%25%25%25')).results).toEqual([]);
    expect((await api.get('/search?q=')).status).toBe(422);
    expect((await api.get(`/search?q=${'x'.repeat(201)}`)).status).toBe(422);
    expect((await api.get('/search')).status).toBe(422);
    expect((await api.get('/search?q=a&cursor=abc')).status).toBe(422);
  });

  it('stores events with a NUL and of 2 MB, and finds them by any of their text', async () => {
    await create('find-big');
    const big = `needle-at-start ${'x'.repeat(2_000_000)} needle-at-end`;
    await post('find-big', { event_type: 'post_tool', tool_name: 'Bash', tool_output: { stdout: big } });
    await post('find-big', { event_type: 'message', role: 'assistant', content: [{ type: 'text', text: 'nul \u0000 inside quokka' }] });
    expect((await search('q=needle-at-start')).results.map((hit) => hit.session_id)).toEqual(['find-big']);
    // Changed by issue 25: whole outputs are searched (they were cut after the first KB or two).
    expect((await search('q=needle-at-end')).results.map((hit) => hit.session_id)).toEqual(['find-big']);
    expect((await search('q=quokka')).results.map((hit) => hit.session_id)).toEqual(['find-big']);
  });
});

describe('GET /sessions/{id}/export', () => {
  it('gives the session and its events as a JSON download, and the events as NDJSON, in order', async () => {
    const id = 'e0e0e000-0000-4000-8000-000000000001';
    const hooks = recordedHooks('tool-call', id);
    for (const hook of hooks) expect((await api.post('/hooks/claude-code', hook)).status).toBe(200);
    const events = (await api.get(sessionPath(id, '/events'))).body.events;

    const json = await api.get(sessionPath(id, '/export'));
    expect(json.status).toBe(200);
    expect(json.headers.get('content-type')).toMatch(/^application\/json/);
    expect(json.headers.get('content-disposition')).toBe(`attachment; filename="session-${id}.json"`);
    expect(json.body.session).toEqual((await api.get(sessionPath(id))).body.session);
    expect(json.body.events).toEqual(events);

    const ndjson = await api.get(sessionPath(id, '/export?format=ndjson'));
    expect(ndjson.status).toBe(200);
    expect(ndjson.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
    const lines = (ndjson.body as string).split('\n');
    expect(lines.pop()).toBe('');
    expect(lines.map((line) => JSON.parse(line))).toEqual(events);
  });

  it('answers 404 for an unknown session and 422 for an unknown format; a session without events exports none', async () => {
    expect((await api.get(sessionPath('no-such-session', '/export'))).status).toBe(404);
    await create('export-empty');
    expect((await api.get(sessionPath('export-empty', '/export?format=xml'))).status).toBe(422);
    expect((await api.get(sessionPath('export-empty', '/export'))).body.events).toEqual([]);
    expect((await api.get(sessionPath('export-empty', '/export?format=ndjson'))).body).toBeUndefined();
  });
});
