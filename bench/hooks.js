/**
 * Bench step: Claude Code hooks at a steady 500 a second (POST /hooks/claude-code), the latency of each.
 *
 * Open loop: hook i is sent at start + i / rate whatever happened to the ones before, and its latency is
 * counted from that moment, so a server that falls behind shows it (no coordinated omission). The hooks
 * are the shapes the real CLI sends (test/fixtures/claude-code), spread over many concurrent sessions:
 * a prompt, then tool calls (PreToolUse, PostToolUse with a ~2 KB output), then Stop, and again.
 *
 * Alone: `npm run build && node bench/hooks.js` (BENCH_DATABASE_URL or TEST_DATABASE_URL, else an embedded
 * PostgreSQL). bench/run.js calls measureHooks() as one of its steps.
 */
const { spawn } = require('node:child_process');
const { readFileSync, readdirSync, mkdtempSync, chmodSync, rmSync } = require('node:fs');
const { randomUUID } = require('node:crypto');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { Pool: HttpPool } = require('undici');

const ROOT = path.join(__dirname, '..');
const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'claude-code', 'tool-call');
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function fixture(name) {
  const file = readdirSync(FIXTURES).find((entry) => entry.endsWith(`-${name}.json`));
  return JSON.parse(readFileSync(path.join(FIXTURES, file), 'utf8'));
}

/** An endless series of hook bodies from `sessions` concurrent Claude Code sessions, interleaved. */
function hookSource(sessions) {
  const templates = { prompt: fixture('UserPromptSubmit'), pre: fixture('PreToolUse'), post: fixture('PostToolUse'), stop: fixture('Stop') };
  const output = 'x'.repeat(2048);
  const state = Array.from({ length: sessions }, () => ({ id: randomUUID(), step: 0, promptId: randomUUID(), tool: 0 }));
  let turn = 0;
  return () => {
    const session = state[turn++ % sessions];
    // A turn: prompt, 4 tool calls (pre + post), stop: 10 hooks.
    const place = session.step++ % 10;
    const common = { session_id: session.id, cwd: `/srv/bench/${session.id.slice(0, 4)}` };
    if (place === 0) {
      session.promptId = randomUUID();
      return JSON.stringify({ ...templates.prompt, ...common, prompt_id: session.promptId, prompt: `task ${session.step}` });
    }
    if (place === 9) return JSON.stringify({ ...templates.stop, ...common, prompt_id: session.promptId });
    if (place % 2 === 1) session.tool += 1;
    const toolUseId = `toolu_${session.id.slice(0, 8)}_${session.tool}`;
    const base = { ...common, prompt_id: session.promptId, tool_use_id: toolUseId };
    return place % 2 === 1
      ? JSON.stringify({ ...templates.pre, ...base })
      : JSON.stringify({ ...templates.post, ...base, tool_response: { ...templates.post.tool_response, stdout: output }, duration_ms: 12 });
  };
}

function percentile(sorted, p) {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}
const round = (n, digits = 2) => (Number.isFinite(n) ? Math.round(n * 10 ** digits) / 10 ** digits : null);

/** Sends hooks to `server` at `rate` a second for `seconds`; latency percentiles, in ms, and errors. */
async function measureHooks(server, { rate = 500, seconds = Number(process.env.BENCH_SECONDS ?? 10), sessions = 50 } = {}) {
  const http = new HttpPool(server.baseUrl, { connections: 64, pipelining: 1 });
  const next = hookSource(sessions);
  const total = rate * seconds;
  const latencies = [];
  let errors = 0;
  const inFlight = [];
  const start = performance.now() + 50;
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    const body = next();
    inFlight.push(
      http
        .request({ method: 'POST', path: '/hooks/claude-code', headers: { 'content-type': 'application/json' }, body })
        .then(async (reply) => {
          await reply.body.dump();
          if (reply.statusCode !== 200) errors += 1;
          else latencies.push(performance.now() - due);
        })
        .catch(() => {
          errors += 1;
        }),
    );
  }
  await Promise.all(inFlight);
  const elapsed = (performance.now() - start) / 1000;
  await http.close();
  latencies.sort((a, b) => a - b);
  return {
    rate_per_s: rate,
    achieved_per_s: round(latencies.length / elapsed, 0),
    sent: total,
    p50_ms: round(percentile(latencies, 50)),
    p99_ms: round(percentile(latencies, 99)),
    max_ms: round(latencies[latencies.length - 1]),
    errors,
  };
}

module.exports = { measureHooks };

// Alone: its own database and one server instance.
async function main() {
  const pg = require('pg');
  const { migrate } = require('../dist/db/migrate.js');
  const { createLogger } = require('../dist/logger.js');
  const quiet = createLogger('warn');
  const serverUrl = process.env.BENCH_DATABASE_URL || process.env.TEST_DATABASE_URL;
  let databaseUrl;
  let closeDatabase;
  if (serverUrl) {
    const name = `asm_bench_hooks_${Date.now()}`;
    const admin = new pg.Client({ connectionString: serverUrl });
    await admin.connect();
    await admin.query(`create database ${name}`);
    await admin.end();
    const url = new URL(serverUrl);
    url.pathname = `/${name}`;
    databaseUrl = url.toString();
    closeDatabase = async () => {
      const again = new pg.Client({ connectionString: serverUrl });
      await again.connect();
      await again.query(`drop database if exists ${name} with (force)`);
      await again.end();
    };
  } else {
    const { startEmbeddedPostgres } = require('../dist/db/embedded.js');
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'asm-bench-hooks-'));
    chmodSync(dataDir, 0o755);
    const cluster = await startEmbeddedPostgres({ dataDir, logger: quiet, throwaway: true });
    databaseUrl = cluster.url;
    closeDatabase = async () => {
      await cluster.stop();
      rmSync(dataDir, { recursive: true, force: true });
    };
  }
  await migrate(databaseUrl, quiet);
  const port = await new Promise((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const { port: free } = probe.address();
      probe.close(() => resolve(free));
    });
  });
  const child = spawn(process.execPath, ['dist/main.js'], {
    cwd: ROOT,
    env: { ...process.env, DATABASE_URL: databaseUrl, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const baseUrl = `http://127.0.0.1:${port}`;
  try {
    for (let i = 0; ; i++) {
      if (i === 200) throw new Error('server did not start');
      if (await fetch(`${baseUrl}/ready`).then((r) => r.ok, () => false)) break;
      await sleep(50);
    }
    const result = await measureHooks({ baseUrl });
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(`hooks at ${result.rate_per_s}/s: p50 ${result.p50_ms} ms, p99 ${result.p99_ms} ms, max ${result.max_ms} ms, ${result.errors} errors (target p99 ≤ 10 ms)\n`);
  } finally {
    child.kill('SIGTERM');
    await sleep(500);
    await closeDatabase();
  }
}

if (require.main === module) {
  main().catch((err) => {
    process.stderr.write(`bench failed: ${err.stack ?? err}\n`);
    process.exit(1);
  });
}
