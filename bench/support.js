// What the bench scripts share: a database of their own, servers as child processes, figures.
'use strict';

const { spawn } = require('node:child_process');
const { mkdtempSync, chmodSync, rmSync, readFileSync } = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const net = require('node:net');
const pg = require('pg');
const { startEmbeddedPostgres } = require('../dist/db/embedded.js');
const { createLogger } = require('../dist/logger.js');

const ROOT = path.join(__dirname, '..');
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const quiet = createLogger('warn');
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}
function stats(values) {
  const sorted = Float64Array.from(values).sort();
  return { count: sorted.length, p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted[sorted.length - 1] ?? NaN };
}
const round = (n, digits = 1) => (Number.isFinite(n) ? Math.round(n * 10 ** digits) / 10 ** digits : null);

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

/**
 * A database for a bench: on the server of BENCH_DATABASE_URL (or TEST_DATABASE_URL, unless `ownCluster`),
 * a fresh database; else a throwaway embedded cluster, started with `postgresFlags`. `ownCluster` is for
 * benches that measure PostgreSQL's CPU: on a server that others use, their work would count too.
 */
async function openDatabase({ ownCluster = false, postgresFlags = [] } = {}) {
  const serverUrl = process.env.BENCH_DATABASE_URL || (ownCluster ? undefined : process.env.TEST_DATABASE_URL);
  if (serverUrl) {
    const name = `asm_bench_${Date.now()}`;
    const admin = new pg.Client({ connectionString: serverUrl });
    await admin.connect();
    await admin.query(`create database ${name}`);
    await admin.end();
    const url = new URL(serverUrl);
    url.pathname = `/${name}`;
    return {
      kind: 'server',
      url: url.toString(),
      async close() {
        const again = new pg.Client({ connectionString: serverUrl });
        await again.connect();
        await again.query(`drop database if exists ${name} with (force)`);
        await again.end();
      },
    };
  }
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'asm-bench-'));
  chmodSync(dataDir, 0o755);
  const cluster = await startEmbeddedPostgres({ dataDir, logger: quiet, throwaway: true, postgresFlags });
  return {
    kind: 'embedded',
    url: cluster.url,
    async close() {
      await cluster.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** `node dist/main.js` on the database, on a free loopback port; `env` adds to or overrides its settings. */
async function startServer(databaseUrl, env = {}) {
  const port = await freePort();
  // BENCH_SERVER_NODE_ARGS, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof": to profile the servers of a run.
  const nodeArgs = process.env.BENCH_SERVER_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
  const child = spawn(process.execPath, [...nodeArgs, 'dist/main.js'], {
    cwd: ROOT,
    env: { ...process.env, DATABASE_URL: databaseUrl, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn', DATABASE_POOL_SIZE: '12', ...env },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const baseUrl = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`${baseUrl}/ready`)).ok) return { child, baseUrl, wsUrl: `ws://127.0.0.1:${port}/ws` };
    } catch {
      // not up yet
    }
    await sleep(50);
  }
  throw new Error('server did not start');
}

/** Another database on the same server as `url` (its user may create databases); `drop()` removes it. */
async function createDatabase(url, name) {
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const other = new URL(url);
  other.pathname = `/${name}`;
  return {
    url: other.toString(),
    async drop() {
      const again = new pg.Client({ connectionString: url });
      await again.connect();
      await again.query(`drop database if exists ${name} with (force)`);
      await again.end();
    },
  };
}

/** SIGTERM, then the exit (SIGKILL if it takes longer than `ms`). */
async function stopProcess(child, ms = 15_000) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), ms);
  await exited;
  clearTimeout(timer);
}

function rssMegabytes(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)[1]) / 1024;
}

/** The most a process has had resident since it started (VmHWM), in MB. */
function peakRssMegabytes(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)[1]) / 1024;
}

/** The body of event i of a bench: about 300 bytes of JSON, like a small tool call. */
const eventBody = (i) =>
  JSON.stringify({
    event_type: 'post_tool',
    tool_name: 'Bash',
    tool_input: { command: `ls -la /tmp/project/src/module-${i % 100}` },
    tool_output: { stdout: 'total 48\ndrwxr-xr-x 2 agent agent 4096 index.ts\n-rw-r--r-- 1 agent agent 1204 main.ts', exit: 0 },
    role: 'tool',
  });

module.exports = {
  ROOT,
  eventBody,
  SECONDS,
  quiet,
  sleep,
  percentile,
  stats,
  round,
  freePort,
  openDatabase,
  createDatabase,
  startServer,
  stopProcess,
  rssMegabytes,
  peakRssMegabytes,
};
