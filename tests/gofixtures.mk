# SPDX-License-Identifier: MIT
# Go fixtures for the Go binary reader (daemon/gobin.c): tests/fixtures/go built four ways (plain,
# stripped with -s -w, PIE, stripped PIE) into $(FIXTURE_DIR)/go, with the values the unit test
# compares against derived at build time into gofix.expect: the toolchain's version, the module
# path from go.mod, the LINE_* markers of the source, and the call instructions' PCs from
# `go tool objdump`; gofix.nm and gofix.pie.nm hold `go tool nm` of the unstripped builds. The
# stripped builds differ only by -s -w, so their code (and every function entry) is expected at
# the same addresses. Offline and HOME-independent; works included or on its own:
#   make -f tests/gofixtures.mk OUT=build test-fixtures

OUT ?= build
FIXTURE_DIR ?= $(OUT)/tests/fixtures
GO ?= go

GOFIX_SRC := tests/fixtures/go
GOFIX_OUT := $(FIXTURE_DIR)/go
GOFIX_SRCS := $(wildcard $(GOFIX_SRC)/*.go) $(GOFIX_SRC)/go.mod
# No cgo: the internal linker only, so the builds need no C toolchain and stay reproducible.
GO_CACHE ?= $(abspath $(OUT))/gocache
GOFIX_ENV := GOCACHE=$(GO_CACHE) GOPATH=$(abspath $(OUT))/gopath GOFLAGS=-mod=mod \
	GOPROXY=off GO111MODULE=on GOTOOLCHAIN=local CGO_ENABLED=0
GOFIX_BINS := $(GOFIX_OUT)/gofix $(GOFIX_OUT)/gofix.stripped $(GOFIX_OUT)/gofix.pie \
	$(GOFIX_OUT)/gofix.pie.stripped

GOFIX_FLAGS_gofix :=
GOFIX_FLAGS_gofix.stripped := -ldflags='-s -w'
GOFIX_FLAGS_gofix.pie := -buildmode=pie
GOFIX_FLAGS_gofix.pie.stripped := -buildmode=pie -ldflags='-s -w'

.PHONY: test-fixtures
test-fixtures: $(GOFIX_BINS) $(GOFIX_OUT)/gofix.expect $(GOFIX_OUT)/gofix.nm \
	$(GOFIX_OUT)/gofix.pie.nm $(FIXTURE_DIR)/proc/4250/exe

# A Go process in the fixture /proc tree (--all-go selects it).
$(FIXTURE_DIR)/proc/4250/exe: $(GOFIX_OUT)/gofix
	$(call msg,LN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)ln -sfn $(abspath $<) $@

$(GOFIX_BINS): $(GOFIX_OUT)/%: $(GOFIX_SRCS)
	$(call msg,GO,$@)
	$(Q)mkdir -p $(@D)
	$(Q)cd $(GOFIX_SRC) && $(GOFIX_ENV) $(GO) build $(GOFIX_FLAGS_$*) -o $(abspath $@) .

# "address size type name", sorted by address; names may contain spaces.
$(GOFIX_OUT)/%.nm: $(GOFIX_OUT)/%
	$(call msg,GEN,$@)
	$(Q)$(GOFIX_ENV) $(GO) tool nm -size -sort address $< > $@.tmp
	$(Q)mv $@.tmp $@

# "KEY VALUE" lines. <BIN>_PC_ALLOC is the call of runtime.newobject in main.allocNode and
# <BIN>_PC_INL the call of runtime.makeslice in main.outer, which carries two inlined frames.
$(GOFIX_OUT)/gofix.expect: $(GOFIX_SRCS) $(GOFIX_OUT)/gofix $(GOFIX_OUT)/gofix.pie
	$(call msg,GEN,$@)
	$(Q){ echo "GO_VERSION $$(cd $(GOFIX_SRC) && $(GOFIX_ENV) $(GO) env GOVERSION)"; \
	echo "GO_MODULE $$(sed -n 's/^module *//p' $(GOFIX_SRC)/go.mod)"; \
	grep -n -o 'LINE_[A-Z0-9_]\+' $(GOFIX_SRC)/main.go | sed 's/^\([0-9]*\):\(.*\)/\2 \1/'; \
	for b in gofix gofix.pie; do \
		k=$$(echo $$b | tr a-z. A-Z_); \
		$(GOFIX_ENV) $(GO) tool objdump -s '^main\.allocNode$$' $(GOFIX_OUT)/$$b | \
			awk -v k=$${k}_PC_ALLOC '/CALL runtime\.newobject\(SB\)/ { print k, $$2; exit }'; \
		$(GOFIX_ENV) $(GO) tool objdump -s '^main\.outer$$' $(GOFIX_OUT)/$$b | \
			awk -v k=$${k}_PC_INL '/CALL runtime\.makeslice\(SB\)/ { print k, $$2; exit }'; \
	done; } > $@.tmp
	$(Q)test $$(grep -c _PC_ $@.tmp) -eq 4 || { echo "$@: call sites not found" >&2; exit 1; }
	$(Q)mv $@.tmp $@
