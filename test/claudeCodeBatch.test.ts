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
  it('creates the sessions, writes each status change just before the event that causes it, and skips what was stored', async () => {
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

    expect(await changesOfTransactionWith('batch-a', 'a-prompt-1')).toEqual([
      'session_created batch-a running',
      'session_created batch-b running',
      'event batch-a/a-prompt-1',
      'event batch-a/a-pre-1',
      'event batch-b/b-prompt-1',
      // One insert: the events trigger's own status change (a session_stop) comes before its events too.
      'session_updated batch-a idle',
      'session_updated batch-api finished',
      'event batch-a/a-stop-1',
      'event batch-api/api-end',
      'session_updated batch-a running',
      'event batch-a/a-prompt-2',
      'session_updated batch-b finished',
      'event batch-b/b-end',
    ]);

    // Delivered again, the whole batch changes nothing.
    const again = await recordClaudeCodeHooks(database.pool(), batch);
    expect(again.every((result) => !result.created)).toBe(true);
    const { rows: counts } = await database.query("select sum(event_count)::int as events from sessions where session_id like 'batch-%'");
    expect(counts[0].events).toBe(7);
  });
});
