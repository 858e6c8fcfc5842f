import type { Pool, PoolClient, Queryable } from '../db/pool';
import { takeWithinBudget } from './budget';
import { jsonPieces, piecesOf, type JsonText } from './jsonText';
import type { Session } from '../domain/session';
import { SESSION_COLUMNS, toSession } from './records';
import { latestSeq } from './changes';
import { readSliced, type SlicedText } from './slicedText';
import { beginRead, withTransaction } from './tx';
import { recordAudit } from './audit';
import { CLAUDE_CODE_SOURCE } from './claudeCode';

export interface NewSession {
  session_id: string;
  session_name: string;
  project_dir?: string | null;
  agent_name?: string | null;
}

/** Fields of PATCH: absent keys stay as they are; `null` clears (the deprecated metadata route drops nulls first). */
export interface SessionChanges {
  session_name?: string;
  project_dir?: string | null;
  agent_name?: string | null;
  last_resumed_at?: string | null;
  /** The spend cap in USD; null: none. Recorded in the audit trail ('budget.set'). */
  budget_usd?: number | null;
}

export interface SessionFilter {
  status?: Session['status'];
  /** `failed` or `succeeded`; `none` for sessions without one. */
  outcome?: 'failed' | 'succeeded' | 'none';
  agentName?: string;
  projectDir?: string;
  /** Case-insensitive part of the name. */
  nameContains?: string;
  /** Only these sessions. */
  sessionIds?: readonly string[];
  /** Continue after the page that handed out this cursor. */
  cursor?: string;
}

/** How large the pieces of a list may be. */
export interface ListBudget {
  /** A page stops before the session that would take it past this many bytes (one session at least). */
  maxBytes: number;
  /** A first session larger than this is read in slices of about this many bytes (see slicedText.ts). */
  sliceBytes: number;
}

export interface SessionPageRequest extends SessionFilter, ListBudget {
  limit: number;
}

/** One page of sessions, serialised. */
export interface SessionPageJson {
  /** The sessions as JSON joined by commas: the contents of the page's array. */
  sessions: JsonText;
  /** Pass as `cursor` for the next page; null on the last page. */
  nextCursor: string | null;
}

/** Sessions: created, read, listed, changed, deleted. */
export interface SessionStore {
  /** As createSession(). */
  create(session: NewSession): Promise<Session | null>;
  get(sessionId: string): Promise<Session | null>;
  /** One page of a list, read on the few connections of pages: as listSessions(). */
  page(request: SessionPageRequest): Promise<SessionPageJson>;
  /** A whole list, a page at a time, on the few connections of pages: as sessionPieces(). */
  pieces(filter: SessionFilter & ListBudget): AsyncGenerator<string>;
  /** As updateSession(); a change of `budget_usd` is recorded in the audit trail as done by the key named `by`, in the same transaction. */
  update(sessionId: string, changes: SessionChanges, by?: string | null): Promise<Session | null>;
  /** As deleteSession(); `by` is the name of the key that asks (null when no key is required), for the audit trail. */
  delete(sessionId: string, by: string | null): Promise<{ eventsCount: number } | null>;
  /** As getSessionResult(). */
  result(sessionId: string): Promise<SessionResult>;
  /** One page of a feed's init on the few connections of pages: as readInitPage(). */
  initPage(request: SessionPageRequest): Promise<InitPage>;
}

export function sessionStore({ pool, readPool }: { pool: Pool; readPool: Pool }): SessionStore {
  return {
    create: (session) => createSession(pool, session),
    get: (sessionId) => getSessionById(pool, sessionId),
    page: (request) => listSessions(readPool, request),
    pieces: (filter) => sessionPieces(readPool, filter),
    update: (sessionId, changes, by = null) =>
      changes.budget_usd === undefined
        ? updateSession(pool, sessionId, changes)
        : withTransaction(pool, async (tx) => {
            const session = await updateSession(tx, sessionId, changes);
            if (session) await recordAudit(tx, { action: 'budget.set', key: by, target: sessionId, details: { budget_usd: changes.budget_usd } });
            return session;
          }),
    delete: (sessionId, by) => deleteSession(pool, sessionId, by),
    result: (sessionId) => getSessionResult(pool, sessionId),
    initPage: (request) => readInitPage(readPool, request),
  };
}

/** Inserts a running session; `null` when one with that id exists already (concurrent creators included). */
export async function createSession(db: Queryable, session: NewSession): Promise<Session | null> {
  const { rows } = await db.query(
    `insert into sessions (session_id, session_name, project_dir, agent_name)
     values ($1, $2, $3, $4)
     on conflict (session_id) do nothing
     returning ${SESSION_COLUMNS}`,
    [session.session_id, session.session_name, session.project_dir ?? null, session.agent_name ?? null],
  );
  return rows[0] ? toSession(rows[0]) : null;
}

export async function getSessionById(db: Queryable, sessionId: string): Promise<Session | null> {
  const { rows } = await db.query(`select ${SESSION_COLUMNS} from sessions where session_id = $1`, [sessionId]);
  return rows[0] ? toSession(rows[0]) : null;
}

// A cursor is the sort key of the last session of a page: its creation time as Postgres prints it (to the
// microsecond, which a JavaScript Date would round away) and its id.
const encodeCursor = (createdAt: string, sessionId: string) => Buffer.from(JSON.stringify([createdAt, sessionId])).toString('base64url');
const PG_TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.\d{1,6})?[+-](\d{2})(?::(\d{2}))?(?::(\d{2}))?$/;

// A hand-made cursor can fit the pattern and still name no instant (month 13, offset +99:99, year 0):
// PostgreSQL would refuse it mid-query, so every field is checked against what it can print.
function isPgTimestamp(text: string): boolean {
  const match = PG_TIMESTAMP.exec(text);
  if (!match) return false;
  const [year, month, day, hour, minute, second, offsetHours, offsetMinutes = 0, offsetSeconds = 0] = match.slice(1).map((part) => Number(part ?? 0));
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  const daysInMonth = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1];
  return (
    year >= 1 &&
    daysInMonth !== undefined &&
    day >= 1 &&
    day <= daysInMonth &&
    hour <= 23 &&
    minute <= 59 &&
    second <= 59 &&
    offsetHours <= 15 &&
    offsetMinutes <= 59 &&
    offsetSeconds <= 59
  );
}

/** The position a cursor names, or undefined if it is not one of ours. */
export function decodeCursor(cursor: string): [string, string] | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (!Array.isArray(value) || value.length !== 2) return undefined;
    const [createdAt, sessionId] = value as unknown[];
    // The id goes to PostgreSQL as text, which holds no U+0000; ours are at most 256 characters.
    const storableId = typeof sessionId === 'string' && sessionId.length <= 256 && !sessionId.includes('\u0000') && sessionId.isWellFormed();
    if (typeof createdAt === 'string' && isPgTimestamp(createdAt) && storableId) return [createdAt, sessionId];
  } catch {
    // Not base64 of JSON: not ours.
  }
  return undefined;
}

const escapeLike = (text: string) => text.replace(/[\\%_]/g, (char) => `\\${char}`);

// About the bytes a session row takes as JSON, from the lengths PostgreSQL keeps beside its values.
const SESSION_JSON_SIZE = `(256 + octet_length(session_id) + octet_length(session_name)
  + coalesce(octet_length(project_dir), 0) + coalesce(octet_length(agent_name), 0)
  + case when api_requests = 0 then 0 else 256 + octet_length(array_to_string(models, ',')) end
  + 128 + coalesce(octet_length(waiting_tool::text), 0))`;

/**
 * Newest first, filtered, one page within the byte budget. A cursor that is not one of ours reads as the
 * first page (the route refuses it first). A page whose first session is larger than `sliceBytes` comes in
 * pieces (JsonPieces: read them to the end, or return them).
 */
export async function listSessions(pool: Pool, request: SessionPageRequest): Promise<SessionPageJson> {
  const read = await beginRead(pool);
  let handedOn = false;
  try {
    const page = await readSessionPage(read.client, request);
    if (page.large === null) return { sessions: page.json, nextCursor: page.nextCursor };
    handedOn = true;
    return { sessions: jsonPieces(page.parts, read.end), nextCursor: page.nextCursor };
  } finally {
    if (!handedOn) await read.end();
  }
}

/** A page's sessions joined by commas: whole, or with its first session (read in slices) first. */
type SessionPageParts = { nextCursor: string | null; lastCreatedMs: number | null } & (
  | { json: string; large: null }
  /** `large`, the first session, is valid while the transaction is open. */
  | { parts: (string | SlicedText)[]; large: SlicedText }
);

// One page, read on a client inside a transaction (which the slices of a large first session need).
async function readSessionPage(tx: PoolClient, request: SessionPageRequest): Promise<SessionPageParts> {
  const position = request.cursor ? decodeCursor(request.cursor) : undefined;
  // The rows that may fit are chosen by their sizes, which cost nothing to read; only those are built. A first
  // row too large to hold at once is not built here (json null) but read in slices below.
  const { rows } = await tx.query<{ json: string | null; created_at_text: string; created_at_iso: string; session_id: string; candidates: string; position: string }>(
    `with candidate as (
       select session_id as candidate_id,
              sum(${SESSION_JSON_SIZE}) over (order by created_at desc, session_id) as bytes_to_here,
              count(*) over () as candidates,
              row_number() over (order by created_at desc, session_id) as position
       from (
         select * from sessions
         where ($1::text is null or status = $1)
           and ($2::text is null or agent_name = $2)
           and ($3::text is null or project_dir = $3)
           and ($4::text is null or session_name ilike '%' || $4 || '%')
           and ($5::text[] is null or session_id = any($5))
           and ($6::timestamptz is null or created_at < $6 or (created_at = $6 and session_id > $7))
           and ($10::text is null or outcome = $10 or ($10 = 'none' and outcome is null))
         order by created_at desc, session_id
         limit $8
       ) s
     )
     -- Each row that fits is fetched by its id (offset 0 keeps the lookup a lookup), sorted below.
     select case when position = 1 and bytes_to_here > $11 then null else asm_session_api_json(s) end as json,
            created_at::text as created_at_text, asm_iso_time(created_at) as created_at_iso, session_id, candidates, position
     from candidate cross join lateral (select * from sessions where sessions.session_id = candidate.candidate_id offset 0) s
     where bytes_to_here <= $9 or position = 1`,
    [
      request.status ?? null,
      request.agentName ?? null,
      request.projectDir ?? null,
      request.nameContains === undefined ? null : escapeLike(request.nameContains),
      request.sessionIds ?? null,
      position?.[0] ?? null,
      position?.[1] ?? null,
      request.limit + 1,
      request.maxBytes,
      request.outcome ?? null,
      request.sliceBytes,
    ],
  );
  rows.sort((a, b) => Number(a.position) - Number(b.position));
  const large = rows[0]?.json === null ? await readLargeSession(tx, rows[0].session_id, request.sliceBytes) : null;
  const page = takeWithinBudget(rows, { ...request, bytes: (row) => (row.json === null ? large!.bytes : Buffer.byteLength(row.json)) });
  const last = page[page.length - 1];
  const more = rows.length > 0 && page.length < Number(rows[0]!.candidates);
  const nextCursor = more && last ? encodeCursor(last.created_at_text, last.session_id) : null;
  const rest = page.slice(large ? 1 : 0).map((row) => row.json!);
  const lastCreatedMs = last ? Date.parse(last.created_at_iso) : null;
  return large ? { parts: [large, ...rest.map((json) => `,${json}`)], large, nextCursor, lastCreatedMs } : { json: rest.join(','), large, nextCursor, lastCreatedMs };
}

// The page query saw the session in the same snapshot, so it is there.
async function readLargeSession(tx: PoolClient, sessionId: string, sliceBytes: number): Promise<SlicedText> {
  const sliced = await readSliced(tx, { text: 'select asm_session_api_json(sessions) as value from sessions where session_id = $1', values: [sessionId] }, sliceBytes);
  if (!sliced) throw new Error(`session ${sessionId} is missing from the snapshot that listed it`);
  return sliced;
}

// Every page of a list, one after another, as pieces that together form the array's contents.
async function* wholeList(readPage: (cursor: string | undefined) => Promise<SessionPageJson>, cursor: string | undefined): AsyncGenerator<string> {
  let first = true;
  for (;;) {
    const page = await readPage(cursor);
    yield* piecesOf(page.sessions, first || page.sessions === '' ? '' : ',');
    if (page.sessions !== '') first = false;
    if (page.nextCursor === null) return;
    cursor = page.nextCursor;
  }
}

/**
 * Every session the filter selects, newest first, as pieces of JSON text that together form the array's
 * contents; each page within `maxBytes` (a large session in slices) is read when the previous one has been
 * taken.
 */
export function sessionPieces(pool: Pool, filter: SessionFilter & ListBudget): AsyncGenerator<string> {
  return wholeList((cursor) => listSessions(pool, { ...filter, cursor, limit: WHOLE_LIST_PAGE }), filter.cursor);
}

const WHOLE_LIST_PAGE = 1000;

/** One page of a feed's init, read in a snapshot of its own. */
export interface InitPage {
  /** The number of the last change the page reflects. */
  seq: number;
  /** The page's sessions as JSON joined by commas; pieces hold the page's transaction until taken (or returned). */
  sessions: JsonText;
  nextCursor: string | null;
  /** `created_at` of the page's last session, in milliseconds; null for an empty page. */
  lastCreatedMs: number | null;
}

/**
 * One page of init, with the number of the last change it reflects, on a connection held only while the page
 * is read (and, for a page whose first session is large, until its slices are taken). Pages read one after
 * another reflect later and later changes: the feed tells its client which changes a page already shows.
 */
export async function readInitPage(pool: Pool, request: SessionPageRequest): Promise<InitPage> {
  const read = await beginRead(pool);
  let handedOn = false;
  try {
    const seq = await latestSeq(read.client);
    const page = await readSessionPage(read.client, request);
    const common = { seq, nextCursor: page.nextCursor, lastCreatedMs: page.lastCreatedMs };
    if (page.large === null) return { ...common, sessions: page.json };
    handedOn = true;
    return { ...common, sessions: jsonPieces(page.parts, read.end) };
  } finally {
    if (!handedOn) await read.end();
  }
}

/**
 * Applies the changes and returns the session as it is now; `null` if there is no such session.
 * Setting `last_resumed_at` to a time means the session was resumed: a `prompt` (asm_session_after, migration
 * 1764054000011), so it is running again and has no outcome until its next stop.
 * An update that changes nothing fires no trigger and so broadcasts nothing.
 */
export async function updateSession(db: Queryable, sessionId: string, changes: SessionChanges): Promise<Session | null> {
  const has = (key: keyof SessionChanges) => changes[key] !== undefined;
  const { rows } = await db.query(
    `update sessions set
       session_name    = case when $2 then $3 else session_name end,
       project_dir     = case when $4 then $5 else project_dir end,
       agent_name      = case when $6 then $7 else agent_name end,
       last_resumed_at = case when $8 then $9::timestamptz else last_resumed_at end,
       budget_usd      = case when $10 then $11::numeric else budget_usd end,
       (status, outcome) = row((asm_session_after(status, outcome, case when $9::timestamptz is not null then 'prompt' end, null, null, null)).*)
     where session_id = $1
     returning ${SESSION_COLUMNS}`,
    [
      sessionId,
      has('session_name'),
      changes.session_name ?? null,
      has('project_dir'),
      changes.project_dir ?? null,
      has('agent_name'),
      changes.agent_name ?? null,
      has('last_resumed_at'),
      changes.last_resumed_at ?? null,
      has('budget_usd'),
      changes.budget_usd ?? null,
    ],
  );
  return rows[0] ? toSession(rows[0]) : null;
}

/**
 * Deletes the session and, by cascade, its events, and records it in the audit trail as done by the key
 * named `by`, in one transaction; `null` if there is no such session. The row lock taken first makes
 * concurrent event inserts wait and then fail, so the count is exactly what was deleted.
 */
export async function deleteSession(pool: Pool, sessionId: string, by: string | null): Promise<{ eventsCount: number } | null> {
  return withTransaction(pool, async (tx) => {
    const deleted = await deleteSessionIn(tx, sessionId);
    if (!deleted) return null;
    const { eventsCount } = deleted;
    await recordAudit(tx, { action: 'session.delete', key: by, target: sessionId, details: { events_count: eventsCount } });
    return { eventsCount };
  });
}

/** Which sessions deleteSessionIn() may delete: any, or only finished ones, last active before a time. */
export interface DeleteCondition {
  finishedOnly?: boolean;
  /** Only if its last event (or, without events, its creation) is older than this. */
  idleSince?: Date;
}

/**
 * The delete itself, inside the caller's transaction: locks the session (a concurrent event insert waits, then
 * fails), counts its events and their bytes as clients get them (asm_event_json_size), and deletes it; the
 * delete triggers remove its events and usage and log `session_deleted`, which every instance relays. `null` if
 * there is no such session, or it no longer meets the condition once locked (a finished session resumed
 * meanwhile is running, and stays).
 */
export async function deleteSessionIn(tx: Queryable, sessionId: string, condition: DeleteCondition = {}): Promise<{ eventsCount: number; eventBytes: number } | null> {
  const locked = await tx.query(
    `select 1 from sessions
     where session_id = $1 and (not $2 or status = 'finished') and ($3::timestamptz is null or coalesce(last_event_at, created_at) < $3)
     for update`,
    [sessionId, condition.finishedOnly ?? false, condition.idleSince ?? null],
  );
  if (locked.rowCount === 0) return null;
  const { rows } = await tx.query('select count(*)::int as events_count, coalesce(sum(asm_event_json_size(e)), 0)::float8 as event_bytes from events e where session_id = $1', [
    sessionId,
  ]);
  await tx.query('delete from sessions where session_id = $1', [sessionId]);
  return { eventsCount: rows[0].events_count as number, eventBytes: rows[0].event_bytes as number };
}

export type SessionResult = { outcome: 'found'; result: string; failed?: true } | { outcome: 'session_not_found' } | { outcome: 'not_finished' } | { outcome: 'no_result' };

const RESULT_SCAN_PAGE = 50;

/**
 * The result of a finished (or idle) session: the first text block of its latest assistant message that has one.
 * The scan runs in JavaScript, page by page from the newest message, because Postgres cannot turn a JSON
 * string holding U+0000 into text, and content may hold anything.
 */
export async function getSessionResult(db: Queryable, sessionId: string): Promise<SessionResult> {
  const session = await getSessionById(db, sessionId);
  if (!session) return { outcome: 'session_not_found' };
  // A Claude Code session answers between turns (idle) too: each turn ends with an assistant message.
  if (session.status === 'running') return { outcome: 'not_finished' };
  // A Claude Code session whose turn ended in an error answers with that error: its StopFailure (or the API
  // error its transcript showed). The newest such event, searched back from the end, where it is.
  if (session.outcome === 'failed' && session.source === CLAUDE_CODE_SOURCE) {
    const { rows } = await db.query<{ error: string }>(
      `select error from events
       where session_id = $1 and event_type in ('stop_failure', 'api_error') and error is not null
       order by id desc limit 1`,
      [sessionId],
    );
    if (rows[0]) return { outcome: 'found', result: rows[0].error, failed: true };
  }
  let before: string | null = null;
  type ResultRow = { id: string; content: unknown };
  for (;;) {
    const { rows }: { rows: ResultRow[] } = await db.query(
      `select id, content from events
       where session_id = $1 and event_type = 'message' and role = 'assistant' and ($2::bigint is null or id < $2)
       order by id desc
       limit $3`,
      [sessionId, before, RESULT_SCAN_PAGE],
    );
    for (const row of rows) {
      const text = firstTextBlock(row.content);
      if (text !== undefined) return { outcome: 'found', result: text };
    }
    if (rows.length < RESULT_SCAN_PAGE) return { outcome: 'no_result' };
    before = rows[rows.length - 1].id;
  }
}

function firstTextBlock(content: unknown): string | undefined {
  if (!Array.isArray(content)) return undefined;
  for (const block of content) {
    if (typeof block === 'object' && block !== null && block.type === 'text' && typeof block.text === 'string') return block.text;
  }
  return undefined;
}
