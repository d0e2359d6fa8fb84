# SPDX-License-Identifier: MIT
# Test targets (processes with a known allocation pattern) and unit-test fixtures. Built from
# source in every run; never committed as binaries.

TARGET_CFLAGS := -O1 -g -fno-omit-frame-pointer -fno-inline -fno-optimize-sibling-calls \
	-Wall -Wextra -Werror -Wno-unused-parameter
TARGETS := $(patsubst tests/targets/%.c,$(OUT)/tests/targets/%,$(wildcard tests/targets/*.c))
FIXTURE_DIR := $(OUT)/tests/fixtures

.PHONY: test-targets test-fixtures
test-targets: $(TARGETS)
test-fixtures:

$(OUT)/tests/targets/%: tests/targets/%.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(TARGET_CFLAGS) $< -o $@ -lpthread

# No libc, no allocator: for the "nothing to probe" error path.
$(OUT)/tests/targets/no_malloc: tests/targets/no_malloc.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -O1 -static -nostdlib -fno-stack-protector $< -o $@

$(OUT)/tests/bench/malloc_loop: tests/bench/malloc_loop.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -O2 -g -fno-omit-frame-pointer -Wall -Wextra -Werror $< -o $@ -lpthread

# Many distinct stacks (also the daemon benchmark's target; daemon.sh builds the same way).
$(OUT)/tests/bench/stacks: tests/bench/stacks.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(TARGET_CFLAGS) $< -o $@

test-targets: $(OUT)/tests/bench/malloc_loop $(OUT)/tests/targets/no_malloc \
	$(OUT)/tests/bench/stacks

# The same pattern, statically linked: its allocator lives in the executable itself.
$(OUT)/tests/targets/alloc_pattern_static: tests/targets/alloc_pattern.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(TARGET_CFLAGS) -static $< -o $@ -lpthread

test-targets: $(OUT)/tests/targets/alloc_pattern_static

# Go targets, built by Debian's Go with no network and a cache inside the build folder (test-asan
# points its build at the main build's cache: the same Go code, compiled once).
GO_CACHE ?= $(abspath $(OUT))/gocache
GO_ENV := GOCACHE=$(GO_CACHE) GOPATH=$(abspath $(OUT))/gopath GOPROXY=off \
	GOFLAGS=-mod=mod GO111MODULE=on CGO_ENABLED=0
GO_TARGET_SRCS := $(wildcard tests/targets/go/go.mod tests/targets/go/*/*.go)
GO_TARGETS := goalloc gonoprof gophases gostress gooom

$(OUT)/tests/targets/go/%: $(GO_TARGET_SRCS)
	$(call msg,GO,$@)
	$(Q)mkdir -p $(@D)
	$(Q)cd tests/targets/go && $(GO_ENV) $(GO) build -o $(abspath $@) ./$*

# The same program stripped of .symtab and DWARF, and as a PIE.
$(OUT)/tests/targets/go/goalloc-stripped: $(GO_TARGET_SRCS)
	$(call msg,GO,$@)
	$(Q)mkdir -p $(@D)
	$(Q)cd tests/targets/go && $(GO_ENV) $(GO) build -ldflags='-s -w' -o $(abspath $@) ./goalloc

$(OUT)/tests/targets/go/goalloc-pie-stripped: $(GO_TARGET_SRCS)
	$(call msg,GO,$@)
	$(Q)mkdir -p $(@D)
	$(Q)cd tests/targets/go && $(GO_ENV) $(GO) build -buildmode=pie -ldflags='-s -w' \
		-o $(abspath $@) ./goalloc

test-targets: $(addprefix $(OUT)/tests/targets/go/,$(GO_TARGETS) goalloc-stripped \
	goalloc-pie-stripped)

# A cgo program: Go and C allocations in one process. Needs gcc, as cgo does.
$(OUT)/tests/targets/go/gocgo: $(GO_TARGET_SRCS)
	$(call msg,GO,$@)
	$(Q)mkdir -p $(@D)
	$(Q)cd tests/targets/go && $(GO_ENV) CGO_ENABLED=1 $(GO) build -o $(abspath $@) ./gocgo

$(OUT)/tests/targets/go/gocgonofp: $(GO_TARGET_SRCS)
	$(call msg,GO,$@)
	$(Q)mkdir -p $(@D)
	$(Q)cd tests/targets/go && $(GO_ENV) CGO_ENABLED=1 $(GO) build -o $(abspath $@) ./gocgonofp

test-targets: $(OUT)/tests/targets/go/gocgo $(OUT)/tests/targets/go/gocgonofp

# The demo's web service and its load loop (tests/demo.sh, `make demo`); the same service
# without runtime/pprof, as most are built (its runtime samples nothing by itself).
$(OUT)/tests/targets/go/demoweb-noprof: $(GO_TARGET_SRCS)
	$(call msg,GO,$@)
	$(Q)mkdir -p $(@D)
	$(Q)cd tests/targets/go && $(GO_ENV) $(GO) build -tags noprof -o $(abspath $@) ./demoweb

test-targets: $(OUT)/tests/targets/go/demoweb $(OUT)/tests/targets/go/demoweb-noprof \
	$(OUT)/tests/targets/go/demoload

# The same targets built by every Go toolchain installed from Debian (golang-1.XX-go, see
# deploy/setup-debian.sh), one folder per version: $(OUT)/tests/targets/go/1.XX/. The Go e2e tests
# run against each (tests/e2e/test_go.py). GOTOOLCHAIN=local: never fetch another toolchain.
GO_TOOLCHAINS := $(sort $(wildcard /usr/lib/go-1.*/bin/go))
GO_VERSIONS := $(patsubst /usr/lib/go-%/bin/go,%,$(GO_TOOLCHAINS))
GO_VER_TARGETS := goalloc gonoprof gophases gostress demoweb gonoprofweb
GO_VER_ALL := $(GO_VER_TARGETS) goalloc-stripped goalloc-pie gonoprofweb-stripped gocgo

# $(1) version, $(2) output name, $(3) package, $(4) extra environment, $(5) build flags
define go_ver_rule
$(OUT)/tests/targets/go/$(1)/$(2): $(GO_TARGET_SRCS)
	$$(call msg,GO$(1),$$@)
	$(Q)mkdir -p $$(@D)
	$(Q)cd tests/targets/go && $(GO_ENV) GOTOOLCHAIN=local $(4) /usr/lib/go-$(1)/bin/go build \
		$(5) -o $$(abspath $$@) ./$(3)
test-targets: $(OUT)/tests/targets/go/$(1)/$(2)
endef
$(foreach v,$(GO_VERSIONS),$(foreach t,$(GO_VER_TARGETS),$(eval $(call go_ver_rule,$(v),$(t),$(t)))))
$(foreach v,$(GO_VERSIONS),$(eval $(call go_ver_rule,$(v),goalloc-stripped,goalloc,,-ldflags='-s -w')))
$(foreach v,$(GO_VERSIONS),$(eval $(call go_ver_rule,$(v),goalloc-pie,goalloc,,-buildmode=pie)))
$(foreach v,$(GO_VERSIONS),$(eval $(call go_ver_rule,$(v),gonoprofweb-stripped,gonoprofweb,,-ldflags='-s -w')))
$(foreach v,$(GO_VERSIONS),$(eval $(call go_ver_rule,$(v),gocgo,gocgo,CGO_ENABLED=1,)))

# The BPF-layer suite (tests/bpf): loads bpf/alloc.bpf.c into the test process itself, so it runs
# as root only (tests/run). The unit tests' runner, named "bpf" in its closing line.
BPF_TEST_OBJS := $(patsubst %.c,$(OUT)/obj/%.o,$(wildcard tests/bpf/*.c)) \
	$(OUT)/obj/tests/bpf/test_main.o

$(OUT)/obj/tests/bpf/test_main.o: tests/unit/test_main.c tests/unit/test.h
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -DTEST_SUITE='"bpf"' -c $< -o $@

$(OUT)/tests/bpf_tests: $(BPF_TEST_OBJS) $(OUT)/libscope.a
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) $^ $(LDLIBS) -o $@

all: $(OUT)/tests/bpf_tests

# The allocator pattern against each other allocator Debian packages (deploy/setup-debian.sh
# installs them); one not installed is not built, and its e2e test is skipped.
ALLOC_LIB_jemalloc := libjemalloc.so.2
ALLOC_LIB_mimalloc := libmimalloc.so.2
ALLOC_LIB_tcmalloc := libtcmalloc_minimal.so.4
ALLOC_DEF_jemalloc := -DUSE_JEMALLOC
ALLOC_DEF_mimalloc := -DUSE_MIMALLOC
ALLOC_DEF_tcmalloc := -DUSE_TCMALLOC
ALLOC_TARGETS := $(foreach a,jemalloc mimalloc tcmalloc,\
	$(if $(filter /%,$(shell $(CC) -print-file-name=$(ALLOC_LIB_$(a)))),\
	$(OUT)/tests/targets/with_$(a)))

$(OUT)/tests/targets/with_%: tests/targets/alloc/allocators.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(TARGET_CFLAGS) $(ALLOC_DEF_$*) $< -o $@ -l:$(ALLOC_LIB_$*)

test-targets: $(ALLOC_TARGETS)
