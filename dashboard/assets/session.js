// The session view: header, result, and the event timeline in arrival order (event id order), paged
// with GET /sessions/{id}/events?after=&limit= and kept live from the feed. Events are deduplicated by
// id, whichever way they arrive (a page, the feed, a gap fill after a reconnect).

import { api, ApiError, getApiKey, sessionUrl } from './api.js';
import { announce, copyButton, formatFull, formatNumber, formatWaiting, h, icon, plural, sessionState, setPageTitle, statusBadge, timeEl, waitingTitle } from './dom.js';
import { messageText, renderEvent } from './timeline.js';
import { approvalDecisionText, callDuration, formatDuration, ToolCall } from './tools.js';
import { costText, formatUsage, incompleteText, Turns, usageTitle } from './turns.js';
import { CONVERSATION_TYPES, fromTranscript, isStopMessage, markTranscriptMessage, renderConversationEvent, sessionHints } from './conversation.js';
import { renderWaterfall } from './waterfall.js';
import { loadMarkdown, renderMarkdown } from './markdown.js';
import { approvalCard, approvalKey } from './approvals.js';

const PAGE_SIZE = 500;
/** Events drawn at once when a page comes; the rest of it follows LATER_CHUNK at a time, between frames. */
const FIRST_CHUNK = 60;
const LATER_CHUNK = 150;
/** Within this many pixels of the bottom the reader is "at the latest" and new events scroll into view. */
const STICK_PX = 48;
/** The summary (pairing, turn times, the time axis) is asked for again this long after the last live event. */
const SUMMARY_DEBOUNCE_MS = 800;
/** An event's capture time and the time the server received it further apart than this are both shown. */
const LATE_MS = 5000;

export class SessionView {
  /**
   * @param {string} id
   * @param {object} options
   *   session — the session if the list knows it, else it is fetched;
   *   scroller — the element that scrolls the view; jump — the "jump to latest" button;
   *   confirmDelete(session) — resolves true to delete;
   *   onDecided(approval) — an approval was answered from this view;
   *   onMissing() — the server said there is no such session (the feed may know better by now).
   */
  constructor(id, { session, scroller, jump, confirmDelete, onDecided, onMissing }) {
    this.id = id;
    this.session = session ?? null;
    this.scroller = scroller;
    this.jump = jump;
    this.confirmDelete = confirmDelete;
    this.onDecided = onDecided;
    this.onMissing = onMissing;
    /** The session's approvals by id; the tool calls they belong to; the cards of those still waiting. */
    this.approvals = new Map();
    this.approvalCalls = new Map();
    this.approvalCards = new Map();
    /** The timeline's permission_request events, each with the approval it became once known. */
    this.permissionItems = [];
    this.approvalsRequest = 0;
    this.ticker = setInterval(() => this.tick(), 1000);
    this.events = new Map(); // id → event, every one known (rendered or not yet)
    this.rendered = new Set();
    /** Tool calls on the page: by tool_use_id, and those without one waiting for their result, in order. */
    this.calls = new Map();
    this.openCalls = [];
    this.turns = new Turns();
    /** Subagents by agent_id, and the Agent calls that started them. */
    this.subagents = new Map();
    this.agentCalls = new Map();
    this.toolOptions = { onAgent: (agentId, call) => this.attachAgent(agentId, call), onCreate: (call) => this.allCalls.push(call) };
    this.allCalls = [];
    this.usageRequest = 0;
    this.maxRendered = 0;
    /** Events with an id up to this are shown; Infinity once the last page is in (live events then show at once). */
    this.loadedThrough = 0;
    this.loadedOnce = false;
    this.loading = false;
    this.loadError = null;
    this.closed = false;
    this.deleted = false;
    this.stick = true;
    this.lastScrollTop = 0;
    this.unseen = 0;
    this.resultRequest = 0;
    /** GET /sessions/{id}/summary: tool calls by tool_use_id and turns, whatever page of events is loaded. */
    this.summary = null;
    this.summaryCalls = new Map();
    this.summaryRequest = 0;
    this.summaryTimer = null;
    /** Assistant texts read from the transcript since the last prompt, and the Stop messages' texts (shown once). */
    this.transcriptTexts = [];
    this.stopTexts = new Set();

    this.onScroll = () => this.updateStick();
    this.onJump = () => this.scrollToLatest();
    scroller.addEventListener('scroll', this.onScroll, { passive: true });
    jump.addEventListener('click', this.onJump);
    this.el = this.build();
  }

  build() {
    this.heading = h('h2', { class: 'session-title', tabindex: '-1' });
    this.badge = h('span', { class: 'badge-holder' });
    this.agentEl = h('dd');
    this.projectEl = h('dd', { class: 'path' });
    this.createdEl = h('dd');
    this.activityEl = h('dd');
    this.countEl = h('dd', { class: 'event-count' });
    this.durationEl = h('dd', { class: 'session-duration' });
    this.usageEl = h('dd', { class: 'session-usage' });
    this.budgetEl = h('dd', { class: 'session-budget' });
    this.deleteButton = h('button', { type: 'button', class: 'button danger', onclick: () => this.remove() }, icon('trash'), 'Delete');
    this.header = h(
      'header',
      { class: 'session-header' },
      h('div', { class: 'title-row' }, this.heading, this.badge),
      h('div', { class: 'id-row' }, h('code', { class: 'session-id', text: this.id }), copyButton(this.id, 'Copy session id')),
      h(
        'dl',
        { class: 'meta' },
        h('div', null, h('dt', { text: 'Agent' }), this.agentEl),
        h('div', { class: 'meta-wide' }, h('dt', { text: 'Project' }), this.projectEl),
        h('div', null, h('dt', { text: 'Created' }), this.createdEl),
        h('div', null, h('dt', { text: 'Last activity' }), this.activityEl),
        h('div', null, h('dt', { text: 'Events' }), this.countEl),
        h('div', null, h('dt', { text: 'Duration' }), this.durationEl),
        h('div', { class: 'meta-wide' }, h('dt', { text: 'Usage' }), this.usageEl),
        h('div', { class: 'meta-wide', hidden: true }, h('dt', { text: 'Budget' }), this.budgetEl),
      ),
      (this.hints = h('div', { class: 'session-hints', hidden: true })),
      h('div', { class: 'actions' }, exportLink(this.id, 'json', 'Export JSON'), exportLink(this.id, 'ndjson', 'Events as NDJSON'), this.deleteButton),
    );
    this.notice = h('div', { class: 'notice', role: 'status', hidden: true });
    this.needsList = h('ol', { class: 'approval-list', 'aria-label': 'Approvals waiting in this session' });
    this.needs = h(
      'section',
      { class: 'session-needs-you', 'aria-label': 'Needs you', hidden: true },
      h('h3', null, icon('hand'), h('span', { text: 'Needs you' })),
      this.needsList,
    );
    this.resultText = h('div', { class: 'result-text' });
    this.resultHeading = h('span', { text: 'Result' });
    this.result = h('section', { class: 'result', 'aria-label': 'Result', hidden: true }, h('h3', null, icon('result'), this.resultHeading), this.resultText);
    this.timeline = h('ol', { class: 'timeline', 'aria-label': 'Events' });
    // The time axis is built when opened, and again on changes while it is open.
    this.axisBody = h('div', { class: 'axis-body' });
    this.axis = h('details', { class: 'payload time-axis' }, h('summary', null, h('span', { class: 'summary-label', text: 'Time axis' })), this.axisBody);
    // Usage per model and per subagent (GET /sessions/{id}/usage), shown once there is any.
    this.breakdownBody = h('div', { class: 'usage-breakdown-body' });
    this.breakdown = h(
      'details',
      { class: 'payload usage-breakdown', hidden: true },
      h('summary', null, h('span', { class: 'summary-label', text: 'Usage by model and subagent' })),
      this.breakdownBody,
    );
    this.axis.addEventListener('toggle', () => {
      if (this.axis.open) this.renderAxis();
    });
    this.footer = h('div', { class: 'timeline-footer' });
    return h(
      'article',
      { class: 'session-view' },
      h('a', { class: 'back-link', href: '#/' }, icon('back'), 'All sessions'),
      this.header,
      this.notice,
      this.needs,
      this.result,
      this.breakdown,
      this.axis,
      h('section', { class: 'events' }, this.timeline, this.footer),
    );
  }

  // -------------------------------------------------------------------------------------------------------
  // Loading

  async open() {
    if (this.opening) return;
    // Fetched beside the session and awaited before its first events are drawn, so they are drawn once, as
    // Markdown (drawn again when the parser arrived, texts changed height under the reader's scroll position).
    const parser = loadMarkdown();
    this.renderFooter();
    if (this.session) this.renderHeader();
    else {
      this.opening = true;
      this.notice.hidden = true;
      this.heading.textContent = 'Loading…';
      try {
        const body = await api(sessionUrl(this.id));
        if (this.closed) return;
        this.session = body.session;
        this.renderHeader();
      } catch (err) {
        if (this.closed) return;
        if (err instanceof ApiError && err.status === 404) this.showMissing();
        else this.showNotice(`Could not load the session: ${err.message}`, () => this.open());
        return;
      } finally {
        this.opening = false;
      }
    }
    this.loadApprovals();
    this.loadSummary();
    await parser;
    if (this.closed) return;
    await this.loadMore();
    if (this.closed) return;
    if (this.session.status === 'finished') this.loadResult();
    if (this.loadedThrough === Infinity && this.session.status === 'running') this.scrollToLatest();
    else this.updateStick({ initial: true });
  }

  /** The next page of events (the first one at start). */
  async loadMore() {
    if (this.loading || this.loadedThrough === Infinity || this.deleted) return;
    this.loading = true;
    this.loadError = null;
    this.renderFooter();
    try {
      const body = await api(sessionUrl(this.id, `/events?after=${this.loadedThrough}&limit=${PAGE_SIZE}`));
      if (this.closed) return;
      this.addPage(body);
    } catch (err) {
      if (this.closed) return;
      if (err instanceof ApiError && err.status === 404) {
        this.showMissing();
      } else {
        this.loadError = err.message;
      }
    } finally {
      this.loading = false;
      if (!this.closed) {
        this.renderFooter();
        this.updateStick({ initial: true });
      }
    }
  }

  addPage(body) {
    const events = Array.isArray(body?.events) ? body.events : [];
    for (const event of events) if (!this.events.has(event.id)) this.events.set(event.id, event);
    // A server without paging answers every event and no next_after: that is the last page too.
    const next = body && typeof body.next_after === 'number' ? body.next_after : null;
    this.loadedThrough = next === null ? Infinity : Math.max(this.loadedThrough, next);
    this.loadedOnce = true;
    this.renderPending();
  }

  /**
   * After a reconnect: the feed replays what was missed, and a page after the latest event known fills
   * any gap it cannot (a resync). Duplicates are dropped by id.
   */
  async fillGap() {
    if (this.closed || this.deleted || !this.loadedOnce || this.loadedThrough !== Infinity) return;
    let after = 0;
    for (const id of this.events.keys()) if (id > after) after = id;
    try {
      const body = await api(sessionUrl(this.id, `/events?after=${after}&limit=${PAGE_SIZE}`));
      if (this.closed) return;
      const before = this.rendered.size;
      const events = Array.isArray(body?.events) ? body.events : [];
      for (const event of events) if (!this.events.has(event.id)) this.events.set(event.id, event);
      if (typeof body?.next_after === 'number') {
        // More missed than one page: the rest comes with "Load more", and the view stops following.
        this.loadedThrough = body.next_after;
        this.stick = false;
      }
      const added = this.renderPending();
      if (added > 0 && this.rendered.size > before) this.afterLiveInsert(added);
      this.renderFooter();
    } catch {
      // The next reconnect tries again.
    }
    if (!this.closed && this.session?.status === 'finished') this.loadResult();
  }

  /** The feed is back after a drop: finish what failed meanwhile, or fill the gap. */
  resume() {
    if (this.closed || this.missing) return;
    if (!this.session) this.open();
    else if (!this.loadedOnce || this.loadError) this.loadMore();
    else this.fillGap();
    if (this.session) this.loadApprovals();
  }

  // -------------------------------------------------------------------------------------------------------
  // Approvals: the permissions Claude Code asked for in this session

  async loadApprovals() {
    const request = ++this.approvalsRequest;
    try {
      const body = await api(sessionUrl(this.id, '/approvals'));
      if (this.closed || request !== this.approvalsRequest) return;
      const approvals = Array.isArray(body?.approvals) ? body.approvals : Array.isArray(body) ? body : [];
      approvals.sort((a, b) => (Date.parse(a.requested_at) || 0) - (Date.parse(b.requested_at) || 0));
      for (const approval of approvals) this.onApproval(approval, { fromList: true });
    } catch {
      // A server without approvals, or a key that may not read them: the calls show as before.
    }
  }

  /** An approval of this session, as the server has it now (from the list, the feed, or a decision made here). */
  onApproval(approval, { fromList = false } = {}) {
    if (this.closed || !approval || approval.session_id !== this.id) return;
    const id = approvalKey(approval);
    const known = this.approvals.get(id);
    // The list may be older than a message already received: a decided approval never goes back to pending.
    if (fromList && known && known.state !== 'pending' && approval.state === 'pending') return;
    this.approvals.set(id, approval);
    this.matchApproval(approval);
    this.renderNeeds();
  }

  /** The tool call an approval is for: by tool_use_id, else the latest call of that tool and input without one. */
  matchApproval(approval) {
    const id = approvalKey(approval);
    let call = this.approvalCalls.get(id) ?? null;
    if (!call && typeof approval.tool_use_id === 'string') call = this.calls.get(approval.tool_use_id) ?? null;
    if (!call) {
      const input = stableJson(approval.tool_input);
      const asked = Date.parse(approval.requested_at);
      const candidates = this.allCalls.filter((c) => !c.approval && c.pre && c.toolName === approval.tool_name && stableJson(c.input) === input);
      // Its call came just before it (the agent's clock may be a little off the server's).
      const before = candidates.filter((c) => !(Date.parse(c.pre.timestamp) > asked + 60_000));
      call = before[before.length - 1] ?? candidates[candidates.length - 1] ?? null;
    }
    this.showDecision(approval);
    if (!call) return;
    this.approvalCalls.set(id, call);
    call.setApproval(approval);
    // Its approval redraws a call without a result as running: the summary may know better.
    if (call.refused) markRefused(call, { error: call.refusal });
    else this.settleCall(call);
  }

  /** The permission_request event of an approval (same tool and input, the nearest in time) says what became of it. */
  showDecision(approval) {
    const id = approvalKey(approval);
    let item = this.permissionItems.find((candidate) => candidate.approvalId === id);
    if (!item) {
      const input = stableJson(approval.tool_input);
      const asked = Date.parse(approval.requested_at);
      let best = Infinity;
      for (const candidate of this.permissionItems) {
        if (candidate.approvalId !== null || candidate.event.tool_name !== approval.tool_name || stableJson(candidate.event.tool_input) !== input) continue;
        const distance = Math.abs(Date.parse(candidate.event.timestamp) - asked);
        if (!item || distance < best) {
          item = candidate;
          best = distance;
        }
      }
      if (!item) return;
      item.approvalId = id;
    }
    const line = item.li.querySelector('.permission-decision');
    if (!line) return;
    line.className = `permission-decision approval-${approval.state}`;
    line.hidden = false;
    if (approval.state === 'pending') line.replaceChildren('Waiting for a decision');
    else line.replaceChildren(capitalize(approvalDecisionText(approval)), ...(approval.decided_at ? [' at ', timeEl(approval.decided_at, { relative: false })] : []));
  }

  /** A call came onto the page: an approval that waited for it finds it now. */
  matchCall() {
    for (const [id, approval] of this.approvals) {
      if (!this.approvalCalls.has(id) || !this.permissionItems.some((item) => item.approvalId === id)) this.matchApproval(approval);
    }
  }

  /** The cards of the approvals still waiting, answerable here too. */
  renderNeeds() {
    for (const [id, card] of this.approvalCards) {
      if (this.approvals.get(id)?.state !== 'pending') {
        card.li.remove();
        this.approvalCards.delete(id);
      }
    }
    for (const [id, approval] of this.approvals) {
      if (approval.state !== 'pending' || this.approvalCards.has(id)) continue;
      const card = approvalCard(approval, {
        sessionName: this.session?.session_name ?? this.id,
        sessionHref: `#/sessions/${encodeURIComponent(this.id)}`,
        onDecided: (decided) => {
          this.onDecided?.(decided);
          // Decided elsewhere first (409) or gone (404): what became of it is asked for, not guessed.
          if (decided.state === 'gone' || decided.state === 'pending') this.loadApprovals();
          else this.onApproval({ ...approval, ...decided });
        },
      });
      this.approvalCards.set(id, card);
      this.needsList.append(card.li);
    }
    this.needs.hidden = this.approvalCards.size === 0;
  }

  tick() {
    const now = Date.now();
    for (const call of this.approvalCalls.values()) call.tick(now);
    for (const card of this.approvalCards.values()) card.tick(now);
    this.renderDuration(now);
  }

  /** Renders every known event up to loadedThrough that is not on the page yet; returns how many. */
  renderPending() {
    // A long page is still going onto the page: what came meanwhile follows when it is done.
    if (this.chunking) return 0;
    const pending = [];
    for (const [id, event] of this.events) if (id <= this.loadedThrough && !this.rendered.has(id)) pending.push(event);
    if (pending.length === 0) return 0;
    pending.sort((a, b) => a.id - b.id);
    if (pending[0].id > this.maxRendered) {
      // The first screen at once; the rest of a long page in later tasks, so the first screen shows without
      // waiting for hundreds of rows nobody sees yet.
      this.appendEvents(pending.slice(0, FIRST_CHUNK));
      if (pending.length > FIRST_CHUNK) this.appendLater(pending.slice(FIRST_CHUNK));
    } else {
      for (const event of pending) this.insert(event);
    }
    return pending.length;
  }

  appendEvents(events) {
    const fragment = document.createDocumentFragment();
    for (const event of events) {
      const item = this.renderItem(event);
      if (item) fragment.append(item);
      this.rendered.add(event.id);
    }
    this.maxRendered = Math.max(this.maxRendered, events[events.length - 1].id);
    this.timeline.append(fragment);
  }

  appendLater(events) {
    this.chunking = true;
    let at = 0;
    const next = () => {
      if (this.closed) return;
      this.appendEvents(events.slice(at, at + LATER_CHUNK));
      at += LATER_CHUNK;
      if (at < events.length) {
        setTimeout(next, 0);
        return;
      }
      this.chunking = false;
      const added = this.renderPending();
      if (added > 0) this.afterLiveInsert(added);
      if (this.stick) this.scrollToLatest();
      this.renderFooter();
    };
    setTimeout(next, 0);
  }

  /**
   * The <li> of an event; null when it is the result of a tool call already on the page, which it completes.
   * A result pairs with its call by tool_use_id, else with the oldest call of that tool still waiting.
   */
  renderItem(event) {
    if (typeof event.agent_id === 'string' && event.agent_id !== '') return this.renderSubagentEvent(event);
    const li = this.renderRow(event);
    if (li === HIDDEN) return null;
    this.turns.add(event, li);
    return li;
  }

  /**
   * A subagent's event goes into its subagent's group, which sits in the row of the Agent call that started
   * it (that call's result names the subagent: tool_response.agentId = agent_id). Until that result is
   * known the group stands in the timeline on its own, and moves into the call when it comes.
   */
  renderSubagentEvent(event) {
    let group = this.subagents.get(event.agent_id);
    let created = null;
    if (!group) {
      group = new SubagentGroup(event.agent_id);
      this.subagents.set(event.agent_id, group);
      const call = this.agentCalls.get(event.agent_id);
      if (call) call.attachSubagent(group.el);
      else created = group.standalone(event.id);
    }
    const li = this.renderRow(event);
    this.turns.add(event, null);
    group.add(event, li === HIDDEN ? null : li);
    return created;
  }

  /** An Agent call's result names its subagent: the subagent's group moves into the call's row. */
  attachAgent(agentId, call) {
    this.agentCalls.set(agentId, call);
    const group = this.subagents.get(agentId);
    if (!group) return;
    group.li?.remove();
    group.li = null;
    call.attachSubagent(group.el);
  }

  renderRow(event) {
    const li = this.renderRowOf(event);
    if (li && li !== HIDDEN) markCaptureTime(li, event);
    return li;
  }

  renderRowOf(event) {
    if (event.event_type === 'pre_tool') {
      const call = new ToolCall(event, null, this.toolOptions);
      if (call.toolUseId) {
        if (!this.calls.has(call.toolUseId)) this.calls.set(call.toolUseId, call);
        this.settleCall(call);
      } else this.openCalls.push(call);
      if (this.approvals.size > 0) this.matchCall();
      return call.li;
    }
    if (event.event_type === 'tool_refused') return this.renderRefused(event);
    if (CONVERSATION_TYPES.has(event.event_type)) return renderConversationEvent(event);
    if (event.event_type === 'message' && event.role === 'assistant' && !event.agent_id) {
      const hidden = this.onceOnly(event);
      if (hidden) return HIDDEN;
    }
    if (event.event_type === 'message' && event.role === 'user') this.transcriptTexts = [];
    if (event.event_type === 'post_tool') {
      let call = null;
      if (typeof event.tool_use_id === 'string') call = this.calls.get(event.tool_use_id) ?? null;
      else {
        const index = this.openCalls.findIndex((open) => open.toolName === (event.tool_name || 'tool'));
        if (index !== -1) [call] = this.openCalls.splice(index, 1);
      }
      if (call && !call.post && call.pre.id < event.id) {
        call.complete(event);
        return null;
      }
      const alone = new ToolCall(null, event, this.toolOptions);
      if (alone.toolUseId && !this.calls.has(alone.toolUseId)) this.calls.set(alone.toolUseId, alone);
      return alone.li;
    }
    const li = renderEvent(event);
    if (fromTranscript(event) && event.event_type === 'message') {
      markTranscriptMessage(li, event);
      const last = this.transcriptTexts[this.transcriptTexts.length - 1];
      if (last && last.event === event) last.li = li;
    }
    if (event.event_type === 'permission_request') {
      this.permissionItems.push({ event, li, approvalId: null });
      if (this.approvals.size > 0) this.matchCall();
    }
    return li;
  }

  /**
   * A text shown once: an assistant text read from the transcript that is the turn's Stop message too is
   * hidden (the Stop message stays, the result card reads it). Returns true when this event is hidden.
   */
  onceOnly(event) {
    const text = messageText(event.content).trim();
    if (text === '') return false;
    const turn = typeof event.prompt_id === 'string' ? event.prompt_id : '';
    if (fromTranscript(event)) {
      if (this.stopTexts.has(`${turn}\u0000${text}`)) return true;
      this.transcriptTexts.push({ event, text, turn, li: null });
      return false;
    }
    if (isStopMessage(event)) {
      this.stopTexts.add(`${turn}\u0000${text}`);
      for (const seen of this.transcriptTexts) {
        if (seen.text !== text || (seen.turn !== '' && turn !== '' && seen.turn !== turn) || !seen.li) continue;
        seen.li.hidden = true;
        seen.li.classList.add('shown-once');
      }
    }
    return false;
  }

  /** A tool call Claude Code refused before it ran: its call's row (or a row of its own) marked refused, with the reason. */
  renderRefused(event) {
    const existing = typeof event.tool_use_id === 'string' ? this.calls.get(event.tool_use_id) : null;
    if (existing && !existing.post) {
      markRefused(existing, event);
      return null;
    }
    const call = new ToolCall(event, null, this.toolOptions);
    if (call.toolUseId && !this.calls.has(call.toolUseId)) this.calls.set(call.toolUseId, call);
    markRefused(call, event);
    return call.li;
  }

  // -------------------------------------------------------------------------------------------------------
  // The summary: how every tool call and turn ended, independent of the pages loaded

  async loadSummary() {
    if (this.summaryUnavailable || this.closed) return;
    const request = ++this.summaryRequest;
    try {
      const body = await api(sessionUrl(this.id, '/summary'));
      if (this.closed || request !== this.summaryRequest) return;
      this.summary = body ?? null;
      this.summaryCalls = new Map((Array.isArray(body?.tool_calls) ? body.tool_calls : []).filter((c) => typeof c?.tool_use_id === 'string').map((c) => [c.tool_use_id, c]));
      this.turns.setSummary(body?.turns);
      for (const call of this.calls.values()) this.settleCall(call);
      if (this.axis.open) this.renderAxis();
    } catch (err) {
      // A server without the summary (404): the page's own pairing stands. Other errors: asked again later.
      if (err instanceof ApiError && err.status === 404) this.summaryUnavailable = true;
    }
  }

  /** Asked again SUMMARY_DEBOUNCE_MS after live events stop coming (or every 5 s while they do not). */
  scheduleSummary() {
    if (this.summaryUnavailable || this.closed) return;
    clearTimeout(this.summaryTimer);
    const now = Date.now();
    this.summaryDue ??= now + 5000;
    this.summaryTimer = setTimeout(
      () => {
        this.summaryDue = null;
        this.loadSummary();
      },
      Math.min(SUMMARY_DEBOUNCE_MS, Math.max(0, this.summaryDue - now)),
    );
  }

  /**
   * A call whose result is not on the page (a later page, or it never came) takes its ending from the summary:
   * never "running…" once the summary knows it ended.
   */
  settleCall(call) {
    if (call.post || call.refused || !call.toolUseId) return;
    const known = this.summaryCalls.get(call.toolUseId);
    if (!known || known.state === 'running') return;
    call.settled = known.state;
    // Not counting any more (tools.js ticks a running call's duration).
    call.stopTicking?.();
    call.li.dataset.outcome = known.state;
    call.li.classList.toggle('is-error', known.state === 'failed');
    if (known.state === 'refused') {
      markRefused(call, { error: known.error });
      return;
    }
    const text = { succeeded: 'ok', failed: 'failed', interrupted: 'interrupted' }[known.state] ?? known.state;
    call.statusEl.className = `tool-status tool-${known.state === 'succeeded' ? 'ok' : known.state}`;
    call.statusEl.textContent = text;
    call.statusEl.title = known.state === 'interrupted' ? 'It had not ended when its turn or session did' : 'Its result is on a later page of events';
    call.durationEl.textContent = typeof known.duration_ms === 'number' ? formatDuration(known.duration_ms) : '';
  }

  insert(event) {
    const item = this.renderItem(event);
    this.rendered.add(event.id);
    if (!item) {
      this.maxRendered = Math.max(this.maxRendered, event.id);
      return;
    }
    if (event.id > this.maxRendered) {
      this.maxRendered = event.id;
      this.timeline.append(item);
      return;
    }
    let before = this.timeline.lastElementChild;
    while (before && Number(before.dataset.eventId) > event.id) before = before.previousElementSibling;
    if (before) before.after(item);
    else this.timeline.prepend(item);
  }

  /**
   * Shows one event (a deep link): loads pages until it is in, scrolls to it and marks it. An event that is
   * the result of a tool call is shown in its call's row.
   */
  async focusEvent(eventId) {
    while (!this.closed && !this.deleted && this.loadedThrough < eventId && !this.loadError) {
      const before = this.loadedThrough;
      await this.loadMore();
      if (this.loadedThrough === before) break;
    }
    while (this.chunking && !this.closed) await new Promise((resolve) => setTimeout(resolve, 16));
    if (this.closed) return;
    const el = this.el.querySelector(`[data-event-id="${eventId}"], [data-result-id="${eventId}"]`);
    if (!el) {
      this.showNotice(`Event ${eventId} is not in this session.`);
      return;
    }
    this.stick = false;
    for (const marked of this.el.querySelectorAll('.is-target')) marked.classList.remove('is-target');
    el.classList.add('is-target');
    for (let parent = el.parentElement; parent && parent !== this.el; parent = parent.parentElement) if (parent.tagName === 'DETAILS') parent.open = true;
    requestAnimationFrame(() => {
      el.scrollIntoView({ block: 'center' });
      this.lastScrollTop = this.scroller.scrollTop;
    });
  }

  // -------------------------------------------------------------------------------------------------------
  // Live changes

  /** An event from the feed; `session` is the list's updated copy of the session, if it has one. */
  onEvent(event, session) {
    if (event.session_id !== this.id || this.closed) return;
    if (session) this.session = session;
    else if (this.session) {
      this.session = {
        ...this.session,
        event_count: typeof this.session.event_count === 'number' ? this.session.event_count + 1 : this.session.event_count,
        last_event_at: new Date().toISOString(),
      };
    }
    this.scheduleRender();
    if (this.events.has(event.id)) return;
    this.events.set(event.id, event);
    this.scheduleSummary();
    // While a page is still being drawn, the event waits for it (see appendLater).
    if (event.id <= this.loadedThrough && !this.chunking) {
      this.insert(event);
      this.afterLiveInsert(1);
    }
    if (this.session?.status === 'finished' && event.event_type === 'message' && event.role === 'assistant') this.loadResult();
  }

  /** Header and footer once per frame, however many events arrive in it. */
  scheduleRender() {
    if (this.renderScheduled) return;
    this.renderScheduled = true;
    requestAnimationFrame(() => {
      this.renderScheduled = false;
      if (this.closed) return;
      if (this.session) this.renderHeader();
      this.renderFooter();
      if (this.axis.open) this.renderAxis();
    });
  }

  /** Turns, tool calls and subagents of the events on the page, as bars over time. */
  renderAxis() {
    const calls = new Set([...this.calls.values(), ...this.openCalls, ...this.allCalls]);
    this.axisBody.replaceChildren(
      renderWaterfall({
        turns: this.axisTurns(),
        calls:
          this.summary && Array.isArray(this.summary.tool_calls)
            ? this.axisCalls()
            : [...calls].map((call) => {
                const first = Date.parse((call.pre ?? call.post).timestamp);
                const duration = call.post ? callDurationOf(call) : null;
                return {
                  label: `${call.toolName}${call.summary ? ` ${call.summary}` : ''}`,
                  first,
                  last: duration === null ? first : first + duration,
                  failed: call.li.dataset.outcome === 'failed',
                  pending: !call.post,
                };
              }),
        subagents: [...this.subagents.values()].map((group) => ({ label: group.typeEl.textContent, first: group.first, last: group.last })),
      }),
    );
  }

  /** The turns on the time axis: every turn of the summary (labelled by its prompt where on the page), else those on the page. */
  axisTurns() {
    const onPage = new Map([...this.turns.turns.values()].filter((turn) => turn.promptId).map((turn) => [turn.promptId, turn]));
    const summary = Array.isArray(this.summary?.turns) ? this.summary.turns : null;
    if (!summary) return [...this.turns.turns.values()].map((turn) => ({ label: turnLabel(turn), ...this.turns.span(turn) }));
    const rows = summary.map((known, index) => {
      const first = Date.parse(known.started_at);
      const ended = Date.parse(known.ended_at);
      const turn = onPage.get(known.prompt_id);
      return { label: turn ? turnLabel(turn) : `Turn ${index + 1}`, first, last: Number.isFinite(ended) ? ended : known.state === 'running' ? Date.now() : first };
    });
    // Turns the summary does not have (no prompt id): from the page.
    for (const turn of this.turns.turns.values())
      if (!turn.promptId || !summary.some((known) => known.prompt_id === turn.promptId)) rows.push({ label: turnLabel(turn), ...this.turns.span(turn) });
    return rows;
  }

  /** The tool calls on the time axis, from the summary: every one, wherever its events are. */
  axisCalls() {
    return this.summary.tool_calls.map((known) => {
      const first = Date.parse(known.started_at);
      const ended = Date.parse(known.ended_at);
      const call = this.calls.get(known.tool_use_id);
      const last = Number.isFinite(ended) ? ended : known.state === 'running' ? Date.now() : first;
      return {
        label: `${known.tool_name ?? 'tool'}${call?.summary ? ` ${call.summary}` : ''}`,
        first,
        last: typeof known.duration_ms === 'number' && Number.isFinite(first) && !Number.isFinite(ended) ? first + known.duration_ms : last,
        failed: known.state === 'failed' || known.state === 'refused',
        pending: known.state === 'running',
      };
    });
  }

  onSessionUpdated(session) {
    if (this.closed || session.session_id !== this.id) return;
    const was = this.session?.status;
    this.session = session;
    this.renderHeader();
    this.renderFooter();
    if (session.status === 'finished' && was !== 'finished') {
      this.loadResult();
      // Calls still open when it finished are interrupted now: the summary says so.
      this.scheduleSummary();
    }
    if (session.status !== 'finished') this.result.hidden = true;
  }

  onDeleted() {
    if (this.closed) return;
    this.deleted = true;
    this.deleteButton.disabled = true;
    this.badge.replaceChildren(h('span', { class: 'status status-deleted', text: 'Deleted' }));
    this.showNotice('This session has been deleted.');
    this.renderFooter();
  }

  afterLiveInsert(count) {
    if (this.stick) {
      this.scrollToLatest();
    } else {
      this.unseen += count;
      this.jump.hidden = false;
      this.jump.lastChild.textContent = `${plural(this.unseen, 'new event')} · Jump to latest`;
    }
  }

  /**
   * On scroll: at the bottom, follow new events; scrolled up, stop. Only a move up counts as the reader's:
   * content growing (or the browser's scroll anchoring) between an insert and its scroll must not.
   * `initial`: decide from the position alone.
   */
  updateStick({ initial = false } = {}) {
    const { scrollTop, scrollHeight, clientHeight } = this.scroller;
    const atBottom = this.loadedThrough === Infinity && scrollHeight - scrollTop - clientHeight <= STICK_PX;
    if (atBottom) {
      this.stick = true;
      this.unseen = 0;
      this.jump.hidden = true;
    } else if (initial || this.loadedThrough !== Infinity || scrollTop < this.lastScrollTop - 1) {
      this.stick = false;
    }
    this.lastScrollTop = scrollTop;
  }

  scrollToLatest() {
    this.stick = true;
    this.unseen = 0;
    this.jump.hidden = true;
    requestAnimationFrame(() => {
      if (this.closed || !this.stick) return;
      // The reader scrolled up after this was asked for, and its scroll event has not come yet: leave it there.
      if (this.scroller.scrollTop < this.lastScrollTop - 1) {
        this.stick = false;
        return;
      }
      this.scroller.scrollTop = this.scroller.scrollHeight;
      // Its scroll event may come together with the reader's next one: measure "up" from here.
      this.lastScrollTop = this.scroller.scrollTop;
    });
  }

  // -------------------------------------------------------------------------------------------------------
  // Result and deletion

  async loadResult() {
    const request = ++this.resultRequest;
    try {
      const body = await api(sessionUrl(this.id, '/result'));
      if (this.closed || request !== this.resultRequest) return;
      const text = typeof body?.result === 'string' ? body.result : '';
      this.resultText.replaceChildren(renderMarkdown(text));
      this.result.hidden = text === '' || this.session?.status !== 'finished';
    } catch (err) {
      if (this.closed || request !== this.resultRequest) return;
      // 400: not finished; 404: no result (or no session). Either way there is nothing to show.
      if (err instanceof ApiError && (err.status === 400 || err.status === 404)) this.result.hidden = true;
    }
  }

  async loadTurnUsage() {
    const request = ++this.usageRequest;
    try {
      const body = await api(sessionUrl(this.id, '/usage'));
      if (this.closed || request !== this.usageRequest) return;
      this.turns.setUsage(body?.turns);
      this.renderBreakdown(body);
    } catch {
      // Usage is an extra: without it the turns show their durations only.
    }
  }

  async remove() {
    if (!this.session || this.deleted) return;
    if (!(await this.confirmDelete(this.session))) return;
    this.deleteButton.disabled = true;
    try {
      const body = await api(sessionUrl(this.id), { method: 'DELETE' });
      const count = body?.deleted?.events_count;
      announce(`Deleted session “${this.session.session_name}”${typeof count === 'number' ? ` and ${plural(count, 'event')}` : ''}`);
      window.location.hash = '#/';
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) {
        announce('The session had already been deleted');
        window.location.hash = '#/';
        return;
      }
      this.deleteButton.disabled = false;
      announce(`Could not delete the session: ${err.message}`);
      this.showNotice(`Could not delete the session: ${err.message}`);
    }
  }

  // -------------------------------------------------------------------------------------------------------
  // Rendering

  renderHeader() {
    const s = this.session;
    if (!s) return;
    this.heading.textContent = s.session_name;
    setPageTitle(`${s.session_name} · Agent Sessions`);
    this.renderState();
    setText(this.agentEl, s.agent_name);
    setText(this.projectEl, s.project_dir, { isolate: true });
    this.projectEl.title = s.project_dir ?? '';
    this.createdEl.replaceChildren(timeEl(s.created_at));
    this.activityEl.replaceChildren(timeEl(s.last_event_at ?? null));
    const failedTools = typeof s.failed_tool_count === 'number' && s.failed_tool_count > 0 ? s.failed_tool_count : 0;
    this.countEl.replaceChildren(
      formatNumber(s.event_count),
      failedTools > 0 ? h('span', { class: 'failed-tools error-text', text: ` · ${plural(failedTools, 'failed tool call')}` }) : '',
    );
    this.renderDuration();
    const usageText = formatUsage(s.usage);
    const incomplete = incompleteText(s.requests_missing);
    this.usageEl.replaceChildren(usageText || (incomplete ? '' : '–'), incomplete ? h('span', { class: 'usage-incomplete', text: `${usageText ? ' · ' : ''}${incomplete}` }) : '');
    this.usageEl.classList.toggle('muted', !usageText && !incomplete);
    // Only sessions whose agent reports usage (Claude Code's OpenTelemetry logs, its transcript) have any.
    this.usageEl.parentElement.hidden = !s.usage && !incomplete;
    this.usageEl.title = [
      usageTitle(s.usage),
      incomplete
        ? `The transcript shows ${plural(s.requests_missing, 'model request')} that OpenTelemetry did not report: their tokens come from the transcript, their cost is unknown or estimated.`
        : '',
    ]
      .filter(Boolean)
      .join('\n');
    this.renderHints();
    this.renderBudget();
    // Per-turn usage follows the session's totals: asked for again when they change.
    const usageKey = s.usage ? `${s.usage.api_requests}:${s.usage.cost_usd}:${s.requests_missing ?? ''}` : '';
    if (usageKey !== '' && usageKey !== this.usageKey) {
      this.usageKey = usageKey;
      this.loadTurnUsage();
    }
  }

  /**
   * The session's duration: while it runs, how long it has been running, counting ("running 1 min 12 s");
   * else from its creation to its last event.
   */
  renderDuration(now = Date.now()) {
    const s = this.session;
    if (!s) return;
    let text = null;
    if (s.status === 'running' && !this.deleted) {
      const since = Date.parse(s.created_at);
      if (Number.isFinite(since)) text = `running ${formatWaiting(now - since)}`;
    } else {
      const span = Date.parse(s.last_event_at ?? '') - Date.parse(s.created_at);
      if (Number.isFinite(span)) text = formatDuration(Math.max(0, span));
    }
    if (text !== this.durationText) {
      this.durationText = text;
      setText(this.durationEl, text);
      this.durationEl.classList.toggle('duration-running', s.status === 'running');
    }
  }

  /** What a Claude Code session lacks (its transcript, its telemetry) and how to get it. */
  renderHints() {
    const hints = sessionHints(this.session);
    const key = hints ? hints.map((hint) => hint.className).join(' ') : '';
    if (key === this.hintsKey) return;
    this.hintsKey = key;
    this.hints.replaceChildren(...(hints ?? []));
    this.hints.hidden = !hints;
  }

  /** Usage per model and per subagent (GET /sessions/{id}/usage), and how many requests were reported. */
  renderBreakdown(body) {
    const byModel = Array.isArray(body?.by_model) ? body.by_model : [];
    const byAgent = Array.isArray(body?.by_agent) ? body.by_agent : [];
    this.breakdown.hidden = byModel.length === 0 && byAgent.length === 0;
    if (this.breakdown.hidden) return;
    const parts = [];
    const seen = body.requests_seen;
    const reported = body.requests_reported;
    if (typeof seen === 'number' && typeof reported === 'number' && seen > 0) {
      const missing = Math.max(0, seen - reported);
      parts.push(
        h('p', {
          class: missing > 0 ? 'usage-incomplete' : 'muted',
          text: `${plural(seen, 'model request')} in the transcript, ${formatNumber(reported)} reported by OpenTelemetry${missing > 0 ? ` · ${incompleteText(missing)}` : ''}`,
        }),
      );
    }
    if (byModel.length > 0)
      parts.push(
        usageTable(
          'By model',
          ['Model', 'Cost', 'Input', 'Output', 'Cache', 'Requests'],
          byModel.map((row) => [row.model ?? 'unknown model', row]),
        ),
      );
    if (byAgent.length > 0)
      parts.push(
        usageTable(
          'By agent',
          ['Agent', 'Cost', 'Input', 'Output', 'Cache', 'Requests'],
          byAgent.map((row) => [row.agent_id ? `${row.agent_type ?? 'Subagent'}${row.model ? ` · ${row.model}` : ''}` : `Main${row.model ? ` · ${row.model}` : ''}`, row]),
        ),
      );
    this.breakdownBody.replaceChildren(...parts);
  }

  /** The session's spend cap (`budget_usd`) and how much of it is spent, with a form to change it (an admin key). */
  renderBudget() {
    const s = this.session;
    // Servers without budgets send no budget_usd at all.
    this.budgetEl.parentElement.hidden = !s || !Object.hasOwn(s, 'budget_usd');
    if (!s || this.editingBudget) return;
    const budget = typeof s.budget_usd === 'number' ? s.budget_usd : null;
    const spent = typeof s.usage?.cost_usd === 'number' ? s.usage.cost_usd : 0;
    const share = budget !== null && budget > 0 ? spent / budget : null;
    const key = `${budget}:${spent}`;
    if (key === this.budgetKey) return;
    this.budgetKey = key;
    const text =
      budget === null
        ? 'None'
        : `${formatBudget(budget)}${share === null ? '' : share >= 1 ? ` · reached (${Math.round(share * 100)} % spent): tool calls are denied` : ` · ${Math.round(share * 100)} % spent`}`;
    const change = h('button', { type: 'button', class: 'link-button budget-change', text: budget === null ? 'Set a budget' : 'Change' });
    change.addEventListener('click', () => this.editBudget());
    this.budgetEl.replaceChildren(h('span', { class: share !== null && share >= 1 ? 'error-text' : '', text }), ' ', change);
  }

  editBudget() {
    const s = this.session;
    if (!s) return;
    this.editingBudget = true;
    const input = h('input', { type: 'number', min: '0', step: '0.01', inputmode: 'decimal', class: 'budget-input', 'aria-label': 'Budget in USD (empty: none)' });
    input.value = typeof s.budget_usd === 'number' ? String(s.budget_usd) : '';
    const error = h('span', { class: 'error-text budget-error' });
    const done = () => {
      this.editingBudget = false;
      this.budgetKey = null;
      this.renderBudget();
    };
    const form = h(
      'form',
      { class: 'budget-form' },
      h('span', { 'aria-hidden': 'true', text: '$' }),
      input,
      h('button', { type: 'submit', class: 'button small primary', text: 'Save' }),
      h('button', { type: 'button', class: 'button small', text: 'Cancel', onclick: done }),
      error,
    );
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const raw = input.value.trim();
      const value = raw === '' ? null : Number(raw);
      if (value !== null && (!Number.isFinite(value) || value < 0)) {
        error.textContent = 'A budget is a number of dollars, 0 or more.';
        return;
      }
      try {
        const body = await api(sessionUrl(this.id), { method: 'PATCH', body: { budget_usd: value } });
        if (this.closed) return;
        if (body?.session) this.session = body.session;
        announce(value === null ? 'Budget removed' : `Budget set to ${formatBudget(value)}`);
        done();
      } catch (err) {
        error.textContent = err instanceof ApiError && err.status === 403 ? 'Only an admin key may set a budget.' : `Could not set the budget: ${err.message}`;
      }
    });
    input.addEventListener('keydown', (event) => {
      if (event.key === 'Escape') done();
    });
    this.budgetEl.replaceChildren(form);
    input.focus();
  }

  /** The status badge and what depends on it; again when the session may have gone stale. */
  renderState() {
    const s = this.session;
    if (!s || this.deleted) return;
    const state = sessionState(s);
    const key = state === 'waiting' ? `${state}:${waitingTitle(s)}` : state;
    if (key === this.stateKey) return;
    this.stateKey = key;
    this.state = state;
    this.badge.replaceChildren(statusBadge(s, state));
    this.el.dataset.state = state;
    this.result.classList.toggle('result-failed', state === 'failed');
    this.resultHeading.textContent = state === 'failed' ? 'Result · failed' : 'Result';
  }

  renderFooter() {
    // Rebuilt only when its state changes, so a focused "Load more" survives a stream of live events.
    let state = 'idle';
    if (this.loading && !this.loadedOnce) state = 'loading';
    else if (this.loadedOnce && this.loadedThrough !== Infinity && !this.loadError) state = 'more';
    else if (this.loadError) state = 'error';
    else if (this.loadedOnce) {
      const status = this.session?.status !== 'finished' && this.session?.waiting_for ? `waiting-${this.session.waiting_for}` : this.session?.status;
      state = this.deleted ? 'deleted' : this.rendered.size === 0 ? `empty-${status}` : `end-${status}`;
    }
    if (state !== this.footerState) {
      this.footerState = state;
      this.footer.replaceChildren(...this.footerParts(state));
    }
    if (state === 'more') {
      // Not `disabled` while loading: that would take the focus away from it.
      this.moreButton.setAttribute('aria-disabled', String(this.loading));
      this.moreButton.textContent = this.loading ? 'Loading…' : 'Load more events';
      const total = this.session?.event_count;
      const remaining = typeof total === 'number' ? Math.max(0, total - this.rendered.size) : null;
      this.moreCount.textContent =
        remaining === null ? `${plural(this.rendered.size, 'event')} shown` : `${formatNumber(this.rendered.size)} shown, ${formatNumber(remaining)} more`;
    }
  }

  footerParts(state) {
    switch (state) {
      case 'loading':
        return [h('p', { class: 'muted', text: 'Loading events…' })];
      case 'error':
        return [
          h('p', { class: 'error-text', text: `Could not load events: ${this.loadError}` }),
          h('button', { type: 'button', class: 'button', text: 'Try again', onclick: () => this.loadMore() }),
        ];
      case 'more':
        this.moreCount = h('span', { class: 'muted' });
        this.moreButton = h('button', { type: 'button', class: 'button load-more', onclick: () => this.loadMore() }, 'Load more events');
        return [this.moreButton, this.moreCount];
      case 'deleted':
        return [h('p', { class: 'muted', text: 'This session has been deleted.' })];
      case 'empty-running':
        return [h('p', { class: 'muted live-tail' }, h('span', { class: 'pulse', 'aria-hidden': 'true' }), 'No events yet. New events appear here live.')];
      case 'end-running':
        return [h('p', { class: 'muted live-tail' }, h('span', { class: 'pulse', 'aria-hidden': 'true' }), 'Live: new events appear here')];
      case 'empty-idle':
      case 'end-idle':
        return [h('p', { class: 'muted live-tail', text: 'Idle: waiting for the user; new events appear here' })];
      case 'empty-waiting-approval':
      case 'end-waiting-approval':
        return [h('p', { class: 'muted live-tail waiting-tail', text: 'Needs you: a tool call waits for approval (above)' })];
      case 'empty-waiting-input':
      case 'end-waiting-input':
        return [h('p', { class: 'muted live-tail waiting-tail', text: 'Needs you: Claude Code waits for an answer in its terminal' })];
      case 'idle':
        return [];
      default:
        return [h('p', { class: 'muted', text: this.rendered.size === 0 ? 'No events.' : 'End of session' })];
    }
  }

  showNotice(text, retry) {
    this.notice.hidden = false;
    this.notice.replaceChildren(h('span', { text }));
    if (retry) this.notice.append(h('button', { type: 'button', class: 'button', text: 'Try again', onclick: retry }));
  }

  showMissing() {
    this.heading.textContent = 'Session not found';
    setPageTitle('Session not found · Agent Sessions');
    this.header.querySelector('.meta').hidden = true;
    this.deleteButton.hidden = true;
    this.deleted = true;
    this.missing = true;
    this.showNotice('There is no session with this id. It may have been deleted.');
    this.loadedOnce = false;
    this.footerState = 'idle';
    this.footer.replaceChildren();
    this.onMissing?.();
  }

  focus() {
    this.heading.focus({ preventScroll: true });
  }

  destroy() {
    this.closed = true;
    clearInterval(this.ticker);
    clearTimeout(this.summaryTimer);
    this.scroller.removeEventListener('scroll', this.onScroll);
    this.jump.removeEventListener('click', this.onJump);
    this.jump.hidden = true;
  }
}

/**
 * A link to GET /sessions/{id}/export. With an API key in use the browser cannot add it to a plain download,
 * so the file is fetched with it and handed over as a blob.
 */
function exportLink(id, format, label) {
  const href = sessionUrl(id, `/export?format=${format}`);
  const link = h('a', { class: 'button export-link', href, download: '', dataset: { format } }, label);
  link.addEventListener('click', async (event) => {
    const key = getApiKey();
    if (!key) return;
    event.preventDefault();
    try {
      const response = await fetch(href, { headers: { authorization: `Bearer ${key}` } });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const url = URL.createObjectURL(await response.blob());
      const save = h('a', { href: url, download: `session-${id}.${format}` });
      document.body.append(save);
      save.click();
      save.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (err) {
      announce(`Could not export the session: ${err.message}`);
    }
  });
  return link;
}

/** A subagent's events, nested, with its type, its event count and how long it ran. */
class SubagentGroup {
  constructor(agentId) {
    this.agentId = agentId;
    this.first = NaN;
    this.last = NaN;
    this.count = 0;
    this.typeEl = h('span', { class: 'subagent-type', text: 'Subagent' });
    this.statsEl = h('span', { class: 'subagent-stats muted' });
    this.list = h('ol', { class: 'subagent-events', 'aria-label': 'Subagent events' });
    this.el = h(
      'section',
      { class: 'subagent', dataset: { agentId } },
      h('div', { class: 'subagent-head' }, icon('agent'), this.typeEl, h('code', { class: 'subagent-id', text: agentId }), this.statsEl),
      this.list,
    );
    this.li = null;
  }

  /** The group as a timeline item of its own, placed by its first event. */
  standalone(eventId) {
    this.li = h('li', { class: 'event event-subagent', dataset: { eventId: String(eventId) } }, this.el);
    return this.li;
  }

  add(event, li) {
    this.count += 1;
    const agentType = event.hook_input && typeof event.hook_input.agent_type === 'string' ? event.hook_input.agent_type : null;
    if (agentType) this.typeEl.textContent = `Subagent · ${agentType}`;
    const time = Date.parse(event.timestamp);
    if (Number.isFinite(time)) {
      this.first = Number.isFinite(this.first) ? Math.min(this.first, time) : time;
      this.last = Number.isFinite(this.last) ? Math.max(this.last, time) : time;
    }
    if (event.event_type === 'subagent_stop') this.el.dataset.finished = 'true';
    const span = this.last - this.first;
    this.statsEl.textContent = [plural(this.count, 'event'), Number.isFinite(span) && this.count > 1 ? formatDuration(span) : ''].filter(Boolean).join(' · ');
    if (!li) return;
    let before = this.list.lastElementChild;
    while (before && Number(before.dataset.eventId) > event.id) before = before.previousElementSibling;
    if (before) before.after(li);
    else this.list.prepend(li);
  }
}

/** What renderRow answers for an event that is not shown (a text already shown once). */
const HIDDEN = Symbol('hidden');

/**
 * Times as captured: an event's time is when it happened (the hook command's capture time); when the server
 * received it much later (a spooled hook), its tooltip says so.
 */
function markCaptureTime(li, event) {
  const received = Date.parse(event.received_at);
  const captured = Date.parse(event.timestamp);
  if (!Number.isFinite(received) || !Number.isFinite(captured) || Math.abs(received - captured) <= LATE_MS) return;
  const time = li.querySelector('.event-time time');
  if (!time) return;
  time.title = `${formatFull(event.timestamp)} (when it happened)\nReceived by the server ${formatFull(event.received_at)}, ${formatWaiting(received - captured)} later`;
  time.classList.add('time-late');
}

/** A tool call that never ran: marked refused, with Claude Code's reason. */
function markRefused(call, refusal) {
  call.refused = true;
  call.refusal = refusal.error;
  call.stopTicking?.();
  call.li.dataset.outcome = 'refused';
  call.li.classList.add('is-refused');
  call.statusEl.className = 'tool-status tool-refused';
  call.statusEl.textContent = 'refused';
  call.statusEl.title = 'Claude Code did not run this call';
  call.durationEl.textContent = '';
  if (typeof refusal.id === 'number') call.li.dataset.resultId = String(refusal.id);
  const reason = typeof refusal.error === 'string' && refusal.error !== '' ? refusal.error : null;
  call.outputEl.replaceChildren(h('p', { class: 'refusal' }, h('strong', { text: 'Refused: ' }), reason ?? 'Claude Code did not run it.'));
}

/** A small table of usage rows: [label, {cost_usd, input_tokens, output_tokens, cache…, requests}]. */
function usageTable(title, headings, rows) {
  const compact = new Intl.NumberFormat(undefined, { notation: 'compact', maximumFractionDigits: 1 });
  const number = (value, label) => h('td', { class: 'num', title: `${label}: ${formatNumber(value ?? 0)}`, text: compact.format(value ?? 0) });
  return h(
    'div',
    { class: 'usage-table-wrap' },
    h(
      'table',
      { class: 'usage-table', 'aria-label': `Usage ${title.toLowerCase()}` },
      h('caption', { text: title }),
      h('thead', null, h('tr', null, ...headings.map((text, i) => h('th', { scope: 'col', class: i > 0 ? 'num' : null, text })))),
      h(
        'tbody',
        null,
        rows.map(([label, row]) =>
          h(
            'tr',
            { dataset: { name: label } },
            h('th', { scope: 'row', class: 'usage-name', text: label }),
            h('td', { class: 'num usage-cost', text: costText(row) }),
            number(row.input_tokens, 'Input tokens'),
            number(row.output_tokens, 'Output tokens'),
            number((row.cache_read_tokens ?? 0) + (row.cache_creation_tokens ?? 0), 'Cache tokens (read and write)'),
            h('td', { class: 'num', text: typeof row.requests === 'number' ? formatNumber(row.requests) : '–' }),
          ),
        ),
      ),
    ),
  );
}

function turnLabel(turn) {
  const text = turn.li.querySelector('.message-body, .text')?.textContent ?? '';
  const label = text.replace(/\s+/g, ' ').trim();
  return label ? (label.length > 60 ? `${label.slice(0, 59)}…` : label) : 'Turn';
}

function callDurationOf(call) {
  return callDuration(call.pre, call.post);
}

const formatBudget = (usd) => `$${usd.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;

const capitalize = (text) => text.charAt(0).toUpperCase() + text.slice(1);

/** JSON with the keys of every object sorted: two inputs compare equal however their keys were ordered. */
function stableJson(value) {
  const sorted = (v) => {
    if (Array.isArray(v)) return v.map(sorted);
    if (v && typeof v === 'object')
      return Object.fromEntries(
        Object.keys(v)
          .sort()
          .map((key) => [key, sorted(v[key])]),
      );
    return v;
  };
  try {
    return JSON.stringify(sorted(value ?? null));
  } catch {
    return '';
  }
}

function setText(el, value, { isolate = false } = {}) {
  if (typeof value === 'string' && value !== '') {
    if (isolate) el.replaceChildren(h('bdi', { dir: 'ltr', text: value }));
    else el.textContent = value;
    el.classList.remove('muted');
  } else {
    el.textContent = '–';
    el.classList.add('muted');
  }
}
