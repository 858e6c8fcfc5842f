// Activity sparklines in the session list: how each session's events spread over its time, from its first
// event to its latest (GET /activity). Only rows on or near the screen ask (the browser says which, as it
// skips laying out the others), a batch a request; a shown session that gets events is asked about again,
// at most every REFRESH_MS. A list of thousands therefore costs a screenful.

import { api } from './api.js';
import { formatFull, formatNumber } from './dom.js';

const BUCKETS = 24;
/** The server takes at most 200 ids a request; the address stays well under the server's header limit. */
const MAX_IDS = 200;
const MAX_QUERY_CHARS = 6000;
/** Rows that come into view wait this long, so a scroll asks once for what it settles on. */
const FIRST_DELAY_MS = 80;
const REFRESH_MS = 2000;

const SVG_NS = 'http://www.w3.org/2000/svg';
const WIDTH = BUCKETS;
const HEIGHT = 16;

// What a drawn sparkline reflects: a session whose events did not change needs no new one.
const keyOf = (session) => `${session.event_count}|${session.last_event_at}`;

export class Sparklines {
  /** @param {(id: string) => object | undefined} lookup the session of an id, as the list knows it now */
  constructor(lookup) {
    this.lookup = lookup;
    /** id → { key, activity } as last answered. */
    this.known = new Map();
    /** id → { session } for the rows on or near the screen. */
    this.shown = new Map();
    /** id → the element of its row (shown or not), to draw into when an answer comes. */
    this.elements = new Map();
    this.timer = null;
    this.due = Infinity;
    this.inFlight = false;
    this.lastRequest = 0;
  }

  /** The element of a row; `watch` it so that it asks when it comes into view. */
  element(id) {
    let el = this.elements.get(id);
    if (!el) {
      el = document.createElement('span');
      el.className = 'row-spark';
      el.setAttribute('role', 'img');
      this.elements.set(id, el);
    }
    return el;
  }

  /** Follows whether the row is laid out (on or near the screen), as content-visibility: auto decides. */
  watch(li, id) {
    li.addEventListener('contentvisibilityautostatechange', (event) => {
      const session = this.lookup(id);
      if (event.skipped || !session) this.shown.delete(id);
      else {
        this.shown.set(id, { session });
        this.refresh(id, session);
      }
    });
  }

  /** The row's session changed. */
  update(id, session) {
    const shown = this.shown.get(id);
    if (!shown) return;
    shown.session = session;
    this.refresh(id, session);
  }

  /** The row left the list (filtered out): it asks no more until it is shown again. */
  hide(id) {
    this.shown.delete(id);
  }

  /** The session is gone. */
  forget(id) {
    this.shown.delete(id);
    this.elements.delete(id);
    this.known.delete(id);
  }

  refresh(id, session) {
    const known = this.known.get(id);
    if (!(typeof session.event_count === 'number' && session.event_count > 0)) {
      // Nothing to ask: no events.
      if (!known || known.key !== keyOf(session)) {
        this.known.set(id, { key: keyOf(session), activity: null });
        this.draw(id);
      }
      return;
    }
    if (known?.key === keyOf(session)) return;
    this.schedule(known ? this.lastRequest + REFRESH_MS : Date.now() + FIRST_DELAY_MS);
  }

  schedule(at) {
    if (this.inFlight || at >= this.due) return;
    clearTimeout(this.timer);
    this.due = at;
    this.timer = setTimeout(
      () => {
        this.timer = null;
        this.due = Infinity;
        this.fetch();
      },
      Math.max(0, at - Date.now()),
    );
  }

  wanted() {
    const ids = [];
    let chars = 0;
    for (const [id, { session }] of this.shown) {
      if (this.known.get(id)?.key === keyOf(session) || !(session.event_count > 0)) continue;
      chars += id.length * 3 + 12;
      if (ids.length >= MAX_IDS || chars > MAX_QUERY_CHARS) break;
      ids.push(id);
    }
    return ids;
  }

  async fetch() {
    const ids = this.wanted();
    if (ids.length === 0) return;
    const keys = new Map(ids.map((id) => [id, keyOf(this.shown.get(id).session)]));
    this.inFlight = true;
    this.lastRequest = Date.now();
    try {
      const query = ids.map((id) => `session_id=${encodeURIComponent(id)}`).join('&');
      const body = await api(`/activity?${query}&buckets=${BUCKETS}`);
      const found = new Map((Array.isArray(body?.activity) ? body.activity : []).map((activity) => [activity.session_id, activity]));
      for (const id of ids) {
        this.known.set(id, { key: keys.get(id), activity: found.get(id) ?? null });
        this.draw(id);
      }
    } catch {
      // Offline or refused: the rows keep what they show, and ask again with their next change.
    } finally {
      this.inFlight = false;
      if (this.wanted().length > 0) this.schedule(this.lastRequest + REFRESH_MS);
    }
  }

  draw(id) {
    const el = this.elements.get(id);
    const activity = this.known.get(id)?.activity;
    if (!el) return;
    if (!activity || !Array.isArray(activity.counts) || activity.counts.length === 0) {
      el.replaceChildren();
      el.removeAttribute('aria-label');
      el.removeAttribute('title');
      delete el.dataset.counts;
      return;
    }
    const counts = activity.counts;
    const peak = Math.max(1, ...counts);
    const step = WIDTH / counts.length;
    const svg = document.createElementNS(SVG_NS, 'svg');
    svg.setAttribute('viewBox', `0 0 ${WIDTH} ${HEIGHT}`);
    svg.setAttribute('preserveAspectRatio', 'none');
    svg.setAttribute('aria-hidden', 'true');
    const base = document.createElementNS(SVG_NS, 'line');
    base.setAttribute('class', 'spark-base');
    for (const [name, value] of [
      ['x1', 0],
      ['x2', WIDTH],
      ['y1', HEIGHT - 0.5],
      ['y2', HEIGHT - 0.5],
    ])
      base.setAttribute(name, String(value));
    svg.append(base);
    // One bar a slice; a slice with any event at all shows, however busy the busiest.
    counts.forEach((count, i) => {
      if (!(count > 0)) return;
      const height = Math.max(2, (count / peak) * HEIGHT);
      const bar = document.createElementNS(SVG_NS, 'rect');
      bar.setAttribute('class', 'spark-bar');
      bar.setAttribute('x', (i * step + step * 0.1).toFixed(2));
      bar.setAttribute('width', (step * 0.8).toFixed(2));
      bar.setAttribute('y', (HEIGHT - height).toFixed(2));
      bar.setAttribute('height', height.toFixed(2));
      svg.append(bar);
    });
    el.replaceChildren(svg);
    const total = counts.reduce((sum, count) => sum + count, 0);
    const label = `Activity: ${formatNumber(total)} events from ${formatFull(activity.from)} to ${formatFull(activity.to)}, at most ${formatNumber(peak)} in one of ${counts.length} slices`;
    el.setAttribute('aria-label', label);
    el.title = label;
    el.dataset.counts = counts.join(',');
  }
}
