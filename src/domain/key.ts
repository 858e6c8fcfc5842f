/** What a key may do. Each route needs one (src/http/access.ts); a key holds any of them. */
export const SCOPES = ['ingest', 'read', 'decide', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

/** An API key as GET /keys lists it: never its secret, which is shown once, when it is created. */
export interface ApiKey {
  name: string;
  scopes: Scope[];
  /** The public start of the key, `asm_<id>`, to tell keys apart. `null` for a key of API_KEYS. */
  prefix: string | null;
  /** `database` (created through /keys or the CLI) or `environment` (one of API_KEYS, named env-1, env-2, …). */
  source: 'database' | 'environment';
  created_at: string | null;
  /** Written by each instance about once a minute, not per request. */
  last_used_at: string | null;
  revoked_at: string | null;
}

/** Who makes a request: the key it presented, or nobody when the server requires no key. */
export interface Caller {
  /** The key's name; null when the server requires no key (then every scope is granted). */
  readonly key: string | null;
  /** The key itself (its id, or env-N), which stays its own when a later key takes its name; null with `key`. */
  readonly id: string | null;
  readonly scopes: ReadonlySet<Scope>;
}

/** One entry of the audit trail, as GET /audit lists it. */
export interface AuditEntry {
  id: number;
  at: string;
  /** The name of the key that did it; null when the server required no key. */
  key: string | null;
  /** e.g. `session.delete`, `key.create`, `key.revoke`, `retention.pass`, `approval.decide`, `budget.set`. */
  action: string;
  /** What it was done to: a session id, a key name; null when nothing in particular. */
  target: string | null;
  details: Record<string, unknown>;
}
