# SPDX-License-Identifier: MIT
# `make install [PREFIX=/usr/local] [DESTDIR=]`: the CLI to $(PREFIX)/bin, the daemon to
# $(PREFIX)/sbin (it needs root's capabilities), and the systemd unit with its ExecStart pointed
# at the installed daemon. Included from the top-level Makefile.
#
# The unit goes to $(PREFIX)/lib/systemd/system: systemd searches /usr/local/lib/systemd/system
# as well as /usr/lib/systemd/system (systemd.unit(5), "System Unit Search Path"), so the default
# PREFIX keeps `make install` out of the package manager's /lib tree and PREFIX=/usr gives what a
# package would install. For any other PREFIX (e.g. /opt/allocscope) set
# UNITDIR=/etc/systemd/system, or systemd will not find the unit.

OUT ?= build
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
LIBDIR ?= $(PREFIX)/lib
UNITDIR ?= $(PREFIX)/lib/systemd/system
MANDIR ?= $(PREFIX)/share/man
# bash-completion loads a completion by the command's name: one file serves both commands.
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions

# The unit in deploy/ names /usr/local/sbin/allocscoped (the default PREFIX); this copy names
# $(SBINDIR). Rebuilt every time: SBINDIR is a make variable, not a file make can date.
$(OUT)/deploy/allocscoped.service: deploy/allocscoped.service FORCE
	$(call msg,GEN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)sed 's|^ExecStart=/usr/local/sbin/allocscoped|ExecStart=$(SBINDIR)/allocscoped|' $< > $@

install: $(OUT)/allocscope $(OUT)/allocscoped $(OUT)/liballocscope_sampler.so \
		$(OUT)/deploy/allocscoped.service $(OUT)/allocscope.1 \
		$(OUT)/allocscoped.8
	$(call msg,INSTALL,$(DESTDIR)$(PREFIX))
	$(Q)install -D -m 0755 $(OUT)/allocscope $(DESTDIR)$(BINDIR)/allocscope
	$(Q)install -D -m 0755 $(OUT)/allocscoped $(DESTDIR)$(SBINDIR)/allocscoped
	$(Q)install -D -m 0644 $(OUT)/liballocscope_sampler.so \
		$(DESTDIR)$(LIBDIR)/allocscope/liballocscope_sampler.so
	$(Q)install -D -m 0644 $(OUT)/deploy/allocscoped.service \
		$(DESTDIR)$(UNITDIR)/allocscoped.service
	$(Q)install -D -m 0644 $(OUT)/allocscope.1 $(DESTDIR)$(MANDIR)/man1/allocscope.1
	$(Q)install -D -m 0644 $(OUT)/allocscoped.8 $(DESTDIR)$(MANDIR)/man8/allocscoped.8
	$(Q)install -D -m 0644 cli/allocscope.bash $(DESTDIR)$(BASHCOMPDIR)/allocscope
	$(Q)ln -sf allocscope $(DESTDIR)$(BASHCOMPDIR)/allocscoped

.PHONY: install FORCE
FORCE:
