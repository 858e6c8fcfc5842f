// The OTLP receiver's bench step: Claude Code log records per second through POST /v1/logs, in batches
// of 512 (the OpenTelemetry SDKs' default export batch), protobuf and JSON, from 8 concurrent exporters.
// Run alone (after `npm run build`): `node bench/otlp.js` starts its own database (BENCH_DATABASE_URL or
// TEST_DATABASE_URL: a server it may create a database on; else an embedded PostgreSQL) and one server
// instance. bench/run.js calls measureOtlp() on its own servers.
'use strict';

const { Pool: HttpPool } = require('undici');
const { round, openDatabase, startServer } = require('./support');
const { NO_METER } = require('./meter');
const root = require('@opentelemetry/otlp-transformer/build/src/generated/root');

const BATCH = 512;
const CONNECTIONS = 8;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
// Enough batches that no run ends for want of them below ~40,000 records/s; each one distinct.
const BATCHES = Math.ceil((40_000 * SECONDS) / BATCH / 2);
const ExportLogsServiceRequest = root.opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest;

const str = (value) => ({ stringValue: String(value) });
let sequence = 0;

// A turn of Claude Code as its logs tell it: a prompt, API requests, tool decisions and results.
function record(sessionId, promptId, kind, i) {
  sequence += 1;
  const common = {
    'session.id': sessionId,
    'prompt.id': promptId,
    'user.id': 'bench-user',
    'terminal.type': 'non-interactive',
    'event.sequence': sequence,
    'event.timestamp': new Date().toISOString(),
  };
  const attributes = {
    api_request: {
      ...common,
      'event.name': 'api_request',
      model: 'claude-sonnet-4-5',
      input_tokens: 1200 + i,
      output_tokens: 300,
      cache_read_tokens: 20000,
      cache_creation_tokens: 500,
      cost_usd: '0.0123',
      cost_usd_micros: 12300,
      duration_ms: 2100,
      ttft_ms: 400,
      query_source: 'repl_main_thread',
    },
    tool_result: { ...common, 'event.name': 'tool_result', tool_name: 'Bash', tool_use_id: `toolu_${sequence}`, success: 'true', duration_ms: 42, tool_result_size_bytes: 812 },
    tool_decision: { ...common, 'event.name': 'tool_decision', tool_name: 'Bash', tool_use_id: `toolu_${sequence}`, decision: 'accept', source: 'config' },
    user_prompt: { ...common, 'event.name': 'user_prompt', prompt_length: 120, prompt: '<REDACTED>' },
  }[kind];
  return {
    timeUnixNano: String(BigInt(Date.now()) * 1_000_000n),
    body: str(`claude_code.${kind}`),
    attributes: Object.entries(attributes).map(([key, value]) => ({ key, value: str(value) })),
  };
}

const KINDS = ['user_prompt', 'api_request', 'tool_decision', 'tool_result', 'api_request', 'tool_decision', 'tool_result', 'api_request'];

/** One exporter batch: the records of one Claude Code process, so of one session. */
function batch(sessionId, n) {
  const records = Array.from({ length: BATCH }, (_, i) => record(sessionId, `prompt-${n}-${Math.floor(i / KINDS.length)}`, KINDS[i % KINDS.length], i));
  return {
    resourceLogs: [
      {
        resource: {
          attributes: [
            { key: 'service.name', value: str('claude-code') },
            { key: 'service.version', value: str('2.1.328') },
          ],
        },
        scopeLogs: [{ scope: { name: 'com.anthropic.claude_code.events', version: '2.1.328' }, logRecords: records }],
      },
    ],
  };
}

async function send(baseUrls, bodies, contentType, meter) {
  const pools = baseUrls.map((url) => new HttpPool(url, { connections: CONNECTIONS }));
  let next = 0;
  let errors = 0;
  const latencies = [];
  const window = await meter.begin();
  const started = performance.now();
  const deadline = started + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async (_, worker) => {
      while (next < bodies.length && performance.now() < deadline) {
        const body = bodies[next++];
        const sentAt = performance.now();
        const response = await pools[worker % pools.length].request({ method: 'POST', path: '/v1/logs', headers: { 'content-type': contentType }, body });
        await response.body.dump();
        latencies.push(performance.now() - sentAt);
        if (response.statusCode !== 200) errors += 1;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const usage = await window.end(latencies.length * BATCH, 'record');
  await Promise.all(pools.map((pool) => pool.close()));
  latencies.sort((a, b) => a - b);
  return {
    records_per_s: Math.round((latencies.length * BATCH) / seconds),
    batches: latencies.length,
    p50_ms: round(latencies[Math.floor(latencies.length / 2)]),
    p99_ms: round(latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * 0.99))]),
    errors,
    ...usage,
  };
}

/** Records/s through POST /v1/logs of the given servers, protobuf then JSON; with a meter, CPU per 1,000 records of each. */
async function measureOtlp(servers, createSession = postSession, { meter = NO_METER } = {}) {
  const sessions = Array.from({ length: 20 }, (_, i) => `otlp-bench-${Date.now()}-${i}`);
  // Half the sessions exist (hooks reported them first), half do not yet (their usage waits).
  for (const id of sessions.slice(0, 10)) await createSession(servers[0].baseUrl, id);
  const baseUrls = servers.map((server) => server.baseUrl);
  const make = (encode) => Array.from({ length: BATCHES }, (_, n) => encode(batch(sessions[n % sessions.length], n)));
  const protobuf = await send(
    baseUrls,
    make((request) => Buffer.from(ExportLogsServiceRequest.encode(ExportLogsServiceRequest.fromObject(request)).finish())),
    'application/x-protobuf',
    meter,
  );
  const json = await send(
    baseUrls,
    make((request) => JSON.stringify(request)),
    'application/json',
    meter,
  );
  return { batch_records: BATCH, connections: CONNECTIONS, protobuf, json };
}

async function postSession(baseUrl, id) {
  const response = await fetch(`${baseUrl}/sessions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ session_id: id, session_name: id }),
  });
  if (response.status !== 201) throw new Error(`could not create session ${id}: ${response.status}`);
}

async function main() {
  const database = await openDatabase();
  const server = await startServer(database.url);
  try {
    const result = await measureOtlp([{ baseUrl: server.baseUrl }]);
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(
      `OTLP logs, ${BATCH}-record batches, ${CONNECTIONS} exporters: protobuf ${result.protobuf.records_per_s} records/s (p99 ${result.protobuf.p99_ms} ms a batch), ` +
        `JSON ${result.json.records_per_s} records/s (p99 ${result.json.p99_ms} ms); target ≥ 20,000 records/s\n`,
    );
  } finally {
    server.child.kill('SIGTERM');
    await new Promise((resolve) => server.child.once('exit', resolve));
    await database.close();
  }
}

module.exports = { measureOtlp, postSession };

if (require.main === module) {
  main().catch((err) => {
    process.stderr.write(`bench failed: ${err.stack ?? err}\n`);
    process.exit(1);
  });
}
