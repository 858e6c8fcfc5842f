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
  /** Summed over the sessions the filters let through, on the few connections of whole lists: as usageTotals(). */
  totals(filter?: UsageFilter): Promise<UsageTotals>;
  /** As sessionUsageDetail(). */
  sessionDetail(sessionId: string): Promise<SessionUsageDetail>;
  /** As prunePendingUsage(). */
  prunePending(retentionHours: number): Promise<number>;
}

export function usageStore({ pool, readPool }: { pool: Pool; readPool: Pool }): UsageStore {
  return {
    record: (apiRequests, toolResults) => recordUsage(pool, apiRequests, toolResults),
    turns: (sessionId) => listTurnUsage(pool, sessionId),
    toolResults: (sessionId) => listToolResults(pool, sessionId),
    totals: (filter) => usageTotals(readPool, filter),
    sessionDetail: (sessionId) => sessionUsageDetail(pool, sessionId),
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

/** Tokens and requests of a share of a session's usage, and its cost. */
interface TokenShare {
  input_tokens: number;
  output_tokens: number;
  cache_read_tokens: number;
  cache_creation_tokens: number;
  cost_usd: number | null;
  requests: number;
}

/** One model's share: tokens, cost and requests, each session's counted from one source (see sessionModels()). */
export interface ModelUsage extends TokenShare {
  model: string;
  /** null when no source knows it (transcript requests without a cost-state). */
  cost_usd: number | null;
}

export interface UsageTotals {
  /** Sessions the filters let through, with usage or not. */
  sessions: number;
  sessions_with_usage: number;
  /** Sessions whose usage has no known cost (transcript requests, no cost-state): not in `cost_usd`. */
  sessions_cost_unknown: number;
  /** Over the sessions with usage; `usage` null while none has any. */
  total: { sessions: number; usage: Usage | null };
  by_agent: (UsageGroup & { agent_name: string | null })[];
  by_project: (UsageGroup & { project_dir: string | null })[];
  by_model: ModelUsage[];
  /** Model requests the transcripts show that OpenTelemetry did not report, over these sessions. */
  requests_missing: number;
}

/** The filters of GET /sessions, for GET /usage. */
export interface UsageFilter {
  status?: string;
  outcome?: 'failed' | 'succeeded' | 'none';
  agentName?: string;
  projectDir?: string;
  nameContains?: string;
}

const escapeLike = (text: string) => text.replace(/[\\%_]/g, (c) => `\\${c}`);

// The sessions the filters let through, with each one's usage as clients see it (asm_session_usage_json,
// migration 1764054000095: telemetry's, the transcript's, or the larger of each; never both added).
const FILTERED = `
  filtered as materialized (
    select s.session_id, s.agent_name, s.project_dir, s.api_requests, asm_session_usage_json(s)::jsonb as usage, asm_requests_missing(s) as missing
    from sessions s
    where ($1::text is null or s.status = $1)
      and ($2::text is null or s.agent_name = $2)
      and ($3::text is null or s.project_dir = $3)
      and ($4::text is null or s.session_name ilike '%' || $4 || '%')
      and ($5::text is null or s.outcome = $5 or ($5 = 'none' and s.outcome is null))
      and ($6::text is null or s.session_id = $6)
  )`;

const filterValues = (filter: UsageFilter & { sessionId?: string }) => [
  filter.status ?? null,
  filter.agentName ?? null,
  filter.projectDir ?? null,
  filter.nameContains === undefined ? null : escapeLike(filter.nameContains),
  filter.outcome ?? null,
  filter.sessionId ?? null,
];

// Per session and model, from the source the session's usage comes from: OpenTelemetry's records
// (telemetry), the transcript's cost-state per model or, without one, its requests (transcript), or the
// larger of each (mixed).
const SESSION_MODELS = `
  telemetry as (
    select r.session_id, coalesce(r.model, 'unknown') as model, sum(r.input_tokens) as input_tokens, sum(r.output_tokens) as output_tokens,
           sum(r.cache_read_tokens) as cache_read_tokens, sum(r.cache_creation_tokens) as cache_creation_tokens,
           sum(r.cost_usd_micros) as cost_usd_micros, count(*) as requests
    from usage_requests r join filtered f on f.session_id = r.session_id and f.usage->>'cost_source' <> 'transcript'
    group by 1, 2
  ), seen as (
    select t.session_id, coalesce(t.model, 'unknown') as model, sum(t.input_tokens) as input_tokens, sum(t.output_tokens) as output_tokens,
           sum(t.cache_read_tokens) as cache_read_tokens, sum(t.cache_creation_tokens) as cache_creation_tokens, count(*) as requests
    from transcript_requests t join filtered f on f.session_id = t.session_id and f.usage->>'cost_source' <> 'telemetry'
    group by 1, 2
  ), costed as (
    select c.session_id, m.key as model, asm_bigint_or_zero(m.value->>'inputTokens') as input_tokens,
           asm_bigint_or_zero(m.value->>'outputTokens') as output_tokens, asm_bigint_or_zero(m.value->>'cacheReadInputTokens') as cache_read_tokens,
           asm_bigint_or_zero(m.value->>'cacheCreationInputTokens') as cache_creation_tokens, asm_micros_or_null(m.value->>'costUSD') as cost_usd_micros
    from transcript_cost_states c join filtered f on f.session_id = c.session_id and f.usage->>'cost_source' <> 'telemetry'
    cross join lateral jsonb_each(case when jsonb_typeof(c.cost_state->'modelUsage') = 'object' then c.cost_state->'modelUsage' else '{}' end) m
  ), transcript as (
    select coalesce(c.session_id, s.session_id) as session_id, coalesce(c.model, s.model) as model,
           greatest(c.input_tokens, s.input_tokens) as input_tokens, greatest(c.output_tokens, s.output_tokens) as output_tokens,
           greatest(c.cache_read_tokens, s.cache_read_tokens) as cache_read_tokens, greatest(c.cache_creation_tokens, s.cache_creation_tokens) as cache_creation_tokens,
           c.cost_usd_micros, coalesce(s.requests, 0) as requests
    from costed c full join seen s on s.session_id = c.session_id and s.model = c.model
  ), session_models as (
    select coalesce(t.session_id, x.session_id) as session_id, coalesce(t.model, x.model) as model,
           greatest(t.input_tokens, x.input_tokens) as input_tokens, greatest(t.output_tokens, x.output_tokens) as output_tokens,
           greatest(t.cache_read_tokens, x.cache_read_tokens) as cache_read_tokens, greatest(t.cache_creation_tokens, x.cache_creation_tokens) as cache_creation_tokens,
           greatest(t.cost_usd_micros, x.cost_usd_micros) as cost_usd_micros, greatest(t.requests, x.requests) as requests
    from telemetry t full join transcript x on x.session_id = t.session_id and x.model = t.model
  )`;

const MODEL_SUMS = `
  select model, sum(input_tokens)::text as input_tokens, sum(output_tokens)::text as output_tokens, sum(cache_read_tokens)::text as cache_read_tokens,
         sum(cache_creation_tokens)::text as cache_creation_tokens, sum(cost_usd_micros)::text as cost_usd_micros, sum(requests)::text as requests
  from session_models group by model
  order by sum(cost_usd_micros) desc nulls last, sum(input_tokens + output_tokens) desc, model`;

/** A share's columns as the queries give them (bigints as text, the cost in micro-dollars). */
type TokenShareRow = Record<'input_tokens' | 'output_tokens' | 'cache_read_tokens' | 'cache_creation_tokens' | 'requests', string> & { cost_usd_micros: string | null };

const toTokenShare = (row: TokenShareRow): TokenShare => ({
  input_tokens: Number(row.input_tokens),
  output_tokens: Number(row.output_tokens),
  cache_read_tokens: Number(row.cache_read_tokens),
  cache_creation_tokens: Number(row.cache_creation_tokens),
  cost_usd: row.cost_usd_micros === null ? null : Number(row.cost_usd_micros) / 1e6,
  requests: Number(row.requests),
});

type ModelRow = TokenShareRow & { model: string };

const toModelUsage = (row: ModelRow): ModelUsage => ({ model: row.model, ...toTokenShare(row) });

/**
 * Usage over the sessions the filters let through (all of them, with usage or not): in total, per agent,
 * per project (each list the costliest first) and per model; each session's usage as clients see it.
 */
export async function usageTotals(db: Queryable, filter: UsageFilter = {}): Promise<UsageTotals> {
  const values = filterValues(filter);
  // grouping(agent_name, project_dir): 1 for the per-agent rows, 2 per project, 3 for the total.
  const groups = db.query<UsageRow & { grouped: number; agent_name: string | null; project_dir: string | null; sessions: string }>(
    `with ${FILTERED}, used as materialized (
       select agent_name, project_dir, (usage->>'input_tokens')::bigint as input_tokens, (usage->>'output_tokens')::bigint as output_tokens,
              (usage->>'cache_read_tokens')::bigint as cache_read_tokens, (usage->>'cache_creation_tokens')::bigint as cache_creation_tokens,
              coalesce(round((usage->>'cost_usd')::numeric * 1000000), 0)::bigint as cost_usd_micros, (usage->>'api_requests')::bigint as api_requests,
              (usage->>'api_duration_ms')::bigint as api_duration_ms, array(select jsonb_array_elements_text(usage->'models')) as models
       from filtered where usage is not null
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
    values,
  );
  const counts = db.query<{ sessions: string; with_usage: string; cost_unknown: string; missing: string }>(
    `with ${FILTERED}
     select count(*) as sessions, count(usage) as with_usage, count(*) filter (where usage is not null and usage->'cost_usd' = 'null'::jsonb) as cost_unknown,
            coalesce(sum(missing), 0) as missing
     from filtered`,
    values,
  );
  const models = db.query<ModelRow>(`with ${FILTERED}, ${SESSION_MODELS} ${MODEL_SUMS}`, values);
  const [{ rows }, { rows: countRows }, { rows: modelRows }] = await Promise.all([groups, counts, models]);
  const count = countRows[0]!;
  const totals: UsageTotals = {
    sessions: Number(count.sessions),
    sessions_with_usage: Number(count.with_usage),
    sessions_cost_unknown: Number(count.cost_unknown),
    total: { sessions: 0, usage: null },
    by_agent: [],
    by_project: [],
    by_model: modelRows.map(toModelUsage),
    requests_missing: Number(count.missing),
  };
  for (const row of rows) {
    const group = { sessions: Number(row.sessions), usage: toUsage(row)! };
    if (row.grouped === 1) totals.by_agent.push({ agent_name: row.agent_name, ...group });
    else if (row.grouped === 2) totals.by_project.push({ project_dir: row.project_dir, ...group });
    else if (row.sessions !== '0') totals.total = group;
  }
  return totals;
}

/** A subagent's usage, from the requests its transcript shows. */
export interface AgentUsage extends TokenShare {
  agent_id: string;
  agent_type: string | null;
  model: string | null;
  /** Estimated: its tokens at the rate its model cost in this session (null when that cost is unknown). */
  cost_usd: number | null;
}

export interface SessionUsageDetail {
  by_model: ModelUsage[];
  by_agent: AgentUsage[];
  /** Model requests the transcript shows (0 without transcript data). */
  requests_seen: number;
  /** api_request records OpenTelemetry reported. */
  requests_reported: number;
}

// Input-token equivalents of each kind of token, as Anthropic prices them (output 5×, cache reads 0.1×,
// cache writes 1.25× input): a subagent's cost is its share of its model's cost in the session.
const WEIGHTED = (t: string) => `(${t}.input_tokens + 5 * ${t}.output_tokens + 0.1 * ${t}.cache_read_tokens + 1.25 * ${t}.cache_creation_tokens)`;

/** A session's usage per model and per subagent, and the requests seen against those reported. */
export async function sessionUsageDetail(db: Queryable, sessionId: string): Promise<SessionUsageDetail> {
  const values = filterValues({ sessionId });
  const models = await db.query<ModelRow>(`with ${FILTERED}, ${SESSION_MODELS} ${MODEL_SUMS}`, values);
  const byModel = models.rows.map(toModelUsage);
  const { rows: agents } = await db.query<TokenShareRow & { agent_id: string; agent_type: string | null; model: string | null }>(
    `with agents as (
       select agent_id, model, sum(input_tokens) as input_tokens, sum(output_tokens) as output_tokens, sum(cache_read_tokens) as cache_read_tokens,
              sum(cache_creation_tokens) as cache_creation_tokens, count(*) as requests, min(occurred_at) as first_at
       from transcript_requests where session_id = $1 and agent_id is not null
       group by agent_id, model
     ), rates as (
       select model, cost_usd_micros::float8 / nullif(${WEIGHTED('m')}, 0) as micros_per_token
       from jsonb_to_recordset($2::jsonb) as m(model text, input_tokens float8, output_tokens float8, cache_read_tokens float8, cache_creation_tokens float8, cost_usd_micros float8)
     )
     select a.agent_id, a.model, a.input_tokens::text, a.output_tokens::text, a.cache_read_tokens::text, a.cache_creation_tokens::text, a.requests::text,
            round(${WEIGHTED('a')} * r.micros_per_token)::text as cost_usd_micros,
            (select e.hook_input->>'agent_type' from events e where e.session_id = $1 and e.event_id = 'cc:SubagentStart:agent:' || a.agent_id) as agent_type
     from agents a left join rates r on r.model = a.model
     order by a.first_at, a.agent_id, a.model`,
    [sessionId, JSON.stringify(byModel.map((m) => ({ ...m, cost_usd_micros: m.cost_usd === null ? null : m.cost_usd * 1e6 })))],
  );
  const { rows: counts } = await db.query<{ seen: string; reported: string }>(
    `select (select count(*) from transcript_requests where session_id = $1) as seen, coalesce((select api_requests from sessions where session_id = $1), 0) as reported`,
    [sessionId],
  );
  return {
    by_model: byModel,
    by_agent: agents.map((row) => ({ agent_id: row.agent_id, agent_type: row.agent_type ?? null, model: row.model ?? null, ...toTokenShare(row) })),
    requests_seen: Number(counts[0]!.seen),
    requests_reported: Number(counts[0]!.reported),
  };
}
