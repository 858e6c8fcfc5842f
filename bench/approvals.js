/**
 * Bench step: approvals (issue 19).
 *
 * - 1,000 PermissionRequests held at once by one instance (`node dist/main.js`): its RSS while it holds them
 *   (and its peak), then all decided through a second instance; every held hook must get its decision.
 * - Decision to answer across two instances: a PermissionRequest held by instance A, decided through
 *   instance B (`POST /approvals/{id}/decision`), one at a time; the time from sending the decision to A's
 *   answer reaching the agent (the decision's commit, B → PostgreSQL NOTIFY → A's LISTEN, A's answer), p50/p99.
 *
 * Alone: `npm run build && node bench/approvals.js` (BENCH_DATABASE_URL or TEST_DATABASE_URL, else an
 * embedded PostgreSQL). bench/run.js calls measureApprovals() as one of its steps.
 */
'use strict';

const { randomUUID } = require('node:crypto');
const { sleep, percentile, round, openDatabase, startServer, stopProcess, rssMegabytes, peakRssMegabytes } = require('./support');

const HELD = Number(process.env.BENCH_APPROVALS_HELD ?? 1000);
const SAMPLES = Number(process.env.BENCH_APPROVALS_SAMPLES ?? 200);

const post = (url, body) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

function permissionRequest(sessionId, i) {
  return {
    session_id: sessionId,
    hook_event_name: 'PermissionRequest',
    cwd: '/tmp/bench-project',
    permission_mode: 'default',
    tool_name: 'Bash',
    tool_input: { command: `npm test -- --shard ${i}`, description: 'Run the tests' },
    permission_suggestions: [{ type: 'addRules', rules: [{ toolName: 'Bash', ruleContent: 'npm test:*' }], behavior: 'allow', destination: 'localSettings' }],
  };
}

/** Holds `body` on `holder`; resolves with the answer and the time it arrived. */
async function hold(holder, body) {
  const response = await post(`${holder.baseUrl}/hooks/claude-code`, body);
  const answer = await response.json();
  return { status: response.status, answer, at: performance.now() };
}

/** The pending approvals of the sessions named, as `reader` lists them, once there are `count`. */
async function pendingOf(reader, sessionIds, count) {
  const wanted = new Set(sessionIds);
  for (let i = 0; i < 6000; i++) {
    const { approvals } = await (await fetch(`${reader.baseUrl}/approvals?state=pending&limit=1000`)).json();
    const mine = approvals.filter((approval) => wanted.has(approval.session_id));
    if (mine.length >= count) return mine;
    await sleep(20);
  }
  throw new Error(`fewer than ${count} approvals became pending`);
}

async function measureApprovals([holder, decider]) {
  // 1. Many held at once.
  const rssBefore = rssMegabytes(holder.child.pid);
  const sessions = Array.from({ length: HELD }, () => randomUUID());
  const held = sessions.map((id, i) => hold(holder, permissionRequest(id, i)));
  const started = performance.now();
  const pending = [];
  for (let from = 0; from < sessions.length; from += 1000) pending.push(...(await pendingOf(decider, sessions.slice(from, from + 1000), Math.min(1000, sessions.length - from))));
  const allHeldMs = performance.now() - started;
  const rssHolding = rssMegabytes(holder.child.pid);
  // Half allowed, half denied, 50 decisions in flight at a time.
  for (let from = 0; from < pending.length; from += 50) {
    await Promise.all(
      pending
        .slice(from, from + 50)
        .map((approval, i) =>
          post(`${decider.baseUrl}/approvals/${approval.id}/decision`, (from + i) % 2 === 0 ? { decision: 'allow' } : { decision: 'deny', reason: 'bench' }).then((r) => r.text()),
        ),
    );
  }
  const answers = await Promise.all(held);
  const decided = answers.filter(({ status, answer }) => status === 200 && answer.hookSpecificOutput?.decision?.behavior).length;

  // 2. Decision to answer, one at a time.
  const latencies = [];
  for (let i = 0; i < SAMPLES; i++) {
    const id = randomUUID();
    const answered = hold(holder, permissionRequest(id, i));
    const [approval] = await pendingOf(decider, [id], 1);
    const sent = performance.now();
    const decision = post(`${decider.baseUrl}/approvals/${approval.id}/decision`, { decision: 'allow' }).then((r) => r.text());
    const { at } = await answered;
    await decision;
    latencies.push(at - sent);
  }
  latencies.sort((a, b) => a - b);
  return {
    held: HELD,
    held_in_ms: round(allHeldMs, 0),
    answered_with_decision: decided,
    holder_rss_mb: { before: round(rssBefore, 0), holding: round(rssHolding, 0), peak: round(peakRssMegabytes(holder.child.pid), 0) },
    decision_to_answer_ms: { samples: SAMPLES, p50: round(percentile(latencies, 50), 1), p99: round(percentile(latencies, 99), 1), max: round(latencies[latencies.length - 1], 1) },
  };
}

function describeApprovals(result) {
  return (
    `approvals: ${result.answered_with_decision}/${result.held} held at once answered with their decision; holder RSS ${result.holder_rss_mb.before} → ${result.holder_rss_mb.holding} MB (peak ${result.holder_rss_mb.peak}); ` +
    `decision → answer across two instances p50 ${result.decision_to_answer_ms.p50} ms, p99 ${result.decision_to_answer_ms.p99} ms`
  );
}

module.exports = { measureApprovals, describeApprovals };

if (require.main === module) {
  (async () => {
    const database = await openDatabase();
    const servers = [];
    try {
      // One after the other: the first migrates.
      servers.push(await startServer(database.url, { APPROVAL_HOLD_SECONDS: '600' }));
      servers.push(await startServer(database.url, { APPROVAL_HOLD_SECONDS: '600' }));
      const result = await measureApprovals(servers);
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n${describeApprovals(result)}\n`);
    } finally {
      await Promise.all(servers.map((server) => stopProcess(server.child)));
      await database.close();
    }
  })().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
