import { sessionPath } from './support/http';
import { useInstance } from './support/instance';
import { useTestDatabase } from './support/testDatabase';
import { WsClient } from './support/wsClient';

// Sessions and events reach clients as JSON built in two places. PostgreSQL builds it for lists, pages,
// exports and the WebSocket's events and init (asm_session_json, asm_event_json, migration 1764054000011);
// TypeScript builds a session from its row or its snapshot in the change log (toSession) for single reads, the
// answers of writes and the WebSocket's session changes. Whichever built it, a client must get the same JSON,
// field for field and in the same order, whatever the values.
const database = useTestDatabase();
const { instance, api } = useInstance(database);

// The fields of Event and Session (src/domain), in order.
const EVENT_FIELDS = [
  'id',
  'session_id',
  'session_name',
  'event_type',
  'timestamp',
  'tool_name',
  'tool_input',
  'tool_output',
  'error',
  'exit_code',
  'reason',
  'role',
  'content',
  'event_id',
  'tool_use_id',
  'prompt_id',
  'agent_id',
  'duration_ms',
  'hook_input',
  'received_at',
];
const SESSION_FIELDS = [
  'session_id',
  'session_name',
  'status',
  'outcome',
  'created_at',
  'project_dir',
  'agent_name',
  'last_resumed_at',
  'event_count',
  'last_event_at',
  'source',
  'usage',
  'waiting_for',
  'waiting_since',
  'waiting_tool',
  'budget_usd',
  'failed_tool_count',
  'transcript_read',
  'requests_missing',
  'telemetry_missing',
];
const USAGE_FIELDS = ['input_tokens', 'output_tokens', 'cache_read_tokens', 'cache_creation_tokens', 'cost_usd', 'api_requests', 'api_duration_ms', 'models', 'cost_source'];

// Text JSON escapes, characters of one to four bytes, a line separator, a right-to-left mark: no U+0000, which text refuses.
const ODD_TEXT = 'naïve "quoted" back\\slash\ttab\nline \u2028 \u200f שלום 中文 🚀 \u0001';
const NESTED = { a: [1, 1e308, 5e-324, 2 ** 53 + 2, 0.1, { b: { c: [null, true, false, '', ODD_TEXT] } }], 'key with "quotes"': { '': {} }, nul: 'in json \u0000 stays' };

function expectFieldsInOrder(value: Record<string, unknown>, fields: string[]): void {
  expect(Object.keys(value)).toEqual(fields);
}

describe('an event, whoever built its JSON', () => {
  it('when events of every type carry odd values, then the write, a page, the whole list, an export, a live frame and a replay give the same JSON', async () => {
    const id = 'wire-events ü 🚀';
    await api.post('/sessions', { session_id: id, session_name: ODD_TEXT });
    const client = await WsClient.connect(`${instance.wsUrl}?session_id=${encodeURIComponent(id)}`);
    const since = client.init.seq as number;

    const sent = [
      { event_type: 'session_start', timestamp: '2024-02-29T23:59:59.999Z', reason: ODD_TEXT },
      {
        event_type: 'message',
        role: 'user',
        content: [
          { type: 'text', text: ODD_TEXT },
          { type: 'image', nested: NESTED },
        ],
        session_name: '',
      },
      { event_type: 'pre_tool', tool_name: ODD_TEXT, tool_input: NESTED, event_id: `e-${ODD_TEXT}` },
      { event_type: 'post_tool', tool_name: 'Bash', tool_input: {}, tool_output: 'a JSON string \u0000 as the output', exit_code: 2_147_483_647 },
      { event_type: 'post_tool', tool_name: 'Bash', tool_output: [NESTED, 12.5, -1e-7], error: ODD_TEXT, exit_code: -2_147_483_648 },
      { event_type: 'post_tool', tool_output: 0 },
      { event_type: 'post_tool', tool_output: null, tool_input: null, content: null },
      { event_type: 'custom type ✓', reason: '' },
      { event_type: 'session_stop', exit_code: 1, error: null, timestamp: '1970-01-01T00:00:00Z' },
    ];
    const single = await api.post(sessionPath(id, '/events'), sent[0]);
    const batch = await api.post(sessionPath(id, '/events/batch'), { events: sent.slice(1) });
    // Claude Code's hooks set the ids, the duration and the hook's own input.
    await api.post('/hooks/claude-code', {
      session_id: id,
      hook_event_name: 'PostToolUse',
      tool_name: 'Read',
      tool_use_id: `toolu_${ODD_TEXT}`,
      prompt_id: 'prompt-1',
      agent_id: 'agent-1',
      duration_ms: 1234.5678,
      tool_input: NESTED,
      tool_response: { content: ODD_TEXT },
      extra: NESTED,
    });
    // Microseconds, stored as PostgreSQL keeps them (clients get milliseconds).
    await database.query(
      `insert into events (session_id, event_type, timestamp, duration_ms, hook_input)
       values ($1, 'micro', '2024-06-30 12:34:56.789999+00', 1e300, '{"deep":[{"x":1}]}')`,
      [id],
    );

    const written = [single.body.event, ...batch.body.events];
    expect(written).toHaveLength(sent.length);
    const page = (await api.get(sessionPath(id, '/events?limit=100'))).body.events;
    expect(page).toHaveLength(sent.length + 2);
    for (const event of page) expectFieldsInOrder(event, EVENT_FIELDS);
    expect(page.slice(0, sent.length)).toEqual(written);

    const whole = (await api.get(`/events/${encodeURIComponent(id)}`)).body.events;
    const exported = (await api.get(sessionPath(id, '/export?format=ndjson'))).body as string;
    const live = (await client.waitFor((messages) => messages.filter((m) => m.type === 'event').length === page.length)).filter((m) => m.type === 'event');
    const replayClient = await WsClient.connect(`${instance.wsUrl}?session_id=${encodeURIComponent(id)}&since=${since}`);
    const replayed = (await replayClient.waitFor((messages) => messages.filter((m) => m.type === 'event').length === page.length)).filter((m) => m.type === 'event');
    expect(whole).toEqual(page);
    expect(
      exported
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line)),
    ).toEqual(page);
    expect(live.map((message) => message.data)).toEqual(page);
    expect(replayed.map((message) => message.data)).toEqual(page);
    client.close();
    replayClient.close();

    // And each holds what was sent.
    const [start, message, preTool, output, failed, zero, nulls, custom, stop] = written;
    expect(start).toMatchObject({ session_id: id, session_name: ODD_TEXT, event_type: 'session_start', timestamp: '2024-02-29T23:59:59.999Z', reason: ODD_TEXT });
    expect(message.content).toEqual(sent[1]!.content);
    expect(preTool).toMatchObject({ tool_name: ODD_TEXT, tool_input: NESTED, event_id: `e-${ODD_TEXT}`, tool_output: null });
    expect(output).toMatchObject({ tool_input: {}, tool_output: 'a JSON string \u0000 as the output', exit_code: 2_147_483_647 });
    expect(failed).toMatchObject({ tool_output: [NESTED, 12.5, -1e-7], error: ODD_TEXT, exit_code: -2_147_483_648, tool_input: null });
    expect(zero.tool_output).toBe(0);
    expect(nulls).toMatchObject({ tool_output: null, tool_input: null, content: null });
    expect(custom).toMatchObject({ event_type: 'custom type ✓', reason: '' });
    expect(stop).toMatchObject({ event_type: 'session_stop', exit_code: 1, error: null, timestamp: '1970-01-01T00:00:00.000Z' });
    const hook = page[sent.length];
    expect(hook).toMatchObject({
      event_type: 'post_tool',
      tool_use_id: `toolu_${ODD_TEXT}`,
      prompt_id: 'prompt-1',
      agent_id: 'agent-1',
      duration_ms: 1234.5678,
      tool_input: NESTED,
      tool_output: { content: ODD_TEXT },
    });
    expect(hook.hook_input).toMatchObject({ extra: NESTED, hook_event_name: 'PostToolUse' });
    expect(page[sent.length + 1]).toMatchObject({
      event_type: 'micro',
      timestamp: '2024-06-30T12:34:56.789Z',
      duration_ms: 1e300,
      hook_input: { deep: [{ x: 1 }] },
      session_name: null,
    });
  });
});

describe('a session, whoever built its JSON', () => {
  it('when a session carries odd values, then a single read, a page, the whole list, an export, init, a live change and a replay give the same JSON', async () => {
    const id = 'wire-session "ü" 🚀';
    const created = await api.post('/sessions', { session_id: id, session_name: ODD_TEXT, project_dir: `/srv/${ODD_TEXT}`, agent_name: null });
    expectFieldsInOrder(created.body.session, SESSION_FIELDS);
    const client = await WsClient.connect(`${instance.wsUrl}?session_id=${encodeURIComponent(id)}`);
    const since = client.init.seq as number;
    // Values only the database sets: microseconds, totals past 2^53, models that JSON escapes.
    await database.query(
      `update sessions set created_at = '2024-02-29 23:59:59.999999+00', last_resumed_at = '1999-12-31 23:59:59.000001+00',
              input_tokens = 9007199254740993, output_tokens = 1, cache_read_tokens = 0, cache_creation_tokens = 42,
              cost_usd_micros = 123456789012345678, api_requests = 3, api_duration_ms = 4294967296,
              models = array['claude-"ü"', 'a\\b', '🚀']
       where session_id = $1`,
      [id],
    );
    await api.post(sessionPath(id, '/events'), { event_type: 'session_stop', error: ODD_TEXT });

    const single = (await api.get(sessionPath(id))).body.session;
    expectFieldsInOrder(single, SESSION_FIELDS);
    expectFieldsInOrder(single.usage, USAGE_FIELDS);
    expect(single).toMatchObject({
      session_name: ODD_TEXT,
      status: 'finished',
      outcome: 'failed',
      created_at: '2024-02-29T23:59:59.999Z',
      last_resumed_at: '1999-12-31T23:59:59.000Z',
      event_count: 1,
      source: null,
      agent_name: null,
      usage: { input_tokens: Number(9007199254740993n), cost_usd: Number(123456789012345678n) / 1e6, api_duration_ms: 4294967296, models: ['claude-"ü"', 'a\\b', '🚀'] },
    });

    const whole = (await api.get('/sessions')).body.sessions.find((session: { session_id: string }) => session.session_id === id);
    const paged = (await api.get('/sessions?limit=1000')).body.sessions.find((session: { session_id: string }) => session.session_id === id);
    const exported = (await api.get(sessionPath(id, '/export'))).body.session;
    const initClient = await WsClient.connect(`${instance.wsUrl}?session_id=${encodeURIComponent(id)}`);
    const updates = (await client.waitFor((messages) => messages.some((m) => m.type === 'session_updated' && m.session.status === 'finished'))).filter(
      (m) => m.type === 'session_updated',
    );
    const replayClient = await WsClient.connect(`${instance.wsUrl}?session_id=${encodeURIComponent(id)}&since=${since}`);
    const replayed = (await replayClient.waitFor((messages) => messages.some((m) => m.type === 'session_updated' && m.session.status === 'finished'))).filter(
      (m) => m.type === 'session_updated',
    );
    expect(whole).toEqual(single);
    expect(paged).toEqual(single);
    expect(exported).toEqual(single);
    expect(initClient.init.sessions).toEqual([single]);
    // The stop's change is the row as the stop left it: as it is now.
    expect(updates.at(-1)!.session).toEqual(single);
    expect(replayed.at(-1)!.session).toEqual(updates.at(-1)!.session);
    // Usage came from the database, not from an update clients are told of: the first live change carries it.
    expect(updates[0]!.session.usage).toEqual(single.usage);
    for (const session of [whole, paged, exported, initClient.init.sessions[0], updates.at(-1)!.session]) expectFieldsInOrder(session, SESSION_FIELDS);
    client.close();
    initClient.close();
    replayClient.close();
  });
});
