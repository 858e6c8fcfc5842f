// Search inside events (GET /search): prompts, messages, tool input and output, errors, across sessions,
// newest first, a page at a time. Filters: the kind of event (or failed only), the tool, and the project
// chosen in the session list. A result links to its event in its session.

import { api, ApiError } from './api.js';
import { formatNumber, h, icon, labelFor, timeEl } from './dom.js';
import { eventHref } from './timeline.js';

const PAGE = 50;

const KINDS = {
  '': {},
  message: { event_type: 'message' },
  pre_tool: { event_type: 'pre_tool' },
  post_tool: { event_type: 'post_tool' },
  failed: { failed: 'true' },
};

export class FindPanel {
  /**
   * @param {HTMLElement} holder where the form goes; results replace `sessionList` while shown
   * @param {object} options sessionList (the element hidden while results show); project() — the project filter
   */
  constructor(holder, { sessionList, project }) {
    this.sessionList = sessionList;
    this.project = project;
    this.request = 0;
    this.input = h('input', {
      type: 'search',
      class: 'search find-input',
      placeholder: 'Search inside events',
      'aria-label': 'Search inside events',
      autocomplete: 'off',
      spellcheck: 'false',
    });
    this.kind = h(
      'select',
      { 'aria-label': 'Kind of event' },
      h('option', { value: '', text: 'All events' }),
      h('option', { value: 'message', text: 'Messages' }),
      h('option', { value: 'pre_tool', text: 'Tool calls' }),
      h('option', { value: 'post_tool', text: 'Tool results' }),
      h('option', { value: 'failed', text: 'Failed only' }),
    );
    this.tool = h('input', { type: 'text', class: 'find-tool', placeholder: 'Tool', 'aria-label': 'Tool name', autocomplete: 'off', spellcheck: 'false' });
    this.form = h('form', { class: 'find', role: 'search' }, this.input, this.kind, this.tool, h('button', { type: 'submit', class: 'button small' }, icon('search'), 'Find'));
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.run();
    });
    this.input.addEventListener('input', () => {
      if (this.input.value.trim() === '') this.close();
    });
    this.summary = h('p', { class: 'find-summary muted', 'aria-live': 'polite' });
    this.coverage = h('p', { class: 'find-coverage muted' });
    this.results = h('ol', { class: 'find-results', 'aria-label': 'Events found' });
    this.more = h('button', { type: 'button', class: 'button older', hidden: true, onclick: () => this.run({ more: true }) }, 'More results');
    this.clear = h('button', { type: 'button', class: 'link-button', onclick: () => this.close() }, 'Back to sessions');
    this.panel = h(
      'section',
      { class: 'find-panel', hidden: true, 'aria-label': 'Search results' },
      h('div', { class: 'find-head' }, h('div', null, this.summary, this.coverage), this.clear),
      this.results,
      h('div', { class: 'list-footer' }, this.more),
    );
    holder.append(this.form);
    sessionList.before(this.panel);
  }

  close() {
    this.request += 1;
    this.panel.hidden = true;
    this.sessionList.hidden = false;
    this.results.replaceChildren();
  }

  async run({ more = false } = {}) {
    const q = this.input.value.trim();
    if (q === '') return this.close();
    const params = new URLSearchParams({ q, limit: String(PAGE), ...KINDS[this.kind.value] });
    if (this.tool.value.trim() !== '') params.set('tool_name', this.tool.value.trim());
    const project = this.project();
    if (project) params.set('project_dir', project);
    if (more && this.cursor) params.set('cursor', this.cursor);
    const request = ++this.request;
    this.panel.hidden = false;
    this.sessionList.hidden = true;
    if (!more) {
      this.results.replaceChildren();
      this.count = 0;
    }
    this.summary.textContent = 'Searching…';
    this.coverage.textContent = '';
    try {
      const body = await api(`/search?${params}`);
      if (request !== this.request) return;
      for (const hit of body.results ?? []) this.results.append(renderHit(hit));
      this.count += body.results?.length ?? 0;
      this.cursor = body.next_cursor ?? null;
      this.more.hidden = this.cursor === null;
      const one = this.count === 1 && !this.cursor;
      this.summary.textContent =
        this.count === 0
          ? this.cursor
            ? `No event holds “${q}” among the newest searched so far.`
            : `No event holds “${q}”.`
          : `${formatNumber(this.count)}${this.cursor ? '+' : ''} ${one ? 'event holds' : 'events hold'} “${q}”`;
      this.coverage.textContent = searchCoverage(this.count, this.cursor, body);
    } catch (err) {
      if (request !== this.request) return;
      this.summary.textContent = `Search failed: ${err instanceof ApiError ? err.detail : err.message}`;
      this.coverage.textContent = '';
    }
  }
}

/**
 * What the search looked at, under the result line: every event's whole text (prompts, messages, tool input
 * and output of any size), except past the first 4 MiB of an event's text (`partial`); and, when the server
 * stopped at its bound for one page before filling it, only the newer events so far.
 */
export function searchCoverage(count, cursor, body) {
  if (body.partial) return 'Some very large events were searched in part only: their first 4 MiB of text, not the rest.';
  if (count === 0 && cursor) return 'Whole texts searched, outputs included; More results searches older events.';
  return 'Whole texts searched, outputs included.';
}

function renderHit(hit) {
  const type = labelFor(hit.event_type);
  return h(
    'li',
    { class: `find-hit${hit.failed ? ' is-error' : ''}`, dataset: { eventId: String(hit.id), sessionId: hit.session_id } },
    h(
      'a',
      { class: 'find-link', href: eventHref(hit.session_id, hit.id) },
      h('span', { class: 'find-session', text: hit.session_name }),
      h(
        'span',
        { class: 'find-type' },
        hit.role ? `${type} · ${hit.role}` : type,
        hit.tool_name ? h('code', { class: 'tool-name', text: hit.tool_name }) : null,
        hit.failed ? h('span', { class: 'tool-status tool-failed', text: 'failed' }) : null,
      ),
    ),
    h('p', { class: 'find-snippet', text: hit.snippet }),
    h('div', { class: 'row-times muted' }, timeEl(hit.timestamp)),
  );
}
