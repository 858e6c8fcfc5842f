import type { Pool, Queryable } from '../db/pool';
import type { ApiRequestRecord, ToolResultRecord } from '../otlp/claudeCode';
import type { Usage } from '../domain/session';
import { toUsage, USAGE_COLUMNS, type UsageRow } from './records';
import { withTransaction } from './tx';

/** The usage of one turn of a session (one `prompt.id`). */
export interface TurnUsage extends Usage {
  prompt_id: string;
  first_request_at: string;
  last_request_at: string;
}

/** How a tool call ended, as Claude Code's OpenTelemetry logs tell it, with the hook event it belongs to. */
export interface ToolResult {
  tool_use_id: string;
  tool_name: string | null;
  success: boolean | null;
  duration_ms: number | null;
  error: string | null;
  occurred_at: string;
  /** The id of the session's `post_tool` event with this `tool_use_id`; null while the hook has not reported it. */
  event_id: number | null;
}

/** What Claude Code's OpenTelemetry logs tell: usage and tool results. */
export interface UsageStore {
  /** As recordUsage(). */
  record(apiRequests: readonly ApiRequestRecord[], toolResults: readonly ToolResultRecord[]): Promise<UsageRecorded>;
  turns(sessionId: string): Promise<TurnUsage[]>;
  toolResults(sessionId: string): Promise<ToolResult[]>;
  /** Summed over every session, on the few connections of whole lists: as usageTotals(). */
  totals(): Promise<UsageTotals>;
  /** As prunePendingUsage(). */
  prunePending(retentionHours: number): Promise<number>;
}

export function usageStore({ pool, readPool }: { pool: Pool; readPool: Pool }): UsageStore {
  return {
    record: (apiRequests, toolResults) => recordUsage(pool, apiRequests, toolResults),
    turns: (sessionId) => listTurnUsage(pool, sessionId),
    toolResults: (sessionId) => listToolResults(pool, sessionId),
    totals: () => usageTotals(readPool),
    prunePending: (retentionHours) => prunePendingUsage(pool, retentionHours),
  };
}

/** What recordUsage() left out: api_request records whose counts would take a total past a bigint. */
export interface UsageRecorded {
  rejected: number;
  reason: string | null;
}

const BIGINT_MAX = 2n ** 63n - 1n;
// The totals kept in bigint columns, each with the record's field that adds to it.
const SUMMED = [
  ['input_tokens', 'inputTokens'],
  ['output_tokens', 'outputTokens'],
  ['cache_read_tokens', 'cacheReadTokens'],
  ['cache_creation_tokens', 'cacheCreationTokens'],
  ['cost_usd_micros', 'costUsdMicros'],
  ['api_duration_ms', 'durationMs'],
] as const;

/**
 * The api_request records that keep every total of their session within a bigint, in order, and how many
 * would not. A session's totals are its columns when it exists, else the sum of what waits for it (which
 * its creation adds up: were that past a bigint, the session could never be created). A turn's totals are
 * part of its session's, so they stay within as well.
 */
async function withinBigint(tx: Queryable, apiRequests: readonly ApiRequestRecord[], sessionIds: readonly string[]): Promise<{ kept: ApiRequestRecord[]; rejected: number }> {
  const columns = SUMMED.map(([column]) => column);
  const { rows } = await tx.query(
    `select id, ${columns.map((c) => `coalesce(s.${c}::numeric, p.${c}, 0)::text as ${c}`).join(', ')}
     from unnest($1::text[]) as id
     left join sessions s on s.session_id = id
     cross join lateral (
       select ${columns.map((c) => `sum(r.${c === 'api_duration_ms' ? 'duration_ms' : c}) as ${c}`).join(', ')}
       from usage_requests r where s.session_id is null and r.session_id = id
     ) p`,
    [sessionIds],
  );
  const totals = new Map<string, bigint[]>(rows.map((row: Record<string, string>) => [row.id!, columns.map((c) => BigInt(row[c]!))]));
  const kept: ApiRequestRecord[] = [];
  let rejected = 0;
  for (const request of apiRequests) {
    const current = totals.get(request.sessionId)!;
    const next = SUMMED.map(([, field], i) => current[i]! + BigInt(request[field]));
    if (next.some((total) => total > BIGINT_MAX)) {
      rejected += 1;
      continue;
    }
    totals.set(request.sessionId, next);
    kept.push(request);
  }
  return { kept, rejected };
}

/**
 * Stores the records of one OTLP request in one transaction: each API request once (a record sent again is
 * skipped), its turn's and its session's totals raised by what was new, and tool results once each.
 * Each session is updated by one statement, so clients hear one `session_updated` per session per request.
 * A session that does not exist yet gets its totals when it is created (see the usage migration).
 */
export async function recordUsage(pool: Pool, allApiRequests: readonly ApiRequestRecord[], toolResults: readonly ToolResultRecord[]): Promise<UsageRecorded> {
  if (allApiRequests.length === 0 && toolResults.length === 0) return { rejected: 0, reason: null };
  const sessionIds = [...new Set(allApiRequests.map((request) => request.sessionId))].sort();
  return withTransaction(pool, async (tx) => {
    let apiRequests = allApiRequests;
    let rejected = 0;
    if (sessionIds.length > 0) {
      // The same lock as the trigger that gives a new session its pending totals, taken in one order.
      await tx.query(`select pg_advisory_xact_lock(hashtext('asm_usage'), hashtext(id)) from unnest($1::text[]) as id`, [sessionIds]);
      // Session rows locked in the order every writer of events uses, so that this cannot deadlock with them.
      await tx.query('select 1 from sessions where session_id = any($1::text[]) order by session_id for no key update', [sessionIds]);
      ({ kept: apiRequests, rejected } = await withinBigint(tx, allApiRequests, sessionIds));
    }
    await tx.query(
      `with stored as (
         insert into usage_requests (session_id, record_key, prompt_id, model, input_tokens, output_tokens, cache_read_tokens,
                                     cache_creation_tokens, cost_usd_micros, duration_ms, occurred_at)
         select * from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::bigint[],
                              $8::bigint[], $9::bigint[], $10::bigint[], $11::timestamptz[])
         on conflict (session_id, record_key) do nothing
         returning *
       ), turns as (
         insert into usage_turns as t (session_id, prompt_id, input_tokens, output_tokens, cache_read_tokens, cache_creation_tokens,
                                       cost_usd_micros, api_requests, api_duration_ms, models, first_request_at, last_request_at)
         select session_id, prompt_id, sum(input_tokens), sum(output_tokens), sum(cache_read_tokens), sum(cache_creation_tokens),
                sum(cost_usd_micros), count(*), sum(duration_ms),
                coalesce(array_agg(distinct model order by model) filter (where model is not null), '{}'),
                min(occurred_at), max(occurred_at)
         from stored where prompt_id is not null
         group by session_id, prompt_id
         on conflict (session_id, prompt_id) do update set
           input_tokens = t.input_tokens + excluded.input_tokens,
           output_tokens = t.output_tokens + excluded.output_tokens,
           cache_read_tokens = t.cache_read_tokens + excluded.cache_read_tokens,
           cache_creation_tokens = t.cache_creation_tokens + excluded.cache_creation_tokens,
           cost_usd_micros = t.cost_usd_micros + excluded.cost_usd_micros,
           api_requests = t.api_requests + excluded.api_requests,
           api_duration_ms = t.api_duration_ms + excluded.api_duration_ms,
           models = array(select distinct m from unnest(t.models || excluded.models) m order by m),
           first_request_at = least(t.first_request_at, excluded.first_request_at),
           last_request_at = greatest(t.last_request_at, excluded.last_request_at)
       ), tools as (
         insert into tool_results (session_id, tool_use_id, tool_name, success, duration_ms, error, occurred_at)
         select * from unnest($12::text[], $13::text[], $14::text[], $15::boolean[], $16::float8[], $17::text[], $18::timestamptz[])
         on conflict (session_id, tool_use_id) do nothing
       )
       update sessions s set
         input_tokens = s.input_tokens + added.input_tokens,
         output_tokens = s.output_tokens + added.output_tokens,
         cache_read_tokens = s.cache_read_tokens + added.cache_read_tokens,
         cache_creation_tokens = s.cache_creation_tokens + added.cache_creation_tokens,
         cost_usd_micros = s.cost_usd_micros + added.cost_usd_micros,
         api_requests = s.api_requests + added.api_requests,
         api_duration_ms = s.api_duration_ms + added.api_duration_ms,
         models = array(select distinct m from unnest(s.models || added.models) m order by m)
       from (select session_id, sum(input_tokens) as input_tokens, sum(output_tokens) as output_tokens,
                    sum(cache_read_tokens) as cache_read_tokens, sum(cache_creation_tokens) as cache_creation_tokens,
                    sum(cost_usd_micros) as cost_usd_micros, count(*) as api_requests, sum(duration_ms) as api_duration_ms,
                    coalesce(array_agg(distinct model) filter (where model is not null), '{}') as models
             from stored group by session_id) added
       where s.session_id = added.session_id`,
      [
        apiRequests.map((r) => r.sessionId),
        apiRequests.map((r) => r.recordKey),
        apiRequests.map((r) => r.promptId),
        apiRequests.map((r) => r.model),
        apiRequests.map((r) => r.inputTokens),
        apiRequests.map((r) => r.outputTokens),
        apiRequests.map((r) => r.cacheReadTokens),
        apiRequests.map((r) => r.cacheCreationTokens),
        apiRequests.map((r) => r.costUsdMicros),
        apiRequests.map((r) => r.durationMs),
        apiRequests.map((r) => r.occurredAt),
        toolResults.map((r) => r.sessionId),
        toolResults.map((r) => r.toolUseId),
        toolResults.map((r) => r.toolName),
        toolResults.map((r) => r.success),
        toolResults.map((r) => r.durationMs),
        toolResults.map((r) => r.error),
        toolResults.map((r) => r.occurredAt),
      ],
    );
    return { rejected, reason: rejected === 0 ? null : `claude_code.api_request: ${rejected} record(s) would take a session's totals past 2^63 - 1` };
  });
}

/** The usage of each turn of a session, in the order the turns began. */
export async function listTurnUsage(db: Queryable, sessionId: string): Promise<TurnUsage[]> {
  const { rows } = await db.query(
    `select prompt_id, ${USAGE_COLUMNS}, first_request_at, last_request_at
     from usage_turns where session_id = $1
     order by first_request_at, prompt_id`,
    [sessionId],
  );
  return rows.map((row: UsageRow & { prompt_id: string; first_request_at: Date; last_request_at: Date }) => ({
    prompt_id: row.prompt_id,
    ...toUsage(row)!,
    first_request_at: row.first_request_at.toISOString(),
    last_request_at: row.last_request_at.toISOString(),
  }));
}

/** The tool results of a session, each with the hook's `post_tool` event of the same call when there is one. */
export async function listToolResults(db: Queryable, sessionId: string): Promise<ToolResult[]> {
  const { rows } = await db.query(
    `select r.tool_use_id, r.tool_name, r.success, r.duration_ms, r.error, r.occurred_at, e.id as event_id
     from tool_results r
     left join lateral (
       select id from events
       where events.session_id = r.session_id and events.tool_use_id = r.tool_use_id and events.event_type = 'post_tool'
       order by id limit 1
     ) e on true
     where r.session_id = $1
     order by r.occurred_at, r.tool_use_id`,
    [sessionId],
  );
  return rows.map((row) => ({
    tool_use_id: row.tool_use_id,
    tool_name: row.tool_name,
    success: row.success,
    duration_ms: row.duration_ms,
    error: row.error,
    occurred_at: (row.occurred_at as Date).toISOString(),
    event_id: row.event_id === null ? null : Number(row.event_id),
  }));
}

/**
 * Deletes what waited longer than the retention for a session that never appeared (or was deleted before
 * its last records came); returns how many rows.
 */
export async function prunePendingUsage(db: Queryable, retentionHours: number): Promise<number> {
  const { rows } = await db.query(
    `with requests as (
       delete from usage_requests r
       where r.received_at < now() - make_interval(hours => $1)
         and not exists (select 1 from sessions s where s.session_id = r.session_id)
       returning 1
     ), turns as (
       delete from usage_turns t
       where t.last_request_at < now() - make_interval(hours => $1)
         and not exists (select 1 from sessions s where s.session_id = t.session_id)
         and not exists (select 1 from usage_requests r where r.session_id = t.session_id and r.prompt_id = t.prompt_id
                           and r.received_at >= now() - make_interval(hours => $1))
       returning 1
     ), tools as (
       delete from tool_results r
       where r.received_at < now() - make_interval(hours => $1)
         and not exists (select 1 from sessions s where s.session_id = r.session_id)
       returning 1
     )
     select (select count(*) from requests) + (select count(*) from turns) + (select count(*) from tools) as pruned`,
    [retentionHours],
  );
  return Number(rows[0].pruned);
}

/** Usage summed over the sessions of one agent or one project (only sessions with usage count). */
export interface UsageGroup {
  sessions: number;
  usage: Usage;
}

export interface UsageTotals {
  /** Over every session; `usage` null while none has any. */
  total: { sessions: number; usage: Usage | null };
  by_agent: (UsageGroup & { agent_name: string | null })[];
  by_project: (UsageGroup & { project_dir: string | null })[];
}

/** Usage in total, per agent and per project, each list the costliest first, from the sessions' own totals. */
export async function usageTotals(db: Queryable): Promise<UsageTotals> {
  // grouping(agent_name, project_dir): 1 for the per-agent rows, 2 per project, 3 for the total.
  const { rows } = await db.query<UsageRow & { grouped: number; agent_name: string | null; project_dir: string | null; sessions: string }>(
    `with used as materialized (
       select agent_name, project_dir, ${USAGE_COLUMNS} from sessions where api_requests > 0
     ), sums as (
       select grouping(agent_name, project_dir) as grouped, agent_name, project_dir, count(*) as sessions,
              sum(input_tokens) as input_tokens, sum(output_tokens) as output_tokens, sum(cache_read_tokens) as cache_read_tokens,
              sum(cache_creation_tokens) as cache_creation_tokens, sum(cost_usd_micros) as cost_usd_micros,
              sum(api_requests) as api_requests, sum(api_duration_ms) as api_duration_ms
       from used group by grouping sets ((agent_name), (project_dir), ())
     ), model_sets as (
       select grouping(agent_name, project_dir) as grouped, agent_name, project_dir, array_agg(distinct model order by model) as models
       from used cross join lateral unnest(models) as model
       group by grouping sets ((agent_name), (project_dir), ())
     )
     select s.*, coalesce(m.models, '{}') as models
     from sums s left join model_sets m
       on m.grouped = s.grouped and m.agent_name is not distinct from s.agent_name and m.project_dir is not distinct from s.project_dir
     order by s.grouped, s.cost_usd_micros desc, s.input_tokens + s.output_tokens desc, coalesce(s.agent_name, s.project_dir)`,
  );
  const totals: UsageTotals = { total: { sessions: 0, usage: null }, by_agent: [], by_project: [] };
  for (const row of rows) {
    const group = { sessions: Number(row.sessions), usage: toUsage(row)! };
    if (row.grouped === 1) totals.by_agent.push({ agent_name: row.agent_name, ...group });
    else if (row.grouped === 2) totals.by_project.push({ project_dir: row.project_dir, ...group });
    else if (row.sessions !== '0') totals.total = group;
  }
  return totals;
}
