// A client process for the OTLP receiver's tests: exports through the OpenTelemetry JS SDK's own OTLP/HTTP
// exporters and prints the export result as JSON. It runs outside jest because the exporters load node:http
// with a dynamic import(), which jest's module sandbox refuses.
// Usage: node test/otlpExportClient.js '{"url":…,"key":…,"signal":"logs"|"metrics","protocol":"json"|"protobuf","gzip":bool,"sessionId":…}'
const { CompressionAlgorithm } = require('@opentelemetry/otlp-exporter-base');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const { LoggerProvider, SimpleLogRecordProcessor, InMemoryLogRecordExporter } = require('@opentelemetry/sdk-logs');
const { MeterProvider, PeriodicExportingMetricReader, InMemoryMetricExporter, AggregationTemporality } = require('@opentelemetry/sdk-metrics');

const options = JSON.parse(process.argv[2]);
const config = {
  url: `${options.url}/v1/${options.signal}`,
  headers: options.key ? { Authorization: `Bearer ${options.key}` } : {},
  compression: options.gzip ? CompressionAlgorithm.GZIP : CompressionAlgorithm.NONE,
};
const resource = resourceFromAttributes({ 'service.name': 'claude-code', 'service.version': '2.1.328' });

async function logRecords() {
  const memory = new InMemoryLogRecordExporter();
  const provider = new LoggerProvider({ resource, processors: [new SimpleLogRecordProcessor(memory)] });
  const logger = provider.getLogger('com.anthropic.claude_code.events', '2.1.328');
  const common = { 'session.id': options.sessionId, 'prompt.id': 'prompt-1', 'user.id': 'u', 'terminal.type': 'non-interactive' };
  for (let i = 0; i < 3; i++) {
    logger.emit({
      body: 'claude_code.api_request',
      attributes: {
        ...common,
        'event.name': 'api_request',
        'event.sequence': i,
        model: 'claude-sonnet-4-5',
        // Claude Code sends its numbers as strings; the SDK's own number types are taken too.
        input_tokens: i === 0 ? '100' : 100,
        output_tokens: '10',
        cache_read_tokens: '1000',
        cache_creation_tokens: '0',
        cost_usd: 0.01,
        cost_usd_micros: '10000',
        duration_ms: '1200',
        ttft_ms: '300',
      },
    });
  }
  logger.emit({
    body: 'claude_code.tool_result',
    attributes: { ...common, 'event.name': 'tool_result', tool_name: 'Bash', tool_use_id: 'toolu_1', success: 'true', duration_ms: '42' },
  });
  logger.emit({ body: 'claude_code.user_prompt', attributes: { ...common, 'event.name': 'user_prompt', prompt_length: '9' } });
  await provider.forceFlush();
  return memory.getFinishedLogRecords();
}

async function resourceMetrics() {
  const memory = new InMemoryMetricExporter(AggregationTemporality.DELTA);
  const reader = new PeriodicExportingMetricReader({ exporter: memory, exportIntervalMillis: 3_600_000 });
  const provider = new MeterProvider({ resource, readers: [reader] });
  const meter = provider.getMeter('com.anthropic.claude_code', '2.1.328');
  meter.createCounter('claude_code.token.usage').add(100, { 'session.id': options.sessionId, type: 'input', model: 'claude-sonnet-4-5' });
  meter.createCounter('claude_code.cost.usage').add(0.01, { 'session.id': options.sessionId, model: 'claude-sonnet-4-5' });
  const { resourceMetrics: collected } = await reader.collect();
  return collected;
}

async function main() {
  const packageName = `@opentelemetry/exporter-${options.signal}-otlp-${options.protocol === 'json' ? 'http' : 'proto'}`;
  const Exporter = options.signal === 'logs' ? require(packageName).OTLPLogExporter : require(packageName).OTLPMetricExporter;
  const exporter = new Exporter(config);
  const items = options.signal === 'logs' ? await logRecords() : await resourceMetrics();
  const result = await new Promise((resolve) => exporter.export(items, resolve));
  await exporter.shutdown();
  process.stdout.write(JSON.stringify({ code: result.code, error: result.error ? String(result.error.message ?? result.error) : undefined }));
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack));
  process.exit(1);
});
