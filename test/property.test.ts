import zlib from 'node:zlib';
import fc from 'fast-check';
import { sessionPath } from './support/http';
import { useInstance } from './support/instance';
import { useTestDatabase } from './support/testDatabase';

// Generated bodies thrown at every write endpoint. Whatever comes in, the answer is 2xx or 4xx, never
// 5xx; what was accepted reads back exactly as it was sent; and what was stored before is untouched.

const database = useTestDatabase();
const { api, instance } = useInstance(database);
let canary: { session: unknown; events: unknown };
let sessionCounter = 0;

const RUNS = Number(process.env.PROPERTY_RUNS ?? 60);

beforeAll(async () => {
  await api.post('/sessions', { session_id: 'canary', session_name: 'canary', project_dir: '/c' });
  await api.post('/sessions/canary/events', { event_type: 'message', content: [{ type: 'text', text: 'keep me' }], tool_output: { a: [1, '\u0000'] } });
  canary = { session: (await api.get('/sessions/canary')).body, events: (await api.get('/sessions/canary/events')).body };
});

// Any text a client might send: control characters, U+0000, unpaired surrogates, emoji, long runs.
const anyText = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.constantFrom('', '\u0000', '\ud800', 'a/b%20c', '🚀', 'x'.repeat(300), 'é'.repeat(2048), 'é'.repeat(2049)),
);
const anyJson = fc.jsonValue({ maxDepth: 4 });
// Mostly well-typed values with a good share of wrong ones.
const textish = fc.oneof({ weight: 4, arbitrary: anyText }, { weight: 1, arbitrary: anyJson });
const maybe = <T>(arbitrary: fc.Arbitrary<T>) => fc.option(arbitrary, { nil: undefined });
const timestamp = fc.oneof(
  fc.date({ min: new Date('0001-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true }).map((d) => d.toISOString()),
  anyText,
);

const eventBody = fc.record(
  {
    event_type: textish,
    session_name: maybe(fc.oneof(anyText, fc.constant(null))),
    timestamp: maybe(fc.oneof(timestamp, fc.constant(null))),
    tool_name: maybe(textish),
    tool_input: maybe(fc.oneof(fc.dictionary(anyText, anyJson, { maxKeys: 4 }), anyJson)),
    tool_output: maybe(anyJson),
    error: maybe(textish),
    exit_code: maybe(fc.oneof(fc.integer(), fc.double(), fc.constantFrom(2 ** 31, -(2 ** 31), 2 ** 53, 1e308))),
    reason: maybe(textish),
    role: maybe(textish),
    content: maybe(fc.oneof(fc.array(fc.dictionary(anyText, anyJson, { maxKeys: 3 }), { maxLength: 4 }), anyJson)),
    event_id: maybe(textish),
  },
  { requiredKeys: [] },
);
const sessionBody = fc.record(
  { session_id: textish, session_name: textish, project_dir: maybe(fc.oneof(anyText, fc.constant(null))), agent_name: maybe(textish) },
  { requiredKeys: [] },
);
const patchBody = fc.record(
  {
    session_name: maybe(fc.oneof(textish, fc.constant(null))),
    project_dir: maybe(fc.oneof(anyText, fc.constant(null))),
    agent_name: maybe(fc.oneof(anyText, fc.constant(null))),
    last_resumed_at: maybe(fc.oneof(timestamp, fc.constant(null))),
  },
  { requiredKeys: [] },
);
// Sometimes not even an object.
const orGarbage = <T>(arbitrary: fc.Arbitrary<T>) => fc.oneof({ weight: 5, arbitrary }, { weight: 1, arbitrary: anyJson });

/** What the server keeps of a value: JSON has no -0 and no undefined members. */
const asJson = (value: unknown) => (value === undefined ? undefined : JSON.parse(JSON.stringify(value)));

const EVENT_FIELDS = ['event_type', 'tool_name', 'tool_input', 'tool_output', 'error', 'exit_code', 'reason', 'role', 'content', 'event_id'] as const;

function expectEventStored(sent: Record<string, unknown>, stored: Record<string, unknown>) {
  for (const field of EVENT_FIELDS) if (sent[field] !== undefined) expect(stored[field]).toEqual(asJson(sent[field]));
  if (typeof sent.session_name === 'string') expect(stored.session_name).toBe(sent.session_name);
  if (typeof sent.timestamp === 'string') expect(Date.parse(stored.timestamp as string)).toBe(Date.parse(sent.timestamp));
}

async function freshSession(): Promise<string> {
  const id = `prop-${++sessionCounter}`;
  expect((await api.post('/sessions', { session_id: id, session_name: 'p' })).status).toBe(201);
  return id;
}

const isClientError = (status: number) => status >= 400 && status < 500;

describe('generated bodies', () => {
  it('POST /sessions', async () => {
    await fc.assert(
      fc.asyncProperty(orGarbage(sessionBody), async (body) => {
        const reply = await api.post('/sessions', body);
        if (reply.status !== 201) return expect(isClientError(reply.status)).toBe(true);
        const sent = body as Record<string, unknown>;
        const stored = (await api.get(sessionPath(sent.session_id as string))).body.session;
        for (const field of ['session_id', 'session_name', 'project_dir', 'agent_name']) {
          if (sent[field] !== undefined) expect(stored[field]).toEqual(sent[field]);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('POST /sessions/{id}/events', async () => {
    const id = await freshSession();
    await fc.assert(
      fc.asyncProperty(orGarbage(eventBody), async (body) => {
        const reply = await api.post(sessionPath(id, '/events'), body);
        if (reply.status !== 201 && reply.status !== 200) return expect(isClientError(reply.status)).toBe(true);
        const page = (await api.get(sessionPath(id, `/events?after=${reply.body.event.id - 1}&limit=1`))).body;
        expect(page.events[0]).toEqual(reply.body.event);
        if (reply.status === 201) expectEventStored(body as Record<string, unknown>, page.events[0]);
      }),
      { numRuns: RUNS },
    );
  });

  it('POST /sessions/{id}/events/batch', async () => {
    await fc.assert(
      fc.asyncProperty(orGarbage(fc.record({ events: fc.array(eventBody, { maxLength: 5 }) })), async (body) => {
        const id = await freshSession();
        const reply = await api.post(sessionPath(id, '/events/batch'), body);
        const stored = (await api.get(sessionPath(id, '/events'))).body.events;
        if (reply.status !== 201 && reply.status !== 200) {
          expect(isClientError(reply.status)).toBe(true);
          return expect(stored).toEqual([]);
        }
        const sent = (body as { events: Record<string, unknown>[] }).events;
        expect(reply.body.events).toHaveLength(sent.length);
        sent.forEach((event, i) => {
          const first = sent.findIndex((other) => other.event_id != null && other.event_id === event.event_id);
          expectEventStored(first === -1 ? event : sent[first]!, reply.body.events[i]);
        });
        expect(stored).toEqual([...new Map(reply.body.events.map((e: { id: number }) => [e.id, e])).values()]);
      }),
      { numRuns: RUNS },
    );
  });

  it('PATCH /sessions/{id} and PATCH /sessions/{id}/metadata', async () => {
    await fc.assert(
      fc.asyncProperty(orGarbage(patchBody), fc.boolean(), async (body, legacy) => {
        const id = await freshSession();
        const before = (await api.get(sessionPath(id))).body.session;
        const reply = await api.patch(sessionPath(id, legacy ? '/metadata' : ''), body);
        const after = (await api.get(sessionPath(id))).body.session;
        if (reply.status !== 200) {
          expect(isClientError(reply.status)).toBe(true);
          return expect(after).toEqual(before);
        }
        expect(reply.body.session).toEqual(after);
        for (const [field, value] of Object.entries(body as Record<string, unknown>)) {
          if (!['session_name', 'project_dir', 'agent_name', 'last_resumed_at'].includes(field)) continue;
          if (value === undefined || (legacy && value === null)) continue;
          if (field === 'last_resumed_at') expect(value === null ? after[field] : Date.parse(after[field])).toEqual(value === null ? null : Date.parse(value as string));
          else expect(after[field]).toEqual(value);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('POST /events (deprecated)', async () => {
    await fc.assert(
      fc.asyncProperty(orGarbage(fc.record({ session_id: textish }).chain((head) => eventBody.map((event) => ({ ...event, ...head })))), async (body) => {
        const reply = await api.post('/events', body);
        if (reply.status !== 200) return expect(isClientError(reply.status)).toBe(true);
        const sent = body as Record<string, unknown>;
        const events = (await api.get(`/events/${encodeURIComponent(sent.session_id as string)}?limit=10000`)).body.events;
        const stored = sent.event_id != null ? events.find((e: { event_id: unknown }) => e.event_id === sent.event_id) : events[events.length - 1];
        expect(stored).toBeDefined();
      }),
      { numRuns: RUNS },
    );
  });

  it('GET /sessions with hand-made cursors', async () => {
    // Fits the pattern of a PostgreSQL timestamp, with any digits: month 13, offset +99:99, year 0 and the like.
    const digits = (n: number) => fc.array(fc.integer({ min: 0, max: 9 }), { minLength: n, maxLength: n }).map((d) => d.join(''));
    const pgLike = fc
      .tuple(digits(4), digits(2), digits(2), digits(2), digits(2), digits(2), fc.option(digits(6)), fc.constantFrom('+', '-'), digits(2), fc.option(digits(2)))
      .map(([y, mo, d, h, mi, s, frac, sign, oh, om]) => `${y}-${mo}-${d} ${h}:${mi}:${s}${frac ? `.${frac}` : ''}${sign}${oh}${om ? `:${om}` : ''}`);
    const position = fc.oneof(fc.tuple(fc.oneof(pgLike, anyText), textish), fc.array(textish, { maxLength: 3 }), anyJson);
    // As the query string carries it: a base64url cursor, any text percent-encoded, or broken percent-encoding.
    const cursor = fc.oneof(
      { weight: 4, arbitrary: position.map((value) => Buffer.from(JSON.stringify(value) ?? '').toString('base64url')) },
      { weight: 1, arbitrary: anyText.map((text) => encodeURIComponent(text.toWellFormed())) },
      { weight: 1, arbitrary: fc.constantFrom('%E0%A4%A', '%00', '%', '&cursor=a') },
    );
    await fc.assert(
      fc.asyncProperty(cursor, async (value) => {
        const reply = await api.get(`/sessions?limit=3&cursor=${value}`);
        expect([200, 422]).toContain(reply.status);
      }),
      { numRuns: RUNS },
    );
  });

  it('raw bodies: any bytes, any Content-Encoding, any charset', async () => {
    const json = orGarbage(sessionBody).map((body) => Buffer.from(JSON.stringify(body) ?? ''));
    const bytes = fc.oneof(
      json,
      fc.uint8Array({ maxLength: 64 }).map((array) => Buffer.from(array)),
    );
    const encoding = fc.constantFrom(undefined, 'identity', 'gzip', 'x-gzip', 'deflate', 'br', 'compress', 'gzip, br', 'GZIP', '');
    const compress = (raw: Buffer, name: string | undefined) =>
      name === 'br' ? zlib.brotliCompressSync(raw) : name === 'deflate' ? zlib.deflateSync(raw) : name?.toLowerCase().includes('gzip') ? zlib.gzipSync(raw) : raw;
    const charset = fc.constantFrom('', '; charset=utf-8', '; charset=UTF-8', '; charset=latin1', '; charset=utf-16le', '; charset=');
    await fc.assert(
      fc.asyncProperty(bytes, encoding, fc.boolean(), charset, async (raw, name, compressed, suffix) => {
        const headers: Record<string, string> = { 'content-type': `application/json${suffix}` };
        if (name !== undefined) headers['content-encoding'] = name;
        const response = await fetch(`${instance.baseUrl}/sessions`, { method: 'POST', headers, body: compressed ? compress(raw, name) : raw });
        const body = (await response.json()) as { session: { session_id: string }; detail: unknown };
        if (response.status === 201) return expect(body.session.session_id).toEqual(JSON.parse(raw.toString('utf8')).session_id);
        expect(isClientError(response.status)).toBe(true);
        expect(body.detail).toBeDefined();
      }),
      { numRuns: RUNS },
    );
  });

  it('left what was stored before untouched', async () => {
    expect({ session: (await api.get('/sessions/canary')).body, events: (await api.get('/sessions/canary/events')).body }).toEqual(canary);
  });
});
