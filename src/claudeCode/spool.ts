import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** A hook input as captured by the hook command, with the id that makes a second delivery harmless. */
export interface CapturedHook {
  captureId: string;
  /** The hook input exactly as read from stdin. */
  body: string;
}

export interface SpoolLimits {
  /** Past either limit the oldest entries are dropped: the spool never fills the disk. */
  maxEntries: number;
  maxBytes: number;
}

export const DEFAULT_SPOOL_LIMITS: SpoolLimits = { maxEntries: 10_000, maxBytes: 100 * 1024 * 1024 };

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
// within one tick, then the process and a random tie-breaker.
let appended = 0;
const entryName = () => {
  const micros = Math.floor((performance.timeOrigin + performance.now()) * 1000);
  appended = (appended + 1) % 1_000_000;
  return `${String(micros).padStart(17, '0')}-${String(appended).padStart(6, '0')}-${process.pid}-${randomBytes(4).toString('hex')}.json`;
};
const isEntry = (name: string) => /^\d{17}-\d{6}-\d+-[0-9a-f]{8}\.json$/.test(name);

/**
 * Hook inputs that could not be delivered, one file each, in capture order, in a folder of their own.
 * Files are written whole (temporary name, then rename), so a reader never sees half an entry.
 */
export class Spool {
  constructor(
    readonly dir: string,
    private readonly limits: SpoolLimits = DEFAULT_SPOOL_LIMITS,
  ) {}

  /** Entry file names, oldest first. */
  list(): string[] {
    try {
      return fs.readdirSync(this.dir).filter(isEntry).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  }

  read(name: string): CapturedHook | undefined {
    try {
      const value = JSON.parse(fs.readFileSync(path.join(this.dir, name), 'utf8')) as CapturedHook;
      return typeof value.captureId === 'string' && typeof value.body === 'string' ? value : undefined;
    } catch {
      // Removed by another run meanwhile, or unreadable: either way nothing to send.
      return undefined;
    }
  }

  remove(name: string): void {
    fs.rmSync(path.join(this.dir, name), { force: true });
  }

  /** Appends a hook; returns how many of the oldest entries were dropped to stay within the limits. */
  append(hook: CapturedHook): number {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const name = entryName();
    const temporary = path.join(this.dir, `.${name}.tmp`);
    fs.writeFileSync(temporary, JSON.stringify(hook), { mode: 0o600 });
    fs.renameSync(temporary, path.join(this.dir, name));
    return this.trim();
  }

  private trim(): number {
    const entries = this.list().map((name) => ({ name, size: fileSize(path.join(this.dir, name)) }));
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

  /**
   * Runs `work` while holding the spool's lock (a folder, made atomically), so one run at a time flushes
   * and the order holds; `undefined` if another run holds it. A lock older than `staleMs` was left by a
   * run that died, and is taken over.
   */
  async withLock<T>(work: () => Promise<T>, staleMs = 30_000): Promise<T | undefined> {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const lock = path.join(this.dir, 'flush.lock');
    try {
      fs.mkdirSync(lock);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const age = Date.now() - (fs.statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? 0);
      if (age < staleMs) return undefined;
      fs.rmSync(lock, { recursive: true, force: true });
      try {
        fs.mkdirSync(lock);
      } catch {
        return undefined;
      }
    }
    try {
      return await work();
    } finally {
      fs.rmSync(lock, { recursive: true, force: true });
    }
  }
}

const fileSize = (file: string) => fs.statSync(file, { throwIfNoEntry: false })?.size ?? 0;
