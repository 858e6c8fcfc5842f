// Agent Session Manager dashboard: wiring of the list, the session view, the live feed and the routes.
//   #/                    the list (and, on wide screens, the usage totals beside it)
//   #/usage               the usage totals, per model, agent and project, as the list is filtered (on a phone, instead of the list)
//   #/sessions/<id>       one session; the id percent-encoded

import { api, ApiError, askForApiKey, forgetApiKey, getApiKey, onApiKeyChange, onApiKeyDismissed } from './api.js';
import { announce, h, icon, refreshTimes, setAttentionCount, setPageTitle, STALE_MS } from './dom.js';
import { ApprovalQueue } from './approvals.js';
import { LiveFeed } from './live.js';
import { SessionList, sessionHref } from './list.js';
import { Notifier } from './notify.js';
import { SessionView } from './session.js';
import { UsageTotals } from './usage.js';

const OLDER_PAGE = 1000;
const INIT_LIMIT = 1000;

const store = {
  sessions: new Map(),
  ready: false,
  /** init holds the INIT_LIMIT newest sessions; its next_cursor (when set) pages in the older ones. */
  mayHaveOlder: false,
  olderCursor: null,
  olderLoading: false,
};

const listPane = document.getElementById('list-pane');
const detail = document.getElementById('detail');
const connection = document.getElementById('connection');
const connectionText = connection.querySelector('.connection-text');
const retryButton = document.getElementById('retry');
const forgetButton = document.getElementById('forget-key');
const enterKeyButton = document.getElementById('enter-key');
const jump = h('button', { type: 'button', class: 'jump', hidden: true }, icon('down'), h('span', { text: 'Jump to latest' }));
detail.parentElement.append(jump);

const list = new SessionList(listPane, { store, onOlder: loadOlder });
// The usage totals follow the list's filters.
list.onFilters = () => totals?.refresh();
const sessionName = (id) => store.sessions.get(id)?.session_name ?? null;
// Above the list: what waits for a person. Its count goes into the title and the favicon.
const queue = new ApprovalQueue(listPane, { sessionName, sessionHref, onCount: setAttentionCount });
const notifier = new Notifier(document.querySelector('.topbar-right'), {
  sessionName,
  open: (id) => {
    window.location.hash = sessionHref(id);
  },
});
let view = null;
/** The usage totals, while the detail pane shows them. */
let totals = null;

// -----------------------------------------------------------------------------------------------------------
// Routes

/** The session of the address, and the event it points at (`#/sessions/<id>/events/<event id>`). */
function parseRoute() {
  if (window.location.hash === '#/usage') return { id: null, eventId: null, usage: true };
  const match = /^#\/sessions\/([^/]+)(?:\/events\/(\d+))?$/.exec(window.location.hash);
  if (!match) return { id: null, eventId: null };
  try {
    return { id: decodeURIComponent(match[1]), eventId: match[2] ? Number(match[2]) : null };
  } catch {
    return { id: null, eventId: null };
  }
}

/** A deep link that arrived before its session: show the session once the feed knows it. */
function reopenIfKnown() {
  if (!view?.missing || !store.sessions.has(view.id)) return;
  view.destroy();
  view = null;
  route(false);
}

function route(userNavigated) {
  const { id, eventId, usage } = parseRoute();
  document.body.dataset.route = id !== null ? 'session' : usage ? 'usage' : 'list';
  list.select(id);
  if (view && view.id === id) {
    if (eventId !== null) view.focusEvent(eventId);
    return;
  }
  const previous = view?.id ?? null;
  view?.destroy();
  view = null;
  if (id === null) {
    setPageTitle(usage ? 'Usage · Agent Sessions' : 'Agent Sessions');
    // The same totals on both routes; the list route (beside the list on a wide screen) says how to open a session.
    const hint = usage ? null : 'No session selected: pick one from the list to follow its events live.';
    if (!totals || totals.hint !== hint) {
      totals?.destroy();
      totals = new UsageTotals({ hint, filters: () => list.usageFilters() });
      detail.replaceChildren(totals.el);
      totals.open();
    }
    if (userNavigated && previous !== null) list.focusRow(previous);
    return;
  }
  totals?.destroy();
  totals = null;
  view = new SessionView(id, {
    session: store.sessions.get(id),
    scroller: detail,
    jump,
    confirmDelete,
    onDecided: (approval) => queue.update(approval),
    // The 404 may have been read before the session was created, and its session_created heard meanwhile.
    onMissing: () => setTimeout(reopenIfKnown, 0),
  });
  detail.replaceChildren(view.el);
  detail.scrollTop = 0;
  const opened = view.open();
  if (eventId !== null) {
    const target = view;
    opened.then(() => target.focusEvent(eventId));
  } else if (userNavigated) view.focus();
}

window.addEventListener('hashchange', () => route(true));

// -----------------------------------------------------------------------------------------------------------
// The live feed

// A session_updated caused by events comes before those events and already counts them: per session, how
// many of the events that follow it are counted already.
const countedAhead = new Map();

function withEvent(session) {
  const ahead = countedAhead.get(session.session_id) ?? 0;
  if (ahead > 0) countedAhead.set(session.session_id, ahead - 1);
  return {
    ...session,
    event_count: typeof session.event_count === 'number' && ahead === 0 ? session.event_count + 1 : session.event_count,
    last_event_at: new Date().toISOString(),
  };
}

function countAhead(before, after) {
  const ahead = typeof before?.event_count === 'number' && typeof after.event_count === 'number' ? after.event_count - before.event_count : 0;
  if (ahead > 0) countedAhead.set(after.session_id, ahead);
  else countedAhead.delete(after.session_id);
}

function onMessage(message) {
  switch (message.type) {
    case 'init': {
      const sessions = Array.isArray(message.sessions) ? message.sessions : [];
      store.sessions = new Map(sessions.map((s) => [s.session_id, s]));
      countedAhead.clear();
      store.ready = true;
      store.olderCursor = typeof message.next_cursor === 'string' ? message.next_cursor : null;
      store.mayHaveOlder = store.olderCursor !== null;
      list.invalidate();
      // The approvals waiting: in init where the server sends them, else asked for.
      if (Array.isArray(message.approvals)) queue.reset(message.approvals.filter((approval) => approval?.state === 'pending'));
      else queue.load();
      queue.refreshNames();
      const current = view && store.sessions.get(view.id);
      if (current && view.missing) reopenIfKnown();
      else if (current) view.onSessionUpdated(current);
      // Whatever changed while the feed was down is in the totals only when asked again.
      totals?.refresh();
      break;
    }
    case 'session_created':
    case 'session_updated': {
      const session = message.session;
      if (!session || typeof session.session_id !== 'string') return;
      const before = store.sessions.get(session.session_id);
      countAhead(before, session);
      store.sessions.set(session.session_id, session);
      totals?.onSessionChange(before, session);
      notifier.sessionChanged(before, session);
      if (before?.session_name !== session.session_name) queue.refreshNames();
      list.invalidate();
      if (view?.id === session.session_id) {
        if (view.missing) reopenIfKnown();
        else view.onSessionUpdated(session);
      }
      break;
    }
    case 'session_deleted': {
      totals?.onSessionChange(store.sessions.get(message.session_id), null);
      store.sessions.delete(message.session_id);
      queue.dropSession(message.session_id);
      list.invalidate();
      if (view?.id === message.session_id) view.onDeleted();
      break;
    }
    // event_gone (an event deleted with its session before it was read) needs nothing: session_deleted follows.
    case 'event': {
      const event = message.data;
      if (!event || typeof event.session_id !== 'string') return;
      const known = store.sessions.get(event.session_id);
      const updated = known ? withEvent(known) : null;
      if (updated) {
        store.sessions.set(event.session_id, updated);
        list.invalidate();
      }
      if (view?.id === event.session_id) view.onEvent(event, updated);
      break;
    }
    case 'approval_requested':
    case 'approval_decided': {
      const approval = message.approval;
      if (!approval || typeof approval.session_id !== 'string') return;
      queue.update(approval);
      if (approval.state === 'pending') notifier.approvalRequested(approval);
      else notifier.approvalDecided(approval);
      if (view?.id === approval.session_id) view.onApproval(approval);
      break;
    }
    default:
      break;
  }
}

const STATE_TEXT = { connecting: 'Connecting…', connected: 'Connected', reconnecting: 'Reconnecting…', offline: 'Offline', unauthorized: 'Not authenticated' };
let countdown = null;

function onState({ state, retryAt }) {
  connection.dataset.connection = state;
  // Nothing pulses while the feed is down: "live" would be a claim the page cannot make.
  document.body.dataset.connection = state;
  clearInterval(countdown);
  const show = () => {
    let text = STATE_TEXT[state] ?? state;
    if (state === 'offline' && retryAt) {
      const seconds = Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
      text = `Offline · retry in ${seconds} s`;
    }
    connectionText.textContent = text;
  };
  show();
  if (state === 'offline') countdown = setInterval(show, 1000);
  connection.title =
    state === 'connected'
      ? 'Receiving changes live'
      : state === 'offline'
        ? 'The server cannot be reached; retrying'
        : state === 'unauthorized'
          ? 'The server wants an API key'
          : 'Connecting to the live feed';
  retryButton.hidden = state !== 'reconnecting' && state !== 'offline';
}

const live = new LiveFeed({
  onMessage,
  onState,
  initLimit: INIT_LIMIT,
  onReconnect: () => view?.resume(),
});

retryButton.addEventListener('click', () => live.reconnectNow());

// -----------------------------------------------------------------------------------------------------------
// Older sessions (beyond the 1000 newest that init carries)

async function loadOlder() {
  if (store.olderLoading) return;
  store.olderLoading = true;
  list.invalidate();
  try {
    if (store.olderCursor) {
      const page = await api(`/sessions?limit=${OLDER_PAGE}&cursor=${encodeURIComponent(store.olderCursor)}`);
      for (const session of page?.sessions ?? []) if (!store.sessions.has(session.session_id)) store.sessions.set(session.session_id, session);
      store.olderCursor = page?.next_cursor ?? null;
    }
    store.mayHaveOlder = Boolean(store.olderCursor);
    if (!store.mayHaveOlder) announce('All sessions are loaded');
  } catch (err) {
    announce(`Could not load older sessions: ${err instanceof ApiError ? err.detail : err.message}`);
  } finally {
    store.olderLoading = false;
    list.invalidate();
  }
}

// -----------------------------------------------------------------------------------------------------------
// Dialogs and the API key

function confirmDelete(session) {
  const dialog = document.getElementById('confirm-dialog');
  dialog.querySelector('[data-confirm-name]').textContent = session.session_name;
  const count = session.event_count;
  dialog.querySelector('[data-confirm-detail]').textContent =
    typeof count === 'number'
      ? `Its ${count === 1 ? 'event' : `${count.toLocaleString()} events`} will be deleted with it. This cannot be undone.`
      : 'Its events will be deleted with it. This cannot be undone.';
  dialog.returnValue = '';
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'delete'), { once: true });
    dialog.showModal();
    dialog.querySelector('[value="cancel"]').focus();
  });
}

function renderKeyButton() {
  forgetButton.hidden = !getApiKey();
}

/**
 * Whether this page's key may answer approvals (GET /me): a key without the decide scope sees the queue
 * without its buttons, and says why.
 */
async function checkDecide() {
  try {
    const me = await api('/me');
    const mayNot = me?.keys_required === true && Array.isArray(me.scopes) && !me.scopes.includes('decide');
    document.body.dataset.decide = mayNot ? 'no' : 'yes';
  } catch {
    delete document.body.dataset.decide;
  }
}

onApiKeyChange(() => {
  renderKeyButton();
  checkDecide();
  enterKeyButton.hidden = true;
  // The feed and the view may have been refused for want of this key: go again with it now.
  live.reconnectNow();
  view?.resume();
});
onApiKeyDismissed(() => {
  enterKeyButton.hidden = false;
});
enterKeyButton.addEventListener('click', () => askForApiKey(false).catch(() => undefined));
forgetButton.addEventListener('click', () => {
  forgetApiKey();
  window.location.reload();
});

// -----------------------------------------------------------------------------------------------------------
// Start

setInterval(() => refreshTimes(), 30_000);
// Sessions go stale without a message: look again at a pace that notices it within a quarter of the limit.
setInterval(
  () => {
    list.invalidate();
    view?.renderState();
  },
  Math.min(15_000, Math.max(250, STALE_MS / 4)),
);
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible') refreshTimes();
});

async function start() {
  renderKeyButton();
  list.render();
  // One small request first: when the server wants a key, the dialog comes before anything else fails.
  try {
    await api('/sessions?limit=1');
  } catch {
    // Unreachable or failing: the feed retries and says so.
  }
  route(false);
  live.start();
  checkDecide();
}

start();
