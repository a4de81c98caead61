#!/usr/bin/env bash
# bench-bytes.sh: bytes on disk and WAL per entry, by relation, on a fresh
# PostgreSQL database (issue 15; docs/BENCHMARKS.md, docs/SCALE.md).
#
#   scripts/bench-bytes.sh BIN DATA_DIR DATABASE ENTRIES [MODE]
#
# MODE load (the default) adds ENTRIES hashedrekord entries with
# `tabula bench load` (batches of up to 1024: the COPY path); MODE write
# starts `tabula serve` and writes them with `tabula bench --mode write
# --concurrency 64` (batches of ~30: the pipelined path, as in production).
# Then it prints, per entry:
#   - the WAL of this database's relations, by relation (pg_waldump over the
#     run's LSN range, records attributed to the relation of their first
#     block, TOAST to its table, a record with no block, e.g. a commit, to
#     "(commits and the like)" when its transaction wrote this database),
#     and in total: other databases' WAL is left out;
#   - the bytes on disk after CHECKPOINT and VACUUM (pg_total_relation_size:
#     heap, indexes, TOAST, free space map and visibility map), by table and
#     in total, and each index apart.
# A physical replication slot, dropped on exit, holds the run's WAL until
# pg_waldump has read it.
#
# BIN is a built tabula binary; DATA_DIR is emptied and holds the log key;
# DATABASE is dropped and created on 127.0.0.1:5432 (user postgres, trust
# auth). Environment: PORT (3117), METRICS_PORT (2127), PG_WALDUMP
# (/usr/lib/postgresql/15/bin/pg_waldump), PG_WAL (/var/lib/postgresql/15/main/pg_wal).
set -euo pipefail

usage="usage: bench-bytes.sh BIN DATA_DIR DATABASE ENTRIES [load|write]"
bin=${1:?$usage}
dir=${2:?$usage}
db=${3:?$usage}
n=${4:?$usage}
mode=${5:-load}
port=${PORT:-3117}
mport=${METRICS_PORT:-2127}
waldump=${PG_WALDUMP:-/usr/lib/postgresql/15/bin/pg_waldump}
waldir=${PG_WAL:-/var/lib/postgresql/15/main/pg_wal}
slot="bench_bytes_$db"

sq() { psql -h 127.0.0.1 -U postgres -d "${2:-postgres}" -qtAc "$1"; }
sq "drop database if exists $db" >/dev/null 2>&1
sq "create database $db"
url="postgres://postgres@127.0.0.1:5432/$db?sslmode=disable"
rm -rf "$dir"
mkdir -p "$dir"

pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null || true
	sq "select pg_drop_replication_slot('$slot') from pg_replication_slots where slot_name = '$slot'" >/dev/null 2>&1 || true
}
trap cleanup EXIT
sq "select pg_drop_replication_slot('$slot') from pg_replication_slots where slot_name = '$slot'" >/dev/null
sq "select 1 from pg_create_physical_replication_slot('$slot', true)" >/dev/null

case $mode in
load)
	# Migrate first, so that the schema's WAL is not counted.
	"$bin" bench load --database-url "$url" --data-dir "$dir" --entries 1 --progress 1h 2>"$dir.load.log"
	lsn0=$(sq "select pg_current_wal_lsn()")
	"$bin" bench load --database-url "$url" --data-dir "$dir" --entries "$n" --progress 1h 2>>"$dir.load.log"
	;;
write)
	server=http://127.0.0.1:$port
	"$bin" serve --listen "127.0.0.1:$port" --metrics-listen "127.0.0.1:$mport" --data-dir "$dir" --database-url "$url" --log-level warn 2>"$dir.serve.log" &
	pid=$!
	until curl -fs -o /dev/null "$server/readyz"; do
		kill -0 $pid 2>/dev/null || { cat "$dir.serve.log" >&2; exit 1; }
		sleep 0.05
	done
	lsn0=$(sq "select pg_current_wal_lsn()")
	"$bin" bench --server "$server" --mode write --concurrency 64 --duration 1h --entries "$n" | tail -1
	kill $pid
	wait $pid 2>/dev/null || true
	pid=
	;;
*)
	echo "$usage" >&2
	exit 2
	;;
esac
lsn1=$(sq "select pg_current_wal_lsn()")
entries=$(sq "select count(*) from entries" "$db")
echo "entries: $entries   WAL range $lsn0 .. $lsn1 (cluster: $(sq "select pg_wal_lsn_diff('$lsn1', '$lsn0')") B)"

dboid=$(sq "select oid from pg_database where datname = '$db'")
# relfilenode -> name (a TOAST table and its index under their table's name).
sq "select c.relfilenode, coalesce(t.relname || ' (toast)', c.relname)
    from pg_class c left join pg_class t on t.reltoastrelid = c.oid or t.reltoastrelid = (select indrelid from pg_index where indexrelid = c.oid)
    where c.relfilenode <> 0" "$db" | tr '|' ' ' >"$dir.relmap"

echo
echo "WAL per entry, by relation:"
"$waldump" -p "$waldir" -s "$lsn0" -e "$lsn1" 2>/dev/null | awk -v db="$dboid" -v n="$entries" -v map="$dir.relmap" '
	BEGIN { while ((getline line < map) > 0) { split(line, f, " "); name[f[1]] = substr(line, length(f[1]) + 2) } }
	{
		match($0, /len \(rec\/tot\): *[0-9]+\/ *[0-9]+/); s = substr($0, RSTART, RLENGTH); sub(/.*\/ */, "", s); tot = s + 0
		tx = ""
		if (match($0, /tx: *[0-9]+/)) { tx = substr($0, RSTART, RLENGTH); sub(/tx: */, "", tx) }
		rel = "(commits and the like)"
		if (match($0, /rel [0-9]+\/[0-9]+\/[0-9]+/)) {
			split(substr($0, RSTART + 4, RLENGTH - 4), r, "/")
			if (r[2] != db) next
			rel = (r[3] in name) ? name[r[3]] : "relfilenode " r[3]
			if (tx != "" && tx != "0") mine[tx] = 1
		} else if (!(tx in mine)) next
		w[rel] += tot; all += tot
	}
	END {
		for (k in w) printf "%s\t%.1f\n", k, w[k] / n
		printf "total\t%.1f\n", all / n > "/dev/stderr"
	}' 2>"$dir.waltotal" | sort -t$'\t' -k2 -rn | awk -F'\t' '{ printf "  %-34s %8s B\n", $1, $2 }'
awk -F'\t' '{ printf "  %-34s %8s B\n", $1, $2 }' "$dir.waltotal"

sq "checkpoint" "$db" >/dev/null
sq "vacuum" "$db" >/dev/null
sq "checkpoint" "$db" >/dev/null
echo
echo "On disk per entry, after CHECKPOINT and VACUUM (table with its indexes and TOAST):"
sq "select rpad(relname, 22) || lpad(to_char(pg_total_relation_size(oid)::numeric / $entries, 'FM999990.0'), 10) || ' B'
    from pg_class where relkind = 'r' and relnamespace = 'public'::regnamespace and relname <> 'goose_db_version'
    order by pg_total_relation_size(oid) desc" "$db" | sed 's/^/  /'
sq "select rpad('total', 22) || lpad(to_char(sum(pg_total_relation_size(oid))::numeric / $entries, 'FM999990.0'), 10) || ' B'
    from pg_class where relkind = 'r' and relnamespace = 'public'::regnamespace and relname <> 'goose_db_version'" "$db" | sed 's/^/  /'
echo "  of which indexes:"
sq "select rpad(c.relname, 22) || lpad(to_char(pg_relation_size(c.oid)::numeric / $entries, 'FM999990.0'), 10) || ' B'
    from pg_index i join pg_class c on c.oid = i.indexrelid join pg_class t on t.oid = i.indrelid
    where t.relnamespace = 'public'::regnamespace order by pg_relation_size(c.oid) desc limit 6" "$db" | sed 's/^/    /'
