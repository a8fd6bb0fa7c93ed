# One set of build tags and flags everywhere: changing them recompiles
# go-sqlite3 (about a minute on 2 cores).
SHELL    := /bin/bash
GO       ?= go
TAGS     := sqlite_fts5
GOFLAGS  := -tags=$(TAGS) -buildvcs=false
export GOFLAGS
BIN      := $(CURDIR)/bin
DATA     ?= $(CURDIR)/data
BINARIES := collector/cmd/zlog-collector agent/cmd/zlog-downcase agent/cmd/zlog-agent query/cmd/logq
# What --version and zlog_build_info say: the git description of the tree.
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS  := -X github.com/zlog/zlog/schema/buildinfo.Version=$(VERSION)

# logq is linked static against a libzmq.a built once from Debian's source
# package into .cache/ (docker/libzmq-static.sh, about a minute): a search
# is one short process, and loading libzmq.so and the 18 libraries behind
# it was half of its start-up. When the source cannot be had, logq is
# linked dynamically like the other binaries, and the build says so.
ZMQ_STATIC := $(CURDIR)/.cache/libzmq-static

# Installs the Debian packages a recipe collected in $$missing, if any.
APT_INSTALL = if [ -n "$$missing" ]; then \
	echo "installing:$$missing"; \
	SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

.PHONY: all deps bench-deps build test run bench fuzz clean docker compose-test static-zmq

all: build

deps:
	@missing=""; \
	pkg-config --exists libzmq 2>/dev/null || missing="$$missing libzmq3-dev pkg-config"; \
	/usr/bin/python3 -c 'import zmq' 2>/dev/null || missing="$$missing python3-zmq"; \
	command -v curl >/dev/null || missing="$$missing curl"; \
	command -v logger >/dev/null || missing="$$missing util-linux"; \
	command -v logrotate >/dev/null || [ -x /usr/sbin/logrotate ] || missing="$$missing logrotate"; \
	command -v zsh >/dev/null || missing="$$missing zsh"; \
	command -v fish >/dev/null || missing="$$missing fish"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v firefox-esr >/dev/null || command -v firefox >/dev/null || missing="$$missing firefox-esr"; \
	$(APT_INSTALL)

build: deps static-zmq
	@mkdir -p $(BIN)
	@if [ -f $(ZMQ_STATIC)/lib/libzmq.a ]; then \
		echo "$(GO) build -ldflags \"$(LDFLAGS)\" -o $(BIN)/ $(addprefix ./,$(filter-out query/cmd/logq,$(BINARIES)))"; \
		$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/ $(addprefix ./,$(filter-out query/cmd/logq,$(BINARIES))) && \
		echo "linking logq static" && LOGQ_TAGS=$(TAGS) LOGQ_LDFLAGS="$(LDFLAGS)" docker/logq-static.sh $(ZMQ_STATIC) $(BIN); \
	else \
		echo "note: no static libzmq in $(ZMQ_STATIC); logq is linked dynamically (slower start)"; \
		$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/ $(addprefix ./,$(BINARIES)); \
	fi

# The static libzmq logq links against (see ZMQ_STATIC); a failure to
# build it is reported and leaves logq dynamic, it does not stop the build.
static-zmq: deps
	@[ -f $(ZMQ_STATIC)/lib/libzmq.a ] && exit 0; \
	missing=""; \
	command -v cmake >/dev/null || missing="$$missing cmake"; \
	command -v g++ >/dev/null || missing="$$missing g++"; \
	command -v dpkg-source >/dev/null || missing="$$missing dpkg-dev"; \
	pkg-config --exists libsodium 2>/dev/null || missing="$$missing libsodium-dev"; \
	$(APT_INSTALL); \
	echo "building a static libzmq from Debian's source package into $(ZMQ_STATIC)"; \
	docker/libzmq-static.sh $(ZMQ_STATIC) || echo "note: static libzmq not built (above); logq stays dynamic"

# Prints go test's per-package summary (ok/FAIL lines), every test's result,
# the full log of any failure, and a closing "N passed, N failed" line.
test: deps static-zmq
	@$(GO) test -count=1 -timeout 20m -v ./... > .test.log 2>&1; status=$$?; \
	if [ $$status -ne 0 ]; then cat .test.log; else grep -E -- '^(--- |ok |FAIL|\?)' .test.log; fi; \
	echo "$$(grep -c -- '--- PASS' .test.log) passed, $$(grep -c -- '--- FAIL' .test.log) failed, $$(grep -c -- '--- SKIP' .test.log) skipped"; \
	exit $$status

bench-deps: deps static-zmq
	@missing=""; \
	command -v wrk >/dev/null || missing="$$missing wrk"; \
	command -v rg >/dev/null || missing="$$missing ripgrep"; \
	$(APT_INSTALL)

# Timed benchmarks against VictoriaLogs, rsyslog, syslog-ng, rg, grep and
# plain net/http; writes tests/bench/results.md and tests/bench/ratios.svg.
# About 12 minutes (VictoriaLogs' first build, from the Go module proxy into
# tests/bench/tools/, adds about 2).
# ZLOG_BENCH_RUNS (default 3) and ZLOG_BENCH_LARGE (default 10000000) scale it.
bench: bench-deps
	ZLOG_BENCH=1 $(GO) test -count=1 -timeout 45m -v -run TestBench ./tests/bench/

# Coverage-guided fuzzing of the wire and ack decoders, spool recovery and
# the index block codec,
# FUZZTIME each. Seed corpora: testdata/fuzz/ beside each package (plus the
# golden vectors); findings land there too.
FUZZTIME ?= 30s
fuzz: deps
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./schema/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeAck$$' -fuzztime $(FUZZTIME) ./schema/
	$(GO) test -run '^$$' -fuzz '^FuzzRecover$$' -fuzztime $(FUZZTIME) ./agent/spool/
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./collector/index/block/
	$(GO) test -run '^$$' -fuzz '^FuzzWords$$' -fuzztime $(FUZZTIME) ./collector/index/block/
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./query/ql/

run: build
	@mkdir -p $(DATA)
	@echo "starting zlog-collector (data in $(DATA)) and zlog-downcase on :5000; Ctrl-C stops both"
	@trap 'kill -TERM $$col $$dc 2>/dev/null; wait $$dc; wait $$col; echo stopped' INT TERM; \
	$(BIN)/zlog-collector --data $(DATA) & col=$$!; \
	$(BIN)/zlog-downcase --collector tcp://127.0.0.1:4444 & dc=$$!; \
	sleep 1; \
	echo; \
	echo "try:"; \
	echo "  curl 'http://127.0.0.1:5000/downcase/?param=Hello%20World'"; \
	echo "  $(BIN)/logq search --data $(DATA) --service downcase hello"; \
	echo "  $(BIN)/logq stats --data $(DATA) --since 1h --by service"; \
	echo "  $(BIN)/logq search --data $(DATA) --follow --service downcase   # then live"; \
	echo "  tail -F $(DATA)/logs/downcase.log"; \
	echo; \
	wait $$col $$dc

# Images. No registry is needed: the build stage's Debian base is made
# locally with debootstrap when it is missing (docker/make-base.sh), and
# extra CA certificates of this host are handed to the build (egress that
# re-signs TLS). With a registry, plain `docker build -f docker/Dockerfile .`
# uses debian:bookworm from Docker Hub instead.
DOCKER_IMAGE ?= zlog:latest
VL_IMAGE     ?= zlog-victorialogs:v1.52.1
BASE_IMAGE   ?= zlog-base/debian:bookworm
docker:
	@command -v docker >/dev/null || { echo "docker is not installed"; exit 1; }
	docker/make-base.sh $(BASE_IMAGE)
	@mkdir -p docker/ca; cp /usr/local/share/ca-certificates/*.crt docker/ca/ 2>/dev/null || true
	docker build -f docker/Dockerfile --build-arg BUILD_BASE=$(BASE_IMAGE) -t $(DOCKER_IMAGE) .
	docker build -f docker/Dockerfile --build-arg BUILD_BASE=$(BASE_IMAGE) --target victorialogs -t $(VL_IMAGE) .
	@docker images $(DOCKER_IMAGE); docker images $(VL_IMAGE)

# Builds the images, runs the compose deployment, checks both event paths
# and a 10 s collector outage, and tears it down (tests/compose_test.go).
compose-test: deps docker
	@ZLOG_IMAGE=$(DOCKER_IMAGE) ZLOG_VL_IMAGE=$(VL_IMAGE) $(GO) test -count=1 -timeout 30m -v -tags=$(TAGS),compose -run '^TestCompose' ./tests/ > .compose-test.log 2>&1; status=$$?; \
	if [ $$status -ne 0 ]; then cat .compose-test.log; else grep -E -- '^(--- |ok |FAIL)' .compose-test.log; fi; \
	exit $$status

clean:
	rm -rf $(BIN) .test.log .compose-test.log .cache
