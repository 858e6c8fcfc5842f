import type { Pool, Queryable } from '../db/pool';
import type { ApiKey, Scope } from '../domain/key';
import { keyPrefix, newApiKey } from '../keys/apiKey';
import { recordAudit } from './audit';
import { withTransaction } from './tx';

/** A key as every instance holds it in memory to check requests: its digest, never the key. */
export interface StoredKey {
  id: string;
  name: string;
  scopes: Scope[];
  secretSha256: Buffer;
}

export interface KeySet {
  /** The keys not revoked. */
  live: StoredKey[];
  /** Whether any key was ever created (revoked ones count): from then on, every request needs a key. */
  anyCreated: boolean;
}

/** API keys: created (the key shown once), listed, revoked; read whole by each instance's keyring. */
export interface KeyStore {
  /** As createKey(). */
  create(key: { name: string; scopes: Scope[] }, by: string | null): Promise<{ key: ApiKey; token: string } | null>;
  /** Every key created here, revoked ones included, oldest first. */
  list(): Promise<ApiKey[]>;
  /** As revokeKey(). */
  revoke(name: string, by: string | null): Promise<ApiKey | null>;
  /** As loadKeys(). */
  load(): Promise<KeySet>;
  /** As recordKeyUse(). */
  recordUse(uses: ReadonlyMap<string, Date>): Promise<void>;
}

export function keyStore({ pool }: { pool: Pool }): KeyStore {
  return {
    create: (key, by) => createKey(pool, key, by),
    list: () => listKeys(pool),
    revoke: (name, by) => revokeKey(pool, name, by),
    load: () => loadKeys(pool),
    recordUse: (uses) => recordKeyUse(pool, uses),
  };
}

const KEY_COLUMNS = 'id, name, scopes, created_at, last_used_at, revoked_at';

interface KeyRow {
  id: string;
  name: string;
  scopes: Scope[];
  created_at: Date;
  last_used_at: Date | null;
  revoked_at: Date | null;
}

const toApiKey = (row: KeyRow): ApiKey => ({
  name: row.name,
  scopes: row.scopes,
  prefix: keyPrefix(row.id),
  source: 'database',
  created_at: row.created_at.toISOString(),
  last_used_at: row.last_used_at?.toISOString() ?? null,
  revoked_at: row.revoked_at?.toISOString() ?? null,
});

/**
 * Creates a key and records who created it, in one transaction; the answer holds the key itself, which is
 * stored nowhere (only its digest): the caller shows it once. `null` when a key not revoked has that name.
 */
export async function createKey(pool: Pool, { name, scopes }: { name: string; scopes: Scope[] }, by: string | null): Promise<{ key: ApiKey; token: string } | null> {
  const fresh = newApiKey();
  return withTransaction(pool, async (tx) => {
    const { rows } = await tx.query<KeyRow>(
      `insert into api_keys (id, name, secret_sha256, scopes) values ($1, $2, $3, $4::text[])
       on conflict (name) where revoked_at is null do nothing
       returning ${KEY_COLUMNS}`,
      [fresh.id, name, fresh.secretSha256, [...new Set(scopes)]],
    );
    if (!rows[0]) return null;
    const key = toApiKey(rows[0]);
    await recordAudit(tx, { action: 'key.create', key: by, target: name, details: { scopes: key.scopes, prefix: key.prefix } });
    return { key, token: fresh.token };
  });
}

export async function listKeys(db: Queryable): Promise<ApiKey[]> {
  const { rows } = await db.query<KeyRow>(`select ${KEY_COLUMNS} from api_keys order by created_at, id`);
  return rows.map(toApiKey);
}

/** Revokes the key of that name that is not revoked yet, and records who did, in one transaction; `null` if there is none. */
export async function revokeKey(pool: Pool, name: string, by: string | null): Promise<ApiKey | null> {
  return withTransaction(pool, async (tx) => {
    const { rows } = await tx.query<KeyRow>(`update api_keys set revoked_at = now() where name = $1 and revoked_at is null returning ${KEY_COLUMNS}`, [name]);
    if (!rows[0]) return null;
    const key = toApiKey(rows[0]);
    await recordAudit(tx, { action: 'key.revoke', key: by, target: name, details: { prefix: key.prefix } });
    return key;
  });
}

/** The keys not revoked, with their digests, and whether any key was ever created. */
export async function loadKeys(db: Queryable): Promise<KeySet> {
  const { rows } = await db.query<{ id: string; name: string; scopes: Scope[]; secret_sha256: Buffer; revoked_at: Date | null }>(
    'select id, name, scopes, secret_sha256, revoked_at from api_keys',
  );
  return {
    live: rows.filter((row) => row.revoked_at === null).map((row) => ({ id: row.id, name: row.name, scopes: row.scopes, secretSha256: row.secret_sha256 })),
    anyCreated: rows.length > 0,
  };
}

/** Moves each key's last_used_at forward to when this instance last saw it used (never back); not a change. */
export async function recordKeyUse(db: Queryable, uses: ReadonlyMap<string, Date>): Promise<void> {
  if (uses.size === 0) return;
  await db.query(
    `update api_keys k set last_used_at = u.at
     from unnest($1::text[], $2::timestamptz[]) as u(id, at)
     where k.id = u.id and (k.last_used_at is null or k.last_used_at < u.at)`,
    [[...uses.keys()], [...uses.values()]],
  );
}
