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
const { readFileSync, readdirSync } = require('node:fs');
const { randomUUID } = require('node:crypto');
const path = require('node:path');
const { Pool: HttpPool } = require('undici');
const { ROOT, sleep, percentile, round, openDatabase, startServer } = require('./support');
const { NO_METER } = require('./meter');

const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'claude-code', 'tool-call');

function fixture(name) {
  const file = readdirSync(FIXTURES).find((entry) => entry.endsWith(`-${name}.json`));
  return JSON.parse(readFileSync(path.join(FIXTURES, file), 'utf8'));
}

/** An endless series of hook bodies from `sessions` concurrent Claude Code sessions, interleaved (Bash outputs of `outputBytes`). */
function hookSource(sessions, { outputBytes = 2048 } = {}) {
  const templates = { prompt: fixture('UserPromptSubmit'), pre: fixture('PreToolUse'), post: fixture('PostToolUse'), stop: fixture('Stop') };
  const output = 'x'.repeat(outputBytes);
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

/**
 * Sends hooks to `server` at `rate` a second for `seconds`; latency percentiles, in ms, errors, and (with a
 * meter) CPU per 1,000 hooks. `warmUp` hooks go first, at the same rate, not counted: until V8 has compiled
 * the hook path it runs interpreted, a cost paid once per process.
 */
async function measureHooks(server, { rate = 500, seconds = Number(process.env.BENCH_SECONDS ?? 10), sessions = 50, warmUp = 1000, meter = NO_METER } = {}) {
  const http = new HttpPool(server.baseUrl, { connections: 64, pipelining: 1 });
  const next = hookSource(sessions);
  // Open loop: hook i leaves at start + i / rate whatever became of the others.
  const send = async (total) => {
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
    return { latencies, errors, elapsed: (performance.now() - start) / 1000 };
  };
  if (warmUp > 0) await send(warmUp);
  const total = rate * seconds;
  const window = await meter.begin();
  const { latencies, errors, elapsed } = await send(total);
  const usage = await window.end(latencies.length, 'request');
  await http.close();
  latencies.sort((a, b) => a - b);
  return {
    rate_per_s: rate,
    achieved_per_s: round(latencies.length / elapsed, 0),
    sent: total,
    p50_ms: round(percentile(latencies, 50), 2),
    p99_ms: round(percentile(latencies, 99), 2),
    max_ms: round(latencies[latencies.length - 1]),
    errors,
    ...usage,
  };
}

module.exports = { measureHooks, hookSource };

// Alone: its own database and one server instance.
async function main() {
  const database = await openDatabase();
  const server = await startServer(database.url);
  try {
    const result = await measureHooks({ baseUrl: server.baseUrl });
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(
      `hooks at ${result.rate_per_s}/s: p50 ${result.p50_ms} ms, p99 ${result.p99_ms} ms, max ${result.max_ms} ms, ${result.errors} errors (target p99 ≤ 10 ms)\n`,
    );
  } finally {
    server.child.kill('SIGTERM');
    await sleep(500);
    await database.close();
  }
}

if (require.main === module) {
  main().catch((err) => {
    process.stderr.write(`bench failed: ${err.stack ?? err}\n`);
    process.exit(1);
  });
}
