import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { sessionPath } from './support/http';
import { startInstance, type TestInstance } from './support/instance';
import { useTestDatabase } from './support/testDatabase';
import { waitUntil } from './support/waitUntil';
import { apiRequest, logsRequest } from './otlpRequests';

const database = useTestDatabase();
const HOOKS = '/hooks/claude-code';
const PUBLIC_URL = 'https://asm.example.test';

interface Acknowledged {
  key: string;
  body: any;
}

/** A webhook receiver that refuses its first `failFirst` deliveries (500), can go down and come back on the same port, and records what it acknowledged. */
async function startReceiver(failFirst: number): Promise<Receiver> {
  const acknowledged: Acknowledged[] = [];
  let refused = 0;
  let port = 0;
  let server: http.Server;
  const sockets = new Set<import('node:net').Socket>();
  const listen = async () => {
    server = http.createServer((req, res) => {
      let text = '';
      req.on('data', (chunk) => (text += chunk));
      req.on('end', () => {
        if (refused < failFirst) {
          refused += 1;
          res.writeHead(500).end();
          return;
        }
        acknowledged.push({ key: String(req.headers['idempotency-key']), body: JSON.parse(text) });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      });
    });
    server.on('connection', (socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  };
  await listen();
  let up = true;
  const receiver: Receiver = {
    get url() {
      return `http://127.0.0.1:${port}/hook`;
    },
    acknowledged,
    get refused() {
      return refused;
    },
    down: () =>
      new Promise<void>((resolve) => {
        if (!up) return resolve();
        up = false;
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
    up: async () => {
      await listen();
      up = true;
    },
  };
  receivers.push(receiver);
  return receiver;
}

interface Receiver {
  readonly url: string;
  acknowledged: Acknowledged[];
  readonly refused: number;
  down(): Promise<void>;
  up(): Promise<void>;
}
const receivers: Receiver[] = [];
afterEach(async () => {
  for (const receiver of receivers.splice(0)) await receiver.down();
});
const start = (receiver: Receiver) =>
  startInstance(
    database.url,
    { alertWebhookUrls: [receiver.url], publicUrl: PUBLIC_URL, approvalHoldSeconds: 30 },
    { alerts: { intervalMs: 50, retryBaseMs: 50, timeoutMs: 2_000 } },
  );

const kindsOf = (receiver: Receiver, sessionId: string) => receiver.acknowledged.filter((entry) => entry.body.session_id === sessionId).map((entry) => entry.body.kind);
const keys = (receiver: Receiver) => receiver.acknowledged.map((entry) => entry.key);

describe('alerts to ALERT_WEBHOOK_URLS', () => {
  it('when the receiver fails the first deliveries, then each alert (approval, waiting, budget 80/100 %, failed) arrives exactly once, with text, fields, link and a stable id, from three instances', async () => {
    const receiver = await startReceiver(3);
    const instances: TestInstance[] = [await start(receiver), await start(receiver), await start(receiver)];
    const [a, b] = instances as [TestInstance, TestInstance];
    const id = randomUUID();

    // An approval requested (and decided), then a notification that waits for input.
    const held = a.api.post(HOOKS, { session_id: id, hook_event_name: 'PermissionRequest', cwd: '/tmp/shop', tool_name: 'Bash', tool_input: { command: 'make deploy' } });
    await waitUntil(async () => (await b.api.get(sessionPath(id, '/approvals'))).body.approvals?.length === 1, 'the approval is stored');
    const [approval] = (await b.api.get(sessionPath(id, '/approvals'))).body.approvals;
    await b.api.post(`/approvals/${approval.id}/decision`, { decision: 'deny' });
    await held;
    await a.api.post(HOOKS, { session_id: id, hook_event_name: 'Notification', notification_type: 'idle_prompt', message: 'Claude is waiting for your input' });
    expect((await b.api.get(sessionPath(id))).body.session).toMatchObject({ waiting_for: 'input' });

    // A budget of $1: 80 % spent, then 100 %.
    expect((await a.api.patch(sessionPath(id), { budget_usd: 1 })).status).toBe(200);
    await a.api.post('/v1/logs', logsRequest([apiRequest(id, undefined, { cost_usd: '0.85', cost_usd_micros: '850000' })]));
    await a.api.post('/v1/logs', logsRequest([apiRequest(id, undefined, { cost_usd: '0.30', cost_usd_micros: '300000' })]));

    // A session of the original API that stops with a failure.
    const failing = randomUUID();
    await a.api.post('/sessions', { session_id: failing, session_name: 'nightly build' });
    await a.api.post(sessionPath(failing, '/events'), { event_type: 'session_stop', exit_code: 2 });

    await waitUntil(() => kindsOf(receiver, id).length === 4 && kindsOf(receiver, failing).length === 1, 'every alert is acknowledged', 20_000);
    expect(receiver.refused).toBe(3);
    expect(kindsOf(receiver, id).sort()).toEqual(['approval_requested', 'budget_100', 'budget_80', 'waiting_for_input']);
    expect(kindsOf(receiver, failing)).toEqual(['session_failed']);

    const byKind = Object.fromEntries(receiver.acknowledged.map((entry) => [entry.body.kind, entry]));
    expect(byKind.approval_requested!.body).toMatchObject({
      text: expect.stringContaining('make deploy'),
      session_id: id,
      approval: { id: approval.id, tool_name: 'Bash', tool_input: { command: 'make deploy' }, state: 'pending' },
      url: `${PUBLIC_URL}/#/sessions/${id}`,
    });
    expect(byKind.approval_requested!.body.text).toContain(`${PUBLIC_URL}/#/sessions/${id}`);
    expect(byKind.budget_80!.body).toMatchObject({ percent: 80, cost_usd: 0.85, budget_usd: 1 });
    expect(byKind.budget_100!.body).toMatchObject({ percent: 100, cost_usd: 1.15, budget_usd: 1, text: expect.stringContaining('reached its budget') });
    expect(byKind.session_failed!.body).toMatchObject({ session_name: 'nightly build', text: '"nightly build" failed https://asm.example.test/#/sessions/' + failing });
    expect(byKind.approval_requested!.key).toBe(`asm-alert-${byKind.approval_requested!.body.alert_id}`);
    // Each alert acknowledged once, though three instances send.
    expect(new Set(keys(receiver)).size).toBe(keys(receiver).length);

    // Raising the budget above what was spent re-arms the alerts and lets tool calls through again.
    const denied = await a.api.post(HOOKS, { session_id: id, hook_event_name: 'PreToolUse', tool_name: 'Bash', tool_input: { command: 'ls' }, tool_use_id: 'toolu_over' });
    expect(denied.body.hookSpecificOutput).toMatchObject({
      permissionDecision: 'deny',
      permissionDecisionReason: expect.stringContaining('Budget of $1.00 for this session reached'),
    });
    await a.api.patch(sessionPath(id), { budget_usd: 5 });
    const allowed = await a.api.post(HOOKS, { session_id: id, hook_event_name: 'PreToolUse', tool_name: 'Bash', tool_input: { command: 'ls' }, tool_use_id: 'toolu_after' });
    expect(allowed.body).toEqual({});
    for (const instance of instances) await instance.close();
  });

  it('when the receiver is down across a restart of the server, then the alert is delivered once it is back, once', async () => {
    const receiver = await startReceiver(0);
    await receiver.down();
    const first = await start(receiver);
    const id = randomUUID();
    await first.api.post(HOOKS, { session_id: id, hook_event_name: 'Notification', notification_type: 'permission_prompt', message: 'Claude needs your permission' });
    // Some attempts fail while the server runs; then it stops with the alert unsent.
    await waitUntil(async () => (await database.query('select attempts from alerts where session_id = $1', [id])).rows[0]?.attempts >= 2, 'two attempts failed');
    await first.close();
    await receiver.up();
    const second = await start(receiver);
    await waitUntil(() => kindsOf(receiver, id).length === 1, 'the alert arrives after the restart', 20_000);
    // Later rounds send nothing again.
    await waitUntil(async () => (await database.query('select done_at from alerts where session_id = $1', [id])).rows[0]?.done_at !== null, 'the alert is done');
    expect(kindsOf(receiver, id)).toEqual(['waiting_for_input']);
    await second.close();
  });
});
