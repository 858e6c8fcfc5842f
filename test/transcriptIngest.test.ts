import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { sessionPath } from './support/http';
import { useInstance } from './support/instance';
import { useTestDatabase } from './support/testDatabase';

const database = useTestDatabase();
const server = useInstance(database);
const api = server.api;

const HOOKS = '/hooks/claude-code';
const events = async (id: string) => (await api.get(sessionPath(id, '/events?limit=500'))).body.events as any[];

const entry = (fields: Record<string, unknown>) => ({ uuid: randomUUID(), index: 0, timestamp: '2026-01-02T03:04:05.678Z', ...fields });
const part = (entries: unknown[], more: Record<string, unknown> = {}) => ({ entries, requests: [], cost_state: null, ...more });

describe('POST /hooks/claude-code with asm_transcript', () => {
  it('stores each transcript entry as its event, before the hook, at the entry time, and never the field itself', async () => {
    const id = randomUUID();
    const text = entry({ kind: 'text', text: 'Let me look at the folder.', model: 'claude-sonnet-4-5', prompt_id: 'p1' });
    const thinking = entry({ kind: 'thinking', text: 'The user wants a listing.', prompt_id: 'p1' });
    const compaction = entry({ kind: 'compaction', text: 'Summary of the conversation so far' });
    const apiError = entry({ kind: 'api_error', text: 'API Error: 529 overloaded', status: 529 });
    const reply = await api.post(HOOKS, {
      session_id: id,
      hook_event_name: 'PreToolUse',
      tool_use_id: 'toolu_1',
      tool_name: 'Bash',
      tool_input: { command: 'ls' },
      asm_transcript: part([text, thinking, compaction, apiError]),
    });
    expect(reply.status).toBe(200);
    const stored = await events(id);
    expect(stored.map((event) => event.event_type)).toEqual(['message', 'thinking', 'compaction', 'api_error', 'pre_tool']);
    expect(stored[0]).toMatchObject({
      event_id: `cc:transcript:${text.uuid}:0`,
      role: 'assistant',
      content: [{ type: 'text', text: 'Let me look at the folder.' }],
      timestamp: '2026-01-02T03:04:05.678Z',
      prompt_id: 'p1',
      hook_input: { source: 'transcript', uuid: text.uuid, model: 'claude-sonnet-4-5' },
    });
    expect(stored[1]).toMatchObject({ role: 'assistant', content: [{ type: 'thinking', text: 'The user wants a listing.' }] });
    expect(stored[2]).toMatchObject({ content: [{ type: 'text', text: 'Summary of the conversation so far' }] });
    expect(stored[3]).toMatchObject({ error: 'API Error: 529 overloaded', hook_input: { source: 'transcript', status: 529 } });
    expect(stored[4].hook_input).not.toHaveProperty('asm_transcript');
    const { session } = (await api.get(sessionPath(id))).body;
    expect(session.transcript_read).toBe(true);
  });

  it('stores an entry read twice once', async () => {
    const id = randomUUID();
    const text = entry({ kind: 'text', text: 'Once.' });
    for (const name of ['Notification', 'PreCompact']) {
      expect((await api.post(HOOKS, { session_id: id, hook_event_name: name, message: name, asm_transcript: part([text]) })).status).toBe(200);
    }
    expect((await events(id)).map((event) => event.event_type)).toEqual(['message', 'notification', 'pre_compact']);
  });

  it("leaves out the transcript copy of the Stop's last_assistant_message, in the same batch or stored before", async () => {
    const id = randomUUID();
    const before = entry({ kind: 'text', text: 'Before the call.', prompt_id: 'p1' });
    const final = entry({ kind: 'text', text: 'All done.\n', prompt_id: 'p1' });
    await api.post(HOOKS, { session_id: id, hook_event_name: 'Stop', prompt_id: 'p1', last_assistant_message: 'All done.', asm_transcript: part([before, final]) });
    // The same text read again by a later hook (SessionEnd): still once.
    await api.post(HOOKS, { session_id: id, hook_event_name: 'SessionEnd', prompt_id: 'p1', reason: 'other', asm_transcript: part([final]) });
    const stored = await events(id);
    expect(stored.map((event) => [event.event_type, event.content?.[0]?.text ?? null])).toEqual([
      ['message', 'Before the call.'],
      ['message', 'All done.'],
      ['session_stop', null],
    ]);
    expect(stored[1].event_id).toBe('cc:Stop:prompt:p1');
    expect((await api.get(sessionPath(id, '/result'))).body).toMatchObject({ result: 'All done.' });
  });

  it('stores a refused call as tool_refused only when no PostToolUse / PostToolUseFailure reported it', async () => {
    const id = randomUUID();
    const refused = entry({ kind: 'tool_refused', tool_use_id: 'toolu_r', tool_name: 'Write', tool_input: { file_path: '/etc/x' }, text: 'Permission denied' });
    const ran = entry({ kind: 'tool_refused', tool_use_id: 'toolu_ran', tool_name: 'Bash', tool_input: { command: 'false' }, text: 'Exit code 1' });
    const ranNow = entry({ kind: 'tool_refused', tool_use_id: 'toolu_now', tool_name: 'Bash', tool_input: { command: 'false' }, text: 'Exit code 1' });
    await api.post(HOOKS, { session_id: id, hook_event_name: 'PostToolUseFailure', tool_use_id: 'toolu_ran', tool_name: 'Bash', error: 'Exit code 1' });
    await api.post(HOOKS, {
      session_id: id,
      hook_event_name: 'PostToolUseFailure',
      tool_use_id: 'toolu_now',
      tool_name: 'Bash',
      error: 'Exit code 1',
      asm_transcript: part([refused, ran, ranNow]),
    });
    const stored = await events(id);
    expect(stored.map((event) => [event.event_type, event.tool_use_id])).toEqual([
      ['post_tool', 'toolu_ran'],
      ['tool_refused', 'toolu_r'],
      ['post_tool', 'toolu_now'],
    ]);
    expect(stored[1]).toMatchObject({ tool_name: 'Write', tool_input: { file_path: '/etc/x' }, error: 'Permission denied', hook_input: { source: 'transcript' } });
  });

  it('stores the hook, ignoring the field, when asm_transcript has another shape', async () => {
    const id = randomUUID();
    const reply = await api.post(HOOKS, { session_id: id, hook_event_name: 'Notification', message: 'hi', asm_transcript: { entries: 'junk' } });
    expect(reply.status).toBe(200);
    const stored = await events(id);
    expect(stored.map((event) => event.event_type)).toEqual(['notification']);
    expect(stored[0].hook_input).not.toHaveProperty('asm_transcript');
    expect((await api.get(sessionPath(id))).body.session.transcript_read).toBe(false);
  });

  it('masks transcript texts and refused tool inputs before they are stored, and still leaves out the Stop text it repeats', async () => {
    const cases: { kind: string; secret: string }[] = JSON.parse(readFileSync(path.join(__dirname, 'fixtures', 'secrets', 'cases.json'), 'utf8'));
    const github = cases.find((c) => c.kind === 'github_token')!.secret;
    const id = randomUUID();
    const said = entry({ kind: 'text', text: `I will use ${github} now.`, prompt_id: 'p1' });
    const refused = entry({ kind: 'tool_refused', tool_use_id: 'toolu_s', tool_name: 'Bash', tool_input: { command: `curl -H 'token ${github}'` }, text: 'denied' });
    const final = entry({ kind: 'text', text: `Done with ${github}.`, prompt_id: 'p1' });
    await api.post(HOOKS, { session_id: id, hook_event_name: 'Notification', message: 'x', asm_transcript: part([said, refused]) });
    await api.post(HOOKS, { session_id: id, hook_event_name: 'Stop', prompt_id: 'p1', last_assistant_message: `Done with ${github}.` });
    await api.post(HOOKS, { session_id: id, hook_event_name: 'SessionEnd', prompt_id: 'p1', asm_transcript: part([final]) });
    const stored = await events(id);
    expect(JSON.stringify(stored)).not.toContain(github);
    expect(stored.map((event) => [event.event_type, event.content?.[0]?.text ?? event.tool_input?.command ?? null])).toEqual([
      ['message', 'I will use [redacted:github_token] now.'],
      ['tool_refused', "curl -H 'token [redacted:github_token]'"],
      ['notification', 'x'],
      ['message', 'Done with [redacted:github_token].'],
      ['session_stop', null],
    ]);
  });

  it('falls back to the receive time for an entry time in the future', async () => {
    const id = randomUUID();
    const later = entry({ kind: 'text', text: 'From the future.', timestamp: '2999-01-01T00:00:00Z' });
    await api.post(HOOKS, { session_id: id, hook_event_name: 'Notification', message: 'x', asm_transcript: part([later]) });
    const [stored] = await events(id);
    expect(Date.parse(stored.timestamp)).toBeLessThan(Date.now() + 60_000);
  });
});
