import WebSocket from 'ws';
import { listSessionEvents } from '../src/store/events';
import { sessionPath } from './support/http';
import { useInstance, type TestInstance } from './support/instance';
import { useTestDatabase } from './support/testDatabase';

// Two instances on one database, alike but for the slice size: one reads every item larger than a kilobyte in
// slices, the other never slices. Whatever one answers, byte for byte, the other must.
const SLICE = 1_000;
const BUDGET = 10_000;
const database = useTestDatabase();
const [sliced, whole] = [
  useInstance(database, { pageMaxBytes: BUDGET, pageSliceBytes: SLICE }).instance,
  useInstance(database, { pageMaxBytes: BUDGET, pageSliceBytes: 1 << 30 }).instance,
] as [TestInstance, TestInstance];

// Characters of one to four bytes and characters JSON escapes, so that slice boundaries fall inside characters.
const MIXED = [...'a😀中é"\\\n\u0001'];
const text = (length: number, offset = 0) => Array.from({ length }, (_, i) => MIXED[(i + offset) % MIXED.length]).join('');

async function rawBody(instance: TestInstance, path: string): Promise<Buffer> {
  const reply = await fetch(instance.baseUrl + path);
  expect(reply.status).toBe(200);
  return Buffer.from(await reply.arrayBuffer());
}

/** Every page from `first` on, following `next` (which reads the continuation out of a page), concatenated. */
async function walk(instance: TestInstance, first: string, next: (body: any) => string | null): Promise<Buffer> {
  const pages: Buffer[] = [];
  for (let path: string | null = first; path !== null;) {
    const body = await rawBody(instance, path);
    pages.push(body);
    path = next(JSON.parse(String(body)));
  }
  return Buffer.concat(pages);
}

/** The raw frames of `/ws?query` until `count` messages have arrived. */
function rawMessages(instance: TestInstance, query: string, count: number): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`${instance.wsUrl}${query}`);
    const messages: Buffer[] = [];
    const timer = setTimeout(() => reject(new Error(`${messages.length} of ${count} messages`)), 20_000);
    socket.on('message', (data: Buffer) => {
      messages.push(Buffer.from(data));
      if (messages.length === count) {
        clearTimeout(timer);
        socket.close();
        resolve(messages);
      }
    });
    socket.on('error', reject);
  });
}

let since: number;
let outputs: string[];
let eventIds: number[];
const largeDirs = [text(5_000), text(3 * SLICE, 1), text(20_000, 2)];

beforeAll(async () => {
  since = Number((await database.query('select asm_last_seq() as last_seq')).rows[0].last_seq);
  await sliced.api.post('/sessions', { session_id: 'slices', session_name: 'slices' });
  // Larger and smaller than a slice and than the budget; each starts at another place in MIXED.
  outputs = [10, 2_500, 999, 1_000, 1_001, 30_000, 4_000, 7].map((length, i) => text(length, i));
  const stored = await sliced.api.post(sessionPath('slices', '/events/batch'), {
    events: outputs.map((output, i) => ({ event_type: 'post_tool', tool_output: output, error: i % 2 ? output : null, content: [{ type: 'text', text: output }] })),
  });
  expect(stored.status).toBe(201);
  eventIds = stored.body.events.map((event: { id: number }) => event.id);
  // Stored before session fields had a limit: large text in the fields a session's JSON carries.
  for (const [i, dir] of largeDirs.entries()) {
    await database.query('insert into sessions (session_id, session_name, project_dir, agent_name) values ($1, $2, $3, $4)', [
      `wide-${i}`,
      i === 1 ? dir : `wide ${i}`,
      dir,
      i === 2 ? text(4_000, 3) : null,
    ]);
  }
});

describe('an item larger than a slice', () => {
  it('when paged, then it is read back exactly, every page the bytes the unsliced read gives', async () => {
    for (const limit of [1, 3, 70]) {
      const path = `/events?limit=${limit}`;
      const next = (page: { next_after: number | null }) => (page.next_after === null ? null : sessionPath('slices', `${path}&after=${page.next_after}`));
      const [fromSliced, fromWhole] = await Promise.all([sliced, whole].map((instance) => walk(instance, sessionPath('slices', path), next)));
      expect(fromSliced.equals(fromWhole)).toBe(true);
    }
    let after = 0;
    const read: string[] = [];
    for (;;) {
      const page = await sliced.api.get(sessionPath('slices', `/events?limit=70&after=${after}`));
      for (const event of page.body.events as { tool_output: string; error: string | null }[]) {
        expect(event.error).toBe(read.length % 2 ? event.tool_output : null);
        read.push(event.tool_output);
      }
      if (page.body.next_after === null) break;
      after = page.body.next_after;
    }
    expect(read).toEqual(outputs);
  });

  it('when a whole list is read (deprecated GET /events/{id}, GET /sessions), then its bytes are those of the unsliced read', async () => {
    for (const path of ['/events/slices', '/sessions', '/sessions?limit=1', '/sessions?limit=2']) {
      const [fromSliced, fromWhole] = await Promise.all([sliced, whole].map((instance) => rawBody(instance, path)));
      expect(fromSliced.equals(fromWhole)).toBe(true);
    }
    const sessions = (await sliced.api.get('/sessions')).body.sessions as { session_id: string; project_dir: string }[];
    for (const [i, dir] of largeDirs.entries()) expect(sessions.find((session) => session.session_id === `wide-${i}`)!.project_dir).toBe(dir);
  });

  it('when sent on /ws (init, a replay), then each message is the bytes of the unsliced one', async () => {
    const init = await Promise.all([sliced, whole].map((instance) => rawMessages(instance, '', 1)));
    expect(init[0]![0]!.equals(init[1]![0]!)).toBe(true);
    const changes = Number(JSON.parse(String(init[0]![0])).seq) - since;
    const replays = await Promise.all([sliced, whole].map((instance) => rawMessages(instance, `?since=${since}`, changes)));
    expect(replays[0]!.length).toBe(changes);
    replays[0]!.forEach((message, i) => expect(message.equals(replays[1]![i]!)).toBe(true));
    const replayed = replays[0]!.map((message) => JSON.parse(String(message)));
    expect(replayed.filter((message) => message.type === 'event').map((message) => message.data.tool_output)).toEqual(outputs);
    expect(replayed.filter((message) => message.session?.session_id === 'wide-1')[0].session.session_name).toBe(largeDirs[1]);
  });
});

describe('the pieces of a sliced page', () => {
  it('when read to the end, returned part-way or returned unread, then they hand their connection back', async () => {
    const pool = database.pool({ max: 1 });
    const request = { after: eventIds[4], limit: 10, maxBytes: BUDGET, sliceBytes: SLICE };
    const read = async () => {
      const page = await listSessionEvents(pool, 'slices', request);
      expect(typeof page!.events).not.toBe('string');
      return page!.events as AsyncIterableIterator<string> & { return(): Promise<unknown> };
    };
    let joined = '';
    for await (const piece of await read()) joined += piece;
    expect(JSON.parse(`[${joined}]`)[0].tool_output).toBe(outputs[5]);
    const partly = await read();
    await partly.next();
    await partly.return();
    await (await read()).return();
    // With its one connection handed back each time, the pool still answers.
    expect((await pool.query('select 1 as one')).rows[0].one).toBe(1);
    expect(pool.idleCount).toBe(1);
  });
});
