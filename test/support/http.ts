export interface Reply<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

/**
 * A small JSON client for one server: `api.post('/sessions', body)` → status, parsed body, headers.
 * The base URL may be given as a function, for a server that starts later (in beforeAll).
 */
export function apiClient(base: string | (() => string)) {
  const baseUrl = () => (typeof base === 'string' ? base : base());
  const send = async <T = any>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply<T>> => {
    const init: RequestInit = { method, headers: { ...headers } };
    if (body !== undefined) {
      init.body = typeof body === 'string' ? body : JSON.stringify(body);
      (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
    }
    const response = await fetch(baseUrl() + path, init);
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      // Not JSON: keep the text, so an assertion on the body shows what came back.
    }
    return { status: response.status, body: parsed as T, headers: response.headers };
  };
  return {
    get: <T = any>(path: string, headers?: Record<string, string>) => send<T>('GET', path, undefined, headers),
    post: <T = any>(path: string, body?: unknown, headers?: Record<string, string>) => send<T>('POST', path, body, headers),
    patch: <T = any>(path: string, body?: unknown, headers?: Record<string, string>) => send<T>('PATCH', path, body, headers),
    delete: <T = any>(path: string, headers?: Record<string, string>) => send<T>('DELETE', path, undefined, headers),
    send,
  };
}

export type ApiClient = ReturnType<typeof apiClient>;

/** `/sessions/<id>` with the id percent-encoded, as clients must send it. */
export const sessionPath = (id: string, rest = '') => `/sessions/${encodeURIComponent(id)}${rest}`;
