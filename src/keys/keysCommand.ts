import type { ApiKey } from '../domain/key';

/** What `keys` needs from the process: where the server is, the admin key, and where to write. */
export interface KeysIo {
  env: NodeJS.ProcessEnv;
  out: (line: string) => void;
  err: (line: string) => void;
}

export const KEYS_USAGE = `usage: agent-session-manager keys <create|list|revoke> [options]

  keys create --name NAME --scope SCOPE [--scope SCOPE …]
                             create a key; it is printed once, alone on stdout (keep it: it is stored nowhere).
                             Scopes: ingest (hooks, OTLP, writes), read (reads, the live feed, the dashboard),
                             decide (answering approvals), admin (deletes, budgets, keys, the audit trail);
                             several as repeated --scope or one comma-separated list
  keys list [--json]         every key: name, scopes, created, last used (about once a minute), revoked
  keys revoke NAME           revoke a key: every instance refuses it within a second, its WebSockets are closed

  --url URL                  the server (default: $ASM_URL, else http://127.0.0.1:8765)
  The server is asked through its /keys resource with the admin key in $ASM_API_KEY (one of API_KEYS, or a key
  with the admin scope); a server that has no key yet needs none.`;

/** Every value of a repeated option (`--scope a --scope b`, `--scope=a,b`). */
function values(args: readonly string[], name: string): string[] {
  const found: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    let value: string | undefined;
    if (arg === name) {
      value = args[i + 1];
      if (value === undefined || value.startsWith('--')) throw new Error(`${name} needs a value`);
      i += 1;
    } else if (arg.startsWith(`${name}=`)) {
      value = arg.slice(name.length + 1);
    }
    if (value !== undefined)
      found.push(
        ...value
          .split(',')
          .map((item) => item.trim())
          .filter(Boolean),
      );
  }
  return found;
}

// The arguments that are not options nor their values.
function positional(args: readonly string[], withValues: readonly string[]): string[] {
  const found: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (withValues.includes(arg)) i += 1;
    else if (!arg.startsWith('--')) found.push(arg);
  }
  return found;
}

class ServerRefusal extends Error {}

async function call<T>(io: KeysIo, baseUrl: string, method: string, path: string, body?: unknown): Promise<T> {
  const key = io.env.ASM_API_KEY || undefined;
  let response: Response;
  try {
    response = await fetch(`${baseUrl}${path}`, {
      method,
      headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause;
    throw new ServerRefusal(`${baseUrl} cannot be reached (${cause?.code ?? (err as Error).message})`);
  }
  const text = await response.text();
  let parsed: { detail?: unknown } | undefined;
  try {
    parsed = text ? (JSON.parse(text) as { detail?: unknown }) : undefined;
  } catch {
    parsed = undefined;
  }
  if (response.ok) return parsed as T;
  const detail =
    typeof parsed?.detail === 'string'
      ? parsed.detail
      : Array.isArray(parsed?.detail)
        ? parsed.detail.map((item: { loc?: unknown[]; msg?: string }) => `${(item.loc ?? []).slice(1).join('.')}: ${item.msg}`).join('; ')
        : text.slice(0, 200);
  const hint =
    response.status === 401
      ? key
        ? ' (ASM_API_KEY is not a key of this server)'
        : ' (set ASM_API_KEY to an admin key)'
      : response.status === 403
        ? ' (ASM_API_KEY needs the admin scope)'
        : '';
  throw new ServerRefusal(`${baseUrl} answered ${response.status}: ${detail}${hint}`);
}

const when = (at: string | null) => (at ? at.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '-');

function table(keys: ApiKey[]): string[] {
  const rows = [
    ['NAME', 'SCOPES', 'KEY', 'CREATED', 'LAST USED', 'REVOKED'],
    ...keys.map((key) => [key.name, key.scopes.join(','), key.prefix ? `${key.prefix}_…` : 'API_KEYS', when(key.created_at), when(key.last_used_at), when(key.revoked_at)]),
  ];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) =>
    row
      .map((cell, column) => cell.padEnd(widths[column]!))
      .join('  ')
      .trimEnd(),
  );
}

/** `agent-session-manager keys …`: through the server's /keys resource. Resolves to the exit code. */
export async function runKeysCommand(args: readonly string[], io: KeysIo, serverUrl: (text: string) => string): Promise<number> {
  const [action, ...rest] = args;
  const urlGiven = values(rest, '--url');
  const baseUrl = serverUrl(urlGiven[urlGiven.length - 1] ?? io.env.ASM_URL ?? 'http://127.0.0.1:8765');
  try {
    switch (action) {
      case 'create': {
        const [name] = values(rest, '--name');
        const scopes = values(rest, '--scope');
        if (!name || scopes.length === 0) throw new Error('keys create needs --name NAME and at least one --scope SCOPE');
        const created = await call<{ key: ApiKey; secret: string }>(io, baseUrl, 'POST', '/keys', { name, scopes });
        io.err(`Created the key ${created.key.name} (${created.key.scopes.join(', ')}). It is shown this once and stored nowhere; keep it now:`);
        io.out(created.secret);
        return 0;
      }
      case 'list': {
        const { keys } = await call<{ keys: ApiKey[] }>(io, baseUrl, 'GET', '/keys');
        if (rest.includes('--json')) io.out(JSON.stringify(keys, null, 2));
        else for (const line of table(keys)) io.out(line);
        return 0;
      }
      case 'revoke': {
        const [name, ...more] = positional(rest, ['--url']);
        if (!name || more.length > 0) throw new Error('keys revoke takes one NAME');
        const { key } = await call<{ key: ApiKey }>(io, baseUrl, 'DELETE', `/keys/${encodeURIComponent(name)}`);
        io.out(`Revoked the key ${key.name} (${key.prefix}_…): every instance refuses it from now on.`);
        return 0;
      }
      default: {
        const help = action === undefined || action === '--help' || action === 'help';
        (help ? io.out : io.err)(KEYS_USAGE);
        return help ? 0 : 2;
      }
    }
  } catch (err) {
    io.err(`agent-session-manager keys: ${(err as Error).message}`);
    return 1;
  }
}
