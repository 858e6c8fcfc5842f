import type { Pool, Queryable } from '../db/pool';
import type { NewEvent } from '../domain/event';
import type { StatusEffect } from '../domain/session';
import type { Logger } from '../logger';
import { EVENT_INPUTS, eventInputs } from './events';
import { GroupCommit, type GroupCommitOptions } from './groupCommit';
import { withTransaction } from './tx';
import { TURN_END_KEY_PREFIXES } from '../claudeCode/hookEvents';
import { entryTime, eventsBeforeHook, refusedToolUseIds, stopKey, textPromptIds, type HookFacts, type TranscriptPart } from '../claudeCode/transcriptEvents';

/** Sessions created by Claude Code's hooks carry this `source`; only they take the `idle` status. */
export const CLAUDE_CODE_SOURCE = 'claude-code';

export interface HookEventToStore {
  sessionId: string;
  /** How to create the session if this is its first event. */
  session: { session_name: string; project_dir: string | null };
  /** The event; its `event_id` is derived from the hook input, so a hook delivered twice is stored once. */
  event: NewEvent & { event_id: string };
  /** What the event does to the status of a session the hooks created. */
  effect: StatusEffect;
}

export interface StoredHook {
  /** false when the same hook was stored before (or comes earlier in the same batch). */
  created: boolean;
}

// Keys of (session, event_id) pairs; a NUL occurs in neither.
const keyOf = (sessionId: string, eventId: string) => `${sessionId}\u0000${eventId}`;

/**
 * Stores Claude Code hooks' events, in the given order, in one statement (so one transaction): creates the
 * sessions met for the first time (source claude-code, running), and sets each session's status as its
 * events imply. A status change is written just before the event that causes it, so clients hear the
 * session change first, as they do for a session_stop. A hook stored before (same event_id) changes
 * nothing. A session of the same id created through the original API gets the events but keeps its own
 * status rules. The steps are asm_record_hooks's (migration 1764054000100).
 */
export async function recordClaudeCodeHooks(db: Queryable, items: readonly HookEventToStore[]): Promise<StoredHook[]> {
  if (items.length === 0) return [];
  const { rows } = await db.query<{ session_id: string; event_id: string }>({
    name: 'record-claude-code-hooks',
    text: `select session_id, event_id from asm_record_hooks(${EVENT_INPUTS}, $2::text[], $3::text[], $4::text[])`,
    values: [eventInputs(items), items.map((item) => item.effect), items.map((item) => item.session.session_name), items.map((item) => item.session.project_dir)],
  });
  const created = new Set(rows.map((row) => keyOf(row.session_id, row.event_id)));
  // The first item of a pair stored now is the one created; a second in the same batch is a retry of it.
  return items.map((item) => ({ created: created.delete(keyOf(item.sessionId, item.event.event_id)) }));
}

/** Claude Code's hooks, stored as they come. */
export interface HookStore {
  /**
   * Stores a hook as recordClaudeCodeHooks() does, in one transaction with the hooks that arrive meanwhile
   * (group commit); resolves once that has committed.
   */
  record(hook: HookEventToStore): Promise<StoredHook>;
  /** A hook with what the hook command read from the transcript, as recordHooks() stores it, in the same group commit. */
  recordWithTranscript(given: HookWithTranscript): Promise<StoredHookWithTranscript>;
}

export function hookStore({ pool, logger }: { pool: Pool; logger: Logger }): HookStore {
  const writer = new ClaudeCodeWriter({ pool, logger });
  return { record: (hook) => writer.add(hook), recordWithTranscript: (given) => writer.add(given) };
}

/** What the hook route knows of the hook a transcript part came with (for what the part must leave out). */
export interface HookWithTranscript extends Omit<HookFacts, 'lastText'> {
  hook: HookEventToStore;
  transcript: TranscriptPart;
}

export interface StoredHookWithTranscript extends StoredHook {
  /** Transcript events stored now (not before). */
  transcriptEvents: number;
}

/** A hook as the group commit takes it: alone, or with what the hook command read from the transcript. */
export type HookToStore = HookEventToStore | HookWithTranscript;

const withTranscript = (item: HookToStore): item is HookWithTranscript => 'transcript' in item;

export interface ClaudeCodeWriterOptions extends Omit<GroupCommitOptions<HookToStore, StoredHookWithTranscript>, 'write'> {
  pool: Pool;
}

/**
 * Group commit for Claude Code hooks, as EventWriter does for single events: hooks of many sessions arrive
 * together, and one commit per hook capped the rate near 100 hooks/s.
 */
export class ClaudeCodeWriter extends GroupCommit<HookToStore, StoredHookWithTranscript> {
  // No wait for company: the agent waits for each hook's answer, and batches still form from the hooks
  // that arrive while the writes before them are in flight.
  constructor({ pool, maxBatch = 200, maxWaitMs = 0, ...options }: ClaudeCodeWriterOptions) {
    super({ ...options, maxWaitMs, maxBatch, write: (items) => recordHooks(pool, items) });
  }
}

/**
 * Stores a batch of hooks in one transaction. Hooks alone are one statement (recordClaudeCodeHooks). A hook
 * with what the hook command read from the transcript has the transcript's events stored just before its
 * own event, in transcript order (so the text before a tool call comes before its pre_tool), and its
 * requests and cost-state; its session is marked `transcript_read`. Left out of those events: texts a Stop
 * (or SubagentStop) message carries, whether in this hook or stored before (or earlier in the batch) for the
 * same turn, and refused-call candidates whose call has a post_tool (it ran: its failure is the post_tool's).
 * Masked before (see store.ts).
 */
export async function recordHooks(pool: Pool, items: readonly HookToStore[]): Promise<StoredHookWithTranscript[]> {
  if (!items.some(withTranscript)) {
    const stored = await recordClaudeCodeHooks(pool, items as HookEventToStore[]);
    return stored.map((result) => ({ ...result, transcriptEvents: 0 }));
  }
  return withTransaction(pool, async (tx) => {
    // The batch's events in order, and where each item's own lie: its transcript's events, then its hook.
    const events: HookEventToStore[] = [];
    const spans: { start: number; end: number }[] = [];
    for (const item of items) {
      const start = events.length;
      if (withTranscript(item)) events.push(...(await transcriptEventsBefore(tx, item, events)));
      events.push(withTranscript(item) ? item.hook : item);
      spans.push({ start, end: events.length });
    }
    const stored = await recordClaudeCodeHooks(tx, events);
    for (const item of items) if (withTranscript(item)) await recordTranscriptUsage(tx, item.hook.sessionId, item.transcript);
    return spans.map(({ start, end }) => ({
      created: stored[end - 1]!.created,
      transcriptEvents: stored.slice(start, end - 1).filter((result) => result.created).length,
    }));
  });
}

/** The events a hook's transcript part becomes, given what is stored and what comes before it in the batch. */
async function transcriptEventsBefore(tx: Queryable, given: HookWithTranscript, earlier: readonly HookEventToStore[]): Promise<HookEventToStore[]> {
  const { hook, transcript } = given;
  const sessionId = hook.sessionId;
  const ofSession = earlier.filter((item) => item.sessionId === sessionId).map((item) => item.event);
  const promptIds = textPromptIds(transcript);
  const agentIds = [...new Set(transcript.entries.filter((entry) => entry.kind === 'text' && entry.agent_id).map((entry) => entry.agent_id!))];
  const stopIds = [...promptIds.map((id) => TURN_END_KEY_PREFIXES.Stop + id), ...agentIds.map((id) => TURN_END_KEY_PREFIXES.SubagentStop + id)];
  const stopTexts = new Set<string>();
  if (stopIds.length > 0) {
    const { rows } = await tx.query<{ prompt_id: string | null; agent_id: string | null; text: string | null }>(
      `select prompt_id, agent_id, content->0->>'text' as text from events where session_id = $1 and event_id = any($2::text[])`,
      [sessionId, stopIds],
    );
    const inBatch = ofSession.filter((event) => stopIds.includes(event.event_id));
    for (const row of [...rows, ...inBatch.map((event) => ({ prompt_id: event.prompt_id ?? null, agent_id: event.agent_id ?? null, text: firstText(event) }))]) {
      if (row.text) stopTexts.add(stopKey(row.prompt_id, row.agent_id, row.text));
    }
  }
  const candidates = refusedToolUseIds(transcript);
  const ranToolUseIds = new Set<string>();
  if (candidates.length > 0) {
    const { rows } = await tx.query<{ tool_use_id: string }>(
      `select tool_use_id from events where session_id = $1 and tool_use_id = any($2::text[]) and event_type = 'post_tool'`,
      [sessionId, candidates],
    );
    for (const row of rows) ranToolUseIds.add(row.tool_use_id);
    for (const event of ofSession) if (event.event_type === 'post_tool' && event.tool_use_id && candidates.includes(event.tool_use_id)) ranToolUseIds.add(event.tool_use_id);
  }
  const events = eventsBeforeHook(
    transcript,
    { hookEventName: given.hookEventName, toolUseId: given.toolUseId, agentId: given.agentId, lastText: firstText(hook.event) },
    { stopTexts, ranToolUseIds },
  );
  // An API error of the main conversation fails its turn as StopFailure does: through the hook command, the
  // transcript is where Claude Code's StopFailure is seen (it ends that hook's process before it has run).
  const effectOf = (event: NewEvent): StatusEffect => (event.event_type === 'api_error' && !event.agent_id ? 'turn_failed' : null);
  return events.map((event) => ({ sessionId, session: hook.session, event, effect: effectOf(event) }));
}

/** The text of a Stop / SubagentStop event (what its `last_assistant_message` became), as stored. */
function firstText(event: NewEvent): string | null {
  const content = event.content as { type?: string; text?: unknown }[] | null | undefined;
  const first = Array.isArray(content) ? content[0] : undefined;
  return first && typeof first.text === 'string' ? first.text : null;
}

const micros = (usd: unknown): number | null => (typeof usd === 'number' && Number.isFinite(usd) && usd >= 0 && usd < 9e12 ? Math.round(usd * 1e6) : null);

/** The requests (the larger counts win for one read twice) and the latest cost-state; marks the session read. */
async function recordTranscriptUsage(tx: Queryable, sessionId: string, transcript: TranscriptPart): Promise<void> {
  const { requests, cost_state: costState } = transcript;
  if (requests.length === 0 && costState === null && transcript.entries.length === 0) return;
  await tx.query(
    `with requests as (
       insert into transcript_requests as r (session_id, request_id, agent_id, prompt_id, model, input_tokens, output_tokens,
                                             cache_read_tokens, cache_creation_tokens, occurred_at)
       select distinct on (request_id) $1, request_id, agent_id, prompt_id, model, input_tokens, output_tokens, cache_read_tokens,
              cache_creation_tokens, coalesce(occurred_at, now())
       from unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::timestamptz[])
            with ordinality as given(request_id, agent_id, prompt_id, model, input_tokens, output_tokens, cache_read_tokens, cache_creation_tokens, occurred_at, position)
       order by request_id, position desc
       on conflict (session_id, request_id) do update set
         model = coalesce(excluded.model, r.model),
         input_tokens = greatest(r.input_tokens, excluded.input_tokens),
         output_tokens = greatest(r.output_tokens, excluded.output_tokens),
         cache_read_tokens = greatest(r.cache_read_tokens, excluded.cache_read_tokens),
         cache_creation_tokens = greatest(r.cache_creation_tokens, excluded.cache_creation_tokens)
     ), cost as (
       insert into transcript_cost_states as c (session_id, cost_state, cost_usd_micros)
       select $1, $11::jsonb, $12::bigint where $11::jsonb is not null
       on conflict (session_id) do update set cost_state = excluded.cost_state, cost_usd_micros = excluded.cost_usd_micros, read_at = now()
     )
     select 1`,
    [
      sessionId,
      requests.map((r) => r.id),
      requests.map((r) => r.agent_id ?? null),
      requests.map((r) => r.prompt_id ?? null),
      requests.map((r) => r.model ?? null),
      requests.map((r) => r.input_tokens),
      requests.map((r) => r.output_tokens),
      requests.map((r) => r.cache_read_tokens),
      requests.map((r) => r.cache_creation_tokens),
      requests.map((r) => entryTime(r.timestamp) ?? null),
      costState === null ? null : JSON.stringify(costState),
      costState === null ? null : micros(costState.totalCostUSD),
    ],
  );
  // The session's transcript totals, from what is stored now: each token count the larger of the requests'
  // sum and the cost-state's (Claude Code's own running total, which also holds requests the transcript
  // does not show), never both added.
  await tx.query(
    `with requests as (
       select count(*) as requests, coalesce(sum(input_tokens), 0) as input_tokens, coalesce(sum(output_tokens), 0) as output_tokens,
              coalesce(sum(cache_read_tokens), 0) as cache_read_tokens, coalesce(sum(cache_creation_tokens), 0) as cache_creation_tokens,
              coalesce(array_agg(distinct model) filter (where model is not null), '{}') as models
       from transcript_requests where session_id = $1
     ), cost as (
       select c.cost_usd_micros, asm_bigint_or_zero(c.cost_state->>'totalAPIDuration') as api_duration_ms,
              coalesce(sum(asm_bigint_or_zero(m.value->>'inputTokens')), 0) as input_tokens,
              coalesce(sum(asm_bigint_or_zero(m.value->>'outputTokens')), 0) as output_tokens,
              coalesce(sum(asm_bigint_or_zero(m.value->>'cacheReadInputTokens')), 0) as cache_read_tokens,
              coalesce(sum(asm_bigint_or_zero(m.value->>'cacheCreationInputTokens')), 0) as cache_creation_tokens,
              coalesce(array_agg(m.key) filter (where m.key is not null), '{}') as models
       from transcript_cost_states c
       left join lateral jsonb_each(case when jsonb_typeof(c.cost_state->'modelUsage') = 'object' then c.cost_state->'modelUsage' else '{}' end) m on true
       where c.session_id = $1
       group by c.session_id, c.cost_usd_micros, c.cost_state
     )
     update sessions s set transcript_read = true,
       transcript_usage = case when r.requests = 0 and c.cost_usd_micros is null and c.api_duration_ms is null then null else jsonb_build_object(
         'requests', r.requests,
         'input_tokens', greatest(r.input_tokens, coalesce(c.input_tokens, 0)),
         'output_tokens', greatest(r.output_tokens, coalesce(c.output_tokens, 0)),
         'cache_read_tokens', greatest(r.cache_read_tokens, coalesce(c.cache_read_tokens, 0)),
         'cache_creation_tokens', greatest(r.cache_creation_tokens, coalesce(c.cache_creation_tokens, 0)),
         'cost_usd_micros', c.cost_usd_micros,
         'api_duration_ms', coalesce(c.api_duration_ms, 0),
         'models', array(select distinct m from unnest(r.models || coalesce(c.models, '{}')) m order by m)) end
     from requests r left join cost c on true
     where s.session_id = $1`,
    [sessionId],
  );
}
