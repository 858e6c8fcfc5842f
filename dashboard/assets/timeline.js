// One timeline item per event. Event contents are shown as text only (see dom.js).

import { copyButton, formatNumber, h, icon, labelFor, oneLine, plural, timeEl, truncate } from './dom.js';
import { renderMarkdown } from './markdown.js';
import { textViewer } from './viewer.js';

/** Outputs longer than this many characters or lines are cut until "Show all". */
const TRUNCATE_CHARS = 4000;
const TRUNCATE_LINES = 60;
/**
 * Texts past this many characters or lines open in the windowed viewer (viewer.js), whole, rather than cut
 * until "Show all": putting megabytes into one <pre> holds the page for seconds.
 */
const VIEWER_CHARS = 50_000;
const VIEWER_LINES = 1_000;

const ROLE_LABELS = { user: 'User', assistant: 'Assistant', system: 'System' };

export function isErrorEvent(event) {
  return (event.error !== null && event.error !== undefined) || (typeof event.exit_code === 'number' && event.exit_code !== 0);
}

/** Renders one event as an <li>. */
export function renderEvent(event) {
  const error = isErrorEvent(event);
  const kind = KINDS[event.event_type] ?? renderOther;
  return h(
    'li',
    {
      class: `event event-${KINDS[event.event_type] ? event.event_type.replace(/_/g, '-') : 'other'}${error ? ' is-error' : ''}`,
      dataset: { eventId: String(event.id) },
    },
    kind(event, error),
  );
}

const KINDS = {
  message: renderMessage,
  pre_tool: renderPreTool,
  post_tool: renderPostTool,
  session_start: renderSessionStart,
  session_stop: renderSessionStop,
  notification: renderNotification,
  permission_request: renderPermissionRequest,
};

const TASK_NOTIFICATION = /^\s*<task-notification>/;
const tag = (text, name) => {
  const match = new RegExp(`<${name}>([\\s\\S]*?)</${name}>`).exec(text);
  return match ? match[1].trim() : '';
};

/**
 * Claude Code's notifications: the one it injects as a prompt when a background task (a subagent) ends, and
 * those it sends when it waits for its user. Neither was typed by a person.
 */
function renderNotification(event) {
  const text = Array.isArray(event.content)
    ? event.content.map((block) => (block && typeof block.text === 'string' ? block.text : '')).join('\n')
    : typeof event.content === 'string'
      ? event.content
      : '';
  if (TASK_NOTIFICATION.test(text)) {
    const status = tag(text, 'status');
    const result = tag(text, 'result');
    return [
      eventHead(
        h('span', { class: 'kind kind-notification' }, icon('bell'), 'Task notification'),
        event,
        status ? h('span', { class: `badge ${status === 'completed' ? 'badge-ok' : 'badge-error'}`, text: status }) : null,
      ),
      h('p', { class: 'text', text: tag(text, 'summary') || 'A background task reported back.' }),
      result ? h('p', { class: 'text notification-result', text: result }) : null,
      payload(text, { summary: 'As sent', className: 'notification-raw' }),
    ];
  }
  return [
    eventHead(
      h('span', { class: 'kind kind-notification' }, icon('bell'), 'Notification'),
      event,
      event.reason ? h('span', { class: 'event-type', title: event.reason, text: labelFor(event.reason) }) : null,
    ),
    text ? h('p', { class: 'text', text }) : null,
  ];
}

/** An event's heading: its label, what follows it, its time and its link. */
export function eventHead(label, event, ...extra) {
  return h(
    'div',
    { class: 'event-head' },
    h('span', { class: 'event-label' }, label),
    ...extra,
    h('span', { class: 'event-time' }, timeEl(event.timestamp, { relative: false })),
    eventLink(event),
  );
}

/** `#/sessions/<id>/events/<event id>`: opens the session at this event. */
export const eventHref = (sessionId, eventId) => `#/sessions/${encodeURIComponent(sessionId)}/events/${eventId}`;

/** A small link to the event itself, to copy or share. */
export function eventLink(event) {
  if (typeof event.session_id !== 'string' || typeof event.id !== 'number') return null;
  return h('a', { class: 'event-link', href: eventHref(event.session_id, event.id), title: 'Link to this event', 'aria-label': `Link to event ${event.id}` }, '#');
}

function renderMessage(event, error) {
  const role = typeof event.role === 'string' && event.role !== '' ? event.role : 'message';
  const known = Object.hasOwn(ROLE_LABELS, role);
  const roleClass = known ? `role-${role}` : 'role-other';
  const label = h('span', { class: `role ${roleClass}`, text: known ? ROLE_LABELS[role] : role });
  const text = messageText(event.content);
  return [eventHead(label, event, text ? copyButton(text, 'Copy message') : null), renderContent(event.content), error ? errorLine(event) : null];
}

/** A message's text: its text blocks, joined. */
export function messageText(content) {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .filter((block) => block && typeof block === 'object' && block.type === 'text' && typeof block.text === 'string')
    .map((block) => block.text)
    .join('\n\n');
}

function renderContent(content) {
  const body = h('div', { class: 'message-body' });
  if (typeof content === 'string') {
    body.append(renderMarkdown(content));
  } else if (Array.isArray(content) && content.length > 0) {
    for (const block of content) body.append(renderBlock(block));
  } else {
    body.append(h('p', { class: 'muted empty', text: 'No content' }));
  }
  return body;
}

function renderBlock(block) {
  if (block && typeof block === 'object' && block.type === 'text' && typeof block.text === 'string') {
    return renderMarkdown(block.text);
  }
  // Other blocks (tool_use, tool_result, image, thinking…): compact, expandable to their JSON.
  const type = block && typeof block === 'object' && typeof block.type === 'string' ? block.type : typeof block;
  let preview = '';
  if (block && typeof block === 'object') {
    if (typeof block.name === 'string') preview = block.name;
    else if (typeof block.thinking === 'string') preview = block.thinking;
    else if (typeof block.text === 'string') preview = block.text;
    else if (block.source && typeof block.source.media_type === 'string') preview = block.source.media_type;
  }
  return payload(block, {
    className: 'block',
    summary: [h('code', { class: 'block-type', text: type }), preview ? h('span', { class: 'preview', text: truncate(oneLine(preview), 100) }) : null],
  });
}

const PREVIEW_KEYS = ['command', 'file_path', 'path', 'pattern', 'url', 'query', 'description', 'prompt'];

function inputPreview(input) {
  if (!input || typeof input !== 'object') return '';
  for (const key of PREVIEW_KEYS) if (typeof input[key] === 'string') return input[key];
  const first = Object.values(input).find((value) => typeof value === 'string');
  return first ?? '';
}

function toolName(event) {
  return h('code', { class: 'tool-name', text: typeof event.tool_name === 'string' && event.tool_name !== '' ? event.tool_name : 'tool' });
}

function renderPreTool(event, error) {
  const preview = inputPreview(event.tool_input);
  return [
    eventHead(
      h('span', { class: 'kind kind-tool' }, icon('tool'), 'Tool call'),
      event,
      toolName(event),
      preview ? h('span', { class: 'preview', text: truncate(oneLine(preview), 140) }) : null,
    ),
    payload(event.tool_input, { summary: 'Input', className: 'tool-input' }),
    error ? errorLine(event) : null,
  ];
}

/** Claude Code asked its person for permission (a PermissionRequest hook); the view adds what became of it. */
function renderPermissionRequest(event) {
  const preview = inputPreview(event.tool_input);
  return [
    eventHead(
      h('span', { class: 'kind kind-permission' }, icon('hand'), 'Permission asked'),
      event,
      toolName(event),
      preview ? h('span', { class: 'preview', text: truncate(oneLine(preview), 140) }) : null,
    ),
    h('p', { class: 'permission-decision muted', hidden: true }),
  ];
}

function renderPostTool(event, error) {
  const hasOutput = event.tool_output !== null && event.tool_output !== undefined;
  return [
    eventHead(
      h('span', { class: 'kind kind-result' }, icon('result'), 'Tool result'),
      event,
      toolName(event),
      error ? h('span', { class: 'badge badge-error', text: 'error' }) : null,
    ),
    error ? errorLine(event) : null,
    hasOutput ? payload(event.tool_output, { summary: 'Output', className: 'tool-output', open: error }) : h('p', { class: 'muted empty', text: 'No output' }),
  ];
}

function renderSessionStart(event) {
  return [
    eventHead(
      h('span', { class: 'kind' }, icon('play'), 'Session started'),
      event,
      event.reason ? h('span', { class: 'preview', title: event.reason, text: labelFor(event.reason) }) : null,
    ),
  ];
}

function renderSessionStop(event, error) {
  const parts = [];
  if (typeof event.exit_code === 'number') parts.push(h('span', { class: `badge ${error ? 'badge-error' : 'badge-ok'}`, text: `exit code ${event.exit_code}` }));
  if (typeof event.reason === 'string' && event.reason !== '') parts.push(h('span', { class: 'preview', title: event.reason, text: labelFor(event.reason) }));
  return [eventHead(h('span', { class: 'kind' }, icon('stop'), 'Session stopped'), event, ...parts), event.error !== null && event.error !== undefined ? errorLine(event) : null];
}

const OTHER_FIELDS = ['tool_name', 'tool_input', 'tool_output', 'error', 'exit_code', 'reason', 'role', 'content'];

function renderOther(event, error) {
  const fields = {};
  for (const key of OTHER_FIELDS) if (event[key] !== null && event[key] !== undefined) fields[key] = event[key];
  return [
    eventHead(h('span', { class: 'event-type', title: event.event_type, text: labelFor(event.event_type) }), event),
    Object.keys(fields).length > 0 ? payload(fields, { summary: 'Details' }) : null,
    error ? errorLine(event) : null,
  ];
}

function errorLine(event) {
  const parts = [];
  if (event.error !== null && event.error !== undefined) parts.push(event.error === '' ? '(empty error)' : event.error);
  if (typeof event.exit_code === 'number' && event.exit_code !== 0 && event.event_type !== 'session_stop') parts.push(`exit code ${event.exit_code}`);
  return h('pre', { class: 'error-text' }, parts.join('\n'));
}

/** Strings as they are; anything else as indented JSON. */
export function formatValue(value) {
  if (typeof value === 'string') return value;
  if (value === undefined) return 'null';
  try {
    return JSON.stringify(value, null, 2);
  } catch {
    return String(value);
  }
}

/** Lines as a reader counts them: a final newline ends the last line, it does not start another. */
export function countLines(text) {
  if (text === '') return 0;
  let lines = 1;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) lines += 1;
  return text.endsWith('\n') ? lines - 1 : lines;
}

function cut(text) {
  let end = Math.min(text.length, TRUNCATE_CHARS);
  let lines = 0;
  for (let i = text.indexOf('\n'); i !== -1 && i < end; i = text.indexOf('\n', i + 1)) {
    lines += 1;
    if (lines >= TRUNCATE_LINES) {
      end = i;
      break;
    }
  }
  return end < text.length ? text.slice(0, end) : null;
}

/**
 * A collapsible value: <details> whose body (pretty JSON or the string) is built the first time it
 * opens, and cut to TRUNCATE_CHARS / TRUNCATE_LINES with a "Show all" button; a text past VIEWER_CHARS /
 * VIEWER_LINES opens whole in the windowed viewer instead. `size`: words after the size in the summary.
 */
export function payload(value, { summary, className = '', open = false, size: sizeNote = '' }) {
  const text = formatValue(value);
  const lines = countLines(text);
  const size = (lines > 1 ? plural(lines, 'line') : plural(text.length, 'character')) + sizeNote;
  const details = h(
    'details',
    { class: `payload ${className}` },
    h('summary', null, typeof summary === 'string' ? h('span', { class: 'summary-label', text: summary }) : summary, h('span', { class: 'summary-size', text: size })),
  );
  let built = false;
  const build = () => {
    if (built) return;
    built = true;
    if (text.length > VIEWER_CHARS || lines > VIEWER_LINES) {
      details.append(textViewer(text, { label: details.querySelector('.summary-label')?.textContent || 'Text' }));
      return;
    }
    const shortened = cut(text);
    const pre = h('pre', { class: 'code', tabindex: '0' }, shortened ?? text);
    details.append(pre);
    if (shortened !== null) {
      const more = h('button', {
        type: 'button',
        class: 'link-button show-all',
        text: `Show all (${lines > 1 ? plural(lines, 'line') : `${formatNumber(text.length)} characters`})`,
      });
      more.addEventListener('click', () => {
        pre.textContent = text;
        more.remove();
        pre.focus({ preventScroll: true });
      });
      details.append(
        h('div', { class: 'truncated' }, h('span', { class: 'muted', text: `Showing ${formatNumber(shortened.length)} of ${formatNumber(text.length)} characters.` }), more),
      );
    }
  };
  details.addEventListener('toggle', () => {
    if (details.open) build();
  });
  if (open) {
    details.open = true;
    build();
  }
  return details;
}
