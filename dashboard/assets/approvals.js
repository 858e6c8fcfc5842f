// The Needs-you queue: the approvals Claude Code waits for (its PermissionRequest hooks, held by the server),
// oldest first, above the session list. Each says which session, which tool and what the call will do, and
// is answered from here: Allow, Deny (with an optional reason, which Claude is told) or Allow for this session.
// Entries come with approval_requested and go with approval_decided (whoever decided, wherever). Everything
// from the server reaches the page as text (see dom.js).

import { api, ApiError } from './api.js';
import { announce, formatWaiting, h, icon, oneLine, plural, truncate } from './dom.js';
import { diffView } from './tools.js';

/** Characters of a command, a file's content or an input shown at most (the box scrolls). */
const WHAT_MAX_CHARS = 20_000;

export const approvalKey = (approval) => String(approval.id);

/**
 * POST /approvals/{id}/decision with the page's key. Resolves with the approval as the server now has it;
 * throws ApiError (409: decided already, 404: unknown, 403: the key may not decide).
 */
export async function decide(approval, decision, { reason = '', scope = 'once' } = {}) {
  const body = { decision };
  if (decision === 'deny' && reason.trim() !== '') body.reason = reason.trim();
  if (decision === 'allow') body.scope = scope;
  const answer = await api(`/approvals/${encodeURIComponent(approvalKey(approval))}/decision`, { method: 'POST', body });
  return answer?.approval ?? answer ?? null;
}

/** Why a decision failed, in words a person can act on. */
export function decisionError(err) {
  if (err instanceof ApiError) {
    if (err.status === 409) return 'It was decided already.';
    if (err.status === 404) return 'It is gone.';
    if (err.status === 403) return 'This API key may not decide (it needs the decide scope).';
    return err.detail;
  }
  return err?.message ?? String(err);
}

/** What the call will do: the Bash command, the file and its diff (Edit) or content (Write), the URL… */
export function approvalWhat(toolName, input) {
  const text = (key) => (input && typeof input === 'object' && typeof input[key] === 'string' ? input[key] : '');
  const code = (value, className = '') => h('pre', { class: `code approval-code ${className}`, tabindex: '0' }, truncate(value, WHAT_MAX_CHARS));
  const note = (value) => (value ? h('p', { class: 'approval-note muted', text: truncate(oneLine(value), 300) }) : null);
  const file = (path) => h('p', { class: 'approval-file' }, h('bdi', { dir: 'ltr', text: path || '(no file named)' }));
  if (toolName === 'Bash' && text('command')) return [code(text('command'), 'approval-command'), note(text('description'))];
  if ((toolName === 'Edit' || toolName === 'MultiEdit') && input && typeof input === 'object') {
    const edits = toolName === 'MultiEdit' && Array.isArray(input.edits) ? input.edits : [input];
    const diffs = edits.filter((edit) => edit && typeof edit === 'object').map((edit) => diffView(edit.old_string, edit.new_string));
    const added = diffs.reduce((sum, diff) => sum + diff.added, 0);
    const removed = diffs.reduce((sum, diff) => sum + diff.removed, 0);
    return [file(text('file_path')), h('p', { class: 'approval-note muted', text: `+${added} −${removed}` }), ...diffs.map((diff) => diff.el)];
  }
  if (toolName === 'Write' && input && typeof input === 'object') {
    const content = text('content');
    const lines = content === '' ? 0 : content.split('\n').length;
    return [file(text('file_path')), h('p', { class: 'approval-note muted', text: `writes ${plural(lines, 'line')}` }), code(content, 'approval-content')];
  }
  if (toolName === 'WebFetch' && text('url')) return [h('p', { class: 'approval-url' }, h('bdi', { dir: 'ltr', text: text('url') })), note(text('prompt'))];
  if (toolName === 'WebSearch' && text('query')) return [code(text('query'))];
  if (input === null || input === undefined) return [h('p', { class: 'muted', text: 'No input' })];
  let json;
  try {
    json = JSON.stringify(input);
  } catch {
    json = String(input);
  }
  return [code(json, 'approval-json')];
}

/** "Adds the rule Bash(npm test:*) for this session": what "Allow for this session" will do, from the suggestions. */
function sessionScopeTitle(approval) {
  const rules = [];
  for (const suggestion of Array.isArray(approval.permission_suggestions) ? approval.permission_suggestions : []) {
    for (const rule of Array.isArray(suggestion?.rules) ? suggestion.rules : []) {
      if (typeof rule?.toolName === 'string') rules.push(typeof rule.ruleContent === 'string' ? `${rule.toolName}(${rule.ruleContent})` : rule.toolName);
    }
  }
  return rules.length > 0 ? `Allow, and do not ask again in this session for ${rules.join(', ')} (key s)` : 'Allow, and do not ask again for this in this session (key s)';
}

/**
 * One approval as a card with its three answers. `sessionName` names the session; `onDecided(approval)` is
 * called with the server's answer. Keys a / s / d on the focused card (see the queue's help).
 */
export function approvalCard(approval, { sessionName, sessionHref, onDecided }) {
  const reason = h('input', {
    type: 'text',
    class: 'approval-reason',
    placeholder: 'Reason for denying (optional)',
    'aria-label': 'Reason for denying, told to Claude (optional)',
    autocomplete: 'off',
    maxlength: '2000',
  });
  const wait = h('span', { class: 'approval-wait' });
  const error = h('p', { class: 'approval-error error-text', role: 'alert', hidden: true });
  const button = (action, label, className, title) => h('button', { type: 'button', class: `button ${className}`, dataset: { action }, title }, label);
  const buttons = [
    button('allow', 'Allow', 'primary', 'Allow this call once (key a)'),
    button('session', 'Allow for this session', '', sessionScopeTitle(approval)),
    button('deny', 'Deny', 'danger', 'Deny; the reason, if any, is told to Claude (key d)'),
  ];
  const tool = typeof approval.tool_name === 'string' && approval.tool_name !== '' ? approval.tool_name : 'tool';
  const name = sessionName || approval.session_id;
  const li = h(
    'li',
    {
      class: 'approval',
      tabindex: '0',
      dataset: { approvalId: approvalKey(approval), sessionId: approval.session_id, tool },
      'aria-label': `${tool} in ${name} waits for approval`,
    },
    h('div', { class: 'approval-head' }, h('code', { class: 'tool-name', text: tool }), h('a', { class: 'approval-session', href: sessionHref, title: name, text: name }), wait),
    h('div', { class: 'approval-what' }, approvalWhat(tool, approval.tool_input)),
    h('div', { class: 'approval-actions' }, buttons[0], buttons[1], h('div', { class: 'approval-deny' }, reason, buttons[2])),
    h('p', { class: 'approval-readonly muted', text: 'This key may only watch: answering needs a key with the decide scope.' }),
    error,
  );
  const requested = Date.parse(approval.requested_at);
  const card = {
    approval,
    li,
    busy: false,
    tick(now = Date.now()) {
      const text = Number.isFinite(requested) ? `waiting ${formatWaiting(now - requested)}` : 'waiting';
      if (wait.textContent !== text) wait.textContent = text;
    },
    async answer(action) {
      if (card.busy) return;
      card.busy = true;
      li.dataset.busy = 'true';
      for (const b of buttons) b.setAttribute('aria-disabled', 'true');
      error.hidden = true;
      try {
        const decided = await decide(approval, action === 'deny' ? 'deny' : 'allow', { reason: reason.value, scope: action === 'session' ? 'session' : 'once' });
        const verb = action === 'deny' ? 'Denied' : action === 'session' ? 'Allowed for this session' : 'Allowed';
        announce(`${verb}: ${tool} in ${name}`);
        onDecided(decided && typeof decided === 'object' ? decided : { ...approval, state: action === 'deny' ? 'denied' : 'allowed' });
      } catch (err) {
        if (err instanceof ApiError && (err.status === 409 || err.status === 404)) {
          announce(`${tool} in ${name}: ${decisionError(err)}`);
          onDecided({ ...approval, state: 'gone' });
          return;
        }
        error.textContent = `Could not answer: ${decisionError(err)}`;
        error.hidden = false;
      } finally {
        card.busy = false;
        delete li.dataset.busy;
        for (const b of buttons) b.removeAttribute('aria-disabled');
      }
    },
  };
  for (const b of buttons) b.addEventListener('click', () => card.answer(b.dataset.action));
  reason.addEventListener('keydown', (event) => {
    if (event.key === 'Enter') {
      event.preventDefault();
      card.answer('deny');
    } else if (event.key === 'Escape') {
      event.preventDefault();
      li.focus();
    }
  });
  li.addEventListener('keydown', (event) => {
    if (event.target === reason || event.ctrlKey || event.metaKey || event.altKey || document.body.dataset.decide === 'no') return;
    const action = { a: 'allow', s: 'session', d: 'deny' }[event.key];
    if (action) {
      event.preventDefault();
      card.answer(action);
    } else if (event.key === 'r') {
      event.preventDefault();
      reason.focus();
    }
  });
  card.tick();
  return card;
}

export class ApprovalQueue {
  /**
   * @param {HTMLElement} root where the queue goes (above the session list)
   * @param {object} options
   *   sessionName(id) — the session's name, if known; sessionHref(id) — its address;
   *   onCount(n) — the number of approvals waiting changed.
   */
  constructor(root, { sessionName, sessionHref, onCount }) {
    this.sessionName = sessionName;
    this.sessionHref = sessionHref;
    this.onCount = onCount;
    /** Pending approvals by id, and their cards. */
    this.cards = new Map();
    /** Ids decided (or gone): an older list that still has one as pending does not bring it back. */
    this.settled = new Set();
    this.loadRequest = 0;
    /** Cards made so far (each card's `order`). */
    this.added = 0;
    this.countEl = h('span', { class: 'needs-you-count' });
    this.list = h('ol', { class: 'approval-list', 'aria-label': 'Approvals waiting' });
    this.help = h(
      'details',
      { class: 'needs-you-help' },
      h('summary', null, h('span', { text: 'Keys' })),
      h(
        'dl',
        { class: 'shortcut-list' },
        shortcut('n', 'go to the first approval waiting'),
        shortcut('j / k', 'next / previous approval'),
        shortcut('a', 'allow'),
        shortcut('s', 'allow for this session'),
        shortcut('d', 'deny (with the reason typed, if any)'),
        shortcut('r', 'type a reason; Enter denies, Escape goes back'),
      ),
    );
    this.el = h(
      'section',
      { class: 'needs-you', id: 'needs-you', 'aria-labelledby': 'needs-you-title', hidden: true },
      h('div', { class: 'needs-you-head' }, h('h2', { id: 'needs-you-title' }, icon('hand'), h('span', { text: 'Needs you' }), this.countEl), this.help),
      this.list,
    );
    root.prepend(this.el);
    this.list.addEventListener('keydown', (event) => this.onKey(event));
    document.addEventListener('keydown', (event) => {
      const target = event.target;
      const typing = target instanceof HTMLElement && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
      if (event.key === 'n' && !typing && !event.ctrlKey && !event.metaKey && !event.altKey && !document.querySelector('dialog[open]') && !this.list.contains(target)) {
        const first = this.list.firstElementChild;
        if (first) {
          event.preventDefault();
          first.scrollIntoView({ block: 'nearest' });
          first.focus();
        }
      }
    });
    this.timer = setInterval(() => {
      const now = Date.now();
      for (const card of this.cards.values()) card.tick(now);
    }, 1000);
  }

  get size() {
    return this.cards.size;
  }

  /** The pending approvals, oldest first. */
  pending() {
    return [...this.cards.values()].map((card) => card.approval);
  }

  /**
   * A full list of the pending approvals (init's, or GET /approvals?state=pending): what is not in it has been
   * decided meanwhile, unless it came as a message after the list was asked for (`since`: the card counter then).
   */
  reset(approvals, since = Infinity) {
    const ids = new Set(approvals.map(approvalKey));
    for (const [id, card] of this.cards) {
      if (!ids.has(id) && card.order < since) this.remove(id);
    }
    for (const approval of approvals) this.update(approval);
  }

  /** Asks the server for the pending approvals (when init does not carry them). */
  async load() {
    const request = ++this.loadRequest;
    const since = this.added;
    try {
      const body = await api('/approvals?state=pending');
      if (request !== this.loadRequest) return;
      const approvals = Array.isArray(body?.approvals) ? body.approvals : Array.isArray(body) ? body : [];
      this.reset(
        approvals.filter((approval) => approval && approval.state === 'pending' && !this.settled.has(approvalKey(approval))),
        since,
      );
    } catch {
      // No approvals on this server (or this key may not read them): the queue stays as it is.
    }
  }

  /** An approval as the server has it now: pending ones are shown, any other state leaves the queue. */
  update(approval) {
    if (!approval || (typeof approval.id !== 'string' && typeof approval.id !== 'number')) return;
    const id = approvalKey(approval);
    if (approval.state !== 'pending') {
      this.settled.add(id);
      this.remove(id);
      return;
    }
    if (this.settled.has(id) || this.cards.has(id)) return;
    const card = approvalCard(approval, {
      sessionName: this.sessionName(approval.session_id),
      sessionHref: this.sessionHref(approval.session_id),
      onDecided: (decided) => this.update({ ...decided, id: approval.id, state: decided.state === 'pending' ? 'gone' : decided.state }),
    });
    this.added += 1;
    card.order = this.added;
    this.cards.set(id, card);
    // Oldest first: requested_at, then id.
    const time = Date.parse(approval.requested_at) || 0;
    let before = null;
    for (const other of this.cards.values()) {
      if (other === card) continue;
      const otherTime = Date.parse(other.approval.requested_at) || 0;
      if (otherTime > time && (!before || otherTime < (Date.parse(before.approval.requested_at) || 0))) before = other;
    }
    this.list.insertBefore(card.li, before?.li ?? null);
    this.changed();
  }

  remove(id) {
    const card = this.cards.get(id);
    if (!card) return;
    const hadFocus = card.li.contains(document.activeElement);
    const next = card.li.nextElementSibling ?? card.li.previousElementSibling;
    this.cards.delete(id);
    card.li.remove();
    // Answering from the keyboard goes on with the next one.
    if (hadFocus && next instanceof HTMLElement) next.focus();
    this.changed();
  }

  /** A deleted session's approvals go with it. */
  dropSession(sessionId) {
    for (const [id, card] of this.cards) {
      if (card.approval.session_id === sessionId) {
        this.settled.add(id);
        this.remove(id);
      }
    }
  }

  /** Session names may come after their approvals: the cards say them once known. */
  refreshNames() {
    for (const card of this.cards.values()) {
      const name = this.sessionName(card.approval.session_id);
      const link = card.li.querySelector('.approval-session');
      if (name && link && link.textContent !== name) {
        link.textContent = name;
        link.title = name;
      }
    }
  }

  changed() {
    const count = this.cards.size;
    this.el.hidden = count === 0;
    this.countEl.textContent = String(count);
    this.countEl.setAttribute('aria-label', plural(count, 'approval'));
    this.onCount(count);
  }

  onKey(event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (!(target instanceof HTMLElement) || target.tagName === 'INPUT') return;
    const li = target.closest('.approval');
    if (!li) return;
    let to;
    if (event.key === 'j' || event.key === 'ArrowDown') to = li.nextElementSibling;
    else if (event.key === 'k' || event.key === 'ArrowUp') to = li.previousElementSibling;
    else return;
    event.preventDefault();
    if (to instanceof HTMLElement) to.focus();
  }
}

function shortcut(keys, what) {
  return h('div', null, h('dt', null, ...keys.split(' / ').flatMap((key, i) => [i > 0 ? ' / ' : null, h('kbd', { text: key })])), h('dd', { text: what }));
}
