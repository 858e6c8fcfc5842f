import { createHash, timingSafeEqual } from 'node:crypto';
import { SCOPES, type ApiKey, type Caller, type Scope } from '../domain/key';
import type { Logger } from '../logger';
import type { KeyStore, StoredKey } from '../store/keys';
import { parseApiKey, secretDigest } from './apiKey';

/** Who calls when the server requires no key: anyone local, with every scope. */
export const NOBODY: Caller = Object.freeze({ key: null, id: null, scopes: new Set<Scope>(SCOPES) });

const ALL_SCOPES: Scope[] = [...SCOPES];
const sha256 = (text: string) => createHash('sha256').update(text).digest();
// Compared against when no key has the presented id, so that an unknown id costs what a known one does.
const NO_DIGEST = Buffer.alloc(32);

export interface KeyringOptions {
  keys: Pick<KeyStore, 'load' | 'recordUse'>;
  /** The keys of API_KEYS: admin keys with every scope, named env-1, env-2, … in their order. */
  environmentKeys: readonly string[];
  logger: Logger;
}

/**
 * This instance's copy of the API keys, so that checking a request costs no query. It is read at start, again
 * whenever the change log says the keys changed (a keys_changed change: see the listener), and once a minute
 * in case. Keys are held as digests and compared in constant time. When a key was last used is noted here and
 * written with flushUses(), about once a minute, never per request.
 */
export class Keyring {
  private readonly environment: { name: string; digest: Buffer }[];
  private live = new Map<string, StoredKey>();
  private anyCreated = false;
  private uses = new Map<string, Date>();
  private reloading: Promise<void> | null = null;
  private reloadAgain = false;
  private readonly reloadListeners: (() => void)[] = [];

  constructor(private readonly options: KeyringOptions) {
    this.environment = options.environmentKeys.map((key, i) => ({ name: `env-${i + 1}`, digest: sha256(key) }));
  }

  /** Whether requests need a key: API_KEYS is set, or a key was ever created (even if all are revoked since). */
  get required(): boolean {
    return this.environment.length > 0 || this.anyCreated;
  }

  /**
   * Who presents `presented`: NOBODY while no key is required (whatever is presented), the key's caller when it
   * is valid, undefined when it is absent, unknown or revoked.
   */
  identify(presented: string | undefined): Caller | undefined {
    if (!this.required) return NOBODY;
    if (presented === undefined) return undefined;
    const parsed = parseApiKey(presented);
    if (parsed) {
      const stored = this.live.get(parsed.id);
      const matches = timingSafeEqual(secretDigest(parsed.secret), stored?.secretSha256 ?? NO_DIGEST);
      if (!stored || !matches) return undefined;
      this.uses.set(stored.id, new Date());
      return { key: stored.name, id: stored.id, scopes: new Set(stored.scopes) };
    }
    // Every key of API_KEYS is compared, so timing tells neither which one nearly matched nor where.
    const candidate = sha256(presented);
    let found: string | undefined;
    for (const known of this.environment) if (timingSafeEqual(candidate, known.digest)) found ??= known.name;
    return found ? { key: found, id: found, scopes: new Set(ALL_SCOPES) } : undefined;
  }

  /** Whether the key with this id (a caller's `id`) is still valid and holds `scope`. */
  grants(id: string, scope: Scope): boolean {
    if (this.environment.some((key) => key.name === id)) return true;
    return this.live.get(id)?.scopes.includes(scope) ?? false;
  }

  /** The keys of API_KEYS as GET /keys lists them. */
  environmentKeys(): ApiKey[] {
    return this.environment.map(({ name }) => ({ name, scopes: ALL_SCOPES, prefix: null, source: 'environment', created_at: null, last_used_at: null, revoked_at: null }));
  }

  /** Calls `listener` after each reload (a revoked key's WebSockets are closed so). */
  onReload(listener: () => void): void {
    this.reloadListeners.push(listener);
  }

  /**
   * Reads the keys again. Calls made while a read runs share one more read after it, so a change committed
   * meanwhile is seen. Rejects (keeping the keys it had) if the database cannot be read.
   */
  reload(): Promise<void> {
    if (this.reloading) {
      this.reloadAgain = true;
      return this.reloading;
    }
    this.reloading = (async () => {
      try {
        do {
          this.reloadAgain = false;
          const { live, anyCreated } = await this.options.keys.load();
          this.live = new Map(live.map((key) => [key.id, key]));
          this.anyCreated = anyCreated;
          for (const listener of this.reloadListeners) listener();
        } while (this.reloadAgain);
      } finally {
        this.reloading = null;
      }
    })();
    return this.reloading;
  }

  /** Writes when each key was last used here, since the last call; on failure the uses wait for the next call. */
  async flushUses(): Promise<void> {
    if (this.uses.size === 0) return;
    const uses = this.uses;
    this.uses = new Map();
    try {
      await this.options.keys.recordUse(uses);
    } catch (err) {
      for (const [id, at] of uses) if (!this.uses.has(id)) this.uses.set(id, at);
      throw err;
    }
  }
}
