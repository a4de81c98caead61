#!/usr/bin/env bash
# bench-flat.sh: a big log against an empty one, in alternated pairs (issue
# 15's "10M vs empty: writes within 15 %, read p99 within 25 %";
# docs/SCALE.md). It starts `tabula serve` on each (the big log's start-up
# time and RSS printed), then for each mode runs PAIRS pairs of RUN_SECONDS
# runs, big-empty then empty-big, alternately, since this machine's speed
# drifts by a third between minutes and a drift linear in time cancels
# over the sums: write hashedrekord c=64, then read-entry c=16 (with
# proof and SET). It prints every run's JSON line, and per mode the
# summed rates (per_second) of the big log against the empty one's and
# each one's worst p99; then both servers' peak RSS. (Rates, not counts:
# a write run whose pre-generated entries ran out, "exhausted", ends
# early; the cap, 15,000/s, is well above this machine's 8,000/s.)
#
#   scripts/bench-flat.sh BIN BIG_DIR BIG_URL EMPTY_DIR EMPTY_URL > flat.txt
#
# BIN is a built tabula binary; each DIR holds its log's key; each URL is a
# PostgreSQL database, or empty for SQLite in DIR (the empty log is used as
# it is: make it fresh).
# Before each mode's pairs, both logs run it for WARMUP_SECONDS, not
# counted: a fresh server on the 10M log wrote ~10 % slower in its first
# 15 s than in the next ones (docs/SCALE.md, 2026-12-08).
# Environment: PAIRS (2), RUN_SECONDS (20), WARMUP_SECONDS (5; 0: none),
# BIG_PORT (3107), EMPTY_PORT (3108), SERVE_ARGS (more flags for both
# servers, e.g. "--disk-cache-mib 8192").
set -euo pipefail

bin=${1:?usage: bench-flat.sh BIN BIG_DIR BIG_URL EMPTY_DIR EMPTY_URL}
pairs=${PAIRS:-2}
secs=${RUN_SECONDS:-20}
warmup=${WARMUP_SECONDS:-5}
declare -A dir=([big]=${2:?} [empty]=${4:?}) url=([big]=${3?} [empty]=${5?}) port=([big]=${BIG_PORT:-3107} [empty]=${EMPTY_PORT:-3108}) pid=()

trap 'kill ${pid[big]:-} ${pid[empty]:-} 2>/dev/null || true' EXIT
for k in big empty; do
	start=$(date +%s.%N)
	# shellcheck disable=SC2086 # SERVE_ARGS is a list of flags
	"$bin" serve --listen "127.0.0.1:${port[$k]}" --metrics-listen "" --data-dir "${dir[$k]}" --database-url "${url[$k]}" --log-level warn ${SERVE_ARGS:-} 2>"${dir[$k]}.flat.log" &
	pid[$k]=$!
	until curl -fs -o /dev/null "http://127.0.0.1:${port[$k]}/readyz"; do
		kill -0 "${pid[$k]}" 2>/dev/null || { echo "$k server exited:" >&2; cat "${dir[$k]}.flat.log" >&2; exit 1; }
		sleep 0.02
	done
	ready=$(date +%s.%N)
	size=$(curl -fs "http://127.0.0.1:${port[$k]}/api/v1/log" | sed -n 's/.*"treeSize":\([0-9]*\).*/\1/p')
	echo "$k: start-up $(echo "$ready - $start" | bc) s to ready, tree size $size, RSS after start $(awk '/VmRSS/ {print $2 " " $3}' "/proc/${pid[$k]}/status")"
done

# one K ARGS…: a run against log K; adds its rate to ops[K] and keeps its
# worst p99 in p99[K].
declare -A ops p99
one() {
	local k=$1 out
	shift
	echo "load before: $(cut -d' ' -f1 /proc/loadavg)"
	out=$("$bin" bench --server "http://127.0.0.1:${port[$k]}" --duration "${secs}s" "$@" | tail -1)
	echo "$k: $out"
	ops[$k]=$(echo "${ops[$k]:-0} + $(echo "$out" | sed -n 's/.*"per_second":\([0-9.]*\).*/\1/p')" | bc)
	local p
	p=$(echo "$out" | sed -n 's/.*"p99":\([0-9.]*\).*/\1/p')
	if [ -z "${p99[$k]:-}" ] || [ "$(echo "$p > ${p99[$k]}" | bc)" = 1 ]; then p99[$k]=$p; fi
}
mode() {
	local name=$1
	shift
	ops=() p99=()
	if [ "$warmup" != 0 ]; then
		for k in big empty; do
			"$bin" bench --server "http://127.0.0.1:${port[$k]}" --duration "${warmup}s" "$@" >/dev/null
		done
	fi
	for i in $(seq "$pairs"); do
		if [ $((i % 2)) = 1 ]; then one big "$@"; one empty "$@"; else one empty "$@"; one big "$@"; fi
	done
	echo "$name, $pairs alternated pairs of ${secs}s: summed rates big ${ops[big]}/s, empty ${ops[empty]}/s, big/empty $(printf '%.3f' "$(echo "scale=4; ${ops[big]} / ${ops[empty]}" | bc)"); worst p99 big ${p99[big]} ms, empty ${p99[empty]} ms"
}
mode "write c=64" --mode write --concurrency 64 --entries $((secs * 15000))
mode "read-entry c=16" --mode read-entry --concurrency 16
for k in big empty; do
	echo "$k server peak RSS: $(awk '/VmHWM/ {print $2 " " $3}' "/proc/${pid[$k]}/status")"
done
