import fs from 'node:fs';
import path from 'node:path';

// Node builtins only: this file is part of the hook script the plugin ships (plugin/scripts/asm-hook.js).
//
// The hook command reads the session's transcript (the JSON-lines file Claude Code names in every hook input's
// `transcript_path`) from where it last stopped, and attaches what it found to the hook it sends, as
// `asm_transcript`: what hooks do not carry (every assistant text, thinking, refused tool calls, compaction
// summaries, API errors, each model request's usage, Claude Code's running cost). docs/transcripts.md lists
// the transcript fields relied on. The shape is checked again by the server (src/claudeCode/transcriptEvents.ts).

/** One content block worth an event (see TranscriptEntry in transcriptEvents.ts). */
export interface TranscriptEntry {
  uuid: string;
  index: number;
  timestamp: string;
  kind: 'text' | 'thinking' | 'tool_refused' | 'compaction' | 'api_error';
  agent_id?: string | null;
  prompt_id?: string | null;
  model?: string | null;
  text?: string | null;
  tool_use_id?: string | null;
  tool_name?: string | null;
  tool_input?: unknown;
  status?: unknown;
}

/** One model request, by `requestRef` (else its message id), with its usage as last written. */
export interface TranscriptRequest {
  id: string;
  timestamp: string;
  model: string | null;
  agent_id: string | null;
  prompt_id: string | null;
  input_tokens: number;
  output_tokens: number;
  cache_read_tokens: number;
  cache_creation_tokens: number;
}

export interface TranscriptPart {
  entries: TranscriptEntry[];
  requests: TranscriptRequest[];
  cost_state: Record<string, unknown> | null;
}

/** What one run may spend on the transcript, so a hook never holds the agent for it. */
export interface ReadBounds {
  /** Bytes read per hook (a line longer than `maxLineBytes` is skipped unparsed). */
  maxBytes: number;
  maxLineBytes: number;
  /** Wall time spent reading and parsing (ms). */
  maxMs: number;
}

export const TRANSCRIPT_BOUNDS: ReadBounds = { maxBytes: 256 * 1024, maxLineBytes: 256 * 1024, maxMs: 50 };
/** At Stop, SubagentStop and SessionEnd: read to the end, within these. */
export const TRANSCRIPT_END_BOUNDS: ReadBounds = { maxBytes: 2 * 1024 * 1024, maxLineBytes: 256 * 1024, maxMs: 250 };
const END_HOOKS = new Set(['Stop', 'StopFailure', 'SubagentStop', 'SessionEnd']);

/** The bounds for a hook: larger when it ends a turn or the session (nothing more may come to carry the rest). */
export const boundsFor = (hookEventName: unknown): ReadBounds => (typeof hookEventName === 'string' && END_HOOKS.has(hookEventName) ? TRANSCRIPT_END_BOUNDS : TRANSCRIPT_BOUNDS);

/** A refused call's input is kept up to this (its JSON); larger ones are cut, and say so. */
export const MAX_TOOL_INPUT_BYTES = 64 * 1024;
const MAX_TEXT_CHARS = 512 * 1024;
const MAX_ERROR_CHARS = 16 * 1024;
/** tool_use blocks awaiting their result, per file: the oldest go beyond this. */
const MAX_PENDING = 32;
/** Files remembered in the state: the least recently read go beyond this. */
const MAX_FILES = 200;

interface PendingTool {
  name: string | null;
  input: unknown;
}

/** Where reading one transcript file stands. */
interface FileState {
  offset: number;
  /** Inside a line longer than the bound: everything up to the next newline is skipped. */
  skipping: boolean;
  /** The turn the lines now belong to (the last user prompt's `promptId`). */
  promptId: string | null;
  pending: Record<string, PendingTool>;
  /** When it was last read (ms since the epoch). */
  at: number;
}

interface ReaderState {
  files: Record<string, FileState>;
}

const STATE_FILE = 'offsets.json';

const readState = (dir: string): ReaderState => {
  try {
    const value = JSON.parse(fs.readFileSync(path.join(dir, STATE_FILE), 'utf8')) as ReaderState;
    return value && typeof value.files === 'object' && value.files !== null ? value : { files: {} };
  } catch {
    return { files: {} };
  }
};

/** Written whole (temporary name, then rename): a concurrent run reads the old state or the new, never half. */
const writeState = (dir: string, state: ReaderState) => {
  const names = Object.keys(state.files);
  if (names.length > MAX_FILES) {
    for (const name of names.sort((a, b) => state.files[a]!.at - state.files[b]!.at).slice(0, names.length - MAX_FILES)) delete state.files[name];
  }
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const temporary = path.join(dir, `.${STATE_FILE}.${process.pid}.${Math.floor(Math.random() * 1e9)}.tmp`);
  fs.writeFileSync(temporary, JSON.stringify(state), { mode: 0o600 });
  fs.renameSync(temporary, path.join(dir, STATE_FILE));
};

const text = (value: unknown): string | null => (typeof value === 'string' ? value : null);
const count = (value: unknown): number => (typeof value === 'number' && Number.isFinite(value) && value >= 0 ? Math.floor(value) : 0);
const cut = (value: string, max: number) => (value.length > max ? value.slice(0, max) : value);

/** A tool_result's text: its string content, or its text blocks joined. */
function resultText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .map((block) => (block && typeof block === 'object' && typeof (block as { text?: unknown }).text === 'string' ? (block as { text: string }).text : ''))
    .filter((part) => part !== '')
    .join('\n');
}

/** How deeply a JSON text nests (brackets outside strings). */
function depthOf(json: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < json.length; i++) {
    const c = json[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{' || c === '[') deepest = Math.max(deepest, ++depth);
    else if (c === '}' || c === ']') depth--;
  }
  return deepest;
}

// The hook body nests it four levels down (asm_transcript.entries[n].tool_input): far within what the server takes.
const MAX_TOOL_INPUT_DEPTH = 32;

/** A tool input as kept for a refused call: whole up to 64 KB of JSON (and 32 levels); else the start of its JSON, marked cut. */
function keptInput(input: unknown): unknown {
  const json = JSON.stringify(input ?? null);
  if (Buffer.byteLength(json) <= MAX_TOOL_INPUT_BYTES && depthOf(json) <= MAX_TOOL_INPUT_DEPTH) return input ?? null;
  return {
    asm_cut: true,
    json_start: Buffer.from(json)
      .subarray(0, MAX_TOOL_INPUT_BYTES)
      .toString('utf8')
      .replace(/\uFFFD+$/, ''),
  };
}

/** The cost-state line's totals (what Claude Code computed), without the line's own bookkeeping. */
function costStateOf(line: Record<string, unknown>): Record<string, unknown> {
  const { type: _type, uuid: _uuid, parentUuid: _parent, sessionId: _session, ...rest } = line;
  return rest;
}

/** What one line adds: entries, a request, a cost-state; updates the file's state (turn, pending tool calls). */
function takeLine(line: Record<string, unknown>, file: FileState, part: TranscriptPart, requests: Map<string, TranscriptRequest>): void {
  const type = line.type;
  if (type === 'cost-state') {
    part.cost_state = costStateOf(line);
    return;
  }
  if (type !== 'user' && type !== 'assistant') return;
  const uuid = text(line.uuid);
  const timestamp = text(line.timestamp) ?? new Date().toISOString();
  const agentId = line.isSidechain === true ? text(line.agentId) : null;
  if (type === 'user' && text(line.promptId)) file.promptId = text(line.promptId);
  const promptId = text(line.promptId) ?? file.promptId;
  const message = (line.message && typeof line.message === 'object' ? line.message : {}) as Record<string, unknown>;
  const content = Array.isArray(message.content)
    ? (message.content as Record<string, unknown>[])
    : typeof message.content === 'string'
      ? [{ type: 'text', text: message.content }]
      : [];
  const base = { agent_id: agentId, prompt_id: promptId };
  if (type === 'user') {
    if (line.isCompactSummary === true && uuid) {
      const summary = content.map((block) => text(block?.text) ?? '').join('\n');
      part.entries.push({ uuid, index: 0, timestamp, kind: 'compaction', ...base, text: cut(summary, MAX_TEXT_CHARS) });
      return;
    }
    content.forEach((block, index) => {
      if (!block || block.type !== 'tool_result') return;
      const id = text(block.tool_use_id);
      if (!id) return;
      const pending = file.pending[id];
      delete file.pending[id];
      if (block.is_error !== true || !uuid) return;
      part.entries.push({
        uuid,
        index,
        timestamp,
        kind: 'tool_refused',
        ...base,
        tool_use_id: id,
        tool_name: pending?.name ?? null,
        tool_input: pending?.input ?? null,
        text: cut(resultText(block.content), MAX_ERROR_CHARS),
      });
    });
    return;
  }
  const model = text(message.model);
  if (line.isApiErrorMessage === true) {
    if (uuid) {
      const said = content.map((block) => text(block?.text) ?? '').join('\n') || text(line.error) || 'API error';
      part.entries.push({ uuid, index: 0, timestamp, kind: 'api_error', ...base, text: cut(said, MAX_ERROR_CHARS), status: line.apiErrorStatus ?? null });
    }
    return;
  }
  content.forEach((block, index) => {
    if (!block || typeof block !== 'object') return;
    if (block.type === 'text' && typeof block.text === 'string' && uuid) {
      part.entries.push({ uuid, index, timestamp, kind: 'text', ...base, model, text: cut(block.text, MAX_TEXT_CHARS) });
    } else if (block.type === 'thinking' && typeof block.thinking === 'string' && block.thinking !== '' && uuid) {
      part.entries.push({ uuid, index, timestamp, kind: 'thinking', ...base, model, text: cut(block.thinking, MAX_TEXT_CHARS) });
    } else if (block.type === 'tool_use' && typeof block.id === 'string') {
      file.pending[block.id] = { name: text(block.name), input: keptInput(block.input) };
      const ids = Object.keys(file.pending);
      for (const old of ids.slice(0, Math.max(0, ids.length - MAX_PENDING))) delete file.pending[old];
    }
  });
  const requestId = text(line.requestRef) ?? text(message.id);
  const usage = message.usage as Record<string, unknown> | undefined;
  if (requestId && usage && typeof usage === 'object' && model !== '<synthetic>') {
    const seen = requests.get(requestId);
    const request: TranscriptRequest = {
      id: requestId,
      timestamp: seen?.timestamp ?? timestamp,
      model,
      agent_id: agentId,
      prompt_id: promptId,
      input_tokens: Math.max(seen?.input_tokens ?? 0, count(usage.input_tokens)),
      output_tokens: Math.max(seen?.output_tokens ?? 0, count(usage.output_tokens)),
      cache_read_tokens: Math.max(seen?.cache_read_tokens ?? 0, count(usage.cache_read_input_tokens)),
      cache_creation_tokens: Math.max(seen?.cache_creation_tokens ?? 0, count(usage.cache_creation_input_tokens)),
    };
    requests.set(requestId, request);
  }
}

const NEWLINE = 0x0a;
// Lines of these types are all that is taken; a large line (an attachment, a request's blob) is looked
// through for them before it is parsed.
const WANTED = ['"type":"assistant"', '"type":"user"', '"type":"cost-state"'].map((marker) => Buffer.from(marker));
const PARSE_ALWAYS_BYTES = 16 * 1024;
const wanted = (buffer: Buffer, start: number, end: number) =>
  end - start <= PARSE_ALWAYS_BYTES ||
  WANTED.some((marker) => {
    const at = buffer.indexOf(marker, start);
    return at >= 0 && at < end;
  });

/**
 * Reads one file from its state's offset, within the bounds left (`budget.bytes`, `deadline`): whole lines
 * only (a partial last line waits for the next read), a line longer than `maxLineBytes` skipped unparsed, a
 * line that is not JSON ignored. Advances the state past what it took. An unreadable file changes nothing.
 */
function readFile(
  file: string,
  state: FileState,
  budget: { bytes: number },
  bounds: ReadBounds,
  deadline: number,
  now: () => number,
  part: TranscriptPart,
  requests: Map<string, TranscriptRequest>,
): void {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return;
  }
  try {
    const size = fs.fstatSync(fd).size;
    // Shorter than where we stopped: not the file we read (replaced, or cut): from its start.
    if (size < state.offset) Object.assign(state, { offset: 0, skipping: false, promptId: null, pending: {} });
    while (state.offset < size && budget.bytes > 0 && now() < deadline) {
      const length = Math.min(size - state.offset, budget.bytes, bounds.maxLineBytes + 1);
      const buffer = Buffer.alloc(length);
      const got = fs.readSync(fd, buffer, 0, length, state.offset);
      if (got <= 0) break;
      budget.bytes -= got;
      let at = 0;
      if (state.skipping) {
        const end = buffer.indexOf(NEWLINE, 0);
        if (end < 0 || end >= got) {
          state.offset += got;
          continue;
        }
        state.skipping = false;
        at = end + 1;
      }
      let progressed = at > 0;
      while (at < got) {
        const end = buffer.indexOf(NEWLINE, at);
        if (end < 0 || end >= got) {
          // No newline in the rest: a line longer than the bound is skipped; a shorter one waits (partial, or cut by the budget).
          if (got - at >= bounds.maxLineBytes) {
            state.skipping = true;
            at = got;
            progressed = true;
          }
          break;
        }
        if (end - at < bounds.maxLineBytes && wanted(buffer, at, end)) {
          try {
            const line = JSON.parse(buffer.toString('utf8', at, end)) as unknown;
            if (line && typeof line === 'object' && !Array.isArray(line)) takeLine(line as Record<string, unknown>, state, part, requests);
          } catch {
            // Not JSON (or not whole): nothing to take.
          }
        }
        at = end + 1;
        progressed = true;
        if (now() >= deadline) break;
      }
      state.offset += at;
      if (!progressed) break;
    }
  } catch {
    // Unreadable midway: what was taken stands, the rest waits.
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The transcript file a hook names: a subagent's hook (it carries `agent_id`) its subagent's file, any other
 * hook the session's. A subagent's hooks run while the main conversation goes on: were they to read the
 * session's file, they could take a turn's last text before its Stop arrives with it (then stored twice).
 */
export function transcriptFilesOf(input: Record<string, unknown>): string[] {
  const main = text(input.transcript_path);
  const agentFile = text(input.agent_transcript_path);
  const agentId = text(input.agent_id);
  const sessionId = text(input.session_id);
  let file = main;
  if (agentFile) file = agentFile;
  else if (agentId) file = main && sessionId && /^[\w-]+$/.test(agentId) ? path.join(path.dirname(main), sessionId, 'subagents', `agent-${agentId}.jsonl`) : null;
  return file && path.isAbsolute(file) ? [file] : [];
}

/**
 * Reads what is new in the transcripts the hook input names, within `bounds`, and remembers where it stopped
 * in `stateDir`. Null when nothing was read. Never throws.
 */
export function readTranscripts(input: Record<string, unknown>, stateDir: string, bounds: ReadBounds = boundsFor(input.hook_event_name), now = Date.now): TranscriptPart | null {
  try {
    const files = transcriptFilesOf(input);
    if (files.length === 0) return null;
    const deadline = now() + bounds.maxMs;
    const state = readState(stateDir);
    const part: TranscriptPart = { entries: [], requests: [], cost_state: null };
    const requests = new Map<string, TranscriptRequest>();
    const budget = { bytes: bounds.maxBytes };
    let changed = false;
    for (const file of files) {
      const before = state.files[file] ?? { offset: 0, skipping: false, promptId: null, pending: {}, at: 0 };
      const fileState: FileState = { ...before, pending: { ...before.pending } };
      readFile(file, fileState, budget, bounds, deadline, now, part, requests);
      if (fileState.offset !== before.offset || fileState.skipping !== before.skipping) {
        state.files[file] = { ...fileState, at: now() };
        changed = true;
      }
    }
    part.requests = [...requests.values()];
    if (changed) writeState(stateDir, state);
    return part.entries.length === 0 && part.requests.length === 0 && part.cost_state === null ? null : part;
  } catch {
    return null;
  }
}

/**
 * The hook input with what was read from its transcripts attached as `asm_transcript` (the input unchanged
 * when nothing was read, or it is not a JSON object). Never throws.
 */
export function withTranscript(input: string, stateDir: string, bounds?: ReadBounds): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(input);
  } catch {
    return input;
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return input;
  const fields = parsed as Record<string, unknown>;
  if ('asm_transcript' in fields) return input;
  const part = readTranscripts(fields, stateDir, bounds ?? boundsFor(fields.hook_event_name));
  if (part === null) return input;
  const end = input.lastIndexOf('}');
  const empty = Object.keys(fields).length === 0;
  return `${input.slice(0, end)}${empty ? '' : ','}"asm_transcript":${JSON.stringify(part)}${input.slice(end)}`;
}
