// The time axis of a session: its turns, tool calls and subagents as bars over the session's time, built
// from the events on the page. Rows beyond MAX_ROWS are left out (and counted), so a long session stays cheap.
// Idle stretches (no bar running, e.g. a person away for an hour between two turns) are compressed to a
// narrow marked break, so the work on either side stays readable; the ticks are round times since the start.

import { h, plural } from './dom.js';
import { formatDuration } from './tools.js';

const MAX_ROWS = 400;
/** A stretch with nothing running is compressed when it is longer than this share of the busy time… */
const GAP_SHARE = 0.25;
/** …and longer than this. */
const GAP_MIN_MS = 5_000;
/** The width a compressed stretch takes, as a share of the axis. */
const GAP_WIDTH = 0.03;
/** Tick steps, in ms: the smallest that keeps the ticks to about six over the busy time. */
const STEPS = [
  100, 200, 500, 1000, 2000, 5000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 900_000, 1_800_000, 3_600_000, 7_200_000, 21_600_000, 43_200_000, 86_400_000,
];

/**
 * The axis's map from time to a share of its width: busy stretches at one common scale, each long idle
 * stretch at GAP_WIDTH. `segments`: [{ from, to, at, width, gap }], times in ms since the epoch.
 */
export function timeScale(rows) {
  const spans = rows.map((row) => [row.first, Number.isFinite(row.last) ? Math.max(row.last, row.first) : row.first]).sort((a, b) => a[0] - b[0]);
  const busy = [];
  for (const [from, to] of spans) {
    const last = busy[busy.length - 1];
    if (last && from <= last[1]) last[1] = Math.max(last[1], to);
    else busy.push([from, to]);
  }
  const start = busy[0][0];
  const end = busy[busy.length - 1][1];
  const busyMs = busy.reduce((sum, [from, to]) => sum + (to - from), 0);
  const threshold = Math.max(GAP_MIN_MS, busyMs * GAP_SHARE);
  const pieces = [];
  for (let i = 0; i < busy.length; i += 1) {
    pieces.push({ from: busy[i][0], to: busy[i][1], gap: false });
    if (i + 1 < busy.length) pieces.push({ from: busy[i][1], to: busy[i + 1][0], gap: busy[i + 1][0] - busy[i][1] > threshold });
  }
  let linearMs = pieces.reduce((sum, piece) => sum + (piece.gap ? 0 : piece.to - piece.from), 0);
  // Only instants between long pauses: nothing to compress against, the axis stays linear.
  if (linearMs === 0) {
    for (const piece of pieces) piece.gap = false;
    linearMs = end - start;
  }
  const gaps = pieces.filter((piece) => piece.gap).length;
  const gapShare = Math.min(0.5, gaps * GAP_WIDTH);
  const perMs = linearMs > 0 ? (1 - gapShare) / linearMs : 0;
  let at = 0;
  const segments = pieces.map((piece) => {
    const width = piece.gap ? gapShare / gaps : linearMs > 0 ? (piece.to - piece.from) * perMs : 1 / pieces.length;
    const segment = { ...piece, at, width };
    at += width;
    return segment;
  });
  /** A time as a share (0–1) of the axis. */
  const position = (time) => {
    if (time <= start) return 0;
    for (const segment of segments) {
      if (time <= segment.to) return segment.at + (segment.to > segment.from ? ((time - segment.from) / (segment.to - segment.from)) * segment.width : 0);
    }
    return 1;
  };
  return { start, end, segments, position, busyMs: linearMs };
}

/**
 * Round times, in busy stretches only, about six over the busy time: since the start ("0", "15 s", "30 s");
 * past a compressed break, the first tick of a stretch says how far in it is ("1 h 0 min") and the next
 * count from it ("+15 s").
 */
export function ticks(scale) {
  const step = STEPS.find((candidate) => scale.busyMs / candidate <= 6) ?? STEPS[STEPS.length - 1];
  const out = [];
  let lastAt = -1;
  let afterBreak = false;
  for (const segment of scale.segments) {
    if (segment.gap) {
      afterBreak = true;
      continue;
    }
    const origin = afterBreak ? segment.from : scale.start;
    let first = true;
    for (let offset = Math.ceil((segment.from - origin) / step) * step; origin + offset <= segment.to; offset += step) {
      const at = scale.position(origin + offset);
      // Labels closer than 8 % of the axis would overlap.
      if (lastAt >= 0 && at - lastAt < 0.08) continue;
      let label;
      if (!afterBreak) label = offset === 0 ? '0' : formatDuration(offset);
      else label = first ? formatDuration(origin + offset - scale.start) : `+${formatDuration(offset)}`;
      out.push({ at, label });
      lastAt = at;
      first = false;
    }
    afterBreak = false;
  }
  return out;
}

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
  const scale = timeScale(rows);
  const shown = rows.slice(0, MAX_ROWS);
  const list = h('ol', { class: 'waterfall-rows' });
  const breaks = scale.segments.filter((segment) => segment.gap);
  for (const row of shown) {
    const last = Number.isFinite(row.last) ? Math.max(row.last, row.first) : row.first;
    const left = scale.position(row.first) * 100;
    const width = Math.max(0.4, (scale.position(last) - scale.position(row.first)) * 100);
    const duration = formatDuration(last - row.first);
    list.append(
      h(
        'li',
        { class: `waterfall-row waterfall-${row.kind.replace(' ', ' waterfall-')}`, title: `${row.label}${duration ? ` · ${duration}` : ''}` },
        h('span', { class: 'waterfall-label', text: row.label }),
        h('span', { class: 'waterfall-track' }, ...breaks.map((gap) => breakMark(gap, false)), bar(left, Math.min(width, 100 - left))),
        h('span', { class: 'waterfall-duration', text: duration }),
      ),
    );
  }
  const axis = h('div', { class: 'waterfall-ticks', 'aria-hidden': 'true' });
  for (const tick of ticks(scale)) axis.append(place(h('span', { class: 'waterfall-tick', text: tick.label }), tick.at * 100));
  for (const gap of breaks) axis.append(breakMark(gap, true));
  const total = formatDuration(scale.end - scale.start);
  const idle = breaks.reduce((sum, gap) => sum + (gap.to - gap.from), 0);
  return h(
    'div',
    { class: 'waterfall' },
    h(
      'div',
      { class: 'waterfall-scale muted' },
      h('span', { class: 'waterfall-scale-label', text: breaks.length > 0 ? `${total} in all; idle ${formatDuration(idle)} compressed` : total }),
      axis,
    ),
    list,
    rows.length > MAX_ROWS ? h('p', { class: 'muted', text: `${plural(rows.length - MAX_ROWS, 'more row')} not shown.` }) : null,
  );
}

/** A compressed idle stretch: a hatched band (its length in its tooltip). */
function breakMark(gap, labelled) {
  const el = h('span', { class: `waterfall-break${labelled ? ' waterfall-break-axis' : ''}`, title: `Idle ${formatDuration(gap.to - gap.from)}, compressed` });
  el.style.left = `${(gap.at * 100).toFixed(3)}%`;
  el.style.width = `${(gap.width * 100).toFixed(3)}%`;
  return el;
}

// Through the CSSOM: the page's policy allows no inline style attributes.
function place(el, left) {
  el.style.left = `${left.toFixed(3)}%`;
  return el;
}

function bar(left, width) {
  const el = h('span', { class: 'waterfall-bar' });
  el.style.left = `${left.toFixed(3)}%`;
  el.style.width = `${width.toFixed(3)}%`;
  return el;
}
