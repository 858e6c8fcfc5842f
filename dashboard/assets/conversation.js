// What the hook command reads from Claude Code's transcript, beside what its hooks carry: assistant texts
// (rendered as messages, marked as from the transcript), thinking (collapsed), tool calls Claude Code refused
// before running them, compaction summaries and API errors. Also the hints a Claude Code session shows when
// it lacks the transcript or its telemetry. Everything reaches the page as text (see dom.js).

import { copyButton, h, icon } from './dom.js';
import { renderMarkdown } from './markdown.js';
import { eventHead, messageText } from './timeline.js';

/** Whether an event came from the session's transcript (not from a hook). */
export const fromTranscript = (event) => event?.hook_input?.source === 'transcript';

/** The Stop hook's message: the last assistant text of a turn, as the hook carried it. */
export const isStopMessage = (event) =>
  event?.event_type === 'message' && event.role === 'assistant' && (event.hook_input?.hook_event_name === 'Stop' || event.hook_input?.hook_event_name === 'StopFailure');

/** The event types this module draws; the others go to timeline.js. */
export const CONVERSATION_TYPES = new Set(['thinking', 'compaction', 'api_error']);

export function renderConversationEvent(event) {
  const kind = event.event_type;
  const li = h('li', { class: `event event-${kind.replace(/_/g, '-')}${kind === 'api_error' ? ' is-error' : ''}`, dataset: { eventId: String(event.id) } });
  if (kind === 'thinking') li.append(...thinking(event));
  else if (kind === 'compaction') li.append(...compaction(event));
  else li.append(...apiError(event));
  return li;
}

/** Thinking: collapsed, its first words as the summary. */
function thinking(event) {
  const text = blockText(event.content, 'thinking');
  const first = text.replace(/\s+/g, ' ').trim();
  const details = h(
    'details',
    { class: 'thinking-body' },
    h(
      'summary',
      null,
      h('span', { class: 'thinking-preview muted', text: first.length > 100 ? `${first.slice(0, 99)}…` : first || '(no text)' }),
      h('span', { class: 'thinking-hide muted', text: 'Hide' }),
    ),
    h('div', { class: 'thinking-text' }, renderMarkdown(text)),
  );
  return [eventHead(h('span', { class: 'role role-thinking' }, 'Thinking'), event, text ? copyButton(text, 'Copy thinking') : null), details];
}

/** A compaction: Claude Code summed up the conversation so far and went on from the summary. */
function compaction(event) {
  const text = blockText(event.content, 'text');
  return [
    eventHead(h('span', { class: 'kind kind-compaction' }, icon('down'), 'Conversation compacted'), event),
    h('p', { class: 'muted', text: 'Claude Code replaced the conversation so far with this summary.' }),
    h('details', { class: 'compaction-body' }, h('summary', null, 'Summary'), h('div', { class: 'message-body' }, renderMarkdown(text))),
  ];
}

/** An API error (a transcript line), in words. */
function apiError(event) {
  const status = event.hook_input?.status ?? event.hook_input?.apiErrorStatus;
  const label = 'The model API answered with an error';
  const error = typeof event.error === 'string' && event.error !== '' ? event.error : messageText(event.content);
  return [
    eventHead(
      h('span', { class: 'kind kind-error' }, icon('stop'), label),
      event,
      status !== undefined && status !== null ? h('code', { class: 'event-type', text: `HTTP ${status}` }) : null,
    ),
    error ? h('p', { class: 'error-text api-error-text', text: error }) : null,
  ];
}

/** The text of a message's blocks of this type. */
function blockText(content, type) {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .filter((block) => block && typeof block === 'object' && block.type === type && typeof block.text === 'string')
    .map((block) => block.text)
    .join('\n\n');
}

/** Marks an assistant message read from the transcript (the hook's own last message is not marked). */
export function markTranscriptMessage(li, event) {
  li.classList.add('from-transcript');
  const model = typeof event.hook_input?.model === 'string' ? event.hook_input.model : '';
  const role = li.querySelector('.role');
  if (role) role.title = `From the session's transcript${model ? ` · ${model}` : ''}`;
}

/**
 * What a Claude Code session lacks, and how to get it: the transcript (reported by http hooks alone, or an old
 * hook command) and its telemetry (no OpenTelemetry record ever). Null when it lacks nothing.
 */
export function sessionHints(session) {
  if (!session || session.source !== 'claude-code') return null;
  const hints = [];
  // Only once a turn has ended: before that, the hook command may simply not have read anything yet.
  if (session.transcript_read === false && (session.status === 'idle' || session.status === 'finished')) {
    hints.push(
      h(
        'p',
        { class: 'hint hint-transcript' },
        h('strong', { text: 'Only what the hooks carry. ' }),
        'Claude Code’s hooks send the last answer of each turn, not the texts before it, its thinking, tool calls it refused or compaction summaries: those come from the session’s transcript, which the hook command reads. Set the hooks up with ',
        h('code', { text: 'agent-session-manager init-claude' }),
        ' (or install the plugin) instead of plain http hooks.',
      ),
    );
  }
  if (session.telemetry_missing === true) {
    hints.push(
      h(
        'p',
        { class: 'hint hint-telemetry' },
        h('strong', { text: 'No telemetry from Claude Code. ' }),
        'Tokens and cost come from its OpenTelemetry export, and none has arrived for this session. Usually the telemetry variables (',
        h('code', { text: 'CLAUDE_CODE_ENABLE_TELEMETRY' }),
        ', ',
        h('code', { text: 'OTEL_EXPORTER_OTLP_ENDPOINT' }),
        ' …) are in the project’s settings, which Claude Code ignores for them: put them in ',
        h('code', { text: '~/.claude/settings.json' }),
        ' or the environment.',
      ),
    );
  }
  return hints.length > 0 ? hints : null;
}
