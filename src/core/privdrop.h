/*
 * privdrop.h: dropping root, once, before any network input is read.
 *
 * `tern serve` starts as root, opens its sockets and reads its keys, then calls
 * privdrop_to_user() before it starts a single listener thread. After it, the
 * process has the user's uid and gid in every slot (real, effective, saved), no
 * supplementary groups but the user's own, and cannot get root back; the
 * function checks that and fails closed.
 */
#ifndef TERN_CORE_PRIVDROP_H
#define TERN_CORE_PRIVDROP_H

#include "core/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* If running as root: makes the n paths of own (files or directories the
 * server must write: its data directory, domains.conf and the directory that
 * holds it) owned by user, then switches to user for good. If not root: does
 * nothing and returns 0 (a developer running tern as themselves). Returns -1
 * with err set when the user does not exist or any step fails; the caller
 * must then exit. */
int privdrop_to_user(const char *user, const char *const *own, size_t n, struct error *err);

/* The ids of user, for privdrop_fs_as. Returns 0, or -1 with err set if
 * there is no such user. */
int privdrop_lookup(const char *user, uid_t *uid_r, gid_t *gid_r, struct error *err);

/* For commands run as root that both read the operator's files and write
 * the data directory (import): makes this thread use uid and gid for file
 * access and as the owner of new files (setfsuid/setfsgid), while the
 * process stays root, so that privdrop_fs_as(0, 0) switches back to read
 * root's files. Does nothing unless root. */
void privdrop_fs_as(uid_t uid, gid_t gid);

/* Whether the process runs with root privileges. */
bool privdrop_is_root(void);

#endif
