#!/usr/bin/env bash
# bench-series.sh: one series of end-to-end measurements against a log
# (docs/BENCHMARKS.md, docs/SCALE.md). It starts `tabula serve` on the given
# data, times the start until /readyz answers 200, runs `tabula bench`
# (write c=1, write c=64, read-entry, read-proof, read-tile at c=16), and
# prints each run's JSON line, the server's peak RSS and the load averages.
#
#   scripts/bench-series.sh BIN DATA_DIR [DATABASE_URL] > series.txt
#
# BIN is a built tabula binary; DATA_DIR holds the log key (and the SQLite
# database when DATABASE_URL is empty). Environment: PORT (3105),
# METRICS_PORT (2115), WRITE_SECONDS (60), READ_SECONDS (30), C1_SECONDS (30),
# PROFILE=1 to save a 20 s CPU profile of the c=64 write run beside DATA_DIR.
set -euo pipefail

bin=${1:?usage: bench-series.sh BIN DATA_DIR [DATABASE_URL]}
dir=${2:?usage: bench-series.sh BIN DATA_DIR [DATABASE_URL]}
url=${3:-}
port=${PORT:-3105}
mport=${METRICS_PORT:-2115}
ws=${WRITE_SECONDS:-60}
rs=${READ_SECONDS:-30}
c1=${C1_SECONDS:-30}
server=http://127.0.0.1:$port

args=(serve --listen "127.0.0.1:$port" --metrics-listen "127.0.0.1:$mport" --pprof --data-dir "$dir" --log-level warn)
[ -n "$url" ] && args+=(--database-url "$url")

start=$(date +%s.%N)
"$bin" "${args[@]}" 2>"$dir.serve.log" &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
until curl -fs -o /dev/null "$server/readyz"; do
	kill -0 $pid 2>/dev/null || { echo "server exited:" >&2; cat "$dir.serve.log" >&2; exit 1; }
	sleep 0.02
done
ready=$(date +%s.%N)
size=$(curl -fs "$server/api/v1/log" | sed -n 's/.*"treeSize":\([0-9]*\).*/\1/p')
echo "start-up: $(echo "$ready - $start" | bc) s to ready, tree size $size, rss after start $(awk '/VmRSS/ {print $2 " " $3}' /proc/$pid/status)"

run() {
	echo "load before: $(cut -d' ' -f1 /proc/loadavg)"
	"$bin" bench --server "$server" "$@" | tail -1
}
run --mode write --concurrency 1 --duration "${c1}s" --entries 30000
prof=
if [ "${PROFILE:-0}" = 1 ]; then
	(sleep $((ws / 2)); curl -fs -o "$dir.w64.cpu" "http://127.0.0.1:$mport/debug/pprof/profile?seconds=20") &
	prof=$!
fi
run --mode write --concurrency 64 --duration "${ws}s" --entries $((ws * 6000))
[ -n "$prof" ] && wait "$prof"
for mode in read-entry read-proof read-tile; do
	run --mode "$mode" --concurrency 16 --duration "${rs}s"
done
echo "server peak RSS: $(awk '/VmHWM/ {print $2 " " $3}' /proc/$pid/status); load after: $(cut -d' ' -f1 /proc/loadavg)"
