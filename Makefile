# Tabula: common developer commands. `make test` is what CI runs (via .ci/run).

SHELL       := /bin/bash
GO          ?= go
BIN         ?= bin/tabula
FUZZTIME    ?= 30s
BENCHTIME   ?= 2s
ARGS        ?=
IMAGE       ?= tabula:dev

.PHONY: all build run test bench fuzz lint docker clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/tabula

run:
	$(GO) run ./cmd/tabula serve $(ARGS)

# gofmt, vet, staticcheck, then go test -race against PostgreSQL (a throwaway
# cluster when none is reachable). Extra go test flags: make test ARGS='-run Foo -v'
test:
	bash scripts/test.sh $(ARGS)

bench:
	$(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) $(ARGS) ./...

# Runs every Fuzz* target of every package for FUZZTIME each (go test -fuzz takes
# one target of one package at a time). Targets are found with go test -list.
fuzz:
	@set -eu; \
	list=$$($(GO) test -list '^Fuzz' ./...) || { printf '%s\n' "$$list"; exit 1; }; \
	pairs=$$(printf '%s\n' "$$list" | awk '/^Fuzz/ { n[++c] = $$1; next } \
		/^ok[ \t]/ { for (i = 1; i <= c; i++) print $$2, n[i] } { if ($$0 !~ /^Fuzz/) c = 0 }'); \
	found=0; \
	while read -r pkg t; do \
		[ -n "$$pkg" ] || continue; \
		found=$$((found+1)); \
		echo "== $$pkg $$t ($(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) "$$pkg" </dev/null; \
	done <<< "$$pairs"; \
	echo "fuzz: ran $$found target(s) for $(FUZZTIME) each"

lint:
	TABULA_LINT_ONLY=1 bash scripts/test.sh

# The long reliability runs of internal/chaos (docs/RELIABILITY.md): SIGKILLs
# under load on both engines, a PostgreSQL outage, replicas on one database,
# rotations under load.
# PostgreSQL as for make test (TABULA_TEST_DATABASE_URL, default 127.0.0.1:5432).
# Knobs: make chaos CHAOS_KILLS=50 CHAOS_OUTAGE=1m CHAOS_REPLICA_TIME=5m CHAOS_REPLICA_KILLS=20 CHAOS_FREEZE=90s CHAOS_ROTATION_TIME=1m
# The whole log is kept in bin/chaos.log; the figures are printed at the end.
.PHONY: chaos
chaos:
	@mkdir -p bin
	TABULA_CHAOS_KILLS=$${CHAOS_KILLS:-25} TABULA_CHAOS_OUTAGE=$${CHAOS_OUTAGE:-20s} \
	TABULA_CHAOS_REPLICA_TIME=$${CHAOS_REPLICA_TIME:-2m} TABULA_CHAOS_REPLICA_KILLS=$${CHAOS_REPLICA_KILLS:-10} \
	TABULA_CHAOS_FREEZE=$${CHAOS_FREEZE:-45s} TABULA_CHAOS_ROTATION_TIME=$${CHAOS_ROTATION_TIME:-30s} \
	$(GO) test -count=1 -v -parallel 1 -timeout 60m $(ARGS) ./internal/chaos/ 2>&1 | tee bin/chaos.log; \
	rc=$${PIPESTATUS[0]}; echo "== figures:"; grep -o 'FIGURES.*' bin/chaos.log; exit $$rc

docker:
	docker build -t $(IMAGE) .

clean:
	rm -rf bin
