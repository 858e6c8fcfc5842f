import { sessionPath } from './support/http';
import { useInstance } from './support/instance';
import { useTestDatabase } from './support/testDatabase';

const database = useTestDatabase();
const server = useInstance(database);
const api = server.api;

describe('POST /events (deprecated)', () => {
  it('session_start creates the session, events are stored, session_stop finishes it', async () => {
    expect(await api.post('/events', { event_type: 'session_start', session_id: 'legacy-1', session_name: 'old client' })).toMatchObject({
      status: 200,
      body: { ok: true },
    });
    expect((await api.get('/sessions/legacy-1')).body.session).toMatchObject({ session_name: 'old client', status: 'running' });
    await api.post('/events', { event_type: 'message', session_id: 'legacy-1', role: 'assistant', content: [{ type: 'text', text: 'hi' }] });
    await api.post('/events', { event_type: 'session_stop', session_id: 'legacy-1' });
    expect((await api.get('/sessions/legacy-1/status')).body.status).toBe('finished');
    expect((await api.get('/sessions/legacy-1/result')).body.result).toBe('hi');
    const events = (await api.get('/sessions/legacy-1/events')).body.events;
    expect(events.map((event: { event_type: string }) => event.event_type)).toEqual(['session_start', 'message', 'session_stop']);
  });

  it('session_start on a finished session makes it running again', async () => {
    await api.post('/events', { event_type: 'session_stop', session_id: 'legacy-2' });
    expect((await api.get('/sessions/legacy-2/status')).body.status).toBe('finished');
    await api.post('/events', { event_type: 'session_start', session_id: 'legacy-2' });
    expect((await api.get('/sessions/legacy-2/status')).body.status).toBe('running');
  });

  it('an event for an unknown session creates it, named after the id when the event has no name', async () => {
    await api.post('/events', { event_type: 'pre_tool', session_id: 'legacy-3', tool_name: 'Read' });
    expect((await api.get('/sessions/legacy-3')).body.session).toMatchObject({ session_id: 'legacy-3', session_name: 'legacy-3' });
    expect((await api.get('/sessions/legacy-3/events')).body.events).toHaveLength(1);
  });

  it('when session_id is missing, then 422 naming it', async () => {
    const reply = await api.post('/events', { event_type: 'message' });
    expect(reply.status).toBe(422);
    expect(reply.body.detail).toEqual([{ loc: ['body', 'session_id'], msg: 'Field required', type: 'missing' }]);
  });
});

describe('GET /events/{id} (deprecated)', () => {
  it('lists the events of a session, and an empty list for an unknown one', async () => {
    await api.post('/events', { event_type: 'message', session_id: 'legacy-4' });
    expect((await api.get('/events/legacy-4')).body.events).toHaveLength(1);
    expect(await api.get('/events/nobody')).toMatchObject({ status: 200, body: { events: [] } });
  });
});

describe('PATCH /sessions/{id}/metadata (deprecated)', () => {
  it('changes the given fields and leaves fields sent as null unchanged', async () => {
    await api.post('/sessions', { session_id: 'meta-1', session_name: 'name', project_dir: '/p', agent_name: 'a' });
    const reply = await api.patch(sessionPath('meta-1', '/metadata'), { session_name: null, project_dir: null, agent_name: 'b' });
    expect(reply).toMatchObject({ status: 200, body: { ok: true, session: { session_name: 'name', project_dir: '/p', agent_name: 'b' } } });
  });

  it('when the session does not exist, then 404', async () => {
    expect(await api.patch('/sessions/nobody/metadata', { agent_name: 'x' })).toMatchObject({ status: 404, body: { detail: 'Session not found' } });
  });
});
