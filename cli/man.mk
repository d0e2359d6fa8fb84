# SPDX-License-Identifier: MIT
# Man pages generated from the binaries' own --help text (cli/gen-man.sh), so that the page and
# --help cannot disagree: `make man` writes $(OUT)/allocscope.1 and $(OUT)/allocscoped.8. Not
# part of `all`; included from the top-level Makefile (it needs $(OUT), $(Q) and msg).

MAN_PAGES := $(OUT)/allocscope.1 $(OUT)/allocscoped.8

.PHONY: man
man: $(MAN_PAGES)

# Written to a temporary name first: a page cut short by a failing --help is never left behind.
$(OUT)/allocscope.1: $(OUT)/allocscope cli/gen-man.sh
	$(call msg,MAN,$@)
	$(Q)cli/gen-man.sh $< > $@.tmp || { rm -f $@.tmp; exit 1; }; mv $@.tmp $@

$(OUT)/allocscoped.8: $(OUT)/allocscoped cli/gen-man.sh
	$(call msg,MAN,$@)
	$(Q)cli/gen-man.sh $< > $@.tmp || { rm -f $@.tmp; exit 1; }; mv $@.tmp $@
