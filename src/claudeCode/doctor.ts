import { HOOKS_PATH, type ServerTarget } from './hookCommand';
import type { Spool } from './spool';

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

/**
 * What `agent-session-manager doctor` checks: the server answers, the key is accepted (when the server
 * wants one), the hooks route is there; and how many hooks wait in the spool. Writes nothing on the server.
 */
export async function runDoctor(target: ServerTarget, spool: Spool, timeoutMs = 5000): Promise<Check[]> {
  const checks: Check[] = [];
  const get = (path: string, init: RequestInit = {}) =>
    fetch(target.url + path, {
      ...init,
      headers: { ...(target.apiKey ? { authorization: `Bearer ${target.apiKey}` } : {}), ...(init.headers as Record<string, string>) },
      signal: AbortSignal.timeout(timeoutMs),
    });

  try {
    const health = await get('/health');
    checks.push({ name: 'server', ok: health.ok, detail: `${target.url} answered ${health.status}` });
  } catch (err) {
    checks.push({ name: 'server', ok: false, detail: `${target.url} cannot be reached: ${(err as Error).cause ?? (err as Error).message}` });
    return [...checks, spoolCheck(spool)];
  }

  const listing = await get('/sessions?limit=1');
  if (listing.status === 401) {
    checks.push({ name: 'key', ok: false, detail: target.apiKey ? 'ASM_API_KEY was refused' : 'the server needs a key: set ASM_API_KEY' });
  } else {
    checks.push({ name: 'key', ok: listing.ok, detail: target.apiKey ? 'ASM_API_KEY accepted' : `no key needed (${listing.status})` });
  }

  // An empty object is refused (no session_id) without storing anything; a 404 means a server without hooks.
  const probe = await get(HOOKS_PATH, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  const routeOk = probe.status === 400;
  checks.push({ name: 'hooks route', ok: routeOk, detail: routeOk ? `${HOOKS_PATH} is there` : `${HOOKS_PATH} answered ${probe.status}` });
  return [...checks, spoolCheck(spool)];
}

function spoolCheck(spool: Spool): Check {
  const waiting = spool.list().length;
  // Waiting hooks are not a fault: the next hook run sends them once the server answers.
  return {
    name: 'spool',
    ok: true,
    detail: waiting === 0 ? `empty (${spool.dir})` : `${waiting} hook(s) wait in ${spool.dir}; the next hook run sends them`,
  };
}
