import { randomUUID } from 'node:crypto';
import { sessionPath } from './support/http';
import { startInstance, useInstance } from './support/instance';
import { useTestDatabase } from './support/testDatabase';
import { waitUntil } from './support/waitUntil';
import { WsClient } from './support/wsClient';

/**
 * Retention (issue 22): finished sessions older than RETENTION_DAYS, and the oldest finished sessions while the
 * events take more than RETENTION_MAX_BYTES, are deleted in batches as DELETE does it; running and idle
 * sessions never are.
 */

const database = useTestDatabase();
const { instance: server, api } = useInstance(database);
const store = () => server.service.store;

/** A session with `events` events of about `bytes` each, finished (or left as `status`), last active `daysAgo`. */
async function session({ daysAgo, status = 'finished', events = 3, bytes = 1000 }: { daysAgo: number; status?: 'finished' | 'running' | 'idle'; events?: number; bytes?: number }) {
  const id = `ret-${randomUUID()}`;
  expect((await api.post('/sessions', { session_id: id, session_name: `${status} ${daysAgo}d` })).status).toBe(201);
  const batch = Array.from({ length: events }, (_, i) => ({ event_type: 'post_tool', tool_name: 'Bash', tool_output: `${i} ${'x'.repeat(bytes)}` }));
  if (status === 'finished') batch.push({ event_type: 'session_stop', tool_name: 'Bash', tool_output: '' });
  expect((await api.post(sessionPath(id, '/events/batch'), { events: batch })).status).toBe(201);
  if (status === 'idle') await database.query("update sessions set status = 'idle' where session_id = $1", [id]);
  // last_event_at is not a column clients are told about: changing it logs nothing.
  await database.query('update sessions set last_event_at = now() - make_interval(days => $2), created_at = now() - make_interval(days => $2 + 1) where session_id = $1', [
    id,
    daysAgo,
  ]);
  return id;
}

const exists = async (id: string) => (await api.get(sessionPath(id))).status === 200;
const eventBytes = async () => Number((await database.query('select coalesce(sum(asm_event_json_size(e)), 0) as bytes from events e')).rows[0].bytes);

beforeEach(async () => {
  await database.query('delete from sessions');
});

describe('a retention pass', () => {
  it('deletes finished sessions older than RETENTION_DAYS, in batches, and keeps running, idle and recent ones', async () => {
    const ws = await WsClient.connect(server.wsUrl);
    try {
      const old = await Promise.all(Array.from({ length: 7 }, (_, i) => session({ daysAgo: 40 + i })));
      const runningOld = await session({ daysAgo: 90, status: 'running' });
      const idleOld = await session({ daysAgo: 90, status: 'idle' });
      const recent = await session({ daysAgo: 2 });
      const batches: { sessions: number; events: number }[] = [];
      const result = await store().retention.pass({ days: 30 }, { batchSessions: 3, onBatch: (batch) => batches.push(batch) });
      expect(result).toMatchObject({ ran: true, sessionsDeleted: 7, eventsDeleted: 7 * 4 });
      // Small batches, each its own transaction: 3 + 3 + 1.
      expect(batches.map((batch) => batch.sessions)).toEqual([3, 3, 1]);
      for (const id of old) expect(await exists(id)).toBe(false);
      for (const id of [runningOld, idleOld, recent]) expect(await exists(id)).toBe(true);
      expect((await database.query('select count(*)::int as n from events where session_id = any($1)', [old])).rows[0].n).toBe(0);
      // Every client hears each delete, as for DELETE /sessions/{id}.
      const messages = await ws.waitFor((all) => all.filter((m) => m.type === 'session_deleted').length >= old.length);
      expect(
        messages
          .filter((m) => m.type === 'session_deleted')
          .map((m) => m.session_id)
          .sort(),
      ).toEqual([...old].sort());
      // The audit trail has the pass, with its counts, done by no key.
      const audit = (await api.get('/audit')).body.entries as any[];
      expect(audit.find((entry) => entry.action === 'retention.pass')).toMatchObject({ key: null, details: { sessions_deleted: 7, events_deleted: 28, days: 30 } });
    } finally {
      ws.close();
    }
  });

  it('deletes the oldest finished sessions until the events are under RETENTION_MAX_BYTES', async () => {
    const sessions = [];
    for (let i = 0; i < 8; i++) sessions.push(await session({ daysAgo: 20 - i, events: 5, bytes: 2000 }));
    const running = await session({ daysAgo: 100, status: 'running', events: 20, bytes: 2000 });
    const before = await eventBytes();
    const limit = Math.floor(before / 2);
    const largest = Number(
      (await database.query('select max(bytes) as bytes from (select sum(asm_event_json_size(e)) as bytes from events e group by session_id) s')).rows[0].bytes,
    );
    const result = await store().retention.pass({ maxBytes: limit }, { batchSessions: 2 });
    const after = await eventBytes();
    expect(after).toBeLessThanOrEqual(limit);
    // No more than needed: one session fewer deleted would have left it over the limit.
    expect(after).toBeGreaterThan(limit - largest);
    expect(result).toMatchObject({ ran: true, bytesBefore: before, bytesAfter: after });
    // Oldest first, and no more than needed: the session before the last deleted one would have been enough.
    const kept = [];
    for (const id of sessions) kept.push(await exists(id));
    const firstKept = kept.indexOf(true);
    expect(firstKept).toBeGreaterThan(0);
    expect(kept.slice(firstKept).every(Boolean)).toBe(true);
    expect(await exists(running)).toBe(true);
  });

  it('never deletes a running session, even over the byte limit', async () => {
    const running = await session({ daysAgo: 400, status: 'running', events: 10 });
    const result = await store().retention.pass({ days: 1, maxBytes: 1 });
    expect(result).toMatchObject({ ran: true, sessionsDeleted: 0 });
    expect(await exists(running)).toBe(true);
  });

  it('runs on one instance at a time', async () => {
    const old = await session({ daysAgo: 50 });
    await database.withClient(async (client) => {
      await client.query("select pg_advisory_lock(hashtext('asm_retention'), 0)");
      expect(await store().retention.pass({ days: 30 })).toMatchObject({ ran: false, sessionsDeleted: 0 });
      await client.query("select pg_advisory_unlock(hashtext('asm_retention'), 0)");
    });
    expect(await exists(old)).toBe(true);
    expect(await store().retention.pass({ days: 30 })).toMatchObject({ ran: true, sessionsDeleted: 1 });
  });

  it('is run by an instance started with RETENTION_DAYS', async () => {
    const old = await session({ daysAgo: 50 });
    expect(await exists(old)).toBe(true);
    const instance = await startInstance(database.url, { retentionDays: 30 });
    await waitUntil(async () => !(await exists(old)), 'the retention pass at start deleted the old session');
    await instance.close();
  });
});
