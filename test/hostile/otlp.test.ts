import { randomUUID } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { sessionPath } from '../support/http';
import { useInstance } from '../support/instance';
import { useTestDatabase } from '../support/testDatabase';
import { apiRequest, logsRequest } from '../otlpRequests';

// Issue 24, cases 3 and 4: OTLP values out of range were a 500 (and usage waiting for a session could make
// that session's creation fail for good); a 7,814-byte request of four million empty records held the
// instance for 30 s.
const database = useTestDatabase();
const server = useInstance(database);
const api = server.api;

async function postLogs(body: Buffer | string, headers: Record<string, string> = { 'content-type': 'application/json' }) {
  const response = await fetch(`${server.instance.baseUrl}/v1/logs`, { method: 'POST', body, headers });
  const text = Buffer.from(await response.arrayBuffer());
  return { status: response.status, json: response.headers.get('content-type')?.startsWith('application/json') ? JSON.parse(text.toString()) : undefined, bytes: text };
}
const postRecords = (request: object) => postLogs(JSON.stringify(request));

const withTime = (request: any, time: unknown) => {
  request.resourceLogs[0].scopeLogs[0].logRecords[0].timeUnixNano = time;
  return request;
};

describe('hostile: OTLP values', () => {
  it.each([
    ['1e300 as a number', 1e300],
    ['a 23-digit string', '12345678901234567890123'],
  ])('timeUnixNano %s: that record is skipped with partial success, the others kept', async (_name, time) => {
    const id = `otlp-${randomUUID()}`;
    expect((await api.post('/sessions', { session_id: id, session_name: id })).status).toBe(201);
    const request = withTime(logsRequest([apiRequest(id, 'p1', { input_tokens: '7' }), apiRequest(id, 'p1', { input_tokens: '5' })]), time);
    const reply = await postRecords(request);
    expect(reply.status).toBe(200);
    expect(reply.json.partialSuccess).toEqual({ rejectedLogRecords: '1', errorMessage: expect.stringMatching(/time/i) });
    expect((await api.get(sessionPath(id))).body.session.usage).toMatchObject({ api_requests: 1, input_tokens: 5 });
  });

  it('token sums past 2^63 in one request: the records that would overflow are skipped with partial success', async () => {
    const id = `otlp-${randomUUID()}`;
    expect((await api.post('/sessions', { session_id: id, session_name: id })).status).toBe(201);
    const huge = String(Number.MAX_SAFE_INTEGER);
    const records = Array.from({ length: 1100 }, () => apiRequest(id, 'p1', { input_tokens: huge }));
    const reply = await postRecords(logsRequest(records));
    expect(reply.status).toBe(200);
    expect(Number(reply.json.partialSuccess.rejectedLogRecords)).toBeGreaterThan(0);
    expect(reply.json.partialSuccess.errorMessage).toMatch(/2\^63|overflow|too large/i);
    const usage = (await api.get(sessionPath(id))).body.session.usage;
    expect(BigInt(usage.input_tokens)).toBeLessThanOrEqual(2n ** 63n - 1n);
    expect(usage.api_requests).toBe(1100 - Number(reply.json.partialSuccess.rejectedLogRecords));
  });

  it('usage past 2^63 for a session not yet created never blocks its creation, nor its hooks', async () => {
    const id = `otlp-${randomUUID()}`;
    const huge = String(Number.MAX_SAFE_INTEGER);
    // In two requests: each sums within range, together past it.
    for (let i = 0; i < 2; i++) {
      const reply = await postRecords(logsRequest(Array.from({ length: 600 }, () => apiRequest(id, undefined, { input_tokens: huge }))));
      expect(reply.status).toBe(200);
    }
    const created = await api.post('/sessions', { session_id: id, session_name: id });
    expect(created.status).toBe(201);
    expect(BigInt(created.body.session?.usage?.input_tokens ?? (await api.get(sessionPath(id))).body.session.usage.input_tokens)).toBeLessThanOrEqual(2n ** 63n - 1n);
    const hook = await api.post('/hooks/claude-code', { session_id: id, hook_event_name: 'Stop' });
    expect(hook.status).toBe(200);

    const other = `otlp-${randomUUID()}`;
    expect((await postRecords(logsRequest(Array.from({ length: 1100 }, () => apiRequest(other, undefined, { input_tokens: huge }))))).status).toBe(200);
    expect((await api.post('/hooks/claude-code', { session_id: other, hook_event_name: 'SessionStart' })).status).toBe(200);
    expect((await api.get(sessionPath(other))).status).toBe(200);
  });
});

/** An ExportLogsServiceRequest in protobuf holding `count` empty log records, written by hand (2 bytes each). */
function emptyRecords(count: number): Buffer {
  const varint = (n: number) => {
    const bytes: number[] = [];
    while (n > 127) {
      bytes.push((n & 127) | 128);
      n = Math.floor(n / 128);
    }
    bytes.push(n);
    return Buffer.from(bytes);
  };
  const field = (tag: number, payload: Buffer) => Buffer.concat([Buffer.from([(tag << 3) | 2]), varint(payload.length), payload]);
  const records = Buffer.alloc(count * 2);
  for (let i = 0; i < count; i++) records[i * 2] = (2 << 3) | 2; // ScopeLogs.log_records = 2, length 0
  return field(1, field(2, records)); // ExportLogsServiceRequest.resource_logs = 1 → ResourceLogs.scope_logs = 2
}

describe('hostile: OTLP work bounded', () => {
  it('four million empty records in a few KB of gzip: refused (413) or answered with partial success, and /health answers meanwhile', async () => {
    const body = gzipSync(emptyRecords(4_000_000), { level: 9 });
    expect(body.length).toBeLessThan(40_000);
    let done = false;
    const exporting = postLogs(body, { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' }).finally(() => (done = true));
    // /health asked again and again while the export is handled: none of them may still be waiting when the
    // export is answered (on an instance held by the export, the one asked meanwhile answers after it).
    let overlapping = 0;
    let asked = 0;
    while (!done) {
      const health = await api.get('/health');
      asked += 1;
      if (done) overlapping += 1;
      expect(health.status).toBe(200);
    }
    const reply = await exporting;
    expect([200, 413]).toContain(reply.status);
    expect(asked).toBeGreaterThan(0);
    // Either it was refused for its size before any real work, or /health never waited for it.
    if (reply.status !== 413) expect(overlapping).toBe(0);
  });

  it('a JSON request over the records limit is refused with 413 and a Status naming the limit', async () => {
    const records = Array.from({ length: 20_001 }, () => ({}));
    const reply = await postRecords({ resourceLogs: [{ scopeLogs: [{ logRecords: records }] }] });
    expect(reply.status).toBe(413);
    expect(reply.json.message).toMatch(/records/);
  });
});
