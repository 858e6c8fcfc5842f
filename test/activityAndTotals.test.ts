// The figures the session list shows beside the sessions: each session's activity over its time (the
// sparklines), and usage summed per agent and per project.
import { sessionPath } from './support/http';
import { useInstance } from './support/instance';
import { useTestDatabase } from './support/testDatabase';
import { apiRequest, logsRequest } from './otlpRequests';

const database = useTestDatabase();
const { api } = useInstance(database);

async function create(id: string, extra: Record<string, unknown> = {}): Promise<void> {
  expect((await api.post('/sessions', { session_id: id, session_name: `Session ${id}`, ...extra })).status).toBe(201);
}

const at = (iso: string) => ({ event_type: 'message', role: 'user', content: [{ type: 'text', text: iso }], timestamp: iso });

describe('GET /activity', () => {
  beforeAll(async () => {
    await create('act-a');
    await create('act-b');
    await create('act-empty');
    // act-a: 0 s, 1 s, 2 s, 2.5 s and 10 s after its start; act-b: two events at one instant.
    const batch = ['00', '01', '02', '02.500', '10'].map((s) => at(`2025-03-01T10:00:${s}Z`));
    expect((await api.post(sessionPath('act-a', '/events/batch'), { events: batch })).status).toBe(201);
    for (let i = 0; i < 2; i += 1) expect((await api.post(sessionPath('act-b', '/events'), at('2025-03-02T08:00:00Z'))).status).toBe(201);
  });

  it("counts each session's events in equal slices from its first event to its latest, in the order asked", async () => {
    const reply = await api.get('/activity?session_id=act-b&session_id=act-a&buckets=5');
    expect(reply.status).toBe(200);
    expect(reply.body).toEqual({
      buckets: 5,
      activity: [
        // All at one instant: in the last slice.
        { session_id: 'act-b', from: '2025-03-02T08:00:00.000Z', to: '2025-03-02T08:00:00.000Z', counts: [0, 0, 0, 0, 2] },
        // Slices of 2 s: [0, 2) holds 0 s and 1 s; [2, 4) 2 s and 2.5 s; the latest event closes the last.
        { session_id: 'act-a', from: '2025-03-01T10:00:00.000Z', to: '2025-03-01T10:00:10.000Z', counts: [2, 2, 0, 0, 1] },
      ],
    });
  });

  it('leaves out sessions without events and unknown ones; takes one id as well as several; 24 slices by default', async () => {
    expect((await api.get('/activity?session_id=act-empty&session_id=nobody')).body).toEqual({ buckets: 24, activity: [] });
    const one = await api.get('/activity?session_id=act-a');
    expect(one.body.activity.map((a: { session_id: string }) => a.session_id)).toEqual(['act-a']);
    expect(one.body.activity[0].counts).toHaveLength(24);
    expect(one.body.activity[0].counts.reduce((sum: number, n: number) => sum + n, 0)).toBe(5);
  });

  it('when an event arrives, then the next answer counts it', async () => {
    expect((await api.post(sessionPath('act-b', '/events'), at('2025-03-02T08:00:04Z'))).status).toBe(201);
    const reply = await api.get('/activity?session_id=act-b&buckets=2');
    expect(reply.body.activity[0]).toEqual({ session_id: 'act-b', from: '2025-03-02T08:00:00.000Z', to: '2025-03-02T08:00:04.000Z', counts: [2, 1] });
  });

  it('refuses a missing or bad session_id, too many of them, and a bad bucket count, naming the parameter', async () => {
    const cases: [string, (string | number)[]][] = [
      ['', ['query', 'session_id']],
      ['session_id=', ['query', 'session_id', 0]],
      [`${Array.from({ length: 201 }, (_, i) => `session_id=s${i}`).join('&')}`, ['query', 'session_id']],
      ['session_id=act-a&buckets=0', ['query', 'buckets']],
      ['session_id=act-a&buckets=101', ['query', 'buckets']],
      ['session_id=act-a&buckets=ten', ['query', 'buckets']],
    ];
    for (const [query, loc] of cases) {
      const reply = await api.get(`/activity?${query}`);
      expect([query, reply.status]).toEqual([query, 422]);
      expect(reply.body.detail.map((failure: { loc: unknown }) => failure.loc)).toContainEqual(loc);
    }
  });
});

describe('GET /usage', () => {
  const usage = (input: number, output: number, cacheRead: number, micros: number, model = 'claude-sonnet-4-5') => ({
    input_tokens: String(input),
    output_tokens: String(output),
    cache_read_tokens: String(cacheRead),
    cache_creation_tokens: '5',
    cost_usd_micros: String(micros),
    model,
  });
  const report = async (...records: ReturnType<typeof apiRequest>[]) => expect((await api.post('/v1/logs', logsRequest(records))).status).toBe(200);

  it('sums usage over every session, per agent and per project, the costliest first; sessions without usage do not count; it follows new records', async () => {
    // Every session counts (those without usage too); the sums only those with usage.
    expect((await api.get('/usage')).body).toMatchObject({ sessions_with_usage: 0, total: { sessions: 0, usage: null }, by_agent: [], by_project: [], by_model: [] });
    await create('use-1', { agent_name: 'claude-code', project_dir: '/srv/web' });
    await create('use-2', { agent_name: 'claude-code', project_dir: '/srv/api' });
    await create('use-3', { agent_name: 'reviewer', project_dir: '/srv/web' });
    await create('use-4', { project_dir: '/srv/none' });
    await create('use-idle', { agent_name: 'claude-code', project_dir: '/srv/idle' });
    await report(
      apiRequest('use-1', 'p1', usage(100, 10, 1000, 2_000)),
      apiRequest('use-1', 'p1', usage(50, 5, 500, 1_000, 'claude-haiku-4-5')),
      apiRequest('use-2', 'p2', usage(200, 20, 0, 4_000)),
      apiRequest('use-3', 'p3', usage(1, 1, 1, 500_000, 'claude-opus-4-1')),
      apiRequest('use-4', 'p4', usage(7, 7, 7, 7)),
    );

    const reply = await api.get('/usage');
    expect(reply.status).toBe(200);
    const figures = (group: { sessions: number; usage: any }) => [
      group.sessions,
      group.usage.input_tokens,
      group.usage.output_tokens,
      group.usage.cache_read_tokens,
      group.usage.cache_creation_tokens,
      group.usage.cost_usd,
      group.usage.api_requests,
    ];
    expect(figures(reply.body.total)).toEqual([4, 358, 43, 1508, 25, 0.507007, 5]);
    expect(reply.body.total.usage.models).toEqual(['claude-haiku-4-5', 'claude-opus-4-1', 'claude-sonnet-4-5']);
    expect(reply.body.by_agent.map((group: any) => [group.agent_name, ...figures(group)])).toEqual([
      ['reviewer', 1, 1, 1, 1, 5, 0.5, 1],
      ['claude-code', 2, 350, 35, 1500, 15, 0.007, 3],
      [null, 1, 7, 7, 7, 5, 0.000007, 1],
    ]);
    expect(reply.body.by_agent[1].usage.models).toEqual(['claude-haiku-4-5', 'claude-sonnet-4-5']);
    expect(reply.body.by_project.map((group: any) => [group.project_dir, ...figures(group)])).toEqual([
      ['/srv/web', 2, 151, 16, 1501, 15, 0.503, 3],
      ['/srv/api', 1, 200, 20, 0, 5, 0.004, 1],
      ['/srv/none', 1, 7, 7, 7, 5, 0.000007, 1],
    ]);

    await report(apiRequest('use-2', 'p2', usage(1, 1, 1, 10_000)));
    const after = (await api.get('/usage')).body;
    expect(after.by_agent.find((group: any) => group.agent_name === 'claude-code').usage.cost_usd).toBe(0.017);
    expect(after.by_project.map((group: any) => group.project_dir)).toEqual(['/srv/web', '/srv/api', '/srv/none']);
    expect(after.total.usage.api_requests).toBe(6);

    // A session that goes takes its usage with it.
    expect((await api.delete(sessionPath('use-3'))).status).toBe(200);
    expect((await api.get('/usage')).body.by_agent.map((group: any) => group.agent_name)).toEqual(['claude-code', null]);
  });
});
