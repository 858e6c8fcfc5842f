// What a bench step costs: the CPU its processes spent, read from /proc at the start and the end of the
// step's measured window (nothing is sampled in between, so measuring costs nothing while the load runs),
// and where PostgreSQL's time went over the same window, from pg_stat_statements (reset at the start).
//
// CPU is the robust figure on a shared 2-core machine: throughput moves with whatever else runs, the CPU
// milliseconds one event costs hardly do.
'use strict';

const { readFileSync, readdirSync } = require('node:fs');
const { execFileSync } = require('node:child_process');
const os = require('node:os');

const TICK_MS = 1000 / clockTicks();

function clockTicks() {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
}

/** A process's parent and its CPU times in clock ticks (its own, and its waited-for children's); null once it is gone. */
function procStat(pid) {
  let text;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // Field 2, the command name, is in parentheses and may hold spaces: count the fields after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { ppid: Number(fields[1]), utime: Number(fields[11]), stime: Number(fields[12]), cutime: Number(fields[13]), cstime: Number(fields[14]) };
}

/** User + system ticks of these processes (all their threads), those still alive. */
function processTicks(pids) {
  let ticks = 0;
  for (const pid of pids) {
    const stat = procStat(pid);
    if (stat) ticks += stat.utime + stat.stime;
  }
  return ticks;
}

/**
 * PostgreSQL's CPU so far, in ticks: the postmaster's own and its exited children's (cutime + cstime: the
 * backends that ended, which the postmaster has waited for), plus every live child's (backends, autovacuum,
 * checkpointer, WAL writer…). Over a window, a backend that ends inside it is counted once either way.
 */
function postgresTicks(postmasterPid) {
  const postmaster = procStat(postmasterPid);
  if (!postmaster) return null;
  let ticks = postmaster.utime + postmaster.stime + postmaster.cutime + postmaster.cstime;
  // A scan of /proc rather than /proc/<pid>/task/<pid>/children, which the kernel calls unreliable while
  // children come and go; a few hundred small reads, twice a step.
  for (const entry of readdirSync('/proc')) {
    if (entry.charCodeAt(0) > 57) continue;
    const stat = procStat(entry);
    if (stat && stat.ppid === postmasterPid) ticks += stat.utime + stat.stime;
  }
  return ticks;
}

/** The postmaster of the server `db` is connected to: the parent of its backend (it must run on this machine). */
async function findPostmaster(db) {
  const { rows } = await db.query('select pg_backend_pid() as pid');
  const backend = procStat(rows[0].pid);
  if (!backend) throw new Error(`backend ${rows[0].pid} is not a process of this machine`);
  return backend.ppid;
}

const round1 = (n) => (Number.isFinite(n) ? Math.round(n * 10) / 10 : null);

/**
 * Measures windows of the load. `db` is a connection to the cluster (kept open for resets and reads of
 * pg_stat_statements); `postmasterPid` null means PostgreSQL's CPU is not measured (a shared server, whose
 * other users' work would count); `statements` false means pg_stat_statements is not available.
 */
class Meter {
  constructor({ db = null, postmasterPid = null, statements = false, top = 5 } = {}) {
    this.db = db;
    this.postmasterPid = postmasterPid;
    this.statementsAvailable = statements;
    this.top = top;
  }

  /** A meter for the bench's cluster: finds its postmaster and whether pg_stat_statements is loaded. */
  static async forCluster(db, { measurePostgres, top }) {
    const postmasterPid = measurePostgres ? await findPostmaster(db) : null;
    let statements = false;
    try {
      await db.query('create extension if not exists pg_stat_statements');
      await db.query('select 1 from pg_stat_statements limit 1');
      statements = true;
    } catch {
      // Not preloaded on this server: no statement figures.
    }
    return new Meter({ db, postmasterPid, statements, top });
  }

  /**
   * Starts a window. `groups` names the processes whose CPU is counted, e.g. { server: [pids], clients: [pids] };
   * the load generator (this process) is always counted as `load`, PostgreSQL as `postgres`.
   */
  async begin(groups) {
    if (this.statementsAvailable) await this.db.query('select pg_stat_statements_reset()');
    const pids = { ...groups, load: [process.pid] };
    const read = () => ({
      at: performance.now(),
      groups: Object.fromEntries(Object.entries(pids).map(([name, list]) => [name, processTicks(list)])),
      postgres: this.postmasterPid === null ? null : postgresTicks(this.postmasterPid),
    });
    const start = read();
    let end = null;
    const meter = this;
    return {
      /** Ends the window's CPU count (at once: later calls keep the first end). */
      stop() {
        end ??= read();
        return end;
      },
      /**
       * Every statement of the window (of one database, if named), by total time, the meter's own left out;
       * null without pg_stat_statements.
       */
      async statements({ limit = 1000, database } = {}) {
        return meter.statementRows(limit, database);
      },
      /**
       * The window's figures for `units` of work of kind `unit` ('event', 'request', …): CPU milliseconds per
       * 1,000 units for each group, and the top statements, in milliseconds of execution per 1,000 units.
       */
      async end(units, unit) {
        const last = this.stop();
        // The machine's load when the window ended: on a shared machine, what the figures were measured under.
        const cpu = { unit, units, seconds: round1((last.at - start.at) / 1000), machine_load_1m: round1(os.loadavg()[0]) };
        for (const name of Object.keys(last.groups)) {
          const ms = (last.groups[name] - start.groups[name]) * TICK_MS;
          cpu[`${name}_ms`] = Math.round(ms);
          cpu[`${name}_ms_per_1k`] = units > 0 ? round1((ms / units) * 1000) : null;
        }
        if (start.postgres === null || last.postgres === null) {
          cpu.postgres_ms = null;
          cpu.postgres_ms_per_1k = null;
        } else {
          const ms = (last.postgres - start.postgres) * TICK_MS;
          cpu.postgres_ms = Math.round(ms);
          cpu.postgres_ms_per_1k = units > 0 ? round1((ms / units) * 1000) : null;
        }
        const rows = await meter.statementRows(meter.top);
        // The start of each text is enough to tell the statements apart; results.json stays readable.
        const statements = rows && rows.map((row) => ({ ...row, ms_per_1k: units > 0 ? round1((row.total_ms / units) * 1000) : null, query: row.query.slice(0, 240) }));
        return { cpu, statements };
      },
    };
  }

  async statementRows(limit, database = null) {
    if (!this.statementsAvailable) return null;
    const { rows } = await this.db.query(
      `select * from pg_stat_statements
       where query not ilike '%pg_stat_statements%'
         and ($2::name is null or dbid = (select oid from pg_database where datname = $2))
       order by total_exec_time + total_plan_time desc
       limit $1`,
      [limit, database],
    );
    return rows.map((row) => ({
      total_ms: round1(row.total_exec_time + row.total_plan_time),
      calls: Number(row.calls),
      mean_ms: round1((row.total_exec_time + row.total_plan_time) / Number(row.calls)) ?? 0,
      rows: Number(row.rows),
      // With pg_stat_statements.track = all (BENCH_PROFILE=1), statements run inside functions and triggers
      // are listed too; their time is also inside their top-level statement's.
      ...(row.toplevel === false ? { nested: true } : {}),
      query: row.query.replace(/\s+/g, ' ').trim(),
    }));
  }
}

/** Lines for the terminal: the window's CPU per 1,000 units and its top statements. */
function describeUsage(name, { cpu, statements }, { width = 150 } = {}) {
  const per = `per 1,000 ${cpu.unit}s`;
  const groups = Object.keys(cpu)
    .filter((key) => key.endsWith('_ms_per_1k'))
    .map((key) => `${key.slice(0, -'_ms_per_1k'.length)} ${cpu[key] ?? 'not measured'}`);
  const lines = [`${name}: CPU ms ${per} (${cpu.units} ${cpu.unit}s in ${cpu.seconds} s, machine load ${cpu.machine_load_1m}): ${groups.join(', ')}`];
  if (statements) {
    lines.push(`  top statements, ms of execution ${per} (calls, mean ms):`);
    for (const s of statements) {
      const text = `${s.nested ? '[nested] ' : ''}${s.query}`;
      lines.push(`  ${String(s.ms_per_1k).padStart(8)}  (${s.calls}, ${s.mean_ms})  ${text.length > width ? `${text.slice(0, width - 1)}…` : text}`);
    }
  }
  return lines.join('\n');
}

/** A meter that measures nothing, for steps run alone without one. */
const NO_METER = {
  async begin() {
    return {
      stop() {},
      async statements() {
        return null;
      },
      async end() {
        return {};
      },
    };
  },
};

module.exports = { Meter, NO_METER, describeUsage, procStat, processTicks, postgresTicks, TICK_MS };
