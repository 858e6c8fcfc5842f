/**
 * Bench step: what masking secrets costs (issue 22).
 *
 * 1. The masker alone, in this process: microseconds per KB of text, for realistic tool output (hashes, UUIDs,
 *    base64, code, a few secrets: test/fixtures/secrets), prose without a candidate, and inputs built to be
 *    the worst for each detector (a prefix repeated, `=` everywhere). Linear time shows as a cost per KB that
 *    stays the same from 64 KB to 4 MB.
 * 2. Ingest through HTTP with masking on against off, in the same run: two server processes on one database,
 *    one with REDACT=off, driven in alternating rounds (on, off, on, off …) with the same events (~3 KB of
 *    realistic output each), so that the machine's other work falls on both alike. Reported: events a second
 *    and server CPU per event for each, and the ratio (target: on within 10 % of off).
 *
 * Alone: `npm run build && node bench/masking.js` (BENCH_DATABASE_URL or TEST_DATABASE_URL, else an embedded
 * PostgreSQL). bench/run.js calls measureMasking() as one of its steps.
 */
'use strict';

const { readFileSync } = require('node:fs');
const path = require('node:path');
const { Pool: HttpPool } = require('undici');
const { ROOT, round, openDatabase, startServer, stopProcess, stats } = require('./support');
const { createMasker } = require('../dist/privacy/mask.js');

const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'secrets');
const cases = JSON.parse(readFileSync(path.join(FIXTURES, 'cases.json'), 'utf8'));
const nearMisses = readFileSync(path.join(FIXTURES, 'near-misses.txt'), 'utf8');

// Realistic output: the near-miss corpus with every kind of secret in it once, about 17 KB a copy.
const realistic = nearMisses + cases.map((c) => c.template.replace('{{SECRET}}', c.secret)).join('\n');
const prose =
  'The session resumed after the build finished. Tests in the parser module were rewritten to use fixtures; the old snapshots were removed because they hid a regression in how blank lines are handled.\n';
const corpora = {
  realistic_output: realistic,
  prose: prose,
  worst_prefix: 'sk-',
  worst_jwt: 'eyJ',
  worst_equals: ' A_TOKEN=',
  worst_url: 'a://b:c',
};

const repeatTo = (text, bytes) => text.repeat(Math.ceil(bytes / text.length)).slice(0, bytes);

/** Microseconds per KB of each corpus at 64 KB and 4 MB (the same cost at both: linear). */
function maskerCost() {
  const masker = createMasker();
  const result = {};
  for (const [name, unit] of Object.entries(corpora)) {
    const row = {};
    for (const size of [64 * 1024, 4 * 1024 * 1024]) {
      const text = repeatTo(unit, size);
      // Warmed up (compiled by V8), then the median of 7 timings of enough rounds for ~1 MB each: the machine is shared.
      const rounds = Math.max(1, Math.round((1024 * 1024) / size));
      for (let i = 0; i < 5; i++) masker.text(text);
      const timings = [];
      for (let t = 0; t < 7; t++) {
        const started = process.hrtime.bigint();
        for (let i = 0; i < rounds; i++) masker.text(text);
        timings.push(Number(process.hrtime.bigint() - started) / 1000 / rounds);
      }
      const micros = timings.sort((a, b) => a - b)[3];
      row[size === 64 * 1024 ? 'us_per_kb_at_64kb' : 'us_per_kb_at_4mb'] = round(micros / (size / 1024), 2);
    }
    result[name] = row;
  }
  return result;
}

/** A ~3 KB post_tool event: a slice of realistic output (some with a secret in it), different for each i. */
function eventBody(i) {
  const start = (i * 997) % (realistic.length - 3000);
  return JSON.stringify({
    event_type: 'post_tool',
    tool_name: 'Bash',
    tool_input: { command: `cat build-${i % 50}.log` },
    tool_output: { stdout: realistic.slice(start, start + 3000), exit: 0 },
  });
}

function cpuMs(pid) {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

/** Closed loop from `connections` connections for `seconds`: events a second, latencies, server CPU per event. */
async function drive(server, sessions, seconds, connections, counter) {
  const http = new HttpPool(server.baseUrl, { connections, pipelining: 1 });
  const latencies = [];
  let errors = 0;
  const cpuBefore = cpuMs(server.child.pid);
  const end = Date.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (Date.now() < end) {
        const i = counter.n++;
        const started = performance.now();
        const reply = await http.request({
          method: 'POST',
          path: `/sessions/${sessions[i % sessions.length]}/events`,
          headers: { 'content-type': 'application/json' },
          body: eventBody(i),
        });
        await reply.body.dump();
        if (reply.statusCode === 201) latencies.push(performance.now() - started);
        else errors += 1;
      }
    }),
  );
  const cpu = cpuMs(server.child.pid) - cpuBefore;
  await http.close();
  return { events: latencies.length, latencies, errors, cpu };
}

/**
 * Masking on (`on`, a server with the defaults) against off (a server started here with REDACT=off on the same
 * database), in `rounds` alternating rounds of `seconds` each.
 */
async function measureMasking({ databaseUrl, on, seconds = Number(process.env.BENCH_SECONDS ?? 10), rounds = 4, connections = 16 } = {}) {
  const masker = maskerCost();
  const off = await startServer(databaseUrl, { REDACT: 'off' });
  const ownOn = on ? null : await startServer(databaseUrl);
  const servers = { on: on ?? ownOn, off };
  try {
    const http = new HttpPool(servers.on.baseUrl, { connections: 4 });
    const sessions = [];
    for (let i = 0; i < 32; i++) {
      const id = `masking-${Date.now()}-${i}`;
      await (
        await http.request({ method: 'POST', path: '/sessions', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ session_id: id, session_name: id }) })
      ).body.dump();
      sessions.push(id);
    }
    await http.close();
    const counter = { n: 0 };
    // Warm-up of both, not counted.
    for (const server of [servers.on, servers.off]) await drive(server, sessions, 3, connections, counter);
    const totals = { on: { events: 0, cpu: 0, latencies: [], errors: 0, seconds: 0 }, off: { events: 0, cpu: 0, latencies: [], errors: 0, seconds: 0 } };
    const slice = seconds / 2;
    for (let r = 0; r < rounds; r++) {
      for (const which of r % 2 === 0 ? ['on', 'off'] : ['off', 'on']) {
        const got = await drive(servers[which], sessions, slice, connections, counter);
        const t = totals[which];
        t.events += got.events;
        t.cpu += got.cpu;
        t.errors += got.errors;
        t.seconds += slice;
        for (const latency of got.latencies) t.latencies.push(latency);
      }
    }
    const figures = (t) => {
      const s = stats(t.latencies);
      return {
        events_per_s: round(t.events / t.seconds, 0),
        server_cpu_ms_per_1k: round((t.cpu / t.events) * 1000, 0),
        p50_ms: round(s.p50, 2),
        p99_ms: round(s.p99, 2),
        errors: t.errors,
      };
    };
    const onFigures = figures(totals.on);
    const offFigures = figures(totals.off);
    return {
      masker,
      event_bytes: eventBody(0).length,
      ingest_on: onFigures,
      ingest_off: offFigures,
      // Above 1: masking costs that much more (throughput lost, CPU spent) than storing as sent.
      throughput_off_over_on: round(offFigures.events_per_s / onFigures.events_per_s, 3),
      cpu_on_over_off: round(onFigures.server_cpu_ms_per_1k / offFigures.server_cpu_ms_per_1k, 3),
    };
  } finally {
    await stopProcess(off.child);
    if (ownOn) await stopProcess(ownOn.child);
  }
}

if (require.main === module) {
  (async () => {
    const database = await openDatabase();
    try {
      const { migrate } = require('../dist/db/migrate.js');
      await migrate(database.url, require('./support').quiet);
      const result = await measureMasking({ databaseUrl: database.url });
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    } finally {
      await database.close();
    }
  })().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}

module.exports = { measureMasking, maskerCost };
