// The REST API, and the API key when the server wants one. With API_KEYS set, a request without a key gets
// 401 {"detail":"Not authenticated"}: the dashboard then asks for a key once (whatever the number of
// requests that were refused together), keeps it in sessionStorage (this tab only) and retries.

const KEY_STORAGE = 'asm.apiKey';

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
    this.detail = detail;
  }
}

/** The server could not be reached at all. */
export class NetworkError extends Error {}

export function getApiKey() {
  try {
    return sessionStorage.getItem(KEY_STORAGE) || null;
  } catch {
    return memoryKey;
  }
}

let memoryKey = null;

function setApiKey(key) {
  memoryKey = key;
  try {
    if (key) sessionStorage.setItem(KEY_STORAGE, key);
    else sessionStorage.removeItem(KEY_STORAGE);
  } catch {
    // Storage disabled: the key lives as long as the page.
  }
  keyListeners.forEach((listener) => listener(key));
}

const keyListeners = new Set();
export const onApiKeyChange = (listener) => keyListeners.add(listener);

export function forgetApiKey() {
  setApiKey(null);
}

let pendingKey = null;
let dismissed = false;
const dismissListeners = new Set();
export const onApiKeyDismissed = (listener) => dismissListeners.add(listener);

/**
 * Shows the key dialog and resolves with the key entered; concurrent callers share one dialog. Dismissed
 * (Escape), it rejects with a 401 ApiError, and requests refused for want of a key fail from then on
 * instead of asking again, until a key is entered (see the "Enter API key" button).
 */
export function askForApiKey(rejected) {
  if (pendingKey) return pendingKey;
  dismissed = false;
  pendingKey = new Promise((resolve, reject) => {
    const dialog = document.getElementById('key-dialog');
    const form = dialog.querySelector('form');
    const input = dialog.querySelector('input');
    const message = dialog.querySelector('[data-key-message]');
    message.textContent = rejected ? 'That key was not accepted. Enter a valid API key.' : 'This server requires an API key.';
    message.classList.toggle('error-text', Boolean(rejected));
    input.value = '';
    let submitted = false;
    const onSubmit = (event) => {
      event.preventDefault();
      const key = input.value.trim();
      if (!key) {
        input.focus();
        return;
      }
      submitted = true;
      form.removeEventListener('submit', onSubmit);
      dialog.removeEventListener('close', onClose);
      dialog.close();
      pendingKey = null;
      setApiKey(key);
      resolve(key);
    };
    const onClose = () => {
      // A close event queued by an earlier prompt may arrive while this one is open: not ours.
      if (dialog.open || submitted) return;
      form.removeEventListener('submit', onSubmit);
      dialog.removeEventListener('close', onClose);
      pendingKey = null;
      dismissed = true;
      dismissListeners.forEach((listener) => listener());
      reject(new ApiError(401, 'Not authenticated'));
    };
    form.addEventListener('submit', onSubmit);
    dialog.addEventListener('close', onClose);
    if (!dialog.open) dialog.showModal();
    input.focus();
  });
  return pendingKey;
}

function detailOf(body, status) {
  if (body && typeof body.detail === 'string') return body.detail;
  if (body && Array.isArray(body.detail)) {
    return body.detail.map((item) => `${(item.loc ?? []).join('.')}: ${item.msg ?? ''}`).join('; ');
  }
  return `HTTP ${status}`;
}

/** A JSON request to the server; resolves with the parsed body of a 2xx, else throws ApiError/NetworkError. */
export async function api(path, { method = 'GET', body, signal } = {}) {
  for (;;) {
    const key = getApiKey();
    const headers = { accept: 'application/json' };
    if (key) headers.authorization = `Bearer ${key}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let response;
    try {
      response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store', signal });
    } catch (err) {
      if (err && err.name === 'AbortError') throw err;
      throw new NetworkError('The server cannot be reached');
    }
    const text = await response.text();
    let parsed;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (response.status === 401) {
      // Ask, unless someone else has meanwhile entered a new key: then just retry with it.
      if (getApiKey() === key) {
        if (dismissed) throw new ApiError(401, detailOf(parsed, 401));
        await askForApiKey(Boolean(key));
      }
      continue;
    }
    if (!response.ok) throw new ApiError(response.status, detailOf(parsed, response.status));
    return parsed;
  }
}

export const sessionUrl = (id, rest = '') => `/sessions/${encodeURIComponent(id)}${rest}`;
