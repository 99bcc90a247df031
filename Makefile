# SPDX-License-Identifier: GPL-2.0
#
# vfio-user in the kernel: top-level build.
#
#   make            module (against Debian's 6.1 headers, or KDIR=...),
#                   userspace programs and the selftests
#   make run        the demo, in a VM
#   make check      lint, build, host tests, selftests in a VM on the Debian
#                   kernel and on the debug kernel; ends with a summary line
#   make lint       checkpatch --strict, sparse, W=1 build of the module
#
# Every target that needs Debian packages installs them first
# (scripts/install-deps.sh; a no-op when they are present).

TOP	:= $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
BUILD	:= $(TOP)/build
SCRIPTS	:= $(TOP)/scripts

# Recursive on purpose: evaluated only after the deps target has run.
DEBIAN_KDIR = $(shell . $(SCRIPTS)/lib.sh && debian_kdir)
KDIR ?= $(DEBIAN_KDIR)
DEBUG_KDIR = $(shell $(SCRIPTS)/build-debug-kernel.sh)
LINUX_SRC = $(shell . $(SCRIPTS)/lib.sh && linux_source_dir)

CC	?= gcc
USER_CFLAGS := -O2 -g -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE \
	       -I$(TOP)/uapi

MODULE_SRCS := Kbuild $(wildcard kernel/*.c kernel/*.h uapi/linux/*.h)
KSFT_HEADERS := $(BUILD)/ksft/kselftest_harness.h $(BUILD)/ksft/kselftest.h

ifeq ($(V),1)
Q :=
else
Q := @
endif

.PHONY: all deps module module-debian module-debug selftests check run lint \
	clean

all: module selftests

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

module-debug: deps
	$(call build_module,$(DEBUG_KDIR),$(BUILD)/kmod/debug)

# Selftests ----------------------------------------------------------------

$(KSFT_HEADERS): | deps
	$(Q)mkdir -p $(BUILD)/ksft
	$(Q)cp $(LINUX_SRC)/tools/testing/selftests/$(notdir $@) $@

selftests: deps $(KSFT_HEADERS)
	$(Q)mkdir -p $(BUILD)/selftests/vfio_user
	$(Q)$(MAKE) -s -C selftests/vfio_user OUTPUT=$(BUILD)/selftests/vfio_user \
		KSFT_INCLUDE=$(BUILD)/ksft KHDR_INCLUDES=-I$(TOP)/uapi \
		INSTALL_PATH=$(BUILD)/selftests-install/vfio_user install

# Checks -----------------------------------------------------------------

lint: deps
	$(Q)$(SCRIPTS)/lint.sh

check: deps
	$(Q)$(SCRIPTS)/check.sh

run: deps all
	$(Q)$(SCRIPTS)/demo.sh

clean:
	rm -rf $(BUILD)
