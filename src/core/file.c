/*
 * file.c: see file.h.
 */
#include "core/file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

bool file_exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

static int mkdir_one(const char *path, mode_t mode, struct error *err)
{
	if (mkdir(path, mode) == 0)
		return 0;
	int e = errno;
	struct stat st;
	if (e == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return 0;
	if (e == EEXIST)
		return error_set(err, ERR_INVALID, "%s exists and is not a directory", path);
	return error_errno(err, e, "creating directory %s", path);
}

int file_mkdir_all(const char *path, mode_t mode, struct error *err)
{
	char *p = strdup(path);
	if (p == NULL)
		abort();
	int r = 0;
	for (char *s = p + 1; *s != '\0' && r == 0; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		r = mkdir_one(p, mode, err);
		*s = '/';
	}
	if (r == 0)
		r = mkdir_one(p, mode, err);
	free(p);
	return r;
}

int file_sync_parent_dir(const char *path, struct error *err)
{
	char *copy = strdup(path);
	if (copy == NULL)
		abort();
	const char *dir = dirname(copy);
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r = 0;
	if (fd < 0 || fsync(fd) != 0)
		r = error_errno(err, errno, "syncing directory %s", dir);
	if (fd >= 0)
		close(fd);
	free(copy);
	return r;
}

int file_write_all(int fd, const void *data, size_t n)
{
	const char *p = data;
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int file_write_atomic(const char *path, const void *data, size_t n, mode_t mode,
                      struct error *err)
{
	size_t len = strlen(path) + 16;
	char *tmp = malloc(len);
	if (tmp == NULL)
		abort();
	snprintf(tmp, len, "%s.tmpXXXXXX", path);
	int fd = mkstemp(tmp);
	int r = 0;
	if (fd < 0) {
		r = error_errno(err, errno, "creating temporary file for %s", path);
	} else if (fchmod(fd, mode) != 0 || file_write_all(fd, data, n) != 0 || fsync(fd) != 0) {
		r = error_errno(err, errno, "writing %s", tmp);
	}
	if (fd >= 0 && close(fd) != 0 && r == 0)
		r = error_errno(err, errno, "closing %s", tmp);
	if (r == 0 && rename(tmp, path) != 0)
		r = error_errno(err, errno, "renaming %s to %s", tmp, path);
	if (r != 0 && fd >= 0)
		unlink(tmp);
	free(tmp);
	if (r == 0)
		r = file_sync_parent_dir(path, err);
	return r;
}
