import type { Queryable } from '../db/pool';
import type { AuditEntry } from '../domain/key';

/** An admin action to record: which key did it (by name; null when the server requires none), to what, and how. */
export interface AuditRecord {
  action: string;
  key: string | null;
  target?: string | null;
  details?: Record<string, unknown>;
}

export interface AuditPage {
  entries: AuditEntry[];
  /** Pass as `cursor` for older entries; null on the last page. */
  nextCursor: string | null;
}

/** The audit trail of admin actions. */
export interface AuditStore {
  /** Records one action on its own; an action the store runs itself records it in its own transaction. */
  record(entry: AuditRecord): Promise<void>;
  /** As auditPage(). */
  page(request: { cursor?: number; limit: number }): Promise<AuditPage>;
}

export function auditStore({ pool }: { pool: Queryable }): AuditStore {
  return {
    record: (entry) => recordAudit(pool, entry),
    page: (request) => auditPage(pool, request),
  };
}

/** Writes one entry of the audit trail on `db`: inside a transaction, it commits (or not) with the action. */
export async function recordAudit(db: Queryable, { action, key, target = null, details = {} }: AuditRecord): Promise<void> {
  await db.query('insert into audit_log (key_name, action, target, details) values ($1, $2, $3, $4::jsonb)', [key, action, target, JSON.stringify(details)]);
}

/** Entries newest first, `limit` at a time, each page after the `cursor` the previous one handed out. */
export async function auditPage(db: Queryable, { cursor, limit }: { cursor?: number; limit: number }): Promise<AuditPage> {
  const { rows } = await db.query<{ id: string; at: Date; key_name: string | null; action: string; target: string | null; details: Record<string, unknown> }>(
    `select id, at, key_name, action, target, details from audit_log
     where $1::bigint is null or id < $1
     order by id desc
     limit $2`,
    [cursor ?? null, limit + 1],
  );
  const entries = rows.slice(0, limit).map((row) => ({
    id: Number(row.id),
    at: row.at.toISOString(),
    key: row.key_name,
    action: row.action,
    target: row.target,
    details: row.details,
  }));
  return { entries, nextCursor: rows.length > limit ? String(entries[entries.length - 1]!.id) : null };
}
