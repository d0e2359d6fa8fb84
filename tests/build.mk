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

# Go targets, built by Debian's Go with no network and a cache inside the build folder.
GO_ENV := GOCACHE=$(abspath $(OUT))/gocache GOPATH=$(abspath $(OUT))/gopath GOPROXY=off \
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

# The demo's web service and its load loop (tests/demo.sh, `make demo`).
test-targets: $(OUT)/tests/targets/go/demoweb $(OUT)/tests/targets/go/demoload

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
