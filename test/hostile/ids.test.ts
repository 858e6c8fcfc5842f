import { randomUUID } from 'node:crypto';
import { sessionPath } from '../support/http';
import { useInstance } from '../support/instance';
import { useTestDatabase } from '../support/testDatabase';
import { apiRequest, logsRequest } from '../otlpRequests';

// Issue 24, case 2: ids longer than an index can hold were a 500 (index row size exceeds btree maximum).
// They are refused: a 422 naming the field on the hooks route; the record skipped (partial success) in OTLP.
const database = useTestDatabase();
const server = useInstance(database);
const api = server.api;

const LONG = 'x'.repeat(8000);
const postLogs = async (body: object) => {
  const response = await fetch(`${server.instance.baseUrl}/v1/logs`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  return { status: response.status, json: (await response.json()) as any };
};

describe('hostile: long ids', () => {
  it.each(['tool_use_id', 'prompt_id', 'agent_id'])('a hook with an 8,000-character %s is a 422 naming it; the session is not harmed', async (field) => {
    const id = `long-${randomUUID()}`;
    const reply = await api.post('/hooks/claude-code', { session_id: id, hook_event_name: 'PreToolUse', tool_name: 'Bash', [field]: LONG });
    expect(reply.status).toBe(422);
    expect(JSON.stringify(reply.body.detail)).toContain(field);
    // The same hook with an id of ordinary length is stored, and reads back with it.
    const ok = await api.post('/hooks/claude-code', { session_id: id, hook_event_name: 'PreToolUse', tool_name: 'Bash', [field]: 'y'.repeat(256) });
    expect(ok.status).toBe(200);
    const events = (await api.get(sessionPath(id, '/events'))).body.events;
    expect(events).toHaveLength(1);
    expect(events[0][field]).toBe('y'.repeat(256));
  });

  it('a hook with an 8,000-character hook_event_name is a 422 naming it', async () => {
    const reply = await api.post('/hooks/claude-code', { session_id: `long-${randomUUID()}`, hook_event_name: LONG });
    expect(reply.status).toBe(422);
    expect(JSON.stringify(reply.body.detail)).toContain('hook_event_name');
  });

  it('a hook with an 8,000-character capture id header is refused with a 4xx naming it', async () => {
    const reply = await api.post('/hooks/claude-code', { session_id: `long-${randomUUID()}`, hook_event_name: 'Stop' }, { 'x-capture-id': LONG });
    expect(reply.status).toBeGreaterThanOrEqual(400);
    expect(reply.status).toBeLessThan(500);
    expect(JSON.stringify(reply.body.detail)).toMatch(/capture/i);
  });

  it.each([
    ['session.id', (id: string) => ({ 'session.id': LONG, 'prompt.id': id })],
    ['prompt.id', (id: string) => ({ 'session.id': id, 'prompt.id': LONG })],
  ])('an OTLP api_request with an 8 KB %s is skipped with partial success; the others are kept', async (_field, attributes) => {
    const id = `long-${randomUUID()}`;
    expect((await api.post('/sessions', { session_id: id, session_name: id })).status).toBe(201);
    const bad = apiRequest(id, 'p1');
    Object.assign(bad.attributes, attributes(id));
    const reply = await postLogs(logsRequest([bad, apiRequest(id, 'p1')]));
    expect(reply.status).toBe(200);
    expect(reply.json.partialSuccess).toEqual({ rejectedLogRecords: '1', errorMessage: expect.stringMatching(/id/) });
    expect((await api.get(sessionPath(id))).body.session.usage.api_requests).toBe(1);
  });

  it('an OTLP tool_result with an 8 KB tool_use_id is skipped with partial success', async () => {
    const id = `long-${randomUUID()}`;
    const record = { body: 'claude_code.tool_result', attributes: { 'session.id': id, 'event.name': 'tool_result', tool_use_id: LONG, tool_name: 'Bash', success: 'true' } };
    const reply = await postLogs(logsRequest([record]));
    expect(reply.status).toBe(200);
    expect(reply.json.partialSuccess).toEqual({ rejectedLogRecords: '1', errorMessage: expect.stringContaining('tool_use_id') });
    expect((await api.post('/sessions', { session_id: id, session_name: id })).status).toBe(201);
    expect((await api.get(sessionPath(id, '/tool-results'))).body.tool_results).toEqual([]);
  });
});
