# SPDX-License-Identifier: MIT
#
# weft top-level Makefile, in the kernel's style:
#   make                 build libweft, the tools and the tests
#   make check           install what is missing, build, run every test
#   make check T=GLOB    run only the tests (or test programs) matching GLOB
#   make demo            build and run the demonstration
#   make menuconfig      configure (also nconfig, defconfig, olddefconfig,
#                        savedefconfig)
#   make V=1             show full commands
#   make O=DIR           build into DIR (default: build/, or build/san-* when
#                        SANITIZE is set)
#   make SANITIZE=address,undefined check / make SANITIZE=thread check
#   make install PREFIX=/usr/local DESTDIR=
# `make help` lists every target. docs/building.md explains them.

VERSION_MAJOR := 0
VERSION_MINOR := 1
VERSION_PATCH := 0
VERSION := $(VERSION_MAJOR).$(VERSION_MINOR).$(VERSION_PATCH)

MAKEFLAGS += --no-builtin-rules --no-builtin-variables
.SUFFIXES:
.DELETE_ON_ERROR:
.DEFAULT_GOAL := all

srctree := $(CURDIR)

# --- verbosity -------------------------------------------------------------
ifeq ($(V),1)
  quiet :=
  Q :=
else
  quiet := quiet_
  Q := @
endif

# --- toolchain -------------------------------------------------------------
# Variables given on the command line (CC=clang) win over these defaults;
# CC from the environment is honoured too, the builtin "cc" is not.
ifneq ($(filter default undefined,$(origin CC)),)
  CC := $(CROSS_COMPILE)gcc
endif
ifneq ($(filter default undefined,$(origin AR)),)
  AR := $(CROSS_COMPILE)ar
endif
CLANG ?= clang
LLVM_STRIP ?= llvm-strip
BPFTOOL ?= bpftool
KCONFIG_CONF ?= kconfig-conf
KCONFIG_MCONF ?= kconfig-mconf
KCONFIG_NCONF ?= kconfig-nconf
PKG_CONFIG ?= pkg-config
INSTALL ?= install

# Which machine the objects are for: native unless CROSS_COMPILE says.
ifneq ($(CROSS_COMPILE),)
  ARCH ?= $(patsubst %-linux-gnu-,%,$(CROSS_COMPILE))
else
  ARCH ?= $(shell uname -m)
endif
override ARCH := $(patsubst arm64,aarch64,$(ARCH))

# --- output directory ------------------------------------------------------
comma := ,
empty :=
space := $(empty) $(empty)
ifeq ($(origin O),command line)
  objtree := $(abspath $(O))
else ifneq ($(SANITIZE),)
  objtree := $(srctree)/build/san-$(subst $(comma),-,$(SANITIZE))
else ifneq ($(CROSS_COMPILE),)
  objtree := $(srctree)/build/$(ARCH)
else
  objtree := $(srctree)/build/default
endif
obj := $(objtree)

KCONFIG_CONFIG ?= .config
export KCONFIG_CONFIG

# Targets that need no configuration and must not trigger one.
no-config-targets := clean mrproper distclean help defconfig menuconfig \
	nconfig olddefconfig savedefconfig kernel-check deps %config
need-config := 1
ifneq ($(MAKECMDGOALS),)
  ifeq ($(filter-out $(no-config-targets),$(MAKECMDGOALS)),)
    need-config :=
  endif
endif

# --- the command machinery (a small subset of the kernel's Kbuild) --------
# $(call cmd,NAME) prints quiet_cmd_NAME (or the command with V=1) and runs
# cmd_NAME. $(call if_changed,NAME) does the same only when a prerequisite
# is newer or cmd_NAME differs from the command that last built the target,
# and records the command in $(dir $@).$(notdir $@).cmd. if_changed_dep
# also turns the compiler's dependency file into make rules (tools/build/
# fixdep), replacing the dependency on the Kconfig header with one per
# CONFIG_ symbol the sources use, so changing an option rebuilds exactly
# the files that read it.
squote := '
escsq = $(subst $(squote),'\$(squote)',$1)
echo-cmd = $(if $($(quiet)cmd_$(1)),echo '  $(call escsq,$($(quiet)cmd_$(1)))';)
cmd = @set -e; $(echo-cmd) $(cmd_$(1))

dot-target = $(dir $@).$(notdir $@)
cmd-check = $(filter-out $(subst $(space),\ ,$(strip $(savedcmd_$@))),$(subst $(space),\ ,$(strip $(cmd_$(1)))))
any-prereq = $(filter-out FORCE $(PHONY),$?)
if_changed = $(if $(any-prereq)$(cmd-check)$(if $(savedcmd_$@),,x), \
	@set -e; $(echo-cmd) $(cmd_$(1)); \
	printf '%s\n' 'savedcmd_$@ := $(call escsq,$(subst $$,$$$$,$(cmd_$(1))))' > $(dot-target).cmd, @:)
if_changed_dep = $(if $(any-prereq)$(cmd-check)$(if $(savedcmd_$@),,x), \
	@set -e; $(echo-cmd) $(cmd_$(1)); \
	$(srctree)/tools/build/fixdep $(dot-target).d $@ $(objtree)/include/config \
		'$(call escsq,$(subst $$,$$$$,$(cmd_$(1))))' > $(dot-target).cmd; \
	rm -f $(dot-target).d, @:)

PHONY := FORCE
FORCE:

# --- configuration ---------------------------------------------------------
KCONFIG_FILES := $(wildcard $(srctree)/kconfig/Kconfig*)
autoconf := $(objtree)/include/generated/autoconf.h
autoconf-mk := $(objtree)/include/config/auto.conf

ifeq ($(need-config),1)
-include $(autoconf-mk)
endif

# A missing .config is created from kconfig/defconfig; one older than the
# Kconfig files gets the new options at their defaults (olddefconfig).
$(KCONFIG_CONFIG): $(KCONFIG_FILES) $(srctree)/kconfig/defconfig | deps-build
	$(Q)if [ -f $@ ]; then \
		echo '  CONF    $@ (new options take their defaults)'; \
		cd $(srctree) && $(KCONFIG_CONF) -s --olddefconfig kconfig/Kconfig; \
	else \
		echo '  CONF    $@ (from kconfig/defconfig)'; \
		cd $(srctree) && $(KCONFIG_CONF) -s --defconfig=kconfig/defconfig kconfig/Kconfig; \
	fi
	$(Q)touch $@

# kconfig-conf writes the per-symbol files under include/config relative to
# its working directory, so it runs inside the object tree.
$(autoconf-mk) $(autoconf) &: $(KCONFIG_CONFIG) $(KCONFIG_FILES)
	$(Q)mkdir -p $(objtree)/include/config $(objtree)/include/generated
	@echo '  CONF    $(patsubst $(srctree)/%,%,$(autoconf))'
	$(Q)cd $(objtree) && srctree=$(srctree) KCONFIG_CONFIG=$(abspath $(KCONFIG_CONFIG)) \
		KCONFIG_AUTOCONFIG=include/config/auto.conf \
		KCONFIG_AUTOHEADER=include/generated/autoconf.h \
		$(KCONFIG_CONF) -s --silentoldconfig $(srctree)/kconfig/Kconfig </dev/null
	$(Q)touch $(autoconf-mk) $(autoconf)

PHONY += deps-build deps-check deps-bench deps
deps-build:
	$(Q)$(srctree)/tools/deps.sh build
deps-check:
	$(Q)$(srctree)/tools/deps.sh check
deps-bench:
	$(Q)$(srctree)/tools/deps.sh bench
deps: deps-check

PHONY += defconfig olddefconfig savedefconfig menuconfig nconfig
defconfig: deps-build
	$(Q)$(KCONFIG_CONF) --defconfig=kconfig/defconfig kconfig/Kconfig
olddefconfig: deps-build
	$(Q)$(KCONFIG_CONF) --olddefconfig kconfig/Kconfig
savedefconfig: deps-build $(KCONFIG_CONFIG)
	$(Q)$(KCONFIG_CONF) --savedefconfig=defconfig kconfig/Kconfig
	@echo '  SAVE    defconfig (copy it to kconfig/defconfig to make it the default)'
menuconfig: deps-build
	$(Q)$(KCONFIG_MCONF) kconfig/Kconfig
nconfig: deps-build
	$(Q)$(KCONFIG_NCONF) kconfig/Kconfig

# --- flags -----------------------------------------------------------------
OPT_LEVEL := $(if $(CONFIG_OPT_LEVEL),$(CONFIG_OPT_LEVEL),2)

WARNINGS := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wpointer-arith -Wformat=2 -Wundef -Wvla -Wno-unused-parameter \
	-Wno-missing-field-initializers
ifeq ($(CONFIG_WERROR),y)
  WARNINGS += -Werror
endif

SAN_FLAGS := $(if $(SANITIZE),-fsanitize=$(SANITIZE) -fno-omit-frame-pointer)
ifneq ($(filter undefined,$(subst $(comma),$(space),$(SANITIZE))),)
  SAN_FLAGS += -fno-sanitize-recover=undefined
endif
LTO_FLAGS := $(if $(filter y,$(CONFIG_LTO)),-flto)

# Project code always sees its own headers and the generated Kconfig header.
WEFT_CPPFLAGS := -D_GNU_SOURCE -I$(srctree)/runtime/include \
	-I$(srctree)/runtime/src -I$(objtree)/include \
	-include $(objtree)/include/generated/autoconf.h
WEFT_CFLAGS := -std=gnu11 -O$(OPT_LEVEL) -g -fPIC -fno-strict-aliasing \
	-fno-omit-frame-pointer -pthread $(WARNINGS) $(SAN_FLAGS) $(LTO_FLAGS)
WEFT_LDFLAGS := -pthread $(SAN_FLAGS) $(LTO_FLAGS)

# User additions, as with any Makefile.
CFLAGS ?=
CPPFLAGS ?=
LDFLAGS ?=

# --- objects ---------------------------------------------------------------
# Each directory's Build.mk adds to these lists, kernel style
# (libweft-$(CONFIG_X) += file.o).
libweft-y :=
libweft-libs-y :=
tests-y :=
tests-extra-y :=
tests-sh-y :=
tests-custom-y :=
tools-y :=
examples-y :=
man-y :=

include runtime/Build.mk
include bpf/Build.mk
include tests/Build.mk
include tools/Build.mk
include docs/Build.mk

lib-objs := $(addprefix $(obj)/,$(libweft-y))
libweft-a := $(obj)/runtime/libweft.a
libweft-so := $(obj)/runtime/libweft.so.$(VERSION)
libweft-soname := libweft.so.$(VERSION_MAJOR)
LIBS := $(sort $(libweft-libs-y))

test-progs := $(addprefix $(obj)/,$(tests-y))
test-extra := $(addprefix $(obj)/,$(tests-extra-y))
test-scripts := $(addprefix $(obj)/,$(tests-sh-y))
# Test programs with a link rule of their own (in their Build.mk).
test-custom := $(addprefix $(obj)/,$(tests-custom-y))
tool-progs := $(addprefix $(obj)/,$(tools-y))
example-progs := $(addprefix $(obj)/,$(examples-y))

# --- compile rules ---------------------------------------------------------
quiet_cmd_cc_o_c = CC      $(patsubst $(objtree)/%,%,$@)
      cmd_cc_o_c = $(CC) $(WEFT_CPPFLAGS) $(CPPFLAGS) $(WEFT_CFLAGS) \
		$(CFLAGS_$(notdir $@)) $(CFLAGS) -MD -MP -MF $(dot-target).d -c -o $@ $<

quiet_cmd_as_o_S = AS      $(patsubst $(objtree)/%,%,$@)
      cmd_as_o_S = $(CC) $(WEFT_CPPFLAGS) $(CPPFLAGS) $(filter-out -flto,$(WEFT_CFLAGS)) \
		-D__ASSEMBLY__ -MD -MP -MF $(dot-target).d -c -o $@ $<

# autoconf.h is order-only: every object includes it, but fixdep makes
# each object depend on the per-symbol files of the options it reads, so
# regenerating the header must not rebuild everything.
$(obj)/%.o: $(srctree)/%.c FORCE | $(autoconf)
	@mkdir -p $(dir $@)
	$(call if_changed_dep,cc_o_c)

$(obj)/%.o: $(srctree)/%.S FORCE | $(autoconf)
	@mkdir -p $(dir $@)
	$(call if_changed_dep,as_o_S)

quiet_cmd_ar = AR      $(patsubst $(objtree)/%,%,$@)
      cmd_ar = rm -f $@ && $(AR) rcs $@ $(filter %.o,$^)

quiet_cmd_ld_so = LD      $(patsubst $(objtree)/%,%,$@)
      cmd_ld_so = $(CC) -shared -Wl,-soname,$(libweft-soname) -Wl,-z,defs \
		$(WEFT_LDFLAGS) $(LDFLAGS) -o $@ $(filter %.o,$^) $(LIBS)

# A program's own libraries come before the library's: weftstat's static
# libbpf.a must win over the -lbpf that CONFIG_WEFT_STALL_BPF puts in LIBS.
quiet_cmd_link = LD      $(patsubst $(objtree)/%,%,$@)
      cmd_link = $(CC) $(WEFT_LDFLAGS) $(LDFLAGS) $(LDFLAGS_$(notdir $@)) -o $@ \
		$(filter %.o %.a,$^) $(LDLIBS_$(notdir $@)) $(LIBS)

$(libweft-a): $(lib-objs) FORCE
	$(call if_changed,ar)

$(libweft-so): $(lib-objs) FORCE
	$(call if_changed,ld_so)
	@ln -sf $(notdir $@) $(obj)/runtime/$(libweft-soname)
	@ln -sf $(notdir $@) $(obj)/runtime/libweft.so

# Test programs, helpers, tools and examples: one C file each (plus the
# objects listed in <name>-objs), linked against the static library.
$(test-progs) $(test-extra): %: %.o $(harness-lib) $(libweft-a) FORCE
	$(call if_changed,link)

$(tool-progs) $(example-progs): %: %.o $(libweft-a) FORCE
	$(call if_changed,link)

# Test scripts (tests-sh-y) are copied next to the test programs, so the
# runner finds every test under $(obj)/tests the same way.
quiet_cmd_copy_sh = COPY    $(patsubst $(objtree)/%,%,$@)
      cmd_copy_sh = cp $< $@ && chmod 755 $@

$(test-scripts): $(obj)/%: $(srctree)/% FORCE
	@mkdir -p $(dir $@)
	$(call if_changed,copy_sh)

# --- top-level targets -----------------------------------------------------
PHONY += all lib tests tools examples
all: lib tools examples tests
lib: $(libweft-a) $(libweft-so)
tools: $(tool-progs)
examples: $(example-progs)
tests: $(test-progs) $(test-extra) $(test-scripts) $(test-custom) $(obj)/tests/list

# The list of test programs the runner executes, one per line.
$(obj)/tests/list: FORCE
	@mkdir -p $(dir $@)
	@printf '%s\n' $(patsubst $(obj)/%,%,$(test-progs) $(test-custom) $(test-scripts)) > $@.tmp
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi

PHONY += check
# T=GLOB selects tests; TIMEOUT_SCALE stretches every test's timeout (the
# sanitizer builds set it themselves: 4, or 10 for thread).
check-scale := $(if $(TIMEOUT_SCALE),$(TIMEOUT_SCALE),$(if $(SANITIZE),$(if \
	$(filter thread,$(subst $(comma),$(space),$(SANITIZE))),10,4)))
check: deps-check
	$(Q)$(MAKE) --no-print-directory all
	$(Q)$(srctree)/tests/run -o $(obj) $(if $(T),-t '$(T)') \
		$(if $(check-scale),-s $(check-scale))

PHONY += demo
demo: deps-build
	$(Q)$(MAKE) --no-print-directory all
	$(Q)$(srctree)/tools/demo.sh $(obj)

PHONY += kernel-check
kernel-check:
	$(Q)$(srctree)/tools/kernel-check.sh $(srctree)/kconfig/kernel.config

# --- install ---------------------------------------------------------------
PREFIX ?= /usr/local
DESTDIR ?=
bindir := $(PREFIX)/bin
libdir := $(PREFIX)/lib
includedir := $(PREFIX)/include
mandir := $(PREFIX)/share/man
pcdir := $(libdir)/pkgconfig

public-headers := $(wildcard $(srctree)/runtime/include/weft/*.h) \
	$(srctree)/runtime/include/weft.h

quiet_cmd_pc = GEN     $(patsubst $(objtree)/%,%,$@)
      cmd_pc = sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(libdir)|' \
		-e 's|@INCLUDEDIR@|$(includedir)|' -e 's|@VERSION@|$(VERSION)|' \
		-e 's|@LIBS@|$(LIBS)|' $< > $@

$(obj)/weft.pc: $(srctree)/runtime/weft.pc.in FORCE
	$(call if_changed,pc)

PHONY += install uninstall
install: lib tools $(obj)/weft.pc
	@echo '  INSTALL $(DESTDIR)$(PREFIX)'
	$(Q)$(INSTALL) -d $(DESTDIR)$(libdir) $(DESTDIR)$(includedir)/weft \
		$(DESTDIR)$(pcdir) $(DESTDIR)$(bindir)
	$(Q)$(INSTALL) -m 644 $(libweft-a) $(DESTDIR)$(libdir)/
	$(Q)$(INSTALL) -m 755 $(libweft-so) $(DESTDIR)$(libdir)/
	$(Q)ln -sf libweft.so.$(VERSION) $(DESTDIR)$(libdir)/$(libweft-soname)
	$(Q)ln -sf $(libweft-soname) $(DESTDIR)$(libdir)/libweft.so
	$(Q)$(INSTALL) -m 644 $(srctree)/runtime/include/weft.h $(DESTDIR)$(includedir)/
	$(Q)$(INSTALL) -m 644 $(wildcard $(srctree)/runtime/include/weft/*.h) \
		$(DESTDIR)$(includedir)/weft/
	$(Q)$(INSTALL) -m 644 $(obj)/weft.pc $(DESTDIR)$(pcdir)/
	$(Q)$(if $(tool-progs),$(INSTALL) -m 755 $(tool-progs) $(DESTDIR)$(bindir)/)
	$(Q)for m in $(man-y); do \
		sec=$${m##*.}; $(INSTALL) -d $(DESTDIR)$(mandir)/man$$sec; \
		$(INSTALL) -m 644 $(srctree)/$$m $(DESTDIR)$(mandir)/man$$sec/; \
	done

uninstall:
	@echo '  UNINST  $(DESTDIR)$(PREFIX)'
	$(Q)rm -f $(DESTDIR)$(libdir)/libweft.a $(DESTDIR)$(libdir)/libweft.so \
		$(DESTDIR)$(libdir)/$(libweft-soname) $(DESTDIR)$(libdir)/libweft.so.$(VERSION) \
		$(DESTDIR)$(includedir)/weft.h $(DESTDIR)$(pcdir)/weft.pc
	$(Q)rm -f $(addprefix $(DESTDIR)$(includedir)/weft/,$(notdir $(wildcard $(srctree)/runtime/include/weft/*.h)))
	$(Q)rmdir $(DESTDIR)$(includedir)/weft 2>/dev/null || true
	$(Q)rm -f $(addprefix $(DESTDIR)$(bindir)/,$(notdir $(tool-progs)))
	$(Q)for m in $(man-y); do sec=$${m##*.}; \
		rm -f $(DESTDIR)$(mandir)/man$$sec/$$(basename $$m); done

# --- cleaning --------------------------------------------------------------
PHONY += clean mrproper distclean
clean:
	@echo '  CLEAN   build'
	$(Q)rm -rf $(srctree)/build
mrproper distclean: clean
	@echo '  CLEAN   .config'
	$(Q)rm -f $(srctree)/.config $(srctree)/.config.old $(srctree)/defconfig

PHONY += help
help:
	@echo 'Main targets:'
	@echo '  all (default)   libweft (static and shared), tools, examples, tests'
	@echo '  check           install missing packages, build, run the test suite'
	@echo '                  T=GLOB runs only matching tests or test programs'
	@echo '  demo            build and run the demonstration'
	@echo '  bench           run the benchmarks against their peers (figures only)'
	@echo '  bench-io        the echo and HTTP benchmarks against their peers'
	@echo '  bench-weftstat  what attaching weftstat costs (root; figures only)'
	@echo '  install         PREFIX=$(PREFIX) DESTDIR= ; uninstall removes it again'
	@echo '  bpf             the BPF objects and skeletons only (weftstat)'
	@echo '  fuzz            the parsers of untrusted input under libFuzzer (FUZZ_SECONDS=10 each)'
	@echo '  kernel-check    compare kconfig/kernel.config with the running kernel'
	@echo '  deps            install the Debian packages the build and tests need'
	@echo 'Configuration:'
	@echo '  defconfig menuconfig nconfig olddefconfig savedefconfig'
	@echo 'Cleaning:'
	@echo '  clean (build/)  mrproper (also .config)'
	@echo 'Variables:'
	@echo '  V=1 full commands   O=DIR output directory   CC=clang'
	@echo '  SANITIZE=address,undefined | thread   CROSS_COMPILE=aarch64-linux-gnu-'

# --- saved commands and dependencies of earlier builds --------------------
ifeq ($(need-config),1)
cmd-files := $(shell find $(objtree) -name '.*.cmd' 2>/dev/null)
-include $(cmd-files)
endif

.PHONY: $(PHONY)
