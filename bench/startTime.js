/**
 * How long `npm start` takes to answer /health: the first start (an embedded PostgreSQL initialised, the
 * schema migrated), restarts (nothing changed: no compiling), and a start after a source changed (the
 * compile `npm start` used to run every time). Also how long a stop takes (SIGTERM to exit).
 *
 * Without DATABASE_URL, as the README's `npm install && npm start`: an embedded cluster in a throwaway
 * DATA_DIR. BENCH_DATABASE_URL (a server it may create a database on) measures the DATABASE_URL path too.
 * BENCH_START_RUNS restarts (default 5); BENCH_START_COMPILE=0 skips the compiling start.
 *
 * `npm run bench:start`. Figures, not a test: the machine is shared and they move with its load.
 */
'use strict';

const { spawn } = require('node:child_process');
const { chmodSync, mkdtempSync, readFileSync, rmSync, unlinkSync, existsSync } = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
const round = (n) => Math.round(n * 10) / 10;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/** Whether the embedded cluster of DATA_DIR `dir` still runs (its postmaster.pid is there). */
const clusterRunning = (dir) => {
  const moved = path.join(dir, 'postgres-location');
  const cluster = existsSync(moved) ? readFileSync(moved, 'utf8').trim() : path.join(dir, 'postgres');
  return existsSync(path.join(cluster, 'postmaster.pid'));
};

/**
 * Runs `npm start` (its own process group) until /health answers 200; then SIGTERM, as a terminal's ^C or
 * a service manager sends it, and waits until the server has exited and its embedded cluster has stopped.
 */
async function startOnce(env, timeoutMs = 300_000) {
  const port = await freePort();
  const started = performance.now();
  const child = spawn('npm', ['start', '--silent'], { cwd: ROOT, env: { ...env, PORT: String(port), LOG_LEVEL: 'warn' }, detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  let answered = null;
  while (performance.now() - started < timeoutMs) {
    if (child.exitCode !== null) throw new Error(`npm start exited ${child.exitCode}: ${stderr.slice(-2000)}`);
    try {
      const response = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(1000) });
      if (response.ok) {
        answered = performance.now() - started;
        break;
      }
    } catch {
      // Not listening yet.
    }
    await sleep(25);
  }
  const stopping = performance.now();
  process.kill(-child.pid, 'SIGTERM');
  await exited;
  // npm leaves at the signal; the server and its cluster shut down in their own time.
  while (performance.now() - stopping < 60_000) {
    const listening = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(500) }).then(
      () => true,
      () => false,
    );
    if (!listening && !clusterRunning(env.DATA_DIR)) break;
    await sleep(25);
  }
  if (answered === null) throw new Error(`/health did not answer within ${timeoutMs} ms: ${stderr.slice(-2000)}`);
  if (/stopped|shutdown failed/i.test(stderr) && /shutdown failed/i.test(stderr)) throw new Error(`the server did not stop cleanly: ${stderr.slice(-2000)}`);
  return { health_ms: Math.round(answered), stop_ms: Math.round(performance.now() - stopping), compiled: /compiling src/.test(stderr) };
}

async function measureStart() {
  const runs = Number(process.env.BENCH_START_RUNS ?? 5);
  const results = { load_average: { start: round(os.loadavg()[0]) } };
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'asm-bench-start-'));
  // Open to the postgres user, so that (as root) the cluster stays inside and goes with the folder.
  chmodSync(dataDir, 0o755);
  const base = { PATH: process.env.PATH, HOME: process.env.HOME, DATA_DIR: dataDir };
  try {
    // Compiled once before anything is timed, as `npm install` leaves it.
    await new Promise((resolve, reject) =>
      spawn(process.execPath, [path.join(ROOT, 'scripts', 'build.js')], { stdio: 'inherit' }).on('exit', (code) => (code === 0 ? resolve() : reject(new Error('build failed')))),
    );
    process.stderr.write('first start (embedded PostgreSQL initialised)…\n');
    results.embedded_first = await startOnce(base);
    results.embedded_restarts = [];
    for (let i = 0; i < runs; i++) {
      process.stderr.write(`restart ${i + 1}/${runs}…\n`);
      results.embedded_restarts.push(await startOnce(base));
    }
    if (process.env.BENCH_START_COMPILE !== '0') {
      // As if a source had changed: the stamp of the last build gone, `npm start` compiles first.
      const stamp = path.join(ROOT, 'dist', '.build-hash');
      if (existsSync(stamp)) unlinkSync(stamp);
      process.stderr.write('start after a change (compiles)…\n');
      results.embedded_after_change = await startOnce(base);
    }
    if (process.env.BENCH_DATABASE_URL) {
      const pg = require('pg');
      const name = `asm_bench_start_${process.pid}`;
      const admin = new pg.Client({ connectionString: process.env.BENCH_DATABASE_URL });
      await admin.connect();
      await admin.query(`create database ${name}`);
      const url = new URL(process.env.BENCH_DATABASE_URL);
      url.pathname = `/${name}`;
      try {
        results.database_url_first = await startOnce({ ...base, DATABASE_URL: url.href });
        results.database_url_restarts = [];
        for (let i = 0; i < runs; i++) results.database_url_restarts.push(await startOnce({ ...base, DATABASE_URL: url.href }));
      } finally {
        await admin.query(`drop database if exists ${name} with (force)`);
        await admin.end();
      }
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
  results.load_average.end = round(os.loadavg()[0]);
  const median = (list) => list.map((x) => x.health_ms).sort((a, b) => a - b)[Math.floor(list.length / 2)];
  results.summary = {
    embedded_first_ms: results.embedded_first.health_ms,
    embedded_restart_median_ms: median(results.embedded_restarts),
    embedded_restart_max_ms: Math.max(...results.embedded_restarts.map((x) => x.health_ms)),
    ...(results.embedded_after_change ? { embedded_after_change_ms: results.embedded_after_change.health_ms } : {}),
    ...(results.database_url_restarts ? { database_url_restart_median_ms: median(results.database_url_restarts) } : {}),
    stop_max_ms: Math.max(...results.embedded_restarts.map((x) => x.stop_ms)),
  };
  return results;
}

module.exports = { measureStart };

if (require.main === module) {
  measureStart().then(
    (results) => process.stdout.write(`${JSON.stringify(results, null, 2)}\n`),
    (err) => {
      process.stderr.write(`bench failed: ${err.stack ?? err}\n`);
      process.exit(1);
    },
  );
}
