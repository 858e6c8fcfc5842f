import type { Pool, PoolClient } from '../db/pool';
import { beginRead } from './tx';
import { TURN_END_KEY_PREFIXES } from '../claudeCode/hookEvents';

/** How one tool call went, from its hook events (pre_tool, post_tool, tool_refused), whatever page is loaded. */
export interface ToolCallSummary {
  tool_use_id: string;
  tool_name: string | null;
  agent_id: string | null;
  /** The ids of its pre_tool and of the event that ended it (post_tool or tool_refused); null when absent. */
  pre_id: number | null;
  post_id: number | null;
  state: 'running' | 'succeeded' | 'failed' | 'refused' | 'interrupted';
  started_at: string;
  ended_at: string | null;
  duration_ms: number | null;
  /** The error text (cut to SUMMARY_ERROR_CHARS) of a failed, refused or interrupted call; null otherwise. */
  error: string | null;
}

/** One turn: from its user prompt to its Stop (or StopFailure). */
export interface TurnSummary {
  prompt_id: string;
  started_at: string;
  ended_at: string | null;
  state: 'running' | 'ended' | 'failed';
  working_ms: number;
  waiting_ms: number;
  stop_event_id: number | null;
}

export interface SessionSummary {
  session_id: string;
  first_at: string | null;
  last_at: string | null;
  tool_calls: ToolCallSummary[];
  turns: TurnSummary[];
  /** More tool calls or turns than kept: the oldest were left out. */
  truncated: boolean;
}

export const SUMMARY_MAX_TOOL_CALLS = 5000;
export const SUMMARY_MAX_TURNS = 2000;
/** An error text in the summary is cut to this many characters (the event has it whole). */
export const SUMMARY_ERROR_CHARS = 2000;
// first_at / last_at look at this many events at each end (by id): capture times may come out of id order
// when a spooled hook arrives after a live one, never by much.
const EDGE_EVENTS = 200;
// At most this many waiting marks are counted per turn.
const WAITS_PER_TURN = 1000;

export interface SummaryStore {
  /** As readSessionSummary(); null for an unknown session. */
  get(sessionId: string, limits?: { toolCalls?: number; turns?: number }): Promise<SessionSummary | null>;
}

export function summaryStore({ readPool }: { readPool: Pool }): SummaryStore {
  return { get: (sessionId, limits) => readSessionSummary(readPool, sessionId, limits) };
}

// The Stop / StopFailure of a main-thread turn and the SubagentStop of a subagent are found by their keys
// (hookEventKey in claudeCode/hookEvents.ts) through the unique (session_id, event_id) index.
const KEYS = TURN_END_KEY_PREFIXES;
const TURN_STOP = `(select id, timestamp, event_type from events st
   where st.session_id = $1 and st.event_id in ('${KEYS.Stop}' || %PROMPT%, '${KEYS.StopFailure}' || %PROMPT%)
   order by st.id limit 1)`;

const TOOL_CALLS_SQL = `
  with calls as (
    -- The newest calls, by their first event; an index-only walk of events_by_tool_use_id.
    select tool_use_id, min(id) as first_id
    from events where session_id = $1 and tool_use_id is not null
    group by tool_use_id
    order by first_id desc
    limit $2
  )
  select calls.tool_use_id, calls.first_id,
         pre.id as pre_id, fin.id as end_id, fin.event_type as end_type,
         coalesce(pre.tool_name, fin.tool_name) as tool_name,
         coalesce(pre.agent_id, fin.agent_id) as agent_id,
         asm_iso_time(coalesce(pre.timestamp, fin.timestamp)) as started_at,
         coalesce(pre.timestamp, fin.timestamp) as started,
         fin.timestamp as ended,
         left(fin.error, ${SUMMARY_ERROR_CHARS}) as error, fin.exit_code,
         coalesce((fin.hook_input->>'is_interrupt') = 'true', false) as interrupt,
         over_at.timestamp as over_at
  from calls
  left join lateral (
    select id, timestamp, tool_name, agent_id, prompt_id from events e
    where e.session_id = $1 and e.tool_use_id = calls.tool_use_id and e.event_type = 'pre_tool'
    order by e.id limit 1
  ) pre on true
  left join lateral (
    select id, event_type, timestamp, tool_name, agent_id, prompt_id, error, exit_code,
           case when event_type = 'post_tool' and error is not null then hook_input end as hook_input
    from events e
    where e.session_id = $1 and e.tool_use_id = calls.tool_use_id and e.event_type in ('post_tool', 'tool_refused')
    order by e.id limit 1
  ) fin on true
  -- A call that never ended is over once what it ran in is: its subagent stopped, or its turn stopped.
  left join lateral (
    select st.timestamp from events st
    where fin.id is null and st.session_id = $1 and st.id > coalesce(pre.id, calls.first_id)
      and st.event_id = any(case when pre.agent_id is not null then array['${KEYS.SubagentStop}' || pre.agent_id]
                                 when pre.prompt_id is not null then array['${KEYS.Stop}' || pre.prompt_id, '${KEYS.StopFailure}' || pre.prompt_id]
                                 else array[]::text[] end)
    order by st.id limit 1
  ) over_at on true
  where pre.id is not null or fin.id is not null
  order by calls.first_id`;

const TURNS_SQL = `
  with prompts as (
    -- The newest turns, by their first event; an index-only walk of events_by_prompt_id.
    select prompt_id, min(id) as first_id
    from events where session_id = $1 and prompt_id is not null
    group by prompt_id
    order by first_id desc
    limit $2
  )
  select p.prompt_id, p.first_id,
         coalesce(u.timestamp, f.timestamp) as started,
         st.id as stop_id, st.timestamp as stop_at, st.event_type as stop_type,
         last.id as last_id, last.timestamp as last_at,
         w.closed_ms, w.open_since
  from prompts p
  join lateral (select timestamp from events e where e.id = p.first_id) f on true
  left join lateral (
    select timestamp from events e
    where e.session_id = $1 and e.prompt_id = p.prompt_id and e.event_type = 'message' and e.role = 'user'
    order by e.id limit 1
  ) u on true
  left join lateral ${TURN_STOP.replaceAll('%PROMPT%', 'p.prompt_id')} st on true
  join lateral (
    select id, timestamp from events e where e.session_id = $1 and e.prompt_id = p.prompt_id order by e.id desc limit 1
  ) last on true
  -- Waiting: from each permission request (or notification that waits for the user) to the next event of the turn.
  left join lateral (
    select coalesce(sum(greatest(0, extract(epoch from nxt.timestamp - m.timestamp) * 1000)) filter (where nxt.timestamp is not null), 0)::float8 as closed_ms,
           max(m.timestamp) filter (where nxt.timestamp is null) as open_since
    from (
      select id, timestamp from events m
      where m.session_id = $1 and m.prompt_id = p.prompt_id and (st.id is null or m.id < st.id)
        and (m.event_type = 'permission_request' or (m.event_type = 'notification' and m.reason in ('permission_prompt', 'elicitation_dialog')))
      order by m.id limit ${WAITS_PER_TURN}
    ) m
    left join lateral (
      select timestamp from events n where n.session_id = $1 and n.prompt_id = p.prompt_id and n.id > m.id order by n.id limit 1
    ) nxt on true
  ) w on true
  order by p.first_id`;

const EDGES_SQL = `
  select (select asm_iso_time(min(timestamp)) from (select timestamp from events where session_id = $1 order by id limit ${EDGE_EVENTS}) a) as first_at,
         (select asm_iso_time(max(timestamp)) from (select timestamp from events where session_id = $1 order by id desc limit ${EDGE_EVENTS}) b) as last_at`;

type Time = Date;
const iso = (at: Time | null): string | null => (at === null ? null : at.toISOString());
const ms = (from: Time, to: Time): number => Math.max(0, to.getTime() - from.getTime());

/**
 * The session's tool calls and turns, as its events tell them, in one snapshot (a read-only transaction):
 * at most `toolCalls` calls and `turns` turns, the newest; null for an unknown session.
 */
export async function readSessionSummary(pool: Pool, sessionId: string, limits: { toolCalls?: number; turns?: number } = {}): Promise<SessionSummary | null> {
  const maxCalls = limits.toolCalls ?? SUMMARY_MAX_TOOL_CALLS;
  const maxTurns = limits.turns ?? SUMMARY_MAX_TURNS;
  const read = await beginRead(pool);
  try {
    return await summaryIn(read.client, sessionId, maxCalls, maxTurns);
  } finally {
    await read.end();
  }
}

async function summaryIn(tx: PoolClient, sessionId: string, maxCalls: number, maxTurns: number): Promise<SessionSummary | null> {
  const found = await tx.query<{ status: string; now: Date }>('select status, now() as now from sessions where session_id = $1', [sessionId]);
  const session = found.rows[0];
  if (!session) return null;
  const finished = session.status === 'finished';
  const now = session.now;
  const edges = await tx.query<{ first_at: string | null; last_at: string | null }>(EDGES_SQL, [sessionId]);
  const { rows: turnRows } = await tx.query<TurnRow>(TURNS_SQL, [sessionId, maxTurns + 1]);
  const { rows: callRows } = await tx.query<CallRow>(TOOL_CALLS_SQL, [sessionId, maxCalls + 1]);
  const truncated = turnRows.length > maxTurns || callRows.length > maxCalls;
  const turnsKept = turnRows.slice(-maxTurns);
  const callsKept = callRows.slice(-maxCalls);
  const turns = turnsKept.map((row, i) => turnOf(row, finished || i < turnsKept.length - 1, now));
  // A finished session's last event time closes what never ended.
  const sessionEnd = edges.rows[0]?.last_at ? new Date(edges.rows[0].last_at) : now;
  const tool_calls = callsKept.map((row) => toolCallOf(row, finished, sessionEnd));
  return { session_id: sessionId, first_at: edges.rows[0]?.first_at ?? null, last_at: edges.rows[0]?.last_at ?? null, tool_calls, turns, truncated };
}

interface TurnRow {
  prompt_id: string;
  started: Time;
  stop_id: string | null;
  stop_at: Time | null;
  stop_type: string | null;
  last_id: string;
  last_at: Time;
  closed_ms: number;
  open_since: Time | null;
}

// `over`: the session is finished or a later turn began, so a turn without a Stop is not running any more.
function turnOf(row: TurnRow, over: boolean, now: Time): TurnSummary {
  const stopped = row.stop_at !== null;
  const ended = stopped ? row.stop_at : over ? row.last_at : null;
  const until = ended ?? now;
  const open = row.open_since !== null && ended === null ? ms(row.open_since, now) : 0;
  const duration = ms(row.started, until);
  const waiting = Math.min(duration, Math.round(row.closed_ms) + open);
  return {
    prompt_id: row.prompt_id,
    started_at: iso(row.started)!,
    ended_at: iso(ended),
    state: row.stop_type === 'stop_failure' ? 'failed' : ended === null ? 'running' : 'ended',
    working_ms: duration - waiting,
    waiting_ms: waiting,
    stop_event_id: row.stop_id === null ? null : Number(row.stop_id),
  };
}

interface CallRow {
  tool_use_id: string;
  pre_id: string | null;
  end_id: string | null;
  end_type: string | null;
  tool_name: string | null;
  agent_id: string | null;
  started_at: string;
  started: Time;
  ended: Time | null;
  error: string | null;
  exit_code: number | null;
  interrupt: boolean;
  over_at: Time | null;
}

function toolCallOf(row: CallRow, finished: boolean, sessionEnd: Time): ToolCallSummary {
  const common = {
    tool_use_id: row.tool_use_id,
    tool_name: row.tool_name,
    agent_id: row.agent_id,
    pre_id: row.pre_id === null ? null : Number(row.pre_id),
    started_at: row.started_at,
  };
  const endedAs = (state: ToolCallSummary['state'], at: Time, error: string | null, postId: string | null): ToolCallSummary => ({
    ...common,
    post_id: postId === null ? null : Number(postId),
    state,
    ended_at: iso(at),
    duration_ms: ms(row.started, at),
    error,
  });
  if (row.end_id !== null && row.ended !== null) {
    if (row.end_type === 'tool_refused') return endedAs('refused', row.ended, row.error, row.end_id);
    const failed = row.error !== null || (row.exit_code ?? 0) !== 0;
    return endedAs(failed ? (row.interrupt ? 'interrupted' : 'failed') : 'succeeded', row.ended, row.error, row.end_id);
  }
  if (row.over_at !== null) return endedAs('interrupted', row.over_at, null, null);
  if (finished) return endedAs('interrupted', sessionEnd < row.started ? row.started : sessionEnd, null, null);
  return { ...common, post_id: null, state: 'running', ended_at: null, duration_ms: null, error: null };
}
