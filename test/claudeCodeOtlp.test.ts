import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sessionPath } from './support/http';
import { useInstance } from './support/instance';
import { bashThenText, startMessagesStandIn, type MessagesStandIn } from './support/messagesStandIn';
import { useTestDatabase } from './support/testDatabase';
import { describeWithClaude, runClaude } from './support/claudeCli';
import { WsClient } from './support/wsClient';

// The real Claude Code CLI exporting its OpenTelemetry logs and metrics to the receiver, beside its http
// hooks, in both OTLP/HTTP encodings.
const describeReal = describeWithClaude('its OpenTelemetry tests');

const API_KEY = 'otlp-real-client-key';
const database = useTestDatabase();
const server = useInstance(database, { apiKeys: [API_KEY] });
const auth = { authorization: `Bearer ${API_KEY}` };
const api = server.api;

function projectWithHttpHooks(url: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'asm-claude-otlp-'));
  const hook = { type: 'http', url, headers: { Authorization: 'Bearer $ASM_API_KEY' }, allowedEnvVars: ['ASM_API_KEY'], timeout: 5 };
  const events = ['UserPromptSubmit', 'PreToolUse', 'PostToolUse', 'PostToolUseFailure', 'Stop', 'SessionEnd'];
  fs.mkdirSync(path.join(dir, '.claude'));
  fs.writeFileSync(path.join(dir, '.claude', 'settings.json'), JSON.stringify({ hooks: Object.fromEntries(events.map((e) => [e, [{ matcher: '', hooks: [hook] }]])) }));
  return dir;
}

// With the OpenTelemetry settings the README tells users to set.
const runExporting = (prompt: string, { cwd, home, standIn, protocol }: { cwd: string; home: string; standIn: MessagesStandIn; protocol: string }) =>
  runClaude(prompt, {
    cwd,
    home,
    standIn,
    tools: ['Bash'],
    env: {
      ASM_API_KEY: API_KEY,
      CLAUDE_CODE_ENABLE_TELEMETRY: '1',
      OTEL_LOGS_EXPORTER: 'otlp',
      OTEL_METRICS_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
      OTEL_EXPORTER_OTLP_ENDPOINT: server.instance.baseUrl,
      OTEL_EXPORTER_OTLP_HEADERS: `Authorization=Bearer ${API_KEY}`,
      OTEL_LOGS_EXPORT_INTERVAL: '500',
      OTEL_METRIC_EXPORT_INTERVAL: '1000',
    },
  });

describeReal.each(['http/json', 'http/protobuf'])('the real Claude Code CLI exporting OpenTelemetry (%s)', (protocol) => {
  const folders: string[] = [];
  let standIn: MessagesStandIn;
  beforeAll(async () => {
    standIn = await startMessagesStandIn(bashThenText({ command: 'echo hi', finalText: 'The command printed hi.' }));
  });
  afterAll(async () => {
    await standIn?.close();
    for (const dir of folders) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('when claude -p runs one Bash call, then its session has the usage of every model request and the tool call its result', async () => {
    const project = projectWithHttpHooks(`${server.instance.baseUrl}/hooks/claude-code`);
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'asm-claude-home-'));
    folders.push(project, home);
    const ws = await WsClient.connect(`${server.instance.wsUrl}?api_key=${API_KEY}`);
    try {
      const run = await runExporting('Say hi using Bash', { cwd: project, home, standIn, protocol });
      expect(run.code).toBe(0);
      const id: string = run.result.session_id;
      // Every call the stand-in answered is one api_request record: 100 input and 20 output tokens each.
      const calls = standIn.requests.length;
      expect(calls).toBeGreaterThanOrEqual(2);

      // The logs come in batches after the hooks: the feed says when the last of them has been counted.
      const counted = (m: any) => m.type !== 'event' && m.session?.session_id === id && m.session.usage?.api_requests === calls;
      await ws.waitFor((messages) => messages.some(counted), 30_000);

      const { session } = (await api.get(sessionPath(id), auth)).body;
      expect(session.usage).toMatchObject({ input_tokens: 100 * calls, output_tokens: 20 * calls, cache_read_tokens: 0, cache_creation_tokens: 0, api_requests: calls });
      expect(session.usage.models).toEqual([...new Set(standIn.requests.map((r) => r.model))].sort());
      expect(session.usage.cost_usd).toBeGreaterThan(0);

      const events = (await api.get(sessionPath(id, '/events'), auth)).body.events as any[];
      const promptIds = new Set(events.map((e) => e.prompt_id));
      const { turns } = (await api.get(sessionPath(id, '/usage'), auth)).body;
      expect(turns.length).toBeGreaterThanOrEqual(1);
      for (const turn of turns) expect(promptIds.has(turn.prompt_id)).toBe(true);

      const post = events.find((e) => e.event_type === 'post_tool');
      // The tool_result record may come in a later batch than the last api_request, and changes nothing a
      // client is told about: ask until it is there.
      let toolResults: any[] = [];
      for (let attempt = 0; toolResults.length === 0; attempt++) {
        if (attempt === 200) throw new Error('no tool result arrived');
        if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, 100));
        toolResults = (await api.get(sessionPath(id, '/tool-results'), auth)).body.tool_results;
      }
      expect(toolResults).toEqual([expect.objectContaining({ tool_use_id: 'toolu_standin_1', tool_name: 'Bash', success: true, event_id: post.id })]);
      process.stdout.write(`claude -p with ${protocol}: ${calls} model requests, usage ${JSON.stringify(session.usage)}, tool result ${JSON.stringify(toolResults[0])}\n`);
    } finally {
      ws.close();
    }
  }, 120_000);
});
