// The live feed: one WebSocket to /ws. It keeps the `seq` of the last change received and, when the
// connection drops, reconnects with backoff and `?since=<seq>`, so the server replays exactly what was
// missed (or answers resync_required and a fresh init). A message whose seq was seen before is ignored.

import { api, ApiError, getApiKey } from './api.js';

// Capped low: with the jitter a retry is at most 3.75 s away, so the page is back within 5 s of the server.
// Each attempt is one connection that fails at once while the server is down: cheap for both sides.
const BACKOFF_MS = [250, 500, 1000, 2000, 3000];
/** Failed attempts after which "reconnecting" becomes "offline". */
const OFFLINE_AFTER = 3;

export class LiveFeed {
  /**
   * @param {object} handlers
   *   onMessage(message) — init, session_created, session_updated, session_deleted, event;
   *   onState({ state, retryAt }) — state is connecting | connected | reconnecting | offline;
   *   onReconnect() — the connection is back after a drop (the replay follows).
   *   initLimit — init lists only this many sessions, the newest (its next_cursor pages to the rest).
   */
  constructor({ onMessage, onState, onReconnect, initLimit }) {
    this.onMessage = onMessage;
    this.initLimit = initLimit;
    this.onState = onState;
    this.onReconnect = onReconnect;
    this.lastSeq = null;
    this.socket = null;
    this.failures = 0;
    this.hadConnection = false;
    this.timer = null;
    this.state = 'connecting';
    this.retryAt = null;
    // The network is back, or the reader looks at the page again: try now rather than at the next retry.
    const retryNow = () => {
      if (this.timer !== null) this.reconnectNow();
    };
    window.addEventListener('online', retryNow);
    window.addEventListener('focus', retryNow);
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') retryNow();
    });
    window.addEventListener('offline', () => {
      if (this.state !== 'connected') this.setState('offline');
    });
  }

  start() {
    this.started = true;
    this.connect();
  }

  /** Drops the connection and opens a new one at once (after a new API key, or "Retry now"). */
  reconnectNow() {
    if (!this.started) return;
    clearTimeout(this.timer);
    this.timer = null;
    const socket = this.socket;
    this.socket = null;
    if (socket) socket.close();
    this.connect();
  }

  url() {
    const url = new URL('/ws', window.location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    if (this.lastSeq !== null) url.searchParams.set('since', String(this.lastSeq));
    // Asked for always: a resume the log no longer covers is answered with an init too.
    if (this.initLimit) url.searchParams.set('init_limit', String(this.initLimit));
    const key = getApiKey();
    if (key) url.searchParams.set('api_key', key);
    return url.href;
  }

  connect() {
    let opened = false;
    let socket;
    try {
      socket = new WebSocket(this.url());
    } catch {
      this.scheduleReconnect(false);
      return;
    }
    this.socket = socket;
    if (this.state !== 'reconnecting' && this.state !== 'offline') this.setState('connecting');
    socket.addEventListener('open', () => {
      if (this.socket !== socket) return;
      opened = true;
      this.failures = 0;
      // Resuming, the replay follows at once: connected now. Else connected once init has come.
      if (this.lastSeq !== null) this.setState('connected');
      if (this.hadConnection) this.onReconnect?.();
      this.hadConnection = true;
    });
    socket.addEventListener('message', (message) => {
      if (this.socket !== socket) return;
      let data;
      try {
        data = JSON.parse(message.data);
      } catch {
        return;
      }
      this.receive(data);
    });
    socket.addEventListener('close', () => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.scheduleReconnect(opened);
    });
  }

  receive(message) {
    if (!message || typeof message.type !== 'string') return;
    if (message.type === 'resync_required') {
      // A fresh init follows; until then nothing is known to be current.
      this.lastSeq = null;
      return;
    }
    if (message.type === 'init') {
      if (typeof message.seq === 'number') this.lastSeq = message.seq;
      this.onMessage(message);
      if (this.state !== 'connected') this.setState('connected');
      return;
    }
    if (typeof message.seq === 'number') {
      if (this.lastSeq !== null && message.seq <= this.lastSeq) return; // seen already
      this.lastSeq = message.seq;
    }
    this.onMessage(message);
  }

  scheduleReconnect(wasOpen) {
    if (wasOpen) this.failures = 0;
    this.failures += 1;
    const offline = navigator.onLine === false || this.failures > OFFLINE_AFTER;
    const delay = BACKOFF_MS[Math.min(this.failures - 1, BACKOFF_MS.length - 1)] * (1 + Math.random() * 0.25);
    this.retryAt = Date.now() + delay;
    this.setState(offline ? 'offline' : 'reconnecting');
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.connect();
    }, delay);
    if (!wasOpen) {
      // The upgrade was refused, or the server is down. A browser cannot see why; a REST request can: a
      // 401 makes api() ask for a key, and the new key reconnects at once (see onApiKeyChange in app.js).
      // Without a key (the dialog dismissed) there is no point in retrying until one is entered.
      api('/sessions?limit=1').catch((err) => {
        if (err instanceof ApiError && err.status === 401 && this.socket === null) {
          clearTimeout(this.timer);
          this.timer = null;
          this.retryAt = null;
          this.setState('unauthorized');
        }
      });
    }
  }

  setState(state) {
    if (state === 'connected') this.retryAt = null;
    this.state = state;
    this.onState({ state, retryAt: this.retryAt });
  }
}
