# cairn - top-level entry points. Everything real lives in meson.build and
# scripts/; this file only sequences them. See README.md.

BUILD      ?= build
ASAN_BUILD ?= build-asan
REL_BUILD  ?= build-release
FUZZ_BUILD ?= build-fuzz
MESON_OPTS ?=
SEED       ?=
SEEDS      ?= 1000
FUZZ_SECONDS ?= 60
BENCH_ARGS ?=

.PHONY: all dev test build asan bench sim fuzz clean deps

all: build

deps:
	@scripts/deps.sh test

$(BUILD)/build.ninja:
	meson setup $(BUILD) $(MESON_OPTS)

build: $(BUILD)/build.ninja
	@scripts/deps.sh build
	ninja -C $(BUILD)

# Builds and runs a single in-memory dev agent: HTTP 127.0.0.1:8500, DNS :8600.
dev:
	@scripts/deps.sh build
	@test -f $(BUILD)/build.ninja || meson setup $(BUILD) $(MESON_OPTS)
	ninja -C $(BUILD)
	exec $(BUILD)/cairn agent -dev

# Every test: unit, simulation, lint, fuzz corpora, sanitizer build, integration.
test:
	@scripts/deps.sh test
	@scripts/test.sh

asan:
	@scripts/deps.sh test
	@test -f $(ASAN_BUILD)/build.ninja || meson setup $(ASAN_BUILD) -Db_sanitize=address,undefined -Db_lundef=false
	ninja -C $(ASAN_BUILD)
	meson test -C $(ASAN_BUILD) --suite unit --suite fuzz-corpus --print-errorlogs

bench:
	@scripts/deps.sh bench
	@test -f $(REL_BUILD)/build.ninja || meson setup $(REL_BUILD) --buildtype=release -Ddebug_checks=false -Db_ndebug=false
	ninja -C $(REL_BUILD)
	@bench/run.sh $(REL_BUILD) $(BENCH_ARGS)

# Raft simulation: `make sim SEED=n` replays one seed with a trace;
# `make sim SEEDS=1000000` runs a campaign.
sim: build
	@if [ -n "$(SEED)" ]; then $(BUILD)/src/raft/raft_sim --seed $(SEED) --trace; \
	else $(BUILD)/src/raft/raft_sim --seeds $(SEEDS); fi

# libFuzzer: every target for FUZZ_SECONDS each (clang, ASan+UBSan).
fuzz:
	@scripts/deps.sh test
	@test -f $(FUZZ_BUILD)/build.ninja || CC=clang meson setup $(FUZZ_BUILD) -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false
	ninja -C $(FUZZ_BUILD)
	@scripts/fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(REL_BUILD) $(FUZZ_BUILD)
