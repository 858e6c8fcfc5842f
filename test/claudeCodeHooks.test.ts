import { randomUUID } from 'node:crypto';
import { recordedHooks } from './support/claudeCodeFixtures';
import { apiClient, sessionPath } from './support/http';
import { startInstance, useInstance } from './support/instance';
import { useTestDatabase } from './support/testDatabase';
import { WsClient } from './support/wsClient';

const database = useTestDatabase();
const server = useInstance(database);
const api = server.api;

const HOOKS = '/hooks/claude-code';
const post = (body: unknown, headers?: Record<string, string>) => api.post(HOOKS, body, headers);
const events = async (id: string, query = '') => (await api.get(sessionPath(id, `/events${query}`))).body.events as any[];
const status = async (id: string) => (await api.get(sessionPath(id, '/status'))).body.status as string;

/** Posts the hooks one by one, as Claude Code does, and returns the session's status after each. */
async function replay(hooks: Record<string, any>[]): Promise<string[]> {
  const statuses: string[] = [];
  for (const hook of hooks) {
    const reply = await post(hook);
    expect({ hook: hook.hook_event_name, status: reply.status, body: reply.body }).toEqual({ hook: hook.hook_event_name, status: 200, body: {} });
    statuses.push(await status(hook.session_id));
  }
  return statuses;
}

describe('POST /hooks/claude-code with a recorded run of one Bash call', () => {
  it('creates the session from the first hook and stores each hook as an event of our shape, in order', async () => {
    const id = randomUUID();
    const hooks = recordedHooks('tool-call', id);
    await replay(hooks);

    const { session } = (await api.get(sessionPath(id))).body;
    expect(session).toMatchObject({
      session_id: id,
      session_name: `${hooks[0]!.cwd.split('/').pop()} · ${id.slice(0, 8)}`,
      project_dir: hooks[0]!.cwd,
      agent_name: 'claude-code',
      source: 'claude-code',
      status: 'finished',
      event_count: 5,
    });

    const stored = await events(id);
    expect(stored.map((e) => [e.event_type, e.role])).toEqual([
      ['message', 'user'],
      ['pre_tool', null],
      ['post_tool', null],
      ['message', 'assistant'],
      ['session_stop', null],
    ]);
    const [prompt, pre, postTool, stop, end] = stored;
    expect(prompt.content).toEqual([{ type: 'text', text: 'Say hi using Bash' }]);
    expect(pre).toMatchObject({ tool_name: 'Bash', tool_input: { command: 'echo hi', description: 'Say hi' }, tool_use_id: 'toolu_1' });
    expect(postTool).toMatchObject({
      tool_name: 'Bash',
      tool_use_id: 'toolu_1',
      duration_ms: 17,
      tool_output: { stdout: 'hi', stderr: '', interrupted: false, isImage: false, noOutputExpected: false },
    });
    expect(stop.content).toEqual([{ type: 'text', text: 'The command printed hi.' }]);
    expect(end).toMatchObject({ reason: 'other' });
    for (const event of stored) expect(event.prompt_id).toBe(hooks[0]!.prompt_id);
    expect((await api.get(sessionPath(id, '/result'))).body).toEqual({ result: 'The command printed hi.' });
  });

  it('keeps the whole hook input but the fields already stored in columns', async () => {
    const id = randomUUID();
    const [, , postToolUse] = recordedHooks('tool-call', id);
    await post({ ...postToolUse, some_future_field: { nested: [1, 2] } });
    const [event] = await events(id);
    const { tool_response, tool_input, ...rest } = postToolUse!;
    expect(event.hook_input).toEqual({ ...rest, some_future_field: { nested: [1, 2] } });
    expect(tool_response).toBeDefined();
    expect(tool_input).toBeDefined();
  });

  it('moves the status running → idle at Stop → finished at SessionEnd; /result answers once idle', async () => {
    const id = randomUUID();
    const hooks = recordedHooks('tool-call', id);
    expect(await replay(hooks.slice(0, 3))).toEqual(['running', 'running', 'running']);
    expect((await api.get(sessionPath(id, '/result'))).status).toBe(400);
    expect(await replay([hooks[3]!])).toEqual(['idle']);
    expect((await api.get(sessionPath(id, '/result'))).body).toEqual({ result: 'The command printed hi.' });
    expect((await api.get(`/sessions?status=idle`)).body.sessions.map((s: any) => s.session_id)).toContain(id);
    expect(await replay([hooks[4]!])).toEqual(['finished']);
  });

  it('tells WebSocket clients each change as it is committed, the status change before the event that causes it', async () => {
    const id = randomUUID();
    const client = await WsClient.connect(`${server.instance.wsUrl}?session_id=${encodeURIComponent(id)}`);
    try {
      await replay(recordedHooks('tool-call', id));
      const live = await client.waitForLive(8);
      expect(live.map((m) => (m.type === 'event' ? `event:${m.data.event_type}` : `${m.type}:${m.session.status}`))).toEqual([
        'session_created:running',
        'event:message',
        'event:pre_tool',
        'event:post_tool',
        'session_updated:idle',
        'event:message',
        'session_updated:finished',
        'event:session_stop',
      ]);
      expect(live[3]!.data).toMatchObject({ tool_use_id: 'toolu_1', duration_ms: 17 });
    } finally {
      client.close();
    }
  });
});

describe('POST /hooks/claude-code: the same hook twice', () => {
  it('when a hook is delivered again, then it is stored once and the second answer is still 200 {}', async () => {
    const id = randomUUID();
    const hooks = recordedHooks('tool-call', id);
    await replay(hooks);
    await replay(hooks);
    expect((await events(id)).length).toBe(5);
    expect((await api.get(sessionPath(id))).body.session.event_count).toBe(5);
  });

  it('when the same hook arrives several times at once, then it is stored once and moves the status once', async () => {
    const id = randomUUID();
    const [prompt, , , stop] = recordedHooks('tool-call', id);
    await post(prompt);
    const client = await WsClient.connect(`${server.instance.wsUrl}?session_id=${encodeURIComponent(id)}`);
    try {
      const replies = await Promise.all(Array.from({ length: 5 }, () => post(stop)));
      expect(replies.map((reply) => reply.status)).toEqual([200, 200, 200, 200, 200]);
      expect((await events(id)).map((e) => e.event_type)).toEqual(['message', 'message']);
      const live = await client.waitForLive(2);
      expect(live.map((m) => m.type)).toEqual(['session_updated', 'event']);
      expect(live[0]!.session.status).toBe('idle');
    } finally {
      client.close();
    }
  });

  it('when a hook without ids comes twice byte for byte, then it is one event; with two capture ids, two', async () => {
    const id = randomUUID();
    const [notification] = recordedHooks('documented', id);
    const body = JSON.stringify(notification);
    await post(body);
    await post(body);
    expect((await events(id)).length).toBe(1);
    await post(body, { 'x-capture-id': 'capture-a' });
    await post(body, { 'x-capture-id': 'capture-a' });
    await post(body, { 'x-capture-id': 'capture-b' });
    expect((await events(id)).length).toBe(3);
  });

  it('when a session is resumed and left again without a new prompt, then it ends again', async () => {
    const id = randomUUID();
    const hooks = recordedHooks('tool-call', id);
    await replay(hooks);
    const [, , , , , sessionStart] = recordedHooks('documented', id);
    await post(sessionStart, { 'x-capture-id': 'resume-1' });
    expect(await status(id)).toBe('running');
    await post(hooks[4], { 'x-capture-id': 'end-2' });
    expect(await status(id)).toBe('finished');
    expect((await events(id)).map((e) => e.event_type).slice(-3)).toEqual(['session_stop', 'session_start', 'session_stop']);
  });

  it('when a duplicate comes after the session moved on, then it does not move the status back', async () => {
    const id = randomUUID();
    const hooks = recordedHooks('tool-call', id);
    await replay(hooks.slice(0, 4));
    expect(await status(id)).toBe('idle');
    await post(hooks[1]);
    expect(await status(id)).toBe('idle');
  });
});

describe('POST /hooks/claude-code: failures, subagents, notifications, compaction', () => {
  it('stores PostToolUseFailure as a post_tool with its error and duration', async () => {
    const id = randomUUID();
    await replay(recordedHooks('tool-failure', id));
    const failed = (await events(id)).find((e) => e.event_type === 'post_tool');
    expect(failed).toMatchObject({
      tool_name: 'Bash',
      tool_use_id: 'toolu_1',
      duration_ms: 30,
      error: "Exit code 2\nls: cannot access '/nonexistent-dir': No such file or directory",
      tool_output: null,
    });
    expect(failed.hook_input).toMatchObject({ is_interrupt: false, hook_event_name: 'PostToolUseFailure' });
  });

  it('marks what a subagent did with its agent_id, links it to the Agent call, and shows the task notification as one', async () => {
    const id = randomUUID();
    const hooks = recordedHooks('subagent', id);
    const statuses = await replay(hooks);
    // The main turn ends (idle) while the subagent still works (running), then the notification's turn ends.
    expect(statuses).toEqual(['running', 'running', 'running', 'running', 'idle', 'running', 'running', 'running', 'running', 'running', 'running', 'idle', 'finished']);

    const stored = await events(id);
    expect(stored.map((e) => e.event_type)).toEqual([
      'message',
      'pre_tool',
      'subagent_start',
      'post_tool',
      'message',
      'pre_tool',
      'post_tool',
      'pre_tool',
      'post_tool',
      'subagent_stop',
      'notification',
      'message',
      'session_stop',
    ]);
    const agentId = 'a96e3d6a668168959';
    const launch = stored[3];
    expect(launch).toMatchObject({ tool_name: 'Agent', tool_use_id: 'toolu_1', tool_output: { agentId, status: 'async_launched' } });
    const bySubagent = await events(id, `?agent_id=${agentId}`);
    expect(bySubagent.map((e) => e.event_type)).toEqual(['subagent_start', 'pre_tool', 'post_tool', 'pre_tool', 'post_tool', 'subagent_stop']);
    expect(bySubagent.every((e) => e.hook_input.agent_type === 'general-purpose')).toBe(true);
    expect(bySubagent[5].content).toEqual([{ type: 'text', text: 'Subagent found: sub.' }]);
    expect((await events(id, '?tool_use_id=toolu_1')).map((e) => e.event_type)).toEqual(['pre_tool', 'post_tool']);

    const notification = stored[10];
    expect(notification.role).toBeNull();
    expect(notification.content[0].text).toMatch(/^<task-notification>/);
    expect(stored.filter((e) => e.event_type === 'message' && e.role === 'user')).toHaveLength(1);
    expect((await events(id, `?prompt_id=${hooks[10]!.prompt_id}`)).map((e) => e.event_type)).toEqual(['notification', 'message', 'session_stop']);
    expect((await api.get(sessionPath(id, '/result'))).body).toEqual({ result: 'The subagent finished: sub.' });
  });

  it('a Notification that waits for the user makes the session idle; other notifications do not', async () => {
    const id = randomUUID();
    const [permission, auth] = recordedHooks('documented', id);
    const [prompt] = recordedHooks('tool-call', id);
    expect(await replay([prompt!, auth!])).toEqual(['running', 'running']);
    expect(await replay([permission!])).toEqual(['idle']);
    const stored = await events(id);
    expect(stored[2]).toMatchObject({ event_type: 'notification', reason: 'permission_prompt', content: [{ type: 'text', text: 'Claude needs your permission to use Bash' }] });
  });

  it('stores compaction, a failed stop and SessionStart under their own types', async () => {
    const id = randomUUID();
    const [, , preCompact, postCompact, stopFailure, sessionStart] = recordedHooks('documented', id);
    expect(await replay([preCompact!, postCompact!, stopFailure!, sessionStart!])).toEqual(['running', 'running', 'idle', 'running']);
    const stored = await events(id);
    expect(stored.map((e) => e.event_type)).toEqual(['pre_compact', 'post_compact', 'stop_failure', 'session_start']);
    expect(stored[0].hook_input).toMatchObject({ trigger: 'manual', custom_instructions: 'keep the decisions' });
    expect(stored[2]).toMatchObject({ error: 'rate_limit: 429 Too Many Requests', prompt_id: '00000000-0000-4000-8000-0000000000aa' });
    expect(stored[3]).toMatchObject({ reason: 'resume' });
  });

  it('stores an unknown hook event and unknown fields, never refusing them', async () => {
    const id = randomUUID();
    await post({ session_id: id, hook_event_name: 'TeammateIdle', cwd: '/srv/x', teammate: { name: 'b' } });
    await post({ session_id: id, cwd: '/srv/x' });
    const stored = await events(id);
    expect(stored.map((e) => e.event_type)).toEqual(['teammate_idle', 'hook']);
    expect(stored[0].hook_input).toMatchObject({ teammate: { name: 'b' } });
    expect(await status(id)).toBe('running');
  });

  it('cleans text Postgres cannot hold instead of failing: U+0000 and unpaired surrogates', async () => {
    const id = randomUUID();
    const reply = await post({
      session_id: id,
      hook_event_name: 'PreToolUse',
      cwd: '/srv/a\u0000b',
      tool_name: 'Ba\ud800sh',
      tool_use_id: 't\u00001',
      tool_input: { x: 'a\u0000b' },
    });
    expect(reply.status).toBe(200);
    const [event] = await events(id);
    expect(event).toMatchObject({ tool_name: 'Ba\ufffdsh', tool_use_id: 't\ufffd1', tool_input: { x: 'a\u0000b' } });
    expect((await api.get(sessionPath(id))).body.session.project_dir).toBe('/srv/a\ufffdb');
  });
});

describe('POST /hooks/claude-code: long folders', () => {
  it('keeps the session name and folder within what PATCH accepts', async () => {
    const id = randomUUID();
    const cwd = `/srv/${'d'.repeat(300)}/${'e'.repeat(5000)}`;
    expect((await post({ session_id: id, hook_event_name: 'UserPromptSubmit', cwd, prompt: 'x' })).status).toBe(200);
    const { session } = (await api.get(sessionPath(id))).body;
    expect(session.session_name).toBe(`${'e'.repeat(200)} · ${id.slice(0, 8)}`);
    expect(Buffer.byteLength(session.project_dir)).toBeLessThanOrEqual(4096);
    expect(cwd.startsWith(session.project_dir)).toBe(true);
    expect((await api.patch(sessionPath(id), { session_name: session.session_name, project_dir: session.project_dir })).status).toBe(200);
  });
});

describe('POST /hooks/claude-code: bad input', () => {
  it.each([
    ['malformed JSON', '{"session_id": ', /Malformed JSON/],
    ['an array', '[{"session_id":"x"}]', /must be a JSON object/],
    ['no session_id', '{"hook_event_name":"Stop"}', /session_id is required/],
    ['an empty session_id', '{"session_id":""}', /session_id/],
    ['a session_id that is not a string', '{"session_id":42}', /session_id/],
  ])('when the body is %s, then 400 with a detail', async (_, body, detail) => {
    const reply = await post(body);
    expect(reply.status).toBe(400);
    expect(reply.body.detail).toMatch(detail);
  });

  it('when a session of the original API has the same id, then the hook is stored and its status rules stay', async () => {
    const id = `original-${randomUUID()}`;
    await api.post('/sessions', { session_id: id, session_name: 'by hand' });
    const [, , , stop] = recordedHooks('tool-call', id);
    expect((await post(stop)).status).toBe(200);
    const { session } = (await api.get(sessionPath(id))).body;
    expect(session).toMatchObject({ status: 'running', source: null, agent_name: null });
    expect((await api.get(sessionPath(id, '/result'))).status).toBe(400);
  });
});

describe('POST /hooks/claude-code: instances racing', () => {
  it('when two instances take the first hooks of new sessions at once, then each session is created once with every event', async () => {
    const other = await startInstance(database.url);
    try {
      const clients = [api, apiClient(other.baseUrl)];
      const ids = Array.from({ length: 5 }, () => randomUUID());
      const sends = ids.flatMap((id) =>
        Array.from({ length: 8 }, (_, i) =>
          clients[i % 2]!.post(HOOKS, { session_id: id, hook_event_name: 'PreToolUse', tool_use_id: `t${i}`, tool_name: 'Bash', cwd: '/srv/race' }),
        ),
      );
      expect(new Set((await Promise.all(sends)).map((reply) => reply.status))).toEqual(new Set([200]));
      for (const id of ids) {
        expect((await events(id)).map((e) => e.tool_use_id).sort()).toEqual(['t0', 't1', 't2', 't3', 't4', 't5', 't6', 't7']);
        expect((await api.get(sessionPath(id))).body.session).toMatchObject({ source: 'claude-code', status: 'running', event_count: 8 });
      }
    } finally {
      await other.close();
    }
  });
});

describe('POST /hooks/claude-code: keys and body limits', () => {
  it('needs the key when API_KEYS is set, and takes bodies above MAX_BODY_BYTES up to its own limit', async () => {
    const instance = await startInstance(database.url, { apiKeys: ['hook-key'], maxBodyBytes: 1024, hookMaxBodyBytes: 256 * 1024 });
    try {
      const client = apiClient(instance.baseUrl);
      const id = randomUUID();
      const [, , postToolUse] = recordedHooks('tool-call', id);
      const big = { ...postToolUse, tool_response: { stdout: 'x'.repeat(100_000) } };
      expect((await client.post(HOOKS, big)).status).toBe(401);
      const auth = { authorization: 'Bearer hook-key' };
      expect(await client.post(HOOKS, big, auth)).toMatchObject({ status: 200, body: {} });
      const [event] = (await client.get(sessionPath(id, '/events'), auth)).body.events;
      expect(event.tool_output.stdout).toHaveLength(100_000);
      // The other routes keep MAX_BODY_BYTES; the hooks route its own limit.
      expect((await client.post(sessionPath(id, '/events'), { event_type: 'x', content: [{ type: 'text', text: 'x'.repeat(2000) }] }, auth)).status).toBe(413);
      const huge = { ...postToolUse, tool_use_id: 'other', tool_response: { stdout: 'x'.repeat(300_000) } };
      expect((await client.post(HOOKS, huge, auth)).status).toBe(413);
    } finally {
      await instance.close();
    }
  });
});
