import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sessionPath } from './support/http';
import { useInstance } from './support/instance';
import { startMessagesStandIn, type MessagesRequest, type MessagesStandIn, type ScriptedReply } from './support/messagesStandIn';
import { useTestDatabase } from './support/testDatabase';
import { describeWithClaude, RUN_HOOK_EVENTS, runClaude } from './support/claudeCli';

const describeReal = describeWithClaude('the real-client transcript tests');

const API_KEY = 'transcript-key';
const database = useTestDatabase();
const server = useInstance(database, { apiKeys: [API_KEY] });
const auth = { authorization: `Bearer ${API_KEY}` };
const api = server.api;

const ROOT = path.join(__dirname, '..');
const HOOK_SCRIPT = path.join(ROOT, 'plugin', 'scripts', 'asm-hook.js');
/** The texts of the scripted conversation: each must reach the server once. */
export const TEXTS = {
  beforeCall: 'Let me list the folder first.',
  afterCall: 'The folder holds the settings. Now I will try to write a note.',
  afterRefusal: 'Writing was refused, so here is the listing only.',
  turn2Before: 'I will hand this to a subagent.',
  launched: 'A subagent is checking the folder.',
  subagent: 'The subagent saw the settings folder.',
  final: 'The subagent confirms: the folder holds the settings only.',
};
export const THINKING = 'The user wants the folder listed; Bash with ls will do.';

type Message = MessagesRequest['messages'][number];
const textOf = (message: Message | undefined) =>
  message === undefined ? '' : typeof message.content === 'string' ? message.content : message.content.map((block) => block.text ?? '').join('\n');
const hasToolResult = (message: Message | undefined) =>
  message !== undefined && typeof message.content !== 'string' && message.content.some((block) => block.type === 'tool_result');

/**
 * Two turns: (1) thinking, a text, Bash `ls -A`; a text and a Write the run may not use (refused); a last
 * text; (2) a text and the Agent tool, whose subagent runs Bash and answers; the launch acknowledged; the
 * final text once the subagent's notification comes. Side requests get "ok".
 */
function twoTurns(request: MessagesRequest): ScriptedReply {
  if (!(request.tools ?? []).some((tool) => tool.name === 'Bash')) return { content: [{ type: 'text', text: 'ok' }], stopReason: 'end_turn' };
  const last = request.messages[request.messages.length - 1];
  if (textOf(request.messages[0]).includes('SUBTASK')) {
    if (request.messages.some(hasToolResult)) return { content: [{ type: 'text', text: TEXTS.subagent }], stopReason: 'end_turn' };
    return { content: [{ type: 'tool_use', id: 'toolu_tr_sub', name: 'Bash', input: { command: 'ls -A', description: 'List the folder' } }], stopReason: 'tool_use' };
  }
  const secondTurn = request.messages.findIndex((message) => textOf(message).includes('SECOND'));
  if (secondTurn < 0) {
    const results = request.messages.filter(hasToolResult).length;
    if (results === 0) {
      return {
        content: [
          { type: 'thinking', thinking: THINKING },
          { type: 'text', text: TEXTS.beforeCall },
          { type: 'tool_use', id: 'toolu_tr_ls', name: 'Bash', input: { command: 'ls -A', description: 'List the folder' } },
        ],
        stopReason: 'tool_use',
      };
    }
    if (results === 1) {
      return {
        content: [
          { type: 'text', text: TEXTS.afterCall },
          { type: 'tool_use', id: 'toolu_tr_write', name: 'Write', input: { file_path: '/tmp/asm-transcript-note.txt', content: 'note' } },
        ],
        stopReason: 'tool_use',
      };
    }
    return { content: [{ type: 'text', text: TEXTS.afterRefusal }], stopReason: 'end_turn' };
  }
  const later = request.messages.slice(secondTurn);
  if (later.some((message) => textOf(message).includes('<task-notification>'))) return { content: [{ type: 'text', text: TEXTS.final }], stopReason: 'end_turn' };
  if (hasToolResult(last)) return { content: [{ type: 'text', text: TEXTS.launched }], stopReason: 'end_turn' };
  return {
    content: [
      { type: 'text', text: TEXTS.turn2Before },
      {
        type: 'tool_use',
        id: 'toolu_tr_agent',
        name: 'Agent',
        input: { description: 'Check the folder', prompt: 'SUBTASK: run ls -A and report', subagent_type: 'general-purpose' },
      },
    ],
    stopReason: 'tool_use',
  };
}

/** A project whose .claude/settings.json runs the plugin's hook script (the hook command) for every hook. */
function projectWithCommandHooks(dir: string): string {
  fs.mkdirSync(path.join(dir, '.claude'), { recursive: true });
  const hook = { type: 'command', command: `node ${JSON.stringify(HOOK_SCRIPT)} hook`, timeout: 10 };
  fs.writeFileSync(
    path.join(dir, '.claude', 'settings.json'),
    JSON.stringify({ hooks: Object.fromEntries(RUN_HOOK_EVENTS.map((event) => [event, [{ matcher: '', hooks: [hook] }]])) }, null, 2),
  );
  return dir;
}

/** Every transcript file under a throwaway HOME's ~/.claude/projects, by path relative to it. */
function transcriptFiles(home: string): string[] {
  const root = path.join(home, '.claude', 'projects');
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.jsonl')) found.push(path.relative(root, full));
    }
  };
  if (fs.existsSync(root)) walk(root);
  return found.sort();
}

describeReal('the real Claude Code CLI, with the hook command reading its transcript', () => {
  const folders: string[] = [];
  let standIn: MessagesStandIn;
  beforeAll(async () => {
    standIn = await startMessagesStandIn(twoTurns);
  });
  afterAll(async () => {
    await standIn.close();
    for (const dir of folders) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('stores every assistant text of a two-turn run with a tool call, a refused call, thinking and a subagent once, and counts the transcript events beside the hooks', async () => {
    const temp = fs.mkdtempSync(path.join(os.tmpdir(), 'asm-transcript-'));
    folders.push(temp);
    const home = path.join(temp, 'home');
    fs.mkdirSync(home);
    const project = projectWithCommandHooks(path.join(temp, 'notes'));
    const env = { ASM_URL: server.instance.baseUrl, ASM_API_KEY: API_KEY, ASM_SPOOL_DIR: path.join(temp, 'spool') };
    const first = await runClaude('List this folder', { cwd: project, home, standIn, tools: ['Bash', 'Agent'], env });
    process.stdout.write(`first run: ${JSON.stringify(first.result).slice(0, 400)} ${first.stderr.slice(0, 400)} requests ${standIn.requests.length}\n`);
    expect(first.code).toBe(0);
    const id: string = first.result.session_id;
    const second = await runClaude('SECOND: have a subagent check the folder', { cwd: project, home, standIn, tools: ['Bash', 'Agent'], env, args: ['--resume', id] });
    process.stdout.write(`second run: ${JSON.stringify(second.result).slice(0, 300)} requests ${standIn.requests.length}\n`);
    expect(second.code).toBe(0);
    expect(second.result.session_id).toBe(id);

    const record = process.env.RECORD_TRANSCRIPT_FIXTURES;
    if (record) {
      for (const file of transcriptFiles(home)) {
        const target = path.join(record, file.split(path.sep).slice(1).join(path.sep));
        fs.mkdirSync(path.dirname(target), { recursive: true });
        fs.copyFileSync(path.join(home, '.claude', 'projects', file), target);
      }
    }

    // SessionEnd of the second run is the last hook: once it is stored, so is everything before it.
    let events: any[] = [];
    for (let tries = 0; tries < 100; tries++) {
      events = (await api.get(sessionPath(id, '/events?limit=500'), auth)).body.events as any[];
      if (events.filter((event) => event.event_type === 'session_stop').length === 2) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const fromTranscript = events.filter((event) => event.hook_input?.source === 'transcript');
    const fromHooks = events.filter((event) => event.hook_input?.source !== 'transcript');
    process.stdout.write(
      `transcript run: ${events.map((e) => `${e.event_type}${e.role ? `:${e.role}` : ''}${e.hook_input?.source === 'transcript' ? '(T)' : ''}`).join(', ')}\n` +
        `transcript events: ${fromTranscript.length} beside ${fromHooks.length} hook events (${events.length} in all)\n`,
    );

    // Every assistant text of the run, once: from the transcript, or as the Stop / SubagentStop that carried it.
    const texts = events.flatMap((event) => (Array.isArray(event.content) ? event.content : []).filter((block: any) => block.type === 'text').map((block: any) => block.text));
    for (const text of Object.values(TEXTS)) expect({ text, times: texts.filter((seen: string) => seen === text).length }).toEqual({ text, times: 1 });
    expect(events.filter((event) => event.event_type === 'thinking').map((event) => event.content)).toEqual([[{ type: 'thinking', text: THINKING }]]);
    expect(events.filter((event) => event.event_type === 'tool_refused')).toEqual([
      expect.objectContaining({
        tool_use_id: 'toolu_tr_write',
        tool_name: 'Write',
        tool_input: expect.objectContaining({ content: 'note' }),
        error: expect.stringMatching(/permission/i),
      }),
    ]);
    // The text before a tool call comes before its pre_tool; a transcript event carries the entry's time.
    const before = events.findIndex((event) => event.content?.[0]?.text === TEXTS.beforeCall);
    const pre = events.findIndex((event) => event.event_type === 'pre_tool' && event.tool_use_id === 'toolu_tr_ls');
    expect(before).toBeGreaterThanOrEqual(0);
    expect(before).toBeLessThan(pre);
    expect(fromTranscript.every((event) => event.event_id.startsWith('cc:transcript:') && event.hook_input.uuid)).toBe(true);
    expect(events.find((event) => event.content?.[0]?.text === TEXTS.beforeCall).hook_input.model).toEqual(expect.any(String));

    // No telemetry in this run: usage comes from the transcript, every request it shows counted as not reported.
    const { session } = (await api.get(sessionPath(id), auth)).body;
    const file = path.join(
      home,
      '.claude',
      'projects',
      transcriptFiles(home).find((name) => name.endsWith(`${id}.jsonl`) && !name.includes('subagents'))!,
    );
    const lines = fs
      .readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    const costState = lines.filter((line) => line.type === 'cost-state').at(-1);
    expect(session.transcript_read).toBe(true);
    expect(session.usage.cost_source).toBe('transcript');
    expect(session.usage.cost_usd).toBeCloseTo(costState.totalCostUSD, 6);
    expect(session.usage.output_tokens).toBeGreaterThan(0);
    expect(session.requests_missing).toBeGreaterThanOrEqual(new Set(lines.filter((line) => line.type === 'assistant' && line.requestRef).map((line) => line.requestRef)).size);
    const usage = (await api.get(sessionPath(id, '/usage'), auth)).body;
    expect(usage).toMatchObject({ requests_reported: 0, requests_seen: session.requests_missing });
    expect(usage.by_agent).toEqual([expect.objectContaining({ agent_id: expect.any(String), requests: expect.any(Number) })]);
  }, 180_000);
});
