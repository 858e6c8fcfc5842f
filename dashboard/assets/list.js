// The session list: newest first, searchable by name, filterable by status and agent. Rows are kept and
// updated in place (so focus and copy buttons survive live updates); only their order is changed.
// A long list is windowed: only the WINDOW rows around what is on screen are in the page, and padding stands
// in for the rest, so filtering or reordering 10,000 sessions moves a few hundred rows, not 10,000.

import { copyButton, formatNumber, h, plural, sessionState, statusBadge, timeEl, waitingTitle } from './dom.js';
import { formatUsage, incompleteText, usageTitle } from './turns.js';
import { FindPanel } from './find.js';
import { Sparklines } from './sparkline.js';

/** Newest first, as the server orders them: created_at descending, then session_id. */
export function compareSessions(a, b) {
  const ta = Date.parse(a.created_at) || 0;
  const tb = Date.parse(b.created_at) || 0;
  if (ta !== tb) return tb - ta;
  return a.session_id < b.session_id ? -1 : a.session_id > b.session_id ? 1 : 0;
}

/** The most recently active first (the last event, else the creation), then as compareSessions. */
export function compareActivity(a, b) {
  const ta = Date.parse(a.last_event_at ?? a.created_at) || 0;
  const tb = Date.parse(b.last_event_at ?? b.created_at) || 0;
  if (ta !== tb) return tb - ta;
  return compareSessions(a, b);
}

/** Rows in the page at most; a list this long or shorter is drawn whole. */
const WINDOW = 300;
/** The window moves once what is on screen comes this many rows from one of its ends. */
const WINDOW_MARGIN = 60;
/** A row's height before one has been measured (the rows' contain-intrinsic-size). */
const ROW_HEIGHT = 114;

export const sessionHref = (id) => `#/sessions/${encodeURIComponent(id)}`;

export class SessionList {
  /**
   * @param {HTMLElement} root the list pane
   * @param {object} options store ({ sessions: Map, ready, mayHaveOlder, olderLoading }); onOlder()
   */
  constructor(root, { store, onOlder }) {
    this.store = store;
    this.rows = new Map();
    /** The sessions that pass the filters, in order; `windowStart`… of them have rows in the page. */
    this.visible = [];
    this.attached = new Set();
    this.windowStart = 0;
    this.windowEnd = 0;
    this.rowHeight = ROW_HEIGHT;
    this.scroller = root;
    this.selected = null;
    this.scheduled = false;
    this.agentsKey = '';
    this.sparklines = new Sparklines((id) => this.store.sessions.get(id));

    this.search = h('input', { type: 'search', class: 'search', placeholder: 'Search by name', 'aria-label': 'Search sessions by name', autocomplete: 'off', spellcheck: 'false' });
    this.status = h(
      'select',
      { 'aria-label': 'Filter by status' },
      h('option', { value: '', text: 'All statuses' }),
      h('option', { value: 'waiting', text: 'Needs you' }),
      h('option', { value: 'running', text: 'Running' }),
      h('option', { value: 'idle', text: 'Idle' }),
      h('option', { value: 'stale', text: 'Stale' }),
      h('option', { value: 'finished', text: 'Finished' }),
      h('option', { value: 'failed', text: 'Failed' }),
    );
    this.agent = h('select', { 'aria-label': 'Filter by agent' }, h('option', { value: '', text: 'All agents' }));
    this.project = h('select', { 'aria-label': 'Filter by project' }, h('option', { value: '', text: 'All projects' }));
    this.projectsKey = '';
    this.order = h('select', { 'aria-label': 'Order' }, h('option', { value: 'created', text: 'Newest first' }), h('option', { value: 'activity', text: 'Last activity first' }));
    for (const control of [this.search, this.status, this.agent, this.project, this.order])
      control.addEventListener('input', () => {
        this.invalidate();
        if (control !== this.order) this.onFilters?.();
      });
    /** Called when a filter changes (the usage totals follow them). */
    this.onFilters = null;
    this.summary = h('p', { class: 'list-summary muted', 'aria-live': 'polite' });
    this.list = h('ul', { class: 'session-list', 'aria-label': 'Sessions' });
    this.empty = h('p', { class: 'list-empty muted', hidden: true });
    this.olderButton = h('button', { type: 'button', class: 'button older', hidden: true, onclick: () => onOlder() }, 'Load older sessions');

    this.findHolder = h('div', { class: 'find-wrap' });
    root.append(
      h(
        'div',
        { class: 'filters' },
        h('div', { class: 'search-wrap' }, this.search),
        h('div', { class: 'selects' }, this.status, this.agent, this.project, this.order),
        this.findHolder,
        this.summary,
      ),
      this.list,
      this.empty,
      h('div', { class: 'list-footer' }, this.olderButton),
    );

    this.scroller.addEventListener('scroll', () => this.followScroll(), { passive: true });

    this.find = new FindPanel(this.findHolder, { sessionList: this.list, project: () => this.project.value });

    document.addEventListener('keydown', (event) => {
      // "/" jumps to the search box, unless one is typing somewhere.
      const target = event.target;
      const typing = target instanceof HTMLElement && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
      if (event.key === '/' && !typing && !event.ctrlKey && !event.metaKey && !event.altKey && !document.querySelector('dialog[open]')) {
        event.preventDefault();
        this.search.focus();
      }
    });
  }

  /** Re-renders in the next frame; many changes in one frame render once. */
  invalidate() {
    if (this.scheduled) return;
    this.scheduled = true;
    requestAnimationFrame(() => {
      this.scheduled = false;
      this.render();
    });
  }

  select(id) {
    this.selected = id;
    for (const [rowId, row] of this.rows) {
      if (rowId === id) row.li.setAttribute('aria-current', 'true');
      else row.li.removeAttribute('aria-current');
    }
  }

  focusRow(id) {
    const index = this.visible.findIndex((session) => session.session_id === id);
    if (index !== -1 && (index < this.windowStart || index >= this.windowEnd)) {
      this.scroller.scrollTop = this.listTop() + index * this.rowHeight - this.scroller.clientHeight / 2;
      this.renderWindow();
    }
    const row = this.rows.get(id);
    if (row && row.li.isConnected) {
      row.link.focus({ preventScroll: true });
      row.li.scrollIntoView({ block: 'nearest' });
    }
  }

  /**
   * The filters as GET /usage (and GET /sessions) take them, and in words. "Needs you" and "Stale" are states
   * the page works out, not the server: the totals then count every status, and say so.
   */
  usageFilters() {
    const params = new URLSearchParams();
    const words = [];
    const status = this.status.value;
    const statusLabel = this.status.selectedOptions[0]?.textContent ?? status;
    if (status === 'running' || status === 'idle' || status === 'finished') params.set('status', status);
    else if (status === 'failed') {
      params.set('status', 'finished');
      params.set('outcome', 'failed');
    }
    if (status !== '') words.push(status === 'waiting' || status === 'stale' ? `every status (“${statusLabel}” is not a server filter)` : `status ${statusLabel}`);
    if (this.agent.value !== '') {
      params.set('agent_name', this.agent.value);
      words.push(`agent ${this.agent.value}`);
    }
    if (this.project.value !== '') {
      params.set('project_dir', this.project.value);
      words.push(`project ${this.project.value}`);
    }
    const q = this.search.value.trim();
    if (q !== '') {
      params.set('q', q);
      words.push(`name containing “${q}”`);
    }
    return { query: params.toString(), words };
  }

  render() {
    const all = [...this.store.sessions.values()].sort(this.order.value === 'activity' ? compareActivity : compareSessions);
    this.renderAgents(all);
    this.renderProjects(all);
    const project = this.project.value;
    const q = this.search.value.trim().toLocaleLowerCase();
    const status = this.status.value;
    const agent = this.agent.value;
    const now = Date.now();
    // "Finished" holds the failed ones too; "Failed" only them.
    const statusMatches = (s) => {
      const state = sessionState(s, now);
      return status === '' || state === status || (status === 'finished' && state === 'failed');
    };
    const visible = all.filter(
      (s) =>
        statusMatches(s) &&
        (agent === '' || s.agent_name === agent) &&
        (project === '' || s.project_dir === project) &&
        (q === '' || (typeof s.session_name === 'string' && s.session_name.toLocaleLowerCase().includes(q))),
    );

    this.visible = visible;
    this.renderWindow();
    // Rows of deleted sessions go; the others are kept for when they are in the window again.
    for (const id of this.rows.keys()) {
      if (!this.store.sessions.has(id) && !this.attached.has(id)) {
        this.rows.delete(id);
        this.sparklines.forget(id);
      }
    }

    if (!this.store.ready) {
      this.summary.textContent = 'Loading sessions…';
    } else {
      this.summary.textContent = visible.length === all.length ? plural(all.length, 'session') : `${formatNumber(visible.length)} of ${plural(all.length, 'session')}`;
    }
    this.empty.hidden = !this.store.ready || visible.length > 0;
    this.empty.textContent = all.length === 0 ? 'No sessions yet. They appear here as soon as an agent creates one.' : 'No sessions match the filters.';
    this.olderButton.hidden = !this.store.mayHaveOlder;
    this.olderButton.setAttribute('aria-disabled', String(Boolean(this.store.olderLoading)));
    this.olderButton.textContent = this.store.olderLoading ? 'Loading older sessions…' : 'Load older sessions';
  }

  /** Puts the rows of the window in the page, in order, and padding for the rows before and after it. */
  renderWindow() {
    const total = this.visible.length;
    let start = 0;
    if (total > WINDOW) {
      const { first, last } = this.rowsOnScreen();
      start = Math.max(0, Math.min(total - WINDOW, Math.floor((first + last - WINDOW) / 2)));
    }
    const end = Math.min(total, start + WINDOW);
    this.windowStart = start;
    this.windowEnd = end;
    const shown = this.visible.slice(start, end);
    const wanted = new Set(shown.map((session) => session.session_id));
    for (const id of this.attached) {
      if (!wanted.has(id)) {
        this.rows.get(id)?.li.remove();
        this.sparklines.hide(id);
        this.attached.delete(id);
      }
    }
    const ordered = shown.map((session) => this.rowFor(session).li);
    // Move only what is out of place, so a focused row stays focused.
    let cursor = this.list.firstElementChild;
    for (const li of ordered) {
      if (li === cursor) cursor = cursor.nextElementSibling;
      else this.list.insertBefore(li, cursor);
    }
    for (const id of wanted) this.attached.add(id);
    if (total > WINDOW && ordered.length > 1) {
      // Rows off screen take their contain-intrinsic-size (or the size they last had), so this is the height
      // the padding must give each row that is not in the page.
      const firstLi = ordered[0];
      const lastLi = ordered[ordered.length - 1];
      const measured = (lastLi.offsetTop + lastLi.offsetHeight - firstLi.offsetTop) / ordered.length;
      if (measured > 0) this.rowHeight = measured;
    }
    this.list.style.paddingTop = start > 0 ? `${start * this.rowHeight}px` : '';
    this.list.style.paddingBottom = end < total ? `${(total - end) * this.rowHeight}px` : '';
  }

  /** Where the list starts within the scrolling pane. */
  listTop() {
    return this.list.getBoundingClientRect().top - this.scroller.getBoundingClientRect().top + this.scroller.scrollTop;
  }

  /** The indexes (in `visible`) of the first and last rows the pane shows. */
  rowsOnScreen() {
    const top = this.scroller.scrollTop - this.listTop();
    const first = Math.max(0, Math.floor(top / this.rowHeight));
    return { first, last: first + Math.ceil(this.scroller.clientHeight / this.rowHeight) };
  }

  /** Moves the window in the next frame once scrolling brings its end near the screen. */
  followScroll() {
    if (this.visible.length <= WINDOW || this.windowScheduled) return;
    const { first, last } = this.rowsOnScreen();
    const nearStart = this.windowStart > 0 && first < this.windowStart + WINDOW_MARGIN;
    const nearEnd = this.windowEnd < this.visible.length && last > this.windowEnd - WINDOW_MARGIN;
    if (!nearStart && !nearEnd) return;
    this.windowScheduled = true;
    requestAnimationFrame(() => {
      this.windowScheduled = false;
      this.renderWindow();
    });
  }

  renderAgents(all) {
    const agents = [...new Set(all.map((s) => s.agent_name).filter((a) => typeof a === 'string' && a !== ''))].sort((a, b) => a.localeCompare(b));
    const current = this.agent.value;
    if (current !== '' && !agents.includes(current)) agents.push(current);
    const key = JSON.stringify(agents);
    if (key === this.agentsKey) return;
    this.agentsKey = key;
    const options = agents.map((agent) => {
      const option = h('option');
      option.value = agent;
      option.textContent = agent;
      return option;
    });
    this.agent.replaceChildren(h('option', { value: '', text: 'All agents' }), ...options);
    this.agent.value = current;
  }

  renderProjects(all) {
    const projects = [...new Set(all.map((s) => s.project_dir).filter((p) => typeof p === 'string' && p !== ''))].sort((a, b) => a.localeCompare(b));
    const current = this.project.value;
    if (current !== '' && !projects.includes(current)) projects.push(current);
    const key = JSON.stringify(projects);
    if (key === this.projectsKey) return;
    this.projectsKey = key;
    // The end of a path tells projects apart: options show it, their value is the whole path.
    const options = projects.map((project) => h('option', { value: project, title: project, text: project.split('/').filter(Boolean).slice(-2).join('/') || project }));
    this.project.replaceChildren(h('option', { value: '', text: 'All projects' }), ...options);
    this.project.value = current;
  }

  rowFor(session) {
    const id = session.session_id;
    let row = this.rows.get(id);
    if (!row) {
      row = {
        session: null,
        badge: h('span', { class: 'badge-holder' }),
        link: h('a', { class: 'row-link', href: sessionHref(id) }),
        count: h('span', { class: 'row-count' }),
        agent: h('span', { class: 'row-agent' }),
        project: h('span', { class: 'row-project' }),
        created: h('span'),
        activity: h('span'),
        usage: h('span', { class: 'row-usage' }),
        failedTools: h('span', { class: 'row-failed-tools error-text' }),
      };
      row.li = h(
        'li',
        { class: 'session-row', dataset: { sessionId: id } },
        h('div', { class: 'row-top' }, row.badge, row.link, row.count),
        h('div', { class: 'row-id' }, h('code', { text: id }), copyButton(id, 'Copy session id'), this.sparklines.element(id)),
        h('div', { class: 'row-meta' }, row.agent, row.project, row.failedTools),
        h('div', { class: 'row-times muted' }, h('span', null, 'Created ', row.created), h('span', null, 'Active ', row.activity), row.usage),
      );
      if (id === this.selected) row.li.setAttribute('aria-current', 'true');
      this.sparklines.watch(row.li, id);
      this.rows.set(id, row);
    }
    if (row.session !== session) this.updateRow(row, session, row.session);
    else this.updateState(row);
    return row;
  }

  /** The badge, when the state changed (a session goes stale without any message). */
  updateState(row) {
    const state = sessionState(row.session);
    // A waiting session's badge names what it waits for, which may change while it stays waiting.
    const key = state === 'waiting' ? `${state}:${waitingTitle(row.session)}` : state;
    if (row.state === key) return;
    row.state = key;
    row.badge.replaceChildren(statusBadge(row.session, state));
    row.li.dataset.state = state;
  }

  updateRow(row, session, previous) {
    row.session = session;
    this.sparklines.update(session.session_id, session);
    this.updateState(row);
    row.link.textContent = session.session_name;
    row.link.title = session.session_name;
    const count = session.event_count;
    row.count.textContent = typeof count === 'number' ? formatNumber(count) : '–';
    row.count.title = typeof count === 'number' ? plural(count, 'event') : 'Events: unknown';
    row.count.setAttribute('aria-label', row.count.title);
    row.agent.textContent = session.agent_name || 'no agent';
    row.agent.classList.toggle('muted', !session.agent_name);
    // Cut at the start when too long (the end of a path matters most): an RTL box around an LTR <bdi>.
    row.project.replaceChildren(h('bdi', { dir: 'ltr', text: session.project_dir || 'no project folder' }));
    row.project.title = session.project_dir || '';
    row.project.classList.toggle('muted', !session.project_dir);
    const incomplete = incompleteText(session.requests_missing);
    row.usage.textContent = [formatUsage(session.usage), incomplete].filter(Boolean).join(' · ');
    row.usage.title = usageTitle(session.usage);
    row.usage.classList.toggle('usage-incomplete', incomplete !== '');
    const failedTools = typeof session.failed_tool_count === 'number' ? session.failed_tool_count : 0;
    row.failedTools.textContent = failedTools > 0 ? plural(failedTools, 'failed tool call') : '';
    row.failedTools.hidden = failedTools === 0;
    if (previous?.created_at !== session.created_at) row.created.replaceChildren(timeEl(session.created_at));
    if (previous?.last_event_at !== session.last_event_at || !previous) row.activity.replaceChildren(timeEl(session.last_event_at ?? null));
  }
}
