/* file_test.c: unit tests for file.c. */
#include "core/file.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

static char dir[] = "/tmp/ternfileXXXXXX";

static void test_mkdir_all(void **state)
{
	assert_non_null(mkdtemp(dir));
	char path[256];
	snprintf(path, sizeof(path), "%s/a/b/c", dir);
	struct error err;
	assert_int_equal(file_mkdir_all(path, 0750, &err), 0);
	assert_true(file_exists(path));
	assert_int_equal(file_mkdir_all(path, 0750, &err), 0);  /* exists: fine */

	char filepath[256];
	snprintf(filepath, sizeof(filepath), "%s/a/file", dir);
	assert_int_equal(file_write_atomic(filepath, "x", 1, 0600, &err), 0);
	char under[300];
	snprintf(under, sizeof(under), "%s/sub", filepath);
	assert_int_equal(file_mkdir_all(filepath, 0750, &err), -1);
	assert_non_null(strstr(err.msg, "is not a directory"));
	assert_int_equal(file_mkdir_all(under, 0750, &err), -1);
	assert_non_null(strstr(err.msg, "/a/file exists and is not a directory"));
}

static void test_write_atomic(void **state)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/f.conf", dir);
	struct error err;
	assert_int_equal(file_write_atomic(path, "first\n", 6, 0640, &err), 0);
	assert_int_equal(file_write_atomic(path, "second\n", 7, 0600, &err), 0);
	FILE *f = fopen(path, "r");
	char got[32] = {0};
	assert_int_equal(fread(got, 1, sizeof(got), f), 7);
	fclose(f);
	assert_string_equal(got, "second\n");
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	char bad[256];
	snprintf(bad, sizeof(bad), "%s/missing/f.conf", dir);
	assert_int_equal(file_write_atomic(bad, "x", 1, 0600, &err), -1);
	assert_non_null(strstr(err.msg, "creating temporary file for"));
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mkdir_all),
		cmocka_unit_test(test_write_atomic),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
