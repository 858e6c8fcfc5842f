import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { sessionPath } from './support/http';
import { startInstance, useInstance } from './support/instance';
import { bashThenText, startMessagesStandIn, type MessagesRequest, type MessagesStandIn } from './support/messagesStandIn';
import { useTestDatabase } from './support/testDatabase';
import { describeWithClaude, runClaude } from './support/claudeCli';
import { waitUntil } from './support/waitUntil';
import { apiRequest, logsRequest } from './otlpRequests';

// The real Claude Code CLI asking for permission to run a Bash command (no allow rule for Bash), its
// PermissionRequest held by the server until a person decides through REST, on another instance.
const describeReal = describeWithClaude('the real-client approval tests');

const API_KEY = 'approvals-real-key';
const database = useTestDatabase();
const server = useInstance(database, { apiKeys: [API_KEY], approvalHoldSeconds: 60 }, { count: 2 });
const [holder, decider] = server.instances as [typeof server.instance, typeof server.instance];
const auth = { authorization: `Bearer ${API_KEY}` };

/** A project whose hooks (PreToolUse, PermissionRequest and the rest) go to `baseUrl` over HTTP, with a timeout above the hold. */
function projectWithHooks(baseUrl: string, folders: string[]): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'asm-approvals-'));
  folders.push(dir);
  const hook = { type: 'http', url: `${baseUrl}/hooks/claude-code`, headers: { Authorization: 'Bearer $ASM_API_KEY' }, allowedEnvVars: ['ASM_API_KEY'], timeout: 90 };
  const events = ['UserPromptSubmit', 'PreToolUse', 'PermissionRequest', 'PostToolUse', 'PostToolUseFailure', 'Notification', 'Stop', 'SessionEnd'];
  fs.mkdirSync(path.join(dir, '.claude'));
  fs.writeFileSync(path.join(dir, '.claude', 'settings.json'), JSON.stringify({ hooks: Object.fromEntries(events.map((event) => [event, [{ matcher: '', hooks: [hook] }]])) }));
  return dir;
}

// Bash is not among the allowed tools (Read is, so the list is not empty): its call needs permission.
const runAsking = (prompt: string, options: { cwd: string; home: string; standIn: MessagesStandIn; args?: string[] }) =>
  runClaude(prompt, { ...options, tools: ['Read'], args: ['--permission-mode', 'default', ...(options.args ?? [])], env: { ASM_API_KEY: API_KEY } });

/** The pending approval whose Bash command is `command`, as the deciding instance lists it. */
async function pendingFor(command: string): Promise<any> {
  let found: any;
  await waitUntil(async () => {
    const reply = await decider.api.get('/approvals?state=pending', auth);
    found = reply.body.approvals?.find((approval: any) => approval.tool_input?.command === command);
    return found !== undefined;
  }, `an approval for ${command} is pending`);
  return found;
}

const toolResults = (standIn: MessagesStandIn): string[] =>
  standIn.requests.flatMap((request: MessagesRequest) =>
    request.messages.flatMap((message) =>
      typeof message.content === 'string' ? [] : message.content.filter((block) => block.type === 'tool_result').map((block) => JSON.stringify(block)),
    ),
  );

describeReal('the real Claude Code CLI asking for permission', () => {
  const folders: string[] = [];
  const standIns: MessagesStandIn[] = [];
  afterAll(async () => {
    for (const standIn of standIns) await standIn.close();
    for (const dir of folders) fs.rmSync(dir, { recursive: true, force: true });
  });
  const home = () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'asm-approvals-home-'));
    folders.push(dir);
    return dir;
  };
  async function standIn(command: string, finalText: string): Promise<MessagesStandIn> {
    const started = await startMessagesStandIn(bashThenText({ command, finalText }));
    standIns.push(started);
    return started;
  }

  it('when a person allows the held request through another instance, then the command runs', async () => {
    const project = projectWithHooks(holder.baseUrl, folders);
    const command = 'echo allowed > allowed-marker.txt';
    const messages = await standIn(command, 'Done.');
    const run = runAsking('Write the marker using Bash', { cwd: project, home: home(), standIn: messages });
    const approval = await pendingFor(command);
    expect(approval.tool_use_id).toBe('toolu_standin_1');
    expect((await decider.api.post(`/approvals/${approval.id}/decision`, { decision: 'allow' }, auth)).status).toBe(200);
    const result = await run;
    expect(result.code).toBe(0);
    expect(fs.readFileSync(path.join(project, 'allowed-marker.txt'), 'utf8').trim()).toBe('allowed');
    expect((await decider.api.get(`/approvals/${approval.id}`, auth)).body.approval).toMatchObject({ state: 'allowed', decided_by: 'env-1' });
  });

  it('when a person denies it with a reason, then the command does not run and Claude receives the reason', async () => {
    const project = projectWithHooks(holder.baseUrl, folders);
    const command = 'echo denied > denied-marker.txt';
    const messages = await standIn(command, 'Understood.');
    const run = runAsking('Write the marker using Bash', { cwd: project, home: home(), standIn: messages });
    const approval = await pendingFor(command);
    const reason = 'Not on the release branch (reason 7f3a)';
    expect((await decider.api.post(`/approvals/${approval.id}/decision`, { decision: 'deny', reason }, auth)).status).toBe(200);
    const result = await run;
    expect(result.code).toBe(0);
    expect(fs.existsSync(path.join(project, 'denied-marker.txt'))).toBe(false);
    expect(toolResults(messages).some((block) => block.includes('reason 7f3a'))).toBe(true);
  });

  it('when nobody decides within a short hold, then the server answers {} and Claude Code falls back to its own rule (here, -p: not run)', async () => {
    const short = await startInstance(database.url, { apiKeys: [API_KEY], approvalHoldSeconds: 1 });
    const project = projectWithHooks(short.baseUrl, folders);
    const command = 'echo undecided > undecided-marker.txt';
    const messages = await standIn(command, 'No permission, then.');
    const result = await runAsking('Write the marker using Bash', { cwd: project, home: home(), standIn: messages });
    expect(result.code).toBe(0);
    expect(fs.existsSync(path.join(project, 'undecided-marker.txt'))).toBe(false);
    const sessionId: string = result.result.session_id;
    const { approvals } = (await decider.api.get(sessionPath(sessionId, '/approvals'), auth)).body;
    expect(approvals).toHaveLength(1);
    expect(approvals[0]).toMatchObject({ state: 'expired', tool_input: { command } });
  });

  it("when the session's budget is reached (usage from OpenTelemetry), then its next tool call is denied with the budget named", async () => {
    const sessionId = randomUUID();
    // The session exists (its first hook) and has spent $0.05, as Claude Code's OpenTelemetry reports it.
    await holder.api.post('/hooks/claude-code', { session_id: sessionId, hook_event_name: 'Notification', notification_type: 'auth_success', cwd: '/tmp' }, auth);
    const otlp = await holder.api.post('/v1/logs', logsRequest([apiRequest(sessionId, undefined, { cost_usd: '0.05', cost_usd_micros: '50000' })]), auth);
    expect(otlp.status).toBe(200);
    expect((await decider.api.patch(sessionPath(sessionId), { budget_usd: 0.04 }, auth)).body.session).toMatchObject({ budget_usd: 0.04 });

    const project = projectWithHooks(holder.baseUrl, folders);
    const command = 'echo spent > spent-marker.txt';
    const messages = await standIn(command, 'Out of budget.');
    // Bash allowed outright: only the budget can stop it.
    const result = await runClaude('Write the marker using Bash', {
      cwd: project,
      home: home(),
      standIn: messages,
      tools: ['Bash'],
      args: ['--session-id', sessionId],
      env: { ASM_API_KEY: API_KEY },
    });
    expect(result.code).toBe(0);
    expect(fs.existsSync(path.join(project, 'spent-marker.txt'))).toBe(false);
    expect(toolResults(messages).some((block) => block.includes('Budget of $0.04 for this session reached'))).toBe(true);
    // Nothing was asked of a person: the budget decided.
    expect((await decider.api.get(sessionPath(sessionId, '/approvals'), auth)).body.approvals).toEqual([]);
  });
});
