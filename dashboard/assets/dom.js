// Small DOM helpers. Everything that comes from the server (session names, ids, event contents) is
// attacker-controlled, so it only ever reaches the page as text: element.append(string) and textContent
// create text nodes, and attributes are set one by one. Nothing here parses HTML.

/**
 * Creates an element. `props`: `class`, `text`, `dataset` (object), `on<event>` (listener), `hidden` and
 * other boolean attributes (true/false), anything else as an attribute. Children: nodes or strings
 * (as text), nested arrays, null/false skipped.
 */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  if (props) {
    for (const [key, value] of Object.entries(props)) {
      if (value === undefined || value === null || value === false) continue;
      if (key === 'class') el.className = value;
      else if (key === 'text') el.textContent = value;
      else if (key === 'dataset') Object.assign(el.dataset, value);
      else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
      else if (value === true) el.setAttribute(key, '');
      else el.setAttribute(key, String(value));
    }
  }
  appendChildren(el, children);
  return el;
}

function appendChildren(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) appendChildren(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

const SVG_NS = 'http://www.w3.org/2000/svg';

/** A 16×16 stroke icon from fixed path data (never from data). */
export function icon(name) {
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('viewBox', '0 0 16 16');
  svg.setAttribute('width', '16');
  svg.setAttribute('height', '16');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('class', 'icon');
  for (const d of ICONS[name] ?? []) {
    const path = document.createElementNS(SVG_NS, 'path');
    path.setAttribute('d', d);
    svg.append(path);
  }
  return svg;
}

const ICONS = {
  copy: ['M5.5 5.5h7v8h-7z', 'M3.5 10.5v-8h7'],
  check: ['M3 8.5l3 3 7-7'],
  trash: ['M2.5 4.5h11', 'M6 4.5v-2h4v2', 'M4 4.5l.8 9h6.4l.8-9', 'M6.8 7v4.5', 'M9.2 7v4.5'],
  back: ['M10 3L5 8l5 5'],
  down: ['M8 3v10', 'M3.5 8.5L8 13l4.5-4.5'],
  tool: ['M10.5 2.5a3 3 0 00-3 4l-5 5 2 2 5-5a3 3 0 004-3l-2 1-1.5-1.5 1-2a3 3 0 00-.5-.5z'],
  result: ['M2.5 3.5h11v9h-11z', 'M5 7l1.5 1.5L5 10', 'M8 10h3'],
  stop: ['M4 4h8v8H4z'],
  play: ['M5 3.5v9l7-4.5z'],
  key: ['M6 10a3.5 3.5 0 110-.01', 'M8.5 8.5l5-5', 'M11.5 5.5l1.5 1.5'],
  search: ['M7 12a5 5 0 110-10 5 5 0 010 10z', 'M10.7 10.7L14 14'],
  agent: ['M8 2.5a2.5 2.5 0 110 5 2.5 2.5 0 010-5z', 'M3 13.5c0-2.5 2.2-4 5-4s5 1.5 5 4'],
  bell: ['M4 11.5V7a4 4 0 018 0v4.5l1 1H3z', 'M6.5 14h3'],
  hand: ['M5.5 8V3.5a1 1 0 012 0V7', 'M7.5 7V2.5a1 1 0 012 0V7', 'M9.5 7V3.5a1 1 0 012 0V9c0 3-1.5 5-4.5 5S3 12.5 2.5 10.5L2 9a1 1 0 011.8-.8l1.7 1.8'],
};

// ---------------------------------------------------------------------------------------------------------
// Time

const dateTimeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
const shortFormat = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
const clockFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
const relativeFormat = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto', style: 'short' });

const parse = (iso) => {
  if (typeof iso !== 'string') return null;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? null : new Date(ms);
};

export function formatFull(iso) {
  const date = parse(iso);
  return date ? dateTimeFormat.format(date) : '–';
}

export function formatClock(iso) {
  const date = parse(iso);
  return date ? clockFormat.format(date) : '–';
}

/** "just now", "5 min. ago", "yesterday"; older than a week: the date. */
export function formatRelative(iso, now = Date.now()) {
  const date = parse(iso);
  if (!date) return '–';
  const seconds = Math.round((date.getTime() - now) / 1000);
  const abs = Math.abs(seconds);
  if (abs < 45) return 'just now';
  if (abs < 3600) return relativeFormat.format(Math.round(seconds / 60), 'minute');
  if (abs < 86400) return relativeFormat.format(Math.round(seconds / 3600), 'hour');
  if (abs < 7 * 86400) return relativeFormat.format(Math.round(seconds / 86400), 'day');
  return shortFormat.format(date);
}

/** A <time> showing a relative time (kept fresh by refreshTimes), the full local time as its tooltip. */
export function timeEl(iso, { relative = true } = {}) {
  if (!parse(iso)) return h('span', { class: 'muted', text: '–' });
  const el = h('time', { datetime: iso, title: formatFull(iso) });
  if (relative) {
    el.dataset.relative = '';
    el.textContent = formatRelative(iso);
  } else {
    el.textContent = formatClock(iso);
  }
  return el;
}

export function refreshTimes(root = document) {
  const now = Date.now();
  for (const el of root.querySelectorAll('time[data-relative]')) el.textContent = formatRelative(el.getAttribute('datetime'), now);
}

// ---------------------------------------------------------------------------------------------------------
// Clipboard and announcements

/** Copies text: the async Clipboard API where allowed (secure contexts), else a hidden textarea. */
export async function copyText(text) {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    // Refused (permissions, focus): try the old way.
  }
  const area = h('textarea', { readonly: true, 'aria-hidden': 'true', class: 'clipboard-fallback' });
  area.value = text;
  document.body.append(area);
  const focused = document.activeElement;
  area.select();
  let ok;
  try {
    ok = document.execCommand('copy');
  } catch {
    ok = false;
  }
  area.remove();
  if (focused instanceof HTMLElement) focused.focus({ preventScroll: true });
  return ok;
}

/** A button that copies `text` and says so. */
export function copyButton(text, label) {
  const sr = h('span', { class: 'visually-hidden', text: label });
  const button = h('button', { type: 'button', class: 'icon-button copy-button', title: label }, icon('copy'), sr);
  let timer;
  button.addEventListener('click', async (event) => {
    event.stopPropagation();
    const ok = await copyText(text);
    button.replaceChildren(icon(ok ? 'check' : 'copy'), sr);
    button.dataset.copied = ok ? 'true' : 'false';
    sr.textContent = ok ? 'Copied' : label;
    announce(ok ? 'Copied to the clipboard' : 'Could not copy: select the text and copy it by hand');
    clearTimeout(timer);
    timer = setTimeout(() => {
      button.replaceChildren(icon('copy'), sr);
      sr.textContent = label;
      delete button.dataset.copied;
    }, 1500);
  });
  return button;
}

/** Says something to screen readers (and shows it briefly as a toast). */
export function announce(message) {
  const region = document.getElementById('announcer');
  if (!region) return;
  region.textContent = '';
  // A fresh text node in a later frame, so the same message twice is read twice.
  requestAnimationFrame(() => {
    region.textContent = message;
  });
  clearTimeout(announce.timer);
  announce.timer = setTimeout(() => {
    region.textContent = '';
  }, 4000);
}

// ---------------------------------------------------------------------------------------------------------
// Text

export function truncate(text, max) {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

export function oneLine(text) {
  return text.replace(/\s+/g, ' ').trim();
}

const numberFormat = new Intl.NumberFormat();
export const formatNumber = (n) => (typeof n === 'number' && Number.isFinite(n) ? numberFormat.format(n) : '–');

export function plural(n, one, many = `${one}s`) {
  return `${formatNumber(n)} ${n === 1 ? one : many}`;
}

// ---------------------------------------------------------------------------------------------------------
// Sessions

/**
 * After how long without an event a running or idle session shows as stale: `?stale_minutes=` in the page's
 * address, else `localStorage['asm.staleMinutes']`, else 10 minutes.
 */
export const STALE_MS = (() => {
  const given = (() => {
    try {
      return new URLSearchParams(window.location.search).get('stale_minutes') ?? window.localStorage.getItem('asm.staleMinutes');
    } catch {
      return null;
    }
  })();
  const minutes = Number(given);
  return (given !== null && given !== '' && Number.isFinite(minutes) && minutes > 0 ? minutes : 10) * 60_000;
})();

/** "38 s", "4 min 05 s", "2 h 10 min": how long something has been waiting, for a text that ticks every second. */
export function formatWaiting(ms) {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${String(seconds % 60).padStart(2, '0')} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

// ---------------------------------------------------------------------------------------------------------
// The page's title and icon: "(2) …" and a badge while approvals wait

let titleBase = document.title;
let attention = 0;

/** Sets the page title; the number of approvals waiting, when there are any, goes before it. */
export function setPageTitle(text) {
  titleBase = text;
  document.title = attention > 0 ? `(${attention}) ${titleBase}` : titleBase;
}

/** How many approvals wait: in the title and, as a badge, in the favicon (favicon-1.svg … favicon-9plus.svg). */
export function setAttentionCount(count) {
  if (count === attention) return;
  attention = count;
  setPageTitle(titleBase);
  const link = document.querySelector('link[rel="icon"]');
  if (link) link.setAttribute('href', count > 0 ? `/assets/favicon-${count > 9 ? '9plus' : count}.svg` : '/assets/favicon.svg');
}

/**
 * What a session shows as: `failed` (finished, its stop failed), `finished`, `waiting` (it needs its person:
 * an approval or an answer; shown as "Needs you"), `stale` (running or idle, but no event for STALE_MS),
 * `idle` (a Claude Code session waiting for its user), `running`.
 */
export function sessionState(session, now = Date.now()) {
  if (!session) return 'unknown';
  if (session.status === 'finished') return session.outcome === 'failed' ? 'failed' : 'finished';
  // Waiting comes before stale: a person asked for is needed however long ago it was.
  if (session.waiting_for === 'approval' || session.waiting_for === 'input') return 'waiting';
  if (session.status === 'running' || session.status === 'idle') {
    const last = Date.parse(session.last_event_at ?? session.created_at ?? '');
    if (Number.isFinite(last) && now - last > STALE_MS) return 'stale';
    return session.status;
  }
  return 'unknown';
}

const STATE_LABELS = {
  running: ['Live', 'Running: events are arriving'],
  idle: ['Idle', 'Idle: the agent waits for its user'],
  waiting: ['Needs you', 'Needs you: the agent waits for an answer'],
  stale: ['Stale', 'Stale: no event for a while, and no stop'],
  finished: ['Finished', 'Finished'],
  failed: ['Failed', 'Failed: its stop had a non-zero exit code or an error'],
};

/** The status badge of a session: only a running one shows as live, with a pulsing dot. */
export function statusBadge(session, state = sessionState(session)) {
  const known = STATE_LABELS[state];
  if (!known) return h('span', { class: 'status status-other', text: typeof session?.status === 'string' ? session.status : 'unknown' });
  const [label, title] = known;
  return h(
    'span',
    { class: `status status-${state}`, title: state === 'waiting' ? waitingTitle(session) : title, dataset: { state } },
    state === 'running' ? h('span', { class: 'pulse', 'aria-hidden': 'true' }) : null,
    label,
  );
}

/** What a waiting session waits for, in words: "Needs you: Bash waits for approval". */
export function waitingTitle(session) {
  if (session?.waiting_for === 'approval') {
    const tool = typeof session.waiting_tool?.tool_name === 'string' ? session.waiting_tool.tool_name : 'a tool';
    return `Needs you: ${tool} waits for approval`;
  }
  return 'Needs you: the agent waits for an answer';
}

// ---------------------------------------------------------------------------------------------------------
// Labels: event types and reasons in words, in one place

/** Event types (and Claude Code's hook names, snake-cased) in words. */
const EVENT_LABELS = {
  message: 'Message',
  pre_tool: 'Tool call',
  post_tool: 'Tool result',
  session_start: 'Session started',
  session_stop: 'Session stopped',
  notification: 'Notification',
  permission_request: 'Permission asked',
  stop_failure: 'Stopped with an error',
  subagent_start: 'Subagent started',
  subagent_stop: 'Subagent stopped',
  pre_compact: 'Compacting the conversation',
  post_compact: 'Conversation compacted',
  compaction: 'Conversation summary',
  thinking: 'Thinking',
  tool_refused: 'Tool call refused',
  api_error: 'API error',
  user_prompt_submit: 'Prompt',
  stop: 'Turn ended',
  session_end: 'Session ended',
  teammate_idle: 'Teammate idle',
  task_completed: 'Task completed',
  config_change: 'Settings changed',
  worktree_create: 'Worktree created',
  worktree_remove: 'Worktree removed',
  elicitation: 'Question asked',
  elicitation_result: 'Question answered',
  // Reasons: Claude Code's notification types and session start sources and end reasons.
  idle_prompt: 'Waiting for your input',
  permission_prompt: 'Waiting for permission',
  auth_success: 'Signed in',
  elicitation_dialog: 'Waiting for an answer',
  startup: 'Started',
  resume: 'Resumed',
  clear: 'Cleared',
  compact: 'After compaction',
  logout: 'Logged out',
  prompt_input_exit: 'Left the prompt',
  bypass_permissions_disabled: 'Bypass permissions turned off',
  other: 'Other',
};

/** An event type or reason in words: "Subagent started" for `subagent_start`; an unknown one de-snake-cased. */
export function labelFor(name) {
  if (typeof name !== 'string' || name === '') return '';
  if (Object.hasOwn(EVENT_LABELS, name)) return EVENT_LABELS[name];
  const words = name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/[_-]+/g, ' ')
    .trim()
    .toLowerCase();
  return words ? words[0].toUpperCase() + words.slice(1) : name;
}
