// Turns: a session's events grouped by prompt (`prompt_id` where present; else each user message starts a
// turn). The event that opens a turn (its prompt, as a rule) becomes the turn's heading and carries the
// turn's duration, its tool calls, and its tokens and cost (GET /sessions/{id}/usage, per prompt_id).

import { h, plural } from './dom.js';
import { formatDuration } from './tools.js';

const compact = new Intl.NumberFormat(undefined, { notation: 'compact', maximumFractionDigits: 1 });

/** "12.3k in · 456 out · 78k cache · $0.042"; empty for no usage. */
export function formatUsage(usage) {
  if (!usage || typeof usage !== 'object') return '';
  const parts = [`${compact.format(usage.input_tokens ?? 0)} in`, `${compact.format(usage.output_tokens ?? 0)} out`];
  const cache = (usage.cache_read_tokens ?? 0) + (usage.cache_creation_tokens ?? 0);
  if (cache > 0) parts.push(`${compact.format(cache)} cache`);
  parts.push(formatCost(usage.cost_usd));
  return parts.join(' · ');
}

export function formatCost(usd) {
  if (typeof usd !== 'number' || !Number.isFinite(usd)) return '$–';
  if (usd === 0) return '$0';
  if (usd < 0.01) return `$${usd.toFixed(4)}`;
  return `$${usd.toFixed(usd < 10 ? 3 : 2)}`;
}

/** The full figures, for a tooltip. */
export function usageTitle(usage) {
  if (!usage) return '';
  return [
    `Input tokens: ${usage.input_tokens}`,
    `Output tokens: ${usage.output_tokens}`,
    `Cache read tokens: ${usage.cache_read_tokens}`,
    `Cache creation tokens: ${usage.cache_creation_tokens}`,
    `Cost: $${usage.cost_usd}`,
    `Model requests: ${usage.api_requests}`,
    usage.models?.length ? `Models: ${usage.models.join(', ')}` : '',
  ]
    .filter(Boolean)
    .join('\n');
}

export class Turns {
  constructor() {
    this.turns = new Map(); // key → turn
    this.lastUserTurn = null;
    this.usage = new Map(); // prompt_id → usage
  }

  /** The turn an event belongs to; null before the first prompt of a session without prompt ids. */
  keyOf(event) {
    if (typeof event.prompt_id === 'string' && event.prompt_id !== '') return `p:${event.prompt_id}`;
    if (event.event_type === 'message' && event.role === 'user') {
      this.lastUserTurn = `u:${event.id}`;
      return this.lastUserTurn;
    }
    return this.lastUserTurn;
  }

  /** Counts an event into its turn; `li` (when the event has its own row) may become the turn's heading. */
  add(event, li) {
    const key = this.keyOf(event);
    if (key === null) return;
    let turn = this.turns.get(key);
    const time = Date.parse(event.timestamp);
    if (!turn) {
      if (!li) return;
      turn = { key, promptId: key.startsWith('p:') ? key.slice(2) : null, first: time, last: time, tools: 0, events: 0, li, stats: h('span', { class: 'turn-stats' }) };
      this.turns.set(key, turn);
      li.classList.add('turn-start');
      li.dataset.turn = key;
      const head = li.querySelector('.event-head');
      if (head) head.insertBefore(turn.stats, head.querySelector('.event-time'));
      else li.append(turn.stats);
    }
    turn.events += 1;
    if (event.event_type === 'pre_tool') turn.tools += 1;
    if (Number.isFinite(time)) {
      turn.first = Number.isFinite(turn.first) ? Math.min(turn.first, time) : time;
      turn.last = Number.isFinite(turn.last) ? Math.max(turn.last, time) : time;
    }
    this.render(turn);
  }

  /** Usage per turn from GET /sessions/{id}/usage. */
  setUsage(turns) {
    this.usage = new Map((Array.isArray(turns) ? turns : []).map((turn) => [turn.prompt_id, turn]));
    for (const turn of this.turns.values()) this.render(turn);
  }

  render(turn) {
    const parts = [];
    const duration = turn.last - turn.first;
    if (Number.isFinite(duration) && turn.events > 1) parts.push(formatDuration(duration));
    if (turn.tools > 0) parts.push(plural(turn.tools, 'tool call'));
    const usage = turn.promptId ? this.usage.get(turn.promptId) : null;
    if (usage) parts.push(formatUsage(usage));
    turn.stats.textContent = parts.join(' · ');
    turn.stats.title = usage ? usageTitle(usage) : '';
  }
}
