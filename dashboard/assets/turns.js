// Turns: a session's events grouped by prompt (`prompt_id` where present; else each user message starts a
// turn). The event that opens a turn (its prompt, as a rule) becomes the turn's heading and carries the
// turn's duration, its tool calls, and its tokens and cost (GET /sessions/{id}/usage, per prompt_id).
// A turn's duration comes from the session's summary (GET /sessions/{id}/summary) where it has the turn: it
// ends at its Stop, whatever page of events is loaded, and the time spent waiting for the person is apart.
// Without it, from the events on the page: up to the turn's Stop, never to a later idle notification.

import { formatWaiting, h, plural } from './dom.js';
import { formatDuration } from './tools.js';

const compact = new Intl.NumberFormat(undefined, { notation: 'compact', maximumFractionDigits: 1 });

/** "12.3k in · 456 out · 78k cache · $0.042"; empty for no usage. The cost says when it is estimated or unknown. */
export function formatUsage(usage) {
  if (!usage || typeof usage !== 'object') return '';
  const parts = [`${compact.format(usage.input_tokens ?? 0)} in`, `${compact.format(usage.output_tokens ?? 0)} out`];
  const cache = (usage.cache_read_tokens ?? 0) + (usage.cache_creation_tokens ?? 0);
  if (cache > 0) parts.push(`${compact.format(cache)} cache`);
  parts.push(costText(usage));
  return parts.join(' · ');
}

/**
 * The cost as trustworthy as it is: "$0.042" as OpenTelemetry reported it; "$0.042 (estimated)" when some or
 * all of it comes from the transcript; "cost unknown" when there is none.
 */
export function costText(usage) {
  const cost = usage?.cost_usd;
  if (typeof cost !== 'number' || !Number.isFinite(cost)) return 'cost unknown';
  const source = usage.cost_source;
  if (source === 'transcript') return `${formatCost(cost)} (estimated)`;
  if (source === 'mixed') return `${formatCost(cost)} (partly estimated)`;
  return formatCost(cost);
}

/** "usage incomplete: 3 requests not reported" where the transcript shows requests OpenTelemetry did not report. */
export function incompleteText(requestsMissing) {
  return typeof requestsMissing === 'number' && requestsMissing > 0 ? `usage incomplete: ${plural(requestsMissing, 'request')} not reported` : '';
}

const COST_SOURCES = {
  telemetry: 'as Claude Code’s OpenTelemetry export reported it',
  transcript: 'estimated from the transcript (no OpenTelemetry report)',
  mixed: 'partly from OpenTelemetry, partly estimated from the transcript',
};

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
    `Cost: ${typeof usage.cost_usd === 'number' ? `$${usage.cost_usd}` : 'unknown'}${COST_SOURCES[usage.cost_source] ? `, ${COST_SOURCES[usage.cost_source]}` : ''}`,
    `Model requests: ${usage.api_requests}`,
    usage.models?.length ? `Models: ${usage.models.join(', ')}` : '',
  ]
    .filter(Boolean)
    .join('\n');
}

/** "45 s · waited 12 s for you": the time the turn worked, and apart the time it waited for its person. */
export function formatTurnTime(workingMs, waitingMs) {
  const parts = [];
  if (typeof workingMs === 'number' && Number.isFinite(workingMs) && workingMs >= 0) parts.push(formatDuration(workingMs));
  if (typeof waitingMs === 'number' && waitingMs >= 1000) parts.push(`waited ${formatWaiting(waitingMs)} for you`);
  return parts.join(' · ');
}

/** A Stop (or StopFailure) hook: the end of its turn. */
const endsTurn = (event) => event.hook_input?.hook_event_name === 'Stop' || event.hook_input?.hook_event_name === 'StopFailure' || event.event_type === 'stop_failure';

/** Notifications Claude Code sends after a turn (idle_prompt comes 60 s later): never part of the turn's time. */
const afterTurn = (event) => event.event_type === 'notification' && event.reason === 'idle_prompt';

export class Turns {
  constructor() {
    this.turns = new Map(); // key → turn
    this.lastUserTurn = null;
    this.usage = new Map(); // prompt_id → usage
    this.summary = new Map(); // prompt_id → the summary's turn
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
      turn = {
        key,
        promptId: key.startsWith('p:') ? key.slice(2) : null,
        first: time,
        last: time,
        tools: 0,
        events: 0,
        ended: false,
        li,
        stats: h('span', { class: 'turn-stats' }),
      };
      this.turns.set(key, turn);
      li.classList.add('turn-start');
      li.dataset.turn = key;
      const head = li.querySelector('.event-head');
      if (head) head.insertBefore(turn.stats, head.querySelector('.event-time'));
      else li.append(turn.stats);
    }
    turn.events += 1;
    if (event.event_type === 'pre_tool') turn.tools += 1;
    // Up to its Stop: what comes after (an idle notification, the session's end) is not the turn's time.
    if (Number.isFinite(time) && !turn.ended && !afterTurn(event)) {
      turn.first = Number.isFinite(turn.first) ? Math.min(turn.first, time) : time;
      turn.last = Number.isFinite(turn.last) ? Math.max(turn.last, time) : time;
    }
    if (endsTurn(event)) turn.ended = true;
    this.render(turn);
  }

  /** Usage per turn from GET /sessions/{id}/usage. */
  setUsage(turns) {
    this.usage = new Map((Array.isArray(turns) ? turns : []).map((turn) => [turn.prompt_id, turn]));
    for (const turn of this.turns.values()) this.render(turn);
  }

  /** The turns of GET /sessions/{id}/summary: their times, whatever page of events is loaded. */
  setSummary(turns) {
    this.summary = new Map((Array.isArray(turns) ? turns : []).filter((turn) => typeof turn?.prompt_id === 'string').map((turn) => [turn.prompt_id, turn]));
    for (const turn of this.turns.values()) this.render(turn);
  }

  /** The turn's start and end in ms (the summary's where it has the turn): for the time axis. */
  span(turn) {
    const known = turn.promptId ? this.summary.get(turn.promptId) : null;
    if (known) {
      const first = Date.parse(known.started_at);
      const last = Date.parse(known.ended_at);
      if (Number.isFinite(first)) return { first, last: Number.isFinite(last) ? last : known.state === 'running' ? Date.now() : first };
    }
    return { first: turn.first, last: turn.last };
  }

  render(turn) {
    const parts = [];
    const known = turn.promptId ? this.summary.get(turn.promptId) : null;
    if (known && known.state !== 'running' && typeof known.working_ms === 'number') {
      parts.push(formatTurnTime(known.working_ms, known.waiting_ms));
      turn.li.dataset.turnState = known.state;
    } else {
      const duration = turn.last - turn.first;
      if (Number.isFinite(duration) && turn.events > 1) parts.push(formatDuration(duration));
    }
    if (turn.tools > 0) parts.push(plural(turn.tools, 'tool call'));
    if (known?.state === 'failed') parts.push('ended in an error');
    const usage = turn.promptId ? this.usage.get(turn.promptId) : null;
    if (usage) parts.push(formatUsage(usage));
    turn.stats.textContent = parts.filter(Boolean).join(' · ');
    turn.stats.title = usage ? usageTitle(usage) : '';
  }
}
