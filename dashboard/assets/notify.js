// Browser notifications, opt-in: a toggle in the top bar asks for the permission (only when clicked) and
// then, while the page is in the background, says when an approval waits, a session waits for input, or a
// session failed. The choice is kept in localStorage; the browser's permission stays the browser's.

import { announce, h, icon } from './dom.js';

const STORAGE = 'asm.notifications';

const supported = () => typeof window.Notification === 'function';

export class Notifier {
  /**
   * @param {HTMLElement} holder where the toggle goes
   * @param {object} options sessionName(id); open(sessionId) — shows a session (a notification was clicked)
   */
  constructor(holder, { sessionName, open }) {
    this.sessionName = sessionName;
    this.open = open;
    /** Notifications shown, by tag, so a decided approval's can be closed. */
    this.shown = new Map();
    this.label = h('span', { class: 'notify-label' });
    this.button = h('button', { type: 'button', class: 'button small notify-toggle', id: 'notify-toggle' }, icon('bell'), this.label);
    this.button.addEventListener('click', () => this.toggle());
    this.button.hidden = !supported();
    holder.append(this.button);
    this.render();
  }

  get enabled() {
    if (!supported() || window.Notification.permission !== 'granted') return false;
    try {
      return window.localStorage.getItem(STORAGE) === 'on';
    } catch {
      return this.memory === true;
    }
  }

  set enabled(on) {
    this.memory = on;
    try {
      window.localStorage.setItem(STORAGE, on ? 'on' : 'off');
    } catch {
      // Storage disabled: the choice lasts as long as the page.
    }
  }

  async toggle() {
    if (this.enabled) {
      this.enabled = false;
      announce('Notifications off');
    } else {
      // The permission is asked for here only: on a click, as browsers want.
      let permission = window.Notification.permission;
      if (permission === 'default') permission = await window.Notification.requestPermission();
      if (permission === 'granted') {
        this.enabled = true;
        announce('Notifications on: approvals waiting, sessions waiting for input, failed sessions');
      } else {
        announce('Notifications are blocked for this site: allow them in the browser’s site settings');
      }
    }
    this.render();
  }

  render() {
    const on = this.enabled;
    this.button.setAttribute('aria-pressed', String(on));
    this.label.textContent = on ? 'Notifying' : 'Notify me';
    this.button.title = on
      ? 'Notifications on (approvals waiting, sessions waiting for input, failed sessions); click to turn them off'
      : 'Get a browser notification when an approval waits, a session waits for input or a session fails';
  }

  show(tag, title, body, sessionId) {
    if (!this.enabled) return;
    // Someone looking at the page sees it there.
    if (document.visibilityState === 'visible' && document.hasFocus()) return;
    try {
      const notification = new window.Notification(title, { body, tag, icon: '/assets/favicon.svg' });
      notification.addEventListener('click', () => {
        window.focus();
        this.open(sessionId);
        notification.close();
      });
      notification.addEventListener('close', () => {
        if (this.shown.get(tag) === notification) this.shown.delete(tag);
      });
      this.shown.set(tag, notification);
    } catch {
      // Some browsers (Chrome on Android) allow notifications from a service worker only.
    }
  }

  close(tag) {
    this.shown.get(tag)?.close();
    this.shown.delete(tag);
  }

  approvalRequested(approval) {
    const tool = typeof approval.tool_name === 'string' ? approval.tool_name : 'A tool';
    const name = this.sessionName(approval.session_id) ?? approval.session_id;
    const input = approval.tool_input;
    const what = input && typeof input === 'object' ? (input.command ?? input.file_path ?? input.url ?? '') : '';
    this.show(`approval:${approval.id}`, `${tool} waits for approval`, [name, typeof what === 'string' ? what : ''].filter(Boolean).join('\n'), approval.session_id);
  }

  approvalDecided(approval) {
    this.close(`approval:${approval.id}`);
  }

  /** A session changed: say so when it starts waiting for input, or has just failed. */
  sessionChanged(before, after) {
    if (!before || !after) return;
    const name = after.session_name ?? after.session_id;
    if (after.waiting_for === 'input' && before.waiting_for !== 'input') {
      this.show(`input:${after.session_id}`, 'A session waits for you', name, after.session_id);
    } else if (after.waiting_for !== 'input') this.close(`input:${after.session_id}`);
    const failed = (s) => s.status === 'finished' && s.outcome === 'failed';
    if (failed(after) && !failed(before)) this.show(`failed:${after.session_id}`, 'A session failed', name, after.session_id);
  }
}
