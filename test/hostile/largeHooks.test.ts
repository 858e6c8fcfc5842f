import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { sessionPath } from '../support/http';
import { useInstance } from '../support/instance';
import { useTestDatabase } from '../support/testDatabase';

// Issue 24, case 6 (hooks): sixteen concurrent 60 MB hooks took RSS to 3.7 GB. Hook bodies are admitted
// against a byte budget: a hook that does not fit waits for room, and past the wait is a 503 with Retry-After.
const database = useTestDatabase();
const server = useInstance(database, { hookBodyBudgetBytes: 3_000_000, hookAdmissionWaitMs: 5_000 });
const api = server.api;

/** Starts a hook of `size` bytes, sends `sent` of them, and returns a way to finish it and its answer. */
function partialHook(sessionId: string, size: number, sent: number) {
  const body = Buffer.from(
    JSON.stringify({ session_id: sessionId, hook_event_name: 'PostToolUse', tool_use_id: `t-${randomUUID()}`, tool_name: 'Read', tool_response: 'r'.repeat(size - 200) }).padEnd(
      size,
      ' ',
    ),
  );
  const url = new URL('/hooks/claude-code', server.instance.baseUrl);
  const request = http.request(url, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': body.length } });
  const answer = new Promise<{ status: number; retryAfter: string | undefined; body: string }>((resolve, reject) => {
    request.on('response', (response) => {
      let text = '';
      response.on('data', (chunk) => (text += chunk));
      response.on('end', () => resolve({ status: response.statusCode!, retryAfter: response.headers['retry-after'] as string | undefined, body: text }));
    });
    request.on('error', reject);
  });
  request.write(body.subarray(0, sent));
  return { finish: () => request.end(body.subarray(sent)), answer };
}

describe('hostile: large hooks against a byte budget', () => {
  it('a hook that does not fit beside those being read waits, then is refused with 503 and Retry-After; it fits once they are done', async () => {
    const id = `big-${randomUUID()}`;
    const first = partialHook(id, 2_000_000, 1_000_000);
    // The first one's bytes are being read (its budget taken) before the second asks.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const second = partialHook(id, 2_000_000, 2_000_000);
    second.finish();
    const refused = await second.answer;
    expect(refused.status).toBe(503);
    expect(Number(refused.retryAfter)).toBeGreaterThan(0);
    expect(JSON.parse(refused.body).detail).toMatch(/hook/i);

    first.finish();
    expect((await first.answer).status).toBe(200);
    const again = partialHook(id, 2_000_000, 2_000_000);
    again.finish();
    expect((await again.answer).status).toBe(200);
    const events = (await api.get(sessionPath(id, '/events'))).body.events;
    expect(events).toHaveLength(2);
    expect(events.every((e: any) => e.tool_output.length > 1_999_000 - 400)).toBe(true);
  });

  it('a hook that waits for room is taken once the room is there (queued, not refused)', async () => {
    const id = `big-${randomUUID()}`;
    const first = partialHook(id, 2_000_000, 1_000_000);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const second = partialHook(id, 2_000_000, 2_000_000);
    second.finish();
    // Room comes well before the second's wait (5 s) is over.
    setTimeout(() => first.finish(), 50);
    expect((await first.answer).status).toBe(200);
    expect((await second.answer).status).toBe(200);
    expect((await api.get(sessionPath(id, '/events'))).body.events).toHaveLength(2);
  });

  it('small hooks are not held up by the budget', async () => {
    const id = `big-${randomUUID()}`;
    const first = partialHook(id, 2_900_000, 1_000_000);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect((await api.post('/hooks/claude-code', { session_id: id, hook_event_name: 'Stop' })).status).toBe(200);
    first.finish();
    expect((await first.answer).status).toBe(200);
  });
  it('a PermissionRequest held for a decision gives its bytes back to the budget once stored, so other hooks go on meanwhile', async () => {
    const id = `big-${randomUUID()}`;
    const held = JSON.stringify({ session_id: id, hook_event_name: 'PermissionRequest', tool_name: 'Write', tool_input: { file_path: '/tmp/a', content: 'w'.repeat(2_000_000) } });
    const answer = fetch(new URL('/hooks/claude-code', server.instance.baseUrl), { method: 'POST', headers: { 'content-type': 'application/json' }, body: held });
    let pending: any[] = [];
    while (pending.length === 0) pending = (await api.get('/approvals?state=pending')).body.approvals.filter((approval: any) => approval.session_id === id);
    const next = partialHook(id, 2_000_000, 2_000_000);
    next.finish();
    expect((await next.answer).status).toBe(200);
    expect((await api.post(`/approvals/${pending[0].id}/decision`, { decision: 'deny', reason: 'not now' })).status).toBe(200);
    expect(await (await answer).json()).toMatchObject({ hookSpecificOutput: { decision: { behavior: 'deny', message: 'not now' } } });
  });
});
