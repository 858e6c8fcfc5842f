import type { Pool, Queryable } from '../db/pool';
import type { Approval, ApprovalState, Decision } from '../domain/approval';
import { recordAudit } from './audit';
import { withTransaction } from './tx';

/** A PermissionRequest to hold: the session exists (its hook event was stored first). */
export interface NewApproval {
  sessionId: string;
  toolName: string;
  toolInput: unknown;
  permissionSuggestions: unknown[] | null;
}

export type DecideResult = { outcome: 'decided'; approval: Approval } | { outcome: 'not_found' } | { outcome: 'not_pending'; approval: Approval };

/** The spend of a session against its cap. */
export interface SessionSpend {
  costUsd: number;
  budgetUsd: number | null;
}

/** Approvals: PermissionRequests held while a person decides. Every change is a change-log entry (migration 1764054000020). */
export interface ApprovalStore {
  /** As createApproval(). */
  create(request: NewApproval, onCreated?: (approval: Approval) => void): Promise<Approval>;
  get(id: number): Promise<Approval | null>;
  /** Across sessions, oldest first; only `state` when given. */
  list(filter: { state?: ApprovalState; limit: number }): Promise<Approval[]>;
  /** A session's approvals, oldest first. */
  listForSession(sessionId: string, limit: number): Promise<Approval[]>;
  /** As decideApproval(). */
  decide(id: number, decision: Decision, by: string | null): Promise<DecideResult>;
  /** As expireApproval(). */
  expire(id: number, reason: string): Promise<Approval | null>;
  /** As expireApproval(), for many at once (shutdown). */
  expireMany(ids: readonly number[], reason: string): Promise<void>;
  /**
   * Expires the approvals pending for longer than `seconds`: their instance stopped without answering (a crash,
   * a kill), so nobody holds them any more. Returns how many.
   */
  expireAbandoned(seconds: number): Promise<number>;
  /** A session's cost so far and its cap; null for a session that does not exist. */
  spend(sessionId: string): Promise<SessionSpend | null>;
  /** Sets the budget new sessions take (SESSION_BUDGET_USD); null: none. */
  setDefaultBudget(budgetUsd: number | null): Promise<void>;
  /** The pending approvals of those sessions (of every session without a filter), oldest first, as a JSON array's text: for a feed's init. */
  pendingJson(sessionIds: readonly string[] | undefined): Promise<string>;
}

export function approvalStore({ pool }: { pool: Pool }): ApprovalStore {
  return {
    create: (request, onCreated) => createApproval(pool, request, onCreated),
    get: (id) => getApproval(pool, id),
    list: (filter) => listApprovals(pool, filter),
    listForSession: (sessionId, limit) => listSessionApprovals(pool, sessionId, limit),
    decide: (id, decision, by) => decideApproval(pool, id, decision, by),
    expire: (id, reason) => expireApproval(pool, id, reason),
    expireMany: async (ids, reason) => {
      if (ids.length > 0) await pool.query(`update approvals set state = 'expired', reason = $2, decided_at = now() where id = any($1) and state = 'pending'`, [ids, reason]);
    },
    spend: (sessionId) => sessionSpend(pool, sessionId),
    pendingJson: async (sessionIds) => {
      const { rows } = await pool.query<{ approvals: string }>(
        `select coalesce(json_agg(asm_approval_json(a) order by a.requested_at, a.id), '[]')::text as approvals
         from approvals a where state = 'pending' and ($1::text[] is null or session_id = any($1))`,
        [sessionIds ?? null],
      );
      return rows[0]!.approvals;
    },
    expireAbandoned: async (seconds) => {
      const { rowCount } = await pool.query(
        `update approvals set state = 'expired', reason = 'no instance holds the hook any more', decided_at = now()
         where state = 'pending' and requested_at < now() - make_interval(secs => $1)`,
        [seconds],
      );
      return rowCount ?? 0;
    },
    setDefaultBudget: async (budgetUsd) => {
      await pool.query(
        `insert into asm_settings (name, value) values ('session_budget_usd', $1)
         on conflict (name) do update set value = excluded.value`,
        [budgetUsd === null ? null : String(budgetUsd)],
      );
    },
  };
}

const APPROVAL_JSON = 'asm_approval_json(a)';

/**
 * Stores a pending approval, its tool_use_id taken from the latest pre_tool of the session with the same tool
 * and input that no post_tool followed. `onCreated` runs before the commit, so that whoever waits for the
 * decision is registered before any decision can be committed.
 */
export async function createApproval(pool: Pool, request: NewApproval, onCreated?: (approval: Approval) => void): Promise<Approval> {
  return withTransaction(pool, async (tx) => {
    const { rows } = await tx.query<{ approval: Approval }>(
      `insert into approvals as a (session_id, tool_name, tool_input, permission_suggestions, tool_use_id)
       values ($1, $2, $3::json, $4::json, (
         select pre.tool_use_id from (
           select tool_use_id, tool_name, tool_input from events
           where session_id = $1 and event_type = 'pre_tool' and tool_use_id is not null
           order by id desc limit 50
         ) pre
         where pre.tool_name = $2 and pre.tool_input::jsonb = $3::jsonb
           and not exists (select 1 from events post where post.session_id = $1 and post.tool_use_id = pre.tool_use_id and post.event_type = 'post_tool')
         limit 1))
       returning ${APPROVAL_JSON} as approval`,
      [request.sessionId, request.toolName, JSON.stringify(request.toolInput), request.permissionSuggestions === null ? null : JSON.stringify(request.permissionSuggestions)],
    );
    const approval = rows[0]!.approval;
    onCreated?.(approval);
    return approval;
  });
}

export async function getApproval(db: Queryable, id: number): Promise<Approval | null> {
  const { rows } = await db.query<{ approval: Approval }>(`select ${APPROVAL_JSON} as approval from approvals a where id = $1`, [id]);
  return rows[0]?.approval ?? null;
}

async function listApprovals(db: Queryable, { state, limit }: { state?: ApprovalState; limit: number }): Promise<Approval[]> {
  const { rows } = await db.query<{ approval: Approval }>(
    state === 'pending'
      ? `select ${APPROVAL_JSON} as approval from approvals a where state = $1::text order by requested_at, id limit $2`
      : `select ${APPROVAL_JSON} as approval from approvals a where $1::text is null or state = $1 order by id limit $2`,
    [state ?? null, limit],
  );
  return rows.map((row) => row.approval);
}

async function listSessionApprovals(db: Queryable, sessionId: string, limit: number): Promise<Approval[]> {
  const { rows } = await db.query<{ approval: Approval }>(`select ${APPROVAL_JSON} as approval from approvals a where session_id = $1 order by id limit $2`, [sessionId, limit]);
  return rows.map((row) => row.approval);
}

/**
 * Decides a pending approval (allowed or denied), recorded in the audit trail in the same transaction as done by
 * the key named `by`. Not pending (decided, expired, answered in the terminal): nothing changes.
 */
export async function decideApproval(pool: Pool, id: number, { decision, reason, scope }: Decision, by: string | null): Promise<DecideResult> {
  return withTransaction(pool, async (tx) => {
    const { rows } = await tx.query<{ approval: Approval; was: ApprovalState }>(
      `with old as (select id, state from approvals where id = $1 for update)
       update approvals a set state = $2, reason = $3, scope = $4, decided_by = $5, decided_at = now()
       from old where a.id = old.id and old.state = 'pending'
       returning ${APPROVAL_JSON} as approval`,
      [id, decision === 'allow' ? 'allowed' : 'denied', reason ?? null, decision === 'allow' ? (scope ?? 'once') : null, by],
    );
    if (rows[0]) {
      const approval = rows[0].approval;
      await recordAudit(tx, {
        action: 'approval.decide',
        key: by,
        target: String(id),
        details: { session_id: approval.session_id, decision, scope: approval.scope, reason: reason ?? null },
      });
      return { outcome: 'decided', approval };
    }
    const current = await getApproval(tx, id);
    return current ? { outcome: 'not_pending', approval: current } : { outcome: 'not_found' };
  });
}

/** Marks a pending approval expired (with why); returns the approval as it stands after, decided or not; null if gone. */
export async function expireApproval(db: Queryable, id: number, reason: string): Promise<Approval | null> {
  const { rows } = await db.query<{ approval: Approval }>(
    `with expired as (
       update approvals set state = 'expired', reason = $2, decided_at = now() where id = $1 and state = 'pending' returning *
     )
     select asm_approval_json(a) as approval from expired a
     union all
     select asm_approval_json(a) from approvals a where id = $1 and not exists (select 1 from expired)`,
    [id, reason],
  );
  return rows[0]?.approval ?? null;
}

async function sessionSpend(db: Queryable, sessionId: string): Promise<SessionSpend | null> {
  const { rows } = await db.query<{ cost_usd_micros: string; budget_usd: string | null }>('select cost_usd_micros, budget_usd from sessions where session_id = $1', [sessionId]);
  if (!rows[0]) return null;
  return { costUsd: Number(rows[0].cost_usd_micros) / 1e6, budgetUsd: rows[0].budget_usd === null ? null : Number(rows[0].budget_usd) };
}
