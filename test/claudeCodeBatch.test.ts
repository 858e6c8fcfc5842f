import { recordClaudeCodeHooks, type HookEventToStore } from '../src/store/claudeCode';
import type { NewEvent } from '../src/domain/event';
import type { StatusEffect } from '../src/domain/session';
import { useTestDatabase } from './support/testDatabase';

const database = useTestDatabase();

const hook = (sessionId: string, effect: StatusEffect, event: NewEvent & { event_id: string }): HookEventToStore => ({
  sessionId,
  session: { session_name: `name of ${sessionId}`, project_dir: `/srv/projects/${sessionId}` },
  event,
  effect,
});

/** The change log of the transaction that stored `eventId`, in order, each change as a short label. */
async function changesOfTransactionWith(sessionId: string, eventId: string): Promise<string[]> {
  const { rows } = await database.query(
    `select c.kind, c.session_id, c.session->>'status' as status, e.event_id
     from changes c left join events e on e.id = c.event_id
     where c.tx = (select c2.tx from changes c2 join events e2 on e2.id = c2.event_id where e2.session_id = $1 and e2.event_id = $2)
     order by c.id`,
    [sessionId, eventId],
  );
  return rows.map((row) => (row.kind === 'event' ? `event ${row.session_id}/${row.event_id}` : `${row.kind} ${row.session_id} ${row.status}`));
}

describe('recordClaudeCodeHooks: one batch of many hooks', () => {
  it("creates the sessions, writes each status change after its session's earlier events and before the event that causes it, and skips what was stored", async () => {
    await database.query("insert into sessions (session_id, session_name) values ('batch-api', 'of the original API')");
    const batch = [
      hook('batch-a', 'prompt', { event_type: 'message', role: 'user', event_id: 'a-prompt-1' }),
      hook('batch-a', 'working', { event_type: 'pre_tool', tool_name: 'Bash', event_id: 'a-pre-1' }),
      hook('batch-b', 'prompt', { event_type: 'message', role: 'user', event_id: 'b-prompt-1' }),
      hook('batch-a', 'turn_ended', { event_type: 'message', role: 'assistant', event_id: 'a-stop-1' }),
      // The same hook again: stored once, and it does not move the session back to running.
      hook('batch-a', 'working', { event_type: 'pre_tool', tool_name: 'Bash', event_id: 'a-pre-1' }),
      hook('batch-api', 'ended', { event_type: 'session_stop', event_id: 'api-end' }),
      hook('batch-a', 'prompt', { event_type: 'message', role: 'user', event_id: 'a-prompt-2' }),
      hook('batch-b', 'ended', { event_type: 'session_stop', error: 'killed', event_id: 'b-end' }),
    ];

    const stored = await recordClaudeCodeHooks(database.pool(), batch);
    expect(stored.map((result) => result.created)).toEqual([true, true, true, true, false, true, true, true]);

    const { rows: sessions } = await database.query(
      "select session_id, session_name, project_dir, status, outcome, source, event_count from sessions where session_id like 'batch-%' order by session_id",
    );
    expect(sessions).toEqual([
      { session_id: 'batch-a', session_name: 'name of batch-a', project_dir: '/srv/projects/batch-a', status: 'running', outcome: null, source: 'claude-code', event_count: '4' },
      // A session of the original API takes the events and keeps its own status rules (the events trigger's).
      { session_id: 'batch-api', session_name: 'of the original API', project_dir: null, status: 'finished', outcome: 'succeeded', source: null, event_count: '1' },
      {
        session_id: 'batch-b',
        session_name: 'name of batch-b',
        project_dir: '/srv/projects/batch-b',
        status: 'finished',
        outcome: 'failed',
        source: 'claude-code',
        event_count: '2',
      },
    ]);

    // Each session's changes in the order they happened; other sessions' may lie either side (the batch
    // commits at once), so the order across sessions is not asserted.
    const changes = await changesOfTransactionWith('batch-a', 'a-prompt-1');
    const of = (sessionId: string) => changes.filter((change) => change.split(/[ /]/)[change.startsWith('event') ? 1 : 1] === sessionId);
    expect(changes).toHaveLength(13);
    expect(of('batch-a')).toEqual([
      'session_created batch-a running',
      'event batch-a/a-prompt-1',
      'event batch-a/a-pre-1',
      'session_updated batch-a idle',
      'event batch-a/a-stop-1',
      'session_updated batch-a running',
      'event batch-a/a-prompt-2',
    ]);
    expect(of('batch-b')).toEqual(['session_created batch-b running', 'event batch-b/b-prompt-1', 'session_updated batch-b finished', 'event batch-b/b-end']);
    // The events trigger's own status change (a session_stop) comes before its event too.
    expect(of('batch-api')).toEqual(['session_updated batch-api finished', 'event batch-api/api-end']);

    // Delivered again, the whole batch changes nothing.
    const again = await recordClaudeCodeHooks(database.pool(), batch);
    expect(again.every((result) => !result.created)).toBe(true);
    const { rows: counts } = await database.query("select sum(event_count)::int as events from sessions where session_id like 'batch-%'");
    expect(counts[0].events).toBe(7);
  });
  it('writes the hooks of many sessions in one insert however many of their statuses change', async () => {
    const sessionIds = ['many-1', 'many-2', 'many-3', 'many-4', 'many-5'];
    await recordClaudeCodeHooks(
      database.pool(),
      sessionIds.map((id) => hook(id, 'prompt', { event_type: 'message', role: 'user', event_id: `${id}-prompt` })),
    );

    // Each hook ends its session's turn: five status changes, where cutting the batch at every change made five inserts.
    const stops = sessionIds.map((id) => hook(id, 'turn_ended', { event_type: 'message', role: 'assistant', event_id: `${id}-stop` }));
    expect((await recordClaudeCodeHooks(database.pool(), stops)).every((result) => result.created)).toBe(true);

    // (The rows of one statement share its command id, cmin.)
    const { rows: inserts } = await database.query("select count(distinct cmin::text)::int as statements, count(*)::int as events from events where event_id like 'many-%-stop'");
    expect(inserts[0]).toEqual({ statements: 1, events: 5 });
    const { rows: sessions } = await database.query("select status, event_count::int from sessions where session_id like 'many-%'");
    expect(sessions).toEqual(sessionIds.map(() => ({ status: 'idle', event_count: 2 })));
    // Each session's change still comes before the event that causes it, and counts it.
    const changes = await changesOfTransactionWith('many-3', 'many-3-stop');
    expect(changes.filter((change) => change.startsWith('session_updated'))).toHaveLength(5);
    for (const id of sessionIds) {
      expect(changes.indexOf(`session_updated ${id} idle`)).toBeLessThan(changes.indexOf(`event ${id}/${id}-stop`));
    }
    const { rows: counted } = await database.query(
      `select (c.session->>'event_count')::int as event_count from changes c
       where c.kind = 'session_updated' and c.session_id = 'many-3' order by c.id desc limit 1`,
    );
    expect(counted[0].event_count).toBe(2);
  });
});
