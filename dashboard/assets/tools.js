// A tool call as one row: its pre_tool and post_tool events paired (by tool_use_id, else by order), with a
// one-line summary of what it did, its duration and whether it worked, its output as text with a short
// preview, and an Edit or MultiEdit as a diff. Everything reaches the page as text (see dom.js).

import { copyButton, formatNumber, h, icon, oneLine, plural, timeEl, truncate } from './dom.js';
import { countLines, eventLink, formatValue, payload } from './timeline.js';

/** Lines of output shown before the reader expands it. */
const PREVIEW_LINES = 3;

const FILE_TOOLS = new Set(['Read', 'Edit', 'MultiEdit', 'Write', 'NotebookEdit', 'NotebookRead']);

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
    this.outputEl = h('div', { class: 'tool-output-holder' });
    this.body.append(this.outputEl);
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
    this.statusEl.className = 'tool-status tool-pending';
    this.statusEl.textContent = 'running…';
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
    const duration = callDuration(this.pre, post);
    this.durationEl.textContent = duration === null ? '' : formatDuration(duration);
    if (duration !== null) this.durationEl.title = `${formatNumber(Math.round(duration))} ms`;
    if (this.input === null || this.input === undefined) {
      if (post.tool_input !== null && post.tool_input !== undefined) {
        this.input = post.tool_input;
        this.outputEl.before(payload(this.input, { summary: 'Input', className: 'tool-input' }));
      }
    }
    const parts = [];
    if (post.error !== null && post.error !== undefined) parts.push(h('pre', { class: 'error-text', text: post.error === '' ? '(empty error)' : post.error }));
    const { text, stderr } = outputTexts(post.tool_output);
    if (text !== '') parts.push(outputBlock(text, 'Output', 'tool-output', failed));
    if (stderr !== '') parts.push(outputBlock(stderr, 'Stderr', 'tool-stderr', true));
    if (parts.length === 0) parts.push(h('p', { class: 'muted empty', text: 'No output' }));
    this.outputEl.replaceChildren(...parts);
    const output = post.tool_output;
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

/** Output with its true line count and, until it is opened, its first lines as a preview. */
function outputBlock(text, label, className, open) {
  const lines = countLines(text);
  const details = payload(text, { summary: label, className, open });
  details.querySelector('summary').append(copyButton(text, `Copy ${label.toLowerCase()}`));
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
