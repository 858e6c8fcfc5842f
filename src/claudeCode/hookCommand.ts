import { randomUUID } from 'node:crypto';
import { Spool, type CapturedHook } from './spool';

/** Where the hook command sends hooks, from the environment (`ASM_URL`, `ASM_API_KEY`). */
export interface ServerTarget {
  url: string;
  apiKey: string | undefined;
}

export const DEFAULT_SERVER_URL = 'http://127.0.0.1:8765';
export const HOOKS_PATH = '/hooks/claude-code';
/** One id per captured hook, sent with every attempt, so a spooled hook posted twice is stored once. */
export const CAPTURE_ID_HEADER = 'x-capture-id';

export function serverTarget(env: NodeJS.ProcessEnv): ServerTarget {
  return { url: (env.ASM_URL || DEFAULT_SERVER_URL).replace(/\/+$/, ''), apiKey: env.ASM_API_KEY || undefined };
}

export interface HookCommandOptions {
  target: ServerTarget;
  spool: Spool;
  /** The whole run, flushing included, ends within this; what is not sent by then stays spooled. */
  timeoutMs: number;
  log: (line: string) => void;
}

export interface HookRunReport {
  /** Spooled hooks delivered (or refused for good) before this one. */
  flushed: number;
  /** Whether this run's hook reached the server; else it is spooled. */
  delivered: boolean;
  /** Hooks still waiting in the spool. */
  waiting: number;
}

type Outcome = 'delivered' | 'refused' | 'retry';

/**
 * One run of `agent-session-manager hook`: first the spooled hooks, oldest first, then this one. A hook
 * goes to the spool when the server cannot take it now (unreachable, 5xx, a key problem), so order is
 * kept: while older hooks wait, a new one waits behind them. Never throws.
 */
export async function runHookCommand(input: string, options: HookCommandOptions): Promise<HookRunReport> {
  const deadline = Date.now() + options.timeoutMs;
  const hook: CapturedHook = { captureId: randomUUID(), body: input };
  let flushed = 0;
  let delivered = false;
  const spool = options.spool;
  const run = async () => {
    for (;;) {
      const names = spool.list();
      const name = names[0];
      if (name === undefined) break;
      const spooled = spool.read(name);
      const outcome = spooled ? await send(spooled, options.target, deadline, options.log) : 'refused';
      if (outcome === 'retry') return false;
      spool.remove(name);
      flushed += 1;
    }
    const outcome = await send(hook, options.target, deadline, options.log);
    delivered = outcome === 'delivered';
    return outcome !== 'retry';
  };
  try {
    // Another run flushing meanwhile: this hook queues behind what it is sending.
    const done = await spool.withLock(run);
    if (done !== true) {
      const dropped = spool.append(hook);
      if (dropped > 0) options.log(`agent-session-manager: spool full, dropped the ${dropped} oldest hook(s)`);
    }
  } catch (err) {
    options.log(`agent-session-manager: ${(err as Error).message}`);
  }
  return { flushed, delivered, waiting: safeCount(spool) };
}

const safeCount = (spool: Spool) => {
  try {
    return spool.list().length;
  } catch {
    return 0;
  }
};

async function send(hook: CapturedHook, target: ServerTarget, deadline: number, log: (line: string) => void): Promise<Outcome> {
  const remaining = deadline - Date.now();
  if (remaining <= 0) return 'retry';
  try {
    const response = await fetch(target.url + HOOKS_PATH, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        [CAPTURE_ID_HEADER]: hook.captureId,
        ...(target.apiKey ? { authorization: `Bearer ${target.apiKey}` } : {}),
      },
      body: hook.body,
      signal: AbortSignal.timeout(remaining),
    });
    const text = await response.text();
    if (response.ok) return 'delivered';
    // Input the server will never take (malformed, too large): keeping it would block every later hook.
    if ([400, 413, 415, 422].includes(response.status)) {
      log(`agent-session-manager: the server refused a hook (${response.status}): ${text.slice(0, 200)}`);
      return 'refused';
    }
    log(`agent-session-manager: the server answered ${response.status}; the hook is kept to send later`);
    return 'retry';
  } catch {
    return 'retry';
  }
}
