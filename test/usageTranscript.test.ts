import { randomUUID } from 'node:crypto';
import { sessionPath } from './support/http';
import { useInstance } from './support/instance';
import { useTestDatabase } from './support/testDatabase';
import { apiRequest, logsRequest } from './otlpRequests';

const database = useTestDatabase();
const server = useInstance(database);
const api = server.api;

const HOOKS = '/hooks/claude-code';
const MODEL = 'claude-sonnet-4-5';

const postLogs = async (records: ReturnType<typeof apiRequest>[]) => {
  const response = await fetch(`${server.instance.baseUrl}/v1/logs`, {
    method: 'POST',
    body: JSON.stringify(logsRequest(records)),
    headers: { 'content-type': 'application/json' },
  });
  expect(response.status).toBe(200);
};

/** A transcript request as the hook command sends it: 10 in, 20 out, 30 cache read, 40 cache write (what apiRequest() reports). */
const request = (id: string, more: Record<string, unknown> = {}) => ({
  id,
  timestamp: '2026-12-07T10:00:00.000Z',
  model: MODEL,
  agent_id: null,
  prompt_id: 'p1',
  input_tokens: 10,
  output_tokens: 20,
  cache_read_tokens: 30,
  cache_creation_tokens: 40,
  ...more,
});

/** Claude Code's running totals after `n` such requests, at $0.0015 each. */
const costState = (n: number) => ({
  totalCostUSD: 0.0015 * n,
  totalAPIDuration: 250 * n,
  modelUsage: { [MODEL]: { inputTokens: 10 * n, outputTokens: 20 * n, cacheReadInputTokens: 30 * n, cacheCreationInputTokens: 40 * n, costUSD: 0.0015 * n } },
});

async function sessionWithTranscript(requests: unknown[], cost: object | null, fields: Record<string, unknown> = {}): Promise<string> {
  const id = randomUUID();
  const reply = await api.post(HOOKS, {
    session_id: id,
    hook_event_name: 'Stop',
    prompt_id: 'p1',
    cwd: '/home/ana/shop',
    last_assistant_message: 'Done.',
    asm_transcript: { entries: [], requests, cost_state: cost },
    ...fields,
  });
  expect(reply.status).toBe(200);
  return id;
}

const sessionOf = async (id: string) => (await api.get(sessionPath(id))).body.session;

describe('usage from the transcript, where OpenTelemetry is missing', () => {
  it('with no OpenTelemetry at all: tokens and cost from the transcript, every request missing', async () => {
    const id = await sessionWithTranscript([request('r1'), request('r2'), request('r3')], costState(3));
    const session = await sessionOf(id);
    expect(session).toMatchObject({ transcript_read: true, requests_missing: 3, telemetry_missing: false });
    expect(session.usage).toEqual({
      input_tokens: 30,
      output_tokens: 60,
      cache_read_tokens: 90,
      cache_creation_tokens: 120,
      cost_usd: 0.0045,
      api_requests: 3,
      api_duration_ms: 750,
      models: [MODEL],
      cost_source: 'transcript',
    });
  });

  it('without a cost-state: tokens from the requests, the cost unknown (null)', async () => {
    const id = await sessionWithTranscript([request('r1'), request('r2')], null);
    expect((await sessionOf(id)).usage).toMatchObject({ input_tokens: 20, output_tokens: 40, cost_usd: null, api_requests: 2, cost_source: 'transcript' });
  });

  it('with OpenTelemetry for some requests: "N not reported", each total counted once (never telemetry + transcript)', async () => {
    const id = await sessionWithTranscript([request('r1'), request('r2'), request('r3')], costState(3));
    await postLogs([apiRequest(id, 'p1')]);
    const session = await sessionOf(id);
    expect(session.requests_missing).toBe(2);
    expect(session.usage).toMatchObject({ input_tokens: 30, output_tokens: 60, cost_usd: 0.0045, api_requests: 1, cost_source: 'mixed' });
    // The same session once OpenTelemetry has reported every request: telemetry's totals, equal to the transcript's.
    await postLogs([apiRequest(id, 'p1'), apiRequest(id, 'p1')]);
    const whole = await sessionOf(id);
    expect(whole.requests_missing).toBe(0);
    expect(whole.usage).toMatchObject({ input_tokens: 30, output_tokens: 60, cost_usd: 0.0045, api_requests: 3, cost_source: 'telemetry' });
    const detail = (await api.get(sessionPath(id, '/usage'))).body;
    expect(detail).toMatchObject({ requests_seen: 3, requests_reported: 3, usage: whole.usage });
    expect(detail.by_model).toEqual([{ model: MODEL, input_tokens: 30, output_tokens: 60, cache_read_tokens: 90, cache_creation_tokens: 120, cost_usd: 0.0045, requests: 3 }]);
  });

  it('a request read twice (its usage written again as it streamed) is one request with its final counts', async () => {
    const id = await sessionWithTranscript([request('r1', { output_tokens: 1 })], null);
    await api.post(HOOKS, { session_id: id, hook_event_name: 'SessionEnd', prompt_id: 'p1', asm_transcript: { entries: [], requests: [request('r1')], cost_state: null } });
    expect((await sessionOf(id)).usage).toMatchObject({ output_tokens: 20, api_requests: 1 });
  });

  it("per subagent: its model, tokens, requests and its share of the model's cost", async () => {
    const agent = 'a1b2c3';
    const id = await sessionWithTranscript([request('r1'), request('r2', { agent_id: agent }), request('r3', { agent_id: agent })], costState(3));
    await api.post(HOOKS, { session_id: id, hook_event_name: 'SubagentStart', agent_id: agent, agent_type: 'general-purpose' });
    const detail = (await api.get(sessionPath(id, '/usage'))).body;
    expect(detail).toMatchObject({ requests_seen: 3, requests_reported: 0 });
    expect(detail.by_agent).toEqual([
      {
        agent_id: agent,
        agent_type: 'general-purpose',
        model: MODEL,
        input_tokens: 20,
        output_tokens: 40,
        cache_read_tokens: 60,
        cache_creation_tokens: 80,
        cost_usd: 0.003,
        requests: 2,
      },
    ]);
  });

  it('says telemetry is missing for a Claude Code session whose first turn ended over 60 s ago with no OpenTelemetry', async () => {
    const id = randomUUID();
    await api.post(HOOKS, { session_id: id, hook_event_name: 'UserPromptSubmit', prompt_id: 'p1', prompt: 'hi' });
    await api.post(HOOKS, { session_id: id, hook_event_name: 'Stop', prompt_id: 'p1', last_assistant_message: 'Hello.' });
    expect((await sessionOf(id)).telemetry_missing).toBe(false);
    await database.pool().query(`update sessions set turn_ended_at = now() - interval '61 seconds' where session_id = $1`, [id]);
    expect((await sessionOf(id)).telemetry_missing).toBe(true);
    await postLogs([apiRequest(id, 'p1')]);
    expect((await sessionOf(id)).telemetry_missing).toBe(false);
  });
});

describe('GET /usage', () => {
  it("takes the list's filters, counts every session they let through, and sums per model each session's usage once", async () => {
    const project = `/home/ana/usage-${randomUUID()}`;
    const withTranscript = await sessionWithTranscript([request('r1'), request('r2')], costState(2), { cwd: project });
    const mixed = await sessionWithTranscript([request('r1'), request('r2')], costState(2), { cwd: project });
    await postLogs([apiRequest(mixed, 'p1')]);
    await api.post(HOOKS, { session_id: randomUUID(), hook_event_name: 'UserPromptSubmit', prompt_id: 'p1', prompt: 'hi', cwd: project });
    const totals = (await api.get(`/usage?project_dir=${encodeURIComponent(project)}`)).body;
    expect(totals).toMatchObject({ sessions: 3, sessions_with_usage: 2, sessions_cost_unknown: 0, requests_missing: 3 });
    expect(totals.total).toMatchObject({ sessions: 2, usage: expect.objectContaining({ input_tokens: 40, cost_usd: 0.006 }) });
    expect(totals.by_model).toEqual([{ model: MODEL, input_tokens: 40, output_tokens: 80, cache_read_tokens: 120, cache_creation_tokens: 160, cost_usd: 0.006, requests: 4 }]);
    expect((await api.get(`/usage?project=${encodeURIComponent(project)}&status=finished`)).body).toMatchObject({ sessions: 0, sessions_with_usage: 0 });
    expect((await api.get(`/usage?project=${encodeURIComponent(project)}&q=${withTranscript.slice(0, 8)}`)).body).toMatchObject({ sessions: 1 });
    expect((await api.get('/usage?status=nonsense')).status).toBe(422);
  });
});
