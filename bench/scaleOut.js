// The scale-out steps of `npm run bench`: N server instances on one database, C WebSocket clients spread
// over them (in client processes of their own, bench/wsClients.js), events written at a steady rate through
// the instances in turn, as a load balancer would. Every client must get every event. Reported: delivery
// latency from each write's 2xx to each client's receipt (one machine, one monotonic clock), the servers'
// RSS, CPU per 1,000 events of the servers, PostgreSQL and the clients, and how much of PostgreSQL's time
// went to the listeners' reads of the change log (each instance reads every change: N instances, N reads).
//
// Each run gets a database of its own on the bench's cluster, so what earlier steps stored does not weigh on
// it, and the bench's other servers (which LISTEN on their own database) hear none of its notifications.
'use strict';

const { fork } = require('node:child_process');
const { readFileSync } = require('node:fs');
const path = require('node:path');
const { Pool: HttpPool } = require('undici');
const { migrate } = require('../dist/db/migrate.js');
const { SECONDS, eventBody, quiet, sleep, round, createDatabase, startServer, stopProcess, rssMegabytes, peakRssMegabytes } = require('./support');
const { monotonicMs, Histogram } = require('./clock');

// About 300 bytes of JSON, like a small tool call (the same shape as run.js's).
/**
 * Whether a statement is one the listener (src/realtime/listener.ts) runs: its read of the change log per
 * burst of notifications (readChanges, `with batch as (select … from change_batches …) …`), where the log
 * stands when it (re)connects (latestSeq, `select asm_last_seq() as last_seq`), and the heartbeat on its
 * LISTEN connection (`select 1`, which pg_stat_statements shows as `select $1`). In these steps nothing else
 * reads change_batches: the clients start with init, never with a replay. The write path's own statements
 * on the change log (`insert into change_batches …`, with `pg_current_xact_id()`) run in a trigger at commit,
 * outside any statement, so pg_stat_statements lists them as top-level too: they are writes. So is the
 * statement inside asm_last_seq() (`select greatest((select last_seq from change_batches …`): at commit the
 * trigger calls it from an expression, which pg_stat_statements does not track, so it shows as top-level;
 * called from the listener's tracked statement, it is nested and not listed. Matched by what a statement
 * reads rather than its exact text, so a reshaped read is still found; the matched texts are kept in the
 * results, to check.
 */
function isListenerStatement(query) {
  if (/^\s*select \$1\s*$/i.test(query)) return true;
  if (/^\s*select asm_last_seq\(\) as last_seq\s*$/i.test(query)) return true;
  if (/\b(insert|update|delete)\b/i.test(query) || /pg_current_xact_id/i.test(query)) return false;
  if (/^\s*select greatest\(\(select last_seq from change_batches\b/i.test(query)) return false;
  return /^\s*(with|select)\b/i.test(query) && /\bchange_batches\b/i.test(query);
}

/** Forks `processes` client processes (into `children`, for the caller to stop) and connects `urls`, one client each, spread over them. */
async function startClients(urls, processes, children) {
  const share = Math.ceil(urls.length / processes);
  for (let p = 0; p < processes; p++) {
    const mine = urls.slice(p * share, (p + 1) * share);
    if (mine.length === 0) break;
    const child = fork(path.join(__dirname, 'wsClients.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    children.push({ child, urls: mine });
    if (openFilesLimit(child.pid) < mine.length + 256)
      throw new Error(`a client process may open ${openFilesLimit(child.pid)} files, too few for ${mine.length} clients: raise ulimit -n`);
  }
  const ready = await Promise.all(children.map(({ child, urls: mine }) => ask(child, { type: 'connect', urls: mine, concurrency: 50 }, 'ready')));
  return {
    connected: ready.reduce((sum, r) => sum + r.connected, 0),
    failed: ready.reduce((sum, r) => sum + r.failed, 0),
    firstError: ready.find((r) => r.firstError)?.firstError ?? null,
  };
}

/** The soft limit on open files of a running process. */
function openFilesLimit(pid) {
  const limits = readFileSync(`/proc/${pid}/limits`, 'utf8');
  const soft = /^Max open files\s+(\S+)/m.exec(limits)?.[1];
  return soft === undefined || soft === 'unlimited' ? Infinity : Number(soft);
}

/** Sends a message to a client process and resolves with its reply of type `type`. */
function ask(child, message, type) {
  return new Promise((resolve, reject) => {
    const onMessage = (reply) => {
      if (reply.type !== type) return;
      child.off('message', onMessage);
      child.off('exit', onExit);
      resolve(reply);
    };
    const onExit = (code) => reject(new Error(`a client process exited (${code}) before it answered ${message.type}`));
    child.on('message', onMessage);
    child.once('exit', onExit);
    child.send(message);
  });
}

async function createSession(baseUrl, id) {
  const response = await fetch(`${baseUrl}/sessions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ session_id: id, session_name: id }),
  });
  if (response.status !== 201) throw new Error(`could not create session ${id}: ${response.status}`);
}

/**
 * Writes at `rate` a second for `seconds`, open loop, event i through instance i mod N into that instance's
 * session; the id and 2xx time of each acknowledged write.
 */
async function write(servers, sessions, rate, seconds) {
  const pools = servers.map((server) => new HttpPool(server.baseUrl, { connections: 16 }));
  const ids = [];
  const times = [];
  let errors = 0;
  const writes = [];
  const interval = 1000 / rate;
  const started = monotonicMs();
  const total = Math.round(rate * seconds);
  for (let i = 0; i < total; i++) {
    const wait = started + i * interval - monotonicMs();
    if (wait > 1) await sleep(wait);
    const instance = i % servers.length;
    writes.push(
      pools[instance]
        .request({ method: 'POST', path: `/sessions/${sessions[instance]}/events`, headers: { 'content-type': 'application/json' }, body: eventBody(i) })
        .then(async (reply) => {
          // The 2xx is in as soon as its status line is: the body (with the id) is read after.
          const at = monotonicMs();
          const text = await reply.body.text();
          if (reply.statusCode !== 201) {
            errors += 1;
            return;
          }
          ids.push(JSON.parse(text).event.id);
          times.push(at);
        })
        .catch(() => {
          errors += 1;
        }),
    );
  }
  await Promise.all(writes);
  const elapsed = (monotonicMs() - started) / 1000;
  await Promise.all(pools.map((pool) => pool.close()));
  return { ids, times, errors, writesPerSecond: round(ids.length / elapsed, 0) };
}

/**
 * One scale-out run. `instances` servers (each with `serverEnv`, e.g. its pool sizes), `clients` WebSocket
 * clients (client j on instance j mod N) in `clientProcesses` processes, events at `rate` a second.
 * With `control`, the same writes first run before any client connects: an instance without clients skips
 * its reads of the change log, so the difference in PostgreSQL's CPU between the two runs is what the
 * listeners' reads cost it (pg_stat_statements gives execution time, which for the writes includes waiting
 * for locks; this is CPU).
 */
async function measureScaleOut({
  databaseUrl,
  meter,
  instances,
  clients,
  rate,
  seconds = SECONDS,
  clientProcesses: processCount,
  serverEnv = {},
  stallMs = 10_000,
  maxWaitMs = 600_000,
  control = false,
}) {
  const databaseName = `asm_scale_${instances}x${clients}_${Date.now()}`;
  const database = await createDatabase(databaseUrl, databaseName);
  const servers = [];
  const clientProcesses = [];
  try {
    await migrate(database.url, quiet);
    // One after another: ten Node processes booting at once on two cores would each take long to be ready.
    for (let i = 0; i < instances; i++) servers.push(await startServer(database.url, serverEnv));
    // Each client is a socket in its instance, beside the few the instance holds anyway.
    const perInstance = Math.ceil(clients / instances);
    for (const server of servers) {
      const limit = openFilesLimit(server.child.pid);
      if (limit < perInstance + 256) throw new Error(`a server may open ${limit} files, too few for ${perInstance} clients: raise ulimit -n`);
    }
    const sessions = [];
    for (let i = 0; i < instances; i++) {
      sessions.push(`scale-${i}`);
      await createSession(servers[0].baseUrl, sessions[i]);
    }
    const serverPids = servers.map((server) => server.child.pid);
    let withoutClients = null;
    if (control) {
      const controlWindow = await meter.begin({ server: serverPids });
      const controlWrites = await write(servers, sessions, rate, seconds);
      const controlUsage = await controlWindow.end(controlWrites.ids.length, 'event');
      withoutClients = { events: controlWrites.ids.length, writes_per_s: controlWrites.writesPerSecond, write_errors: controlWrites.errors, ...controlUsage };
    }
    // As the dashboard connects (it asks for the newest 1,000 sessions in init).
    const urls = Array.from({ length: clients }, (_, j) => `${servers[j % instances].wsUrl}?init_limit=1000`);
    const connectStarted = monotonicMs();
    const clientSet = await startClients(urls, processCount ?? Math.max(2, Math.ceil(clients / 2500)), clientProcesses);
    const children = clientProcesses.map(({ child }) => child);
    const connectSeconds = round((monotonicMs() - connectStarted) / 1000, 1);
    await sleep(1000);

    const window = await meter.begin({ server: serverPids, clients: children.map((child) => child.pid) });
    const writesStarted = monotonicMs();
    const written = await write(servers, sessions, rate, seconds);
    const waitStarted = monotonicMs();
    const completion = await Promise.all(children.map((child) => ask(child, { type: 'acks', ids: written.ids, times: written.times, stallMs, maxMs: maxWaitMs }, 'complete')));
    const drainSeconds = round((monotonicMs() - waitStarted) / 1000, 1);
    window.stop();
    const rss = serverPids.map((pid) => rssMegabytes(pid));
    const peakRss = serverPids.map((pid) => peakRssMegabytes(pid));
    // This database's only: the bench's other servers keep their heartbeats going on theirs.
    const statementRows = await window.statements({ database: databaseName });
    const usage = await window.end(written.ids.length, 'event');

    const reports = await Promise.all(children.map((child) => ask(child, { type: 'report' }, 'report')));
    const histogram = new Histogram();
    for (const report of reports) histogram.merge(report.histogram);
    const sum = (key) => reports.reduce((total, report) => total + report[key], 0);
    const closeCodes = {};
    for (const report of reports) for (const [code, n] of Object.entries(report.closeCodes)) closeCodes[code] = (closeCodes[code] ?? 0) + n;
    const expected = written.ids.length * clients;
    const delivered = sum('delivered');
    const complete = sum('complete');

    const result = {
      instances,
      clients,
      client_processes: children.length,
      clients_connected: clientSet.connected,
      connect_failures: clientSet.failed,
      ...(clientSet.firstError ? { first_connect_error: clientSet.firstError } : {}),
      connect_seconds: connectSeconds,
      server_env: serverEnv,
      rate_per_s: rate,
      events: written.ids.length,
      writes_per_s: written.writesPerSecond,
      write_errors: written.errors,
      expected_deliveries: expected,
      delivered,
      clients_with_every_event: complete,
      every_client_got_every_event: complete === clients && delivered === expected,
      duplicates: sum('duplicates'),
      received_before_2xx: sum('beforeAck'),
      clients_closed: sum('closed'),
      close_codes: closeCodes,
      ...(sum('closed') > 0
        ? {
            first_close_s: round((Math.min(...reports.filter((r) => r.closed > 0).map((r) => r.firstCloseAt)) - writesStarted) / 1000, 1),
            last_close_s: round((Math.max(...reports.filter((r) => r.closed > 0).map((r) => r.lastCloseAt)) - writesStarted) / 1000, 1),
          }
        : {}),
      delivery_wait_timed_out: completion.some((c) => c.timedOut),
      drain_seconds: drainSeconds,
      p50_ms: round(histogram.percentile(50), 2),
      p99_ms: round(histogram.percentile(99), 2),
      max_ms: round(histogram.max, 2),
      server_rss_mb: round(Math.max(...rss), 0),
      server_peak_rss_mb: round(Math.max(...peakRss), 0),
      ...usage,
    };
    if (usage.cpu) {
      result.cpu.server_ms_per_1k_deliveries = delivered > 0 ? round((usage.cpu.server_ms / delivered) * 1000, 2) : null;
      result.cpu.clients_ms_per_1k_deliveries = delivered > 0 ? round((usage.cpu.clients_ms / delivered) * 1000, 2) : null;
    }
    if (statementRows) result.listener_reads = readAmplification(statementRows, written.ids.length, instances, usage.cpu?.seconds);
    if (withoutClients) {
      result.without_clients = withoutClients;
      const pgWith = usage.cpu?.postgres_ms_per_1k;
      const pgWithout = withoutClients.cpu?.postgres_ms_per_1k;
      if (typeof pgWith === 'number' && typeof pgWithout === 'number') {
        result.listener_reads ??= {};
        result.listener_reads.postgres_cpu_ms_per_1k = round(pgWith - pgWithout, 1);
        result.listener_reads.postgres_cpu_share = round((pgWith - pgWithout) / pgWith, 2);
      }
    }
    return result;
  } finally {
    for (const { child } of clientProcesses) {
      if (child.connected) child.send({ type: 'exit' });
    }
    await Promise.all(clientProcesses.map(({ child }) => stopProcess(child, 5_000)));
    await Promise.all(servers.map((server) => stopProcess(server.child)));
    await database.drop();
  }
}

/**
 * PostgreSQL's time on the listeners' reads against everything else (the writes: their statements, their
 * transactions' begin and commit), from pg_stat_statements over the window; per 1,000 events written.
 */
function readAmplification(rows, events, instances, seconds) {
  // With track = all, statements inside triggers are listed too, and their time is inside their caller's.
  const top = rows.filter((row) => !row.nested);
  const reads = top.filter((row) => isListenerStatement(row.query));
  const rest = top.filter((row) => !isListenerStatement(row.query));
  const ms = (list) => list.reduce((total, row) => total + row.total_ms, 0);
  const readMs = ms(reads);
  const writeMs = ms(rest);
  const per1k = (value) => (events > 0 ? round((value / events) * 1000, 1) : null);
  return {
    read_ms_per_1k: per1k(readMs),
    write_ms_per_1k: per1k(writeMs),
    reads_vs_writes: writeMs > 0 ? round(readMs / writeMs, 2) : null,
    read_calls: reads.reduce((total, row) => total + row.calls, 0),
    read_calls_per_instance_per_s: seconds ? round(reads.reduce((total, row) => total + row.calls, 0) / instances / seconds, 1) : null,
    events_per_read: round(
      (events * instances) /
        Math.max(
          1,
          reads.reduce((total, row) => total + row.calls, 0),
        ),
      1,
    ),
    statements: reads.map((row) => ({ total_ms: row.total_ms, calls: row.calls, mean_ms: row.mean_ms, query: row.query.slice(0, 120) })),
  };
}

/** The scale-out steps' rows for the terminal. */
function describeScaleOut(r) {
  const lines = [
    `  ${r.instances} instance(s), ${r.clients_connected}/${r.clients} clients connected in ${r.connect_seconds} s (${r.client_processes} client processes), ` +
      `${r.events} events at ${r.writes_per_s}/s (${r.write_errors} write errors)`,
    `  delivered ${r.delivered}/${r.expected_deliveries}; ${r.clients_with_every_event}/${r.clients} clients got every event` +
      `${r.every_client_got_every_event ? '' : ' — NOT every client got every event'}; ${r.duplicates} duplicates, ${r.clients_closed} clients closed ${JSON.stringify(r.close_codes)}` +
      `${r.clients_closed > 0 ? ` (${r.first_close_s}–${r.last_close_s} s after the writes began)` : ''}`,
    `  delivery p50 ${r.p50_ms} ms, p99 ${r.p99_ms} ms, max ${r.max_ms} ms (${r.every_client_got_every_event ? 'all delivered' : r.delivery_wait_timed_out ? 'gave up waiting' : 'every client still open had them all'} ${r.drain_seconds} s after the last write's 2xx); server RSS ${r.server_rss_mb} MB (peak ${r.server_peak_rss_mb} MB)`,
  ];
  if (r.without_clients?.cpu) {
    const c = r.without_clients.cpu;
    lines.push(
      `  the same writes before any client connected (no reads of the change log): CPU ms per 1,000 events: server ${c.server_ms_per_1k}, postgres ${c.postgres_ms_per_1k ?? 'not measured'} (${r.without_clients.writes_per_s}/s)`,
    );
  }
  if (r.listener_reads?.postgres_cpu_ms_per_1k !== undefined) {
    lines.push(
      `  listener reads cost PostgreSQL ${r.listener_reads.postgres_cpu_ms_per_1k} ms of CPU per 1,000 events (${Math.round(r.listener_reads.postgres_cpu_share * 100)}% of its CPU with clients)`,
    );
  }
  if (r.listener_reads?.read_ms_per_1k !== undefined) {
    const l = r.listener_reads;
    lines.push(
      `  listener reads: ${l.read_ms_per_1k} ms of PostgreSQL execution per 1,000 events vs ${l.write_ms_per_1k} ms for everything else (${l.reads_vs_writes}×); ` +
        `${l.read_calls} reads, ${l.read_calls_per_instance_per_s}/s an instance, ${l.events_per_read} events a read`,
    );
  }
  return lines.join('\n');
}

module.exports = { measureScaleOut, describeScaleOut, isListenerStatement };
