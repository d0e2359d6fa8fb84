# SPDX-License-Identifier: MIT
# Targets for CFI unwinding: an executable and two shared libraries of our own (C, and C++ with
# new), all built -O2 -fomit-frame-pointer so that a frame-pointer walk cannot cross them.

CFI_TARGET_DIR := $(OUT)/tests/targets/cfi
CFI_TARGET_FLAGS := -O2 -g -fomit-frame-pointer -fno-optimize-sibling-calls -Wall -Wextra \
	-Werror -Wno-unused-parameter
CFI_TARGETS := $(CFI_TARGET_DIR)/cfi_app $(CFI_TARGET_DIR)/libcfilib.so \
	$(CFI_TARGET_DIR)/libcfinew.so

test-targets: $(CFI_TARGETS)

$(CFI_TARGET_DIR)/libcfilib.so: tests/targets/cfi/cfilib.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFI_TARGET_FLAGS) -fPIC -shared $< -o $@

$(CFI_TARGET_DIR)/libcfinew.so: tests/targets/cfi/cfinew.cc
	$(call msg,CXX,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CXX) $(CFI_TARGET_FLAGS) -fPIC -shared $< -o $@

$(CFI_TARGET_DIR)/cfi_app: tests/targets/cfi/cfi_app.c $(CFI_TARGET_DIR)/libcfilib.so \
		$(CFI_TARGET_DIR)/libcfinew.so
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFI_TARGET_FLAGS) $< -o $@ -L$(CFI_TARGET_DIR) -lcfilib -lcfinew \
		-Wl,-rpath,'$$ORIGIN'
