import { randomUUID } from 'node:crypto';
import { captureTime } from '../src/claudeCode/hookEvents';
import { sessionPath } from './support/http';
import { useInstance } from './support/instance';
import { useTestDatabase } from './support/testDatabase';

const database = useTestDatabase();
const server = useInstance(database);
const api = server.api;

const HOOKS = '/hooks/claude-code';

async function hook(id: string, body: Record<string, unknown>, capturedAt?: string): Promise<void> {
  const headers: Record<string, string> = { 'x-capture-id': randomUUID() };
  if (capturedAt !== undefined) headers['x-captured-at'] = capturedAt;
  const reply = await api.post(HOOKS, { session_id: id, cwd: '/tmp/capture', transcript_path: '/tmp/t.jsonl', ...body }, headers);
  expect(reply.status).toBe(200);
}

const session = async (id: string) => (await api.get(sessionPath(id))).body.session;
const events = async (id: string) => (await api.get(sessionPath(id, '/events'))).body.events as any[];
const ago = (ms: number) => new Date(Date.now() - ms).toISOString();

describe('times as captured', () => {
  it('when hooks come late with their capture times, then the events carry those times and the session its real start and activity; received_at is when they were stored', async () => {
    const id = randomUUID();
    const before = Date.now();
    const [start, tool, stop] = [ago(20 * 60_000), ago(20 * 60_000 - 4_000), ago(20 * 60_000 - 13_000)];
    await hook(id, { hook_event_name: 'UserPromptSubmit', prompt_id: 'p1', prompt: 'go' }, start);
    await hook(id, { hook_event_name: 'PreToolUse', prompt_id: 'p1', tool_use_id: 't1', tool_name: 'Bash', tool_input: { command: 'ls' } }, tool);
    await hook(id, { hook_event_name: 'Stop', prompt_id: 'p1', last_assistant_message: 'done' }, stop);
    const stored = await events(id);
    expect(stored.map((e) => e.timestamp)).toEqual([start, tool, stop]);
    for (const event of stored) expect(Date.parse(event.received_at)).toBeGreaterThanOrEqual(before - 1000);
    expect(await session(id)).toMatchObject({ created_at: start, last_event_at: stop });
    const summary = (await api.get(sessionPath(id, '/summary'))).body;
    expect(summary).toMatchObject({ first_at: start, last_at: stop, turns: [{ started_at: start, ended_at: stop, working_ms: 13_000 }] });
  });

  it('when a spooled hook captured earlier arrives after later ones, then the session starts at the earliest capture, and ids keep the order of arrival', async () => {
    const id = randomUUID();
    const [early, late] = [ago(3 * 60_000), ago(60_000)];
    await hook(id, { hook_event_name: 'Notification', notification_type: 'other', message: 'late' }, late);
    await hook(id, { hook_event_name: 'UserPromptSubmit', prompt_id: 'p1', prompt: 'early' }, early);
    expect(await session(id)).toMatchObject({ created_at: early, last_event_at: late });
    const stored = await events(id);
    expect(stored.map((e) => e.timestamp)).toEqual([late, early]);
    expect(stored[0].id).toBeLessThan(stored[1].id);
  });

  it('when the capture time is far ahead or not a time, then the receive time is used', async () => {
    const id = randomUUID();
    const before = Date.now();
    await hook(id, { hook_event_name: 'UserPromptSubmit', prompt_id: 'p1', prompt: 'a' }, new Date(Date.now() + 3_600_000).toISOString());
    await hook(id, { hook_event_name: 'Notification', notification_type: 'other', message: 'b' }, 'yesterday');
    await hook(id, { hook_event_name: 'Notification', notification_type: 'other', message: 'c' });
    for (const event of await events(id)) {
      expect(Date.parse(event.timestamp)).toBeGreaterThanOrEqual(before - 1000);
      expect(Date.parse(event.timestamp)).toBeLessThanOrEqual(Date.now() + 1000);
      expect(event.timestamp).toBe(event.received_at);
    }
    expect(captureTime('2026-01-01T00:00:00.000Z', Date.parse('2026-01-01T00:00:00Z'))).toBe('2026-01-01T00:00:00.000Z');
    expect(captureTime('2026-01-01T00:04:59.000+00:00', Date.parse('2026-01-01T00:00:00Z'))).toBe('2026-01-01T00:04:59.000Z');
    expect(captureTime('2026-01-01T00:05:01.000Z', Date.parse('2026-01-01T00:00:00Z'))).toBeUndefined();
    expect(captureTime('2026-02-30T00:00:00.000Z')).toBeUndefined();
    expect(captureTime('1767225600000')).toBeUndefined();
  });

  it('when sessions are listed, then one run earlier while the server was down sorts by its real start', async () => {
    const live = randomUUID();
    const spooled = randomUUID();
    await hook(live, { hook_event_name: 'UserPromptSubmit', prompt_id: 'p1', prompt: 'now' });
    await hook(spooled, { hook_event_name: 'UserPromptSubmit', prompt_id: 'p1', prompt: 'then' }, ago(10 * 60_000));
    const ids = (await api.get('/sessions?limit=1000')).body.sessions.map((s: any) => s.session_id);
    expect(ids.indexOf(live)).toBeLessThan(ids.indexOf(spooled));
  });

  it('when an event is posted with a timestamp, then that is its time, and received_at when it was stored', async () => {
    const id = randomUUID();
    expect((await api.post('/sessions', { session_id: id, session_name: 'api' })).status).toBe(201);
    const reply = await api.post(sessionPath(id, '/events'), {
      event_type: 'message',
      role: 'user',
      content: [{ type: 'text', text: 'x' }],
      timestamp: '2026-01-02T03:04:05.678Z',
    });
    expect(reply.status).toBe(201);
    const [event] = await events(id);
    expect(event.timestamp).toBe('2026-01-02T03:04:05.678Z');
    expect(Date.parse(event.received_at)).toBeGreaterThan(Date.parse('2026-01-02T03:04:05.678Z'));
  });
});
