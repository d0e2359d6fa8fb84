# SPDX-License-Identifier: MIT
# Everything built goes under $(OUT). Pattern rules chain
#   bpf/%.bpf.c -> %.bpf.o -> %.skel.h,  proto/%.proto -> %.pb-c.c,  %.c -> %.o -> binaries.
# `make V=1` shows the commands.

OUT ?= build
CC ?= gcc
CLANG ?= clang
BPFTOOL ?= bpftool
PROTOC_C ?= protoc-c
GO ?= go

ifeq ($(V),1)
Q =
msg =
else
Q = @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

ARCH := $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')

CFLAGS ?= -O2 -g
ALL_CFLAGS := $(CFLAGS) -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter \
	-Wno-missing-field-initializers -fno-omit-frame-pointer -D_GNU_SOURCE \
	-I$(OUT) -I$(OUT)/proto -I. -Idaemon $(EXTRA_CFLAGS)
LDLIBS := -lbpf -lm -ljson-c -lmicrohttpd -lcurl -lpthread -lelf -ldw -lz -lprotobuf-c -lcapstone -lstdc++ $(EXTRA_LDLIBS)
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -I$(OUT) -Ibpf -Wall -Werror

BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_SKELS := $(patsubst bpf/%.bpf.c,$(OUT)/%.skel.h,$(BPF_SRCS))
PROTO_SRCS := $(patsubst proto/%.proto,$(OUT)/proto/%.pb-c.c,$(wildcard proto/*.proto))
PROTO_OBJS := $(patsubst %.c,%.o,$(PROTO_SRCS))

# The library that allocscoped and the allocscope CLI share.
LIB_SRCS := $(wildcard daemon/*/*.c)
LIB_OBJS := $(patsubst %.c,$(OUT)/obj/%.o,$(LIB_SRCS)) $(PROTO_OBJS)
CLI_OBJS := $(patsubst %.c,$(OUT)/obj/%.o,$(wildcard cli/*.c))
# The CLI's commands and views without its main(), for the unit tests.
CLI_LIB_OBJS := $(filter-out $(OUT)/obj/cli/allocscope.o,$(CLI_OBJS))

UNIT_SRCS := $(wildcard tests/unit/*.c)
UNIT_OBJS := $(patsubst %.c,$(OUT)/obj/%.o,$(UNIT_SRCS))

BINS := $(OUT)/allocscope $(OUT)/allocscoped $(OUT)/liballocscope_sampler.so

.DELETE_ON_ERROR:
.SECONDARY:
.PHONY: all clean test unit-test demo bench fmt install man fuzz fuzz-run test-asan

all: $(BINS) $(OUT)/tests/unit_tests test-targets

$(OUT)/vmlinux.h:
	$(call msg,BTF,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@

$(OUT)/%.bpf.o: bpf/%.bpf.c $(wildcard bpf/*.h) $(OUT)/vmlinux.h
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@.tmp
	$(Q)$(BPFTOOL) gen object $@ $@.tmp && rm -f $@.tmp

$(OUT)/%.skel.h: $(OUT)/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< > $@

$(OUT)/proto/%.pb-c.c $(OUT)/proto/%.pb-c.h: proto/%.proto
	$(call msg,PROTOC,$@)
	$(Q)mkdir -p $(OUT)/proto
	$(Q)$(PROTOC_C) --proto_path=proto --c_out=$(OUT)/proto $<

$(OUT)/proto/%.pb-c.o: $(OUT)/proto/%.pb-c.c
	$(call msg,CC,$@)
	$(Q)$(CC) $(filter-out -Werror,$(ALL_CFLAGS)) -c $< -o $@

# Every user-space object may include a skeleton or the generated protobuf header.
$(OUT)/obj/%.o: %.c $(wildcard daemon/*/*.h bpf/*.h cli/*.h tests/unit/*.h) $(BPF_SKELS) \
		$(PROTO_SRCS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

$(OUT)/libscope.a: $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(OUT)/libcli.a: $(CLI_LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(OUT)/allocscope: $(CLI_OBJS) $(OUT)/libscope.a
	$(call msg,LINK,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $^ $(LDLIBS) -o $@

$(OUT)/allocscoped: $(OUT)/obj/daemon/allocscoped.o $(OUT)/libscope.a
	$(call msg,LINK,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $^ $(LDLIBS) -o $@

# The optional in-process sampler (LD_PRELOAD; README "Sampler sources"): self-contained, so it
# does not take the daemon's flags or libraries, and its symbols stay hidden but for the
# allocator's.
$(OUT)/liballocscope_sampler.so: deploy/sampler/allocscope_sampler.c
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -std=gnu11 -Wall -Wextra -Werror -fPIC -shared -fvisibility=hidden \
		-fno-omit-frame-pointer -fno-optimize-sibling-calls -ftls-model=initial-exec $(EXTRA_SAMPLER_CFLAGS) $< -lm -lpthread -o $@

$(OUT)/tests/unit_tests: $(UNIT_OBJS) $(OUT)/libcli.a $(OUT)/libscope.a | test-fixtures
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) $^ $(LDLIBS) -o $@

include tests/build.mk
include tests/fixtures.mk
include tests/gofixtures.mk
include deploy/install.mk
include deploy/image.mk
include cli/man.mk
include tests/fuzz.mk
include tests/cfi.mk

test: all
	$(Q)tests/run

unit-test: $(OUT)/tests/unit_tests
	$(Q)$(OUT)/tests/unit_tests

demo: all
	$(Q)tests/demo.sh

bench: all
	$(Q)tests/bench/run.sh

fmt:
	clang-format -i $(wildcard bpf/*.c bpf/*.h daemon/*.c daemon/*/*.c daemon/*/*.h cli/*.c cli/*.h \
		tests/unit/*.c tests/unit/*.h tests/bpf/*.c tests/targets/*.c tests/fuzz/*.c deploy/sampler/*.c)

clean:
	rm -rf $(OUT)
