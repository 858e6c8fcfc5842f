import { apiClient, sessionPath, type ApiClient } from './support/http';
import { startInstance, type TestInstance } from './support/instance';
import { useTestDatabase } from './support/testDatabase';
import { WsClient } from './support/wsClient';

const database = useTestDatabase();
let instances: TestInstance[];
let apis: ApiClient[];

beforeAll(async () => {
  instances = await Promise.all([startInstance(database.url), startInstance(database.url)]);
  apis = instances.map((instance) => apiClient(instance.baseUrl));
});

const SESSIONS = ['order-a', 'order-b', 'order-c', 'order-d'];
const SINGLE_WRITERS = 4;
const SINGLES_EACH = 150;
const BATCH_WRITERS = 2;
const BATCHES_EACH = 20;
const BATCH_SIZE = 50;
const LEGACY_EACH = 100;
const PER_SESSION = SINGLE_WRITERS * SINGLES_EACH + BATCH_WRITERS * BATCHES_EACH * BATCH_SIZE + LEGACY_EACH;

const message = (text: string) => ({ event_type: 'message', role: 'assistant', content: [{ type: 'text', text }] });

/** Reads a session's events as a client tailing it would: `after=<last id seen>`, again and again. */
async function tail(api: ApiClient, sessionId: string, writing: () => boolean): Promise<number[]> {
  const seen: number[] = [];
  let after = 0;
  for (;;) {
    const stillWriting = writing();
    const page = await api.get(sessionPath(sessionId, `/events?after=${after}&limit=500`));
    expect(page.status).toBe(200);
    const ids = page.body.events.map((event: { id: number }) => event.id);
    seen.push(...ids);
    if (ids.length > 0) after = ids[ids.length - 1];
    // Once writing had ended before a read that found nothing more, the tail has everything.
    if (!stillWriting && page.body.next_after === null) return seen;
    // Nothing new yet: a short pause, so that four tailers do not take the CPU the writers need on a busy machine.
    if (ids.length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('concurrent writers on two instances', () => {
  it('when single, batch and deprecated writers race, then a tailer paging with after= misses nothing and every WebSocket client sees each session in id order', async () => {
    const watchers = await Promise.all(instances.map((instance) => WsClient.connect(instance.wsUrl)));
    for (const id of SESSIONS) await apis[0]!.post('/sessions', { session_id: id, session_name: id });

    let writing = true;
    const tails = SESSIONS.map((id, i) => tail(apis[i % 2]!, id, () => writing));
    const writers: Promise<void>[] = [];
    SESSIONS.forEach((id, s) => {
      for (let w = 0; w < SINGLE_WRITERS; w += 1) {
        const api = apis[(s + w) % 2]!;
        writers.push(
          (async () => {
            for (let n = 0; n < SINGLES_EACH; n += 1) expect((await api.post(sessionPath(id, '/events'), message(`s${w}-${n}`))).status).toBe(201);
          })(),
        );
      }
      for (let w = 0; w < BATCH_WRITERS; w += 1) {
        const api = apis[(s + w + 1) % 2]!;
        writers.push(
          (async () => {
            for (let n = 0; n < BATCHES_EACH; n += 1) {
              const events = Array.from({ length: BATCH_SIZE }, (_, k) => message(`b${w}-${n}-${k}`));
              expect((await api.post(sessionPath(id, '/events/batch'), { events })).status).toBe(201);
            }
          })(),
        );
      }
      const legacy = apis[s % 2]!;
      writers.push(
        (async () => {
          for (let n = 0; n < LEGACY_EACH; n += 1) expect((await legacy.post('/events', { session_id: id, ...message(`l-${n}`) })).status).toBe(200);
        })(),
      );
    });
    await Promise.all(writers);
    writing = false;
    const tailed = await Promise.all(tails);

    let total = 0;
    for (const [i, id] of SESSIONS.entries()) {
      const stored = (await apis[0]!.get(`/events/${id}`)).body.events.map((event: { id: number }) => event.id);
      expect(stored).toHaveLength(PER_SESSION);
      // Missed: stored, but never seen by the tailer.
      const seen = new Set(tailed[i]);
      expect(stored.filter((eventId: number) => !seen.has(eventId))).toEqual([]);
      expect(tailed[i]).toEqual(stored);
      total += stored.length;
    }
    expect(total).toBeGreaterThanOrEqual(10_000);

    for (const watcher of watchers) {
      await watcher.waitFor((messages) => messages.filter((m) => m.type === 'event').length === total, 60_000);
      const last = new Map<string, number>();
      const backwards: string[] = [];
      for (const { data } of watcher.live.filter((m) => m.type === 'event')) {
        if ((last.get(data.session_id) ?? 0) > data.id) backwards.push(`${data.session_id}: ${last.get(data.session_id)} then ${data.id}`);
        last.set(data.session_id, data.id);
      }
      expect(backwards).toEqual([]);
      watcher.close();
    }
  }, 180_000);
});
