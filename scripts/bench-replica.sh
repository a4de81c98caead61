#!/usr/bin/env bash
# bench-replica.sh: read-entry throughput with PostgreSQL read replicas
# (issue 15, docs/BENCHMARKS.md). It makes two throwaway clusters of its own
# in /tmp (a primary, and a hot standby of it made with pg_basebackup -R),
# writes ENTRIES entries through `tabula serve`, then measures
# `tabula bench --mode read-entry` at c=16 for READ_SECONDS against:
#
#   1. one serve on the primary only (no replica);
#   2. one serve with --read-database-url on the standby;
#   3. two serve processes, both with --read-database-url on the standby,
#      the load split across them (two bench processes at c=8 each).
#
# Each run prints its JSON line, the servers' reads by target
# (tabula_storage_reads_total) and the load averages.
#
#   scripts/bench-replica.sh BIN > replica.txt
#
# BIN is a built tabula binary. Environment: ENTRIES (20000), READ_SECONDS
# (30), ENTRY_CACHE_MIB (0: entries are read from the database, as in a log
# larger than the cache), PG_BIN (the newest /usr/lib/postgresql/*/bin). As
# root the clusters run as the user postgres (initdb refuses root).
set -euo pipefail

bin=$(realpath "${1:?usage: bench-replica.sh BIN}")
entries=${ENTRIES:-20000}
rs=${READ_SECONDS:-30}
ecache=${ENTRY_CACHE_MIB:-0}
pgbin=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}
as=()
[ "$(id -u)" = 0 ] && as=(runuser -u postgres --)

work=$(mktemp -d /tmp/tabula-bench-replica-XXXXXX)
chmod 755 "$work"
mkdir -p "$work/pg" "$work/keys"
[ "$(id -u)" = 0 ] && chown postgres "$work/pg"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	"${as[@]}" "$pgbin/pg_ctl" -D "$work/pg/standby" -m immediate stop >/dev/null 2>&1 || true
	"${as[@]}" "$pgbin/pg_ctl" -D "$work/pg/primary" -m immediate stop >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

pport=55432
sport=55433
"${as[@]}" "$pgbin/initdb" -D "$work/pg/primary" -U postgres --auth=trust --encoding=UTF8 --locale=C >/dev/null
cat >>"$work/pg/primary/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$work/pg'
wal_level = replica
max_wal_senders = 4
CONF
"${as[@]}" "$pgbin/pg_ctl" -D "$work/pg/primary" -l "$work/pg/primary.log" -o "-p $pport" -w start >/dev/null
primary="postgres://postgres@127.0.0.1:$pport/postgres?sslmode=disable"
"$bin" migrate --data-dir "$work/keys" --database-url "$primary" >/dev/null
"${as[@]}" "$pgbin/pg_basebackup" -D "$work/pg/standby" -h 127.0.0.1 -p "$pport" -U postgres -X stream -R -c fast
echo "hot_standby_feedback = on" >>"$work/pg/standby/postgresql.conf"
"${as[@]}" "$pgbin/pg_ctl" -D "$work/pg/standby" -l "$work/pg/standby.log" -o "-p $sport" -w start >/dev/null
standby="postgres://postgres@127.0.0.1:$sport/postgres?sslmode=disable"

# serve N PORT [extra flags…]: start a server, wait for /readyz.
serve() {
	local n=$1 port=$2
	shift 2
	"$bin" serve --listen "127.0.0.1:$port" --metrics-listen "127.0.0.1:$((port + 1000))" \
		--data-dir "$work/keys" --database-url "$primary" --entry-cache-mib "$ecache" \
		--log-level warn "$@" 2>"$work/serve$n.log" &
	pids+=($!)
	for _ in $(seq 100); do
		curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && return
		sleep 0.1
	done
	echo "serve $n did not start:" >&2
	cat "$work/serve$n.log" >&2
	exit 1
}
stopall() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	pids=()
}
reads() {
	curl -s "http://127.0.0.1:$(($1 + 1000))/metrics" | grep '^tabula_storage_reads_total' | sed "s/^/  server :$1 /" || true
}

serve 0 3200
"$bin" bench --server http://127.0.0.1:3200 --mode write --concurrency 64 --count "$entries" --entries "$entries" >/dev/null
stopall

echo "# 1. one serve, no replica"
serve 1 3201
uptime
"$bin" bench --server http://127.0.0.1:3201 --mode read-entry --concurrency 16 --duration "${rs}s"
stopall

echo "# 2. one serve with --read-database-url"
serve 2 3202 --read-database-url "$standby"
uptime
"$bin" bench --server http://127.0.0.1:3202 --mode read-entry --concurrency 16 --duration "${rs}s"
reads 3202
stopall

echo "# 3. two serve processes with --read-database-url, c=8 each"
serve 3 3203 --read-database-url "$standby"
serve 4 3204 --read-database-url "$standby"
uptime
"$bin" bench --server http://127.0.0.1:3203 --mode read-entry --concurrency 8 --duration "${rs}s" &
b1=$!
"$bin" bench --server http://127.0.0.1:3204 --mode read-entry --concurrency 8 --duration "${rs}s"
wait $b1
reads 3203
reads 3204
stopall
uptime
