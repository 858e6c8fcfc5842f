import type { Pool } from '../db/pool';
import { withTransaction } from './tx';

/** An alert of the outbox, as the triggers of migration 1764054000020 wrote it. */
export interface OutboxAlert {
  id: number;
  kind: string;
  sessionId: string | null;
  /** kind, session_id, session_name, project_dir and what the kind adds (approval, cost_usd, budget_usd, percent …). */
  payload: Record<string, unknown>;
  createdAt: Date;
  attempts: number;
  /** The webhook URLs that acknowledged it already. */
  deliveredTo: string[];
}

/** What one attempt at an alert achieved. */
export interface AttemptOutcome {
  /** URLs that acknowledged it in this attempt. */
  delivered: string[];
  /** Whether every URL has it now. */
  done: boolean;
  /** Why the rest failed. */
  error?: string;
}

export interface AlertStore {
  /**
   * Takes at most `limit` alerts that are due, each in a transaction of its own that locks it (`FOR UPDATE
   * SKIP LOCKED`: another instance takes others or none), runs `attempt`, and records what it achieved before
   * the lock is released; a failed attempt is due again after `retryDelayMs(attempts)`, until it is `maxAgeMs`
   * old. Returns how many were attempted.
   */
  sendDue(options: { limit: number; maxAgeMs: number; retryDelayMs: (attempts: number) => number }, attempt: (alert: OutboxAlert) => Promise<AttemptOutcome>): Promise<number>;
  /** Deletes alerts done (or given up) longer ago than `hours`; returns how many. */
  prune(hours: number): Promise<number>;
}

export function alertStore({ pool }: { pool: Pool }): AlertStore {
  return {
    async sendDue({ limit, maxAgeMs, retryDelayMs }, attempt) {
      let attempted = 0;
      while (attempted < limit) {
        const took = await withTransaction(pool, async (tx) => {
          const { rows } = await tx.query(
            `select id, kind, session_id, payload, created_at, attempts, delivered_to from alerts
             where done_at is null and next_attempt_at <= now()
             order by next_attempt_at, id
             limit 1
             for update skip locked`,
          );
          const row = rows[0];
          if (!row) return false;
          const alert: OutboxAlert = {
            id: Number(row.id),
            kind: row.kind,
            sessionId: row.session_id,
            payload: row.payload,
            createdAt: row.created_at,
            attempts: row.attempts,
            deliveredTo: row.delivered_to,
          };
          const outcome = await attempt(alert);
          const attempts = alert.attempts + 1;
          const tooOld = Date.now() - alert.createdAt.getTime() >= maxAgeMs;
          await tx.query(
            `update alerts set attempts = $2, delivered_to = delivered_to || $3::text[], last_error = $4,
               done_at = case when $5 then now() end, next_attempt_at = now() + make_interval(secs => $6::float8 / 1000)
             where id = $1`,
            [alert.id, attempts, outcome.delivered, outcome.error ?? null, outcome.done || tooOld, retryDelayMs(attempts)],
          );
          return true;
        });
        if (!took) break;
        attempted += 1;
      }
      return attempted;
    },
    async prune(hours) {
      const { rowCount } = await pool.query(
        `delete from alerts where (done_at is not null and done_at < now() - make_interval(hours => $1))
                                  or created_at < now() - make_interval(hours => $1 + 48)`,
        [hours],
      );
      return rowCount ?? 0;
    },
  };
}
