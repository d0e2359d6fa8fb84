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

test-targets: $(OUT)/tests/bench/malloc_loop $(OUT)/tests/targets/no_malloc

# The same pattern, statically linked: its allocator lives in the executable itself.
$(OUT)/tests/targets/alloc_pattern_static: tests/targets/alloc_pattern.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(TARGET_CFLAGS) -static $< -o $@ -lpthread

test-targets: $(OUT)/tests/targets/alloc_pattern_static
