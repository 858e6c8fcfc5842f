/**
 * Bench step: what one hook costs Claude Code when it runs the hook command — a shell starts the command,
 * which reads the hook input on stdin, posts it, and exits — from spawn to exit, as Claude Code waits for it.
 *
 * Variants, interleaved run by run so that the machine's drift touches each alike:
 * - `plugin_script`: node plugin/scripts/asm-hook.js hook (what the plugin runs)
 * - `cli`: node dist/cli.js hook (what init-claude writes)
 * - `node_alone`: node -e 0 through the same shell, the floor no Node command can go below
 * - BENCH_HOOK_BEFORE=<a cli.js> adds `before`: another build of the CLI (e.g. an older commit's), for comparison
 * Twice: idle, and under load (one CPU-bound process per core beside it). The hook is the recorded
 * PostToolUse of the real CLI (2 KB), posted to `baseUrl` (a server instance when run from bench/run.js),
 * else to a small HTTP server in this process that answers 200 {} — the command's own cost, without the
 * server's few milliseconds.
 *
 * Alone: `npm run bench:hook-command` (BENCH_HOOK_RUNS, default 100 per variant and pass).
 */
'use strict';

const { spawn } = require('node:child_process');
const { mkdtempSync, readdirSync, readFileSync, rmSync } = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'claude-code', 'tool-call');

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}
const round = (n) => Math.round(n * 10) / 10;

function hookInput() {
  const file = readdirSync(FIXTURES).find((entry) => entry.endsWith('-PostToolUse.json'));
  return readFileSync(path.join(FIXTURES, file), 'utf8');
}

/** Spawns `command` through the shell, `input` on stdin; resolves to the milliseconds until it exited. */
function timeOnce(command, input, env) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn('/bin/sh', ['-c', command], { env, stdio: ['pipe', 'ignore', 'inherit'] });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(performance.now() - started) : reject(new Error(`${command} exited ${code}`))));
    child.stdin.end(input);
  });
}

async function sinkServer() {
  let received = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      received += 1;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${server.address().port}`, received: () => received, close: () => new Promise((resolve) => server.close(resolve)) };
}

/** One CPU-bound process per core: the "loaded" pass. */
function startLoad() {
  const burners = os.cpus().map(() => spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
  return () => burners.forEach((child) => child.kill('SIGKILL'));
}

async function pass(variants, input, env, runs) {
  const timings = Object.fromEntries(Object.keys(variants).map((name) => [name, []]));
  // A few runs first, not counted: the files into the page cache.
  for (const command of Object.values(variants)) for (let i = 0; i < 3; i++) await timeOnce(command, input, env);
  for (let i = 0; i < runs; i++) {
    for (const [name, command] of Object.entries(variants)) timings[name].push(await timeOnce(command, input, env));
  }
  return Object.fromEntries(
    Object.entries(timings).map(([name, values]) => {
      const sorted = values.sort((a, b) => a - b);
      return [
        name,
        { runs: sorted.length, p50_ms: round(percentile(sorted, 50)), p99_ms: round(percentile(sorted, 99)), mean_ms: round(sorted.reduce((a, b) => a + b, 0) / sorted.length) },
      ];
    }),
  );
}

/**
 * The hook command's cost per hook, idle and loaded, in ms (p50, p99, mean per variant), and whether every
 * hook got through (nothing left in the spool).
 */
async function measureHookCommand({ baseUrl, runs = Number(process.env.BENCH_HOOK_RUNS ?? 100) } = {}) {
  const sink = baseUrl ? undefined : await sinkServer();
  const spoolDir = mkdtempSync(path.join(os.tmpdir(), 'asm-bench-spool-'));
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, ASM_URL: baseUrl ?? sink.url, ASM_SPOOL_DIR: spoolDir };
  const variants = {
    plugin_script: `node ${JSON.stringify(path.join(ROOT, 'plugin', 'scripts', 'asm-hook.js'))} hook`,
    cli: `node ${JSON.stringify(path.join(ROOT, 'dist', 'cli.js'))} hook`,
    node_alone: 'node -e 0',
    ...(process.env.BENCH_HOOK_BEFORE ? { before: `node ${JSON.stringify(path.resolve(process.env.BENCH_HOOK_BEFORE))} hook` } : {}),
  };
  const input = hookInput();
  try {
    const load = { idle_start: round(os.loadavg()[0]) };
    const idle = await pass(variants, input, env, runs);
    const stopLoad = startLoad();
    let loaded;
    try {
      loaded = await pass(variants, input, env, runs);
    } finally {
      stopLoad();
    }
    load.end = round(os.loadavg()[0]);
    const left = readdirSync(spoolDir).filter((name) => name.endsWith('.json') && name !== 'state.json').length;
    return { idle, loaded, spooled_left: left, posted: sink ? sink.received() : undefined, load_average: load, target: baseUrl ? 'server instance' : 'in-process 200 {}' };
  } finally {
    await sink?.close();
    rmSync(spoolDir, { recursive: true, force: true });
  }
}

module.exports = { measureHookCommand };

if (require.main === module) {
  measureHookCommand().then(
    (result) => {
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      for (const [passName, variants] of [
        ['idle', result.idle],
        ['loaded', result.loaded],
      ]) {
        for (const [name, x] of Object.entries(variants))
          process.stdout.write(`${passName.padEnd(6)} ${name.padEnd(13)} p50 ${x.p50_ms} ms, p99 ${x.p99_ms} ms, mean ${x.mean_ms} ms (${x.runs} runs)\n`);
      }
    },
    (err) => {
      process.stderr.write(`bench failed: ${err.stack ?? err}\n`);
      process.exit(1);
    },
  );
}
