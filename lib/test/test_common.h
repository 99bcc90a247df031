/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Bits every host test uses; include after kselftest_harness.h.
 */
#ifndef TEST_COMMON_H
#define TEST_COMMON_H

#include <string.h>

#include <sanitizer/lsan_interface.h>

#include "fake_server.h"

/*
 * End of a test: free the device, stop the server (checking that it saw
 * nothing wrong), then no fd and no allocation may be left over. The
 * harness _exit()s the test child, so LeakSanitizer is run by hand. EXPECT,
 * not ASSERT: this runs in fixture teardown.
 */
#define CHECK_CLEAN(self) do {						\
	vuc_device_free((self)->dev);					\
	(self)->dev = NULL;						\
	if ((self)->s) {						\
		fsrv_stop((self)->s);					\
		EXPECT_EQ(NULL, fsrv_failure((self)->s))		\
			TH_LOG("server: %s", fsrv_failure((self)->s));	\
		fsrv_free((self)->s);					\
		(self)->s = NULL;					\
	}								\
	EXPECT_EQ((self)->fds_before, count_open_fds());		\
	EXPECT_EQ(0, __lsan_do_recoverable_leak_check());		\
} while (0)

static inline bool has(const char *haystack, const char *needle)
{
	return haystack && strstr(haystack, needle) != NULL;
}

/* ASSERT that the last call failed with a message that contains @needle. */
#define ASSERT_MSG(dev, needle)						\
	ASSERT_TRUE(has(vuc_strerror(dev), needle))			\
		TH_LOG("got \"%s\", want \"%s\"", vuc_strerror(dev), needle)

#endif /* TEST_COMMON_H */
