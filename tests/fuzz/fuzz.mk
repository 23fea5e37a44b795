# tests/fuzz/fuzz.mk: libFuzzer harnesses (tests/fuzz/fuzz_NAME.c) built with clang,
# AddressSanitizer and UndefinedBehaviorSanitizer, linked with every common/*/*.c.
#
#   make -f tests/fuzz/fuzz.mk              build build/fuzz/fuzz_NAME for every harness
#   make -f tests/fuzz/fuzz.mk fuzz         build, then run each for FUZZ_SECONDS (60)
#   make -f tests/fuzz/fuzz.mk fuzz FUZZ_ONLY=ndjson FUZZ_SECONDS=300
#
# A run starts from the seeds in tests/fuzz/corpus/NAME/ plus everything earlier runs
# found (build/fuzz/corpus/NAME/, kept); crashes land in build/fuzz/crash/NAME/.  Every
# crash that was fixed goes into tests/fuzz/regressions/NAME/, which tests/tool/
# fuzz_smoke.sh replays in `make test`.  Needs clang and libFuzzer (Debian: clang,
# libclang-rt-14-dev).
FUZZ_CC      ?= clang
FUZZ_BUILD   ?= build/fuzz
FUZZ_SECONDS ?= 60
FUZZ_ONLY    ?=
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_CFLAGS  := -g -O1 -fno-omit-frame-pointer $(FUZZ_SAN) -std=c11 -D_GNU_SOURCE -Wall -Wextra \
                -pthread -Icommon -I/usr/include/x86_64-linux-gnu
FUZZ_LDLIBS  := -lcurl -lutf8proc -lz -lm -pthread

FUZZ_COMMON  := $(wildcard common/*/*.c)
FUZZ_OBJ     := $(FUZZ_COMMON:common/%.c=$(FUZZ_BUILD)/obj/%.o)
FUZZ_SRC     := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_NAMES   := $(patsubst tests/fuzz/fuzz_%.c,%,$(FUZZ_SRC))
FUZZ_BINS    := $(FUZZ_NAMES:%=$(FUZZ_BUILD)/fuzz_%)
FUZZ_RUN     := $(if $(FUZZ_ONLY),$(filter $(FUZZ_ONLY),$(FUZZ_NAMES)),$(FUZZ_NAMES))

.PHONY: fuzz-build fuzz
.SECONDARY: $(FUZZ_OBJ)
fuzz-build: $(FUZZ_BINS)

# Instrumented for coverage (fuzzer-no-link); the harness link adds libFuzzer's main.
FUZZ_OBJ_CFLAGS = $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link
# Except the matrix kernels: they are linked only because gpt2.o (fuzz_config) refers to
# matmul, and no harness input reaches them; instrumented, kernels_avx512.c alone takes
# clang over 4 minutes of CPU (2.9 s plain), most of fuzz_smoke.sh's time in `make test`.
$(FUZZ_BUILD)/obj/model/kernels_%.o: FUZZ_OBJ_CFLAGS = -g -O1 -std=c11 -D_GNU_SOURCE -Wall \
    -Wextra -pthread -Icommon -I/usr/include/x86_64-linux-gnu
$(FUZZ_BUILD)/obj/%.o: common/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_OBJ_CFLAGS) -MMD -MP -c $< -o $@

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_util.h $(FUZZ_OBJ)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -Itests/fuzz $< $(FUZZ_OBJ) -o $@ $(FUZZ_LDLIBS)

# Each harness for FUZZ_SECONDS, one after the other; stops at the first crash.
fuzz: fuzz-build
	@for n in $(FUZZ_RUN); do \
	  mkdir -p $(FUZZ_BUILD)/corpus/$$n $(FUZZ_BUILD)/crash/$$n; \
	  echo "fuzz_$$n: $(FUZZ_SECONDS) s"; \
	  $(FUZZ_BUILD)/fuzz_$$n -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=4096 \
	    -print_final_stats=1 -artifact_prefix=$(FUZZ_BUILD)/crash/$$n/ \
	    $(FUZZ_BUILD)/corpus/$$n tests/fuzz/corpus/$$n 2>$(FUZZ_BUILD)/fuzz_$$n.log; \
	  rc=$$?; grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' $(FUZZ_BUILD)/fuzz_$$n.log; \
	  if [ $$rc -ne 0 ]; then tail -n 40 $(FUZZ_BUILD)/fuzz_$$n.log; \
	    echo "fuzz_$$n: CRASH, input in $(FUZZ_BUILD)/crash/$$n/ (log $(FUZZ_BUILD)/fuzz_$$n.log)"; exit 1; fi; \
	done

-include $(shell find $(FUZZ_BUILD)/obj -name '*.d' 2>/dev/null)
