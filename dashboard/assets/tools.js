// A tool call as one row: its pre_tool and post_tool events paired (by tool_use_id, else by order), with a
// one-line summary of what it did, its duration and whether it worked, its output as text with a short
// preview, and an Edit or MultiEdit as a diff. Everything reaches the page as text (see dom.js).

import { copyButton, formatNumber, formatWaiting, h, icon, oneLine, plural, timeEl, truncate } from './dom.js';
import { countLines, eventLink, formatValue, payload } from './timeline.js';

/** Lines of output shown before the reader expands it. */
const PREVIEW_LINES = 3;

const FILE_TOOLS = new Set(['Read', 'Edit', 'MultiEdit', 'Write', 'NotebookEdit', 'NotebookRead']);
/** Tools whose input shows what they did (the content, the diff): their successful result is not repeated. */
const FILE_WRITERS = new Set(['Write', 'Edit', 'MultiEdit']);

/** The one line that says what a call does: the Bash command, the file of Read/Edit/Write, the pattern of Grep… */
export function toolSummary(name, input) {
  if (!input || typeof input !== 'object') return typeof input === 'string' ? input : '';
  const text = (key) => (typeof input[key] === 'string' ? input[key] : '');
  if (name === 'Bash') return text('command');
  if (FILE_TOOLS.has(name)) return text('file_path') || text('notebook_path') || text('path');
  if (name === 'Grep') return [text('pattern'), text('path') || text('glob')].filter(Boolean).join(' in ');
  if (name === 'Glob') return [text('pattern'), text('path')].filter(Boolean).join(' in ');
  if (name === 'WebFetch') return text('url');
  if (name === 'WebSearch') return text('query');
  if (name === 'Agent' || name === 'Task') return text('description') || text('prompt');
  if (name === 'TodoWrite' && Array.isArray(input.todos)) return plural(input.todos.length, 'todo');
  for (const key of ['command', 'file_path', 'path', 'pattern', 'url', 'query', 'description', 'prompt']) if (text(key)) return text(key);
  return Object.values(input).find((value) => typeof value === 'string') ?? '';
}

/**
 * A tool's output as text: Claude Code's Bash `{stdout, stderr}` as the two texts, Read's `{file: {content}}`
 * as the file's text, content blocks as their text; anything else as indented JSON.
 */
export function outputTexts(output) {
  if (output === null || output === undefined) return { text: '', stderr: '' };
  if (typeof output === 'string') return { text: output, stderr: '' };
  if (Array.isArray(output) && output.every((block) => block && typeof block === 'object' && typeof block.text === 'string')) {
    return { text: output.map((block) => block.text).join('\n'), stderr: '' };
  }
  if (typeof output === 'object') {
    if (typeof output.stdout === 'string' || typeof output.stderr === 'string') {
      return { text: typeof output.stdout === 'string' ? output.stdout : '', stderr: typeof output.stderr === 'string' ? output.stderr : '' };
    }
    if (output.file && typeof output.file === 'object' && typeof output.file.content === 'string') return { text: output.file.content, stderr: '' };
    if (typeof output.content === 'string') return { text: output.content, stderr: '' };
  }
  return { text: formatValue(output), stderr: '' };
}

/** Whether a tool result says the call failed: an error, a non-zero exit code, `is_error`, or an interrupt. */
export function toolFailed(post) {
  if (!post) return false;
  if (post.error !== null && post.error !== undefined) return true;
  if (typeof post.exit_code === 'number' && post.exit_code !== 0) return true;
  const output = post.tool_output;
  if (output && typeof output === 'object' && !Array.isArray(output)) {
    if (output.is_error === true || output.interrupted === true) return true;
    if (typeof output.exit_code === 'number' && output.exit_code !== 0) return true;
  }
  return false;
}

/** "850 ms", "1.2 s", "2 min 5 s". */
export function formatDuration(ms) {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) return '';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 60) return `${minutes} min ${Math.round((ms % 60_000) / 1000)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** The call's duration: the tool's own `duration_ms`, else the time between the two events. */
export function callDuration(pre, post) {
  if (post && typeof post.duration_ms === 'number') return post.duration_ms;
  if (pre && post) {
    const ms = Date.parse(post.timestamp) - Date.parse(pre.timestamp);
    if (Number.isFinite(ms) && ms >= 0) return ms;
  }
  return null;
}

/**
 * One tool call, rendered as an <li> that starts from its pre_tool (or, when that was never seen, from its
 * post_tool) and is completed in place when the result comes.
 */
export class ToolCall {
  /** `onAgent(agentId, call)`: the call started a subagent (an Agent or Task call whose result names it). */
  constructor(pre, post = null, { onAgent, onCreate } = {}) {
    this.onAgent = onAgent;
    onCreate?.(this);
    this.pre = pre;
    this.post = null;
    const first = pre ?? post;
    this.toolUseId = first.tool_use_id ?? null;
    this.toolName = typeof first.tool_name === 'string' && first.tool_name !== '' ? first.tool_name : 'tool';
    this.input = pre ? pre.tool_input : post.tool_input;
    this.statusEl = h('span', { class: 'tool-status' });
    this.durationEl = h('span', { class: 'tool-duration' });
    this.body = h('div', { class: 'tool-body' });
    const summary = toolSummary(this.toolName, this.input);
    this.summary = summary.length > 80 ? `${oneLine(summary).slice(0, 79)}…` : oneLine(summary);
    this.li = h(
      'li',
      { class: 'event event-tool-call', dataset: { eventId: String(first.id), ...(this.toolUseId ? { toolUseId: this.toolUseId } : {}) } },
      h(
        'div',
        { class: 'event-head' },
        h('span', { class: 'kind kind-tool' }, icon('tool')),
        h('code', { class: 'tool-name', text: this.toolName }),
        summary ? h('span', { class: 'preview tool-summary', title: truncate(summary, 2000), text: truncate(oneLine(summary), 200) }) : h('span', { class: 'preview' }),
        this.statusEl,
        this.durationEl,
        h('span', { class: 'event-time' }, timeEl(first.timestamp, { relative: false })),
        eventLink(first),
      ),
      this.body,
    );
    this.renderInput();
    /** The permission asked for this call (an approval), and what became of it. */
    this.approval = null;
    this.approvalEl = h('p', { class: 'approval-line', hidden: true });
    this.outputEl = h('div', { class: 'tool-output-holder' });
    this.body.append(this.approvalEl, this.outputEl);
    if (post) this.complete(post);
    else this.renderPending();
  }

  /** The ids of the events this row shows. */
  get eventIds() {
    return [this.pre?.id, this.post?.id].filter((id) => typeof id === 'number');
  }

  renderInput() {
    const input = this.input;
    if (input === null || input === undefined) return;
    // Write: the file's content as text under its path, not one JSON string with \n escapes.
    if (this.toolName === 'Write' && typeof input === 'object' && typeof input.content === 'string') {
      const path = typeof input.file_path === 'string' && input.file_path !== '' ? input.file_path : 'Content';
      this.body.append(outputBlock(input.content, path, 'tool-write', false, 'Copy the content'));
      return;
    }
    if ((this.toolName === 'Edit' || this.toolName === 'MultiEdit') && input && typeof input === 'object') {
      const edits = this.toolName === 'MultiEdit' && Array.isArray(input.edits) ? input.edits : [input];
      const diffs = edits.filter((edit) => edit && typeof edit === 'object').map((edit) => diffView(edit.old_string, edit.new_string));
      if (diffs.length > 0) {
        const added = diffs.reduce((sum, diff) => sum + diff.added, 0);
        const removed = diffs.reduce((sum, diff) => sum + diff.removed, 0);
        const details = h(
          'details',
          { class: 'payload tool-diff', open: true },
          h('summary', null, h('span', { class: 'summary-label', text: 'Diff' }), h('span', { class: 'summary-size', text: `+${formatNumber(added)} −${formatNumber(removed)}` })),
          ...diffs.map((diff) => diff.el),
        );
        this.body.append(details);
        return;
      }
    }
    this.body.append(payload(input, { summary: 'Input', className: 'tool-input' }));
  }

  renderPending() {
    const state = this.approval?.state;
    this.li.dataset.approval = state ?? '';
    if (state === 'pending' || state === 'denied' || state === 'expired') {
      this.stopTicking();
      this.durationEl.textContent = '';
    }
    if (state === 'pending') {
      this.statusEl.className = 'tool-status tool-waiting';
      this.tick();
      return;
    }
    if (state === 'denied') {
      this.statusEl.className = 'tool-status tool-denied';
      this.statusEl.textContent = 'denied';
      this.durationEl.textContent = '';
      return;
    }
    this.statusEl.className = 'tool-status tool-pending';
    if (state === 'expired') {
      this.statusEl.textContent = 'not answered in time · asked in the terminal';
      return;
    }
    this.statusEl.textContent = 'running…';
    this.startTicking();
  }

  /** "running… · 12 s": the duration counts from the call's start while it runs (one timer for every running call). */
  startTicking() {
    const since = Date.parse(this.pre?.timestamp);
    if (!Number.isFinite(since)) return;
    this.runningSince = since;
    RUNNING.add(this);
    this.tickRunning();
    if (!runningTimer) runningTimer = setInterval(tickAllRunning, 1000);
  }

  stopTicking() {
    this.runningSince = null;
    RUNNING.delete(this);
    if (RUNNING.size === 0 && runningTimer) {
      clearInterval(runningTimer);
      runningTimer = null;
    }
  }

  tickRunning(now = Date.now()) {
    if (this.post || this.runningSince == null || this.waiting) return;
    // The view said something else of the call (interrupted, say): it no longer runs.
    if (this.statusEl.textContent !== 'running…') {
      this.stopTicking();
      return;
    }
    const text = formatWaiting(Math.max(0, now - this.runningSince));
    if (this.durationEl.textContent !== text) this.durationEl.textContent = text;
    this.durationEl.title = 'Running for this long so far';
  }

  /** Whether the call waits for a person to allow it. */
  get waiting() {
    return !this.post && this.approval?.state === 'pending';
  }

  /** "waiting for approval · 38 s", kept current (the view calls this every second while it waits). */
  tick(now = Date.now()) {
    if (!this.waiting) return;
    const since = Date.parse(this.approval.requested_at);
    const text = Number.isFinite(since) ? `waiting for approval · ${formatWaiting(now - since)}` : 'waiting for approval';
    if (this.statusEl.textContent !== text) this.statusEl.textContent = text;
  }

  /** The approval asked for this call, as it is now: the status while it waits, then who decided and when. */
  setApproval(approval) {
    this.approval = approval;
    const asked = Date.parse(approval.requested_at);
    const parts = [h('span', { class: 'approval-asked' }, icon('hand'), 'Permission asked ', timeEl(approval.requested_at, { relative: false }))];
    if (approval.state === 'pending') parts.push(h('span', { class: 'approval-state', text: ' · waiting for a person' }));
    else {
      const decided = approval.decided_at ? [' at ', timeEl(approval.decided_at, { relative: false })] : [];
      parts.push(h('span', { class: `approval-state approval-${approval.state}` }, ' · ', approvalDecisionText(approval), ...decided));
      const waited = Date.parse(approval.decided_at) - asked;
      if (Number.isFinite(waited) && waited >= 0) parts.push(h('span', { class: 'muted', text: ` (waited ${formatWaiting(waited)})` }));
    }
    this.approvalEl.replaceChildren(...parts);
    this.approvalEl.hidden = false;
    if (this.post) this.renderDuration();
    else this.renderPending();
  }

  /**
   * The duration: with an approval decided, the time the tool ran (its own duration_ms, else from the decision
   * to the result) apart from the time it waited for the decision.
   */
  renderDuration() {
    const post = this.post;
    const approval = this.approval;
    const decidedAt = Date.parse(approval?.decided_at);
    const askedAt = Date.parse(approval?.requested_at);
    let duration = callDuration(this.pre, post);
    let waited = null;
    if (approval && approval.state === 'allowed' && Number.isFinite(decidedAt) && Number.isFinite(askedAt)) {
      waited = Math.max(0, decidedAt - askedAt);
      if (typeof post.duration_ms !== 'number') {
        const ran = Date.parse(post.timestamp) - decidedAt;
        duration = Number.isFinite(ran) ? Math.max(0, ran) : null;
      }
    }
    this.durationEl.textContent = [duration === null ? '' : formatDuration(duration), waited === null ? '' : `waited ${formatWaiting(waited)}`].filter(Boolean).join(' · ');
    this.durationEl.title = [
      duration === null ? '' : `Ran ${formatNumber(Math.round(duration))} ms`,
      waited === null ? '' : `waited ${formatNumber(Math.round(waited))} ms for approval`,
    ]
      .filter(Boolean)
      .join(', ');
  }

  /** The result has come: status, duration and output. */
  complete(post) {
    this.post = post;
    // A deep link to the result finds it in this row.
    this.li.dataset.resultId = String(post.id);
    const failed = toolFailed(post);
    this.li.classList.toggle('is-error', failed);
    this.li.dataset.outcome = failed ? 'failed' : 'succeeded';
    this.statusEl.className = `tool-status ${failed ? 'tool-failed' : 'tool-ok'}`;
    this.statusEl.textContent = failed ? 'failed' : 'ok';
    this.renderDuration();
    if (this.input === null || this.input === undefined) {
      if (post.tool_input !== null && post.tool_input !== undefined) {
        this.input = post.tool_input;
        this.outputEl.before(payload(this.input, { summary: 'Input', className: 'tool-input' }));
      }
    }
    this.stopTicking();
    const parts = [];
    if (post.error !== null && post.error !== undefined) parts.push(h('pre', { class: 'error-text', text: post.error === '' ? '(empty error)' : post.error }));
    const output = post.tool_output;
    if (!failed && FILE_WRITERS.has(this.toolName) && output && typeof output === 'object' && !Array.isArray(output)) {
      // What a Write or an Edit did is its content or diff above; Claude Code's result repeats it (the whole
      // file, the patch) as JSON, which says nothing more.
      const path = typeof output.filePath === 'string' ? output.filePath : toolSummary(this.toolName, this.input);
      parts.push(
        h('p', {
          class: 'muted tool-done',
          text: `${this.toolName === 'Write' ? (output.type === 'update' ? 'File overwritten' : 'File written') : 'File edited'}${path ? `: ${path}` : ''}`,
        }),
      );
    } else {
      const cutNote = persistedCut(output);
      const { text, stderr } = outputTexts(output);
      if (cutNote) parts.push(cutLine(cutNote, text));
      const cutSize = cutNote ? ` · cut by Claude Code${cutNote.size === null ? '' : `, ${formatBytes(cutNote.size)} in all`}` : '';
      if (text !== '') parts.push(outputBlock(text, 'Output', 'tool-output', failed, 'Copy output', cutSize));
      if (stderr !== '') parts.push(outputBlock(stderr, 'Stderr', 'tool-stderr', true));
    }
    if (parts.length === 0) parts.push(h('p', { class: 'muted empty', text: 'No output' }));
    this.outputEl.replaceChildren(...parts);
    const agentId = output && typeof output === 'object' && typeof output.agentId === 'string' ? output.agentId : null;
    if (agentId) {
      this.agentId = agentId;
      this.onAgent?.(agentId, this);
    }
  }

  /** Nests a subagent's events in this call's row. */
  attachSubagent(el) {
    this.body.append(el);
  }
}

/** Calls running now, ticked together; a row that left the page (its view closed) is dropped. */
const RUNNING = new Set();
let runningTimer = null;

function tickAllRunning() {
  const now = Date.now();
  for (const call of RUNNING) {
    if (call.post) RUNNING.delete(call);
    else if (call.li.isConnected) {
      call.seenOnPage = true;
      call.tickRunning(now);
    } else if (call.seenOnPage) RUNNING.delete(call);
  }
  if (RUNNING.size === 0) {
    clearInterval(runningTimer);
    runningTimer = null;
  }
}

const DECISION_TEXT = { allowed: 'allowed', denied: 'denied', expired: 'expired, nobody answered in time', answered_in_terminal: 'answered in the terminal' };

/** "allowed by alice for this session", "denied by bob: not now". */
export function approvalDecisionText(approval) {
  let text = DECISION_TEXT[approval.state] ?? String(approval.state);
  if (typeof approval.decided_by === 'string' && approval.decided_by !== '' && (approval.state === 'allowed' || approval.state === 'denied')) text += ` by ${approval.decided_by}`;
  if (approval.state === 'allowed' && approval.scope === 'session') text += ' for this session';
  if (approval.state === 'denied' && typeof approval.reason === 'string' && approval.reason !== '') text += `: “${approval.reason}”`;
  return text;
}

/** Output with its true line count and, until it is opened, its first lines as a preview. */
function outputBlock(text, label, className, open, copyLabel = `Copy ${label.toLowerCase()}`, size = '') {
  const lines = countLines(text);
  const details = payload(text, { summary: label, className, open, size });
  details.querySelector('summary').append(copyButton(text, copyLabel));
  if (!open) {
    const head = text.split('\n', PREVIEW_LINES + 1);
    const preview = head.slice(0, PREVIEW_LINES).join('\n');
    const more = lines > PREVIEW_LINES ? `… ${plural(lines - PREVIEW_LINES, 'more line')}` : '';
    const el = h('pre', { class: 'tool-preview' }, truncate(preview, 600), more ? h('span', { class: 'muted', text: `\n${more}` }) : null);
    el.addEventListener('click', () => {
      details.open = true;
    });
    details.addEventListener('toggle', () => {
      el.hidden = details.open;
    });
    return h('div', { class: `tool-output-block ${className}-block` }, details, el);
  }
  return details;
}

/** An old and a new text as lines removed and added, the lines they share at start and end as context. */
export function diffView(oldText, newText) {
  const before = typeof oldText === 'string' ? oldText.split('\n') : [];
  const after = typeof newText === 'string' ? newText.split('\n') : [];
  let start = 0;
  while (start < before.length && start < after.length && before[start] === after[start]) start += 1;
  let end = 0;
  while (end < before.length - start && end < after.length - start && before[before.length - 1 - end] === after[after.length - 1 - end]) end += 1;
  const line = (kind, text) => h('span', { class: `diff-line diff-${kind}`, text: `${kind === 'add' ? '+' : kind === 'del' ? '-' : ' '} ${text}\n` });
  const removed = before.slice(start, before.length - end);
  const added = after.slice(start, after.length - end);
  const el = h(
    'pre',
    { class: 'code diff', tabindex: '0' },
    before.slice(0, start).map((text) => line('ctx', text)),
    removed.map((text) => line('del', text)),
    added.map((text) => line('add', text)),
    before.slice(before.length - end).map((text) => line('ctx', text)),
  );
  return { el, added: added.length, removed: removed.length };
}

/**
 * Claude Code's own cut of a large output: its `tool_response` holds the first 30,000 characters, plus
 * `persistedOutputPath` (a file on the agent's machine with all of it) and `persistedOutputSize` (bytes).
 */
export function persistedCut(output) {
  if (!output || typeof output !== 'object' || Array.isArray(output)) return null;
  const path = typeof output.persistedOutputPath === 'string' ? output.persistedOutputPath : null;
  const size = typeof output.persistedOutputSize === 'number' && Number.isFinite(output.persistedOutputSize) ? output.persistedOutputSize : null;
  if (path === null && size === null) return null;
  return { path, size };
}

/** "First 30,000 characters shown by Claude Code; 1.99 MB saved at /tmp/…" (with the path to copy). */
function cutLine({ path, size }, text) {
  const whole = size === null ? 'the whole output' : formatBytes(size);
  const where = path === null ? " saved on the agent's machine" : ' saved at ';
  return h(
    'p',
    { class: 'tool-cut' },
    h('span', { text: `First ${formatNumber(text.length)} characters shown by Claude Code; ${whole}${where}` }),
    path === null ? null : h('code', { class: 'tool-cut-path', text: path }),
    path === null ? null : copyButton(path, 'Copy the path'),
  );
}

/** Bytes in words, in powers of 1,000 as file managers show them: "830 bytes", "45.2 kB", "1.99 MB". */
export function formatBytes(bytes) {
  if (typeof bytes !== 'number' || !Number.isFinite(bytes) || bytes < 0) return '';
  if (bytes < 1000) return `${formatNumber(bytes)} ${bytes === 1 ? 'byte' : 'bytes'}`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let value = bytes / 1000;
  let unit = 0;
  while (value >= 999.5 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${value
    .toPrecision(3)
    .replace(/(\.\d*?)0+$/, '$1')
    .replace(/\.$/, '')} ${units[unit]}`;
}
