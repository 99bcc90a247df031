# SPDX-License-Identifier: GPL-2.0
#
# vfio-user in the kernel: top-level build.
#
#   make            module (against Debian's 6.1 headers, or KDIR=...),
#                   userspace programs and the selftests
#   make module-612 the module against the 6.12 headers Debian 12 also
#                   carries (build/kmod/debian612); module-debian and
#                   module-debug: 6.1 and the debug kernel
#   make run        the demo, in a VM
#   make check      lint, build, host tests, selftests in a VM on Debian's
#                   6.1 and 6.12 kernels and on the debug kernel; ends with
#                   a summary line
#   make lint       checkpatch --strict, sparse, W=1 build of the module
#                   (6.1 and 6.12 headers);
#                   clang-format (checked) and cppcheck on the userspace code
#   make fuzz       fuzzers, fault injection and kill tests on the debug
#                   kernel with long counts; ends with a line of figures
#   make docs       HTML documentation with Sphinx into build/docs; any
#                   warning fails
#   make install    module, udev rule, library, headers, pkg-config file,
#                   programs, man pages and bash completion (DESTDIR,
#                   PREFIX); make uninstall
#
# Every target that needs Debian packages installs them first
# (scripts/install-deps.sh; a no-op when they are present).

TOP	:= $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
BUILD	:= $(TOP)/build
SCRIPTS	:= $(TOP)/scripts

# Recursive on purpose: evaluated only after the deps target has run.
DEBIAN_KDIR = $(shell . $(SCRIPTS)/lib.sh && debian_kdir)
DEBIAN612_KDIR = $(shell . $(SCRIPTS)/lib.sh && kernel_kdir debian612)
KDIR ?= $(DEBIAN_KDIR)
DEBUG_KDIR = $(shell $(SCRIPTS)/build-debug-kernel.sh)
LINUX_SRC = $(shell . $(SCRIPTS)/lib.sh && linux_source_dir)

CC	?= gcc
USER_CFLAGS := -O2 -g -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE \
	       -fstack-protector-strong -I$(TOP)/uapi -I$(TOP)/lib -I$(TOP)/samples \
	       -MMD -MP
ASAN_CFLAGS := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
	       -fno-sanitize-recover=all
JSON_LIBS := -ljson-c

MODULE_SRCS := Kbuild $(wildcard kernel/*.c kernel/*.h uapi/linux/*.h)
KSFT_HEADERS := $(BUILD)/ksft/kselftest_harness.h $(BUILD)/ksft/kselftest.h

ifeq ($(V),1)
Q :=
else
Q := @
endif

.PHONY: all deps module module-debian module-debian612 module-612 module-debug \
	selftests check fuzz run bench \
	lint docs clean

all: module userspace selftests

deps:
	$(Q)$(SCRIPTS)/install-deps.sh

# Module -----------------------------------------------------------------
#
# Kbuild writes objects next to the sources, so each kernel gets its own
# copy of the module sources under build/kmod/<flavor>. Warnings are
# errors, with W=1.

define build_module
	$(Q)mkdir -p $(2)
	$(Q)cp -p -u Kbuild $(2)/
	$(Q)cp -rp -u kernel uapi $(2)/
	$(Q)$(MAKE) -C $(1) M=$(2) W=1 KCFLAGS=-Werror modules $(if $(Q),>$(2)/build.log 2>&1 || \
		{ cat $(2)/build.log; exit 1; })
	@echo "  MODULE  $(patsubst $(TOP)/%,%,$(2))/vfio_user.ko"
endef

module: deps
	$(call build_module,$(KDIR),$(BUILD)/kmod/default)

module-debian: deps
	$(call build_module,$(DEBIAN_KDIR),$(BUILD)/kmod/debian)

module-debian612: deps
	$(call build_module,$(DEBIAN612_KDIR),$(BUILD)/kmod/debian612)

module-612: module-debian612

module-debug: deps
	$(call build_module,$(DEBUG_KDIR),$(BUILD)/kmod/debug)

# Userspace: library, tools, sample server, host tests -----------------------
#
# The library is built as libvfio-user-client.{a,so}; the programs link it
# statically so they run anywhere the VM runner copies them. Host tests link
# an ASan/UBSan build of the library, so leaks and overflows fail them.
# CPPFLAGS, CFLAGS and LDFLAGS from the environment (dpkg-buildflags when
# packaging) come after the project's own flags.

LIB_SRCS	:= $(wildcard lib/*.c)
SERVER_SRCS	:= $(wildcard samples/server/*.c)
CTL_SRCS	:= $(wildcard tools/vfio-user-ctl/*.c)
DEMO_SRCS	:= $(wildcard samples/demo/*.c)
HOST_TEST_SRCS	:= $(wildcard lib/test/test_*.c)
HOST_TEST_COMMON := $(filter-out $(HOST_TEST_SRCS),$(wildcard lib/test/*.c))

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
asan_obj = $(patsubst %.c,$(BUILD)/asan/%.o,$(1))

LIBA	:= $(BUILD)/lib/libvfio-user-client.a
LIBSO	:= $(BUILD)/lib/libvfio-user-client.so.0
LIBMAP	:= $(BUILD)/lib/libvfio-user-client.map
SERVER	:= $(BUILD)/bin/vfio-user-sample-server
CTL	:= $(BUILD)/bin/vfio-user-ctl
DEMO	:= $(BUILD)/bin/vfio-user-demo
HOST_TESTS := $(patsubst lib/test/%.c,$(BUILD)/host-tests/%,$(HOST_TEST_SRCS))
CTL_TEST_SRCS := $(wildcard tools/vfio-user-ctl/test/test-*.c)
CTL_TESTS := $(patsubst tools/vfio-user-ctl/test/%.c,$(BUILD)/host-tests/ctl-%,$(CTL_TEST_SRCS))

USER_TARGETS := $(if $(LIB_SRCS),$(LIBMAP) $(LIBA) $(LIBSO)) \
		$(if $(SERVER_SRCS),$(SERVER)) $(if $(CTL_SRCS),$(CTL)) \
		$(if $(DEMO_SRCS),$(DEMO)) \
		$(if $(HOST_TEST_SRCS)$(CTL_TEST_SRCS),$(HOST_TESTS) $(CTL_TESTS) \
			$(BUILD)/host-tests/run-list)

.PHONY: userspace
userspace: deps $(KSFT_HEADERS)
	$(Q)$(MAKE) --no-print-directory $(USER_TARGETS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(USER_CFLAGS) $(CPPFLAGS) $(CFLAGS) -fPIC -c $< -o $@

$(BUILD)/asan/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $< (asan)"
	$(Q)$(CC) $(USER_CFLAGS) $(ASAN_CFLAGS) -isystem $(BUILD)/ksft \
		-c $< -o $@

$(LIBA): $(call obj,$(LIB_SRCS))
	@mkdir -p $(dir $@)
	@echo "  AR      $(notdir $@)"
	$(Q)$(AR) rcs $@ $^

# The shared library exports what the public header declares and nothing
# else, under one symbol version (debian/libvfio-user-client0.symbols).
$(LIBMAP): lib/vfio-user-client.h
	@mkdir -p $(dir $@)
	$(Q)syms=$$($(CC) -E -P -I$(TOP)/uapi $< | \
		grep -oE '\<vuc_[a-z0-9_]+[[:space:]]*\(' | tr -d '( \t' | sort -u); \
	test -n "$$syms" || { echo "$<: no vuc_* functions found" >&2; exit 1; }; \
	{ echo 'VFIO_USER_CLIENT_0 {'; echo 'global:'; \
	  printf '\t%s;\n' $$syms; echo 'local:'; printf '\t*;\n};\n'; } >$@

$(LIBSO): $(call obj,$(LIB_SRCS)) $(LIBMAP)
	@mkdir -p $(dir $@)
	@echo "  LD      $(notdir $@)"
	$(Q)$(CC) $(LDFLAGS) -shared -Wl,-soname,libvfio-user-client.so.0 \
		-Wl,--version-script=$(LIBMAP) -Wl,--no-undefined \
		$(filter %.o,$^) $(JSON_LIBS) -o $@
	$(Q)ln -sf libvfio-user-client.so.0 $(BUILD)/lib/libvfio-user-client.so

$(SERVER): $(call obj,$(SERVER_SRCS) lib/wire.c)
	@mkdir -p $(dir $@)
	@echo "  LD      $(notdir $@)"
	$(Q)$(CC) $(LDFLAGS) $^ $(JSON_LIBS) -o $@

$(DEMO): $(call obj,$(DEMO_SRCS)) $(LIBA)
	@mkdir -p $(dir $@)
	@echo "  LD      $(notdir $@)"
	$(Q)$(CC) $(LDFLAGS) $^ $(JSON_LIBS) -o $@

$(CTL): $(call obj,$(CTL_SRCS)) $(LIBA)
	@mkdir -p $(dir $@)
	@echo "  LD      $(notdir $@)"
	$(Q)$(CC) $(LDFLAGS) $^ $(JSON_LIBS) -luring -o $@

$(BUILD)/host-tests/%: $(call asan_obj,lib/test/%.c $(HOST_TEST_COMMON) $(LIB_SRCS))
	@mkdir -p $(dir $@)
	@echo "  LD      host-tests/$(notdir $@)"
	$(Q)$(CC) $(ASAN_CFLAGS) $^ $(JSON_LIBS) -lpthread -o $@

$(BUILD)/host-tests/ctl-%: $(call asan_obj,tools/vfio-user-ctl/test/%.c \
		tools/vfio-user-ctl/pci.c tools/vfio-user-ctl/format.c)
	@mkdir -p $(dir $@)
	@echo "  LD      host-tests/$(notdir $@)"
	$(Q)$(CC) $(ASAN_CFLAGS) $^ -o $@

$(BUILD)/host-tests/run-list: $(HOST_TESTS) $(CTL_TESTS)
	$(Q)printf '%s\n' $(notdir $(HOST_TESTS) $(CTL_TESTS)) >$@

.SECONDARY:

-include $(shell find $(BUILD)/obj $(BUILD)/asan -name '*.d' 2>/dev/null)

# Selftests ----------------------------------------------------------------

$(KSFT_HEADERS): | deps
	$(Q)mkdir -p $(BUILD)/ksft
	$(Q)cp $(LINUX_SRC)/tools/testing/selftests/$(notdir $@) $@

selftests: deps $(KSFT_HEADERS) userspace
	$(Q)mkdir -p $(BUILD)/selftests/vfio_user
	$(Q)$(MAKE) -s -C selftests/vfio_user OUTPUT=$(BUILD)/selftests/vfio_user \
		KSFT_INCLUDE=$(BUILD)/ksft KHDR_INCLUDES="-I$(TOP)/uapi -I$(TOP)/samples" \
		VFIO_USER_CLIENT_INCLUDE=$(TOP)/lib VFIO_USER_CLIENT_LIB=$(LIBA) \
		INSTALL_PATH=$(BUILD)/selftests-install/vfio_user install

# Install ------------------------------------------------------------------
#
#   make install [DESTDIR=...] [PREFIX=/usr/local] [KDIR=...]
#   make uninstall (the same variables)
#
# The module goes to /lib/modules/<KDIR's UTS_RELEASE>/updates, the udev
# rule and the commented modules-load.d/modprobe.d examples outside PREFIX
# (where udev and modprobe read them). depmod and ldconfig run only when
# installing into the running system (no DESTDIR). Packagers use the parts:
# install-userspace, install-data and install-dkms (the module's source for
# DKMS, in /usr/src/vfio-user-$(VERSION)); they need no dependency installer.

VERSION		:= 0.1
PREFIX		?= /usr/local
BINDIR		?= $(PREFIX)/bin
LIBDIR		?= $(PREFIX)/lib
INCLUDEDIR	?= $(PREFIX)/include
MANDIR		?= $(PREFIX)/share/man
PKGCONFIGDIR	?= $(LIBDIR)/pkgconfig
BASHCOMPDIR	?= $(PREFIX)/share/bash-completion/completions
SYSCONFDIR	?= /etc
UDEVRULESDIR	?= /lib/udev/rules.d
KVER		?= $(shell sed -n 's/^\#define UTS_RELEASE "\(.*\)"/\1/p' \
			   $(KDIR)/include/generated/utsrelease.h 2>/dev/null)
MODULEDIR	?= /lib/modules/$(KVER)/updates
DKMSDIR		?= /usr/src/vfio-user-$(VERSION)

INSTALL		?= install
INSTALL_DATA	:= $(INSTALL) -m 0644
INSTALL_PROGRAM	:= $(INSTALL) -m 0755
INSTALL_DIR	:= $(INSTALL) -d -m 0755

PC		:= $(BUILD)/lib/vfio-user-client.pc
MAN8		:= man/vfio-user-ctl.8 man/vfio-user-sample-server.8
MAN3		:= man/libvfio-user-client.3
DKMS_SRCS	:= dkms.conf Kbuild $(wildcard kernel/*.c kernel/*.h) \
		   $(wildcard uapi/linux/*.h)

.PHONY: install install-module install-userspace install-data install-dkms \
	uninstall uninstall-module uninstall-userspace uninstall-data \
	uninstall-dkms build-userspace

# What install-userspace installs, built without the dependency installer.
build-userspace: $(LIBMAP) $(LIBA) $(LIBSO) $(CTL) $(SERVER) $(PC)

$(PC): data/vfio-user-client.pc.in Makefile
	@mkdir -p $(dir $@)
	$(Q)sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
		-e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' \
		$< >$@

# The .pc file records PREFIX and LIBDIR: rebuild it every time.
.PHONY: $(PC)

install: deps
	$(Q)$(MAKE) --no-print-directory install-module install-userspace \
		install-data

install-module: module
	$(Q)test -n "$(KVER)" || { echo "install: no kernel release in $(KDIR)" >&2; exit 1; }
	$(INSTALL_DIR) $(DESTDIR)$(MODULEDIR)
	$(INSTALL_DATA) $(BUILD)/kmod/default/vfio_user.ko $(DESTDIR)$(MODULEDIR)/
	$(if $(DESTDIR),,depmod -a $(KVER))

install-userspace: build-userspace
	$(INSTALL_DIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) \
		$(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(INCLUDEDIR)/linux \
		$(DESTDIR)$(MANDIR)/man3 $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(BASHCOMPDIR)
	$(INSTALL_PROGRAM) $(CTL) $(SERVER) $(DESTDIR)$(BINDIR)/
	$(INSTALL_DATA) data/bash-completion/vfio-user-ctl $(DESTDIR)$(BASHCOMPDIR)/
	$(INSTALL_DATA) $(LIBSO) $(LIBA) $(DESTDIR)$(LIBDIR)/
	ln -sf libvfio-user-client.so.0 $(DESTDIR)$(LIBDIR)/libvfio-user-client.so
	$(INSTALL_DATA) $(PC) $(DESTDIR)$(PKGCONFIGDIR)/
	$(INSTALL_DATA) lib/vfio-user-client.h $(DESTDIR)$(INCLUDEDIR)/
	$(INSTALL_DATA) uapi/linux/vfio_user.h $(DESTDIR)$(INCLUDEDIR)/linux/
	$(INSTALL_DATA) $(MAN3) $(DESTDIR)$(MANDIR)/man3/
	$(INSTALL_DATA) $(MAN8) $(DESTDIR)$(MANDIR)/man8/
	$(if $(DESTDIR),,ldconfig)

install-data:
	$(INSTALL_DIR) $(DESTDIR)$(UDEVRULESDIR) \
		$(DESTDIR)$(SYSCONFDIR)/modules-load.d $(DESTDIR)$(SYSCONFDIR)/modprobe.d
	$(INSTALL_DATA) data/60-vfio-user.rules $(DESTDIR)$(UDEVRULESDIR)/
	$(INSTALL_DATA) data/modules-load.conf \
		$(DESTDIR)$(SYSCONFDIR)/modules-load.d/vfio-user.conf
	$(INSTALL_DATA) data/modprobe.conf $(DESTDIR)$(SYSCONFDIR)/modprobe.d/vfio-user.conf

install-dkms:
	$(INSTALL_DIR) $(DESTDIR)$(DKMSDIR)/kernel $(DESTDIR)$(DKMSDIR)/uapi/linux
	$(foreach f,$(DKMS_SRCS),$(INSTALL_DATA) $(f) $(DESTDIR)$(DKMSDIR)/$(f) &&) true

uninstall:
	$(Q)$(MAKE) --no-print-directory uninstall-module uninstall-userspace \
		uninstall-data

uninstall-module:
	$(Q)test -n "$(KVER)" || { echo "uninstall: no kernel release in $(KDIR)" >&2; exit 1; }
	rm -f $(DESTDIR)$(MODULEDIR)/vfio_user.ko
	$(if $(DESTDIR),,depmod -a $(KVER))

uninstall-userspace:
	rm -f $(DESTDIR)$(BINDIR)/vfio-user-ctl $(DESTDIR)$(BINDIR)/vfio-user-sample-server \
		$(DESTDIR)$(LIBDIR)/libvfio-user-client.so.0 \
		$(DESTDIR)$(LIBDIR)/libvfio-user-client.so \
		$(DESTDIR)$(LIBDIR)/libvfio-user-client.a \
		$(DESTDIR)$(PKGCONFIGDIR)/vfio-user-client.pc \
		$(DESTDIR)$(INCLUDEDIR)/vfio-user-client.h \
		$(DESTDIR)$(INCLUDEDIR)/linux/vfio_user.h \
		$(addprefix $(DESTDIR)$(MANDIR)/man3/,$(notdir $(MAN3))) \
		$(addprefix $(DESTDIR)$(MANDIR)/man8/,$(notdir $(MAN8))) \
		$(DESTDIR)$(BASHCOMPDIR)/vfio-user-ctl
	$(if $(DESTDIR),,ldconfig)

uninstall-data:
	rm -f $(DESTDIR)$(UDEVRULESDIR)/60-vfio-user.rules \
		$(DESTDIR)$(SYSCONFDIR)/modules-load.d/vfio-user.conf \
		$(DESTDIR)$(SYSCONFDIR)/modprobe.d/vfio-user.conf

uninstall-dkms:
	rm -rf $(DESTDIR)$(DKMSDIR)

# Checks -----------------------------------------------------------------

lint: deps
	$(Q)$(SCRIPTS)/lint.sh

# Documentation ------------------------------------------------------------
#
# Debian's Sphinx; the uAPI reference comes from the header through the
# kernel's kernel-doc and its Sphinx extension, in the unpacked
# linux-source-6.1 tree. Offline; any warning fails the build. -E reads
# every file each time: a warning is never hidden by an earlier build.

SPHINXBUILD ?= /usr/bin/sphinx-build

docs: deps
	$(Q)src="$(LINUX_SRC)"; [ -n "$$src" ] || exit 1; \
	LINUX_SRC="$$src" $(SPHINXBUILD) -b html -E -W --keep-going -q -n \
		-d $(BUILD)/docs/.doctrees $(TOP)/Documentation $(BUILD)/docs
	@echo "  DOCS    build/docs/index.html"

check: deps
	$(Q)$(SCRIPTS)/check.sh

fuzz: deps
	$(Q)$(SCRIPTS)/fuzz.sh

run: deps all
	$(Q)$(SCRIPTS)/demo.sh

bench: deps all
	$(Q)$(SCRIPTS)/bench.sh

clean:
	rm -rf $(BUILD)
