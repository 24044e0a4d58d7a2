/*
 * test_external.h: for unit tests only (include after <cmocka.h>). The test
 * data written by others is found through $TERN_EXTERNAL_TESTS, which the
 * meson.build of each module that uses it sets to ../shared/external-tests;
 * a missing directory fails the test, it never skips it.
 */
#ifndef TERN_CORE_TEST_EXTERNAL_H
#define TERN_CORE_TEST_EXTERNAL_H

#include "core/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

/* The external test data directory; fails the test when it is missing. */
__attribute__((unused)) static const char *test_external_dir(void)
{
	const char *d = getenv("TERN_EXTERNAL_TESTS");
	if (d == NULL || *d == '\0')
		fail_msg("TERN_EXTERNAL_TESTS is not set: run through meson test");
	struct stat st;
	if (stat(d, &st) < 0 || !S_ISDIR(st.st_mode))
		fail_msg("external test data missing: %s is not a directory", d);
	return d;
}

/* The whole file at path, malloc'd and NUL-terminated, its length in
 * *len_r; fails the test when it cannot be read. */
__attribute__((unused)) static char *test_read_file(const char *path, size_t *len_r)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		fail_msg("cannot read %s", path);
	struct buf b;
	buf_init(&b, BUF_UNBOUNDED);  /* test data of our own choosing */
	char tmp[65536];
	size_t n;
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		assert_int_equal(buf_append(&b, tmp, n), 0);
	fclose(f);
	*len_r = b.len;
	return buf_steal(&b);
}

#endif
