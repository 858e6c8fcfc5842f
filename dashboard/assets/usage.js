// Usage in total, per model, per agent and per project (GET /usage): the tokens and cost of every session's
// model requests, as Claude Code's OpenTelemetry logs (and, where they lack requests, its transcript) report
// them. It follows the list's filters (passed to GET /usage) and counts every session, with usage or not.
// Kept current from the feed: a change to a session's usage, agent, project or status (or a session gone)
// asks again, at most every REFRESH_MS; so does a change of the list's filters.

import { api, ApiError } from './api.js';
import { formatNumber, h, icon, plural } from './dom.js';
import { costText, formatCost, incompleteText, usageTitle } from './turns.js';

const REFRESH_MS = 1000;
const compact = new Intl.NumberFormat(undefined, { notation: 'compact', maximumFractionDigits: 1 });

// What of a session counts into the totals; equal keys need no new request.
const keyOf = (session) => {
  if (!session) return '';
  const usage = session.usage ?? {};
  return JSON.stringify([
    session.agent_name,
    session.project_dir,
    session.session_name,
    session.status,
    session.outcome,
    session.requests_missing,
    usage.api_requests,
    usage.input_tokens,
    usage.output_tokens,
    usage.cache_read_tokens,
    usage.cache_creation_tokens,
    usage.cost_usd,
  ]);
};

export class UsageTotals {
  /**
   * @param {object} options hint — a line above the totals (the list route says how to open a session);
   *   filters() — the list's filters: { query (for GET /usage), words (to say which) }
   */
  constructor({ hint = null, filters = null } = {}) {
    this.hint = hint;
    this.filters = filters;
    this.closed = false;
    this.inFlight = false;
    this.again = false;
    this.timer = null;
    this.lastRequest = 0;
    this.status = h('p', { class: 'usage-status muted', 'aria-live': 'polite' });
    this.cards = h('dl', { class: 'usage-cards' });
    this.filterLine = h('p', { class: 'usage-filters muted', hidden: true });
    this.incomplete = h('p', { class: 'usage-incomplete', hidden: true });
    this.byModel = h('div', { class: 'usage-group' });
    this.byAgent = h('div', { class: 'usage-group' });
    this.byProject = h('div', { class: 'usage-group' });
    this.el = h(
      'section',
      { class: 'usage-view', 'aria-labelledby': 'usage-title' },
      h('a', { class: 'back-link', href: '#/' }, icon('back'), 'All sessions'),
      hint ? h('p', { class: 'usage-hint muted', text: hint }) : null,
      h('h2', { id: 'usage-title', class: 'usage-title', text: 'Usage' }),
      this.filterLine,
      this.status,
      this.incomplete,
      this.cards,
      this.byModel,
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
      const filters = this.filters?.() ?? { query: '', words: [] };
      const totals = await api(filters.query ? `/usage?${filters.query}` : '/usage');
      if (!this.closed) this.render(totals, filters);
    } catch (err) {
      if (!this.closed && !this.loadedOnce) this.status.textContent = `Could not load the usage: ${err instanceof ApiError ? err.detail : err.message}`;
    } finally {
      this.inFlight = false;
      if (this.again) this.refresh();
    }
  }

  render(totals, filters = { words: [] }) {
    this.loadedOnce = true;
    const total = totals?.total;
    const usage = total?.usage;
    this.el.dataset.loaded = 'true';
    this.filterLine.hidden = filters.words.length === 0;
    this.filterLine.textContent = filters.words.length > 0 ? `As the list is filtered: ${filters.words.join(', ')}.` : '';
    // Every session counts (with usage or not); older servers count those with usage only.
    const sessions = firstNumber(totals?.sessions, total?.sessions);
    const withUsage = firstNumber(totals?.sessions_with_usage, total?.sessions_with_usage);
    const missing = firstNumber(totals?.requests_missing, total?.requests_missing);
    const incomplete = incompleteText(missing);
    const costUnknown = firstNumber(totals?.sessions_cost_unknown) ?? 0;
    this.incomplete.textContent = [
      incomplete
        ? `${capitalize(incomplete)}: the transcripts show model requests OpenTelemetry did not report; their tokens are counted, their cost is estimated or unknown.`
        : '',
      costUnknown > 0 ? `The cost of ${plural(costUnknown, 'session')} is unknown and not in the total.` : '',
    ]
      .filter(Boolean)
      .join(' ');
    this.incomplete.hidden = this.incomplete.textContent === '';
    this.el.dataset.sessions = String(sessions ?? '');
    if (!usage) {
      const none = sessions !== null && sessions > 0 ? `${plural(sessions, 'session')}, none with usage reported. ` : 'No usage reported yet. ';
      this.status.textContent = `${none}Claude Code reports tokens and cost through its OpenTelemetry export (see the README).`;
      this.cards.replaceChildren();
      this.byModel.replaceChildren();
      this.byAgent.replaceChildren();
      this.byProject.replaceChildren();
      return;
    }
    this.status.textContent =
      withUsage !== null && sessions !== null
        ? `${plural(sessions, 'session')}, ${formatNumber(withUsage)} with usage: the tokens and cost of their model requests, as Claude Code reported them.`
        : `Tokens and cost of the model requests of ${plural(sessions ?? 0, 'session')}, as Claude Code reported them.`;
    const card = (label, value, title) => h('div', { class: 'usage-card', title }, h('dt', { text: label }), h('dd', { text: value }));
    this.cards.replaceChildren(
      card('Cost', costText(usage), usageTitle(usage)),
      card('Input', formatNumber(usage.input_tokens), 'Input tokens'),
      card('Output', formatNumber(usage.output_tokens), 'Output tokens'),
      card('Cache read', formatNumber(usage.cache_read_tokens), 'Cache read tokens'),
      card('Cache write', formatNumber(usage.cache_creation_tokens), 'Cache creation tokens'),
      card('Requests', formatNumber(usage.api_requests), usage.models?.length ? `Models: ${usage.models.join(', ')}` : 'Model requests'),
    );
    this.byModel.replaceChildren(...modelTable(totals.by_model ?? total?.by_model, usage.cost_usd));
    this.byAgent.replaceChildren(...table('By agent', 'Agent', totals.by_agent, 'agent_name', 'no agent', usage.cost_usd));
    this.byProject.replaceChildren(...table('By project', 'Project', totals.by_project, 'project_dir', 'no project folder', usage.cost_usd));
  }
}

const firstNumber = (...values) => values.find((value) => typeof value === 'number' && Number.isFinite(value)) ?? null;
const capitalize = (text) => text.charAt(0).toUpperCase() + text.slice(1);

/** Cost and tokens per model (`by_model`: flat rows, not {usage}); nothing on servers that do not send it. */
function modelTable(rows, totalCost) {
  if (!Array.isArray(rows) || rows.length === 0) return [];
  const groups = rows.map((row) => ({ model: row.model, usage: row, sessions: row.requests }));
  return table('By model', 'Model', groups, 'model', 'unknown model', totalCost, 'Requests');
}

function table(title, nameHeading, groups, field, none, totalCost, countHeading = 'Sessions') {
  const rows = (Array.isArray(groups) ? groups : []).map((group) => {
    const usage = group.usage ?? {};
    const name = typeof group[field] === 'string' && group[field] !== '' ? group[field] : null;
    const share = totalCost > 0 ? Math.max(0, Math.min(1, (usage.cost_usd ?? 0) / totalCost)) : 0;
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
      h(
        'td',
        { class: 'num usage-cost', title: usageTitle(usage) },
        h('span', { class: 'usage-cost-figure', text: usage.cost_source ? costText(usage) : formatCost(usage.cost_usd) }),
        bar,
      ),
      number(usage.input_tokens, 'Input tokens'),
      number(usage.output_tokens, 'Output tokens'),
      number((usage.cache_read_tokens ?? 0) + (usage.cache_creation_tokens ?? 0), 'Cache tokens (read and write)'),
      h('td', { class: 'num', text: typeof group.sessions === 'number' ? formatNumber(group.sessions) : '–' }),
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
          h('tr', null, ...[nameHeading, 'Cost', 'Input', 'Output', 'Cache', countHeading].map((text, i) => h('th', { scope: 'col', class: i > 0 ? 'num' : null, text }))),
        ),
        h('tbody', null, rows),
      ),
    ),
  ];
}
