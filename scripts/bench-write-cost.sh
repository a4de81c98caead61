#!/usr/bin/env bash
# bench-write-cost.sh: where a write's cost goes beyond the ceiling's
# (issue 15; docs/BENCHMARKS.md). On a fresh PostgreSQL database it starts
# `tabula serve` and `tabula bench ceiling` with the same key, runs a write
# c=64 against the real server (a CPU profile of its middle half in
# DATA_DIR.w64.cpu), then the same against the ceiling, and prints each
# run's JSON line and, per entry written: the server's CPU, the CPU of the
# PostgreSQL backends connected to the database, the CPU of PostgreSQL's
# WAL writer, checkpointer and background writer, and the WAL bytes
# (pg_current_wal_lsn before and after: WAL is per cluster, so other
# databases' writes count too); the share of the machine left idle during
# the real run; the ceiling server's CPU per entry.
#
#   scripts/bench-write-cost.sh BIN DATA_DIR DATABASE [SECONDS]
#
# PAIRS (1) pairs of runs, in alternating order, with the ratio of the
# totals at the end (see below).
#
# BIN is a built tabula binary; DATA_DIR is emptied and holds the log key;
# DATABASE is dropped and created on 127.0.0.1:5432 (user postgres, trust
# auth; PGHOST etc. are not read). SECONDS (20) is each run's length.
# Environment: PORT (3115), METRICS_PORT (2125), CEILING_PORT (3116).
# Reads /proc: Linux only, and PostgreSQL on this machine.
set -euo pipefail

bin=${1:?usage: bench-write-cost.sh BIN DATA_DIR DATABASE [SECONDS]}
dir=${2:?usage: bench-write-cost.sh BIN DATA_DIR DATABASE [SECONDS]}
db=${3:?usage: bench-write-cost.sh BIN DATA_DIR DATABASE [SECONDS]}
secs=${4:-20}
port=${PORT:-3115}
mport=${METRICS_PORT:-2125}
cport=${CEILING_PORT:-3116}
server=http://127.0.0.1:$port
ceil=http://127.0.0.1:$cport

sq() { psql -h 127.0.0.1 -U postgres -d postgres -qtAc "$1"; }
sq "drop database if exists $db" >/dev/null 2>&1
sq "create database $db"
url="postgres://postgres@127.0.0.1:5432/$db?sslmode=disable"
rm -rf "$dir"
mkdir -p "$dir"

"$bin" serve --listen "127.0.0.1:$port" --metrics-listen "127.0.0.1:$mport" --pprof --data-dir "$dir" --database-url "$url" --log-level warn 2>"$dir.serve.log" &
pid=$!
cpid=
trap 'kill $pid $cpid 2>/dev/null || true' EXIT
until curl -fs -o /dev/null "$server/readyz"; do
	kill -0 $pid 2>/dev/null || { cat "$dir.serve.log" >&2; exit 1; }
	sleep 0.05
done
"$bin" bench ceiling --listen "127.0.0.1:$cport" --key "$dir/log-key.pem" 2>"$dir.ceiling.log" &
cpid=$!
until curl -fs -o /dev/null "$ceil/readyz"; do
	kill -0 $cpid 2>/dev/null || { cat "$dir.ceiling.log" >&2; exit 1; }
	sleep 0.05
done

tick=$(getconf CLK_TCK)
cpu() { awk '{print $14+$15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
backends() { sq "select pid from pg_stat_activity where datname = '$db'"; }
bgcpu() { for p in $(pgrep -u postgres -f 'walwriter|checkpointer|background writer'); do cpu "$p"; done | paste -sd+ | bc; }
idle() { awk '/^cpu / {t = 0; for (i = 2; i <= NF; i++) t += $i; print $5 + $6, t}' /proc/stat; }
size() { curl -fs "$1/api/v1/log" | sed -n 's/.*"treeSize":\([0-9]*\).*/\1/p'; }
per() { echo "scale=1; $1 * 1000000 / $tick / $2" | bc; } # ticks, entries -> µs

# real: one write run against the real server; adds to the totals.
rops=0 rn=0 rcpu=0 rpg=0 rbg=0 rwal=0 ridle=0 rtotal=0 profiled=0
real() {
	declare -A pg0
	local p
	for p in $(backends); do pg0[$p]=$(cpu "$p"); done
	local bg0 lsn0 s0 c0 i0 t0 prof=
	bg0=$(bgcpu)
	lsn0=$(sq "select pg_current_wal_lsn()")
	s0=$(size "$server")
	c0=$(cpu $pid)
	read -r i0 t0 < <(idle)
	echo "load before real: $(cut -d' ' -f1 /proc/loadavg)"
	if [ "$profiled" = 0 ]; then
		(sleep $((secs / 4)); curl -fs -o "$dir.w64.cpu" "http://127.0.0.1:$mport/debug/pprof/profile?seconds=$((secs / 2))") &
		prof=$!
		profiled=1
	fi
	local out
	out=$("$bin" bench --server "$server" --mode write --concurrency 64 --duration "${secs}s" --entries $((secs * 12000)) | tail -1)
	echo "$out"
	exhausted "$out"
	[ -z "$prof" ] || wait $prof
	local i1 t1 c1 s1 lsn1 bg1 pg=0 n wal
	read -r i1 t1 < <(idle)
	c1=$(cpu $pid)
	s1=$(size "$server")
	lsn1=$(sq "select pg_current_wal_lsn()")
	bg1=$(bgcpu)
	for p in $(backends); do pg=$((pg + $(cpu "$p") - ${pg0[$p]:-0})); done
	n=$((s1 - s0))
	wal=$(sq "select pg_wal_lsn_diff('$lsn1', '$lsn0')")
	echo "per entry ($n entries): server CPU $(per $((c1 - c0)) $n) µs, PostgreSQL backends $(per $pg $n) µs, PostgreSQL WAL writer/checkpointer/bgwriter $(per $((bg1 - bg0)) $n) µs, WAL $(echo "$wal / $n" | bc) B (WAL $lsn0 to $lsn1)"
	echo "idle share of the machine during the real run (entry generation included): $(echo "$i0 $t0 $i1 $t1" | awk '{printf "%.3f", ($3 - $1) / ($4 - $2)}')"
	rps=$(echo "$out" | sed -n 's/.*"good":\([0-9]*\).*/\1/p')
	rops=$((rops + ${rps:-0})) rn=$((rn + n)) rcpu=$((rcpu + c1 - c0)) rpg=$((rpg + pg)) rbg=$((rbg + bg1 - bg0))
	rwal=$(echo "$rwal + $wal" | bc) ridle=$((ridle + i1 - i0)) rtotal=$((rtotal + t1 - t0))
}

# exhausted LINE: warns when a run's pre-generated entries ran out before
# its end (the totals, counts of writes, then undercount it).
exhausted() {
	case $1 in *'"exhausted":true'*) echo "warning: a run's entries ran out before its end; raise its --entries" >&2 ;; esac
}

# ceiling: the same run against the ceiling server; adds to the totals.
cops=0 ccpu=0
ceiling() {
	echo "load before ceiling: $(cut -d' ' -f1 /proc/loadavg)"
	local cc0 cc1 out cn
	cc0=$(cpu $cpid)
	out=$("$bin" bench --ceiling --server "$ceil" --mode write --concurrency 64 --duration "${secs}s" --entries $((secs * 20000)) | tail -1)
	cc1=$(cpu $cpid)
	echo "$out"
	exhausted "$out"
	cn=$(echo "$out" | sed -n 's/.*"good":\([0-9]*\).*/\1/p')
	echo "ceiling server CPU per entry: $(per $((cc1 - cc0)) "${cn:-1}") µs"
	cops=$((cops + ${cn:-0})) ccpu=$((ccpu + cc1 - cc0))
}

# The machine's speed drifts by a third between minutes (the ceiling
# server's own CPU per entry moves that much), so PAIRS > 1 alternates the
# order, real-ceiling then ceiling-real, and reports the ratio of the
# totals: a drift that is linear over a pair of pairs cancels.
pairs=${PAIRS:-1}
for i in $(seq "$pairs"); do
	if [ $((i % 2)) = 1 ]; then
		real
		ceiling
	else
		ceiling
		real
	fi
done
if [ "$pairs" -gt 1 ]; then
	echo "totals over $pairs pairs of ${secs}s runs: real $rops writes, ceiling $cops writes, ratio real/ceiling $(echo "scale=3; $rops / $cops" | bc)"
	echo "per entry over all real runs ($rn entries): server CPU $(per $rcpu $rn) µs, PostgreSQL backends $(per $rpg $rn) µs, WAL writer/checkpointer/bgwriter $(per $rbg $rn) µs, WAL $(echo "$rwal / $rn" | bc) B, idle share $(echo "$ridle $rtotal" | awk '{printf "%.3f", $1 / $2}'); ceiling server CPU per entry $(per $ccpu $cops) µs"
fi
