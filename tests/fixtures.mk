# SPDX-License-Identifier: MIT
# Unit-test fixtures for procmaps and the symbolizer, built from tests/fixtures/ into
# $(FIXTURE_DIR) on every build; nothing binary is committed. Expected line numbers and the
# build ID are derived from the sources and binaries here, into expect.txt, so the tests assert
# values that follow the sources. Works included from the Makefile or on its own:
#   make -f tests/fixtures.mk OUT=build test-fixtures

OUT ?= build
FIXTURE_DIR ?= $(OUT)/tests/fixtures
FIXTURE_SRC := tests/fixtures
CXX ?= g++
OBJCOPY ?= objcopy
STRIP ?= strip
READELF ?= readelf

FIXTURE_WARN := -Wall -Wextra -Werror
# An explicit build ID: the separate-debug fixture is found through it.
FIXTURE_LDFLAGS := -Wl,--build-id=sha1

FIXTURE_MAPS := $(patsubst $(FIXTURE_SRC)/%,$(FIXTURE_DIR)/%,\
	$(wildcard $(FIXTURE_SRC)/maps/*.maps) $(wildcard $(FIXTURE_SRC)/proc/*/maps) \
	$(wildcard $(FIXTURE_SRC)/proc/*/comm) $(wildcard $(FIXTURE_SRC)/proc/*/cgroup))
FIXTURE_MARKED := $(FIXTURE_SRC)/inline_o2.c $(FIXTURE_SRC)/prog_o0.c $(FIXTURE_SRC)/cxx_lib.cpp

FIXTURES := $(FIXTURE_MAPS) \
	$(FIXTURE_DIR)/proc/4242/exe \
	$(FIXTURE_DIR)/inline_o2 \
	$(FIXTURE_DIR)/prog_o0 \
	$(FIXTURE_DIR)/prog_o0.clang \
	$(FIXTURE_DIR)/prog_o0.stripdebug \
	$(FIXTURE_DIR)/prog_o0.stripall \
	$(FIXTURE_DIR)/prog_o0.sepdebug \
	$(FIXTURE_DIR)/libcxx.so \
	$(FIXTURE_DIR)/libcxx.stripped.so \
	$(FIXTURE_DIR)/libver.so \
	$(FIXTURE_DIR)/corrupt_trunc40.elf \
	$(FIXTURE_DIR)/corrupt_trunc1k.elf \
	$(FIXTURE_DIR)/corrupt_shdr_garbage.elf \
	$(FIXTURE_DIR)/corrupt_shdr_lie.elf \
	$(FIXTURE_DIR)/expect.txt

.PHONY: test-fixtures
test-fixtures: $(FIXTURES)

$(FIXTURE_DIR)/maps/%: $(FIXTURE_SRC)/maps/%
	$(call msg,CP,$@)
	$(Q)mkdir -p $(@D)
	$(Q)cp $< $@

$(FIXTURE_DIR)/proc/%: $(FIXTURE_SRC)/proc/%
	$(call msg,CP,$@)
	$(Q)mkdir -p $(@D)
	$(Q)cp $< $@

# /proc/PID/exe is a symlink to the executable: the fixture tree's points at a fixture built here
# (the service's selector tests match it by path).
$(FIXTURE_DIR)/proc/4242/exe: $(FIXTURE_DIR)/prog_o0
	$(call msg,LN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)ln -sfn $(abspath $<) $@

# -O2 with always_inline functions nested two deep: inlined frames.
$(FIXTURE_DIR)/inline_o2: $(FIXTURE_SRC)/inline_o2.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -O2 -g $(FIXTURE_WARN) $(FIXTURE_LDFLAGS) $< -o $@

# Not PIE: text is at 0x401000 but file offset 0x1000, so mapping -> vaddr translation through
# PT_LOAD is observable (in a PIE both are usually equal).
$(FIXTURE_DIR)/prog_o0: $(FIXTURE_SRC)/prog_o0.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -O0 -g -no-pie $(FIXTURE_WARN) $(FIXTURE_LDFLAGS) $< -o $@

# clang emits no .debug_aranges (DWARF 5): libdw 0.188 finds no CU for an address by itself.
$(FIXTURE_DIR)/prog_o0.clang: $(FIXTURE_SRC)/prog_o0.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)clang -O0 -g -no-pie $(FIXTURE_WARN) $(FIXTURE_LDFLAGS) $< -o $@

# .symtab but no DWARF: names without lines.
$(FIXTURE_DIR)/prog_o0.stripdebug: $(FIXTURE_DIR)/prog_o0
	$(call msg,STRIP,$@)
	$(Q)$(STRIP) --strip-debug $< -o $@

# Neither .symtab nor DWARF; the executable's .dynsym holds only imports.
$(FIXTURE_DIR)/prog_o0.stripall: $(FIXTURE_DIR)/prog_o0
	$(call msg,STRIP,$@)
	$(Q)$(STRIP) --strip-all $< -o $@

# A stripped binary whose .symtab and DWARF live in debugroot/.build-id/xx/yyyy.debug, the
# layout distributions use under /usr/lib/debug.
$(FIXTURE_DIR)/prog_o0.sepdebug: $(FIXTURE_DIR)/prog_o0
	$(call msg,DEBUG,$@)
	$(Q)id=$$($(READELF) -n $< | sed -n 's/^ *Build ID: *//p'); \
	test -n "$$id" || { echo "$<: no build ID" >&2; exit 1; }; \
	dir=$(FIXTURE_DIR)/debugroot/.build-id/$$(echo $$id | cut -c1-2); \
	rm -rf $(FIXTURE_DIR)/debugroot && mkdir -p $$dir && \
	$(OBJCOPY) --only-keep-debug $< $$dir/$$(echo $$id | cut -c3-).debug && \
	$(STRIP) --strip-all $< -o $@

$(FIXTURE_DIR)/libcxx.so: $(FIXTURE_SRC)/cxx_lib.cpp
	$(call msg,CXX,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CXX) -O0 -g -fPIC -shared $(FIXTURE_WARN) $(FIXTURE_LDFLAGS) $< -o $@

# Only .dynsym is left: exported, mangled names.
$(FIXTURE_DIR)/libcxx.stripped.so: $(FIXTURE_DIR)/libcxx.so
	$(call msg,STRIP,$@)
	$(Q)$(STRIP) --strip-all $< -o $@

$(FIXTURE_DIR)/libver.so: $(FIXTURE_SRC)/libver.c $(FIXTURE_SRC)/libver.map
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -O0 -g -fPIC -shared $(FIXTURE_WARN) $(FIXTURE_LDFLAGS) \
		-Wl,--version-script=$(FIXTURE_SRC)/libver.map $< -o $@

# Truncated inside the ELF header, and after the program headers (sections cut off).
$(FIXTURE_DIR)/corrupt_trunc40.elf: $(FIXTURE_DIR)/prog_o0
	$(call msg,GEN,$@)
	$(Q)head -c 40 $< > $@

$(FIXTURE_DIR)/corrupt_trunc1k.elf: $(FIXTURE_DIR)/prog_o0
	$(call msg,GEN,$@)
	$(Q)head -c 1024 $< > $@

$(OUT)/tests/mkcorrupt: $(FIXTURE_SRC)/mkcorrupt.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -O2 $(FIXTURE_WARN) $< -o $@

$(FIXTURE_DIR)/corrupt_shdr_%.elf: $(FIXTURE_DIR)/prog_o0 $(OUT)/tests/mkcorrupt
	$(call msg,GEN,$@)
	$(Q)$(OUT)/tests/mkcorrupt $* $< $@

# "KEY VALUE" lines: LINE_* markers of the sources with their line numbers, and build IDs.
$(FIXTURE_DIR)/expect.txt: $(FIXTURE_MARKED) $(FIXTURE_DIR)/prog_o0
	$(call msg,GEN,$@)
	$(Q)for f in $(FIXTURE_MARKED); do \
		grep -n -o 'LINE_[A-Z0-9_]* \*/' $$f | sed 's/^\([0-9]*\):\([A-Z0-9_]*\).*/\2 \1/'; \
	done > $@.tmp
	$(Q)echo "BUILD_ID_PROG_O0 $$($(READELF) -n $(FIXTURE_DIR)/prog_o0 | \
		sed -n 's/^ *Build ID: *//p')" >> $@.tmp
	$(Q)mv $@.tmp $@
