/*
 * file.h: file-system steps that must be done carefully everywhere: creating
 * directory trees, and replacing a file so that a crash leaves either the old
 * or the new content, never a mix (write a temporary file, fsync it, rename it
 * over the target, fsync the directory).
 */
#ifndef TERN_CORE_FILE_H
#define TERN_CORE_FILE_H

#include "core/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Creates path and any missing parents with mode (like mkdir -p). An existing
 * directory is fine; an existing non-directory is an error. */
int file_mkdir_all(const char *path, mode_t mode, struct error *err);

/* Writes all n bytes at p to fd, again after EINTR and short writes.
 * Returns 0, or -1 with errno set. */
int file_write_all(int fd, const void *p, size_t n);

/* Atomically replaces (or creates) path with n bytes of data and the given
 * mode, durably: the data and the rename are on disk when 0 is returned. */
int file_write_atomic(const char *path, const void *data, size_t n, mode_t mode,
                      struct error *err);

/* fsyncs the directory holding path (after creating or renaming an entry in it). */
int file_sync_parent_dir(const char *path, struct error *err);

/* Whether path exists (any kind of file). */
bool file_exists(const char *path);

#endif
