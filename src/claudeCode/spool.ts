import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

// Node builtins only: this file is part of the hook script the plugin ships (plugin/scripts/asm-hook.js).

/** A hook input as captured by the hook command, with the id that makes a second delivery harmless. */
export interface CapturedHook {
  captureId: string;
  /** When the hook command had read the input (ISO 8601, ms); absent in entries spooled by older versions. */
  capturedAt?: string;
  /** The hook input exactly as read from stdin. */
  body: string;
}

/** Why a hook was set aside in the dead-letter folder. */
export interface DeadLetterReason {
  reason: string;
  /** The server's answer, when it gave one. */
  status?: number;
  at: string;
  attempts: number;
}

export interface SpoolLimits {
  /** Past either limit the oldest entries are dropped: the spool never fills the disk. */
  maxEntries: number;
  maxBytes: number;
}

// Large tool outputs are spooled by design (the detached sender delivers them), so room for a few.
export const DEFAULT_SPOOL_LIMITS: SpoolLimits = { maxEntries: 10_000, maxBytes: 256 * 1024 * 1024 };

/**
 * Where the oldest waiting hook stands, written under the lock by whoever tried it last: the retry pacing
 * every run follows, and what doctor shows as the reason hooks wait.
 */
export interface SpoolState {
  /** The entry `attempts` counts for: the oldest one when it was last tried. */
  head?: string;
  /** Answers that count toward setting the head aside (5xx, a sender's timeout). */
  attempts: number;
  /** Failed tries in a row, whatever the cause: the backoff grows with them. */
  failures: number;
  /** Nobody tries before this (ms since the epoch): hooks arriving meanwhile queue without touching the network. */
  retryAt: number;
  lastError?: { at: string; message: string; status?: number };
}

const EMPTY_STATE: SpoolState = { attempts: 0, failures: 0, retryAt: 0 };

/** The user's cache folder for this tool: $XDG_CACHE_HOME, ~/Library/Caches on macOS, %LOCALAPPDATA% on Windows. */
export function defaultSpoolDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.ASM_SPOOL_DIR) return env.ASM_SPOOL_DIR;
  const home = env.HOME || os.homedir();
  const cache =
    env.XDG_CACHE_HOME ||
    (process.platform === 'darwin'
      ? path.join(home, 'Library', 'Caches')
      : process.platform === 'win32'
        ? env.LOCALAPPDATA || path.join(home, 'AppData', 'Local')
        : path.join(home, '.cache'));
  return path.join(cache, 'agent-session-manager', 'spool');
}

// Entry names sort in capture order: the clock in microseconds, a counter for entries of this process
// within one tick, then the process and a random tie-breaker (Math.random: node:crypto alone would add
// 5 ms to every hook's start).
let appended = 0;
const randomHex = (digits: number) => Array.from({ length: digits }, () => Math.floor(Math.random() * 16).toString(16)).join('');
const entryName = () => {
  const micros = Math.floor((performance.timeOrigin + performance.now()) * 1000);
  appended = (appended + 1) % 1_000_000;
  return `${String(micros).padStart(17, '0')}-${String(appended).padStart(6, '0')}-${process.pid}-${randomHex(8)}.json`;
};
const isEntry = (name: string) => /^\d{17}-\d{6}-\d+-[0-9a-f]{8}\.json$/.test(name);

const pidAlive = (pid: number) => {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: a process of another user holds the number; alive as far as we can tell.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

const readJson = (file: string): unknown => {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
};

/** Writes whole (temporary name, then rename), so a reader never sees half a file. */
const writeWhole = (file: string, text: string) => {
  const temporary = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  fs.writeFileSync(temporary, text, { mode: 0o600 });
  fs.renameSync(temporary, file);
};

/**
 * Hook inputs that could not be delivered yet, one file each, in capture order, in a folder of their own;
 * beside them `dead/` (hooks the server refused for good, each with a `.why` file), `state.json` (the retry
 * pacing), `flush.lock` (one sender at a time) and `sender.pid` (the detached sender, if one runs).
 */
export class Spool {
  readonly deadDir: string;

  constructor(
    readonly dir: string,
    private readonly limits: SpoolLimits = DEFAULT_SPOOL_LIMITS,
  ) {
    this.deadDir = path.join(dir, 'dead');
  }

  /** Entry file names, oldest first. */
  list(): string[] {
    return listEntries(this.dir);
  }

  read(name: string): CapturedHook | undefined {
    return parseHook(readJson(path.join(this.dir, name)));
  }

  /** Whether the entry is still there (another run's trim may have dropped it). */
  has(name: string): boolean {
    return fs.existsSync(path.join(this.dir, name));
  }

  size(name: string): number {
    return fs.statSync(path.join(this.dir, name), { throwIfNoEntry: false })?.size ?? 0;
  }

  remove(name: string): void {
    fs.rmSync(path.join(this.dir, name), { force: true });
  }

  /** Appends a hook; returns how many of the oldest entries were dropped to stay within the limits. */
  append(hook: CapturedHook): number {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    writeWhole(path.join(this.dir, entryName()), JSON.stringify(hook));
    return this.trim();
  }

  private trim(): number {
    const entries = this.list().map((name) => ({ name, size: this.size(name) }));
    let total = entries.reduce((sum, entry) => sum + entry.size, 0);
    let dropped = 0;
    while (entries.length > 1 && (entries.length > this.limits.maxEntries || total > this.limits.maxBytes)) {
      const oldest = entries.shift()!;
      this.remove(oldest.name);
      total -= oldest.size;
      dropped += 1;
    }
    return dropped;
  }

  /** Moves a spooled entry to the dead-letter folder, with the reason beside it. */
  deadLetter(name: string, why: DeadLetterReason): void {
    fs.mkdirSync(this.deadDir, { recursive: true, mode: 0o700 });
    writeWhole(path.join(this.deadDir, `${name}.why`), JSON.stringify(why));
    try {
      fs.renameSync(path.join(this.dir, name), path.join(this.deadDir, name));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }

  /** Writes a hook that never was spooled straight to the dead-letter folder. */
  deadLetterHook(hook: CapturedHook, why: DeadLetterReason): void {
    fs.mkdirSync(this.deadDir, { recursive: true, mode: 0o700 });
    const name = entryName();
    writeWhole(path.join(this.deadDir, `${name}.why`), JSON.stringify(why));
    writeWhole(path.join(this.deadDir, name), JSON.stringify(hook));
  }

  /** Dead-lettered entries, oldest first. */
  listDead(): string[] {
    return listEntries(this.deadDir);
  }

  readDead(name: string): { hook: CapturedHook | undefined; why: DeadLetterReason | undefined } {
    const why = readJson(path.join(this.deadDir, `${name}.why`)) as DeadLetterReason | undefined;
    return { hook: parseHook(readJson(path.join(this.deadDir, name))), why: why && typeof why.reason === 'string' ? why : undefined };
  }

  updateDead(name: string, why: DeadLetterReason): void {
    writeWhole(path.join(this.deadDir, `${name}.why`), JSON.stringify(why));
  }

  removeDead(name: string): void {
    fs.rmSync(path.join(this.deadDir, name), { force: true });
    fs.rmSync(path.join(this.deadDir, `${name}.why`), { force: true });
  }

  state(): SpoolState {
    const value = readJson(path.join(this.dir, 'state.json')) as Partial<SpoolState> | undefined;
    if (!value || typeof value !== 'object') return { ...EMPTY_STATE };
    return {
      head: typeof value.head === 'string' ? value.head : undefined,
      attempts: Number(value.attempts) || 0,
      failures: Number(value.failures) || 0,
      retryAt: Number(value.retryAt) || 0,
      lastError: value.lastError && typeof value.lastError.message === 'string' ? value.lastError : undefined,
    };
  }

  /** Only under the lock. */
  saveState(state: SpoolState): void {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    writeWhole(path.join(this.dir, 'state.json'), JSON.stringify(state));
  }

  /**
   * Runs `work` while holding the spool's lock (a folder, made atomically, with the holder's pid inside),
   * so one run at a time sends and the order holds. Waits up to `waitMs` for a holder to finish; then
   * `undefined`. A lock whose holder has died, or that nobody has touched for `staleMs`, is taken over;
   * the holder touches it every few seconds while it works.
   */
  async withLock<T>(work: () => Promise<T>, { waitMs = 0, staleMs = 30_000 }: { waitMs?: number; staleMs?: number } = {}): Promise<T | undefined> {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const lock = path.join(this.dir, 'flush.lock');
    const giveUpAt = Date.now() + waitMs;
    for (let pause = 5; ; pause = Math.min(pause * 2, 50)) {
      if (this.tryLock(lock, staleMs)) break;
      if (Date.now() + pause > giveUpAt) return undefined;
      await new Promise((resolve) => setTimeout(resolve, pause));
    }
    const touch = setInterval(
      () => {
        const now = new Date();
        try {
          fs.utimesSync(lock, now, now);
        } catch {
          // Taken over meanwhile: nothing to keep fresh.
        }
      },
      Math.max(1000, staleMs / 4),
    );
    touch.unref();
    try {
      return await work();
    } finally {
      clearInterval(touch);
      fs.rmSync(lock, { recursive: true, force: true });
    }
  }

  private tryLock(lock: string, staleMs: number): boolean {
    try {
      fs.mkdirSync(lock);
      fs.writeFileSync(path.join(lock, 'pid'), String(process.pid));
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const age = Date.now() - (fs.statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? 0);
    const holder = Number(readText(path.join(lock, 'pid')));
    // A lock with no pid yet is being made right now, unless it is old.
    const holderGone = holder > 0 ? !pidAlive(holder) : false;
    if (!holderGone && age < staleMs) return false;
    fs.rmSync(lock, { recursive: true, force: true });
    try {
      fs.mkdirSync(lock);
      fs.writeFileSync(path.join(lock, 'pid'), String(process.pid));
      return true;
    } catch {
      return false;
    }
  }

  /** Whether a detached sender is running for this spool. */
  senderRunning(): boolean {
    return pidAlive(Number(readText(path.join(this.dir, 'sender.pid'))));
  }

  /** Makes this process the spool's one sender; false if another one runs. */
  claimSender(): boolean {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const file = path.join(this.dir, 'sender.pid');
    for (let tries = 0; tries < 2; tries++) {
      try {
        fs.writeFileSync(file, String(process.pid), { flag: 'wx', mode: 0o600 });
        return true;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        if (this.senderRunning()) return false;
        fs.rmSync(file, { force: true });
      }
    }
    return false;
  }

  releaseSender(): void {
    const file = path.join(this.dir, 'sender.pid');
    if (Number(readText(file)) === process.pid) fs.rmSync(file, { force: true });
  }
}

function listEntries(dir: string): string[] {
  try {
    return fs.readdirSync(dir).filter(isEntry).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

function parseHook(value: unknown): CapturedHook | undefined {
  const hook = value as CapturedHook | undefined;
  if (!hook || typeof hook.captureId !== 'string' || typeof hook.body !== 'string') return undefined;
  return { captureId: hook.captureId, capturedAt: typeof hook.capturedAt === 'string' ? hook.capturedAt : undefined, body: hook.body };
}

function readText(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return '';
  }
}
