# SPDX-License-Identifier: GPL-2.0
#
# Stand-in for the kernel's tools/testing/selftests/lib.mk, so the test
# directories here build the same way outside the kernel tree. Dropped into
# tools/testing/selftests/, a test directory includes the kernel's lib.mk
# instead and this file is not used.

CC ?= gcc

ifeq ($(OUTPUT),)
OUTPUT := $(shell pwd)
endif
selfdir = $(realpath $(dir $(filter %/lib.mk,$(MAKEFILE_LIST))))

TEST_GEN_PROGS := $(patsubst %,$(OUTPUT)/%,$(TEST_GEN_PROGS))
TEST_GEN_PROGS_EXTENDED := $(patsubst %,$(OUTPUT)/%,$(TEST_GEN_PROGS_EXTENDED))
TEST_GEN_FILES := $(patsubst %,$(OUTPUT)/%,$(TEST_GEN_FILES))

all: $(TEST_GEN_PROGS) $(TEST_GEN_PROGS_EXTENDED) $(TEST_GEN_FILES)

# Installs the tests and a run list (tests in the order they run) for the
# project's runner.
install: all
	mkdir -p $(INSTALL_PATH)
	cp -p $(TEST_GEN_PROGS) $(TEST_GEN_PROGS_EXTENDED) $(TEST_GEN_FILES) \
		$(TEST_PROGS) $(TEST_FILES) $(INSTALL_PATH)/
	printf '%s\n' $(notdir $(TEST_GEN_PROGS) $(TEST_PROGS)) > $(INSTALL_PATH)/run-list

clean:
	$(RM) $(TEST_GEN_PROGS) $(TEST_GEN_PROGS_EXTENDED) $(TEST_GEN_FILES) \
		$(EXTRA_CLEAN)

$(OUTPUT)/%: %.c
	$(CC) $(CFLAGS) $(LDFLAGS) $(filter %.c,$^) $(LDLIBS) -o $@

.PHONY: all install clean
