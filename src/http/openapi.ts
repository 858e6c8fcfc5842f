import Router from '@koa/router';
import type { Struct } from 'superstruct';
import { EventBatchBody, EventBody, EventPageQuery, LegacyEventBody } from './events.structs';
import { ClaudeCodeHookBody } from './hooks.structs';
import { objectSchema, type JsonSchema } from '../structs/schema';
import { ActivityQuery } from './activity.structs';
import { EventSearchQuery, ExportQuery } from './search.structs';
import { SessionCreate, SessionListQuery, SessionMetadataPatch, SessionPatch, SessionPath } from './sessions.structs';
import { StreamQuery } from '../structs/streamQuery';
import { SCOPES } from '../domain/key';
import { scope as declareScope, type Access } from './auth';
import { AuditQuery, KeyCreate, KeyPath } from './keys.structs';
import { ApprovalDecision, ApprovalListQuery, ApprovalPath } from './approvals.structs';
import { createRouter } from './router';
import { UsageQuery } from './usage.structs';

type Method = 'get' | 'post' | 'patch' | 'delete';

/** One documented operation: the structs are the very ones its route validates with. */
export interface Operation {
  method: Method;
  path: string;
  /** Who may call it: the scope its key needs, `any` key, or `public` (no key). The route declares the same. */
  scope: Access;
  summary: string;
  path_params?: Struct<any, any>;
  query?: Struct<any, any>;
  body?: Struct<any, any>;
  /** A request body as a client would send it. */
  example?: unknown;
  responses: Record<number, { description: string; schema?: JsonSchema }>;
  deprecated?: boolean;
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const error = (description: string) => ({ description, schema: ref('Error') });
const invalid = { description: 'Invalid input: each failing field is named.', schema: ref('ValidationError') };
const notFound = error('No such session.');
const ok = (schema: JsonSchema, description = 'OK') => ({ description, schema });
const nullable = (schema: JsonSchema) => ({ anyOf: [schema, { type: 'null' }] });
const object = (properties: Record<string, JsonSchema>) => ({ type: 'object', properties, required: Object.keys(properties) });

const TOKENS = {
  input_tokens: { type: 'integer' },
  output_tokens: { type: 'integer' },
  cache_read_tokens: { type: 'integer' },
  cache_creation_tokens: { type: 'integer' },
};
const withExample = (example: unknown, properties: Record<string, JsonSchema>) => ({ ...object(properties), example });
const timestamp = { type: 'string', format: 'date-time' };
const EVENT_PAGE = object({ events: { type: 'array', items: ref('Event') }, next_after: { type: ['integer', 'null'] } });

export const OPERATIONS: Operation[] = [
  { method: 'get', path: '/health', scope: 'public', summary: 'Liveness: 200 while the process lives', responses: { 200: ok(object({ status: { const: 'ok' } })) } },
  {
    method: 'get',
    path: '/ready',
    scope: 'read',
    summary: 'Readiness: the database answers and this instance listens for changes',
    responses: { 200: ok(object({ status: { const: 'ready' } })), 503: error('The database or the listener is down.') },
  },
  { method: 'get', path: '/metrics', scope: 'read', summary: 'Prometheus metrics of this instance', responses: { 200: { description: 'Prometheus text format' } } },
  { method: 'get', path: '/openapi.json', scope: 'public', summary: 'This document', responses: { 200: { description: 'OpenAPI 3.1' } } },
  { method: 'get', path: '/docs', scope: 'public', summary: 'This document, rendered for people (Swagger UI)', responses: { 200: { description: 'HTML' } } },
  {
    method: 'get',
    path: '/docs/{file}',
    scope: 'public',
    summary: 'A file of the /docs page (the renderer, its stylesheet, its start-up script)',
    responses: { 200: { description: 'A static file' }, 404: error('No such file.') },
  },
  { method: 'get', path: '/', scope: 'public', summary: 'The live dashboard', responses: { 200: { description: 'HTML' } } },
  { method: 'get', path: '/assets/{name}', scope: 'public', summary: 'A file of the dashboard', responses: { 200: { description: 'A static file' }, 404: error('No such file.') } },
  {
    method: 'post',
    path: '/sessions',
    scope: 'ingest',
    summary: 'Create a session (running)',
    body: SessionCreate,
    example: { session_id: 'test-123', session_name: 'Fix the login test', project_dir: '/home/ana/webapp', agent_name: 'claude-code' },
    responses: { 201: ok(object({ ok: { const: true }, session: ref('Session') }), 'Created; broadcast as session_created'), 409: error('Session already exists'), 422: invalid },
  },
  {
    method: 'get',
    path: '/sessions',
    scope: 'read',
    summary: 'Sessions, newest first, a page at a time',
    query: SessionListQuery,
    responses: { 200: ok(object({ sessions: { type: 'array', items: ref('Session') }, next_cursor: { type: ['string', 'null'] } })), 422: invalid },
  },
  {
    method: 'get',
    path: '/sessions/{session_id}',
    scope: 'read',
    summary: 'One session',
    path_params: SessionPath,
    responses: { 200: ok(object({ session: ref('Session') })), 404: notFound, 422: invalid },
  },
  {
    method: 'patch',
    path: '/sessions/{session_id}',
    scope: 'ingest',
    summary: 'Change metadata; null clears a field; last_resumed_at sets the session running; budget_usd (the spend cap, null: none) needs the admin scope and is audited',
    path_params: SessionPath,
    body: SessionPatch,
    example: { agent_name: 'reviewer', last_resumed_at: '2024-01-01T12:00:00Z' },
    responses: { 200: ok(object({ ok: { const: true }, session: ref('Session') })), 404: notFound, 422: invalid },
  },
  {
    method: 'delete',
    path: '/sessions/{session_id}',
    scope: 'admin',
    summary: 'Delete a session and its events',
    path_params: SessionPath,
    responses: {
      200: ok(object({ ok: { const: true }, session_id: { type: 'string' }, deleted: object({ session: { const: true }, events_count: { type: 'integer' } }) })),
      404: notFound,
      422: invalid,
    },
  },
  {
    method: 'get',
    path: '/sessions/{session_id}/status',
    scope: 'read',
    summary: 'running, finished or not_existent (never 404)',
    path_params: SessionPath,
    responses: { 200: ok(object({ status: { enum: ['running', 'idle', 'finished', 'not_existent'] } })), 422: invalid },
  },
  {
    method: 'get',
    path: '/sessions/{session_id}/result',
    scope: 'read',
    summary: 'The first text block of the latest assistant message of a finished (or idle) session; for a failed Claude Code session, the error that ended it (with failed: true)',
    path_params: SessionPath,
    responses: {
      200: ok({
        type: 'object',
        properties: { result: { type: 'string' }, failed: { const: true, description: 'Present when result is the error that ended a failed Claude Code session' } },
        required: ['result'],
      }),
      400: error('Session not finished'),
      404: error('Session not found, or No result found'),
      422: invalid,
    },
  },
  {
    method: 'post',
    path: '/sessions/{session_id}/events',
    scope: 'ingest',
    summary: 'Store an event; session_stop finishes the session, session_start makes it running',
    path_params: SessionPath,
    body: EventBody,
    example: {
      event_type: 'message',
      timestamp: '2024-01-01T00:00:00Z',
      role: 'assistant',
      content: [{ type: 'text', text: 'Hello' }],
      event_id: 'msg-0001',
    },
    responses: {
      201: ok(object({ ok: { const: true }, event: ref('Event') }), 'Stored; broadcast as event'),
      200: ok(object({ ok: { const: true }, event: ref('Event') }), 'Its event_id was stored before: that event, nothing written'),
      400: error('Event session_id must match URL session_id'),
      404: notFound,
      422: invalid,
    },
  },
  {
    method: 'post',
    path: '/sessions/{session_id}/events/batch',
    scope: 'ingest',
    summary: 'Store up to 1000 events in one transaction, in order, or none',
    path_params: SessionPath,
    body: EventBatchBody,
    example: {
      events: [
        { event_type: 'pre_tool', tool_name: 'Bash', tool_input: { command: 'npm test' } },
        { event_type: 'post_tool', tool_name: 'Bash', tool_output: '12 passed' },
        { event_type: 'session_stop', exit_code: 0, reason: 'done' },
      ],
    },
    responses: {
      201: ok(object({ ok: { const: true }, events: { type: 'array', items: ref('Event') } }), 'Stored, in the order given'),
      200: ok(object({ ok: { const: true }, events: { type: 'array', items: ref('Event') } }), 'Every event_id was stored before'),
      404: notFound,
      422: invalid,
    },
  },
  {
    method: 'get',
    path: '/sessions/{session_id}/events',
    scope: 'read',
    summary: 'Events of a session, oldest first, a page at a time; filtered by tool_use_id, prompt_id, agent_id if given',
    path_params: SessionPath,
    query: EventPageQuery,
    responses: { 200: ok(EVENT_PAGE), 404: notFound, 422: invalid },
  },
  {
    method: 'get',
    path: '/sessions/{session_id}/usage',
    scope: 'read',
    summary:
      "Model API usage per turn (prompt.id, from Claude Code's OpenTelemetry logs), per model and per subagent (from its transcript too), and the requests seen against those reported",
    path_params: SessionPath,
    responses: {
      200: ok(
        object({
          session_id: { type: 'string' },
          usage: nullable(ref('SessionUsage')),
          turns: { type: 'array', items: ref('TurnUsage') },
          by_model: { type: 'array', items: ref('ModelUsage') },
          by_agent: {
            type: 'array',
            items: object({
              agent_id: { type: 'string' },
              agent_type: nullable({ type: 'string' }),
              model: nullable({ type: 'string' }),
              ...TOKENS,
              cost_usd: nullable({ type: 'number', description: "Estimated: the subagent's tokens at the rate its model cost in this session" }),
              requests: { type: 'integer' },
            }),
          },
          requests_seen: { type: 'integer', description: 'Model requests the transcript shows' },
          requests_reported: { type: 'integer', description: 'api_request records OpenTelemetry reported' },
        }),
      ),
      404: notFound,
      422: invalid,
    },
  },
  {
    method: 'get',
    path: '/usage',
    scope: 'read',
    summary: "Model API usage over every session the list's filters let through, per agent, per project and per model (the costliest first)",
    query: UsageQuery,
    responses: {
      200: ok(
        object({
          sessions: { type: 'integer', description: 'Sessions the filters let through, with usage or not' },
          sessions_with_usage: { type: 'integer' },
          sessions_cost_unknown: { type: 'integer', description: 'Sessions whose usage has no known cost (not in cost_usd)' },
          by_model: { type: 'array', items: ref('ModelUsage') },
          requests_missing: { type: 'integer', description: 'Model requests the transcripts show that OpenTelemetry did not report' },
          total: object({ sessions: { type: 'integer' }, usage: nullable(ref('Usage')) }),
          by_agent: { type: 'array', items: object({ agent_name: nullable({ type: 'string' }), sessions: { type: 'integer' }, usage: ref('Usage') }) },
          by_project: { type: 'array', items: object({ project_dir: nullable({ type: 'string' }), sessions: { type: 'integer' }, usage: ref('Usage') }) },
        }),
      ),
    },
  },
  {
    method: 'get',
    path: '/activity',
    scope: 'read',
    summary: "How each session's events spread over its time, from its first event to its latest, in equal slices (the list's sparklines)",
    query: ActivityQuery,
    responses: {
      200: ok(
        object({
          buckets: { type: 'integer' },
          activity: {
            type: 'array',
            description: 'The sessions asked for that have events, in the order asked',
            items: object({ session_id: { type: 'string' }, from: timestamp, to: timestamp, counts: { type: 'array', items: { type: 'integer' } } }),
          },
        }),
      ),
      422: invalid,
    },
  },
  {
    method: 'get',
    path: '/sessions/{session_id}/tool-results',
    scope: 'read',
    summary: "How the session's tool calls ended (success, duration), from Claude Code's OpenTelemetry logs, each with its post_tool event",
    path_params: SessionPath,
    responses: { 200: ok(object({ session_id: { type: 'string' }, tool_results: { type: 'array', items: ref('ToolResult') } })), 404: notFound, 422: invalid },
  },
  {
    method: 'get',
    path: '/sessions/{session_id}/summary',
    scope: 'read',
    summary: "The session's tool calls and turns from all its events, whatever page of events a client has loaded (the newest 5,000 calls and 2,000 turns)",
    path_params: SessionPath,
    responses: {
      200: ok(
        object({
          session_id: { type: 'string' },
          first_at: nullable(timestamp),
          last_at: nullable(timestamp),
          tool_calls: {
            type: 'array',
            items: object({
              tool_use_id: { type: 'string' },
              tool_name: nullable({ type: 'string' }),
              agent_id: nullable({ type: 'string' }),
              pre_id: nullable({ type: 'integer' }),
              post_id: nullable({ type: 'integer' }),
              state: { enum: ['running', 'succeeded', 'failed', 'refused', 'interrupted'] },
              started_at: timestamp,
              ended_at: nullable(timestamp),
              duration_ms: nullable({ type: 'integer' }),
              error: nullable({ type: 'string' }),
            }),
          },
          turns: {
            type: 'array',
            items: object({
              prompt_id: { type: 'string' },
              started_at: timestamp,
              ended_at: nullable(timestamp),
              state: { enum: ['running', 'ended', 'failed'] },
              working_ms: { type: 'integer' },
              waiting_ms: { type: 'integer' },
              stop_event_id: nullable({ type: 'integer' }),
            }),
          },
          truncated: { type: 'boolean' },
        }),
      ),
      404: notFound,
      422: invalid,
    },
  },
  {
    method: 'get',
    path: '/sessions/{session_id}/export',
    scope: 'read',
    summary: 'The session as a download: json ({session, events}, the default) or ndjson (one event per line)',
    path_params: SessionPath,
    query: ExportQuery,
    responses: {
      200: { description: 'application/json or application/x-ndjson, with Content-Disposition: attachment' },
      404: notFound,
      422: invalid,
    },
  },
  {
    method: 'get',
    path: '/search',
    scope: 'read',
    summary: 'Events whose text (prompt, messages, tool input and output, errors) holds q, newest first, a page at a time',
    query: EventSearchQuery,
    responses: {
      200: ok(
        object({
          results: {
            type: 'array',
            items: object({
              id: { type: 'integer' },
              session_id: { type: 'string' },
              session_name: { type: 'string' },
              project_dir: nullable({ type: 'string' }),
              event_type: { type: 'string' },
              tool_name: nullable({ type: 'string' }),
              role: nullable({ type: 'string' }),
              timestamp: { type: 'string', format: 'date-time' },
              failed: { type: 'boolean', description: 'The event reports an error or a non-zero exit code' },
              snippet: { type: 'string', description: 'The text around the first match' },
            }),
          },
          next_cursor: { type: ['string', 'null'] },
          partial: {
            type: 'boolean',
            description: 'Some events in scope hold more text than the search index keeps (4 MiB of text an event): past that, their text was not searched',
          },
          scanned_to: {
            type: ['integer', 'null'],
            description:
              'The search stopped early (the work of a page is bounded): every event from this id up was searched, none below it; next_cursor continues from here even when the page is not full. null: the page is full or the whole scope was searched',
          },
        }),
      ),
      422: invalid,
    },
  },
  {
    method: 'post',
    path: '/events',
    scope: 'ingest',
    summary: 'Store an event, creating its session if needed (deprecated)',
    body: LegacyEventBody,
    deprecated: true,
    responses: { 200: ok(object({ ok: { const: true } })), 422: invalid },
  },
  {
    method: 'get',
    path: '/events/{session_id}',
    scope: 'read',
    summary: 'As GET /sessions/{id}/events, but an unknown session has no events (deprecated)',
    path_params: SessionPath,
    query: EventPageQuery,
    deprecated: true,
    responses: { 200: ok(EVENT_PAGE), 422: invalid },
  },
  {
    method: 'patch',
    path: '/sessions/{session_id}/metadata',
    scope: 'ingest',
    summary: 'As PATCH /sessions/{id}, but null leaves a field unchanged (deprecated)',
    path_params: SessionPath,
    body: SessionMetadataPatch,
    deprecated: true,
    responses: { 200: ok(object({ ok: { const: true }, session: ref('Session') })), 404: notFound, 422: invalid },
  },
  {
    method: 'get',
    path: '/ws',
    scope: 'read',
    summary: 'WebSocket: init (or the changes after `since`), then every committed change, each with its seq',
    query: StreamQuery,
    responses: {
      101: { description: 'Switching to the WebSocket protocol' },
      403: error('Missing scope: read; or Origin not allowed: a page of another origin than CORS_ORIGINS or the server'),
      421: error('Host not allowed'),
      422: invalid,
    },
  },
  {
    method: 'post',
    path: '/hooks/claude-code',
    scope: 'ingest',
    summary:
      "A Claude Code hook's input, as its http hooks send it: creates the session on its first event, stores the event (once), sets the status (running, idle, finished). " +
      'A PermissionRequest is held open until a person decides (POST /approvals/{id}/decision, on any instance) or APPROVAL_HOLD_SECONDS end; a PreToolUse of a session over its budget is denied.',
    body: ClaudeCodeHookBody,
    responses: {
      200: ok(
        { type: 'object' },
        'Stored (or stored before): `{}`, which asks Claude Code for nothing. For a decided PermissionRequest, `{"hookSpecificOutput":{"hookEventName":"PermissionRequest","decision":{"behavior":"allow"|"deny", "message"?, "updatedPermissions"?}}}`; ' +
          'for a PreToolUse over budget, `{"hookSpecificOutput":{"hookEventName":"PreToolUse","permissionDecision":"deny","permissionDecisionReason":"Budget of $… reached …"}}`',
      ),
      400: error('Malformed JSON, not an object, nested deeper than 72 levels, or no session_id; a PermissionRequest without tool_name or object tool_input'),
      422: { ...invalid, description: 'tool_use_id, prompt_id, agent_id, hook_event_name or the X-Capture-Id header longer than 256 characters' },
      503: error('No room in the hook byte budget (HOOKS_BODY_BUDGET_BYTES) within HOOKS_ADMISSION_WAIT_MS; with Retry-After'),
    },
  },
  {
    method: 'get',
    path: '/approvals',
    scope: 'read',
    summary: 'Approvals across sessions: with state=pending, the queue of held PermissionRequests, oldest first',
    query: ApprovalListQuery,
    responses: { 200: ok(object({ approvals: { type: 'array', items: ref('Approval') } })), 422: invalid },
  },
  {
    method: 'get',
    path: '/approvals/{id}',
    scope: 'read',
    summary: 'One approval',
    path_params: ApprovalPath,
    responses: { 200: ok(object({ approval: ref('Approval') })), 404: error('Approval not found'), 422: invalid },
  },
  {
    method: 'post',
    path: '/approvals/{id}/decision',
    scope: 'decide',
    summary: 'Allow or deny a pending approval: the instance holding the hook answers Claude Code at once. Audited (approval.decide)',
    path_params: ApprovalPath,
    body: ApprovalDecision,
    example: { decision: 'deny', reason: 'Not on the release branch' },
    responses: {
      200: ok(object({ approval: ref('Approval') }), 'Decided; broadcast as approval_decided'),
      404: error('Approval not found'),
      409: error('Approval is no longer pending (decided, expired or answered in the terminal)'),
      422: invalid,
    },
  },
  {
    method: 'get',
    path: '/sessions/{session_id}/approvals',
    scope: 'read',
    summary: "A session's approvals, oldest first",
    path_params: SessionPath,
    responses: { 200: ok(object({ approvals: { type: 'array', items: ref('Approval') } })), 404: notFound, 422: invalid },
  },
  {
    method: 'get',
    path: '/me',
    scope: 'any',
    summary: "What the caller's key may do: its name and scopes (a dashboard shows only what they allow)",
    responses: {
      200: ok(
        object({
          key: { type: ['string', 'null'], description: 'The key used; null when the server requires no key' },
          scopes: { type: 'array', items: { enum: [...SCOPES] } },
          keys_required: { type: 'boolean', description: 'Whether the server requires a key (API_KEYS set, or a key created)' },
        }),
      ),
    },
  },
  {
    method: 'get',
    path: '/keys',
    scope: 'admin',
    summary: 'Every API key: those of API_KEYS (env-1, …), then those created here, revoked ones included; never a secret',
    responses: { 200: ok(object({ keys: { type: 'array', items: ref('ApiKey') } })) },
  },
  {
    method: 'post',
    path: '/keys',
    scope: 'admin',
    summary: 'Create a key: the answer holds the key itself (asm_…), shown this once and stored nowhere',
    body: KeyCreate,
    example: { name: 'laptop-hooks', scopes: ['ingest'] },
    responses: {
      201: ok(object({ key: ref('ApiKey'), secret: { type: 'string', description: 'The key: asm_<id>_<secret>. Shown once.' } }), 'Created; broadcast as keys_changed'),
      409: error('A key not revoked has that name'),
      422: invalid,
    },
  },
  {
    method: 'delete',
    path: '/keys/{name}',
    scope: 'admin',
    summary: 'Revoke a key: within a second no instance takes it, and its WebSockets are closed (1008)',
    path_params: KeyPath,
    responses: { 200: ok(object({ ok: { const: true }, key: ref('ApiKey') }), 'Revoked; broadcast as keys_changed'), 404: error('Key not found'), 422: invalid },
  },
  {
    method: 'get',
    path: '/audit',
    scope: 'admin',
    summary: 'The audit trail of admin actions (deletes, key changes, …), newest first, a page at a time',
    query: AuditQuery,
    responses: { 200: ok(object({ entries: { type: 'array', items: ref('AuditEntry') }, next_cursor: { type: ['string', 'null'] } })), 422: invalid },
  },
];

// What each parameter means, by where it travels and its name; the structs say what values it takes.
const PARAMETER_NOTES: Record<string, string> = {
  'path.session_id': 'The session id, percent-encoded in the path.',
  'query.status': 'Only sessions with this status.',
  'query.agent_name': 'Only sessions of this agent (exact match).',
  'query.project_dir': 'Only sessions in this project folder (exact match: no prefix or partial match).',
  'query.q': 'Only sessions whose name contains this text, in any case; % and _ are plain characters, not wildcards.',
  'query.limit': 'At most this many items in the page.',
  'query.cursor': 'Continue after the previous page: its next_cursor.',
  'query.after': 'Only events with a greater id: the next_after of the previous page (0 or absent: from the first).',
  'query.since': 'Resume after this change number (the seq of the last message received): the changes missed, then live ones, and no init.',
  'query.session_id': 'Only this session; where a route takes several (/ws, /activity), repeat the parameter.',
  'query.buckets': 'Into how many equal slices of time each session is cut.',
  'query.init_limit': 'List only the newest this many sessions in init; its next_cursor continues the list through GET /sessions.',
  'query.tool_use_id': 'Only the events of this Claude Code tool call.',
  'query.prompt_id': 'Only the events of this Claude Code turn.',
  'query.agent_id': 'Only the events of this Claude Code subagent.',
  'path.name': 'The name of the key.',
};

const SESSION_EXAMPLE = {
  session_id: 'test-123',
  session_name: 'Fix the login test',
  status: 'running',
  created_at: '2024-01-01T00:00:00.000Z',
  project_dir: '/home/ana/webapp',
  agent_name: 'claude-code',
  last_resumed_at: null,
  event_count: 1,
  last_event_at: '2024-01-01T00:00:05.000Z',
  transcript_read: true,
  requests_missing: 0,
  telemetry_missing: false,
};

const EVENT_EXAMPLE = {
  id: 1,
  session_id: 'test-123',
  session_name: 'Fix the login test',
  event_type: 'message',
  timestamp: '2024-01-01T00:00:05.000Z',
  tool_name: null,
  tool_input: null,
  tool_output: null,
  error: null,
  exit_code: null,
  reason: null,
  role: 'assistant',
  content: [{ type: 'text', text: 'Hello' }],
  event_id: 'msg-0001',
};

const USAGE = object({
  input_tokens: { type: 'integer' },
  output_tokens: { type: 'integer' },
  cache_read_tokens: { type: 'integer' },
  cache_creation_tokens: { type: 'integer' },
  cost_usd: { type: 'number' },
  api_requests: { type: 'integer' },
  api_duration_ms: { type: 'integer' },
  models: { type: 'array', items: { type: 'string' } },
});

const COMPONENTS = {
  schemas: {
    Session: withExample(SESSION_EXAMPLE, {
      session_id: { type: 'string' },
      session_name: { type: 'string' },
      status: { enum: ['running', 'idle', 'finished'], description: 'idle: a Claude Code session between turns' },
      outcome: nullable({
        enum: ['failed', 'succeeded'],
        description:
          'How the last session_stop went: failed for a non-zero exit_code or an error; for Claude Code also a turn that ended in an error (StopFailure), until the next prompt. Null before the first stop and after a restart.',
      }),
      created_at: timestamp,
      project_dir: nullable({ type: 'string' }),
      agent_name: nullable({ type: 'string' }),
      last_resumed_at: nullable(timestamp),
      event_count: { type: 'integer' },
      last_event_at: nullable(timestamp),
      source: nullable({ enum: ['claude-code'], description: 'claude-code: created by POST /hooks/claude-code; null: the original API' }),
      usage: nullable(ref('SessionUsage')),
      waiting_for: nullable({ enum: ['approval', 'input'], description: 'approval: a PermissionRequest is pending; input: its last Notification waits for the user' }),
      waiting_since: nullable(timestamp),
      waiting_tool: nullable(object({ approval_id: { type: 'integer' }, tool_name: { type: 'string' }, tool_input: {} })),
      budget_usd: nullable({ type: 'number', description: 'The spend cap in USD (SESSION_BUDGET_USD when created); at it, PreToolUse is denied' }),
      failed_tool_count: { type: 'integer', description: 'Its post_tool events that failed (an error or a non-zero exit_code)' },
      transcript_read: { type: 'boolean', description: "true once anything read from the session's transcript arrived (false: http hooks alone, or an old hook command)" },
      requests_missing: nullable({ type: 'integer', description: 'Model requests the transcript shows that OpenTelemetry did not report; null without transcript data' }),
      telemetry_missing: { type: 'boolean', description: 'A Claude Code session whose first turn ended over 60 s ago with no OpenTelemetry record' },
    }),
    Approval: object({
      id: { type: 'integer' },
      session_id: { type: 'string' },
      tool_name: { type: 'string' },
      tool_input: {},
      tool_use_id: nullable({ type: 'string' }),
      permission_suggestions: nullable({ type: 'array' }),
      state: { enum: ['pending', 'allowed', 'denied', 'expired', 'answered_in_terminal'] },
      scope: nullable({ enum: ['once', 'session'] }),
      reason: nullable({ type: 'string' }),
      decided_by: nullable({ type: 'string', description: "The deciding key's name, never its secret" }),
      requested_at: timestamp,
      decided_at: nullable(timestamp),
    }),
    Usage: USAGE,
    SessionUsage: object({
      ...USAGE.properties,
      cost_usd: nullable({ type: 'number', description: 'null: the transcript shows the requests but no cost (no cost-state)' }),
      cost_source: {
        enum: ['telemetry', 'transcript', 'mixed'],
        description: 'telemetry: OpenTelemetry reported every request; transcript: none, totals from the transcript; mixed: some missing, each total the larger of the two',
      },
    }),
    ModelUsage: object({ model: { type: 'string' }, ...TOKENS, cost_usd: nullable({ type: 'number' }), requests: { type: 'integer' } }),
    TurnUsage: object({ prompt_id: { type: 'string' }, ...USAGE.properties, first_request_at: timestamp, last_request_at: timestamp }),
    ToolResult: object({
      tool_use_id: { type: 'string' },
      tool_name: nullable({ type: 'string' }),
      success: nullable({ type: 'boolean' }),
      duration_ms: nullable({ type: 'number' }),
      error: nullable({ type: 'string' }),
      occurred_at: timestamp,
      event_id: nullable({ type: 'integer' }),
    }),
    Event: withExample(EVENT_EXAMPLE, {
      id: { type: 'integer' },
      session_id: { type: 'string' },
      session_name: nullable({ type: 'string' }),
      event_type: { type: 'string' },
      timestamp,
      tool_name: nullable({ type: 'string' }),
      tool_input: {},
      tool_output: {},
      error: nullable({ type: 'string' }),
      exit_code: nullable({ type: 'integer' }),
      reason: nullable({ type: 'string' }),
      role: nullable({ type: 'string' }),
      content: {},
      event_id: nullable({ type: 'string' }),
      tool_use_id: nullable({ type: 'string' }),
      prompt_id: nullable({ type: 'string' }),
      agent_id: nullable({ type: 'string' }),
      duration_ms: nullable({ type: 'number' }),
      hook_input: { description: "A Claude Code hook's input, minus the fields stored in other columns; null for other events" },
      received_at: { ...timestamp, description: 'When the server stored it; timestamp is when it was captured (X-Captured-At for a hook)' },
    }),
    ApiKey: withExample(
      {
        name: 'laptop-hooks',
        scopes: ['ingest'],
        prefix: 'asm_3f9c2a7b1d4e5f60',
        source: 'database',
        created_at: '2024-01-01T00:00:00.000Z',
        last_used_at: null,
        revoked_at: null,
      },
      {
        name: { type: 'string' },
        scopes: { type: 'array', items: { enum: [...SCOPES] } },
        prefix: nullable({ type: 'string', description: 'The start of the key, asm_<id>, to tell keys apart; null for a key of API_KEYS' }),
        source: { enum: ['database', 'environment'], description: 'environment: a key of API_KEYS, with every scope; it cannot be revoked here' },
        created_at: nullable(timestamp),
        last_used_at: nullable({ ...timestamp, description: 'Written by each instance about once a minute' }),
        revoked_at: nullable(timestamp),
      },
    ),
    AuditEntry: withExample(
      { id: 7, at: '2024-01-01T00:00:00.000Z', key: 'ops-admin', action: 'session.delete', target: 'test-123', details: { events_count: 6 } },
      {
        id: { type: 'integer' },
        at: timestamp,
        key: nullable({ type: 'string', description: 'The name of the key that did it; null when the server required no key' }),
        action: { type: 'string', description: 'session.delete, key.create, key.revoke, and others as features record them (retention.pass, approval.decide, …)' },
        target: nullable({ type: 'string', description: 'What it was done to: a session id, a key name' }),
        details: { type: 'object' },
      },
    ),
    Error: withExample({ detail: 'Session not found' }, { detail: { type: 'string' } }),
    ValidationError: withExample(
      { detail: [{ loc: ['body', 'session_name'], msg: 'Field required', type: 'missing' }] },
      {
        detail: {
          type: 'array',
          items: object({ loc: { type: 'array', items: { type: ['string', 'integer'] } }, msg: { type: 'string' }, type: { type: 'string' } }),
        },
      },
    ),
  },
  securitySchemes: {
    apiKey: {
      type: 'http',
      scheme: 'bearer',
      description:
        'A key created through /keys (asm_…) or one of API_KEYS. Each operation names the scope it needs (ingest, read, decide, admin); none is needed while the server has no key at all.',
    },
  },
};

function parameters(where: 'path' | 'query', struct: Struct<any, any> | undefined) {
  if (!struct) return [];
  const schema = objectSchema(struct) as { properties: Record<string, JsonSchema>; required?: string[] };
  return Object.entries(schema.properties).map(([name, property]) => ({
    name,
    in: where,
    required: where === 'path' || (schema.required ?? []).includes(name),
    ...(PARAMETER_NOTES[`${where}.${name}`] ? { description: PARAMETER_NOTES[`${where}.${name}`] } : {}),
    // A repeated query parameter arrives as a list: `?session_id=a&session_id=b`.
    ...(where === 'query' ? { explode: true } : {}),
    schema: property,
  }));
}

/** The OpenAPI 3.1 document of the whole API. */
export function openApiDocument(): JsonSchema {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const operation of OPERATIONS) {
    paths[operation.path] ??= {};
    paths[operation.path]![operation.method] = {
      summary: operation.summary,
      'x-scope': operation.scope,
      // No key needed while the server has none at all: hence the empty alternative.
      security: operation.scope === 'public' ? [] : [{}, { apiKey: operation.scope === 'any' ? [] : [operation.scope] }],
      ...(operation.deprecated ? { deprecated: true } : {}),
      parameters: [...parameters('path', operation.path_params), ...parameters('query', operation.query)],
      ...(operation.body
        ? {
            requestBody: {
              required: true,
              content: { 'application/json': { schema: objectSchema(operation.body), ...(operation.example ? { example: operation.example } : {}) } },
            },
          }
        : {}),
      responses: Object.fromEntries(
        Object.entries({
          ...operation.responses,
          ...(operation.body
            ? {
                400: error('Malformed JSON, not UTF-8, a charset other than UTF-8, or not the compression Content-Encoding names'),
                413: error('Body too large (after decompression)'),
                415: error('Not JSON, or a Content-Encoding other than gzip, deflate or br'),
              }
            : {}),
          ...(operation.scope === 'public' ? {} : { 401: error('Not authenticated: no key, or one unknown or revoked') }),
          ...(operation.scope === 'public' || operation.scope === 'any' ? {} : { 403: error(`Missing scope: ${operation.scope}`) }),
        }).map(([status, response]) => [
          status,
          { description: response.description, ...(response.schema ? { content: { 'application/json': { schema: response.schema } } } : {}) },
        ]),
      ),
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Agent Session Manager',
      version: '1.0.0',
      description:
        'Sessions and events of AI coding agents, and a live feed of every committed change. Not listed below: ' +
        "POST /v1/logs and POST /v1/metrics, the OTLP/HTTP receiver for Claude Code's OpenTelemetry export, which " +
        'takes and answers OTLP protobuf or JSON as the OpenTelemetry protocol specification describes them (scope ingest). ' +
        'Every request but GET /health whose Host is not one of the names the server answers to (loopback names, HOST, ALLOWED_HOSTS) ' +
        "gets 421; a write sent by a web page of an origin not in CORS_ORIGINS (nor the server's own) gets 403. " +
        'Secrets in what is written (events, hook inputs, OTLP tool results, session names) are masked before they are stored, ' +
        'each as [redacted:<kind>], unless the server runs with REDACT=off; every answer and read carries the masked text.',
    },
    components: COMPONENTS,
    paths,
  };
}

/** GET /openapi.json. The page that renders it for people is /docs (docs.ts). */
export function openApiRoutes(): Router {
  const router = createRouter();
  const document = openApiDocument();
  router.get('/openapi.json', declareScope('public'), (ctx) => {
    ctx.body = document;
  });
  return router;
}
