import { createLogger } from '../src/logger';
import { EventWriter } from '../src/store/events';
import { useInstance } from './support/instance';
import { useTestDatabase } from './support/testDatabase';

const database = useTestDatabase();
const { api } = useInstance(database);

describe('group commit', () => {
  it('concurrent single events share transactions, and each request is answered after its commit', async () => {
    const sessions = Array.from({ length: 16 }, (_, i) => `gc-${i}`);
    for (const id of sessions) await api.post('/sessions', { session_id: id, session_name: id });
    const replies = await Promise.all(Array.from({ length: 400 }, (_, i) => api.post(`/sessions/${sessions[i % 16]}/events`, { event_type: 'message', reason: String(i) })));
    expect(replies.every((reply) => reply.status === 201)).toBe(true);
    const ids = replies.map((reply) => reply.body.event.id);
    const { rows } = await database.query("select count(*)::int as events, count(distinct tx)::int as transactions from changes where kind = 'event' and event_id = any($1)", [
      ids,
    ]);
    expect(rows[0].events).toBe(400);
    expect(rows[0].transactions).toBeLessThan(400);
    const visible = await database.query('select count(*)::int as n from events where id = any($1)', [ids]);
    expect(visible.rows[0].n).toBe(400);
  });

  it("keeps one session's events in the order they were sent", async () => {
    await api.post('/sessions', { session_id: 'gc-order', session_name: 'x' });
    const ids: number[] = [];
    for (let i = 0; i < 20; i++) ids.push((await api.post('/sessions/gc-order/events', { event_type: 'message' })).body.event.id);
    expect([...ids].sort((a, b) => a - b)).toEqual(ids);
  });

  it('an event whose session is gone, or that the database refuses, fails alone', async () => {
    await database.query("insert into sessions (session_id, session_name) values ('gc-alive', 'x')");
    const writer = new EventWriter({ pool: database.pool(), logger: createLogger('silent'), maxWaitMs: 50 });
    const results = await Promise.allSettled([
      writer.append({ sessionId: 'gc-alive', event: { event_type: 'first' } }),
      writer.append({ sessionId: 'gc-missing', event: { event_type: 'lost' } }),
      // Validation normally stops this; the writer must still not let it sink its neighbours.
      writer.append({ sessionId: 'gc-alive', event: { event_type: 'poison', timestamp: 'not a time' } }),
      writer.append({ sessionId: 'gc-alive', event: { event_type: 'stop', event_id: 'end' } }),
    ]);
    expect(results.map((result) => result.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    expect((results[0] as PromiseFulfilledResult<{ created: boolean }>).value.created).toBe(true);
    expect((results[1] as PromiseFulfilledResult<unknown>).value).toBeNull();
    expect(String((results[2] as PromiseRejectedResult).reason)).toMatch(/invalid input syntax for type timestamp/);
    const { rows } = await database.query("select event_type from events where session_id = 'gc-alive' order by id");
    expect(rows.map((row) => row.event_type)).toEqual(['first', 'stop']);
  });
});
