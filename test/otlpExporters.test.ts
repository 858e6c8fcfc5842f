import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import { sessionPath } from './support/http';
import { useInstance } from './support/instance';
import { useTestDatabase } from './support/testDatabase';

// The OpenTelemetry JS SDK's own OTLP/HTTP exporters as real clients of the receiver (JSON and protobuf,
// gzipped or not, the key in their headers as OTEL_EXPORTER_OTLP_HEADERS puts it), each run in its own
// process by otlpExportClient.js.
const KEY = 'exporter-key';
const database = useTestDatabase();
const server = useInstance(database, { apiKeys: [KEY] });
const auth = { Authorization: `Bearer ${KEY}` };
const api = server.api;

interface ExportOptions {
  signal: 'logs' | 'metrics';
  protocol: 'json' | 'protobuf';
  gzip: boolean;
  sessionId: string;
  key?: string;
}

/** The export result the SDK reports: code 0 is ExportResultCode.SUCCESS, 1 FAILED. */
async function exportWithSdk(options: ExportOptions): Promise<{ code: number; error?: string }> {
  const { stdout } = await promisify(execFile)(process.execPath, [
    path.join(__dirname, 'otlpExportClient.js'),
    JSON.stringify({ url: server.instance.baseUrl, key: KEY, ...options }),
  ]);
  return JSON.parse(stdout);
}

const variants = [
  { protocol: 'json', gzip: false },
  { protocol: 'json', gzip: true },
  { protocol: 'protobuf', gzip: false },
  { protocol: 'protobuf', gzip: true },
] as const;

describe.each(variants)('the SDK log exporter (http/$protocol, gzip: $gzip)', ({ protocol, gzip }) => {
  it('when it exports Claude Code records, then the session has their usage and the tool result', async () => {
    const id = randomUUID();
    expect((await api.post('/sessions', { session_id: id, session_name: 'exported' }, auth)).status).toBe(201);

    expect(await exportWithSdk({ signal: 'logs', protocol, gzip, sessionId: id })).toEqual({ code: 0 });

    expect((await api.get(sessionPath(id), auth)).body.session.usage).toEqual({
      input_tokens: 300,
      output_tokens: 30,
      cache_read_tokens: 3000,
      cache_creation_tokens: 0,
      cost_usd: 0.03,
      api_requests: 3,
      api_duration_ms: 3600,
      models: ['claude-sonnet-4-5'],
      cost_source: 'telemetry',
    });
    expect((await api.get(sessionPath(id, '/usage'), auth)).body.turns).toEqual([expect.objectContaining({ prompt_id: 'prompt-1', api_requests: 3 })]);
    expect((await api.get(sessionPath(id, '/tool-results'), auth)).body.tool_results).toEqual([
      expect.objectContaining({ tool_use_id: 'toolu_1', tool_name: 'Bash', success: true, duration_ms: 42 }),
    ]);
  });
});

describe.each(variants)('the SDK metric exporter (http/$protocol, gzip: $gzip)', ({ protocol, gzip }) => {
  it('when it exports Claude Code metrics, then the export succeeds', async () => {
    expect(await exportWithSdk({ signal: 'metrics', protocol, gzip, sessionId: randomUUID() })).toEqual({ code: 0 });
  });
});

it('when an exporter sends the wrong key, then its export fails', async () => {
  const result = await exportWithSdk({ signal: 'logs', protocol: 'protobuf', gzip: false, sessionId: randomUUID(), key: 'wrong' });
  expect(result.code).toBe(1);
});
