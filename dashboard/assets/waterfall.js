// The time axis of a session: its turns, tool calls and subagents as bars over the session's time, built
// from the events on the page. Rows beyond MAX_ROWS are left out (and counted), so a long session stays cheap.

import { h, plural } from './dom.js';
import { formatDuration } from './tools.js';

const MAX_ROWS = 400;

/**
 * @param {object} parts turns: [{ label, first, last }], calls: [{ label, first, last, failed, pending }],
 *   subagents: [{ label, first, last }] — times in ms since the epoch
 */
export function renderWaterfall({ turns, calls, subagents }) {
  const rows = [
    ...turns.map((turn) => ({ ...turn, kind: 'turn' })),
    ...calls.map((call) => ({ ...call, kind: call.failed ? 'call failed' : call.pending ? 'call pending' : 'call' })),
    ...subagents.map((agent) => ({ ...agent, kind: 'subagent' })),
  ].filter((row) => Number.isFinite(row.first));
  if (rows.length === 0) return h('p', { class: 'muted', text: 'Nothing to show on a time axis yet.' });
  rows.sort((a, b) => a.first - b.first || (a.kind === 'turn' ? -1 : b.kind === 'turn' ? 1 : 0));
  const start = Math.min(...rows.map((row) => row.first));
  const end = Math.max(...rows.map((row) => (Number.isFinite(row.last) ? row.last : row.first)));
  const span = Math.max(1, end - start);
  const shown = rows.slice(0, MAX_ROWS);
  const list = h('ol', { class: 'waterfall-rows' });
  for (const row of shown) {
    const last = Number.isFinite(row.last) ? row.last : row.first;
    const left = ((row.first - start) / span) * 100;
    const width = Math.max(0.4, ((last - row.first) / span) * 100);
    const duration = formatDuration(last - row.first);
    list.append(
      h(
        'li',
        { class: `waterfall-row waterfall-${row.kind.replace(' ', ' waterfall-')}`, title: `${row.label}${duration ? ` · ${duration}` : ''}` },
        h('span', { class: 'waterfall-label', text: row.label }),
        h('span', { class: 'waterfall-track' }, bar(left, Math.min(width, 100 - left))),
        h('span', { class: 'waterfall-duration', text: duration }),
      ),
    );
  }
  return h(
    'div',
    { class: 'waterfall' },
    h('div', { class: 'waterfall-scale muted' }, h('span', { text: '0' }), h('span', { text: formatDuration(span) })),
    list,
    rows.length > MAX_ROWS ? h('p', { class: 'muted', text: `${plural(rows.length - MAX_ROWS, 'more row')} not shown.` }) : null,
  );
}

// Through the CSSOM: the page's policy allows no inline style attributes.
function bar(left, width) {
  const el = h('span', { class: 'waterfall-bar' });
  el.style.left = `${left.toFixed(3)}%`;
  el.style.width = `${width.toFixed(3)}%`;
  return el;
}
