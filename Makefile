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
#   make fuzz       fuzzers, fault injection and kill tests on the debug
#                   kernel with long counts; ends with a line of figures
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

.PHONY: all deps module module-debian module-debug selftests check fuzz run bench \
	lint clean

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

module-debug: deps
	$(call build_module,$(DEBUG_KDIR),$(BUILD)/kmod/debug)

# Userspace: library, tools, sample server, host tests -----------------------
#
# The library is built as libvfio-user-client.{a,so}; the programs link it
# statically so they run anywhere the VM runner copies them. Host tests link
# an ASan/UBSan build of the library, so leaks and overflows fail them.

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
SERVER	:= $(BUILD)/bin/vfio-user-sample-server
CTL	:= $(BUILD)/bin/vfio-user-ctl
DEMO	:= $(BUILD)/bin/vfio-user-demo
HOST_TESTS := $(patsubst lib/test/%.c,$(BUILD)/host-tests/%,$(HOST_TEST_SRCS))
CTL_TEST_SRCS := $(wildcard tools/vfio-user-ctl/test/test-*.c)
CTL_TESTS := $(patsubst tools/vfio-user-ctl/test/%.c,$(BUILD)/host-tests/ctl-%,$(CTL_TEST_SRCS))

USER_TARGETS := $(if $(LIB_SRCS),$(LIBA) $(LIBSO)) \
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
	$(Q)$(CC) $(USER_CFLAGS) -fPIC -c $< -o $@

$(BUILD)/asan/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $< (asan)"
	$(Q)$(CC) $(USER_CFLAGS) $(ASAN_CFLAGS) -isystem $(BUILD)/ksft \
		-c $< -o $@

$(LIBA): $(call obj,$(LIB_SRCS))
	@mkdir -p $(dir $@)
	@echo "  AR      $(notdir $@)"
	$(Q)$(AR) rcs $@ $^

$(LIBSO): $(call obj,$(LIB_SRCS))
	@mkdir -p $(dir $@)
	@echo "  LD      $(notdir $@)"
	$(Q)$(CC) -shared -Wl,-soname,libvfio-user-client.so.0 \
		-Wl,--no-undefined $^ $(JSON_LIBS) -o $@
	$(Q)ln -sf libvfio-user-client.so.0 $(BUILD)/lib/libvfio-user-client.so

$(SERVER): $(call obj,$(SERVER_SRCS) lib/wire.c)
	@mkdir -p $(dir $@)
	@echo "  LD      $(notdir $@)"
	$(Q)$(CC) $^ $(JSON_LIBS) -o $@

$(DEMO): $(call obj,$(DEMO_SRCS)) $(LIBA)
	@mkdir -p $(dir $@)
	@echo "  LD      $(notdir $@)"
	$(Q)$(CC) $^ $(JSON_LIBS) -o $@

$(CTL): $(call obj,$(CTL_SRCS)) $(LIBA)
	@mkdir -p $(dir $@)
	@echo "  LD      $(notdir $@)"
	$(Q)$(CC) $^ $(JSON_LIBS) -luring -o $@

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

# Checks -----------------------------------------------------------------

lint: deps
	$(Q)$(SCRIPTS)/lint.sh

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
