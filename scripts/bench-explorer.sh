#!/usr/bin/env bash
# Server time of the explorer's pages against a running `tabula serve`
# (issue 14's targets: entry page <= 50 ms, search page <= 100 ms on a log
# of at least 1M entries). Each page is fetched N times from loopback with
# curl; the figures are curl's total time, which on loopback is the
# server's time plus well under a millisecond.
#
#   tabula bench load --entries 1000000 --database-url "$DB" --data-dir d
#   tabula serve --database-url "$DB" --data-dir d --listen 127.0.0.1:3950 &
#   scripts/bench-explorer.sh http://127.0.0.1:3950 200
set -euo pipefail
base=${1:-http://127.0.0.1:3000}
n=${2:-200}
tree=$(curl -sf "$base/api/v1/log" | sed -n 's/.*"treeID":"\([0-9]*\)".*/\1/p')
size=$(curl -sf "$base/api/v1/log" | sed -n 's/.*"treeSize":\([0-9]*\).*/\1/p')
[ -n "$tree" ] && [ "${size:-0}" -gt 0 ] || { echo "no Rekor v1 log with entries at $base" >&2; exit 1; }

# pct prints p50, p99 and max (ms) of the seconds on stdin.
pct() {
	sort -g | awk '{ a[NR] = $1 * 1000 }
		END { p = int(NR * 0.99) + 1; if (p > NR) p = NR
		      printf "n=%d p50 %.2f ms  p99 %.2f ms  max %.2f ms\n", NR, a[int(NR * 0.5) + 1], a[p], a[NR] }'
}
t() {
	local out
	out=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' "$1")
	[ "${out% *}" = 200 ] || { echo "GET $1: ${out% *}" >&2; exit 1; }
	echo "${out#* }"
}

entries=() digests=()
for _ in $(seq "$n"); do
	i=$(( (RANDOM * 32768 + RANDOM) % size ))
	entries+=("$base/log/$tree/entry/$i")
	body=$(curl -sf "$base/logs/$tree/entries/$i" | sed -n 's/.*"body":"\([^"]*\)".*/\1/p' | base64 -d)
	digests+=("$(printf '%s' "$body" | sed -n 's/.*"hash":{"algorithm":"sha256","value":"\([0-9a-f]*\)".*/\1/p')")
done
printf 'entry page         '; for u in "${entries[@]}"; do t "$u"; done | pct
printf 'search by digest   '; for d in "${digests[@]}"; do t "$base/search?q=sha256:$d"; done | pct
printf 'search by index    '; for _ in $(seq "$n"); do t "$base/search?q=$(( RANDOM % size ))"; done | pct
printf 'home page          '; for _ in $(seq "$n"); do t "$base/"; done | pct
printf 'log page           '; for _ in $(seq "$n"); do t "$base/log/$tree"; done | pct
