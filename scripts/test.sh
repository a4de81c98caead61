#!/usr/bin/env bash
# scripts/test.sh: the project's whole test command (what `make test` and .ci/run run).
#
#   1. picks the PostgreSQL server the tests use and exports TABULA_TEST_DATABASE_URL:
#        - $TABULA_TEST_DATABASE_URL, if set and reachable;
#        - else postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable, if reachable;
#        - else a throwaway cluster (initdb into a temp dir, trust auth, superuser
#          "postgres", 127.0.0.1 on a free port), stopped and removed on exit.
#      TABULA_TEST_FORCE_THROWAWAY=1 skips the first two.
#   2. gofmt -l (must print nothing), go vet, staticcheck (pinned), go test -race,
#      then the same for interop/ when it has its own go.mod; stops at the first failure.
#   3. finds the headless browser the browser tests drive (internal/browser) and
#      exports TABULA_CHROMIUM: $TABULA_CHROMIUM if executable, else /usr/bin/chromium;
#      when that is missing, installs Debian's chromium package (apt-get, as root or
#      through passwordless sudo) in the background while the code is linted, and
#      waits for it before go test. If it cannot, it says why and exports
#      TABULA_CHROMIUM_ERROR: the browser tests then skip with that reason, except
#      under CI=true, where they fail (a green CI must not hide a missing browser).
#
# Arguments are passed to go test as flags, e.g. scripts/test.sh -run Foo -v
# (make test ARGS='-run Foo').
#
# Environment knobs:
#   TABULA_TEST_DATABASE_URL     use this server (if reachable)
#   TABULA_TEST_FORCE_THROWAWAY  1: always start a throwaway cluster
#   TABULA_TEST_PG_USER          system user that runs the throwaway cluster when this
#                                script runs as root (default: postgres, else tabula-test)
#   TABULA_RACE                  0: go test without -race (default 1)
#   TABULA_RACE_PKGS             space-separated package patterns: -race only for these,
#                                the other packages run without it
#   TABULA_SKIP_LINT             1: skip gofmt/vet/staticcheck (not for CI)
#   TABULA_LINT_ONLY             1: gofmt/vet/staticcheck only, no database, no go test
#   TABULA_CHROMIUM              the browser for the browser tests (default /usr/bin/chromium)
#   TABULA_NO_BROWSER_INSTALL    1: never run apt-get for chromium (browser tests skip if
#                                it is missing, or fail under CI=true)
set -euo pipefail

# Pinned: the newest staticcheck release that builds with Go 1.26 (2026.2.2).
STATICCHECK_VERSION="v0.8.2"
STATICCHECK="honnef.co/go/tools/cmd/staticcheck@${STATICCHECK_VERSION}"
DEFAULT_DB_URL="postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
THROWAWAY_USER_DEFAULT="tabula-test"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
	export PATH="/usr/local/go/bin:$PATH"
fi

GO_TEST_ARGS=("$@")
START_TS=$SECONDS
STEP="setup"
DB_KIND="none"
RACE_DESC="off"
BROWSER_DESC="none"
DONE_STEPS=()

log() { printf 'test.sh: %s\n' "$*" >&2; }
die() {
	log "ERROR: $*"
	exit 1
}
have() { command -v "$1" >/dev/null 2>&1; }

# ---------------------------------------------------------------------------
# Throwaway cluster state and cleanup.
PG_TMP=""
PG_DATA=""
PG_BINDIR=""
PG_RUN_USER="" # non-empty when the cluster runs as another user (we are root)
WATCHDOG_PID=""

as_pg_user() {
	if [ -z "$PG_RUN_USER" ]; then
		"$@"
	elif have runuser; then
		runuser -u "$PG_RUN_USER" -- "$@"
	elif have setpriv; then
		local uid gid
		uid=$(id -u "$PG_RUN_USER")
		gid=$(id -g "$PG_RUN_USER")
		setpriv --reuid="$uid" --regid="$gid" --init-groups -- "$@"
	else
		su -s /bin/sh "$PG_RUN_USER" -c "$(printf '%q ' "$@")"
	fi
}

postmaster_pid() {
	[ -n "$PG_DATA" ] && [ -f "$PG_DATA/postmaster.pid" ] && head -n1 "$PG_DATA/postmaster.pid" 2>/dev/null
}

stop_cluster() {
	[ -n "$PG_DATA" ] || return 0
	local pid
	pid=$(postmaster_pid) || pid=""
	if [ -n "$pid" ]; then
		if ! (cd "$PG_TMP" && as_pg_user "$PG_BINDIR/pg_ctl" -D "$PG_DATA" -m immediate -w -t 30 stop) >/dev/null 2>&1; then
			log "pg_ctl stop failed; killing postmaster $pid"
			kill -QUIT "$pid" 2>/dev/null || true
		fi
		# Wait for the postmaster (and with it every backend) to be gone.
		for _ in $(seq 1 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM HUP
	set +e
	if [ -n "$WATCHDOG_PID" ]; then
		# its own process group when started with setsid: take its sleep along
		kill -- -"$WATCHDOG_PID" 2>/dev/null || kill "$WATCHDOG_PID" 2>/dev/null
		wait "$WATCHDOG_PID" 2>/dev/null
	fi
	if [ -n "$PG_TMP" ]; then
		stop_cluster
		rm -rf "$PG_TMP"
		log "throwaway cluster stopped, $PG_TMP removed"
	fi
	local secs=$((SECONDS - START_TS))
	if [ "$rc" -eq 0 ]; then
		log "PASS: ${DONE_STEPS[*]:-nothing} (db: $DB_KIND, race: $RACE_DESC, browser: $BROWSER_DESC) in ${secs}s"
	else
		log "FAIL at step '$STEP' (exit $rc) after ${secs}s; passed before it: ${DONE_STEPS[*]:-none}"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# ---------------------------------------------------------------------------
# PostgreSQL discovery.

# find_pg_bin NAME: prints the path of a PostgreSQL binary (PATH first, then the
# newest /usr/lib/postgresql/*/bin, then /usr/local/pgsql/bin).
find_pg_bin() {
	local name=$1 p d
	if p=$(command -v "$name" 2>/dev/null); then
		printf '%s\n' "$p"
		return 0
	fi
	# shellcheck disable=SC2012
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -rV) /usr/local/pgsql/bin; do
		if [ -x "$d/$name" ]; then
			printf '%s\n' "$d/$name"
			return 0
		fi
	done
	return 1
}

# pg_reachable URL: 0 if a server answers at URL (psql: also checks we can log in),
# 1 if not, 2 if there is no client to tell.
pg_reachable() {
	local url=$1 bin
	if bin=$(find_pg_bin psql); then
		PGCONNECT_TIMEOUT=5 "$bin" "$url" -X -A -t -q -c 'select 1' >/dev/null 2>&1 </dev/null || return 1
		return 0
	fi
	if bin=$(find_pg_bin pg_isready); then
		"$bin" -q -t 5 -d "$url" </dev/null >/dev/null 2>&1 || return 1
		return 0
	fi
	return 2
}

redact() { printf '%s' "$1" | sed -E 's#(://[^:/@]+):[^@/]*@#\1:***@#'; }

port_in_use() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

pick_run_user() {
	if [ "$(id -u)" -ne 0 ]; then
		PG_RUN_USER=""
		return
	fi
	local u=${TABULA_TEST_PG_USER:-}
	if [ -z "$u" ]; then
		if id -u postgres >/dev/null 2>&1; then
			u=postgres
		else
			u=$THROWAWAY_USER_DEFAULT
		fi
	fi
	if ! id -u "$u" >/dev/null 2>&1; then
		have useradd || die "running as root, no user '$u' to run PostgreSQL as, and no useradd to create one"
		log "creating system user '$u' to run the throwaway cluster"
		useradd --system --user-group --no-create-home --home-dir /nonexistent \
			--shell /usr/sbin/nologin "$u" || die "useradd $u failed"
	fi
	[ "$(id -u "$u")" -ne 0 ] || die "TABULA_TEST_PG_USER must not be root"
	PG_RUN_USER=$u
}

start_throwaway() {
	local initdb
	initdb=$(find_pg_bin initdb) ||
		die "no PostgreSQL server reachable and no PostgreSQL binaries (initdb) found; install PostgreSQL (e.g. apt-get install postgresql) or set TABULA_TEST_DATABASE_URL"
	PG_BINDIR=$(dirname "$(readlink -f "$initdb")")
	local b
	for b in pg_ctl postgres; do
		[ -x "$PG_BINDIR/$b" ] || die "found $initdb but no $b beside it in $PG_BINDIR"
	done

	pick_run_user

	PG_TMP=$(mktemp -d "${TMPDIR:-/tmp}/tabula-pg.XXXXXXXX")
	if [ -n "$PG_RUN_USER" ]; then
		chown "$PG_RUN_USER": "$PG_TMP"
		if ! as_pg_user test -w "$PG_TMP"; then
			# e.g. a TMPDIR under /root that the cluster's user cannot reach
			rm -rf "$PG_TMP"
			PG_TMP=$(mktemp -d /tmp/tabula-pg.XXXXXXXX)
			chown "$PG_RUN_USER": "$PG_TMP"
		fi
	fi
	chmod 700 "$PG_TMP"
	PG_DATA="$PG_TMP/data"
	local sock="$PG_TMP/sock" logf="$PG_TMP/postgres.log"
	as_pg_user mkdir -m 700 "$sock"

	log "starting throwaway PostgreSQL ($PG_BINDIR) in $PG_TMP${PG_RUN_USER:+ as user $PG_RUN_USER}"
	if ! (cd "$PG_TMP" && as_pg_user "$PG_BINDIR/initdb" -D "$PG_DATA" -U postgres --auth=trust \
		--encoding=UTF8 --locale=C --no-sync) >"$PG_TMP/initdb.log" 2>&1; then
		cat "$PG_TMP/initdb.log" >&2
		die "initdb failed"
	fi
	cat >>"$PG_DATA/postgresql.conf" <<EOF

# --- throwaway test cluster (scripts/test.sh) ---
listen_addresses = '127.0.0.1'
unix_socket_directories = '$sock'
max_connections = 300
fsync = off
synchronous_commit = off
full_page_writes = off
log_min_messages = warning
EOF

	# Watchdog: if this script dies without running its trap (e.g. SIGKILL), stop
	# the cluster and remove the dir anyway. It runs in its own session so that a
	# kill of our process group does not take it along; cleanup() kills it.
	# shellcheck disable=SC2016 # expanded by the watchdog's own bash
	local watchdog='
		while kill -0 "$1" 2>/dev/null; do sleep 1; done
		if [ -f "$3/postmaster.pid" ]; then
			pid=$(head -n1 "$3/postmaster.pid")
			kill -QUIT "$pid" 2>/dev/null
			for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
			kill -KILL "$pid" 2>/dev/null
		fi
		rm -rf "$2"'
	if have setsid; then
		setsid bash -c "$watchdog" tabula-pg-watchdog "$$" "$PG_TMP" "$PG_DATA" </dev/null >/dev/null 2>&1 &
	else
		bash -c "$watchdog" tabula-pg-watchdog "$$" "$PG_TMP" "$PG_DATA" </dev/null >/dev/null 2>&1 &
	fi
	WATCHDOG_PID=$!

	local port=""
	for _ in $(seq 1 20); do
		port=$((20000 + RANDOM % 40000))
		port_in_use "$port" && continue
		if (cd "$PG_TMP" && as_pg_user "$PG_BINDIR/pg_ctl" -D "$PG_DATA" -l "$logf" -w -t 60 \
			-o "-p $port" start) >"$PG_TMP/pg_ctl.log" 2>&1; then
			break
		fi
		if grep -qiE 'could not bind|address already in use|could not create any TCP/IP sockets' "$logf" 2>/dev/null; then
			log "port $port taken, retrying"
			: >"$logf"
			port=""
			continue
		fi
		cat "$PG_TMP/pg_ctl.log" "$logf" >&2 || true
		die "pg_ctl start failed"
	done
	[ -n "$port" ] || die "could not find a free port for the throwaway cluster"

	TABULA_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:${port}/postgres?sslmode=disable"
	export TABULA_TEST_DATABASE_URL
	if ! pg_reachable "$TABULA_TEST_DATABASE_URL"; then
		cat "$logf" >&2 || true
		die "throwaway cluster started but does not answer at $TABULA_TEST_DATABASE_URL"
	fi
	DB_KIND="throwaway:127.0.0.1:$port"
	log "throwaway cluster up: $TABULA_TEST_DATABASE_URL"
}

choose_database() {
	STEP="database"
	if [ "${TABULA_TEST_FORCE_THROWAWAY:-0}" = "1" ]; then
		log "TABULA_TEST_FORCE_THROWAWAY=1: using a throwaway cluster"
		start_throwaway
		return
	fi
	local rc
	if [ -n "${TABULA_TEST_DATABASE_URL:-}" ]; then
		rc=0
		pg_reachable "$TABULA_TEST_DATABASE_URL" || rc=$?
		case $rc in
		0)
			DB_KIND="env"
			log "using TABULA_TEST_DATABASE_URL=$(redact "$TABULA_TEST_DATABASE_URL")"
			return
			;;
		2)
			DB_KIND="env(unchecked)"
			log "no psql/pg_isready to check TABULA_TEST_DATABASE_URL; using it as given"
			return
			;;
		*) log "WARNING: TABULA_TEST_DATABASE_URL=$(redact "$TABULA_TEST_DATABASE_URL") is not reachable; looking elsewhere" ;;
		esac
	fi
	rc=0
	pg_reachable "$DEFAULT_DB_URL" || rc=$?
	if [ "$rc" -eq 2 ] && port_in_use 5432; then
		rc=0 # no client tools, but something listens on 5432: let the tests try it
	fi
	if [ "$rc" -eq 0 ]; then
		export TABULA_TEST_DATABASE_URL="$DEFAULT_DB_URL"
		DB_KIND="local:5432"
		log "using $DEFAULT_DB_URL"
		return
	fi
	log "no PostgreSQL server reachable at $DEFAULT_DB_URL"
	start_throwaway
}

# ---------------------------------------------------------------------------
# Steps.

# modules: the main module and, when present, interop/ (own go.mod).
MODULES=(".")
if [ -f interop/go.mod ]; then
	MODULES+=("interop")
fi

timed() { # timed NAME CMD...: runs CMD, records NAME in DONE_STEPS with its time
	local name=$1 t0=$SECONDS
	shift
	STEP=$name
	log "== $name"
	"$@"
	DONE_STEPS+=("$name($((SECONDS - t0))s)")
}

step_gofmt() {
	local out
	out=$(find . -path ./.git -prune -o -path '*/vendor' -prune -o -path '*/testdata' -prune \
		-o -type f -name '*.go' -print0 | xargs -0 -r gofmt -l)
	if [ -n "$out" ]; then
		log "gofmt: these files need formatting (run gofmt -w):"
		printf '%s\n' "$out" >&2
		return 1
	fi
}

step_vet() {
	local m
	for m in "${MODULES[@]}"; do
		(cd "$m" && go vet ./...)
	done
}

step_staticcheck() {
	local m
	for m in "${MODULES[@]}"; do
		(cd "$m" && go run "$STATICCHECK" ./...)
	done
}

# go_test_module DIR: go test in one module, honouring TABULA_RACE / TABULA_RACE_PKGS.
go_test_module() {
	local dir=$1
	local timeout=15m
	if [ "$dir" = "interop" ]; then
		# builds rekor-cli and cosign itself if the background build did not
		timeout=30m
	fi
	local base=(go test -count=1 -timeout "$timeout")
	if [ "${TABULA_RACE:-1}" = "0" ]; then
		(cd "$dir" && "${base[@]}" "${GO_TEST_ARGS[@]}" ./...)
		return
	fi
	if [ "$dir" = "interop" ]; then
		# interop drives a `tabula serve` subprocess (built without -race) through
		# Sigstore's client libraries: -race would instrument only the client
		# side and costs minutes of build time for those libraries.
		(cd "$dir" && "${base[@]}" "${GO_TEST_ARGS[@]}" ./...)
		return
	fi
	if [ -z "${TABULA_RACE_PKGS:-}" ] || [ "$dir" != "." ]; then
		(cd "$dir" && "${base[@]}" -race "${GO_TEST_ARGS[@]}" ./...)
		return
	fi
	# -race for TABULA_RACE_PKGS only, the rest without it.
	local race_pkgs all_pkgs rest
	# shellcheck disable=SC2086
	race_pkgs=$(go list $TABULA_RACE_PKGS)
	all_pkgs=$(go list ./...)
	rest=$(comm -23 <(printf '%s\n' "$all_pkgs" | sort) <(printf '%s\n' "$race_pkgs" | sort))
	if [ -n "$race_pkgs" ]; then
		# shellcheck disable=SC2086
		"${base[@]}" -race "${GO_TEST_ARGS[@]}" $race_pkgs
	fi
	if [ -n "$rest" ]; then
		# shellcheck disable=SC2086
		"${base[@]}" "${GO_TEST_ARGS[@]}" $rest
	fi
}

# ---------------------------------------------------------------------------
have go || die "go not found in PATH (nor /usr/local/go/bin)"
log "$(go version); repo $ROOT; modules: ${MODULES[*]}"

if [ "${TABULA_RACE:-1}" = "0" ]; then
	RACE_DESC="off"
elif [ -n "${TABULA_RACE_PKGS:-}" ]; then
	RACE_DESC="only $TABULA_RACE_PKGS"
else
	RACE_DESC="all"
fi

# The command-line clients interop runs (rekor-cli, cosign, and litewitness
# and witnessctl of filippo.io/torchwood, a witness of another project: its
# v0.6.1 is the newest that builds with Go 1.26) are built from
# their released modules in the background while the main module is linted
# and tested; interop waits for them (TABULA_INTEROP_TOOLS names the
# directory, kept between runs; interop builds a missing tool itself).
TOOLS_PID=""
if [ -f interop/go.mod ] && [ "${TABULA_LINT_ONLY:-0}" != "1" ]; then
	TOOLS_DIR="$ROOT/.interop-tools"
	mkdir -p "$TOOLS_DIR"
	export TABULA_INTEROP_TOOLS="$TOOLS_DIR"
	REKOR_VERSION=$(cd interop && go list -m -f '{{.Version}}' github.com/sigstore/rekor)
	(
		cd "$TOOLS_DIR" # outside the modules: each tool's own go.mod decides
		for tool in "github.com/sigstore/rekor/cmd/rekor-cli@$REKOR_VERSION" \
			"github.com/sigstore/cosign/v3/cmd/cosign@v3.1.3" \
			"filippo.io/torchwood/cmd/litewitness@v0.6.1" \
			"filippo.io/torchwood/cmd/witnessctl@v0.6.1"; do
			[ -x "$TOOLS_DIR/$(basename "${tool%@*}")" ] || GOBIN="$TOOLS_DIR" GOFLAGS= go install "$tool"
		done
	) >"$TOOLS_DIR/build.log" 2>&1 &
	TOOLS_PID=$!
fi
wait_tools() {
	[ -n "$TOOLS_PID" ] || return 0
	if ! wait "$TOOLS_PID"; then
		log "building the interop tools failed:"
		cat "$TOOLS_DIR/build.log" >&2
		return 1
	fi
}

# The browser the browser tests drive (internal/browser): Debian's chromium,
# installed in the background when missing (about 15 s with a warm network
# here, a minute or more on a slow mirror) while the code is linted;
# wait_chromium exports TABULA_CHROMIUM, or TABULA_CHROMIUM_ERROR with the
# reason it is missing, before go test.
CHROMIUM_DEFAULT=/usr/bin/chromium
CHROMIUM_PID=""
CHROMIUM_LOG=""
CHROMIUM_WHY=""
CHROMIUM_T0=0
start_chromium() {
	if [ -n "${TABULA_CHROMIUM:-}" ]; then
		if [ -x "$TABULA_CHROMIUM" ]; then
			return 0
		fi
		log "WARNING: TABULA_CHROMIUM=$TABULA_CHROMIUM is not executable; looking for $CHROMIUM_DEFAULT"
		unset TABULA_CHROMIUM
	fi
	[ -x "$CHROMIUM_DEFAULT" ] && return 0
	local p
	if p=$(command -v chromium 2>/dev/null); then
		export TABULA_CHROMIUM="$p"
		return 0
	fi
	if [ "${TABULA_NO_BROWSER_INSTALL:-0}" = "1" ]; then
		CHROMIUM_WHY="no $CHROMIUM_DEFAULT, and TABULA_NO_BROWSER_INSTALL=1"
		return 0
	fi
	have apt-get || {
		CHROMIUM_WHY="no $CHROMIUM_DEFAULT and no apt-get to install Debian's chromium"
		return 0
	}
	local sudo=()
	if [ "$(id -u)" -ne 0 ]; then
		if have sudo && sudo -n true 2>/dev/null; then
			sudo=(sudo -n)
		else
			CHROMIUM_WHY="no $CHROMIUM_DEFAULT; installing it needs root (apt-get install chromium) and this user has no passwordless sudo"
			return 0
		fi
	fi
	CHROMIUM_LOG=$(mktemp "${TMPDIR:-/tmp}/tabula-chromium.XXXXXXXX")
	log "no $CHROMIUM_DEFAULT: installing Debian's chromium in the background (log: $CHROMIUM_LOG)"
	CHROMIUM_T0=$SECONDS
	(
		"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120 update &&
			"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120 \
				install -y --no-install-recommends chromium
	) </dev/null >"$CHROMIUM_LOG" 2>&1 &
	# Not killed when this script fails early: a dpkg stopped halfway would
	# leave the machine's packages half-configured.
	CHROMIUM_PID=$!
}
wait_chromium() {
	if [ -n "$CHROMIUM_PID" ]; then
		local rc=0
		wait "$CHROMIUM_PID" || rc=$?
		CHROMIUM_PID=""
		if [ "$rc" -eq 0 ] && [ -x "$CHROMIUM_DEFAULT" ]; then
			log "chromium installed in $((SECONDS - CHROMIUM_T0))s"
			rm -f "$CHROMIUM_LOG"
		else
			log "installing chromium failed (exit $rc); the end of $CHROMIUM_LOG:"
			tail -n 20 "$CHROMIUM_LOG" >&2 || true
			CHROMIUM_WHY="apt-get install chromium failed (exit $rc, see $CHROMIUM_LOG)"
		fi
	fi
	if [ -z "${TABULA_CHROMIUM:-}" ] && [ -x "$CHROMIUM_DEFAULT" ]; then
		export TABULA_CHROMIUM="$CHROMIUM_DEFAULT"
	fi
	if [ -n "${TABULA_CHROMIUM:-}" ]; then
		BROWSER_DESC="$TABULA_CHROMIUM"
		unset TABULA_CHROMIUM_ERROR
		return 0
	fi
	export TABULA_CHROMIUM_ERROR="$CHROMIUM_WHY"
	BROWSER_DESC="missing"
	if [ "${CI:-}" = "true" ]; then
		log "WARNING: no browser: $CHROMIUM_WHY; CI=true: the browser tests will fail"
	else
		log "WARNING: no browser: $CHROMIUM_WHY; the browser tests will be skipped"
	fi
}
if [ "${TABULA_LINT_ONLY:-0}" != "1" ]; then
	start_chromium
fi

if [ "${TABULA_SKIP_LINT:-0}" != "1" ]; then
	timed gofmt step_gofmt
	timed vet step_vet
	timed "staticcheck@$STATICCHECK_VERSION" step_staticcheck
fi

if [ "${TABULA_LINT_ONLY:-0}" = "1" ]; then
	RACE_DESC="n/a"
	exit 0
fi

choose_database

for m in "${MODULES[@]}"; do
	if [ "$m" = "." ]; then
		name="go-test"
		timed "chromium" wait_chromium
	else
		name="go-test($m)"
	fi
	if [ "$m" = "interop" ]; then
		timed "interop-tools" wait_tools
	fi
	timed "$name" go_test_module "$m"
done
