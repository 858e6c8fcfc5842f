import { randomUUID } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { sessionPath } from './support/http';
import { startInstance, useInstance } from './support/instance';
import { TcpProxy } from './support/tcpProxy';
import { useTestDatabase } from './support/testDatabase';
import { WsClient } from './support/wsClient';
import { prunePendingUsage } from '../src/store/usage';
import { apiRequest, logsRequest, logsRequestProtobuf, protos, type TestRecord } from './otlpRequests';

const database = useTestDatabase();
const server = useInstance(database);
const api = server.api;

interface Answer {
  status: number;
  contentType: string | null;
  retryAfter: string | null;
  bytes: Buffer;
  json: any;
}

/** POSTs raw bytes to the OTLP receiver and keeps the answer's bytes (protobuf) and, when JSON, its value. */
async function post(path: string, body: Buffer | string, headers: Record<string, string>, baseUrl = server.instance.baseUrl): Promise<Answer> {
  const response = await fetch(baseUrl + path, { method: 'POST', body, headers });
  const bytes = Buffer.from(await response.arrayBuffer());
  const contentType = response.headers.get('content-type');
  return {
    status: response.status,
    contentType,
    retryAfter: response.headers.get('retry-after'),
    bytes,
    json: contentType?.startsWith('application/json') ? JSON.parse(bytes.toString()) : undefined,
  };
}

const JSON_TYPE = { 'content-type': 'application/json' };
const PROTOBUF_TYPE = { 'content-type': 'application/x-protobuf' };
const postJson = (records: TestRecord[]) => post('/v1/logs', JSON.stringify(logsRequest(records)), JSON_TYPE);
const postProtobuf = (records: TestRecord[]) => post('/v1/logs', logsRequestProtobuf(records), PROTOBUF_TYPE);
const decodeLogsResponse = (bytes: Buffer) => protos.logs.v1.ExportLogsServiceResponse.toObject(protos.logs.v1.ExportLogsServiceResponse.decode(bytes), { longs: Number });

async function createSession(id = `otlp-${randomUUID()}`): Promise<string> {
  expect((await api.post('/sessions', { session_id: id, session_name: id })).status).toBe(201);
  return id;
}

const usageOf = async (id: string) => (await api.get(sessionPath(id))).body.session.usage;

describe('POST /v1/logs', () => {
  it('when api_request records come as JSON, then the session carries their totals and each turn its own', async () => {
    const id = await createSession();
    const reply = await postJson([
      apiRequest(id, 'p1'),
      apiRequest(id, 'p1', {
        model: 'claude-haiku-4-5',
        input_tokens: '1',
        output_tokens: '2',
        cache_read_tokens: '0',
        cache_creation_tokens: '0',
        cost_usd_micros: '100',
        duration_ms: '50',
      }),
      apiRequest(id, 'p2', { input_tokens: '5' }),
    ]);
    expect(reply.status).toBe(200);
    expect(reply.contentType).toMatch(/^application\/json/);
    expect(reply.json).toEqual({});

    expect(await usageOf(id)).toEqual({
      input_tokens: 16,
      output_tokens: 42,
      cache_read_tokens: 60,
      cache_creation_tokens: 80,
      cost_usd: 0.0031,
      api_requests: 3,
      api_duration_ms: 550,
      cost_source: 'telemetry',
      models: ['claude-haiku-4-5', 'claude-sonnet-4-5'],
    });
    const listed = (await api.get('/sessions')).body.sessions.find((s: { session_id: string }) => s.session_id === id);
    // Lists are built as JSON by PostgreSQL: the same usage, to the last digit of the cost.
    expect(listed.usage).toEqual(await usageOf(id));

    const usage = (await api.get(sessionPath(id, '/usage'))).body;
    expect(usage.usage).toEqual(await usageOf(id));
    expect(usage.turns.map((t: any) => [t.prompt_id, t.input_tokens, t.output_tokens, t.api_requests, t.cost_usd, t.models])).toEqual([
      ['p1', 11, 22, 2, 0.0016, ['claude-haiku-4-5', 'claude-sonnet-4-5']],
      ['p2', 5, 20, 1, 0.0015, ['claude-sonnet-4-5']],
    ]);
  });

  it('when the records come as protobuf, then the answer is protobuf and the totals the same', async () => {
    const id = await createSession();
    const reply = await postProtobuf([apiRequest(id, 'p1'), apiRequest(id, 'p1', { input_tokens: 7 })]);
    expect(reply.status).toBe(200);
    expect(reply.contentType).toBe('application/x-protobuf');
    expect(decodeLogsResponse(reply.bytes)).toEqual({});
    expect(await usageOf(id)).toMatchObject({ input_tokens: 17, output_tokens: 40, api_requests: 2, cost_usd: 0.003, api_duration_ms: 500 });
  });

  it('when the body is gzipped, in either encoding, then it is read as well', async () => {
    const id = await createSession();
    const json = await post('/v1/logs', gzipSync(JSON.stringify(logsRequest([apiRequest(id, 'p1')]))), { ...JSON_TYPE, 'content-encoding': 'gzip' });
    const protobuf = await post('/v1/logs', gzipSync(logsRequestProtobuf([apiRequest(id, 'p1')])), { ...PROTOBUF_TYPE, 'content-encoding': 'gzip' });
    expect([json.status, protobuf.status]).toEqual([200, 200]);
    expect(await usageOf(id)).toMatchObject({ api_requests: 2, input_tokens: 20 });
  });

  it('when cost_usd_micros is absent, then cost_usd is counted', async () => {
    const id = await createSession();
    const record = apiRequest(id, 'p1', { cost_usd: '0.25' });
    delete record.attributes.cost_usd_micros;
    expect((await postJson([record])).status).toBe(200);
    expect((await usageOf(id)).cost_usd).toBe(0.25);
  });

  it('when some records cannot be used, then the rest are kept and the answer says how many were rejected and why', async () => {
    const id = await createSession();
    const noSession = apiRequest(id, 'p1');
    delete noSession.attributes['session.id'];
    const records = [apiRequest(id, 'p1'), noSession, apiRequest(id, 'p1', { output_tokens: 'many' }), apiRequest(id, 'p1', { input_tokens: -3 })];

    const json = await postJson(records);
    expect(json.status).toBe(200);
    expect(json.json).toEqual({ partialSuccess: { rejectedLogRecords: '3', errorMessage: expect.stringContaining('no session.id') } });
    expect(json.json.partialSuccess.errorMessage).toContain('output_tokens is not a non-negative integer: "many"');

    const protobuf = await postProtobuf(records);
    expect(protobuf.status).toBe(200);
    expect(decodeLogsResponse(protobuf.bytes)).toEqual({ partialSuccess: { rejectedLogRecords: 3, errorMessage: expect.stringContaining('input_tokens') } });
    // One good record in each request.
    expect((await usageOf(id)).api_requests).toBe(2);
  });

  it('when records are not ours (other events, other services), then they are accepted and nothing is kept', async () => {
    const id = await createSession();
    const reply = await postJson([
      { body: 'claude_code.user_prompt', attributes: { 'session.id': id, 'prompt.id': 'p1', prompt_length: '12' } },
      { body: 'GET /index.html', attributes: { 'http.status_code': 200 } },
      { body: 'claude_code.tool_result', attributes: { 'session.id': id, tool_name: 'Bash', success: 'true' } },
    ]);
    expect(reply.status).toBe(200);
    expect(reply.json).toEqual({});
    expect(await usageOf(id)).toBeNull();
  });

  it('when one request holds the same record twice, then it is counted once', async () => {
    const id = await createSession();
    const record = apiRequest(id, 'p1');
    const tool: TestRecord = { body: 'claude_code.tool_result', attributes: { 'session.id': id, tool_use_id: 'toolu_twice', success: 'true' } };
    expect((await postJson([record, record, tool, tool])).status).toBe(200);
    expect(await usageOf(id)).toMatchObject({ api_requests: 1, input_tokens: 10 });
    expect((await api.get(sessionPath(id, '/tool-results'))).body.tool_results).toHaveLength(1);
  });

  it('when an exporter sends the same batch again, then it is counted once', async () => {
    const id = await createSession();
    const batch = logsRequestProtobuf([apiRequest(id, 'p1'), apiRequest(id, 'p2')]);
    expect((await post('/v1/logs', batch, PROTOBUF_TYPE)).status).toBe(200);
    expect((await post('/v1/logs', batch, PROTOBUF_TYPE)).status).toBe(200);
    expect(await usageOf(id)).toMatchObject({ api_requests: 2, input_tokens: 20 });
    expect((await api.get(sessionPath(id, '/usage'))).body.turns.map((t: any) => t.api_requests)).toEqual([1, 1]);
  });

  it('when records arrive before the session exists, then they wait and the new session starts with them', async () => {
    const id = `early-${randomUUID()}`;
    expect((await postJson([apiRequest(id, 'p1'), apiRequest(id, 'p2', { input_tokens: '1' })])).status).toBe(200);
    expect((await api.get(sessionPath(id))).status).toBe(404);

    const ws = await WsClient.connect(server.instance.wsUrl);
    try {
      await createSession(id);
      await ws.waitFor((messages) => messages.some((m) => m.type === 'session_created' && m.session.session_id === id));
      const message = ws.messages.find((m) => m.type === 'session_created' && m.session.session_id === id)!;
      expect(message.session.usage).toMatchObject({ api_requests: 2, input_tokens: 11 });
    } finally {
      ws.close();
    }
    expect(await usageOf(id)).toMatchObject({ api_requests: 2, input_tokens: 11 });
    expect((await api.get(sessionPath(id, '/usage'))).body.turns.map((t: any) => t.prompt_id)).toEqual(['p1', 'p2']);

    // Later records add to what the session started with.
    expect((await postJson([apiRequest(id, 'p2')])).status).toBe(200);
    expect(await usageOf(id)).toMatchObject({ api_requests: 3, input_tokens: 21 });
  });

  it('when records arrive after the session ended, then they are counted and the session stays finished', async () => {
    const id = await createSession();
    expect((await api.post(sessionPath(id, '/events'), { event_type: 'session_stop', exit_code: 0 })).status).toBe(201);
    expect((await postJson([apiRequest(id, 'p1')])).status).toBe(200);
    const session = (await api.get(sessionPath(id))).body.session;
    expect(session.status).toBe('finished');
    expect(session.usage).toMatchObject({ api_requests: 1, output_tokens: 20 });
  });

  it('when a request carries records of several sessions, then each session is broadcast once, with its totals', async () => {
    const [a, b, quiet] = [await createSession(), await createSession(), await createSession()];
    const ws = await WsClient.connect(server.instance.wsUrl);
    try {
      const records = [...Array.from({ length: 5 }, () => apiRequest(a, 'p1')), ...Array.from({ length: 3 }, () => apiRequest(b, 'p1'))];
      expect((await postProtobuf(records)).status).toBe(200);
      // A later change: once it has arrived, everything committed before it has too.
      const marker = await createSession();
      await ws.waitFor((messages) => messages.some((m) => m.type === 'session_created' && m.session.session_id === marker));

      const updates = ws.live.filter((m) => m.type === 'session_updated');
      expect(updates.map((m) => m.session.session_id).sort()).toEqual([a, b].sort());
      expect(updates.find((m) => m.session.session_id === a)!.session.usage).toMatchObject({ api_requests: 5, input_tokens: 50 });
      expect(updates.find((m) => m.session.session_id === b)!.session.usage).toMatchObject({ api_requests: 3, input_tokens: 30 });
      expect(updates.some((m) => m.session.session_id === quiet)).toBe(false);
    } finally {
      ws.close();
    }
  });

  it('when a request only repeats records already counted, then nothing is broadcast', async () => {
    const id = await createSession();
    const batch = JSON.stringify(logsRequest([apiRequest(id, 'p1')]));
    expect((await post('/v1/logs', batch, JSON_TYPE)).status).toBe(200);
    const ws = await WsClient.connect(server.instance.wsUrl);
    try {
      expect((await post('/v1/logs', batch, JSON_TYPE)).status).toBe(200);
      const marker = await createSession();
      await ws.waitFor((messages) => messages.some((m) => m.type === 'session_created' && m.session.session_id === marker));
      expect(ws.live.filter((m) => m.type === 'session_updated' && m.session.session_id === id)).toEqual([]);
    } finally {
      ws.close();
    }
  });
});

describe('tool results', () => {
  // A PostToolUse hook as Claude Code posts it to the hooks route.
  const postToolUse = (sessionId: string, toolUseId: string) =>
    api.post('/hooks/claude-code', {
      session_id: sessionId,
      transcript_path: '/home/agent/.claude/projects/p/transcript.jsonl',
      cwd: '/srv/project',
      hook_event_name: 'PostToolUse',
      prompt_id: 'p1',
      permission_mode: 'default',
      tool_name: 'Bash',
      tool_input: { command: 'echo hi' },
      tool_use_id: toolUseId,
      tool_response: { stdout: 'hi', stderr: '', interrupted: false, isImage: false },
      duration_ms: 11,
    });
  const postToolEventId = async (sessionId: string, toolUseId: string) => {
    const events = (await api.get(sessionPath(sessionId, '/events'))).body.events as { id: number; event_type: string; tool_use_id: string }[];
    return events.find((e) => e.event_type === 'post_tool' && e.tool_use_id === toolUseId)!.id;
  };

  it('when a tool_result arrives before or after the hook event of its call, then it is joined to it by tool_use_id', async () => {
    const id = randomUUID();
    const toolResult = (toolUseId: string, success: string, extra: Record<string, string> = {}): TestRecord => ({
      body: 'claude_code.tool_result',
      attributes: { 'session.id': id, 'prompt.id': 'p1', tool_name: 'Bash', tool_use_id: toolUseId, success, duration_ms: '12.5', ...extra },
    });

    // toolu_a: the hook first; toolu_b: the record first (and before the session exists at all).
    expect((await postJson([toolResult('toolu_b', 'false', { error: 'Exit code 2' })])).status).toBe(200);
    expect((await postToolUse(id, 'toolu_a')).status).toBe(200);
    expect((await postJson([toolResult('toolu_a', 'true')])).status).toBe(200);
    let results = (await api.get(sessionPath(id, '/tool-results'))).body.tool_results;
    expect(results).toEqual([
      expect.objectContaining({ tool_use_id: 'toolu_b', success: false, error: 'Exit code 2', duration_ms: 12.5, event_id: null }),
      expect.objectContaining({ tool_use_id: 'toolu_a', tool_name: 'Bash', success: true, duration_ms: 12.5, error: null, event_id: await postToolEventId(id, 'toolu_a') }),
    ]);

    expect((await postToolUse(id, 'toolu_b')).status).toBe(200);
    results = (await api.get(sessionPath(id, '/tool-results'))).body.tool_results;
    expect(results[0]).toMatchObject({ tool_use_id: 'toolu_b', event_id: await postToolEventId(id, 'toolu_b') });
  });

  it('when usage arrives before the first hook, then the session the hook creates starts with it', async () => {
    const id = randomUUID();
    expect((await postProtobuf([apiRequest(id, 'p1'), apiRequest(id, 'p1')])).status).toBe(200);
    expect((await postToolUse(id, 'toolu_1')).status).toBe(200);
    const session = (await api.get(sessionPath(id))).body.session;
    expect(session.source).toBe('claude-code');
    expect(session.usage).toMatchObject({ api_requests: 2, input_tokens: 20, cost_usd: 0.003 });
  });

  it('when the session is deleted, then its usage and tool results go with it', async () => {
    const id = await createSession();
    expect((await postJson([apiRequest(id, 'p1'), { body: 'claude_code.tool_result', attributes: { 'session.id': id, tool_use_id: 'toolu_x', success: 'true' } }])).status).toBe(
      200,
    );
    expect((await api.delete(sessionPath(id))).status).toBe(200);
    const pool = database.pool();
    const { rows } = await pool.query(
      `select (select count(*) from usage_requests where session_id = $1) + (select count(*) from usage_turns where session_id = $1)
              + (select count(*) from tool_results where session_id = $1) as left_over`,
      [id],
    );
    expect(Number(rows[0].left_over)).toBe(0);
  });
});

describe('bad requests', () => {
  const statusOf = (answer: Answer) => (answer.json ?? undefined) as { code: number; message: string } | undefined;

  it('when the JSON is malformed, then 400 with a JSON Status', async () => {
    const reply = await post('/v1/logs', '{"resourceLogs": [', JSON_TYPE);
    expect(reply.status).toBe(400);
    expect(statusOf(reply)).toEqual({ code: 3, message: expect.stringContaining('Malformed JSON') });
  });

  it('when the JSON is not an export request, then 400 naming what is wrong', async () => {
    for (const body of ['[1, 2]', '"text"', '{"resourceLogs": 5}', '{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"attributes": [{"key": 1}]}]}]}]}']) {
      const reply = await post('/v1/logs', body, JSON_TYPE);
      expect(reply.status).toBe(400);
      expect(statusOf(reply)?.code).toBe(3);
    }
    const reply = await post('/v1/logs', '{"resourceLogs": 5}', JSON_TYPE);
    expect(statusOf(reply)?.message).toBe('request.resourceLogs must be an array');
  });

  it('when the protobuf is malformed, then 400 with a protobuf Status', async () => {
    const reply = await post('/v1/logs', Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f, 0x01]), PROTOBUF_TYPE);
    expect(reply.status).toBe(400);
    expect(reply.contentType).toBe('application/x-protobuf');
    // google.rpc.Status: field 1 (code) = 3, then field 2 (message).
    expect([...reply.bytes.subarray(0, 2)]).toEqual([0x08, 0x03]);
    expect(reply.bytes.subarray(4).toString()).toContain('Malformed protobuf');
  });

  it('when the gzip is broken, then 400', async () => {
    const reply = await post('/v1/logs', Buffer.from('not gzip at all'), { ...JSON_TYPE, 'content-encoding': 'gzip' });
    expect(reply.status).toBe(400);
    expect(statusOf(reply)?.message).toContain('Malformed gzip body');
  });

  it('when the content type or encoding is not OTLP, then 415', async () => {
    expect((await post('/v1/logs', 'a=b', { 'content-type': 'application/x-www-form-urlencoded' })).status).toBe(415);
    expect((await post('/v1/logs', '{}', { ...JSON_TYPE, 'content-encoding': 'br' })).status).toBe(415);
  });

  it('when the body is over the limit, even once unzipped, then 413', async () => {
    const instance = await startInstance(database.url, { maxBodyBytes: 10_000 });
    try {
      const big = JSON.stringify(logsRequest(Array.from({ length: 200 }, () => apiRequest('big', 'p1'))));
      expect((await post('/v1/logs', big, JSON_TYPE, instance.baseUrl)).status).toBe(413);
      const zipped = gzipSync(big);
      expect(zipped.length).toBeLessThan(10_000);
      const reply = await post('/v1/logs', zipped, { ...JSON_TYPE, 'content-encoding': 'gzip' }, instance.baseUrl);
      expect(reply.status).toBe(413);
      expect(statusOf(reply)?.code).toBe(8);
    } finally {
      await instance.close();
    }
  });

  it('when API_KEYS is set, then the receiver needs the key as every route does', async () => {
    const instance = await startInstance(database.url, { apiKeys: ['otlp-key'] });
    try {
      const body = JSON.stringify(logsRequest([]));
      expect((await post('/v1/logs', body, JSON_TYPE, instance.baseUrl)).status).toBe(401);
      expect((await post('/v1/logs', body, { ...JSON_TYPE, authorization: 'Bearer wrong' }, instance.baseUrl)).status).toBe(401);
      expect((await post('/v1/logs', body, { ...JSON_TYPE, authorization: 'Bearer otlp-key' }, instance.baseUrl)).status).toBe(200);
      expect((await post('/v1/metrics', '{}', { ...JSON_TYPE, authorization: 'Bearer otlp-key' }, instance.baseUrl)).status).toBe(200);
    } finally {
      await instance.close();
    }
  });
});

describe('POST /v1/metrics', () => {
  it('when metrics come in either encoding, then they are acknowledged and nothing is counted', async () => {
    const id = await createSession();
    const request = {
      resourceMetrics: [
        {
          scopeMetrics: [
            {
              metrics: [
                {
                  name: 'claude_code.token.usage',
                  sum: {
                    aggregationTemporality: 1,
                    isMonotonic: true,
                    dataPoints: [
                      {
                        asDouble: 100,
                        attributes: [
                          { key: 'session.id', value: { stringValue: id } },
                          { key: 'type', value: { stringValue: 'input' } },
                        ],
                      },
                    ],
                  },
                },
              ],
            },
          ],
        },
      ],
    };
    const json = await post('/v1/metrics', JSON.stringify(request), JSON_TYPE);
    expect([json.status, json.json]).toEqual([200, {}]);
    const type = protos.metrics.v1.ExportMetricsServiceRequest;
    const protobuf = await post('/v1/metrics', Buffer.from(type.encode(type.fromObject(request)).finish()), PROTOBUF_TYPE);
    expect(protobuf.status).toBe(200);
    expect(protobuf.contentType).toBe('application/x-protobuf');
    expect(await usageOf(id)).toBeNull();
    expect((await post('/v1/metrics', '{"resourceMetrics": {}}', JSON_TYPE)).status).toBe(400);
  });
});

describe('pending usage', () => {
  it('when records of a session that never appears are older than the retention, then pruning deletes them and nothing else', async () => {
    const never = `never-${randomUUID()}`;
    const recent = `recent-${randomUUID()}`;
    const existing = await createSession();
    const toolResult = (sessionId: string): TestRecord => ({ body: 'claude_code.tool_result', attributes: { 'session.id': sessionId, tool_use_id: 'toolu_1', success: 'true' } });
    for (const id of [never, recent, existing]) expect((await postJson([apiRequest(id, 'p1'), toolResult(id)])).status).toBe(200);
    const pool = database.pool();
    // As if they had come 200 hours ago.
    for (const table of ['usage_requests', 'tool_results']) {
      await pool.query(`update ${table} set received_at = now() - interval '200 hours' where session_id = any($1)`, [[never, existing]]);
    }
    await pool.query(`update usage_turns set last_request_at = now() - interval '200 hours' where session_id = any($1)`, [[never, existing]]);

    expect(await prunePendingUsage(pool, 168)).toBe(3);
    const left = async (id: string) =>
      Number(
        (
          await pool.query(
            `select (select count(*) from usage_requests where session_id = $1) + (select count(*) from usage_turns where session_id = $1)
                    + (select count(*) from tool_results where session_id = $1) as n`,
            [id],
          )
        ).rows[0].n,
      );
    expect([await left(never), await left(recent), await left(existing)]).toEqual([0, 3, 3]);
  });
});

describe('the database unreachable', () => {
  it('when PostgreSQL cannot be reached, then 503 with Retry-After and an UNAVAILABLE Status, so the exporter retries', async () => {
    const { proxy, url } = await TcpProxy.forUrl(database.url);
    const instance = await startInstance(url);
    try {
      const id = await createSession();
      const batch = (encoding: 'json' | 'protobuf') =>
        encoding === 'json'
          ? post('/v1/logs', JSON.stringify(logsRequest([apiRequest(id, 'p1')])), JSON_TYPE, instance.baseUrl)
          : post('/v1/logs', logsRequestProtobuf([apiRequest(id, 'p1')]), PROTOBUF_TYPE, instance.baseUrl);
      await proxy.cut();
      const json = await batch('json');
      expect([json.status, json.retryAfter]).toEqual([503, '1']);
      expect(json.json).toEqual({ code: 14, message: expect.stringContaining('Database unavailable') });
      const protobuf = await batch('protobuf');
      expect([protobuf.status, protobuf.retryAfter, protobuf.contentType]).toEqual([503, '1', 'application/x-protobuf']);
      // google.rpc.Status: field 1 (code) = 14 (UNAVAILABLE), then the message.
      expect([...protobuf.bytes.subarray(0, 2)]).toEqual([0x08, 14]);

      await proxy.open();
      // The exporter retries until the database is back; what failed stored nothing.
      let retried = await batch('json');
      for (let attempt = 1; retried.status === 503 && attempt < 50; attempt++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        retried = await batch('json');
      }
      expect(retried.status).toBe(200);
      expect((await usageOf(id)).api_requests).toBe(1);
    } finally {
      await instance.close();
      await proxy.cut();
    }
  }, 60_000);
});
