# SPDX-License-Identifier: MIT
# Fuzzing and the sanitizer suite (issue 8). Included from the Makefile.
#
#   make fuzz                      build every libFuzzer target into $(OUT)/fuzz/
#   make fuzz-run [FUZZ_SECONDS=30] [FUZZ_JOBS=N] [FUZZ_TARGETS="pprof gobin"]
#                                  run each for FUZZ_SECONDS, FUZZ_JOBS at a time (default: one
#                                  per CPU); fails on any crash, leak or timeout
#   make test-asan                 the whole suite (tests/run) on a build with ASan, UBSan and
#                                  LeakSanitizer in $(ASAN_OUT); fails on any sanitizer report
#
# The fuzzers are built with clang straight from the modules' sources (not from libscope.a,
# which gcc builds without coverage). Seeds: text files committed under tests/fuzz/corpus/
# (*.hex are hex dumps, turned into bytes), binaries made at build time from the unit-test
# fixtures and test targets into $(OUT)/fuzz/seeds/<target>/; nothing binary is committed.
# A crash reproduces with: $(OUT)/fuzz/<target> $(OUT)/fuzz/crashes/<target>-crash-...

OUT ?= build
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 30
FUZZ_JOBS ?= $(shell nproc 2>/dev/null || echo 1)
FUZZ_OUT := $(OUT)/fuzz
FUZZ_SRC := tests/fuzz
FUZZ_FIXTURES := $(OUT)/tests/fixtures
FUZZ_PROTO := $(OUT)/proto/profile.pb-c.c

# -fno-sanitize-recover: a UBSan finding aborts the run like an ASan one.
FUZZ_SAN := -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
FUZZ_CFLAGS := -g -O1 -fno-omit-frame-pointer -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror \
	-Wno-unused-parameter -Wno-missing-field-initializers \
	-I$(OUT) -I$(OUT)/proto -I. -Idaemon -Icli -I$(FUZZ_SRC) $(FUZZ_SAN)
FUZZ_LDLIBS := -lelf -ldw -lz -lprotobuf-c -lcapstone -lstdc++ -lm

GOBIN_SRCS := daemon/symbols/gobin.c daemon/symbols/gobin_image.c daemon/symbols/gobin_buildinfo.c \
	daemon/symbols/rootfs.c

# Each target: its source in tests/fuzz/fuzz_<name>.c and the modules it exercises.
FUZZ_MODS_procmaps := daemon/symbols/procmaps.c
FUZZ_MODS_symbolize := daemon/symbols/symbolize.c daemon/symbols/debugfile.c daemon/util/htab.c \
	daemon/symbols/dwarf_lines.c $(GOBIN_SRCS)
FUZZ_MODS_gobin := $(GOBIN_SRCS)
FUZZ_MODS_goruntime := daemon/symbols/goruntime.c daemon/symbols/godwarf.c $(GOBIN_SRCS)
FUZZ_MODS_pprof := daemon/profile/pprof.c daemon/profile/pprof_decode.c daemon/util/atomic_file.c \
	daemon/util/htab.c \
	$(FUZZ_PROTO)
FUZZ_MODS_cli_parse := cli/allocscope.c daemon/util/args.c
FUZZ_LIBS_cli_parse := $(FUZZ_OUT)/obj/cli_stubs.o
FUZZ_MODS_probe_place := daemon/probe/probe_place.c
FUZZ_MODS_httpd := daemon/service/httpd.c daemon/service/http_query.c daemon/util/textenc.c \
	daemon/service/peer.c daemon/util/small_file.c
FUZZ_LIBS_httpd := -lmicrohttpd
FUZZ_MODS_config := daemon/service/config.c daemon/util/args.c daemon/probe/probe_args.c \
	daemon/profile/wrappers.c
FUZZ_LIBS_config := -ljson-c
FUZZ_MODS_cgroup := daemon/service/cgroup.c
FUZZ_MODS_escape := cli/escape.c
FUZZ_MODS_rootfs := daemon/symbols/rootfs.c
FUZZ_MODS_peer := daemon/service/peer.c

FUZZ_NAMES := procmaps symbolize gobin goruntime pprof cli_parse probe_place httpd config \
	cgroup escape rootfs peer
FUZZ_TARGETS ?= $(FUZZ_NAMES)
FUZZ_BINS := $(addprefix $(FUZZ_OUT)/,$(FUZZ_NAMES))
FUZZ_SEEDS := $(addprefix $(FUZZ_OUT)/seeds/,$(addsuffix /.stamp,$(FUZZ_NAMES)))

fuzz_obj = $(patsubst %.c,$(FUZZ_OUT)/obj/%.o,$(1))
FUZZ_HDRS := $(wildcard daemon/*/*.h bpf/*.h cli/*.h $(FUZZ_SRC)/*.h) $(FUZZ_PROTO)

.PHONY: fuzz fuzz-run fuzz-seeds test-asan

fuzz: $(FUZZ_BINS) $(FUZZ_SEEDS)

fuzz-seeds: $(FUZZ_SEEDS)

fuzz-run: fuzz
	$(Q)$(FUZZ_SRC)/run.sh $(OUT) $(FUZZ_SECONDS) $(FUZZ_JOBS) $(FUZZ_TARGETS)

$(FUZZ_OUT)/obj/%.o: %.c $(FUZZ_HDRS)
	$(call msg,FUZZ-CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -c $< -o $@

# Generated code is not held to -Werror (as in the Makefile).
$(call fuzz_obj,$(FUZZ_PROTO)): $(FUZZ_PROTO)
	$(call msg,FUZZ-CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(FUZZ_CC) $(filter-out -Werror,$(FUZZ_CFLAGS)) -c $< -o $@

# The CLI's main() would clash with libFuzzer's: renamed here, cli/ left as it is. Its
# dispatch table still names every subcommand: they get stubs that abort, made from the
# declarations in cli/cli.h so that a new subcommand needs nothing here.
$(call fuzz_obj,cli/allocscope.c): cli/allocscope.c $(FUZZ_HDRS)
	$(call msg,FUZZ-CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -Dmain=allocscope_cli_main -c $< -o $@

$(FUZZ_OUT)/cli_stubs.c: cli/cli.h
	$(call msg,GEN,$@)
	$(Q)mkdir -p $(@D)
	$(Q){ echo '#include <stdlib.h>'; echo '#include "cli.h"'; \
	sed -n 's/^int \(cmd_[a-z0-9_]*\)(int argc, char \*\*argv);$$/int \1(int argc, char **argv) { abort(); }/p' $<; \
	} > $@

$(FUZZ_OUT)/obj/cli_stubs.o: $(FUZZ_OUT)/cli_stubs.c $(FUZZ_HDRS)
	$(call msg,FUZZ-CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(FUZZ_CC) $(filter-out -Wextra,$(FUZZ_CFLAGS)) -c $< -o $@

define fuzz_target
$(FUZZ_OUT)/$(1): $(call fuzz_obj,$(FUZZ_SRC)/fuzz_$(1).c $(FUZZ_SRC)/fuzz_common.c \
		daemon/util/log.c $(FUZZ_MODS_$(1))) $(filter %.o,$(FUZZ_LIBS_$(1)))
	$$(call msg,FUZZ-LD,$$@)
	$$(Q)$$(FUZZ_CC) $$(FUZZ_CFLAGS) $$(filter %.o,$$^) $$(FUZZ_LDLIBS) \
		$$(filter-out %.o,$$(FUZZ_LIBS_$(1))) -o $$@
endef
$(foreach t,$(FUZZ_NAMES),$(eval $(call fuzz_target,$(t))))

# ---- seeds ----

# Committed text seeds as they are, hex dumps as bytes.
define fuzz_copy_seeds
	$(Q)rm -rf $(@D) && mkdir -p $(@D)
	$(Q)for f in $(wildcard $(FUZZ_SRC)/corpus/$(1)/*); do \
		case $$f in \
		*.hex) sed '/^#/d' $$f | xxd -r -p > $(@D)/$$(basename $$f .hex) ;; \
		*) cp $$f $(@D)/ ;; \
		esac; \
	done
endef

FUZZ_ELF_SEEDS := prog_o0 prog_o0.stripdebug prog_o0.stripall prog_o0.sepdebug inline_o2 \
	libcxx.so libcxx.stripped.so libver.so corrupt_trunc40.elf corrupt_trunc1k.elf \
	corrupt_shdr_garbage.elf corrupt_shdr_lie.elf
FUZZ_GO_SEEDS := go/gofix.stripped go/gofix.pie.stripped

$(FUZZ_OUT)/seeds/procmaps/.stamp: $(wildcard $(FUZZ_SRC)/corpus/procmaps/*) \
		$(wildcard tests/fixtures/maps/*.maps tests/fixtures/proc/*/maps)
	$(call msg,SEEDS,$(@D))
	$(call fuzz_copy_seeds,procmaps)
	$(Q)for f in tests/fixtures/maps/*.maps; do cp $$f $(@D)/fixture-$$(basename $$f); done
	$(Q)cp /proc/self/maps $(@D)/self.maps
	$(Q)touch $@

$(FUZZ_OUT)/seeds/cli_parse/.stamp: $(wildcard $(FUZZ_SRC)/corpus/cli_parse/*)
	$(call msg,SEEDS,$(@D))
	$(call fuzz_copy_seeds,cli_parse)
	$(Q)touch $@

$(FUZZ_OUT)/seeds/httpd/.stamp: $(wildcard $(FUZZ_SRC)/corpus/httpd/*)
	$(call msg,SEEDS,$(@D))
	$(call fuzz_copy_seeds,httpd)
	$(Q)touch $@

$(FUZZ_OUT)/seeds/config/.stamp: $(wildcard $(FUZZ_SRC)/corpus/config/*)
	$(call msg,SEEDS,$(@D))
	$(call fuzz_copy_seeds,config)
	$(Q)touch $@

$(FUZZ_OUT)/seeds/cgroup/.stamp: $(wildcard $(FUZZ_SRC)/corpus/cgroup/*)
	$(call msg,SEEDS,$(@D))
	$(call fuzz_copy_seeds,cgroup)
	$(Q)cp /proc/self/cgroup $(@D)/self.cgroup
	$(Q)touch $@

$(FUZZ_OUT)/seeds/rootfs/.stamp: $(wildcard $(FUZZ_SRC)/corpus/rootfs/*)
	$(call msg,SEEDS,$(@D))
	$(call fuzz_copy_seeds,rootfs)
	$(Q)touch $@

$(FUZZ_OUT)/seeds/peer/.stamp: $(wildcard $(FUZZ_SRC)/corpus/peer/*)
	$(call msg,SEEDS,$(@D))
	$(call fuzz_copy_seeds,peer)
	$(Q)cp /proc/net/tcp $(@D)/self.tcp
	$(Q)cp /proc/net/tcp6 $(@D)/self.tcp6 2>/dev/null || true
	$(Q)touch $@

$(FUZZ_OUT)/seeds/escape/.stamp: $(wildcard $(FUZZ_SRC)/corpus/escape/*) \
		$(wildcard tests/fixtures/escape/*)
	$(call msg,SEEDS,$(@D))
	$(call fuzz_copy_seeds,escape)
	$(Q)cp tests/fixtures/escape/*.txt $(@D)/
	$(Q)touch $@

# Real prologues after a "keep" byte: C functions (0x1f: arguments and rsp) and Go's runtime
# (0x63: rax, rbx, rsp), as alloc_probes.c reads them from the files.
$(FUZZ_OUT)/seeds/probe_place/.stamp: $(wildcard $(FUZZ_SRC)/corpus/probe_place/*) \
		$(FUZZ_FIXTURES)/prog_o0 $(FUZZ_FIXTURES)/go/gofix $(FUZZ_SRC)/func_bytes.sh
	$(call msg,SEEDS,$(@D))
	$(call fuzz_copy_seeds,probe_place)
	$(Q)readelf -sW $(FUZZ_FIXTURES)/prog_o0 | awk '$$4 == "FUNC" && $$2 != 0 {print $$2, $$8}' | \
	while read -r va name; do \
		$(FUZZ_SRC)/func_bytes.sh $(FUZZ_FIXTURES)/prog_o0 $$va 31 48 > $(@D)/c-$$name; \
	done
	$(Q)grep -E ' T (runtime\.(mallocgc|mProf_Malloc|freeSpecial|gcStart)|main\.main)$$' \
		$(FUZZ_FIXTURES)/go/gofix.nm | while read -r va _ _ name; do \
		$(FUZZ_SRC)/func_bytes.sh $(FUZZ_FIXTURES)/go/gofix $$va 99 48 > $(@D)/go-$$name; \
	done
	$(Q)touch $@

$(FUZZ_OUT)/seeds/symbolize/.stamp: $(addprefix $(FUZZ_FIXTURES)/,$(FUZZ_ELF_SEEDS) $(FUZZ_GO_SEEDS))
	$(call msg,SEEDS,$(@D))
	$(Q)rm -rf $(@D) && mkdir -p $(@D)
	$(Q)for f in $(FUZZ_ELF_SEEDS) go/gofix.stripped; do cp $(FUZZ_FIXTURES)/$$f $(@D)/; done
	$(Q)head -c 8192 $(FUZZ_FIXTURES)/prog_o0 > $(@D)/prog_o0.trunc8k
	$(Q)touch $@

$(FUZZ_OUT)/seeds/gobin/.stamp: $(addprefix $(FUZZ_FIXTURES)/,$(FUZZ_GO_SEEDS) prog_o0)
	$(call msg,SEEDS,$(@D))
	$(Q)rm -rf $(@D) && mkdir -p $(@D)
	$(Q)for f in $(FUZZ_GO_SEEDS); do cp $(FUZZ_FIXTURES)/$$f $(@D)/; done
	$(Q)cp $(FUZZ_FIXTURES)/prog_o0 $(@D)/
	$(Q)head -c 65536 $(FUZZ_FIXTURES)/go/gofix.stripped > $(@D)/gofix.stripped.trunc64k
	$(Q)touch $@

$(FUZZ_OUT)/seeds/goruntime/.stamp: $(addprefix $(FUZZ_FIXTURES)/,$(FUZZ_GO_SEEDS)) \
		$(OUT)/tests/targets/go/goalloc-stripped
	$(call msg,SEEDS,$(@D))
	$(Q)rm -rf $(@D) && mkdir -p $(@D)
	$(Q)for f in $(FUZZ_GO_SEEDS); do cp $(FUZZ_FIXTURES)/$$f $(@D)/; done
	$(Q)cp $(OUT)/tests/targets/go/goalloc-stripped $(@D)/
	$(Q)touch $@

# A Go runtime's own heap profile (gzipped, and raw), and one from allocscope's encoder.
$(FUZZ_OUT)/seeds/pprof/.stamp: $(wildcard $(FUZZ_SRC)/corpus/pprof/*) \
		$(OUT)/tests/targets/go/goalloc $(FUZZ_OUT)/mkseed_pprof
	$(call msg,SEEDS,$(@D))
	$(call fuzz_copy_seeds,pprof)
	$(Q)$(OUT)/tests/targets/go/goalloc -rounds 1 -heap $(@D)/go-heap.pb.gz > /dev/null
	$(Q)gzip -dc $(@D)/go-heap.pb.gz > $(@D)/go-heap.pb
	$(Q)$(FUZZ_OUT)/mkseed_pprof $(@D)/allocscope.pb.gz
	$(Q)gzip -dc $(@D)/allocscope.pb.gz > $(@D)/allocscope.pb
	$(Q)touch $@

# Only a seed generator: built from the sources like a fuzzer, without the coverage.
$(FUZZ_OUT)/mkseed_pprof: $(FUZZ_SRC)/mkseed_pprof.c daemon/profile/pprof.c daemon/util/atomic_file.c \
		daemon/util/htab.c \
		daemon/util/log.c $(FUZZ_PROTO) \
		$(FUZZ_HDRS)
	$(call msg,FUZZ-LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(FUZZ_CC) $(filter-out -Werror -fsanitize=fuzzer%,$(FUZZ_CFLAGS)) \
		-fsanitize=address,undefined $(filter %.c,$^) -lprotobuf-c -lz -o $@

# ---- the suite under ASan + UBSan + LeakSanitizer ----

ASAN_OUT ?= build-asan
# clang: gcc 12's libubsan ignores log_path when linked with ASan, so its reports would only
# reach the stderr of whichever process hit them.
ASAN_CC ?= clang
# -gdwarf-aranges: the unit tests symbolize their own binary, and Debian 12's libdw (0.188)
# finds no CU for an address without .debug_aranges, which clang does not emit by default.
ASAN_CFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined \
	-fno-omit-frame-pointer -gdwarf-aranges
ASAN_LOGS := $(abspath $(ASAN_OUT))/sanitizer-logs
# Reports go to files as well as failing the process, so that a report from a process whose
# exit status or stderr a test does not look at still fails the run. CC and EXTRA_CFLAGS stay
# in the suite's environment: a test that runs make (make install) rebuilds with the same
# flags instead of linking sanitized objects without the runtime.
ASAN_ENV := ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:abort_on_error=0:log_path=$(ASAN_LOGS)/asan \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$(ASAN_LOGS)/ubsan \
	LSAN_OPTIONS=log_path=$(ASAN_LOGS)/lsan \
	CC=$(ASAN_CC) EXTRA_CFLAGS="$(ASAN_CFLAGS)"

# Targets and fixtures first, with the default compiler and no sanitizer: the suite expects
# them as gcc builds them (clang folds alloc_pattern's failing malloc away), and `all` then
# finds them up to date.
test-asan:
	$(Q)$(MAKE) --no-print-directory OUT=$(ASAN_OUT) GO_CACHE=$(abspath $(OUT))/gocache \
		test-targets test-fixtures
	$(Q)$(MAKE) --no-print-directory OUT=$(ASAN_OUT) CC=$(ASAN_CC) EXTRA_CFLAGS="$(ASAN_CFLAGS)" all
	$(Q)rm -rf $(ASAN_LOGS) && mkdir -p $(ASAN_LOGS)
	$(Q)$(ASAN_ENV) OUT=$(ASAN_OUT) tests/run; st=$$?; \
	n=$$(find $(ASAN_LOGS) -type f | wc -l); \
	for f in $$(find $(ASAN_LOGS) -type f | sort); do echo "== $$f"; cat $$f; done; \
	echo "test-asan: suite exit $$st, $$n sanitizer report(s) in $(ASAN_LOGS)"; \
	test $$st -eq 0 && test $$n -eq 0
