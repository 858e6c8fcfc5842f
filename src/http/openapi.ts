import Router from '@koa/router';
import type { Struct } from 'superstruct';
import { EventBatchBody, EventBody, EventPageQuery, LegacyEventBody } from './events.structs';
import { ClaudeCodeHookBody } from './hooks.structs';
import { objectSchema, type JsonSchema } from '../structs/schema';
import { ActivityQuery } from './activity.structs';
import { EventSearchQuery, ExportQuery } from './search.structs';
import { SessionCreate, SessionListQuery, SessionMetadataPatch, SessionPatch, SessionPath } from './sessions.structs';
import { StreamQuery } from '../structs/streamQuery';
import { createRouter } from './router';

type Method = 'get' | 'post' | 'patch' | 'delete';

/** One documented operation: the structs are the very ones its route validates with. */
export interface Operation {
  method: Method;
  path: string;
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
const withExample = (example: unknown, properties: Record<string, JsonSchema>) => ({ ...object(properties), example });
const timestamp = { type: 'string', format: 'date-time' };
const EVENT_PAGE = object({ events: { type: 'array', items: ref('Event') }, next_after: { type: ['integer', 'null'] } });

export const OPERATIONS: Operation[] = [
  { method: 'get', path: '/health', summary: 'Liveness: 200 while the process lives', responses: { 200: ok(object({ status: { const: 'ok' } })) } },
  {
    method: 'get',
    path: '/ready',
    summary: 'Readiness: the database answers and this instance listens for changes',
    responses: { 200: ok(object({ status: { const: 'ready' } })), 503: error('The database or the listener is down.') },
  },
  { method: 'get', path: '/metrics', summary: 'Prometheus metrics of this instance', responses: { 200: { description: 'Prometheus text format' } } },
  { method: 'get', path: '/openapi.json', summary: 'This document', responses: { 200: { description: 'OpenAPI 3.1' } } },
  { method: 'get', path: '/docs', summary: 'This document, rendered for people (Swagger UI)', responses: { 200: { description: 'HTML' } } },
  {
    method: 'get',
    path: '/docs/{file}',
    summary: 'A file of the /docs page (the renderer, its stylesheet, its start-up script)',
    responses: { 200: { description: 'A static file' }, 404: error('No such file.') },
  },
  { method: 'get', path: '/', summary: 'The live dashboard', responses: { 200: { description: 'HTML' } } },
  { method: 'get', path: '/assets/{name}', summary: 'A file of the dashboard', responses: { 200: { description: 'A static file' }, 404: error('No such file.') } },
  {
    method: 'post',
    path: '/sessions',
    summary: 'Create a session (running)',
    body: SessionCreate,
    example: { session_id: 'test-123', session_name: 'Fix the login test', project_dir: '/home/ana/webapp', agent_name: 'claude-code' },
    responses: { 201: ok(object({ ok: { const: true }, session: ref('Session') }), 'Created; broadcast as session_created'), 409: error('Session already exists'), 422: invalid },
  },
  {
    method: 'get',
    path: '/sessions',
    summary: 'Sessions, newest first, a page at a time',
    query: SessionListQuery,
    responses: { 200: ok(object({ sessions: { type: 'array', items: ref('Session') }, next_cursor: { type: ['string', 'null'] } })), 422: invalid },
  },
  {
    method: 'get',
    path: '/sessions/{session_id}',
    summary: 'One session',
    path_params: SessionPath,
    responses: { 200: ok(object({ session: ref('Session') })), 404: notFound, 422: invalid },
  },
  {
    method: 'patch',
    path: '/sessions/{session_id}',
    summary: 'Change metadata; null clears a field; last_resumed_at sets the session running',
    path_params: SessionPath,
    body: SessionPatch,
    example: { agent_name: 'reviewer', last_resumed_at: '2024-01-01T12:00:00Z' },
    responses: { 200: ok(object({ ok: { const: true }, session: ref('Session') })), 404: notFound, 422: invalid },
  },
  {
    method: 'delete',
    path: '/sessions/{session_id}',
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
    summary: 'running, finished or not_existent (never 404)',
    path_params: SessionPath,
    responses: { 200: ok(object({ status: { enum: ['running', 'idle', 'finished', 'not_existent'] } })), 422: invalid },
  },
  {
    method: 'get',
    path: '/sessions/{session_id}/result',
    summary: 'The first text block of the latest assistant message of a finished (or idle) session',
    path_params: SessionPath,
    responses: { 200: ok(object({ result: { type: 'string' } })), 400: error('Session not finished'), 404: error('Session not found, or No result found'), 422: invalid },
  },
  {
    method: 'post',
    path: '/sessions/{session_id}/events',
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
    summary: 'Events of a session, oldest first, a page at a time; filtered by tool_use_id, prompt_id, agent_id if given',
    path_params: SessionPath,
    query: EventPageQuery,
    responses: { 200: ok(EVENT_PAGE), 404: notFound, 422: invalid },
  },
  {
    method: 'get',
    path: '/sessions/{session_id}/usage',
    summary: "Model API usage per turn (prompt.id), from Claude Code's OpenTelemetry logs (POST /v1/logs)",
    path_params: SessionPath,
    responses: {
      200: ok(object({ session_id: { type: 'string' }, usage: nullable(ref('Usage')), turns: { type: 'array', items: ref('TurnUsage') } })),
      404: notFound,
      422: invalid,
    },
  },
  {
    method: 'get',
    path: '/usage',
    summary: 'Model API usage summed over every session, per agent and per project (the costliest first); only sessions with usage count',
    responses: {
      200: ok(
        object({
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
    summary: "How the session's tool calls ended (success, duration), from Claude Code's OpenTelemetry logs, each with its post_tool event",
    path_params: SessionPath,
    responses: { 200: ok(object({ session_id: { type: 'string' }, tool_results: { type: 'array', items: ref('ToolResult') } })), 404: notFound, 422: invalid },
  },
  {
    method: 'get',
    path: '/sessions/{session_id}/export',
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
        }),
      ),
      422: invalid,
    },
  },
  {
    method: 'post',
    path: '/events',
    summary: 'Store an event, creating its session if needed (deprecated)',
    body: LegacyEventBody,
    deprecated: true,
    responses: { 200: ok(object({ ok: { const: true } })), 422: invalid },
  },
  {
    method: 'get',
    path: '/events/{session_id}',
    summary: 'As GET /sessions/{id}/events, but an unknown session has no events (deprecated)',
    path_params: SessionPath,
    query: EventPageQuery,
    deprecated: true,
    responses: { 200: ok(EVENT_PAGE), 422: invalid },
  },
  {
    method: 'patch',
    path: '/sessions/{session_id}/metadata',
    summary: 'As PATCH /sessions/{id}, but null leaves a field unchanged (deprecated)',
    path_params: SessionPath,
    body: SessionMetadataPatch,
    deprecated: true,
    responses: { 200: ok(object({ ok: { const: true }, session: ref('Session') })), 404: notFound, 422: invalid },
  },
  {
    method: 'get',
    path: '/ws',
    summary: 'WebSocket: init (or the changes after `since`), then every committed change, each with its seq',
    query: StreamQuery,
    responses: { 101: { description: 'Switching to the WebSocket protocol' }, 401: error('Not authenticated'), 422: invalid },
  },
  {
    method: 'post',
    path: '/hooks/claude-code',
    summary: "A Claude Code hook's input, as its http hooks send it: creates the session on its first event, stores the event (once), sets the status (running, idle, finished)",
    body: ClaudeCodeHookBody,
    responses: {
      200: ok({ type: 'object', additionalProperties: false }, 'Stored (or stored before): `{}`, which asks Claude Code for nothing'),
      400: error('Malformed JSON, not an object, or no session_id'),
    },
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
        description: 'How the last session_stop went: failed for a non-zero exit_code or an error. Null before the first stop and after a restart.',
      }),
      created_at: timestamp,
      project_dir: nullable({ type: 'string' }),
      agent_name: nullable({ type: 'string' }),
      last_resumed_at: nullable(timestamp),
      event_count: { type: 'integer' },
      last_event_at: nullable(timestamp),
      source: nullable({ enum: ['claude-code'], description: 'claude-code: created by POST /hooks/claude-code; null: the original API' }),
      usage: nullable(ref('Usage')),
    }),
    Usage: USAGE,
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
    }),
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
  securitySchemes: { apiKey: { type: 'http', scheme: 'bearer', description: 'One of API_KEYS, when that is set' } },
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
          ...(operation.path === '/health' ? {} : { 401: error('Not authenticated') }),
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
        'takes and answers OTLP protobuf or JSON as the OpenTelemetry protocol specification describes them.',
    },
    components: COMPONENTS,
    security: [{}, { apiKey: [] }],
    paths,
  };
}

/** GET /openapi.json. The page that renders it for people is /docs (docs.ts). */
export function openApiRoutes(): Router {
  const router = createRouter();
  const document = openApiDocument();
  router.get('/openapi.json', (ctx) => {
    ctx.body = document;
  });
  return router;
}
