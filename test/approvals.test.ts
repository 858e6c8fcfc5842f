import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { runHookProcess } from '../src/claudeCode/hookMain';
import { sessionPath } from './support/http';
import { startInstance, useInstance } from './support/instance';
import { useTestDatabase } from './support/testDatabase';
import { waitUntil } from './support/waitUntil';
import { WsClient } from './support/wsClient';

const database = useTestDatabase();
// Three instances on one database: hooks held on one, decided on another, watched on a third.
const server = useInstance(database, { approvalHoldSeconds: 30 }, { count: 3 });
const [a, b, c] = server.instances as [typeof server.instance, typeof server.instance, typeof server.instance];

const HOOKS = '/hooks/claude-code';
const SUGGESTIONS = [{ type: 'addRules', rules: [{ toolName: 'Bash', ruleContent: 'echo hi' }], behavior: 'allow', destination: 'session' }];

function preTool(sessionId: string, toolUseId: string, command = 'echo hi') {
  return { session_id: sessionId, hook_event_name: 'PreToolUse', cwd: '/tmp/shop', tool_name: 'Bash', tool_input: { command }, tool_use_id: toolUseId };
}
function permissionRequest(sessionId: string, command = 'echo hi') {
  return { session_id: sessionId, hook_event_name: 'PermissionRequest', cwd: '/tmp/shop', tool_name: 'Bash', tool_input: { command }, permission_suggestions: SUGGESTIONS };
}

/** Waits for the one pending approval of the session (as any dashboard would see it). */
async function pendingOf(sessionId: string): Promise<any> {
  let found: any;
  await waitUntil(async () => {
    const reply = await c.api.get(sessionPath(sessionId, '/approvals'));
    found = reply.status === 200 ? reply.body.approvals.find((approval: any) => approval.state === 'pending') : undefined;
    return found !== undefined;
  }, `an approval of ${sessionId} is pending`);
  return found;
}

describe('a PermissionRequest held until a person decides', () => {
  it('when allowed through another instance, then the held hook answers allow, a third instance saw both changes, and the session waited meanwhile', async () => {
    const id = randomUUID();
    const watcher = await WsClient.connect(c.wsUrl);
    try {
      expect((await a.api.post(HOOKS, preTool(id, 'toolu_allow'))).body).toEqual({});
      const held = a.api.post(HOOKS, permissionRequest(id));
      const approval = await pendingOf(id);
      expect(approval).toMatchObject({
        session_id: id,
        tool_name: 'Bash',
        tool_input: { command: 'echo hi' },
        tool_use_id: 'toolu_allow',
        state: 'pending',
        scope: null,
        decided_by: null,
        decided_at: null,
      });
      expect(approval.permission_suggestions).toEqual(SUGGESTIONS);
      // A dashboard connecting now finds it in init, beside the sessions.
      const late = await WsClient.connect(`${b.wsUrl}?session_id=${id}`);
      late.close();
      expect(late.init.approvals).toEqual([approval]);

      const { session } = (await c.api.get(sessionPath(id))).body;
      expect(session).toMatchObject({ waiting_for: 'approval', waiting_tool: { approval_id: approval.id, tool_name: 'Bash', tool_input: { command: 'echo hi' } } });
      expect(Date.parse(session.waiting_since)).toBe(Date.parse(approval.requested_at));
      expect((await c.api.get('/approvals?state=pending')).body.approvals.map((pending: any) => pending.id)).toContain(approval.id);

      const decided = await b.api.post(`/approvals/${approval.id}/decision`, { decision: 'allow' });
      expect(decided.status).toBe(200);
      expect(decided.body.approval).toMatchObject({ id: approval.id, state: 'allowed', scope: 'once' });
      const answer = await held;
      expect(answer).toMatchObject({ status: 200, body: { hookSpecificOutput: { hookEventName: 'PermissionRequest', decision: { behavior: 'allow' } } } });
      expect(answer.body.hookSpecificOutput.decision.updatedPermissions).toBeUndefined();

      await watcher.waitFor((messages) => messages.some((m) => m.type === 'approval_decided' && m.approval.id === approval.id));
      const requested = watcher.messages.find((m) => m.type === 'approval_requested' && m.approval.id === approval.id)!;
      const decidedMessage = watcher.messages.find((m) => m.type === 'approval_decided' && m.approval.id === approval.id)!;
      expect(requested.approval.state).toBe('pending');
      expect(decidedMessage.approval.state).toBe('allowed');
      expect(decidedMessage.seq).toBeGreaterThan(requested.seq);
      expect((await c.api.get(sessionPath(id))).body.session).toMatchObject({ waiting_for: null, waiting_since: null, waiting_tool: null });
      expect((await c.api.get('/approvals?state=pending')).body.approvals.map((pending: any) => pending.id)).not.toContain(approval.id);
    } finally {
      watcher.close();
    }
  });

  it("when allowed for the session, then the answer carries the request's permission_suggestions as updatedPermissions", async () => {
    const id = randomUUID();
    const held = a.api.post(HOOKS, permissionRequest(id));
    const approval = await pendingOf(id);
    expect((await b.api.post(`/approvals/${approval.id}/decision`, { decision: 'allow', scope: 'session' })).body.approval).toMatchObject({ state: 'allowed', scope: 'session' });
    expect((await held).body).toEqual({ hookSpecificOutput: { hookEventName: 'PermissionRequest', decision: { behavior: 'allow', updatedPermissions: SUGGESTIONS } } });
  });

  it('when denied with a reason, then the answer is deny with the reason as message, and deciding again is 409', async () => {
    const id = randomUUID();
    const held = a.api.post(HOOKS, permissionRequest(id));
    const approval = await pendingOf(id);
    expect((await b.api.post(`/approvals/${approval.id}/decision`, { decision: 'deny', reason: 'not on Fridays' })).body.approval).toMatchObject({
      state: 'denied',
      reason: 'not on Fridays',
      scope: null,
    });
    expect((await held).body).toEqual({ hookSpecificOutput: { hookEventName: 'PermissionRequest', decision: { behavior: 'deny', message: 'not on Fridays' } } });
    const again = await b.api.post(`/approvals/${approval.id}/decision`, { decision: 'allow' });
    expect(again.status).toBe(409);
    expect((await c.api.get(`/approvals/${approval.id}`)).body.approval.state).toBe('denied');
  });

  it("when the person answers in the terminal (the tool's post_tool arrives), then the approval leaves the queue and the hook answers {}", async () => {
    const id = randomUUID();
    await a.api.post(HOOKS, preTool(id, 'toolu_terminal'));
    const held = a.api.post(HOOKS, permissionRequest(id));
    const approval = await pendingOf(id);
    await b.api.post(HOOKS, { ...preTool(id, 'toolu_terminal'), hook_event_name: 'PostToolUse', tool_response: { stdout: 'hi' } });
    expect((await held).body).toEqual({});
    expect((await c.api.get(`/approvals/${approval.id}`)).body.approval.state).toBe('answered_in_terminal');
    expect((await b.api.post(`/approvals/${approval.id}/decision`, { decision: 'allow' })).status).toBe(409);
  });
});

describe('bad input', () => {
  it('when the approval is unknown, then 404; a malformed id or body, 422 naming the field', async () => {
    expect((await a.api.post('/approvals/999999/decision', { decision: 'allow' })).status).toBe(404);
    expect((await a.api.get('/approvals/999999')).status).toBe(404);
    const badId = await a.api.post('/approvals/abc/decision', { decision: 'allow' });
    expect(badId.status).toBe(422);
    expect(JSON.stringify(badId.body)).toContain('id');
    for (const body of [{}, { decision: 'maybe' }, { decision: 'allow', scope: 'forever' }, { decision: 'deny', reason: '' }, { decision: 'allow', extra: 1 }]) {
      const reply = await a.api.post('/approvals/1/decision', body);
      expect({ body, status: reply.status }).toEqual({ body, status: 422 });
    }
    expect((await a.api.get('/approvals?state=sleeping')).status).toBe(422);
    expect((await a.api.get(sessionPath('no-such-session', '/approvals'))).status).toBe(404);
  });

  it('when a PermissionRequest names no tool or input, then 400 naming the field, and nothing is held', async () => {
    const id = randomUUID();
    const noTool = await a.api.post(HOOKS, { session_id: id, hook_event_name: 'PermissionRequest', tool_input: {} });
    expect(noTool.status).toBe(400);
    expect(noTool.body.detail).toContain('tool_name');
    const badInput = await a.api.post(HOOKS, { session_id: id, hook_event_name: 'PermissionRequest', tool_name: 'Bash', tool_input: 'rm -rf /' });
    expect(badInput.status).toBe(400);
    expect(badInput.body.detail).toContain('tool_input');
    const badSuggestions = await a.api.post(HOOKS, { ...permissionRequest(id), permission_suggestions: 'all' });
    expect(badSuggestions.status).toBe(400);
    // Refused before anything was stored: no session, no approval.
    expect((await a.api.get(sessionPath(id, '/approvals'))).status).toBe(404);
  });

  it('when the hold ends undecided, then the hook answers {} (never allow) and the approval is expired: a late decision is 409', async () => {
    const short = await startInstance(database.url, { approvalHoldSeconds: 1 });
    const id = randomUUID();
    const answer = await short.api.post(HOOKS, permissionRequest(id));
    expect(answer).toMatchObject({ status: 200, body: {} });
    const [approval] = (await short.api.get(sessionPath(id, '/approvals'))).body.approvals;
    expect(approval).toMatchObject({ state: 'expired', decided_by: null });
    expect(approval.reason).toContain('no decision');
    expect((await a.api.post(`/approvals/${approval.id}/decision`, { decision: 'allow' })).status).toBe(409);
  });

  it('when the hook connection drops while held, then the approval expires and the instance holds nothing', async () => {
    const id = randomUUID();
    const body = JSON.stringify(permissionRequest(id));
    const url = new URL(a.baseUrl + HOOKS);
    const request = http.request({
      hostname: url.hostname,
      port: url.port,
      path: url.pathname,
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    });
    request.on('error', () => undefined);
    request.end(body);
    const approval = await pendingOf(id);
    expect(a.service.holds.ids()).toContain(approval.id);
    request.destroy();
    await waitUntil(async () => (await c.api.get(`/approvals/${approval.id}`)).body.approval.state === 'expired', 'the approval expired');
    expect(a.service.holds.ids()).not.toContain(approval.id);
    expect((await c.api.get(sessionPath(id))).body.session.waiting_for).toBeNull();
  });

  it('when the instance holding hooks shuts down, then each held hook is answered {} first and its approval expires', async () => {
    const leaving = await startInstance(database.url, { approvalHoldSeconds: 60 });
    const ids = [randomUUID(), randomUUID()];
    const held = ids.map((id) => leaving.api.post(HOOKS, permissionRequest(id)));
    const approvals = await Promise.all(ids.map((id) => pendingOf(id)));
    await leaving.close();
    for (const answer of await Promise.all(held)) expect(answer).toMatchObject({ status: 200, body: {} });
    for (const approval of approvals) expect((await a.api.get(`/approvals/${approval.id}`)).body.approval.state).toBe('expired');
  });
});

describe('abandoned approvals', () => {
  it('when an approval stays pending past the hold (its instance died), then the sweep expires it and it leaves the queue', async () => {
    const id = randomUUID();
    const held = a.api.post(HOOKS, permissionRequest(id, 'make clean'));
    const approval = await pendingOf(id);
    // As if pending for longer than any hold: swept now.
    expect(await c.service.store.approvals.expireAbandoned(0)).toBeGreaterThanOrEqual(1);
    expect((await held).body).toEqual({});
    expect((await c.api.get(`/approvals/${approval.id}`)).body.approval).toMatchObject({ state: 'expired', reason: 'no instance holds the hook any more' });
    expect((await c.api.get('/approvals?state=pending')).body.approvals.map((pending: any) => pending.id)).not.toContain(approval.id);
  });
});

describe('the hook command', () => {
  const spoolDirs: string[] = [];
  afterAll(() => spoolDirs.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })));

  /** Runs `agent-session-manager hook` in this process with `input` on stdin; returns what it printed. */
  async function hookCommand(input: object): Promise<{ code: number; out: string[] }> {
    const spool = fs.mkdtempSync(path.join(os.tmpdir(), 'asm-approvals-spool-'));
    spoolDirs.push(spool);
    const out: string[] = [];
    const code = await runHookProcess('hook', [], {
      env: { ASM_URL: a.baseUrl, ASM_SPOOL_DIR: spool, ASM_SENDER: 'off' },
      readStdin: async () => JSON.stringify(input),
      out: (line) => out.push(line),
      err: () => undefined,
      senderCommand: ['true'],
    });
    return { code, out };
  }

  it("when a person decides a PermissionRequest it sent, then it prints the server's answer for Claude Code; other hooks print nothing", async () => {
    const id = randomUUID();
    expect(await hookCommand(preTool(id, 'toolu_cmd'))).toEqual({ code: 0, out: [] });
    const run = hookCommand(permissionRequest(id, 'make test'));
    const approval = await pendingOf(id);
    await b.api.post(`/approvals/${approval.id}/decision`, { decision: 'deny', reason: 'use the CI' });
    const { code, out } = await run;
    expect(code).toBe(0);
    expect(out.map((line) => JSON.parse(line))).toEqual([{ hookSpecificOutput: { hookEventName: 'PermissionRequest', decision: { behavior: 'deny', message: 'use the CI' } } }]);
  });
});

describe('waiting for input', () => {
  it('when the last hook is a Notification that waits for the user, then the session waits for input until the next hook; the feed resumed with since= has every change', async () => {
    const id = randomUUID();
    await a.api.post(HOOKS, { session_id: id, hook_event_name: 'UserPromptSubmit', prompt: 'go', prompt_id: 'p1' });
    const watcher = await WsClient.connect(c.wsUrl);
    const since = watcher.init.seq as number;
    watcher.close();
    await a.api.post(HOOKS, { session_id: id, hook_event_name: 'Notification', notification_type: 'idle_prompt', message: 'Claude is waiting for your input' });
    const waiting = (await c.api.get(sessionPath(id))).body.session;
    expect(waiting).toMatchObject({ waiting_for: 'input', waiting_tool: null });
    expect(waiting.waiting_since).not.toBeNull();
    // A notification that does not wait changes nothing; a prompt ends the wait.
    await a.api.post(HOOKS, { session_id: id, hook_event_name: 'Notification', notification_type: 'auth_success', message: 'ok' });
    expect((await c.api.get(sessionPath(id))).body.session.waiting_for).toBeNull();
    await a.api.post(HOOKS, { session_id: id, hook_event_name: 'Notification', notification_type: 'permission_prompt', message: 'Claude needs your permission' });
    expect((await c.api.get(sessionPath(id))).body.session.waiting_for).toBe('input');
    await a.api.post(HOOKS, { session_id: id, hook_event_name: 'UserPromptSubmit', prompt: 'go on', prompt_id: 'p2' });
    expect((await c.api.get(sessionPath(id))).body.session).toMatchObject({ waiting_for: null, waiting_since: null });

    const resumed = await WsClient.connect(`${c.wsUrl}?since=${since}`);
    try {
      await resumed.waitFor((messages) => messages.filter((m) => m.type === 'session_updated' && m.session.session_id === id && m.session.waiting_for === null).length >= 2);
      const waits = resumed.messages.filter((m) => m.type === 'session_updated' && m.session.session_id === id).map((m) => m.session.waiting_for);
      expect(waits).toEqual(expect.arrayContaining(['input', null]));
    } finally {
      resumed.close();
    }
  });
});
