// Usage in total, per agent and per project (GET /usage): the tokens and cost of every session's model
// requests, as Claude Code's OpenTelemetry logs report them. Kept current from the feed: a change to a
// session's usage, agent or project (or a session gone) asks again, at most every REFRESH_MS.

import { api, ApiError } from './api.js';
import { formatNumber, h, icon, plural } from './dom.js';
import { formatCost, usageTitle } from './turns.js';

const REFRESH_MS = 1000;
const compact = new Intl.NumberFormat(undefined, { notation: 'compact', maximumFractionDigits: 1 });

// What of a session counts into the totals; equal keys need no new request.
const keyOf = (session) => {
  const usage = session?.usage;
  if (!usage) return '';
  return JSON.stringify([
    session.agent_name,
    session.project_dir,
    usage.api_requests,
    usage.input_tokens,
    usage.output_tokens,
    usage.cache_read_tokens,
    usage.cache_creation_tokens,
    usage.cost_usd,
  ]);
};

export class UsageTotals {
  /** @param {object} options hint — a line above the totals (the list route says how to open a session) */
  constructor({ hint = null } = {}) {
    this.hint = hint;
    this.closed = false;
    this.inFlight = false;
    this.again = false;
    this.timer = null;
    this.lastRequest = 0;
    this.status = h('p', { class: 'usage-status muted', 'aria-live': 'polite' });
    this.cards = h('dl', { class: 'usage-cards' });
    this.byAgent = h('div', { class: 'usage-group' });
    this.byProject = h('div', { class: 'usage-group' });
    this.el = h(
      'section',
      { class: 'usage-view', 'aria-labelledby': 'usage-title' },
      h('a', { class: 'back-link', href: '#/' }, icon('back'), 'All sessions'),
      hint ? h('p', { class: 'usage-hint muted', text: hint }) : null,
      h('h2', { id: 'usage-title', class: 'usage-title', text: 'Usage' }),
      this.status,
      this.cards,
      this.byAgent,
      this.byProject,
    );
  }

  open() {
    this.refresh();
  }

  destroy() {
    this.closed = true;
    clearTimeout(this.timer);
  }

  /** A session was created, changed (`after`) or deleted (`after` null); `before` is what the list knew, if anything. */
  onSessionChange(before, after) {
    const unknownDeleted = before === undefined && after === null;
    if (unknownDeleted || keyOf(before) !== keyOf(after)) this.refresh();
  }

  /** Asks again now, or as soon as REFRESH_MS has passed since the last request. */
  refresh() {
    if (this.closed) return;
    if (this.inFlight) {
      this.again = true;
      return;
    }
    if (this.timer !== null) return;
    this.timer = setTimeout(
      () => {
        this.timer = null;
        this.load();
      },
      Math.max(0, this.lastRequest + REFRESH_MS - Date.now()),
    );
  }

  async load() {
    this.inFlight = true;
    this.again = false;
    this.lastRequest = Date.now();
    try {
      const totals = await api('/usage');
      if (!this.closed) this.render(totals);
    } catch (err) {
      if (!this.closed && !this.loadedOnce) this.status.textContent = `Could not load the usage: ${err instanceof ApiError ? err.detail : err.message}`;
    } finally {
      this.inFlight = false;
      if (this.again) this.refresh();
    }
  }

  render(totals) {
    this.loadedOnce = true;
    const total = totals?.total;
    const usage = total?.usage;
    this.el.dataset.loaded = 'true';
    if (!usage) {
      this.status.textContent = 'No usage reported yet. Claude Code reports tokens and cost through its OpenTelemetry export (see the README).';
      this.cards.replaceChildren();
      this.byAgent.replaceChildren();
      this.byProject.replaceChildren();
      return;
    }
    this.status.textContent = `Tokens and cost of the model requests of ${plural(total.sessions, 'session')}, as Claude Code reported them.`;
    const card = (label, value, title) => h('div', { class: 'usage-card', title }, h('dt', { text: label }), h('dd', { text: value }));
    this.cards.replaceChildren(
      card('Cost', formatCost(usage.cost_usd), usageTitle(usage)),
      card('Input', formatNumber(usage.input_tokens), 'Input tokens'),
      card('Output', formatNumber(usage.output_tokens), 'Output tokens'),
      card('Cache read', formatNumber(usage.cache_read_tokens), 'Cache read tokens'),
      card('Cache write', formatNumber(usage.cache_creation_tokens), 'Cache creation tokens'),
      card('Requests', formatNumber(usage.api_requests), usage.models?.length ? `Models: ${usage.models.join(', ')}` : 'Model requests'),
    );
    this.byAgent.replaceChildren(...table('By agent', 'Agent', totals.by_agent, 'agent_name', 'no agent', usage.cost_usd));
    this.byProject.replaceChildren(...table('By project', 'Project', totals.by_project, 'project_dir', 'no project folder', usage.cost_usd));
  }
}

function table(title, nameHeading, groups, field, none, totalCost) {
  const rows = (Array.isArray(groups) ? groups : []).map((group) => {
    const usage = group.usage ?? {};
    const name = typeof group[field] === 'string' && group[field] !== '' ? group[field] : null;
    const share = totalCost > 0 ? Math.max(0, Math.min(1, usage.cost_usd / totalCost)) : 0;
    const bar = h('span', { class: 'usage-share', 'aria-hidden': 'true' });
    bar.style.width = `${(share * 100).toFixed(1)}%`;
    const nameCell =
      field === 'project_dir' && name
        ? h('th', { scope: 'row', class: 'usage-name path', title: name }, h('bdi', { dir: 'ltr', text: name }))
        : h('th', { scope: 'row', class: `usage-name${name ? '' : ' muted'}`, text: name ?? none });
    const number = (value, label) => h('td', { class: 'num', title: `${label}: ${formatNumber(value)}`, text: compact.format(value ?? 0) });
    return h(
      'tr',
      { dataset: { name: name ?? '' } },
      nameCell,
      // Cost first: on a phone the columns after it scroll.
      h('td', { class: 'num usage-cost', title: usageTitle(usage) }, h('span', { class: 'usage-cost-figure', text: formatCost(usage.cost_usd) }), bar),
      number(usage.input_tokens, 'Input tokens'),
      number(usage.output_tokens, 'Output tokens'),
      number((usage.cache_read_tokens ?? 0) + (usage.cache_creation_tokens ?? 0), 'Cache tokens (read and write)'),
      h('td', { class: 'num', text: formatNumber(group.sessions) }),
    );
  });
  const heading = h('h3', { text: title });
  if (rows.length === 0) return [heading, h('p', { class: 'muted', text: 'Nothing yet.' })];
  return [
    heading,
    h(
      'div',
      { class: 'usage-table-wrap' },
      h(
        'table',
        { class: 'usage-table', 'aria-label': `Usage ${title.toLowerCase()}` },
        h(
          'thead',
          null,
          h('tr', null, ...[nameHeading, 'Cost', 'Input', 'Output', 'Cache', 'Sessions'].map((text, i) => h('th', { scope: 'col', class: i > 0 ? 'num' : null, text }))),
        ),
        h('tbody', null, rows),
      ),
    ),
  ];
}
