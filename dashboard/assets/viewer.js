// A text viewer for any size: a 2 MB tool output or Write opens at once and scrolls smoothly, because only
// the rows on screen (and a few around them) are in the page. The text is indexed once into rows — its lines,
// a very long line split every ROW_CHARS characters — and the box's scroll position picks the rows to show.
// Copying with the copy button copies the whole text; selecting copies what is on screen.

import { formatNumber, h } from './dom.js';

/** Pixel height of a row: fixed in style.css (.text-viewer line-height), so no row is ever measured. */
const ROW_PX = 18;
/** A line longer than this is shown as several rows. */
const ROW_CHARS = 2000;
/** Rows drawn above and below the visible ones, so a fast scroll shows no gap. */
const OVERSCAN = 40;
/** Browsers cap an element's height (Chromium at about 33 million px): past this the scroll maps proportionally. */
const MAX_SPACER_PX = 8_000_000;

/** Where each row starts in `text`, and whether it starts a line (not a long line's continuation). */
export function indexRows(text) {
  const starts = [];
  const continued = [];
  let at = 0;
  while (at <= text.length) {
    let end = text.indexOf('\n', at);
    if (end === -1) end = text.length;
    for (let start = at; ; start += ROW_CHARS) {
      starts.push(start);
      continued.push(start !== at);
      if (end - start <= ROW_CHARS) break;
    }
    at = end + 1;
    if (end === text.length) break;
  }
  // A final newline ends the last line; it does not start an empty one.
  if (starts.length > 1 && starts[starts.length - 1] === text.length && text.endsWith('\n')) {
    starts.pop();
    continued.pop();
  }
  return { starts: Uint32Array.from(starts), continued: Uint8Array.from(continued, Boolean) };
}

/**
 * The viewer: a focusable box (keys and wheel scroll it) with line numbers. `label` names it for screen
 * readers. The returned element has `.rows` (how many rows the text makes) for tests and callers.
 */
export function textViewer(text, { label = 'Text' } = {}) {
  const { starts, continued } = indexRows(text);
  const rows = starts.length;
  const lineNumbers = new Uint32Array(rows);
  for (let i = 0, line = 0; i < rows; i += 1) {
    if (!continued[i]) line += 1;
    lineNumbers[i] = line;
  }
  const gutter = h('pre', { class: 'text-viewer-gutter', 'aria-hidden': 'true' });
  const body = h('pre', { class: 'text-viewer-text' });
  const window_ = h('div', { class: 'text-viewer-window' }, gutter, body);
  const spacer = h('div', { class: 'text-viewer-spacer' }, window_);
  const box = h(
    'div',
    { class: 'text-viewer', tabindex: '0', role: 'region', 'aria-label': `${label}: ${formatNumber(lineNumbers[rows - 1] ?? 0)} lines, only those on screen are in the page` },
    spacer,
  );
  box.rows = rows;
  const full = rows * ROW_PX;
  const spacerPx = Math.min(full, MAX_SPACER_PX);
  spacer.style.height = `${spacerPx}px`;
  let shown = [-1, -1];
  let scheduled = false;

  const draw = () => {
    scheduled = false;
    const view = box.clientHeight || ROW_PX * 24;
    const visible = Math.ceil(view / ROW_PX);
    // The first row on screen: directly from the scroll position, or proportionally when the spacer is capped.
    const maxTop = Math.max(1, spacerPx - view);
    const first = spacerPx === full ? Math.floor(box.scrollTop / ROW_PX) : Math.round((Math.min(box.scrollTop, maxTop) / maxTop) * Math.max(0, rows - visible));
    const from = Math.max(0, first - OVERSCAN);
    const to = Math.min(rows, first + visible + OVERSCAN);
    if (from === shown[0] && to === shown[1]) return;
    shown = [from, to];
    const end = to < rows ? starts[to] : text.length;
    // A row that continues a long line has no newline before it: rows are joined with one.
    let shownText = '';
    const numbers = [];
    for (let i = from; i < to; i += 1) {
      const rowEnd = i + 1 < rows ? starts[i + 1] : end;
      let row = text.slice(starts[i], i + 1 < to ? rowEnd : end);
      if (row.endsWith('\n')) row = row.slice(0, -1);
      shownText += i > from ? `\n${row}` : row;
      numbers.push(continued[i] ? '' : String(lineNumbers[i]));
    }
    body.textContent = shownText;
    gutter.textContent = numbers.join('\n');
    const offset = spacerPx === full ? from * ROW_PX : box.scrollTop - (first - from) * ROW_PX;
    window_.style.transform = `translateY(${Math.max(0, offset)}px)`;
  };
  const schedule = () => {
    if (scheduled) return;
    scheduled = true;
    requestAnimationFrame(draw);
  };
  box.addEventListener('scroll', schedule, { passive: true });
  if (typeof ResizeObserver === 'function') new ResizeObserver(schedule).observe(box);
  draw();
  return box;
}
