import http from 'node:http';
import type { Spool, CapturedHook, SpoolState } from './spool';

// Node builtins only, and `http` rather than `fetch` (whose first call loads undici: ~200 ms of CPU per
// hook on a busy machine): this file is part of the hook script the plugin ships (plugin/scripts/asm-hook.js).

/** Where the hook command sends hooks, from the environment (`ASM_URL`, `ASM_API_KEY`). */
export interface ServerTarget {
  url: string;
  apiKey: string | undefined;
}

export const DEFAULT_SERVER_URL = 'http://127.0.0.1:8765';
export const HOOKS_PATH = '/hooks/claude-code';
/** One id per captured hook, sent with every attempt, so a spooled hook posted twice is stored once. */
export const CAPTURE_ID_HEADER = 'x-capture-id';
/** When the hook command read the hook (ISO 8601 with ms), sent with every attempt: the event's time. */
export const CAPTURED_AT_HEADER = 'x-captured-at';

/**
 * A version-4 UUID for a capture id. It only has to be unique, not secret: Math.random (with the clock and
 * the pid mixed in) rather than node:crypto, whose loading alone costs every hook 5 ms.
 */
export function captureId(): string {
  const hex = Array.from({ length: 32 }, () => Math.floor(Math.random() * 16));
  const stamp = (Date.now() * 1000 + process.pid) % 2 ** 48;
  for (let i = 0; i < 12; i++) hex[i] = (hex[i]! + Math.floor(stamp / 16 ** i)) % 16;
  hex[12] = 4;
  hex[16] = 8 + (hex[16]! % 4);
  const text = hex.map((digit) => digit.toString(16)).join('');
  return `${text.slice(0, 8)}-${text.slice(8, 12)}-${text.slice(12, 16)}-${text.slice(16, 20)}-${text.slice(20)}`;
}

export function serverTarget(env: NodeJS.ProcessEnv): ServerTarget {
  return { url: (env.ASM_URL || DEFAULT_SERVER_URL).replace(/\/+$/, ''), apiKey: env.ASM_API_KEY || undefined };
}

/** The hook command's knobs, from the environment; every one has a default. */
export interface DeliverySettings {
  /** A hook run ends within this (ASM_HOOK_TIMEOUT_MS). */
  timeoutMs: number;
  /** Larger hooks go to the detached sender at once, never holding the agent (ASM_HOOK_INLINE_MAX_BYTES). */
  inlineMaxBytes: number;
  /** 5xx answers (or sender timeouts) for one hook before it is set aside (ASM_HOOK_MAX_ATTEMPTS). */
  maxAttempts: number;
  /** Backoff between tries: doubles from the first, capped at the second, with jitter (ASM_RETRY_BASE_MS, ASM_RETRY_MAX_MS). */
  retryBaseMs: number;
  retryMaxMs: number;
  /** How long a detached sender keeps trying before it leaves the rest for later (ASM_SENDER_MAX_MS). */
  senderMaxMs: number;
  /**
   * A PermissionRequest's run waits up to this for the server's answer, which a person's decision may hold
   * (ASM_DECISION_TIMEOUT_MS; above the server's APPROVAL_HOLD_SECONDS, below the hook's own timeout).
   */
  decisionTimeoutMs: number;
}

const positive = (value: string | undefined, fallback: number) => (Number(value) > 0 ? Number(value) : fallback);

export function deliverySettings(env: NodeJS.ProcessEnv): DeliverySettings {
  return {
    timeoutMs: positive(env.ASM_HOOK_TIMEOUT_MS, 3000),
    inlineMaxBytes: positive(env.ASM_HOOK_INLINE_MAX_BYTES, 1024 * 1024),
    maxAttempts: positive(env.ASM_HOOK_MAX_ATTEMPTS, 5),
    retryBaseMs: positive(env.ASM_RETRY_BASE_MS, 500),
    retryMaxMs: positive(env.ASM_RETRY_MAX_MS, 15_000),
    senderMaxMs: positive(env.ASM_SENDER_MAX_MS, 10 * 60_000),
    decisionTimeoutMs: positive(env.ASM_DECISION_TIMEOUT_MS, 330_000),
  };
}

/**
 * What became of one try:
 * - `delivered`: the server has it (2xx).
 * - `refused`: the server will never take it (a 4xx about the hook itself): set aside at once.
 * - `failed`: the server failed on it (5xx, or a sender's try timed out): counts toward setting it aside.
 * - `waiting`: nothing wrong with the hook (server unreachable, key refused, no hooks route there): retried,
 *   never set aside for it; doctor says what to fix.
 */
export type Answer =
  | { kind: 'delivered'; /** The server's answer (the hook's output), when it fits in 64 KB. */ body?: string }
  | { kind: 'refused' | 'failed' | 'waiting'; status?: number; message: string };

/** Posts one captured hook, with its capture id and time; never throws. */
export function postHook(target: ServerTarget, hook: CapturedHook, timeoutMs: number, { timeoutCounts = false } = {}): Promise<Answer> {
  return new Promise((resolve) => {
    let settled = false;
    const settle = (answer: Answer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(answer);
    };
    let url: URL;
    try {
      url = new URL(target.url + HOOKS_PATH);
    } catch {
      return settle({ kind: 'waiting', message: `ASM_URL is not a URL: ${target.url}` });
    }
    const transport: typeof http = url.protocol === 'https:' ? require('node:https') : http;
    const body = Buffer.from(hook.body, 'utf8');
    const headers: http.OutgoingHttpHeaders = { 'content-type': 'application/json', 'content-length': body.length, [CAPTURE_ID_HEADER]: hook.captureId };
    if (hook.capturedAt) headers[CAPTURED_AT_HEADER] = hook.capturedAt;
    if (target.apiKey) headers.authorization = `Bearer ${target.apiKey}`;
    const request = transport.request(url, { method: 'POST', headers }, (response) => {
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        if (size < ANSWER_MAX_BYTES) chunks.push(chunk);
        size += chunk.length;
      });
      response.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const answer = classify(response.statusCode ?? 0, text.slice(0, 300), target);
        settle(answer.kind === 'delivered' && size <= ANSWER_MAX_BYTES ? { kind: 'delivered', body: text } : answer);
      });
      response.on('error', () => settle({ kind: 'waiting', message: `${target.url}: the answer was cut off` }));
    });
    const timer = setTimeout(
      () => {
        settle({ kind: timeoutCounts ? 'failed' : 'waiting', message: `${target.url} gave no answer within ${timeoutMs} ms` });
        request.destroy();
      },
      Math.max(1, timeoutMs),
    );
    request.on('error', (err: NodeJS.ErrnoException) => settle({ kind: 'waiting', message: `${target.url} cannot be reached (${err.code ?? err.message})` }));
    request.end(body);
  });
}

// The most of a server's answer kept: a decision is a few hundred bytes.
const ANSWER_MAX_BYTES = 64 * 1024;

function classify(status: number, text: string, target: ServerTarget): Answer {
  if (status >= 200 && status < 300) return { kind: 'delivered' };
  const said = text ? `: ${text.replace(/\s+/g, ' ')}` : '';
  if (status === 401 || status === 403) {
    return { kind: 'waiting', status, message: `${target.url} refused the key (${status}); ${target.apiKey ? 'ASM_API_KEY is not one of its keys' : 'set ASM_API_KEY'}` };
  }
  if (status === 404 || status === 405) return { kind: 'waiting', status, message: `${target.url} has no hooks route (${status}): is ASM_URL this server?` };
  // 503 too: the server is there and says "later" (its database unreachable, or its hook byte budget full).
  if (status === 408 || status === 425 || status === 429 || status === 503) return { kind: 'waiting', status, message: `${target.url} asked to come back later (${status})` };
  if (status >= 400 && status < 500) return { kind: 'refused', status, message: `the server refused the hook (${status})${said}` };
  if (status >= 500) return { kind: 'failed', status, message: `the server failed on the hook (${status})${said}` };
  return { kind: 'waiting', status, message: `${target.url} answered ${status}` };
}

/** The pause before the next try after `failures` failed ones in a row: doubling, capped, half of it random. */
export function retryDelay(failures: number, settings: Pick<DeliverySettings, 'retryBaseMs' | 'retryMaxMs'>): number {
  const full = Math.min(settings.retryMaxMs, settings.retryBaseMs * 2 ** Math.max(0, Math.min(failures - 1, 30)));
  return Math.round(full / 2 + (Math.random() * full) / 2);
}

export interface FlushReport {
  delivered: number;
  deadLettered: number;
  /** Something still waits (the oldest could not go now, or its turn has not come). */
  blocked: boolean;
}

export interface FlushOptions {
  target: ServerTarget;
  settings: DeliverySettings;
  /** Nothing is started after this (ms since the epoch). */
  deadline: number;
  /**
   * `inline`: a hook run, within its budget: it keeps to the retry pacing and leaves large entries to the
   * sender. `sender`: the detached sender or `flush`: every entry, with time to send it.
   */
  mode: 'inline' | 'sender';
  log: (line: string) => void;
}

// A sender gives a large hook time to travel: a minute, and a second more per megabyte.
const senderTimeout = (bytes: number) => 60_000 + Math.ceil(bytes / 1_000_000) * 1000;

/**
 * Sends the spooled hooks, oldest first, until the spool is empty or one cannot go. Call under the lock.
 * A hook refused for good, or failed on `maxAttempts` times, is moved to the dead-letter folder with the
 * reason, and the next one goes: one bad hook never holds back the rest.
 */
export async function flushSpool(spool: Spool, options: FlushOptions): Promise<FlushReport> {
  const report: FlushReport = { delivered: 0, deadLettered: 0, blocked: false };
  const { settings } = options;
  for (;;) {
    const name = spool.list()[0];
    if (name === undefined) return report;
    const state = spool.state();
    const now = Date.now();
    if (options.mode === 'inline' && (state.retryAt > now || spool.size(name) > settings.inlineMaxBytes)) return { ...report, blocked: true };
    const remaining = options.deadline - now;
    if (remaining <= 0) return { ...report, blocked: true };
    const hook = spool.read(name);
    if (!hook) {
      // Dropped by another run's trim meanwhile, or a file that is not a hook: then it can never go.
      if (spool.has(name)) {
        spool.deadLetter(name, { reason: 'the spooled file is not a hook entry', at: new Date().toISOString(), attempts: 0 });
        report.deadLettered += 1;
      }
      continue;
    }
    const timeout = options.mode === 'inline' ? remaining : Math.min(remaining, senderTimeout(hook.body.length));
    const answer = await postHook(options.target, hook, timeout, { timeoutCounts: options.mode === 'sender' });
    if (answer.kind === 'delivered') {
      spool.remove(name);
      spool.saveState({ attempts: 0, failures: 0, retryAt: 0 });
      report.delivered += 1;
      continue;
    }
    const attempts = answer.kind === 'waiting' ? (state.head === name ? state.attempts : 0) : (state.head === name ? state.attempts : 0) + 1;
    if (answer.kind === 'refused' || (answer.kind === 'failed' && attempts >= settings.maxAttempts)) {
      const reason = answer.kind === 'refused' ? answer.message : `${answer.message} (${attempts} tries)`;
      spool.deadLetter(name, { reason, status: answer.status, at: new Date().toISOString(), attempts });
      spool.saveState({ attempts: 0, failures: 0, retryAt: 0 });
      options.log(`agent-session-manager: a hook was set aside in ${spool.deadDir}: ${reason}`);
      report.deadLettered += 1;
      continue;
    }
    spool.saveState(failedState(name, attempts, state.failures + 1, answer, settings));
    return { ...report, blocked: true };
  }
}

function failedState(head: string, attempts: number, failures: number, answer: Exclude<Answer, { kind: 'delivered' }>, settings: DeliverySettings): SpoolState {
  return {
    head,
    attempts,
    failures,
    retryAt: Date.now() + retryDelay(failures, settings),
    lastError: { at: new Date().toISOString(), message: answer.message, status: answer.status },
  };
}

export interface HookCommandOptions {
  target: ServerTarget;
  spool: Spool;
  settings: DeliverySettings;
  /** When the input had been read (ISO 8601); now, if not given. */
  capturedAt?: string;
  log: (line: string) => void;
  /** Starts the detached sender (if none runs): called whenever this run leaves something in the spool. */
  startSender: () => void;
}

export interface HookRunReport {
  /** `delivered`: the server has it; `spooled`: it waits (behind older hooks, or for the server); `dead`: refused for good. */
  outcome: 'delivered' | 'spooled' | 'dead';
  /** Spooled hooks delivered before this one. */
  flushed: number;
  /** Hooks waiting in the spool afterwards. */
  waiting: number;
  /** What the server answered this hook (when delivered): the hook's output, for the hooks that decide. */
  answer?: string;
}

/** Hooks whose answer the command prints, as Claude Code reads a command hook's output: the server may decide on them. */
export const DECIDING_HOOKS = ['PermissionRequest', 'PreToolUse'];

const hookEventName = (input: string): string | undefined => {
  try {
    const name = (JSON.parse(input) as { hook_event_name?: unknown }).hook_event_name;
    return typeof name === 'string' ? name : undefined;
  } catch {
    return undefined;
  }
};

/**
 * One run of `agent-session-manager hook`: the spooled hooks first, oldest first, then this one, all within
 * the budget. A hook that cannot go now is spooled and a detached sender started, so order is kept and
 * nothing waits for the next hook. A hook larger than `inlineMaxBytes` goes to the sender at once: the
 * agent never waits for it, and a hook the server is still storing is never sent twice over. Never throws.
 */
export async function runHookCommand(input: string, options: HookCommandOptions): Promise<HookRunReport> {
  const { spool, settings, log } = options;
  const started = Date.now();
  // A PermissionRequest waits for a person's decision (the server answers `{}` once its hold ends).
  const deadline = started + (hookEventName(input) === 'PermissionRequest' ? Math.max(settings.timeoutMs, settings.decisionTimeoutMs) : settings.timeoutMs);
  let answerText: string | undefined;
  const hook: CapturedHook = { captureId: captureId(), capturedAt: options.capturedAt ?? new Date(started).toISOString(), body: input };
  let outcome: HookRunReport['outcome'] = 'spooled';
  let flushed = 0;
  const spoolIt = () => {
    const dropped = spool.append(hook);
    if (dropped > 0) log(`agent-session-manager: spool full, dropped the ${dropped} oldest hook(s)`);
  };
  try {
    if (Buffer.byteLength(input) > settings.inlineMaxBytes) {
      spoolIt();
    } else {
      // A run holding the lock usually finishes within milliseconds: wait a little rather than spool.
      const ran = await spool.withLock(
        async () => {
          const before = await flushSpool(spool, { target: options.target, settings, deadline, mode: 'inline', log });
          flushed = before.delivered;
          if (before.blocked) {
            spoolIt();
            return true;
          }
          const answer = await postHook(options.target, hook, deadline - Date.now());
          if (answer.kind === 'delivered') {
            outcome = 'delivered';
            answerText = answer.body;
          } else if (answer.kind === 'refused') {
            spool.deadLetterHook(hook, { reason: answer.message, status: answer.status, at: new Date().toISOString(), attempts: 1 });
            log(`agent-session-manager: a hook was set aside in ${spool.deadDir}: ${answer.message}`);
            outcome = 'dead';
          } else {
            spoolIt();
            const head = spool.list()[0];
            if (head !== undefined) spool.saveState(failedState(head, answer.kind === 'failed' ? 1 : 0, spool.state().failures + 1, answer, settings));
          }
          return true;
        },
        { waitMs: Math.min(1000, settings.timeoutMs / 3) },
      );
      if (ran === undefined) spoolIt();
    }
  } catch (err) {
    log(`agent-session-manager: ${(err as Error).message}`);
  }
  const waiting = safeCount(spool);
  if (waiting > 0) {
    try {
      options.startSender();
    } catch (err) {
      log(`agent-session-manager: could not start the sender: ${(err as Error).message}`);
    }
  }
  return { outcome, flushed, waiting, ...(answerText === undefined ? {} : { answer: answerText }) };
}

const safeCount = (spool: Spool) => {
  try {
    return spool.list().length;
  } catch {
    return 0;
  }
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The detached sender: while the spool holds hooks, sends them (under the lock, keeping to the retry
 * pacing), for at most `senderMaxMs`. One per spool: returns at once if another runs.
 */
export async function runSender(spool: Spool, options: { target: ServerTarget; settings: DeliverySettings; log: (line: string) => void }): Promise<void> {
  if (!spool.claimSender()) return;
  const end = Date.now() + options.settings.senderMaxMs;
  try {
    for (;;) {
      if (spool.list().length === 0) {
        // A hook appended just before this release found the pid file and started nobody: look once more.
        spool.releaseSender();
        if (spool.list().length === 0 || !spool.claimSender()) return;
      }
      const now = Date.now();
      if (now >= end) return;
      const wait = spool.state().retryAt - now;
      if (wait > 0) {
        await sleep(Math.min(wait, end - now));
        continue;
      }
      const ran = await spool.withLock(() => flushSpool(spool, { ...options, deadline: end, mode: 'sender' }));
      if (ran === undefined) await sleep(100 + Math.random() * 150);
    }
  } finally {
    spool.releaseSender();
  }
}

export interface FlushCommandReport extends FlushReport {
  /** Dead-lettered hooks sent again and delivered (with `retryDead`). */
  revived: number;
  waiting: number;
  dead: number;
  /** Why the oldest waiting hook could not go, if one could not. */
  lastError?: string;
  /** Another run held the spool for longer than we waited. */
  busy: boolean;
}

/** `flush`: sends the spool now (and with `retryDead` the dead-letter folder first, oldest first), ignoring the pacing. */
export async function flushNow(
  spool: Spool,
  options: { target: ServerTarget; settings: DeliverySettings; retryDead?: boolean; timeoutMs?: number; log: (line: string) => void },
): Promise<FlushCommandReport> {
  const deadline = Date.now() + (options.timeoutMs ?? 120_000);
  let revived = 0;
  const ran = await spool.withLock(
    async () => {
      spool.saveState({ ...spool.state(), retryAt: 0 });
      if (options.retryDead) {
        for (const name of spool.listDead()) {
          const { hook, why } = spool.readDead(name);
          if (!hook) continue;
          const answer = await postHook(options.target, hook, Math.max(1, Math.min(deadline - Date.now(), senderTimeout(hook.body.length))), { timeoutCounts: true });
          if (answer.kind === 'delivered') {
            spool.removeDead(name);
            revived += 1;
          } else {
            spool.updateDead(name, { reason: answer.message, status: answer.status, at: new Date().toISOString(), attempts: (why?.attempts ?? 0) + 1 });
          }
        }
      }
      return flushSpool(spool, { target: options.target, settings: options.settings, deadline, mode: 'sender', log: options.log });
    },
    { waitMs: 10_000 },
  );
  const state = spool.state();
  const waiting = safeCount(spool);
  return {
    delivered: ran?.delivered ?? 0,
    deadLettered: ran?.deadLettered ?? 0,
    blocked: ran?.blocked ?? true,
    revived,
    waiting,
    dead: spool.listDead().length,
    lastError: waiting > 0 ? state.lastError?.message : undefined,
    busy: ran === undefined,
  };
}
