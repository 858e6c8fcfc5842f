import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { boundsFor, readTranscripts, TRANSCRIPT_BOUNDS, TRANSCRIPT_END_BOUNDS, transcriptFilesOf, withTranscript } from '../src/claudeCode/transcript';
import { TranscriptPart as TranscriptPartStruct } from '../src/claudeCode/transcriptEvents';
import { is } from 'superstruct';

const FIXTURES = path.join(__dirname, 'fixtures', 'claude-code', 'transcripts');
const SESSION = fs.existsSync(FIXTURES)
  ? fs
      .readdirSync(FIXTURES)
      .find((name) => name.endsWith('.jsonl'))
      ?.replace(/\.jsonl$/, '')
  : undefined;

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'asm-transcript-reader-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A copy of the recorded session (and its subagent folder) in a folder of the test's own. */
function recorded(): { file: string; sessionId: string; agentFiles: string[] } {
  if (!SESSION) throw new Error(`no recorded transcript in ${FIXTURES}`);
  const target = path.join(dir, 'projects');
  fs.cpSync(FIXTURES, target, { recursive: true });
  const subagents = path.join(target, SESSION, 'subagents');
  const agentFiles = fs.existsSync(subagents)
    ? fs
        .readdirSync(subagents)
        .filter((name) => name.endsWith('.jsonl'))
        .map((name) => path.join(subagents, name))
    : [];
  return { file: path.join(target, `${SESSION}.jsonl`), sessionId: SESSION, agentFiles };
}

const hookFor = (file: string, sessionId: string, fields: Record<string, unknown> = {}) => ({
  session_id: sessionId,
  transcript_path: file,
  hook_event_name: 'PreToolUse',
  ...fields,
});
const state = () => path.join(dir, 'spool');
const everything = (file: string, sessionId: string, fields: Record<string, unknown> = {}) => readTranscripts(hookFor(file, sessionId, fields), state(), TRANSCRIPT_END_BOUNDS);

const line = (value: Record<string, unknown>) => `${JSON.stringify(value)}\n`;
const assistant = (uuid: string, content: unknown[], more: Record<string, unknown> = {}) =>
  line({
    type: 'assistant',
    uuid,
    timestamp: '2026-12-07T10:00:00.000Z',
    requestRef: `req-${uuid}`,
    message: { id: `msg-${uuid}`, model: 'claude-test', content, usage: { input_tokens: 10, output_tokens: 5, cache_read_input_tokens: 2, cache_creation_input_tokens: 1 } },
    ...more,
  });
const user = (uuid: string, content: unknown, more: Record<string, unknown> = {}) =>
  line({ type: 'user', uuid, timestamp: '2026-12-07T10:00:01.000Z', promptId: 'prompt-1', message: { role: 'user', content }, ...more });

describe('the transcript reader, on a transcript recorded from the real CLI', () => {
  it('finds every assistant text, the thinking block, the refused Write, the requests and the cost-state', () => {
    const { file, sessionId } = recorded();
    const part = everything(file, sessionId)!;
    expect(is(part, TranscriptPartStruct)).toBe(true);
    const texts = part.entries.filter((entry) => entry.kind === 'text').map((entry) => entry.text);
    expect(texts).toEqual(
      expect.arrayContaining([
        'Let me list the folder first.',
        'The folder holds the settings. Now I will try to write a note.',
        'Writing was refused, so here is the listing only.',
      ]),
    );
    expect(part.entries.filter((entry) => entry.kind === 'thinking').map((entry) => entry.text)).toEqual(['The user wants the folder listed; Bash with ls will do.']);
    const refused = part.entries.filter((entry) => entry.kind === 'tool_refused');
    expect(refused).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          tool_use_id: 'toolu_tr_write',
          tool_name: 'Write',
          tool_input: expect.objectContaining({ content: 'note' }),
          text: expect.stringMatching(/permission/i),
        }),
      ]),
    );
    // Every text of the main conversation belongs to a turn.
    expect(part.entries.filter((entry) => entry.kind === 'text').every((entry) => typeof entry.prompt_id === 'string')).toBe(true);
    expect(part.requests.length).toBeGreaterThanOrEqual(4);
    expect(new Set(part.requests.map((request) => request.id)).size).toBe(part.requests.length);
    expect(part.requests.every((request) => request.output_tokens > 0 && request.model)).toBe(true);
    expect(part.cost_state).toEqual(expect.objectContaining({ totalCostUSD: expect.any(Number), modelUsage: expect.any(Object) }));
  });

  it('reads the subagent transcript (only) for a hook of the subagent, with its agent id', () => {
    const { file, sessionId, agentFiles } = recorded();
    expect(agentFiles.length).toBeGreaterThan(0);
    const agentId = path.basename(agentFiles[0]!).replace(/^agent-|\.jsonl$/g, '');
    // A subagent's hooks read its file only: the main conversation's is for the main conversation's hooks.
    expect(transcriptFilesOf(hookFor(file, sessionId, { agent_id: agentId }))).toEqual([agentFiles[0]]);
    expect(transcriptFilesOf(hookFor(file, sessionId))).toEqual([file]);
    readTranscripts(hookFor(file, sessionId), state(), TRANSCRIPT_END_BOUNDS);
    const part = readTranscripts(hookFor(file, sessionId, { hook_event_name: 'SubagentStop', agent_id: agentId }), state(), TRANSCRIPT_END_BOUNDS)!;
    const texts = part.entries.filter((entry) => entry.kind === 'text');
    expect(texts.map((entry) => [entry.text, entry.agent_id])).toEqual([['The subagent saw the settings folder.', agentId]]);
    expect(part.requests.every((request) => request.agent_id === agentId)).toBe(true);
  });

  it('reads from where it stopped: read again, nothing; a partial last line waits until it is whole', () => {
    const { file, sessionId } = recorded();
    const whole = fs.readFileSync(file);
    // The file as it stood mid-write: its last line cut in the middle.
    const lastLineStart = whole.lastIndexOf(0x0a, whole.length - 2) + 1;
    const cutAt = lastLineStart + Math.floor((whole.length - lastLineStart) / 2);
    fs.writeFileSync(file, whole.subarray(0, cutAt));
    const first = everything(file, sessionId)!;
    expect(everything(file, sessionId)).toBeNull();
    fs.writeFileSync(file, whole);
    const rest = everything(file, sessionId);
    const all = fs.mkdtempSync(path.join(dir, 'fresh-'));
    const once = readTranscripts(hookFor(file, sessionId), all, TRANSCRIPT_END_BOUNDS)!;
    const seen = [...first.entries, ...(rest?.entries ?? [])].map((entry) => `${entry.uuid}:${entry.index}`);
    expect(seen).toEqual(once.entries.map((entry) => `${entry.uuid}:${entry.index}`));
    expect(new Set(seen).size).toBe(seen.length);
  });

  it('keeps to the byte bound per hook: the rest comes with the next hooks, each entry once', () => {
    const { file, sessionId } = recorded();
    const size = fs.statSync(file).size;
    const bounds = { maxBytes: 64 * 1024, maxLineBytes: 64 * 1024, maxMs: 1000 };
    const seen: string[] = [];
    let reads = 0;
    for (; reads < 200; reads++) {
      const part = readTranscripts(hookFor(file, sessionId), state(), bounds);
      const offset = JSON.parse(fs.readFileSync(path.join(state(), 'offsets.json'), 'utf8')).files[file].offset;
      if (part) seen.push(...part.entries.map((entry) => `${entry.uuid}:${entry.index}`));
      if (offset >= size) break;
    }
    expect(reads).toBeGreaterThan(Math.floor(size / (64 * 1024)));
    const once = readTranscripts(hookFor(file, sessionId), path.join(dir, 'other'), TRANSCRIPT_END_BOUNDS)!;
    expect(seen).toEqual(once.entries.map((entry) => `${entry.uuid}:${entry.index}`));
  });
});

describe('the transcript reader, on lines written for the test', () => {
  const write = (...lines: string[]) => {
    const file = path.join(dir, 's.jsonl');
    fs.appendFileSync(file, lines.join(''));
    return file;
  };

  it('skips a line longer than the bound unparsed (a 2 MB Write), and takes the lines after it', () => {
    const huge = assistant('big', [{ type: 'tool_use', id: 'toolu_big', name: 'Write', input: { file_path: '/x', content: 'x'.repeat(2 * 1024 * 1024) } }]);
    const file = write(assistant('a1', [{ type: 'text', text: 'Before.' }]), huge, assistant('a2', [{ type: 'text', text: 'After.' }]));
    const texts: string[] = [];
    for (let i = 0; i < 20; i++) {
      const part = readTranscripts(hookFor(file, 's'), state(), TRANSCRIPT_BOUNDS);
      texts.push(...(part?.entries ?? []).map((entry) => entry.text!));
    }
    expect(texts).toEqual(['Before.', 'After.']);
  });

  it('cuts a refused call input over 64 KB, and says so', () => {
    const file = write(
      assistant('a1', [{ type: 'tool_use', id: 'toolu_w', name: 'Write', input: { file_path: '/x', content: 'y'.repeat(100 * 1024) } }]),
      user('u1', [{ type: 'tool_result', tool_use_id: 'toolu_w', is_error: true, content: 'Permission to use Write has been denied.' }]),
    );
    const [refused] = readTranscripts(hookFor(file, 's'), state(), TRANSCRIPT_BOUNDS)!.entries;
    expect(refused).toMatchObject({ kind: 'tool_refused', tool_name: 'Write', tool_input: { asm_cut: true }, text: 'Permission to use Write has been denied.' });
    expect(Buffer.byteLength((refused!.tool_input as { json_start: string }).json_start)).toBeLessThanOrEqual(64 * 1024);
  });

  it('cuts a refused call input nested deeper than 32 levels, so the hook body stays within what the server takes', () => {
    let deep: unknown = 'bottom';
    for (let i = 0; i < 40; i++) deep = { down: deep };
    const file = write(
      assistant('a1', [{ type: 'tool_use', id: 'toolu_d', name: 'Bash', input: deep }]),
      user('u1', [{ type: 'tool_result', tool_use_id: 'toolu_d', is_error: true, content: 'denied' }]),
    );
    const [refused] = readTranscripts(hookFor(file, 's'), state(), TRANSCRIPT_BOUNDS)!.entries;
    expect(refused!.tool_input).toMatchObject({ asm_cut: true, json_start: JSON.stringify(deep) });
  });

  it('knows a refused call whose tool_use came with an earlier hook (the pending call is remembered)', () => {
    const file = write(assistant('a1', [{ type: 'tool_use', id: 'toolu_e', name: 'Edit', input: { file_path: '/y' } }]));
    expect(readTranscripts(hookFor(file, 's'), state())!.entries).toEqual([]);
    write(user('u1', [{ type: 'tool_result', tool_use_id: 'toolu_e', is_error: true, content: [{ type: 'text', text: 'denied' }] }]));
    expect(readTranscripts(hookFor(file, 's'), state())!.entries).toEqual([
      expect.objectContaining({ kind: 'tool_refused', tool_name: 'Edit', tool_input: { file_path: '/y' }, text: 'denied' }),
    ]);
  });

  it('takes compaction summaries, API errors, and a request once whatever the lines that repeat it', () => {
    const file = write(
      user('c1', 'This session is being continued. Summary: things happened.', { isCompactSummary: true }),
      assistant('e1', [{ type: 'text', text: 'API Error: 500 boom' }], {
        isApiErrorMessage: true,
        apiErrorStatus: 500,
        message: { model: '<synthetic>', content: [{ type: 'text', text: 'API Error: 500 boom' }] },
      }),
      assistant('t1', [{ type: 'thinking', thinking: 'hmm' }], { requestRef: 'r1' }),
      assistant('t2', [{ type: 'text', text: 'Answer.' }], { requestRef: 'r1' }),
    );
    const part = readTranscripts(hookFor(file, 's'), state())!;
    expect(part.entries.map((entry) => [entry.kind, entry.text])).toEqual([
      ['compaction', 'This session is being continued. Summary: things happened.'],
      ['api_error', 'API Error: 500 boom'],
      ['thinking', 'hmm'],
      ['text', 'Answer.'],
    ]);
    expect(part.entries[1]).toMatchObject({ status: 500 });
    expect(part.requests).toEqual([
      expect.objectContaining({ id: 'r1', model: 'claude-test', input_tokens: 10, output_tokens: 5, cache_read_tokens: 2, cache_creation_tokens: 1 }),
    ]);
  });

  it('ignores an unreadable or missing file and lines that are not JSON; never throws', () => {
    expect(readTranscripts(hookFor(path.join(dir, 'missing.jsonl'), 's'), state())).toBeNull();
    const file = write('not json\n', '{"type":\n', assistant('a1', [{ type: 'text', text: 'Fine.' }]));
    expect(readTranscripts(hookFor(file, 's'), state())!.entries.map((entry) => entry.text)).toEqual(['Fine.']);
    fs.writeFileSync(path.join(state(), 'offsets.json'), '{broken');
    expect(() => readTranscripts(hookFor(file, 's'), state())).not.toThrow();
  });

  it('attaches what it read to the hook input as asm_transcript, and leaves the input as it was when there is nothing', () => {
    const file = write(assistant('a1', [{ type: 'text', text: 'Hello.' }]));
    const input = JSON.stringify(hookFor(file, 's'));
    const sent = JSON.parse(withTranscript(input, state()));
    expect(sent).toMatchObject({ ...JSON.parse(input), asm_transcript: { entries: [expect.objectContaining({ text: 'Hello.' })], cost_state: null } });
    expect(withTranscript(input, state())).toBe(input);
    expect(withTranscript('not json', state())).toBe('not json');
  });

  it('reads within the bigger bound at Stop, SubagentStop and SessionEnd', () => {
    expect(boundsFor('Stop')).toBe(TRANSCRIPT_END_BOUNDS);
    expect(boundsFor('SessionEnd')).toBe(TRANSCRIPT_END_BOUNDS);
    expect(boundsFor('PreToolUse')).toBe(TRANSCRIPT_BOUNDS);
    expect(TRANSCRIPT_BOUNDS).toEqual({ maxBytes: 256 * 1024, maxLineBytes: 256 * 1024, maxMs: 50 });
    expect(TRANSCRIPT_END_BOUNDS.maxBytes).toBe(2 * 1024 * 1024);
  });

  it('stops at the time bound, leaving the rest for the next hook', () => {
    const lines = Array.from({ length: 200 }, (_, i) => assistant(`a${i}`, [{ type: 'text', text: `Text ${i}.` }]));
    const file = write(...lines);
    let clock = 0;
    // Each look at the clock is 1 ms later: a 20 ms bound takes a few lines, not all 200.
    const now = () => clock++;
    const first = readTranscripts(hookFor(file, 's'), state(), { ...TRANSCRIPT_BOUNDS, maxMs: 20 }, now)!;
    expect(first.entries.length).toBeGreaterThan(0);
    expect(first.entries.length).toBeLessThan(50);
    const rest = readTranscripts(hookFor(file, 's'), state(), TRANSCRIPT_END_BOUNDS)!;
    expect([...first.entries, ...rest.entries].map((entry) => entry.text)).toEqual(lines.map((_, i) => `Text ${i}.`));
  });
});
